/*
 * ddi.c - the device API in the shape of Eclipse hawkBit's Direct Device
 * Integration API (/{tenant}/controller/v1/{controllerId}/...), so existing
 * hawkBit clients (SWUpdate's suricatta) can talk to moltd, and the downloads.
 *
 * One signed package serves every device of its class (R-ONEPKG): the deployment
 * names the same content-addressed artifact for all of them, and only the small
 * per-device action (and, for an encrypted package, the key envelope) is
 * device-specific. The user
 * message of a campaign (R-NOTIFY) is served in the deployment before the update,
 * and its first delivery to each device is recorded in the audit log.
 *
 * Which action a device is offered, with which DDI modes, and what its feedback
 * does to the action are rollout.c's rules; this file reads the request, runs
 * them in a transaction and answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "moltd.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* "http://host/{tenant}/controller/v1/{id}" (https behind a TLS proxy: http_scheme) */
static void base_url(req_t *r, char *out, size_t cap)
{
    const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
    snprintf(out, cap, "%s://%s/%s/controller/v1/%s", http_scheme(r), host && valid_name(host, 253) ? host
                                                        : host && strspn(host, "0123456789.:[]abcdefABCDEF-") ==
                                                                      strlen(host) && strlen(host) < 100
                                                            ? host
                                                            : "localhost",
             r->srv->tenant, r->device);
}

static json_t *href(const char *a, const char *b, const char *c, const char *d)
{
    char u[2200];
    snprintf(u, sizeof u, "%s%s%s%s", a, b ? b : "", c ? c : "", d ? d : "");
    return json_pack("{s:s}", "href", u);
}

int ddi_poll_base(req_t *r)
{
    moltd_t *srv = r->srv;
    open_action_t a;
    db_rows_t d;
    srv_lock(srv);
    db_status_t st = rollout_open_action(srv, r->device, &a);
    if (st == DB_OK)
        st = Q(srv, &d,
               "SELECT d.config_wanted, (SELECT MAX(a.id) FROM actions a WHERE a.device_id = d.id"
               " AND a.state = 'success') FROM devices d WHERE d.id = $1",
               r->device);
    srv_unlock(srv);
    /* last_seen is batched: a poll is no write; a flusher writes them all each second. */
    if (st == DB_OK)
        last_seen_note(srv, r->device, now_ms());
    if (st != DB_OK)
        return http_db_error(r);
    bool cfg = d.nrows && strcmp(db_cell(&d, 0, 0), "0") != 0;
    char installed[24] = "";
    if (d.nrows && db_cell(&d, 0, 1))
        snprintf(installed, sizeof installed, "%s", db_cell(&d, 0, 1));
    db_rows_free(&d);
    char base[512], sleep[16];
    base_url(r, base, sizeof base);
    unsigned s = a.found && a.modes.sleep ? a.modes.sleep : srv->poll_sleep > 86399 ? 86399 : srv->poll_sleep;
    snprintf(sleep, sizeof sleep, "%02u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    json_t *links = json_object();
    if (a.found && strcmp(a.state, "cancelling") == 0)
        json_object_set_new(links, "cancelAction", href(base, "/cancelAction/", a.id, NULL));
    else if (a.found && a.waits) { /* hawkBit: the user confirms before the deployment is offered */
        json_object_set_new(links, "confirmationBase", href(base, "/confirmationBase/", a.id, NULL));
    } else if (a.found) {
        char c[65], key[64], path[160];
        snprintf(key, sizeof key, "%s:%s", a.id, a.state);
        sha256_hex(key, strlen(key), c);
        c[8] = '\0';
        snprintf(path, sizeof path, "/deploymentBase/%s?c=%s", a.id, c);
        json_object_set_new(links, "deploymentBase", href(base, path, NULL, NULL));
    }
    if (cfg)
        json_object_set_new(links, "configData", href(base, "/configData", NULL, NULL));
    if (installed[0]) /* hawkBit: the last action the device installed */
        json_object_set_new(links, "installedBase", href(base, "/installedBase/", installed, NULL));
    /* ETag: the answer's hash; a device polling with If-None-Match gets 304 and no body. */
    json_t *answer = json_pack("{s:{s:{s:s}},s:o}", "config", "polling", "sleep", sleep, "_links", links);
    char *body = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer); /* every poll: a leak here grows with the fleet */
    if (!body)
        return http_error(r, 500, "out of memory");
    char h[65], etag[40];
    sha256_hex(body, strlen(body), h);
    snprintf(etag, sizeof etag, "\"%.32s\"", h);
    int ret;
    if (http_etag_matches(http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag)) {
        ret = http_empty(r, 304, MHD_HTTP_HEADER_ETAG, etag, NULL, NULL);
    } else {
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        ret = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
    }
    free(body);
    return ret;
}

