/*
 * views.c - read-only management endpoints for the dashboard (web/, docs/dashboard.md).
 *
 * GET /api/v1/whoami                     the token's role and audit actor
 * GET /api/v1/fleet?q=&class=&state=&campaign=&offset=&limit=   one page of the fleet, with its total
 * GET /api/v1/devices/{id}/history       actions, feedback details, attestation evidence, audit
 * GET /api/v1/audit/records?what=&actor=&object=&q=&since=&until=&before=&limit=&format=json|csv
 * GET /api/v1/campaigns/{id}/timeline    per-step progress and devices by state over time
 *
 * Every one needs the viewer role; none changes anything. Authentication is
 * mgmt_auth's (http.c calls it before routing), so these answer to exactly the
 * tokens and roles the rest of the management API does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moltd.h"
#include "ui.h"

#define FLEET_MAX_LIMIT 500
#define AUDIT_MAX_LIMIT 100000
#define HISTORY_AUDIT 200
#define TIMELINE_POINTS 300

static const char *role_str(role_t r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_OPERATOR ? "operator" : r == ROLE_VIEWER ? "viewer" : "none";
}

static int fail_db(req_t *r)
{
    return http_error(r, 500, "database: %s", r->srv->db->err);
}

/* A non-negative integer query parameter: def when absent, -1 when malformed or above max. */
static long long arg_num(req_t *r, const char *name, long long def, long long max)
{
    const char *s = http_arg(r, name);
    if (!s)
        return def;
    if (!*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
        return -1;
    long long v = strtoll(s, NULL, 10);
    return v > max ? -1 : v;
}

/* "%text%" for LIKE with \ as the escape character: the user's % and _ match themselves. */
static char *like_pattern(const char *s, bool prefix_only)
{
    size_t n = strlen(s);
    char *p = malloc(2 * n + 3), *o = p;
    if (!p)
        return NULL;
    if (!prefix_only)
        *o++ = '%';
    for (const char *c = s; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

static json_t *num_or_null(const char *v)
{
    return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

static json_t *str_or_null(const char *v)
{
    return v ? json_string(v) : json_null();
}

/* A small growable list of text parameters for db_exec. */
typedef struct params {
    const char *v[16];
    char *owned[16];
    int n, nowned;
} params_t;

static int param_add(params_t *p, const char *v, bool owned)
{
    p->v[p->n] = v;
    if (owned)
        p->owned[p->nowned++] = (char *)v;
    return ++p->n;
}

static void params_free(params_t *p)
{
    for (int i = 0; i < p->nowned; i++)
        free(p->owned[i]);
}

/* --- whoami ------------------------------------------------------------------------ */
static int whoami(req_t *r)
{
    return http_json(r, 200, json_pack("{s:s,s:s}", "role", role_str(r->role), "actor", r->actor));
}

/* --- fleet: one page, searched and filtered in SQL ------------------------------------ */
static const char *const action_states[] = {"assigned", "running", "downloaded", "cancelling",
                                            "success",  "failure", "cancelled",  "none"};

/* One device of the fleet page, with its latest action. */
static json_t *fleet_device(const db_rows_t *rows, size_t i)
{
    json_error_t e;
    const char *attrs = db_cell(rows, i, 6);
    json_t *a = attrs ? json_loads(attrs, 0, &e) : NULL;
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id", db_cell(rows, i, 0), "class", db_cell(rows, i, 1),
                          "version", str_or_null(db_cell(rows, i, 2)), "attested_version",
                          str_or_null(db_cell(rows, i, 3)), "attested_at", num_or_null(db_cell(rows, i, 4)),
                          "last_seen", num_or_null(db_cell(rows, i, 5)), "attributes", a ? a : json_object());
    json_object_set_new(o, "action",
                        db_cell(rows, i, 7)
                            ? json_pack("{s:o,s:o,s:s,s:o}", "id", num_or_null(db_cell(rows, i, 7)), "campaign",
                                        num_or_null(db_cell(rows, i, 8)), "state", db_cell(rows, i, 9), "detail",
                                        str_or_null(db_cell(rows, i, 10)))
                            : json_null());
    return o;
}

/* The fleet's filters as SQL (where) with their parameters (p); false when out
 * of memory. */
static bool fleet_where(req_t *r, long long campaign, char *where, size_t cap, params_t *p)
{
    const char *q = http_arg(r, "q"), *cls = http_arg(r, "class"), *state = http_arg(r, "state");
    if (q && *q) {
        char *pat = like_pattern(q, false);
        if (!pat)
            return false;
        int k = param_add(p, pat, true);
        snprintf(where + strlen(where), cap - strlen(where),
                 " AND (d.id LIKE $%d ESCAPE '\\' OR COALESCE(d.version, '') LIKE $%d ESCAPE '\\'"
                 " OR COALESCE(d.attested_version, '') LIKE $%d ESCAPE '\\' OR d.attributes LIKE $%d ESCAPE '\\')",
                 k, k, k, k);
    }
    if (cls && *cls)
        snprintf(where + strlen(where), cap - strlen(where), " AND d.class = $%d", param_add(p, cls, false));
    if (state && *state)
        snprintf(where + strlen(where), cap - strlen(where), " AND COALESCE(la.state, 'none') = $%d",
                 param_add(p, state, false));
    if (campaign >= 0 && http_arg(r, "campaign"))
        snprintf(where + strlen(where), cap - strlen(where), " AND la.campaign_id = %lld", campaign);
    return true;
}

static int fleet(req_t *r)
{
    const char *q = http_arg(r, "q"), *cls = http_arg(r, "class"), *state = http_arg(r, "state");
    long long offset = arg_num(r, "offset", 0, 1000000000LL), limit = arg_num(r, "limit", 50, FLEET_MAX_LIMIT);
    long long campaign = arg_num(r, "campaign", 0, 1LL << 53);
    if (offset < 0)
        return http_error(r, 400, "offset: a number of devices to skip");
    if (campaign < 0)
        return http_error(r, 400, "campaign: a campaign id");
    if (limit < 1)
        return http_error(r, 400, "limit: 1 to %d devices", FLEET_MAX_LIMIT);
    if (q && strlen(q) > 64)
        return http_error(r, 400, "q: at most 64 characters");
    if (cls && *cls && !valid_name(cls, 64))
        return http_error(r, 400, "class: a device class name");
    bool known = !state || !*state;
    for (size_t i = 0; !known && i < sizeof action_states / sizeof *action_states; i++)
        known = strcmp(state, action_states[i]) == 0;
    if (!known)
        return http_error(r, 400, "state: assigned, running, downloaded, cancelling, success, failure, cancelled or none");

    /* The latest action of each device; its state is the device's current action. */
    char where[512] = " WHERE 1 = 1";
    params_t p = {0};
    if (!fleet_where(r, campaign, where, sizeof where, &p))
        return http_error(r, 500, "out of memory");
    static const char from[] =
        " FROM devices d LEFT JOIN actions la ON la.id = (SELECT MAX(a.id) FROM actions a WHERE a.device_id = d.id)";
    char sql[1600], csql[1200];
    snprintf(sql, sizeof sql,
             "SELECT d.id, d.class, d.version, d.attested_version, d.attested_at, d.last_seen, d.attributes,"
             " la.id, la.campaign_id, la.state, la.detail%s%s ORDER BY d.id LIMIT %lld OFFSET %lld",
             from, where, limit, offset);
    snprintf(csql, sizeof csql, "SELECT COUNT(*)%s%s", from, where);
    db_rows_t rows = {0}, cnt = {0};
    srv_lock(r->srv);
    db_status_t st = db_exec(r->srv->db, sql, p.n, p.v, &rows);
    if (st == DB_OK)
        st = db_exec(r->srv->db, csql, p.n, p.v, &cnt);
    srv_unlock(r->srv);
    params_free(&p);
    if (st != DB_OK) {
        db_rows_free(&rows);
        return fail_db(r);
    }
    json_t *devs = json_array();
    for (size_t i = 0; i < rows.nrows; i++)
        json_array_append_new(devs, fleet_device(&rows, i));
    long long total = cnt.nrows ? strtoll(db_cell(&cnt, 0, 0), NULL, 10) : 0;
    db_rows_free(&rows);
    db_rows_free(&cnt);
    return http_json(r, 200,
                     json_pack("{s:I,s:I,s:I,s:o,s:I}", "total", (json_int_t)total, "offset", (json_int_t)offset,
                               "limit", (json_int_t)limit, "devices", devs, "now", (json_int_t)now_ms()));
}

/* --- a device's history ----------------------------------------------------------------- */
static const char *const audit_cols[] = {"id", "at", "actor", "what", "object", "version_before", "version_after",
                                         "detail"};

static json_t *audit_row(const db_rows_t *rows, size_t i)
{
    json_t *o = json_object();
    for (size_t c = 0; c < 8; c++) {
        const char *v = db_cell(rows, i, c);
        json_object_set_new(o, audit_cols[c], c < 2 ? num_or_null(v) : str_or_null(v));
    }
    return o;
}

static int device_history(req_t *r, const char *id)
{
    if (!valid_name(id, 64))
        return http_error(r, 404, "no device %s", id);
    db_rows_t d = {0}, acts = {0}, aud = {0}, ev = {0};
    char lim[16];
    snprintf(lim, sizeof lim, "%d", HISTORY_AUDIT);
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &d,
                       "SELECT id, class, version, attested_version, attested_hash, attested_at, last_seen,"
                       " attributes, created, enc_key IS NOT NULL FROM devices WHERE id = $1",
                       id);
    if (st == DB_OK)
        st = Q(r->srv, &acts,
               "SELECT a.id, a.campaign_id, c.name, p.version, a.step, a.state, a.version_before, a.detail,"
               " a.updated, a.notified FROM actions a JOIN campaigns c ON c.id = a.campaign_id"
               " JOIN packages p ON p.id = c.package_id WHERE a.device_id = $1 ORDER BY a.id DESC",
               id);
    if (st == DB_OK)
        st = Q(r->srv, &aud,
               "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit"
               " WHERE object = $1 ORDER BY id DESC LIMIT 200",
               id);
    if (st == DB_OK)
        st = Q(r->srv, &ev,
               "SELECT at, detail FROM audit WHERE object = $1 AND what = 'attest.verified' ORDER BY id DESC LIMIT 1",
               id);
    srv_unlock(r->srv);
    int ret;
    if (st != DB_OK) {
        ret = fail_db(r);
    } else if (d.nrows == 0) {
        ret = http_error(r, 404, "no device %s", id);
    } else {
        json_error_t e;
        const char *attrs = db_cell(&d, 0, 7);
        json_t *a = attrs ? json_loads(attrs, 0, &e) : NULL;
        json_t *dev = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "id", db_cell(&d, 0, 0), "class",
                                db_cell(&d, 0, 1), "version", str_or_null(db_cell(&d, 0, 2)), "attested_version",
                                str_or_null(db_cell(&d, 0, 3)), "attested_hash", str_or_null(db_cell(&d, 0, 4)),
                                "attested_at", num_or_null(db_cell(&d, 0, 5)), "last_seen",
                                num_or_null(db_cell(&d, 0, 6)), "attributes", a ? a : json_object(), "created",
                                num_or_null(db_cell(&d, 0, 8)), "encryption_key",
                                db_cell(&d, 0, 9) && strcmp(db_cell(&d, 0, 9), "0") != 0 &&
                                    strcmp(db_cell(&d, 0, 9), "f") != 0);
        json_t *al = json_array();
        for (size_t i = 0; i < acts.nrows; i++)
            json_array_append_new(
                al, json_pack("{s:o,s:o,s:s,s:s,s:o,s:s,s:o,s:o,s:o,s:o}", "id", num_or_null(db_cell(&acts, i, 0)),
                              "campaign", num_or_null(db_cell(&acts, i, 1)), "campaign_name", db_cell(&acts, i, 2),
                              "version", db_cell(&acts, i, 3), "step", num_or_null(db_cell(&acts, i, 4)), "state",
                              db_cell(&acts, i, 5), "version_before", str_or_null(db_cell(&acts, i, 6)), "detail",
                              str_or_null(db_cell(&acts, i, 7)), "updated", num_or_null(db_cell(&acts, i, 8)),
                              "notified", num_or_null(db_cell(&acts, i, 9))));
        json_t *aa = json_array();
        for (size_t i = 0; i < aud.nrows; i++)
            json_array_append_new(aa, audit_row(&aud, i));
        json_t *evidence = json_null();
        if (ev.nrows) {
            const char *evs = db_cell(&ev, 0, 1);
            json_t *ej = evs ? json_loads(evs, 0, &e) : NULL;
            evidence = json_pack("{s:o,s:o}", "at", num_or_null(db_cell(&ev, 0, 0)), "evidence",
                                 ej ? ej : str_or_null(evs));
        }
        ret = http_json(r, 200,
                        json_pack("{s:o,s:o,s:o,s:o,s:I}", "device", dev, "actions", al, "attestation", evidence,
                                  "audit", aa, "now", (json_int_t)now_ms()));
    }
    db_rows_free(&d);
    db_rows_free(&acts);
    db_rows_free(&aud);
    db_rows_free(&ev);
    return ret;
}

/* --- audit: filtered, newest first, as JSON or CSV ------------------------------------------ */
/* One CSV cell (RFC 4180 quoting). A cell a spreadsheet would run as a formula
 * (= + - @ tab CR first) gets a leading ' : devices write feedback details. */
static void csv_cell(char **buf, size_t *len, size_t *cap, const char *v, bool last)
{
    size_t need = (v ? 2 * strlen(v) : 0) + 5;
    if (*len + need > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *len + need)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return;
        *buf = b;
        *cap = c;
    }
    char *o = *buf + *len;
    if (v && *v) {
        bool formula = strchr("=+-@\t\r", v[0]) != NULL;
        bool quote = formula || strpbrk(v, ",\"\r\n") != NULL;
        if (quote)
            *o++ = '"';
        if (formula)
            *o++ = '\'';
        for (const char *c = v; *c; c++) {
            if (*c == '"')
                *o++ = '"';
            *o++ = *c;
        }
        if (quote)
            *o++ = '"';
    }
    *o++ = last ? '\r' : ',';
    if (last)
        *o++ = '\n';
    *len = (size_t)(o - *buf);
}

