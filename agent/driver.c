/*
 * driver.c - molt-agent's update driver: power-on, what a poll asks for, and
 * one deployment's way through the PSA FWU states from wherever the device
 * stands (download, install, restart, trial, health, accept or reject, the
 * feedback), the cancel, the user's consent and the watchdog's tickets.
 *
 * Every step goes to the device through its adapter (a->dev, device.h) and is
 * saved at every checkpoint and state change, so a killed agent resumes where
 * the device says.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"

#define STEP_ON (-1) /* a state step's "go on with the next state" */

bool dev_save(agent_t *a)
{
    return a->dev.save(a->dev.ctx);
}

static void ev_boot(agent_t *a, bool was_recovery)
{
    const agent_boot_t *b = &a->boot;
    ev(a, "boot", "{s:s,s:b,s:b,s:b,s:b,s:i}", "running", b->running, "trial", b->trial, "resumed", b->resumed,
       "reverted", b->reverted, "recovery", b->recovery, "slot", (int)b->slot);
    if (b->reverted)
        ev(a, "revert", "{s:s}", "running", b->running);
    if (b->recovery && !was_recovery)
        ev(a, "recovery_enter", "{s:i}", "boots", (int)b->boots);
    if (!b->recovery && was_recovery)
        ev(a, "recovery_leave", "{s:s}", "running", b->running);
}

/* Power on (or restart, reason says why): the boot code runs, then the FWU API
 * is set up over its result. With a power cut armed, the boot is cut; the torn
 * flash is saved and the process ends as a powered-off device would. */
int power_on(agent_t *a, bool cut, const char *reason)
{
    char why[400];
    bool was_recovery = a->boot.recovery;
    ev(a, "reboot", "{s:s,s:I}", "reason", reason, "cut_at", (json_int_t)(cut ? a->power_cut_at : -1));
    if (cut)
        say(a, "power cut armed at flash operation %ld of the activation", a->power_cut_at);
    a->attested = false; /* a new boot: what runs may have changed */
    dev_power_t p = a->dev.power_on(a->dev.ctx, cut ? a->power_cut_at : -1, &a->boot, why, sizeof why);
    if (p == DEV_CUT) {
        say(a, "POWER CUT during the activation (boot: %s); the device is off", why);
        ev(a, "power_cut", "{s:I,s:s}", "at", (json_int_t)a->power_cut_at, "boot", why);
        return EXIT_POWERCUT;
    }
    if (p != DEV_ON) {
        ev_error(a, "device", why);
        return die("%s", why);
    }
    say(a, "boot: running %s (%s%s%s)", a->boot.running, a->boot.trial ? "trial" : "confirmed",
        a->boot.resumed ? ", interrupted activation completed" : "", a->boot.reverted ? ", reverted" : "");
    if (a->boot.recovery)
        say(a, "boot: RECOVERY (boot %u): the watchdog's deadline passed; only the updater runs", a->boot.boots);
    ev_boot(a, was_recovery);
    a->updated_in_recovery = false;
    return dev_save(a) ? 0 : EXIT_USAGE;
}

psa_fwu_component_info_t agent_query(agent_t *a)
{
    psa_fwu_component_info_t i;
    memset(&i, 0, sizeof i);
    if (a->dev.query(a->dev.ctx, &i) != PSA_SUCCESS)
        i.state = 0xff;
    return i;
}

static const char *state_name(uint8_t s)
{
    static const char *const n[] = {"READY", "WRITING", "CANDIDATE", "STAGED", "FAILED", "TRIAL", "REJECTED",
                                    "UPDATED"};
    return s < 8 ? n[s] : "?";
}

/* FAILED / REJECTED reason: a molt_err_t (positive) or a PSA status. */
static const char *fail_name(psa_status_t e)
{
    return e > 0 ? molt_err_name((molt_err_t)e) : psa_name(e);
}

/* --- one deployment ---------------------------------------------------------------- */

/* Close the action with a failure the agent found before touching the device. */
static void refuse(agent_t *a, const char *aid, const char *code, const char *why)
{
    ev_error(a, code, why);
    ddi_feedback(a, aid, "closed", "failure", why, 0, 0);
}