#define ACT_SELECT                                                                                          \
    "SELECT a.id, a.state, a.notified, a.version_before, c.id, c.message, p.id, p.version, p.sha256,"      \
    " p.sha1, p.md5, p.size, p.filename, p.class, p.security_counter, p.encryption, d.enc_key, a.step,"    \
    " c.ddi, a.confirmed, p.kind, p.keyset_seq"                                                             \
    " FROM actions a"                                                                                      \
    " JOIN campaigns c ON c.id = a.campaign_id JOIN packages p ON p.id = c.package_id"                    \
    " JOIN devices d ON d.id = a.device_id WHERE a.id = $1 AND a.device_id = $2"
/* The same, only when the device may act on it now (the release rule, $3 = now). */
#define ACT_SELECT_RELEASED ACT_SELECT " AND " ACTION_RELEASED("$3")

/* One artifact of a package: filename, hashes, size, download links. */
static json_t *artifact_json(const char *base, const char *pkgid, const char *filename, const char *sha1,
                             const char *md5, const char *sha256, const char *size)
{
    char dl[1024];
    snprintf(dl, sizeof dl, "%s/softwaremodules/%s/artifacts/%s", base, pkgid, filename);
    json_t *links = json_pack("{s:{s:s},s:{s:s},s:o,s:o}", "download", "href", dl, "download-http", "href", dl,
                              "md5sum", href(dl, ".MD5SUM", NULL, NULL), "md5sum-http",
                              href(dl, ".MD5SUM", NULL, NULL));
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:I,s:o}", "filename", filename, "hashes", "sha1", sha1, "md5", md5,
                     "sha256", sha256, "size", (json_int_t)strtoll(size, NULL, 10), "_links", links);
}

/* The deployment of action aid, row 0 of a (ACT_SELECT): deploymentBase,
 * installedBase and confirmationBase (key "deployment" or "confirmation"). */
static json_t *deployment_json_as(req_t *r, const char *aid, const db_rows_t *a, const char *key);
static json_t *deployment_json(req_t *r, const char *aid, const db_rows_t *a)
{
    return deployment_json_as(r, aid, a, "deployment");
}

static json_t *deployment_json_as(req_t *r, const char *aid, const db_rows_t *a, const char *key)
{
    char base[512];
    base_url(r, base, sizeof base);
    json_t *art = artifact_json(base, db_cell(a, 0, 6), db_cell(a, 0, 12), db_cell(a, 0, 9), db_cell(a, 0, 10),
                                db_cell(a, 0, 8), db_cell(a, 0, 11));
    json_t *links = json_object_get(art, "_links");
    json_t *meta = json_pack("[{s:s,s:s},{s:s,s:s}]", "key", "molt.message", "value", db_cell(a, 0, 5), "key",
                             "molt.security_counter", "value", db_cell(a, 0, 14));
    /* An encrypted package (R-CONF): the same ciphertext for all; this device's
     * key envelope is its own resource (R-ONEPKG), linked when it can have one. */
    if (db_cell(a, 0, 15)) {
        json_array_append_new(meta, json_pack("{s:s,s:s}", "key", "molt.encryption", "value", db_cell(a, 0, 15)));
        if (envelope_capable(db_cell(a, 0, 16)))
            json_object_set_new(links, "molt-key-envelope", href(base, "/molt/keyEnvelope/", aid, NULL));
    }
    /* A key-update (kind keyupdate) is the chunk part "molt-keyset": the agent
     * installs it into the key-set component, not an image slot (docs/agent.md). */
    bool ku = db_cell(a, 0, 20) && strcmp(db_cell(a, 0, 20), "keyupdate") == 0;
    if (ku)
        json_array_append_new(meta, json_pack("{s:s,s:s}", "key", "molt.keyset_seq", "value", db_cell(a, 0, 21)));
    json_t *chunk = json_pack("{s:s,s:s,s:s,s:o,s:[o]}", "part", ku ? "molt-keyset" : "os", "version", db_cell(a, 0, 7), "name",
                              db_cell(a, 0, 13), "metadata", meta, "artifacts", art);
    modes_t m;
    rollout_modes(db_cell(a, 0, 18), &m);
    json_t *dep = json_pack("{s:s,s:s,s:[o]}", "download", m.download, "update", m.update, "chunks", chunk);
    if (m.window)
        json_object_set_new(dep, "maintenanceWindow", json_string(m.window));
    return json_pack("{s:s,s:o}", "id", aid, key, dep);
}

