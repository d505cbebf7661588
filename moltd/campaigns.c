/*
 * campaigns.c - the campaigns resource (/api/v1/campaigns): the request's
 * checks and the answers. What a campaign targets and how its state moves are
 * rollout.c's rules, which know nothing of HTTP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "moltd.h"

/* "steps": 1 to 20 increasing percentages ending at 100, as "10,50,100" in
 * out; absent: "100". NULL when valid, else the 400 message. */
static const char *parse_steps(json_t *steps, char *out, size_t cap)
{
    out[0] = '\0';
    if (!steps)
        return snprintf(out, cap, "100"), NULL;
    static const char *const bad = "steps: 1 to 20 increasing percentages ending at 100";
    size_t nsteps = json_array_size(steps);
    if (!json_is_array(steps) || nsteps == 0 || nsteps > 20)
        return bad;
    long last = 0;
    for (size_t i = 0; i < nsteps; i++) {
        json_t *s = json_array_get(steps, i);
        long v = json_is_integer(s) ? (long)json_integer_value(s) : -1;
        if (v <= last || v > 100 || (i + 1 == nsteps && v != 100))
            return bad;
        snprintf(out + strlen(out), cap - strlen(out), "%s%ld", i ? "," : "", v);
        last = v;
    }
    return NULL;
}

/* The filter's ids and attributes. An unknown filter key is refused, not
 * ignored: ignoring it would widen the campaign to the whole class. */
static const char *parse_filter(json_t *filter, json_t *ids, json_t *attrs, char *why, size_t cap)
{
    size_t nids = ids ? json_array_size(ids) : 0;
    for (size_t i = 0; i < nids; i++)
        if (!valid_name(json_string_value(json_array_get(ids, i)), 64))
            return "filter.ids: an array of device ids";
    const char *key;
    json_t *val;
    json_object_foreach(filter, key, val)
    {
        if (strcmp(key, "ids") != 0 && strcmp(key, "attributes") != 0)
            return snprintf(why, cap, "filter.%.64s: unknown key (want ids, attributes)", key), why;
    }
    json_object_foreach(attrs, key, val)
    {
        if (!json_is_string(val))
            return snprintf(why, cap, "filter.attributes.%.64s: not a string", key), why;
    }
    return NULL;
}

/* A campaign body's DDI fields (hawkBit parity, issue 19): download, update,
 * polling_sleep, maintenance_windows, confirm. */
const char *ddi_campaign_parse(json_t *j, char **out, char *why, size_t cap)
{
    json_t *dl = json_object_get(j, "download"), *up = json_object_get(j, "update"),
           *sl = json_object_get(j, "polling_sleep"), *mw = json_object_get(j, "maintenance_windows"),
           *cf = json_object_get(j, "confirm");
    *out = NULL;
    const char *d = dl ? json_string_value(dl) : "forced", *u = up ? json_string_value(up) : "forced";
    if (!rollout_mode_ok(d))
        return "download: forced, attempt or skip";
    if (!rollout_mode_ok(u))
        return "update: forced, attempt or skip";
    if (strcmp(d, "skip") == 0 && strcmp(u, "skip") != 0)
        return "update: must be skip when download is skip (nothing to install)";
    if (sl && (!json_is_integer(sl) || json_integer_value(sl) < 1 || json_integer_value(sl) > 86399))
        return "polling_sleep: seconds, 1 to 86399 (served as HH:MM:SS)";
    if (cf && !json_is_boolean(cf))
        return "confirm: true or false";
    if (mw && (!json_is_array(mw) || json_array_size(mw) == 0 || json_array_size(mw) > 64))
        return "maintenance_windows: 1 to 64 windows [{\"start\": ms, \"end\": ms}]";
    size_t i;
    json_t *w;
    json_array_foreach(mw, i, w)
    {
        json_t *a = json_object_get(w, "start"), *b = json_object_get(w, "end");
        if (!json_is_object(w) || json_object_size(w) != 2 || !json_is_integer(a) || !json_is_integer(b) ||
            json_integer_value(a) < 0 || json_integer_value(b) <= json_integer_value(a)) {
            snprintf(why, cap, "maintenance_windows[%zu]: {\"start\": ms, \"end\": ms} with start < end", i);
            return why;
        }
    }
    if (!dl && !up && !sl && !mw && !cf)
        return NULL; /* all defaults: nothing stored */
    json_t *o = json_pack("{s:s,s:s}", "download", d, "update", u);
    if (sl)
        json_object_set(o, "polling_sleep", sl);
    if (mw)
        json_object_set(o, "maintenance_windows", mw);
    if (cf && json_is_true(cf))
        json_object_set_new(o, "confirm", json_true());
    *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return NULL;
}