/* The first n audit rows as a CSV download, with a header line. */
static int audit_csv(req_t *r, const db_rows_t *rows, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t c = 0; c < 8; c++)
        csv_cell(&buf, &len, &cap, audit_cols[c], c == 7);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < 8; c++)
            csv_cell(&buf, &len, &cap, db_cell(rows, i, c), c == 7);
    if (!buf)
        return http_error(r, 500, "out of memory");
    int ret = ui_reply_download(r, "text/csv; charset=utf-8", "molt-audit.csv", buf, len);
    free(buf);
    return ret;
}

static int audit_records(req_t *r)
{
    const char *what = http_arg(r, "what"), *actor = http_arg(r, "actor"), *object = http_arg(r, "object"),
               *q = http_arg(r, "q"), *format = http_arg(r, "format");
    long long since = arg_num(r, "since", 0, 1LL << 53), until = arg_num(r, "until", 0, 1LL << 53),
              before = arg_num(r, "before", 0, 1LL << 53), limit = arg_num(r, "limit", 200, AUDIT_MAX_LIMIT);
    bool csv = format && strcmp(format, "csv") == 0;
    if (format && !csv && strcmp(format, "json") != 0)
        return http_error(r, 400, "format: json or csv");
    if (since < 0 || until < 0 || before < 0)
        return http_error(r, 400, "since, until, before: non-negative integers (ms since the epoch; an audit id)");
    if (limit < 1)
        return http_error(r, 400, "limit: 1 to %d records", AUDIT_MAX_LIMIT);
    const char *longest = (what && strlen(what) > 64)     ? "what"
                          : (actor && strlen(actor) > 160) ? "actor"
                          : (object && strlen(object) > 160) ? "object"
                          : (q && strlen(q) > 64)           ? "q"
                                                            : NULL;
    if (longest)
        return http_error(r, 400, "%s: too long", longest);
    char where[700] = " WHERE 1 = 1";
    params_t p = {0};
#define W(...) snprintf(where + strlen(where), sizeof where - strlen(where), __VA_ARGS__)
    if (what && *what) /* a prefix: "update" matches update.success, update.failure ... */
        W(" AND what LIKE $%d ESCAPE '\\'", param_add(&p, like_pattern(what, true), true));
    if (actor && *actor)
        W(" AND actor = $%d", param_add(&p, actor, false));
    if (object && *object)
        W(" AND object = $%d", param_add(&p, object, false));
    if (q && *q) {
        int k = param_add(&p, like_pattern(q, false), true);
        W(" AND (COALESCE(detail, '') LIKE $%d ESCAPE '\\' OR object LIKE $%d ESCAPE '\\'"
          " OR COALESCE(version_after, '') LIKE $%d ESCAPE '\\')",
          k, k, k);
    }
    if (since)
        W(" AND at >= %lld", since);
    if (until)
        W(" AND at <= %lld", until);
    if (before)
        W(" AND id < %lld", before);
#undef W
    for (int i = 0; i < p.n; i++)
        if (!p.v[i]) {
            params_free(&p);
            return http_error(r, 500, "out of memory");
        }
    char sql[1200];
    snprintf(sql, sizeof sql,
             "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit%s"
             " ORDER BY id DESC LIMIT %lld",
             where, limit + 1);
    db_rows_t rows = {0};
    srv_lock(r->srv);
    db_status_t st = db_exec(r->srv->db, sql, p.n, p.v, &rows);
    srv_unlock(r->srv);
    params_free(&p);
    if (st != DB_OK)
        return fail_db(r);
    bool more = rows.nrows > (size_t)limit;
    size_t n = more ? (size_t)limit : rows.nrows;
    int ret;
    if (csv) {
        ret = audit_csv(r, &rows, n);
    } else {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, audit_row(&rows, i));
        ret = http_json(r, 200, json_pack("{s:o,s:b}", "records", a, "more", more));
    }
    db_rows_free(&rows);
    return ret;
}