/* An offer the agent can act on? Else it is closed with a failure. */
static bool offer_usable(agent_t *a, const char *aid, const offer_t *o)
{
    char w[300];
    if (!o->art) {
        if (a->artifact)
            snprintf(w, sizeof w, "no artifact named %.200s in the deployment", a->artifact);
        else
            snprintf(w, sizeof w, "no signed-image artifact in the deployment (only SWUpdate, checksum or signature files)");
        say(a, "deployment %s: %s", aid, w);
        refuse(a, aid, "no_artifact", w);
        return false;
    }
    if (!o->ver || !o->url || o->size <= 0) {
        say(a, "deployment %s: malformed (no version, download link or size)", aid);
        refuse(a, aid, "malformed", "malformed deployment: no version, download link or size");
        return false;
    }
    return true;
}

/* R-NOTIFY: the user is told before anything happens. */
static void offer_notify(agent_t *a, const char *aid, const offer_t *o)
{
    bool again = strcmp(a->notified, aid) == 0;
    const char *art = json_string_value(json_object_get(o->art, "filename"));
    const char *chunk = json_string_value(json_object_get(o->chunk, "name"));
    if (!again) {
        say(a, "update %s -> %s offered (action %s)", a->boot.running, o->ver, aid);
        say(a, "MESSAGE FOR THE USER: %s", o->msg && *o->msg ? o->msg : "(none)");
        snprintf(a->notified, sizeof a->notified, "%s", aid);
    } else {
        say(a, "update to %s (action %s) continues", o->ver, aid);
    }
    say(a, "artifact %s of chunk %s; modes: download=%s update=%s%s%s", art, chunk ? chunk : "?",
        o->dl ? o->dl : "forced", o->up ? o->up : "forced", o->mw ? " maintenanceWindow=" : "", o->mw ? o->mw : "");
    ev(a, "offer", "{s:s,s:s,s:s,s:s?,s:b,s:s,s:s?,s:I,s:s,s:s,s:s?}", "action", aid, "from", a->boot.running, "to",
       o->ver, "message", o->msg, "continued", again, "artifact", art, "chunk", chunk, "size", (json_int_t)o->size,
       "download", o->dl ? o->dl : "forced", "update", o->up ? o->up : "forced", "maintenance_window", o->mw);
}

/* An encrypted package: the envelope first, before any byte is downloaded.
 * false: stop here (closed, or *retry). */
static bool envelope_first(agent_t *a, const char *aid, const offer_t *o, bool *retry)
{
    char why[1024];
    if (o->env_url && !a->has_ks) {
        snprintf(why, sizeof why, "an encrypted package, and this device has no key store (--enc-key)");
        refuse(a, aid, "no_keystore", why);
        say(a, "feedback: failure (%s)", why);
        return false;
    }
    if (o->env_url && strcmp(a->env_action, aid) != 0) {
        if (!ddi_envelope(a, o->env_url, why, sizeof why)) {
            say(a, "key envelope: %s", why);
            *retry = true;
            return false;
        }
        snprintf(a->env_action, sizeof a->env_action, "%s", aid);
    }
    return true;
}

static int st_ready(agent_t *a, const char *aid, const offer_t *o, bool *retry)
{
    char why[300];
    if (version_same(a->boot.running, o->ver) && !a->boot.trial) {
        snprintf(why, sizeof why, "%s running and confirmed", a->boot.running);
        ddi_feedback(a, aid, "closed", "success", why, 0, 0);
        say(a, "feedback: success (%s)", why);
        ddi_attest(a);
        return 0;
    }
    if (o->no_download) {
        say(a, "the server says download skip: nothing now");
        ev(a, "deferred", "{s:s,s:s,s:s,s:s,s:s?}", "action", aid, "what", "download", "version", o->ver, "update",
           o->up ? o->up : "forced", "maintenance_window", o->mw);
        return 0;
    }
    if (a->dev.start(a->dev.ctx) != PSA_SUCCESS) {
        say(a, "psa_fwu_start refused");
        ev_error(a, "fwu_start", "psa_fwu_start refused");
        *retry = true;
        return 0;
    }
    ddi_feedback(a, aid, "proceeding", "none", "download started", 0, (long)o->size);
    dev_save(a);
    return STEP_ON;
}