/* The body of POST /campaigns into c: NULL when valid, else the 400 message. */
static const char *parse_campaign(json_t *j, campaign_spec_t *c, char *why, size_t cap)
{
    c->name = str_field(j, "name");
    c->msg = str_field(j, "message");
    json_t *pkg = json_object_get(j, "package"), *filter = json_object_get(j, "filter"),
           *steps = json_object_get(j, "steps"), *thr = json_object_get(j, "failure_threshold"),
           *start = json_object_get(j, "start_at");
    c->ids = json_object_get(filter, "ids");
    c->attrs = json_object_get(filter, "attributes");
    const char *name = c->name, *msg = c->msg;
    json_t *ids = c->ids, *attrs = c->attrs;
    const char *bad = !name || strlen(name) == 0 || strlen(name) > 128 ? "name: 1 to 128 characters"
                      : !json_is_integer(pkg)                            ? "package: a package id"
                      : json_object_get(j, "message") && !msg            ? "message: a string"
                      : msg && strlen(msg) > 1024                        ? "message: at most 1024 bytes"
                      : filter && !json_is_object(filter) ? "filter: an object {\"ids\"?: [...], \"attributes\"?: {...}}"
                      : ids && !json_is_array(ids)        ? "filter.ids: an array of device ids"
                      : attrs && !json_is_object(attrs)   ? "filter.attributes: an object of string values"
                      : thr && (!json_is_integer(thr) || json_integer_value(thr) < 0 || json_integer_value(thr) > 100)
                          ? "failure_threshold: a percentage 0..100"
                      : start && !json_is_integer(start) ? "start_at: milliseconds since the epoch"
                                                         : NULL;
    if (!bad)
        bad = parse_steps(steps, c->steps, sizeof c->steps);
    if (!bad)
        bad = parse_filter(filter, ids, attrs, why, cap);
    /* hawkBit's per-action DDI modes, windows, polling interval and consent (ddi.c) */
    if (!bad)
        bad = ddi_campaign_parse(j, &c->ddi, why, cap);
    if (bad)
        return bad;
    c->nids = ids ? json_array_size(ids) : 0;
    snprintf(c->pkgid, sizeof c->pkgid, "%lld", (long long)json_integer_value(pkg));
    snprintf(c->thrs, sizeof c->thrs, "%lld", thr ? (long long)json_integer_value(thr) : 100LL);
    now_str(c->now, sizeof c->now);
    snprintf(c->starts, sizeof c->starts, "%lld", start ? (long long)json_integer_value(start) : 0LL);
    c->filter_s = filter ? json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    return NULL;
}