/* hawkBit's actionHistory: ?actionHistory=N adds the action's state and its last
 * N feedback messages, newest first (N < 0: all that are kept). */
static bool action_history(req_t *r, const char *aid, const char *state, json_t *out)
{
    const char *q = http_arg(r, "actionHistory");
    if (!q || !*q)
        return true;
    char *end;
    long n = strtol(q, &end, 10);
    if (*end || n == 0)
        return true;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT at, execution, message FROM action_messages WHERE action_id = $1 ORDER BY id DESC LIMIT %ld",
             n < 0 || n > ACTION_MESSAGES_MAX ? (long)ACTION_MESSAGES_MAX : n);
    db_rows_t m;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &m, sql, aid);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return false;
    json_t *msgs = json_array();
    for (size_t i = 0; i < m.nrows; i++) {
        char line[4200];
        snprintf(line, sizeof line, "%s %s: %s", db_cell(&m, i, 0), db_cell(&m, i, 1), db_cell(&m, i, 2));
        json_array_append_new(msgs, json_string(line));
    }
    db_rows_free(&m);
    json_object_set_new(out, "actionHistory", json_pack("{s:s,s:o}", "status", state, "messages", msgs));
    return true;
}

/* Row 0 of a (ACT_SELECT): an unstarted action of a campaign that wants the
 * user's confirmation, not given yet. */
static bool awaits_confirmation(const db_rows_t *a)
{
    modes_t m;
    rollout_modes(db_cell(a, 0, 18), &m);
    return m.confirm && !db_cell(a, 0, 19) && strcmp(db_cell(a, 0, 1), "cancelling") != 0;
}

/* Begin a transaction and read the action (ACT_SELECT) if the device may see
 * it now (*ok: the read worked; a->nrows 0: no such released action). false
 * when the transaction could not begin. */
static bool released_action(req_t *r, const char *aid, db_rows_t *a, char now[24], bool *ok)
{
    snprintf(now, 24, "%lld", (long long)now_ms());
    if (!tx_begin(r->srv))
        return false;
    *ok = Q(r->srv, a, ACT_SELECT_RELEASED, aid, r->device, now) == DB_OK;
    return true;
}

/* R-NOTIFY: the first delivery of the campaign's message to this device (the
 * action row a: ACT_SELECT) is recorded, in the open transaction. Conditional:
 * of two instances serving it at once, one records it. false on a database error. */
static bool note_served(req_t *r, const char *aid, const db_rows_t *a, const char *now)
{
    if (db_cell(a, 0, 2))
        return true; /* served before */
    moltd_t *srv = r->srv;
    db_rows_t first;
    bool ok = Q(srv, &first, "UPDATE actions SET notified = $2 WHERE id = $1 AND notified IS NULL RETURNING id", aid,
                now) == DB_OK;
    bool is_first = ok && first.nrows == 1;
    if (ok)
        db_rows_free(&first);
    if (is_first)
        ok = audit(srv, r->actor, "notify.served", r->device, db_cell(a, 0, 3), db_cell(a, 0, 7), db_cell(a, 0, 5)) ==
             DB_OK;
    return ok;
}

/* Commit (when ok) and answer the deployment under key ("deployment" or
 * "confirmation") with its actionHistory; frees a. */
static int answer_deployment(req_t *r, const char *aid, db_rows_t *a, bool ok, const char *key)
{
    if (!tx_end(r->srv, ok)) {
        db_rows_free(a);
        return http_db_error(r);
    }
    json_t *out = deployment_json_as(r, aid, a, key);
    ok = action_history(r, aid, db_cell(a, 0, 1), out);
    db_rows_free(a);
    if (!ok) {
        json_decref(out);
        return http_db_error(r);
    }
    return http_json(r, 200, out);
}

int ddi_deployment_base(req_t *r, const char *aid)
{
    moltd_t *srv = r->srv;
    db_rows_t a;
    char now[24];
    bool ok;
    /* An action not yet released (its step, start_at, a pause) is not shown: the
     * same 404 as an unknown one, so it can be neither fetched nor probed. */
    if (!released_action(r, aid, &a, now, &ok))
        return http_db_error(r);
    if (ok && a.nrows == 0) {
        tx_end(srv, false);
        db_rows_free(&a);
        return http_error(r, 404, "no action %s for %s", aid, r->device);
    }
    if (ok && awaits_confirmation(&a)) {
        tx_end(srv, false);
        db_rows_free(&a);
        return http_error(r, 409, "action %s waits for the user's confirmation (confirmationBase)", aid);
    }
    /* R-NOTIFY: the campaign's message travels with the deployment, before any
     * download; its first delivery to this device is recorded. */
    ok = ok && note_served(r, aid, &a, now);
    return answer_deployment(r, aid, &a, ok, "deployment");
}