static int st_writing(agent_t *a, const char *aid, const offer_t *o, uint64_t written, bool *retry)
{
    char why[1024];
    if (!download_bg(a, o->url, written, (uint64_t)o->size, why, sizeof why)) {
        say(a, "download interrupted: %s", why);
        *retry = true; /* the next attempt resumes from psa_fwu_query's offset */
        return 0;
    }
    psa_status_t s = a->dev.finish(a->dev.ctx);
    dev_save(a);
    if (s != PSA_SUCCESS) {
        psa_fwu_component_info_t f = agent_query(a);
        snprintf(why, sizeof why, "the device refused the package at finish: %s (%s)", psa_name(s),
                 fail_name(f.error));
        say(a, "%s", why);
        ev(a, "verify", "{s:s,s:b,s:s,s:s}", "action", aid, "ok", 0, "status", psa_name(s), "error",
           fail_name(f.error));
        a->dev.clean(a->dev.ctx);
        dev_save(a);
        ddi_feedback(a, aid, "closed", "failure", why, 0, 0);
        say(a, "feedback: failure");
        ddi_attest(a);
        return 0;
    }
    say(a, "download complete and verified (signature, hash, security counter)");
    ev(a, "verify", "{s:s,s:b,s:s}", "action", aid, "ok", 1, "status", "SUCCESS");
    if (ddi_feedback(a, aid, "downloaded", "none", "downloaded and verified", (long)o->size, (long)o->size) &&
        o->no_install)
        snprintf(a->downloaded_sent, sizeof a->downloaded_sent, "%s", aid);
    return STEP_ON;
}

static int st_candidate(agent_t *a, const char *aid, const offer_t *o, bool *retry)
{
    if (o->no_install) { /* verified and kept; installed when the server says so */
        if (strcmp(a->downloaded_sent, aid) != 0 &&
            ddi_feedback(a, aid, "downloaded", "none", "downloaded and verified; the install waits", (long)o->size,
                         (long)o->size))
            snprintf(a->downloaded_sent, sizeof a->downloaded_sent, "%s", aid);
        say(a, "downloaded %s; the install waits (update %s%s%s)", o->ver, o->up ? o->up : "forced",
            o->mw ? ", maintenance window " : "", o->mw ? o->mw : "");
        ev(a, "deferred", "{s:s,s:s,s:s,s:s,s:s?}", "action", aid, "what", "install", "version", o->ver, "update",
           o->up ? o->up : "forced", "maintenance_window", o->mw);
        return 0;
    }
    psa_status_t s = a->dev.install(a->dev.ctx);
    dev_save(a);
    say(a, "install: %s", s == PSA_SUCCESS_REBOOT ? "staged, restarting" : psa_name(s));
    ev(a, "install", "{s:s,s:s,s:s}", "action", aid, "version", o->ver, "status", psa_name(s));
    if (s != PSA_SUCCESS_REBOOT && s != PSA_SUCCESS) {
        *retry = true;
        return 0;
    }
    ddi_feedback(a, aid, "proceeding", "none", "installed, restarting to activate", 0, 0);
    return STEP_ON;
}

static int st_trial(agent_t *a, const char *aid, bool *retry)
{
    char hc[400];
    ev(a, "trial", "{s:s,s:s}", "action", aid, "version", a->boot.running);
    bool healthy = health_check(a, hc, sizeof hc);
    say(a, "%s on %s", hc, a->boot.running);
    if (healthy) {
        psa_status_t s = a->dev.accept(a->dev.ctx);
        dev_save(a);
        if (s != PSA_SUCCESS) {
            say(a, "accept failed: %s", psa_name(s));
            ev_error(a, "accept", psa_name(s));
            *retry = true;
            return 0;
        }
        say(a, "accepted %s", a->boot.running);
        ev(a, "confirm", "{s:s,s:s}", "action", aid, "version", a->boot.running);
        return STEP_ON; /* UPDATED: cleaned, then reported */
    }
    snprintf(a->note, sizeof a->note, "%s on %s; rejected", hc, a->boot.running);
    a->dev.reject(a->dev.ctx);
    dev_save(a);
    say(a, "rejected %s: restarting to revert", a->boot.running);
    ev(a, "reject", "{s:s,s:s,s:s}", "action", aid, "version", a->boot.running, "detail", hc);
    int rc = power_on(a, false, "revert");
    return rc ? rc : STEP_ON;
}