/* --- a campaign over time ----------------------------------------------------------------- */
/* The states a device's action goes through, replayed from the audit log: each
 * target starts assigned when the campaign is created; update.* records of that
 * device after that move it on until it reaches a closed state (later records
 * belong to later campaigns: a device has one open action at a time). */
enum { S_ASSIGNED, S_RUNNING, S_DOWNLOADED, S_CANCELLING, S_SUCCESS, S_FAILURE, S_CANCELLED, S_N };
static const char *const s_names[S_N] = {"assigned", "running",  "downloaded", "cancelling",
                                         "success",  "failure",  "cancelled"};

static int state_index(const char *s)
{
    for (int i = 0; i < S_N; i++)
        if (strcmp(s, s_names[i]) == 0)
            return i;
    return -1;
}

static int dev_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *point_json(long long at, const long *count)
{
    json_t *o = json_pack("{s:I}", "at", (json_int_t)at);
    for (int i = 0; i < S_N; i++)
        json_object_set_new(o, s_names[i], json_integer(count[i]));
    return o;
}

/* One event applied to the devices' states: a campaign.cancel of this campaign
 * closes the unstarted and cancels the started; an update.* record moves its
 * device on, unless it is closed already (a later campaign's record). false
 * when the event changes nothing here. */
static bool timeline_apply(const char *id, const char *what, const char *obj, const char **devs, size_t n,
                           signed char *cur, long *count)
{
    if (strcmp(what, "campaign.cancel") == 0) {
        if (strcmp(obj, id) != 0)
            return false;
        for (size_t i = 0; i < n; i++) {
            int to = cur[i] == S_ASSIGNED                         ? S_CANCELLED
                     : cur[i] == S_RUNNING || cur[i] == S_DOWNLOADED ? S_CANCELLING
                                                                     : -1;
            if (to >= 0) {
                count[cur[i]]--;
                count[to]++;
                cur[i] = (signed char)to;
            }
        }
        return true;
    }
    const char **hit = bsearch(&obj, devs, n, sizeof *devs, dev_cmp);
    if (!hit)
        return false;
    size_t i = (size_t)(hit - devs);
    if (cur[i] >= S_SUCCESS)
        return false; /* closed here: a later campaign's record */
    int to = state_index(what + strlen("update."));
    if (to < 0 || to == cur[i])
        return false;
    count[cur[i]]--;
    count[to]++;
    cur[i] = (signed char)to;
    return true;
}