/* hawkBit's installedBase: the deployment of an action the device installed. */
int ddi_installed_base(req_t *r, const char *aid)
{
    db_rows_t a;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &a, ACT_SELECT, aid, r->device);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    int ret = a.nrows == 0                             ? http_error(r, 404, "no action %s for %s", aid, r->device)
              : strcmp(db_cell(&a, 0, 1), "success") != 0 ? http_error(r, 404, "action %s of %s is not installed (%s)",
                                                                       aid, r->device, db_cell(&a, 0, 1))
                                                          : http_json(r, 200, deployment_json(r, aid, &a));
    db_rows_free(&a);
    return ret;
}

/* GET softwaremodules/{id}/artifacts: the package's artifact list, for devices of its class. */
int ddi_artifact_list(req_t *r, const char *pkgid)
{
    db_rows_t p;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &p,
                       "SELECT p.filename, p.sha1, p.md5, p.sha256, p.size FROM packages p JOIN devices d"
                       " ON d.class = p.class WHERE p.id = $1 AND d.id = $2",
                       pkgid, r->device);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    if (p.nrows == 0) {
        db_rows_free(&p);
        return http_error(r, 404, "no software module %s for %s", pkgid, r->device);
    }
    char base[512];
    base_url(r, base, sizeof base);
    json_t *out = json_pack("[o]", artifact_json(base, pkgid, db_cell(&p, 0, 0), db_cell(&p, 0, 1), db_cell(&p, 0, 2),
                                                 db_cell(&p, 0, 3), db_cell(&p, 0, 4)));
    db_rows_free(&p);
    return http_json(r, 200, out);
}

/* A feedback body, current (timestamp) or legacy (id, time) fields; returns the
 * execution and finished values, or replies 400. */
static json_t *feedback_body(req_t *r, const char *aid, const char **exec, const char **fin, int *ret)
{
    static const char *const execs[] = {"closed", "proceeding", "canceled", "scheduled", "rejected",
                                        "resumed", "downloaded", "download"};
    json_t *j = http_body_json(r, ret);
    if (!j)
        return NULL;
    /* A legacy "id" (SWUpdate 2022.12 sends the action id, or the stop id on a
     * cancel) is ignored whatever it holds, as hawkBit ignores unknown fields:
     * the action is the one in the path. */
    json_t *status = json_object_get(j, "status");
    json_t *result = status ? json_object_get(status, "result") : NULL;
    *exec = status ? json_string_value(json_object_get(status, "execution")) : NULL;
    *fin = result ? json_string_value(json_object_get(result, "finished")) : NULL;
    bool known = false;
    for (size_t i = 0; *exec && i < sizeof execs / sizeof *execs; i++)
        known = known || strcmp(*exec, execs[i]) == 0;
    const char *bad = !json_is_object(status)  ? "status: an object is required"
                      : !known                 ? "status.execution: closed, proceeding, canceled, scheduled, rejected, "
                                                 "resumed, downloaded or download"
                      : !json_is_object(result) || !*fin ||
                              (strcmp(*fin, "success") && strcmp(*fin, "failure") && strcmp(*fin, "none"))
                          ? "status.result.finished: success, failure or none"
                          : NULL;
    (void)aid;
    if (bad) {
        json_decref(j);
        *ret = http_error(r, 400, "%s", bad);
        return NULL;
    }
    return j;
}

static void details(json_t *j, char *out, size_t cap)
{
    json_t *d = json_object_get(json_object_get(j, "status"), "details");
    size_t i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(d, i, v)
    {
        if (json_is_string(v))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "; " : "", json_string_value(v));
    }
}

/* One feedback, as the device sent it. */
typedef struct feedback {
    const char *aid, *exec, *fin;
    char det[1024], now[24];
} feedback_t;

/* "keyset N" in a feedback's details (molt-agent writes it after a key-update):
 * N as decimal text in a static buffer, else dflt. */
static const char *reported_keyset(const char *det, const char *dflt)
{
    static _Thread_local char n[16];
    const char *p = strstr(det, "keyset ");
    unsigned long v;
    char *end;
    if (!p || p[7] < '0' || p[7] > '9')
        return dflt;
    v = strtoul(p + 7, &end, 10);
    if (end - (p + 7) > 9)
        return dflt;
    snprintf(n, sizeof n, "%lu", v);
    return n;
}

/* After the action's state changed: the step's counters, the device's version,
 * actionHistory (the last ACTION_MESSAGES_MAX kept), the audit record (who,
 * what, when, the version before and after), the campaign's next step. */