static int st_updated(agent_t *a, const char *aid, const offer_t *o)
{
    char why[300];
    a->dev.clean(a->dev.ctx);
    dev_save(a);
    uint32_t cnt = 0;
    (void)a->dev.security_counter(a->dev.ctx, &cnt);
    snprintf(why, sizeof why, "%s running, health check passed, accepted; security counter %u", a->boot.running,
             (unsigned)cnt);
    ddi_feedback(a, aid, "closed", version_same(a->boot.running, o->ver) ? "success" : "failure", why, 0, 0);
    say(a, "feedback: success (%s)", why);
    ddi_attest(a);
    a->updated_in_recovery = a->boot.recovery;
    return 0;
}

static int st_failed(agent_t *a, const char *aid, psa_status_t error)
{
    char why[1200];
    snprintf(why, sizeof why, "%s%s%s; running %s", a->note, a->note[0] ? "; " : "", fail_name(error),
             a->boot.running);
    a->dev.clean(a->dev.ctx);
    dev_save(a);
    ddi_feedback(a, aid, "closed", "failure", why, 0, 0);
    say(a, "feedback: failure (%s)", why);
    a->note[0] = '\0';
    ddi_attest(a);
    return 0;
}

/* One FWU state's step: 0 or an exit code to stop, STEP_ON to go on. */
static int step(agent_t *a, const char *aid, const offer_t *o, bool *retry)
{
    psa_fwu_component_info_t q = agent_query(a);
    switch (q.state) {
    case PSA_FWU_READY: return st_ready(a, aid, o, retry);
    case PSA_FWU_WRITING: return st_writing(a, aid, o, q.impl.written, retry);
    case PSA_FWU_CANDIDATE: return st_candidate(a, aid, o, retry);
    case PSA_FWU_STAGED: {
        say(a, "restart: the boot code activates %s", o->ver);
        int rc = power_on(a, a->power_cut_at >= 0, "activate");
        return rc ? rc : STEP_ON;
    }
    case PSA_FWU_TRIAL: return st_trial(a, aid, retry);
    case PSA_FWU_REJECTED: {
        int rc = power_on(a, false, "revert");
        return rc ? rc : STEP_ON;
    }
    case PSA_FWU_UPDATED: return st_updated(a, aid, o);
    case PSA_FWU_FAILED: return st_failed(a, aid, q.error);
    default:
        say(a, "the FWU API is in an unknown state (%s)", state_name(q.state));
        ev_error(a, "fwu_state", state_name(q.state));
        return EXIT_USAGE;
    }
}

/* Drive the deployment aid from wherever the device stands. Returns 0 when the
 * action is closed or must be retried later (*retry), or an exit code (power
 * cut, device error). */
int deploy(agent_t *a, const char *aid, json_t *dep, bool *retry)
{
    offer_t o;
    offer_read(a, dep, &o);
    *retry = false;
    snprintf(a->action, sizeof a->action, "%s", aid);
    if (!offer_usable(a, aid, &o))
        return 0;
    offer_notify(a, aid, &o);
    if (o.keyset)
        return deploy_keyset(a, aid, &o, retry);
    if (!envelope_first(a, aid, &o, retry))
        return 0;
    for (int guard = 0; guard < 16; guard++) {
        int rc = step(a, aid, &o, retry);
        if (rc != STEP_ON)
            return rc;
    }
    say(a, "deployment %s: no progress", aid);
    ev_error(a, "no_progress", aid);
    *retry = true;
    return 0;
}
