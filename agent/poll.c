/*
 * poll.c - one poll of the DDI base resource and what it asks for: the
 * configuration data, a cancel, the user's consent (R-NOTIFY), a deployment
 * (driver.c), and the watchdog's deferral tickets (R-AVAIL); and the sleep
 * between polls, during which device time moves on and the hardware watchdog
 * may fire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static const char *link_href(json_t *j, const char *name)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(j, "_links"), name), "href"));
}

/* The action id at the end of a link (".../deploymentBase/17?c=..." → "17"). */
static void href_action(const char *href, char *out, size_t cap)
{
    const char *s = href ? strrchr(href, '/') : NULL;
    snprintf(out, cap, "%.*s", s ? (int)strcspn(s + 1, "?") : 0, s ? s + 1 : "");
}

/* configData: tell the server what runs. */
static void send_config(agent_t *a, const char *cfg)
{
    char body[256];
    snprintf(body, sizeof body, "{\"mode\":\"merge\",\"data\":{\"molt.version\":\"%s\",\"molt.agent\":\"%s\"}}",
             a->boot.running, "molt-agent");
    buf_t b = {0};
    ddi_request(a, "PUT", cfg, "application/json", body, strlen(body), &b);
    free(b.p);
}

/* cancelAction: cancel and clean a download not yet installed, or refuse. */
static void do_cancel(agent_t *a, const char *cancel)
{
    const char *aid = strrchr(cancel, '/') + 1;
    psa_fwu_component_info_t q;
    memset(&q, 0, sizeof q);
    if (a->dev.query(a->dev.ctx, &q) != PSA_SUCCESS)
        q.state = 0xff;
    bool can = q.state == PSA_FWU_READY || q.state == PSA_FWU_WRITING || q.state == PSA_FWU_CANDIDATE ||
               q.state == PSA_FWU_FAILED;
    if (q.state == PSA_FWU_WRITING || q.state == PSA_FWU_CANDIDATE)
        a->dev.cancel(a->dev.ctx);
    if (can) {
        a->dev.clean(a->dev.ctx);
        dev_save(a);
    }
    char url[1200], body[256];
    snprintf(url, sizeof url, "%s/cancelAction/%s/feedback", a->base, aid);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"status\":{\"execution\":\"%s\",\"result\":{\"finished\":\"%s\"}}}",
             aid, can ? "closed" : "rejected", can ? "success" : "failure");
    buf_t b = {0};
    long code = ddi_request(a, "POST", url, "application/json", body, strlen(body), &b);
    free(b.p);
    say(a, "cancel of action %s: %s", aid, can ? "done" : "refused (already activating)");
    ev(a, "cancel", "{s:s,s:s,s:I}", "action", aid, "result", can ? "done" : "refused", "status", (json_int_t)code);
}

/* hawkBit's user consent (R-NOTIFY): the user sees the message and the
 * version, then confirms or denies (--consent); the deployment follows.
 * false: an error. */
static bool do_consent(agent_t *a, const char *conf)
{
    long code;
    json_t *d = ddi_get_json(a, conf, &code), *chunk = NULL;
    const char *aid = d ? json_string_value(json_object_get(d, "id")) : NULL;
    pick_artifact(a, json_object_get(json_object_get(d, "confirmation"), "chunks"), &chunk);
    if (!aid) {
        json_decref(d);
        return false;
    }
    const char *msg = chunk_message(chunk), *ver = json_string_value(json_object_get(chunk, "version"));
    const char *answer = a->consent_no ? "denied" : "confirmed";
    say(a, "update %s -> %s needs the user's consent (action %s)", a->boot.running, ver ? ver : "?", aid);
    say(a, "MESSAGE FOR THE USER: %s", msg && *msg ? msg : "(none)");
    snprintf(a->notified, sizeof a->notified, "%s", aid);
    char url[1200], body[200];
    snprintf(url, sizeof url, "%s/confirmationBase/%s/feedback", a->base, aid);
    snprintf(body, sizeof body, "{\"confirmation\":\"%s\",\"details\":[\"%s by the user\"]}", answer, answer);
    buf_t b = {0};
    long c = ddi_request(a, "POST", url, "application/json", body, strlen(body), &b);
    free(b.p);
    say(a, "user %s: HTTP %ld", answer, c);
    ev(a, "consent", "{s:s,s:s,s:s?,s:s?,s:s,s:I}", "action", aid, "from", a->boot.running, "to", ver, "message", msg,
       "answer", answer, "status", (json_int_t)c);
    json_decref(d);
    return c == 200;
}