static bool feedback_record(req_t *r, const feedback_t *f, const db_rows_t *a, const fb_effect_t *e)
{
    moltd_t *srv = r->srv;
    const char *cid = db_cell(a, 0, 4), *before = db_cell(a, 0, 3), *ver = db_cell(a, 0, 7);
    bool failed = strcmp(e->to, "failure") == 0;
    bool ok = !e->closes || step_count(srv, cid, db_cell(a, 0, 17), -1, failed) == DB_OK;
    bool ku = db_cell(a, 0, 20) && strcmp(db_cell(a, 0, 20), "keyupdate") == 0;
    if (ok && e->installs && !ku)
        ok = Q(srv, NULL, "UPDATE devices SET version = $2, config_wanted = 1 WHERE id = $1", r->device, ver) == DB_OK;
    if (ok && e->installs && ku) /* the key set the device reports in force (details "keyset N"), else the update's */
        ok = Q(srv, NULL, "UPDATE devices SET keyset_seq = $2 WHERE id = $1", r->device, reported_keyset(f->det, db_cell(a, 0, 21))) == DB_OK;
    if (ku)
        ver = before;
    ok = ok &&
         Q(srv, NULL, "INSERT INTO action_messages (action_id, at, execution, message) VALUES ($1, $2, $3, $4)", f->aid,
           f->now, f->exec, f->det) == DB_OK &&
         Q(srv, NULL,
           "DELETE FROM action_messages WHERE action_id = $1 AND id < (SELECT MIN(id) FROM (SELECT id FROM"
           " action_messages WHERE action_id = $1 ORDER BY id DESC LIMIT " STR(ACTION_MESSAGES_MAX) ") t)",
           f->aid) == DB_OK;
    if (ok && e->what)
        ok = audit(srv, r->actor, e->what, r->device, before, e->installs ? ver : before,
                   f->det[0] ? f->det : NULL) == DB_OK;
    if (ok && e->closes)
        ok = campaign_evaluate(srv, cid, failed) == DB_OK;
    return ok;
}

#define FB_AGAIN (-2) /* the action changed meanwhile: decide again */

/* The action, if the device may give feedback on it now: false with the
 * answer in *ret (404 unreleased or unknown, 410 closed, 409 awaiting
 * consent), the transaction rolled back. */
static bool feedback_action(req_t *r, const feedback_t *f, db_rows_t *a, int *ret)
{
    moltd_t *srv = r->srv;
    bool ok = Q(srv, a, ACT_SELECT_RELEASED, f->aid, r->device, f->now) == DB_OK; /* unreleased: 404 */
    if (!ok || a->nrows == 0) {
        tx_end(srv, false);
        if (ok)
            db_rows_free(a);
        *ret = ok ? http_error(r, 404, "no action %s for %s", f->aid, r->device) : http_db_error(r);
        return false;
    }
    const char *state = db_cell(a, 0, 1);
    bool closed = strcmp(state, "success") == 0 || strcmp(state, "failure") == 0 || strcmp(state, "cancelled") == 0;
    if (!closed && !awaits_confirmation(a))
        return true;
    tx_end(srv, false);
    *ret = closed ? http_error(r, 410, "action %s is closed (%s)", f->aid, state)
                  : http_error(r, 409, "action %s waits for the user's confirmation (confirmationBase)", f->aid);
    db_rows_free(a);
    return false;
}

/* One attempt: the answer, or FB_AGAIN. Conditional on the state read: when
 * another instance (or request) changed the action meanwhile, nothing is
 * written and the whole decision is taken again on what it committed (a
 * closed action is then 410): exactly once. */
static int feedback_once(req_t *r, const feedback_t *f)
{
    moltd_t *srv = r->srv;
    int ret;
    db_rows_t a, upd;
    if (!tx_begin(srv))
        return http_db_error(r);
    if (!feedback_action(r, f, &a, &ret))
        return ret;
    const char *state = db_cell(&a, 0, 1);
    fb_effect_t e = rollout_feedback(state, f->exec, f->fin, db_cell(&a, 0, 18));
    bool ok = true;
    if (e.closes) /* the campaign row first, then the action and the counters: one lock order for all */
        ok = campaign_lock(srv, db_cell(&a, 0, 4)) == DB_OK;
    ok = ok && Q(srv, &upd, "UPDATE actions SET state = $2, detail = $3, updated = $4 WHERE id = $1 AND state = $5 RETURNING id",
                 f->aid, e.to, f->det[0] ? f->det : NULL, f->now, state) == DB_OK;
    bool changed = ok && upd.nrows == 1;
    if (ok)
        db_rows_free(&upd);
    if (ok && !changed) {
        tx_end(srv, false);
        db_rows_free(&a);
        return FB_AGAIN;
    }
    ok = ok && feedback_record(r, f, &a, &e);
    db_rows_free(&a);
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return http_reply(r, 200, NULL, "", 0);
}