/* The points of the timeline: the counts by state at creation and after each
 * event; more than TIMELINE_POINTS are thinned evenly (the last kept). NULL
 * when out of memory. */
static json_t *timeline_points(const char *id, long long created, const db_rows_t *acts, const db_rows_t *ev)
{
    size_t n = acts->nrows;
    const char **devs = calloc(n + 1, sizeof *devs);
    signed char *cur = calloc(n + 1, 1);
    if (!devs || !cur) {
        free(devs);
        free(cur);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        devs[i] = db_cell(acts, i, 0);
    qsort(devs, n, sizeof *devs, dev_cmp); /* byte order for bsearch: a PostgreSQL collation may differ */
    long count[S_N] = {0};
    count[S_ASSIGNED] = (long)n;
    size_t nev = ev->nrows, stride = nev / TIMELINE_POINTS + 1;
    json_t *points = json_array();
    json_array_append_new(points, point_json(created, count));
    for (size_t k = 0; k < nev; k++) {
        if (!timeline_apply(id, db_cell(ev, k, 1), db_cell(ev, k, 2), devs, n, cur, count))
            continue;
        if (k % stride == 0 || k + 1 == nev)
            json_array_append_new(points, point_json(strtoll(db_cell(ev, k, 0), NULL, 10), count));
    }
    free(devs);
    free(cur);
    return points;
}

/* Per step: its share of the targets and its actions by state (the live counts). */
static json_t *timeline_steps(const char *sp, const db_rows_t *steps)
{
    json_t *sj = json_array();
    long prev = 0;
    for (int s = 0; sp && *sp; s++) {
        char *end;
        long pct = strtol(sp, &end, 10);
        if (end == sp)
            break;
        json_t *counts = json_object();
        for (size_t i = 0; i < steps->nrows; i++)
            if (atoi(db_cell(steps, i, 0)) == s)
                json_object_set_new(counts, db_cell(steps, i, 1), json_integer(strtoll(db_cell(steps, i, 2), NULL, 10)));
        json_array_append_new(sj, json_pack("{s:i,s:i,s:i,s:o}", "step", s, "from", (int)prev, "to", (int)pct,
                                            "actions", counts));
        prev = pct;
        sp = *end == ',' ? end + 1 : end;
    }
    return sj;
}

/* The campaign, its actions, the audit events about them and the counts by step. */
static db_status_t timeline_rows(req_t *r, const char *id, db_rows_t *c, db_rows_t *acts, db_rows_t *ev,
                                 db_rows_t *steps)
{
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, c, "SELECT created, steps, step, state FROM campaigns WHERE id = $1", id);
    if (st == DB_OK)
        st = Q(r->srv, acts, "SELECT device_id FROM actions WHERE campaign_id = $1", id);
    /* id is digits only (checked by the caller): a literal, so $1 has one type (text) on PostgreSQL */
    char evsql[600];
    snprintf(evsql, sizeof evsql,
             "SELECT au.at, au.what, au.object FROM audit au WHERE au.at >= $2"
             " AND au.what IN ('update.running', 'update.downloaded', 'update.success', 'update.failure',"
             " 'update.cancelled', 'campaign.cancel')"
             " AND (au.object = $1 OR au.object IN (SELECT device_id FROM actions WHERE campaign_id = %s))"
             " ORDER BY au.id",
             id);
    if (st == DB_OK && c->nrows)
        st = Q(r->srv, ev, evsql, id, db_cell(c, 0, 0));
    if (st == DB_OK)
        st = Q(r->srv, steps,
               "SELECT step, state, COUNT(*) FROM actions WHERE campaign_id = $1 GROUP BY step, state ORDER BY step",
               id);
    srv_unlock(r->srv);
    return st;
}