static int do_deployment(agent_t *a, const char *dep, bool *error)
{
    long code;
    json_t *d = ddi_get_json(a, dep, &code);
    const char *aid = d ? json_string_value(json_object_get(d, "id")) : NULL;
    int rc = 0;
    if (!aid) {
        *error = true;
    } else {
        bool retry = false;
        rc = deploy(a, aid, d, &retry);
        *error = retry;
    }
    json_decref(d);
    return rc;
}

/* config.polling.sleep ("HH:MM:SS"), capped by --max-sleep; *sleep_s unchanged without one. */
static void poll_sleep(agent_t *a, json_t *j, long *sleep_s)
{
    const char *sl = json_string_value(json_object_get(json_object_get(json_object_get(j, "config"), "polling"),
                                                       "sleep"));
    unsigned hh, mm, ss;
    if (sl && sscanf(sl, "%u:%u:%u", &hh, &mm, &ss) == 3)
        *sleep_s = (long)hh * 3600 + mm * 60 + ss;
    if (a->max_sleep > 0 && *sleep_s > a->max_sleep)
        *sleep_s = a->max_sleep;
    a->sleep_s = *sleep_s;
}

static void ev_poll(agent_t *a, long sleep_s, const char *dep, const char *cancel, const char *conf)
{
    const char *href = cancel ? cancel : dep ? dep : conf;
    char aid[64];
    href_action(href, aid, sizeof aid);
    ev(a, "poll", "{s:I,s:s,s:s?}", "sleep", (json_int_t)sleep_s, "offer",
       cancel ? "cancel" : dep ? "deployment" : conf ? "confirmation" : "none", "action", href ? aid : NULL);
}

/* What the poll's links ask for. */
static int poll_act(agent_t *a, const char *dep, const char *cancel, const char *conf, bool *error)
{
    if (cancel) {
        do_cancel(a, cancel);
    } else if (dep && a->block != 0 && !a->boot.recovery) {
        /* the application is the attacker: the deployment never reaches the updater */
        const char *mode = a->block == 1 ? "drop" : "ignore";
        say(a, "deployment %s by the application (--block %s)", a->block == 1 ? "dropped" : "ignored", mode);
        ev(a, "blocked", "{s:s}", "mode", mode);
    } else if (conf && !dep) {
        *error = !do_consent(a, conf);
    } else if (dep) {
        return do_deployment(a, dep, error);
    }
    return 0;
}

/* One poll of the base resource and what it asks for. *sleep_s: the next sleep. */
int poll_once(agent_t *a, long *sleep_s, bool *error)
{
    long code;
    json_t *j = ddi_get_json(a, a->base, &code);
    *error = !j;
    if (!j)
        return 0;
    poll_sleep(a, j, sleep_s);
    const char *dep = link_href(j, "deploymentBase"), *cancel = link_href(j, "cancelAction");
    const char *cfg = link_href(j, "configData"), *conf = link_href(j, "confirmationBase");
    ev_poll(a, *sleep_s, dep, cancel, conf);
    if (cfg)
        send_config(a, cfg);
    int rc = poll_act(a, dep, cancel, conf, error);
    /* A ticket when nothing is to be installed now (in recovery: only then; the
     * compromised application of --block ignore never asks). */
    if (rc == 0 && a->tickets && a->dev.awdt_nonce != NULL && !(a->block == 2 && !a->boot.recovery) &&
        (!dep || (a->block != 0 && !a->boot.recovery))) {
        if (!a->attested) /* moltd judges the attested version: tell it what runs first */
            ddi_attest(a);
        ddi_ticket(a);
    }
    if (rc == 0 && a->updated_in_recovery) {
        say(a, "update accepted in recovery: restart to leave it");
        rc = power_on(a, false, "leave_recovery");
    }
    json_decref(j);
    return rc;
}

/* Sleep s seconds; device time moves on by s * time_scale. Returns an exit code,
 * 0 also after a restart the hardware watchdog forced. */
int device_sleep(agent_t *a, long s)
{
    sleep_ms(s * 1000);
    if (a->dev.awdt_advance == NULL || a->time_scale == 0)
        return 0;
    if (!a->dev.awdt_advance(a->dev.ctx, (uint32_t)(s * a->time_scale))) {
        dev_save(a);
        return 0;
    }
    unsigned clock = (unsigned)a->dev.awdt_clock(a->dev.ctx);
    say(a, "the hardware watchdog fired at device time %u: restart", clock);
    ev(a, "watchdog", "{s:I}", "clock", (json_int_t)clock);
    return power_on(a, false, "watchdog");
}