int ddi_deployment_feedback(req_t *r, const char *aid)
{
    feedback_t f = {.aid = aid};
    int ret;
    json_t *j = feedback_body(r, aid, &f.exec, &f.fin, &ret);
    if (!j)
        return ret;
    details(j, f.det, sizeof f.det);
    snprintf(f.now, sizeof f.now, "%lld", (long long)now_ms());
    for (int attempts = 1; (ret = feedback_once(r, &f)) == FB_AGAIN; attempts++) {
        if (attempts == 5) {
            ret = http_error(r, 409, "action %s keeps changing: send the feedback again", aid);
            break;
        }
    }
    json_decref(j);
    return ret;
}

int ddi_cancel_action(req_t *r, const char *aid, bool feedback)
{
    moltd_t *srv = r->srv;
    const char *exec = NULL, *fin = NULL;
    int ret;
    json_t *j = NULL;
    if (feedback && !(j = feedback_body(r, aid, &exec, &fin, &ret)))
        return ret;
    db_rows_t a;
    if (!tx_begin(srv)) {
        json_decref(j);
        return http_db_error(r);
    }
    bool ok = Q(srv, &a, ACT_SELECT, aid, r->device) == DB_OK;
    bool cancelling = ok && a.nrows && strcmp(db_cell(&a, 0, 1), "cancelling") == 0;
    if (!cancelling) {
        tx_end(srv, false);
        ret = !ok ? http_db_error(r)
              : a.nrows == 0 || !feedback ? http_error(r, 404, "no cancel request %s for %s", aid, r->device)
                                          : http_error(r, 410, "action %s is not being cancelled", aid);
        if (ok)
            db_rows_free(&a);
        json_decref(j);
        return ret;
    }
    if (!feedback) {
        tx_end(srv, true);
        db_rows_free(&a);
        return http_json(r, 200, json_pack("{s:s,s:{s:s}}", "id", aid, "cancelAction", "stopId", aid));
    }
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    /* closed: the device stopped; rejected: it cannot stop, the update goes on. */
    const char *to = strcmp(exec, "closed") == 0 || strcmp(exec, "canceled") == 0 ? "cancelled"
                     : strcmp(exec, "rejected") == 0                            ? "running"
                                                                                : NULL;
    if (to) {
        db_rows_t upd;
        bool cancels = strcmp(to, "cancelled") == 0;
        if (cancels)
            ok = campaign_lock(srv, db_cell(&a, 0, 4)) == DB_OK;
        ok = ok && Q(srv, &upd, "UPDATE actions SET state = $2, updated = $3 WHERE id = $1 AND state = 'cancelling' RETURNING id",
                     aid, to, now) == DB_OK;
        bool changed = ok && upd.nrows == 1;
        if (ok)
            db_rows_free(&upd);
        if (ok && !changed) { /* answered meanwhile (another instance): once only */
            tx_end(srv, false);
            db_rows_free(&a);
            json_decref(j);
            return http_error(r, 410, "action %s is not being cancelled", aid);
        }
        if (ok && cancels)
            ok = step_count(srv, db_cell(&a, 0, 4), db_cell(&a, 0, 17), -1, 0) == DB_OK;
        ok = ok &&
             audit(srv, r->actor, strcmp(to, "cancelled") == 0 ? "update.cancelled" : "cancel.rejected", r->device,
                   db_cell(&a, 0, 3), db_cell(&a, 0, 3), NULL) == DB_OK;
        if (ok && strcmp(to, "cancelled") == 0)
            ok = campaign_evaluate(srv, db_cell(&a, 0, 4), false) == DB_OK;
    }
    db_rows_free(&a);
    json_decref(j);
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return http_reply(r, 200, NULL, "", 0);
}

/* --- user consent (hawkBit's confirmationBase, R-NOTIFY) ----------------------- */

/* GET confirmationBase: hawkBit's auto-confirm state (moltd has none: every
 * campaign that asks for consent asks the user) and the action waiting, if any. */
int ddi_confirmation_root(req_t *r)
{
    open_action_t a;
    srv_lock(r->srv);
    db_status_t st = rollout_open_action(r->srv, r->device, &a);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    char base[512];
    base_url(r, base, sizeof base);
    json_t *links = json_object();
    if (a.found && a.waits)
        json_object_set_new(links, "confirmationBase", href(base, "/confirmationBase/", a.id, NULL));
    return http_json(r, 200, json_pack("{s:{s:b},s:o}", "autoConfirm", "active", 0, "_links", links));
}