int campaigns_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    campaign_spec_t c = {0};
    char why[200];
    const char *bad = parse_campaign(j, &c, why, sizeof why);
    if (bad) {
        ret = http_error(r, 400, "%s", bad);
        free(c.ddi);
        json_decref(j);
        return ret;
    }
    c.actor = r->actor;
    campaign_made_t made;
    rollout_t rc = tx_begin(r->srv) ? rollout_create(r->srv, &c, &made) : ROLLOUT_BEGIN;
    bool committed = rc != ROLLOUT_BEGIN && tx_end(r->srv, rc == ROLLOUT_OK);
    if (committed)
        ret = http_json(r, 201, json_pack("{s:I,s:I,s:s}", "id", (json_int_t)strtoll(made.id, NULL, 10), "targets",
                                          (json_int_t)made.targets, "state", "running"));
    else if (rc == ROLLOUT_NO_PACKAGE)
        ret = http_error(r, 400, "package: no package %s", c.pkgid);
    else if (rc == ROLLOUT_NO_TARGET)
        ret = http_error(r, 409, "no device to update: none of class %s matches the filter without %s or an open update",
                         made.cls, made.version);
    else if (rc == ROLLOUT_RACE)
        ret = http_error(r, 409, "a target device got an open update meanwhile: nothing created, create it again");
    else
        ret = http_db_error(r);
    free(c.filter_s);
    free(c.ddi);
    json_decref(j);
    return ret;
}

#define CAMP_SELECT                                                                                         \
    "SELECT c.id, c.name, c.package_id, p.version, c.steps, c.step, c.failure_threshold, c.message,"       \
    " c.start_at, c.state, c.state_reason, c.created_by, c.created FROM campaigns c"                        \
    " JOIN packages p ON p.id = c.package_id"
static const char *const camp_cols[] = {"#id",         "name",  "#package",     "version",    "steps",
                                        "#step",       "#failure_threshold", "message", "#start_at", "state",
                                        "state_reason", "created_by", "#created"};

int campaigns_get(req_t *r, const char *id)
{
    if (!id)
        return rows_list(r, CAMP_SELECT " ORDER BY c.id", camp_cols, NULL);
    db_rows_t rows, counts;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &rows, CAMP_SELECT " WHERE c.id = $1", id);
    db_rows_t dd = {0};
    if (st == DB_OK)
        st = Q(r->srv, &counts, "SELECT state, COUNT(*) FROM actions WHERE campaign_id = $1 GROUP BY state", id);
    if (st == DB_OK)
        st = Q(r->srv, &dd, "SELECT ddi FROM campaigns WHERE id = $1", id);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    if (rows.nrows == 0) {
        db_rows_free(&rows);
        db_rows_free(&counts);
        db_rows_free(&dd);
        return http_error(r, 404, "no campaign %s", id);
    }
    json_t *o = row_json(&rows, camp_cols, 0), *c = json_object();
    /* the DDI modes (download, update, polling_sleep, maintenance_windows, confirm), when any was given */
    json_error_t je;
    json_t *ddi = dd.nrows && db_cell(&dd, 0, 0) ? json_loads(db_cell(&dd, 0, 0), 0, &je) : NULL;
    db_rows_free(&dd);
    if (ddi)
        json_object_set_new(o, "ddi", ddi);
    for (size_t i = 0; i < counts.nrows; i++)
        json_object_set_new(c, db_cell(&counts, i, 0), json_integer(strtoll(db_cell(&counts, i, 1), NULL, 10)));
    json_object_set_new(o, "actions", c);
    db_rows_free(&rows);
    db_rows_free(&counts);
    return http_json(r, 200, o);
}

/* POST /campaigns/{id}/{pause|resume|cancel}: the transition is rollout.c's;
 * the answer is the campaign as GET shows it. */
int campaigns_control(req_t *r, const char *id, const char *op)
{
    moltd_t *srv = r->srv;
    if (!tx_begin(srv))
        return http_db_error(r);
    char state[16] = "";
    rollout_t rc = rollout_control(srv, id, op, r->actor, state);
    if (!tx_end(srv, rc == ROLLOUT_OK)) {
        if (rc == ROLLOUT_NO_CAMPAIGN)
            return http_error(r, 404, "no campaign %s", id);
        if (rc == ROLLOUT_BAD_STATE)
            return http_error(r, 409, "cannot %s a campaign that is %s", op, state);
        if (rc == ROLLOUT_CHANGED)
            return http_error(r, 409, "campaign %s changed meanwhile: %s it again", id, op);
        return http_db_error(r);
    }
    return campaigns_get(r, id);
}