static int campaign_timeline(req_t *r, const char *id)
{
    if (strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)
        return http_error(r, 404, "no campaign %s", id);
    db_rows_t c = {0}, acts = {0}, ev = {0}, steps = {0};
    db_status_t st = timeline_rows(r, id, &c, &acts, &ev, &steps);
    long long created = c.nrows ? strtoll(db_cell(&c, 0, 0), NULL, 10) : 0;
    json_t *points = st == DB_OK && c.nrows ? timeline_points(id, created, &acts, &ev) : NULL;
    int ret;
    if (st != DB_OK)
        ret = fail_db(r);
    else if (c.nrows == 0)
        ret = http_error(r, 404, "no campaign %s", id);
    else if (!points)
        ret = http_error(r, 500, "out of memory");
    else
        ret = http_json(r, 200,
                        json_pack("{s:I,s:I,s:I,s:s,s:o,s:o,s:I}", "id", (json_int_t)strtoll(id, NULL, 10), "created",
                                  (json_int_t)created, "targets", (json_int_t)acts.nrows, "state", db_cell(&c, 0, 3),
                                  "steps", timeline_steps(db_cell(&c, 0, 1), &steps), "points", points, "now",
                                  (json_int_t)now_ms()));
    db_rows_free(&c);
    db_rows_free(&acts);
    db_rows_free(&ev);
    db_rows_free(&steps);
    return ret;
}