/* GET confirmationBase/{id}: the deployment the user is asked about, with the
 * campaign's message (R-NOTIFY: served before anything is downloaded, its first
 * delivery recorded as for deploymentBase). */
int ddi_confirmation_get(req_t *r, const char *aid)
{
    moltd_t *srv = r->srv;
    db_rows_t a;
    char now[24];
    bool ok;
    if (!released_action(r, aid, &a, now, &ok))
        return http_db_error(r);
    if (ok && (a.nrows == 0 || !awaits_confirmation(&a))) {
        tx_end(srv, false);
        int ret = a.nrows == 0 ? http_error(r, 404, "no action %s for %s", aid, r->device)
                               : http_error(r, 404, "action %s of %s waits for no confirmation", aid, r->device);
        db_rows_free(&a);
        return ret;
    }
    ok = ok && note_served(r, aid, &a, now);
    return answer_deployment(r, aid, &a, ok, "confirmation");
}

/* POST confirmationBase/{id}/feedback {confirmation: confirmed|denied, code?, details?}.
 * confirmed: the deployment is offered from the next poll on; denied: recorded,
 * the action keeps waiting (hawkBit) until the user confirms or the operator
 * cancels the campaign. Both audited (update.confirmed / update.denied). */
int ddi_confirmation_feedback(req_t *r, const char *aid)
{
    moltd_t *srv = r->srv;
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *c = json_string_value(json_object_get(j, "confirmation"));
    json_t *code = json_object_get(j, "code");
    if (!c || (strcmp(c, "confirmed") && strcmp(c, "denied")) || (code && !json_is_integer(code))) {
        json_decref(j);
        return http_error(r, 400, "want {\"confirmation\": confirmed|denied, \"code\"?: integer, \"details\"?: [strings]}");
    }
    bool yes = strcmp(c, "confirmed") == 0;
    c = yes ? "confirmed" : "denied"; /* j is released below */
    char det[1024], now[24];
    json_t *wrap = json_pack("{s:{s:O}}", "status", "details", json_object_get(j, "details") ? json_object_get(j, "details") : json_null());
    details(wrap, det, sizeof det);
    json_decref(wrap);
    if (code)
        snprintf(det + strlen(det), sizeof det - strlen(det), "%scode %lld", det[0] ? "; " : "",
                 (long long)json_integer_value(code));
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    json_decref(j);
    db_rows_t a;
    if (!tx_begin(srv))
        return http_db_error(r);
    bool ok = Q(srv, &a, ACT_SELECT_RELEASED, aid, r->device, now) == DB_OK;
    if (ok && (a.nrows == 0 || !awaits_confirmation(&a))) {
        tx_end(srv, false);
        ret = a.nrows == 0 ? http_error(r, 404, "no action %s for %s", aid, r->device)
                           : http_error(r, 410, "action %s of %s waits for no confirmation", aid, r->device);
        db_rows_free(&a);
        return ret;
    }
    bool have = ok;
    db_rows_t upd = {0};
    if (ok && yes) /* conditional: two confirmations at once are one */
        ok = Q(srv, &upd, "UPDATE actions SET confirmed = $2, updated = $2 WHERE id = $1 AND confirmed IS NULL RETURNING id",
               aid, now) == DB_OK;
    bool changed = !yes || (ok && upd.nrows == 1);
    if (ok && yes)
        db_rows_free(&upd);
    if (ok && changed)
        ok = Q(srv, NULL, "INSERT INTO action_messages (action_id, at, execution, message) VALUES ($1, $2, $3, $4)", aid,
               now, c, det) == DB_OK &&
             audit(srv, r->actor, yes ? "update.confirmed" : "update.denied", r->device, db_cell(&a, 0, 3),
                   db_cell(&a, 0, 3), det[0] ? det : NULL) == DB_OK;
    if (have)
        db_rows_free(&a);
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return changed ? http_reply(r, 200, NULL, "", 0) : http_error(r, 410, "action %s was confirmed meanwhile", aid);
}

/* PUT installedBase {name, version}: the device declares what it runs (an
 * install done offline). hawkBit records a finished action for the named
 * distribution set; moltd sets the device's version to that of a package of
 * the device's class (name = the class, as the chunk name served), audited as
 * device.installed. An unknown name or version is 404, as in hawkBit. */
