/*
 * keyset.c - a key-update offer (chunk part "molt-keyset", docs/agent.md): the
 * agent carries it unchanged into the device's key-set component through the
 * PSA FWU API (docs/keys.md "Delivery"): start, write, finish (the device checks
 * it: KU_*), install (applied at once, no restart, nothing to accept), query
 * (version.build: the sequence number of the key set in force), clean.
 * The feedback says "keyset N" (moltd records N as the device's key set).
 * Nothing here survives a restart: the device keeps a key-update being written
 * in RAM only, so an interrupted one starts again from the beginning.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static const char *ks_error(psa_status_t e)
{
    return e > 0 ? molt_err_name((molt_err_t)e) : psa_name(e);
}

/* The device refused it (finish or install): report and close with a failure. */
static int ks_refused(agent_t *a, const char *aid, const char *at, psa_status_t s, uint32_t seq)
{
    char why[400];
    psa_fwu_component_info_t q = agent_query(a);
    const char *err = ks_error(q.state == PSA_FWU_FAILED ? q.error : s);
    snprintf(why, sizeof why, "the device refused the key-update at %s: %s (%s); keyset %u in force", at,
             psa_name(s), err, (unsigned)seq);
    say(a, "%s", why);
    ev(a, "keyset", "{s:s,s:b,s:s,s:s,s:s,s:I}", "action", aid, "ok", 0, "at", at, "status", psa_name(s), "error",
       err, "seq", (json_int_t)seq);
    a->dev.clean(a->dev.ctx);
    a->dev.select(a->dev.ctx, AGENT_COMP_IMAGE);
    dev_save(a);
    ddi_feedback(a, aid, "closed", "failure", why, 0, 0);
    say(a, "feedback: failure");
    return 0;
}

int deploy_keyset(agent_t *a, const char *aid, const offer_t *o, bool *retry)
{
    char why[1024];
    if (!a->dev.select || !a->dev.select(a->dev.ctx, AGENT_COMP_KEYSET)) {
        snprintf(why, sizeof why, "a key-update, and this device takes none (no key set: molt sim chain, --root, --threshold)");
        say(a, "deployment %s: %s", aid, why);
        ev_error(a, "no_keyset", why);
        ddi_feedback(a, aid, "closed", "failure", why, 0, 0);
        return 0;
    }
    if (o->no_download || o->no_install) { /* a key-update is kept in RAM only: nothing to do until both are allowed */
        a->dev.select(a->dev.ctx, AGENT_COMP_IMAGE);
        say(a, "key-update %s: the server says not now (download %s, update %s)", o->ver, o->dl ? o->dl : "forced",
            o->up ? o->up : "forced");
        ev(a, "deferred", "{s:s,s:s,s:s,s:s,s:s?}", "action", aid, "what", o->no_download ? "download" : "install",
           "version", o->ver, "update", o->up ? o->up : "forced", "maintenance_window", o->mw);
        return 0;
    }
    psa_fwu_component_info_t q = agent_query(a);
    uint32_t before = q.version.build;
    if (q.state != PSA_FWU_READY) /* FAILED or UPDATED left by an earlier attempt of this process */
        a->dev.clean(a->dev.ctx);
    psa_status_t s = a->dev.start(a->dev.ctx);
    if (s != PSA_SUCCESS) {
        a->dev.select(a->dev.ctx, AGENT_COMP_IMAGE);
        say(a, "psa_fwu_start(key set) refused: %s", psa_name(s));
        ev_error(a, "fwu_start", psa_name(s));
        *retry = true;
        return 0;
    }
    ddi_feedback(a, aid, "proceeding", "none", "download started", 0, (long)o->size);
    if (!download_bg(a, o->url, 0, (uint64_t)o->size, why, sizeof why)) {
        say(a, "download interrupted: %s", why);
        a->dev.clean(a->dev.ctx);
        a->dev.select(a->dev.ctx, AGENT_COMP_IMAGE);
        *retry = true; /* a key-update is small and kept in RAM: the next attempt starts again */
        return 0;
    }
    if ((s = a->dev.finish(a->dev.ctx)) != PSA_SUCCESS)
        return ks_refused(a, aid, "finish", s, before);
    ev(a, "verify", "{s:s,s:b,s:s}", "action", aid, "ok", 1, "status", "SUCCESS");
    if ((s = a->dev.install(a->dev.ctx)) != PSA_SUCCESS)
        return ks_refused(a, aid, "install", s, before);
    q = agent_query(a);
    uint32_t seq = q.version.build;
    a->dev.clean(a->dev.ctx);
    a->dev.select(a->dev.ctx, AGENT_COMP_IMAGE);
    if (!dev_save(a))
        return EXIT_USAGE;
    snprintf(why, sizeof why, "key-update applied: keyset %u in force (was %u); running %s", (unsigned)seq,
             (unsigned)before, a->boot.running);
    say(a, "%s", why);
    ev(a, "keyset", "{s:s,s:b,s:I,s:I}", "action", aid, "ok", 1, "from", (json_int_t)before, "seq", (json_int_t)seq);
    ddi_feedback(a, aid, "closed", "success", why, 0, 0);
    say(a, "feedback: success");
    ddi_attest(a);
    return 0;
}