/* --- routing -------------------------------------------------------------------------------- */
/* seg[0..1] = api, v1 */
bool views_match(const req_t *r)
{
    const char *a = r->nseg >= 3 ? r->seg[2] : "";
    return (r->nseg == 3 && (strcmp(a, "whoami") == 0 || strcmp(a, "fleet") == 0)) ||
           (r->nseg == 4 && strcmp(a, "audit") == 0 && strcmp(r->seg[3], "records") == 0) ||
           (r->nseg == 5 && strcmp(a, "devices") == 0 && strcmp(r->seg[4], "history") == 0) ||
           (r->nseg == 5 && strcmp(a, "campaigns") == 0 && strcmp(r->seg[4], "timeline") == 0);
}

int views_dispatch(req_t *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return http_error(r, 405, "method %s not allowed here", r->method);
    if (r->role < ROLE_VIEWER)
        return http_error(r, 403, "needs the viewer role (this token is %s)", role_str(r->role));
    const char *a = r->seg[2];
    if (strcmp(a, "whoami") == 0)
        return whoami(r);
    if (strcmp(a, "fleet") == 0)
        return fleet(r);
    if (strcmp(a, "audit") == 0)
        return audit_records(r);
    if (strcmp(a, "devices") == 0)
        return device_history(r, r->seg[3]);
    return campaign_timeline(r, r->seg[3]);
}