int ddi_installed_put(req_t *r)
{
    moltd_t *srv = r->srv;
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *name = json_string_value(json_object_get(j, "name")), *ver = json_string_value(json_object_get(j, "version"));
    if (!name || !ver || strlen(name) > 64 || strlen(ver) > 47) {
        json_decref(j);
        return http_error(r, 400, "want {\"name\": the class, \"version\": a package version of it}");
    }
    char n[72], v[48];
    snprintf(n, sizeof n, "%s", name);
    snprintf(v, sizeof v, "%s", ver);
    json_decref(j);
    if (!tx_begin(srv))
        return http_db_error(r);
    db_rows_t p;
    bool ok = Q(srv, &p,
                "SELECT p.id, d.version FROM packages p JOIN devices d ON d.class = p.class WHERE d.id = $1"
                " AND p.class = $2 AND p.version = $3 AND p.kind = 'image'",
                r->device, n, v) == DB_OK;
    if (ok && p.nrows == 0) {
        tx_end(srv, false);
        db_rows_free(&p);
        return http_error(r, 404, "no package %s %s for %s", n, v, r->device);
    }
    char before[48] = "";
    bool had = ok && db_cell(&p, 0, 1);
    if (had)
        snprintf(before, sizeof before, "%s", db_cell(&p, 0, 1));
    if (ok)
        db_rows_free(&p);
    bool same = had && strcmp(before, v) == 0;
    if (ok && !same)
        ok = Q(srv, NULL, "UPDATE devices SET version = $2 WHERE id = $1", r->device, v) == DB_OK &&
             audit(srv, r->actor, "device.installed", r->device, had ? before : NULL, v, "PUT installedBase") == DB_OK;
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return http_reply(r, 200, NULL, "", 0);
}

int ddi_config_data(req_t *r)
{
    moltd_t *srv = r->srv;
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    json_t *data = json_object_get(j, "data");
    const char *mode = json_object_get(j, "mode") ? json_string_value(json_object_get(j, "mode")) : "merge";
    bool strings = json_is_object(data) && json_object_size(data) <= 256;
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) strings = strings && json_is_string(v) && strlen(k) <= 128 &&
                                              strlen(json_string_value(v)) <= 1024;
    if (!strings || !mode || (strcmp(mode, "merge") && strcmp(mode, "replace") && strcmp(mode, "remove"))) {
        json_decref(j);
        return http_error(r, 400, "want {\"mode\": merge|replace|remove, \"data\": {\"key\": \"string\", ...}}");
    }
    db_rows_t d;
    if (!tx_begin(srv)) {
        json_decref(j);
        return http_db_error(r);
    }
    bool ok = Q(srv, &d, "SELECT attributes FROM devices WHERE id = $1", r->device) == DB_OK && d.nrows;
    json_error_t e;
    json_t *attrs = ok ? json_loads(db_cell(&d, 0, 0), 0, &e) : NULL;
    char old_text[MOLTD_ATTR_MAX_BYTES + 2] = "";
    if (ok)
        snprintf(old_text, sizeof old_text, "%s", db_cell(&d, 0, 0));
    if (ok)
        db_rows_free(&d);
    if (!attrs)
        attrs = json_object();
    if (strcmp(mode, "replace") == 0)
        json_object_clear(attrs);
    json_object_foreach(data, k, v)
    {
        if (strcmp(mode, "remove") == 0)
            json_object_del(attrs, k);
        else
            json_object_set(attrs, k, v);
    }
    char *s = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    size_t nkeys = json_object_size(attrs), nbytes = s ? strlen(s) : 0;
    bool removing = strcmp(mode, "remove") == 0;
    json_decref(attrs);
    json_decref(j);
    /* A device's attributes are bounded (they decide campaign targets and are
     * read on every campaign creation): a change that would leave more than
     * MOLTD_ATTR_MAX_KEYS keys or MOLTD_ATTR_MAX_BYTES bytes is refused; remove
     * always goes through, so a device can shrink back under the bound. */
    if (ok && s && !removing && (nkeys > MOLTD_ATTR_MAX_KEYS || nbytes > MOLTD_ATTR_MAX_BYTES)) {
        tx_end(srv, false);
        free(s);
        return http_error(r, 413, "attributes of %s would hold %zu keys, %zu bytes (at most %d keys, %d bytes)",
                          r->device, nkeys, nbytes, MOLTD_ATTR_MAX_KEYS, MOLTD_ATTR_MAX_BYTES);
    }
    /* Attributes decide campaign targeting: every change is an audit record
     * (detail: the attributes after it). */
    bool changed = ok && s && strcmp(s, old_text) != 0;
    ok = ok && s && Q(srv, NULL, "UPDATE devices SET attributes = $2, config_wanted = 0 WHERE id = $1", r->device, s) == DB_OK;
    if (ok && changed)
        ok = audit(srv, r->actor, "device.attributes", r->device, NULL, NULL, s) == DB_OK;
    free(s);
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return http_reply(r, 200, NULL, "", 0);
}
