/*
 * rollout.c - the publication rules: which devices a campaign targets, which
 * step each belongs to, how a campaign's state moves (pause, resume, cancel,
 * step release, finish). No HTTP here: these functions take and return plain
 * values and database statuses; the handlers (campaigns.c, ddi.c) answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moltd.h"

#define OPEN_STATES "('assigned', 'running', 'downloaded', 'cancelling')"

db_status_t campaign_lock(moltd_t *srv, const char *cid)
{
    char sql[96];
    db_rows_t r;
    snprintf(sql, sizeof sql, "SELECT id FROM campaigns WHERE id = $1%s", srv_db(srv)->drv->for_update);
    db_status_t st = Q(srv, &r, sql, cid);
    if (st == DB_OK)
        db_rows_free(&r);
    return st;
}

db_status_t step_count(moltd_t *srv, const char *cid, const char *step, long d_open, long d_failed)
{
    char o[24], f[24];
    snprintf(o, sizeof o, "%ld", d_open);
    snprintf(f, sizeof f, "%ld", d_failed);
    return Q(srv, NULL,
             "UPDATE campaign_steps SET open_n = open_n + $3, failed_n = failed_n + $4 WHERE campaign_id = $1 AND step = $2",
             cid, step, o, f);
}

db_status_t campaign_evaluate(moltd_t *srv, const char *cid, bool count_failures)
{
    db_rows_t c;
    /* The campaign row is locked till commit: when the last two devices of a step
     * close on two instances at once, the second evaluates after the first has
     * committed, sees no open action and releases the next step (exactly once). */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT state, step, steps, failure_threshold FROM campaigns WHERE id = $1%s",
             srv_db(srv)->drv->for_update);
    if (Q(srv, &c, sql, cid) != DB_OK)
        return DB_ERROR;
    if (c.nrows == 0) {
        db_rows_free(&c);
        return DB_OK;
    }
    char state[16], step[16], steps[256];
    snprintf(state, sizeof state, "%s", db_cell(&c, 0, 0));
    snprintf(step, sizeof step, "%s", db_cell(&c, 0, 1));
    snprintf(steps, sizeof steps, "%s", db_cell(&c, 0, 2));
    long threshold = atol(db_cell(&c, 0, 3));
    db_rows_free(&c);
    if (strcmp(state, "running") != 0)
        return DB_OK;
    /* The counters of the released steps (at most 20 rows), not a scan of the campaign. */
    db_rows_t n;
    if (Q(srv, &n,
          "SELECT COALESCE(SUM(total_n), 0), COALESCE(SUM(failed_n), 0), COALESCE(SUM(open_n), 0) FROM campaign_steps"
          " WHERE campaign_id = $1 AND step <= $2",
          cid, step) != DB_OK)
        return DB_ERROR;
    long released = atol(db_cell(&n, 0, 0) ? db_cell(&n, 0, 0) : "0");
    long failed = atol(db_cell(&n, 0, 1) ? db_cell(&n, 0, 1) : "0");
    long open = atol(db_cell(&n, 0, 2) ? db_cell(&n, 0, 2) : "0");
    db_rows_free(&n);
    char detail[160];
    if (count_failures && released > 0 && failed * 100 > threshold * released) {
        snprintf(detail, sizeof detail, "failure threshold %ld%% exceeded: %ld of %ld failed", threshold, failed,
                 released);
        if (Q(srv, NULL, "UPDATE campaigns SET state = 'paused', state_reason = $2 WHERE id = $1 AND state = 'running'",
              cid, detail) != DB_OK)
            return DB_ERROR;
        return audit(srv, "moltd", "campaign.pause", cid, NULL, NULL, detail);
    }
    if (open > 0)
        return DB_OK;
    int nsteps = 1;
    for (const char *p = steps; *p; p++)
        nsteps += *p == ',';
    int cur = atoi(step);
    if (cur + 1 < nsteps) {
        char next[16];
        snprintf(next, sizeof next, "%d", cur + 1);
        if (Q(srv, NULL, "UPDATE campaigns SET step = $2 WHERE id = $1 AND step = $3", cid, next, step) != DB_OK ||
            ticket_step_released(srv, cid, next) != DB_OK)
            return DB_ERROR;
        snprintf(detail, sizeof detail, "step %d of %d released", cur + 2, nsteps);
        if (audit(srv, "moltd", "campaign.step", cid, NULL, NULL, detail) != DB_OK)
            return DB_ERROR;
        return campaign_evaluate(srv, cid, false); /* a step may be empty: go on */
    }
    if (Q(srv, NULL, "UPDATE campaigns SET state = 'finished', state_reason = NULL WHERE id = $1 AND state = 'running'",
          cid) != DB_OK)
        return DB_ERROR;
    snprintf(detail, sizeof detail, "%ld of %ld failed", failed, released);
    return audit(srv, "moltd", "campaign.finish", cid, NULL, NULL, detail);
}

/* --- a new campaign: targets, steps, actions ---------------------------------- */

/* Does a device's attributes (JSON text, as PUT configData stores them) hold every
 * key of want with the same string value? Unparseable text matches nothing. */
static bool attributes_match(json_t *want, const char *have_text)
{
    json_error_t e;
    json_t *have = have_text ? json_loads(have_text, 0, &e) : NULL;
    bool in = json_is_object(have);
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        json_t *h = in ? json_object_get(have, k) : NULL;
        in = in && json_is_string(h) && strcmp(json_string_value(h), json_string_value(v)) == 0;
    }
    json_decref(have);
    return in;
}

/* The step of device i of n: the first step s with i < ceil(n * pct[s] / 100). */
static size_t step_of(size_t i, size_t n, const long *pct, size_t ns)
{
    size_t s = 0;
    while (s + 1 < ns && (long)i >= ((long)n * pct[s] + 99) / 100)
        s++;
    return s;
}

/* Targets: the package's class, the filter's ids and attributes if any (all must
 * hold); devices that already run this version or have an update open are
 * skipped. Ordered by id. Attributes are matched here, in C, so both backends
 * agree. Fills targets[]/before[] (devs' cells) and returns their number. */
static size_t select_targets(const campaign_spec_t *c, const db_rows_t *devs, const char **targets,
                             const char **before)
{
    size_t n = 0;
    for (size_t i = 0; i < devs->nrows; i++) {
        bool in = !c->ids;
        for (size_t k = 0; !in && k < c->nids; k++)
            in = strcmp(json_string_value(json_array_get(c->ids, k)), db_cell(devs, i, 0)) == 0;
        if (in && c->attrs)
            in = attributes_match(c->attrs, db_cell(devs, i, 2));
        if (in) {
            before[n] = db_cell(devs, i, 1);
            targets[n++] = db_cell(devs, i, 0);
        }
    }
    return n;
}

/* One action per target in its step, and the counters of each step
 * (constant-time bookkeeping, see campaign_evaluate). */
static rollout_t create_actions(moltd_t *srv, const campaign_spec_t *c, const char *cid, const char **targets,
                                const char **before, size_t n)
{
    long pct[20];
    size_t ns = 0, per_step[20] = {0};
    for (const char *q = c->steps; *q && ns < 20;) {
        char *end;
        pct[ns++] = strtol(q, &end, 10);
        q = *end == ',' ? end + 1 : end;
    }
    db_status_t ast = DB_OK;
    for (size_t i = 0; ast == DB_OK && i < n; i++) {
        size_t s = step_of(i, n, pct, ns);
        char step[24];
        snprintf(step, sizeof step, "%zu", s);
        ast = Q(srv, NULL,
                "INSERT INTO actions (campaign_id, device_id, step, state, version_before, updated)"
                " VALUES ($1, $2, $3, 'assigned', $4, $5)",
                cid, targets[i], step, before[i], c->now);
    }
    if (ast != DB_OK) /* DB_CONSTRAINT: actions_one_open, a device got an open update meanwhile */
        return ast == DB_CONSTRAINT ? ROLLOUT_RACE : ROLLOUT_DB;
    for (size_t i = 0; i < n; i++)
        per_step[step_of(i, n, pct, ns)]++;
    for (size_t s = 0; s < ns; s++) {
        char sn[24], cnt[24];
        snprintf(sn, sizeof sn, "%zu", s);
        snprintf(cnt, sizeof cnt, "%zu", per_step[s]);
        if (per_step[s] &&
            Q(srv, NULL,
              "INSERT INTO campaign_steps (campaign_id, step, total_n, open_n, failed_n) VALUES ($1, $2, $3, $3, 0)",
              cid, sn, cnt) != DB_OK)
            return ROLLOUT_DB;
    }
    return ROLLOUT_OK;
}

/* The package's class and version, with the class row locked till commit:
 * campaigns of one class are created one at a time across instances, so a
 * second one sees the first's open actions and skips those devices. */
static rollout_t lock_package_class(moltd_t *srv, const campaign_spec_t *c, db_rows_t *p)
{
    if (Q(srv, p, "SELECT class, version FROM packages WHERE id = $1", c->pkgid) != DB_OK)
        return ROLLOUT_DB;
    if (p->nrows == 0)
        return ROLLOUT_NO_PACKAGE;
    char lock_sql[128];
    db_rows_t lock = {0};
    snprintf(lock_sql, sizeof lock_sql, "SELECT name FROM device_classes WHERE name = $1%s",
             srv_db(srv)->drv->for_update);
    db_status_t st = Q(srv, &lock, lock_sql, db_cell(p, 0, 0));
    db_rows_free(&lock);
    return st == DB_OK ? ROLLOUT_OK : ROLLOUT_DB;
}

static rollout_t insert_campaign(moltd_t *srv, const campaign_spec_t *c, const db_rows_t *p, const char **targets,
                                 const char **before, campaign_made_t *out)
{
    db_rows_t cid = {0};
    if (Q(srv, &cid,
          "INSERT INTO campaigns (name, package_id, filter, steps, step, failure_threshold, message, start_at, state,"
          " created_by, created, ddi) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, 'running', $8, $9, $10) RETURNING id",
          c->name, c->pkgid, c->filter_s ? c->filter_s : "{}", c->steps, c->thrs, c->msg ? c->msg : "", c->starts,
          c->actor, c->now, c->ddi) != DB_OK)
        return ROLLOUT_DB;
    snprintf(out->id, sizeof out->id, "%s", db_cell(&cid, 0, 0));
    db_rows_free(&cid);
    rollout_t rc = create_actions(srv, c, out->id, targets, before, out->targets);
    if (rc != ROLLOUT_OK)
        return rc;
    char detail[1200];
    snprintf(detail, sizeof detail, "package %s, %zu devices, steps %s, threshold %s%%; message: %s", c->pkgid,
             out->targets, c->steps, c->thrs, c->msg ? c->msg : "");
    return audit(srv, c->actor, "campaign.create", out->id, NULL, db_cell(p, 0, 1), detail) == DB_OK ? ROLLOUT_OK
                                                                                                  : ROLLOUT_DB;
}

rollout_t rollout_create(moltd_t *srv, const campaign_spec_t *c, campaign_made_t *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t p = {0}, devs = {0};
    rollout_t rc = lock_package_class(srv, c, &p);
    if (rc == ROLLOUT_OK &&
        Q(srv, &devs,
          "SELECT d.id, d.version, d.attributes FROM devices d WHERE d.class = $1 AND (d.version IS NULL OR d.version <> $2)"
          " AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.device_id = d.id"
          " AND a.state IN " OPEN_STATES ") ORDER BY d.id",
          db_cell(&p, 0, 0), db_cell(&p, 0, 1)) != DB_OK)
        rc = ROLLOUT_DB;
    if (rc == ROLLOUT_OK) {
        const char **targets = calloc(devs.nrows + 1, sizeof *targets), **before = calloc(devs.nrows + 1, sizeof *before);
        out->targets = select_targets(c, &devs, targets, before);
        snprintf(out->cls, sizeof out->cls, "%s", db_cell(&p, 0, 0));
        snprintf(out->version, sizeof out->version, "%s", db_cell(&p, 0, 1));
        rc = out->targets == 0 ? ROLLOUT_NO_TARGET : insert_campaign(srv, c, &p, targets, before, out);
        free(targets);
        free(before);
    }
    db_rows_free(&p);
    db_rows_free(&devs);
    return rc;
}

/* --- pause, resume, cancel ---------------------------------------------------------- */

/* The state op leads to from state, or NULL when it may not. pause: running ->
 * paused (no new device starts; started ones finish). resume: paused -> running
 * (re-evaluates the step). cancel: running|paused|finished -> cancelled. A
 * finished campaign can be withdrawn too: it then no longer makes its devices
 * outdated for deferral tickets (ticket.c). */
static const char *transition(const char *op, const char *state)
{
    if (strcmp(op, "pause") == 0)
        return strcmp(state, "running") == 0 ? "paused" : NULL;
    if (strcmp(op, "resume") == 0)
        return strcmp(state, "paused") == 0 ? "running" : NULL;
    bool open = strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 || strcmp(state, "finished") == 0;
    return open ? "cancelled" : NULL;
}

/* cancel: the unstarted actions close (the counters of their steps go down),
 * started ones are asked to cancel (DDI cancelAction). */
static bool cancel_actions(moltd_t *srv, const char *id, const char *now)
{
    db_rows_t closed = {0};
    bool ok = Q(srv, &closed,
                "UPDATE actions SET state = 'cancelled', updated = $2 WHERE campaign_id = $1 AND state = 'assigned'"
                " RETURNING step",
                id, now) == DB_OK;
    long per_step[20] = {0};
    for (size_t i = 0; ok && i < closed.nrows; i++) {
        long s = atol(db_cell(&closed, i, 0));
        if (s >= 0 && s < 20)
            per_step[s]++;
    }
    db_rows_free(&closed);
    for (int s = 0; ok && s < 20; s++) {
        char sn[8];
        snprintf(sn, sizeof sn, "%d", s);
        if (per_step[s])
            ok = step_count(srv, id, sn, -per_step[s], 0) == DB_OK;
    }
    return ok && Q(srv, NULL,
                   "UPDATE actions SET state = 'cancelling', updated = $2 WHERE campaign_id = $1"
                   " AND state IN ('running', 'downloaded')",
                   id, now) == DB_OK;
}

rollout_t rollout_control(moltd_t *srv, const char *id, const char *op, const char *actor, char state[16])
{
    db_rows_t c;
    if (Q(srv, &c, "SELECT state FROM campaigns WHERE id = $1", id) != DB_OK)
        return ROLLOUT_DB;
    bool found = c.nrows > 0;
    if (found)
        snprintf(state, 16, "%s", db_cell(&c, 0, 0));
    db_rows_free(&c);
    if (!found)
        return ROLLOUT_NO_CAMPAIGN;
    const char *to = transition(op, state);
    if (!to)
        return ROLLOUT_BAD_STATE;
    char now[24], what[32], lock_sql[128];
    now_str(now, sizeof now);
    snprintf(what, sizeof what, "campaign.%s", op);
    db_rows_t upd;
    snprintf(lock_sql, sizeof lock_sql, "SELECT state FROM campaigns WHERE id = $1%s", srv_db(srv)->drv->for_update);
    if (Q(srv, &upd, lock_sql, id) != DB_OK) /* the campaign row, locked till commit */
        return ROLLOUT_DB;
    bool same = upd.nrows == 1 && strcmp(db_cell(&upd, 0, 0), state) == 0;
    db_rows_free(&upd);
    if (!same) /* changed meanwhile by another instance */
        return ROLLOUT_CHANGED;
    bool ok = Q(srv, &upd, "UPDATE campaigns SET state = $2, state_reason = NULL WHERE id = $1 AND state = $3 RETURNING id",
                id, to, state) == DB_OK;
    if (ok) {
        ok = upd.nrows == 1;
        db_rows_free(&upd);
    }
    ok = ok && audit(srv, actor, what, id, NULL, NULL, NULL) == DB_OK;
    if (ok && strcmp(to, "cancelled") == 0)
        ok = cancel_actions(srv, id, now);
    if (ok && strcmp(to, "running") == 0) /* a resume restarts the grace of tickets (ticket.c) */
        ok = ticket_step_released(srv, id, NULL) == DB_OK && campaign_evaluate(srv, id, false) == DB_OK;
    return ok ? ROLLOUT_OK : ROLLOUT_DB;
}

/* --- what a device is offered, and what its feedback does (the DDI side) ------- */

bool rollout_mode_ok(const char *m)
{
    return m && (strcmp(m, "forced") == 0 || strcmp(m, "attempt") == 0 || strcmp(m, "skip") == 0);
}

void rollout_modes(const char *ddi, modes_t *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->download, sizeof m->download, "forced");
    snprintf(m->update, sizeof m->update, "forced");
    json_error_t e;
    json_t *o = ddi ? json_loads(ddi, 0, &e) : NULL;
    if (!o)
        return;
    const char *d = json_string_value(json_object_get(o, "download")), *u = json_string_value(json_object_get(o, "update"));
    if (rollout_mode_ok(d))
        snprintf(m->download, sizeof m->download, "%s", d);
    if (rollout_mode_ok(u))
        snprintf(m->update, sizeof m->update, "%s", u);
    m->sleep = (unsigned)json_integer_value(json_object_get(o, "polling_sleep"));
    m->confirm = json_is_true(json_object_get(o, "confirm"));
    json_t *mw = json_object_get(o, "maintenance_windows"), *w;
    if (mw) {
        int64_t now = now_ms();
        size_t i;
        m->window = "unavailable";
        json_array_foreach(mw, i, w)
        {
            if (json_integer_value(json_object_get(w, "start")) <= now && now < json_integer_value(json_object_get(w, "end")))
                m->window = "available";
        }
        if (strcmp(m->window, "unavailable") == 0)
            snprintf(m->update, sizeof m->update, "skip");
    }
    json_decref(o);
}

db_status_t rollout_open_action(moltd_t *srv, const char *dev, open_action_t *a)
{
    db_rows_t rows;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    /* Started actions continue whatever the campaign does; an unstarted one is
     * offered only while its campaign runs, its step is released and its time has come. */
    db_status_t st = Q(srv, &rows,
                       "SELECT a.id, a.state, c.ddi, a.confirmed FROM actions a JOIN campaigns c ON c.id = a.campaign_id"
                       " WHERE a.device_id = $1 AND a.state IN " OPEN_STATES " AND " ACTION_RELEASED("$2")
                       " ORDER BY a.id LIMIT 1",
                       dev, now);
    a->found = st == DB_OK && rows.nrows > 0;
    if (a->found) {
        snprintf(a->id, sizeof a->id, "%s", db_cell(&rows, 0, 0));
        snprintf(a->state, sizeof a->state, "%s", db_cell(&rows, 0, 1));
        rollout_modes(db_cell(&rows, 0, 2), &a->modes);
        a->waits = a->modes.confirm && !db_cell(&rows, 0, 3) && strcmp(a->state, "cancelling") != 0;
    }
    db_rows_free(&rows);
    return st;
}

/* The rule, without HTTP. update skip (a download-only campaign, or outside its
 * maintenance window): a closing success does not install, so the device's
 * version stays; a download-only action is finished by "downloaded" (hawkBit's
 * DOWNLOAD_ONLY). "rejected" is hawkBit's warning: the action stays open. */
fb_effect_t rollout_feedback(const char *state, const char *exec, const char *fin, const char *ddi)
{
    modes_t md;
    rollout_modes(ddi, &md);
    json_error_t je;
    json_t *cddi = ddi ? json_loads(ddi, 0, &je) : NULL;
    const char *cu = cddi ? json_string_value(json_object_get(cddi, "update")) : NULL;
    bool download_only = cu && strcmp(cu, "skip") == 0;
    json_decref(cddi);
    fb_effect_t e = {state, NULL, false, false};
    if (download_only && strcmp(exec, "downloaded") == 0)
        e = (fb_effect_t){"success", "update.downloaded", true, false};
    else if (strcmp(exec, "closed") == 0)
        e = strcmp(fin, "failure") == 0 ? (fb_effect_t){"failure", "update.failure", true, false}
                                        : (fb_effect_t){"success", "update.success", true, false};
    else if (strcmp(exec, "canceled") == 0)
        e = (fb_effect_t){"cancelled", "update.cancelled", true, false};
    else if (strcmp(exec, "downloaded") == 0)
        e.to = "downloaded";
    else if (strcmp(exec, "rejected") == 0)
        e.what = "update.rejected";
    else if (strcmp(state, "cancelling") != 0)
        e.to = "running";
    if (!e.what && strcmp(e.to, state) != 0)
        e.what = strcmp(e.to, "running") == 0 ? "update.running" : "update.downloaded";
    e.installs = strcmp(e.to, "success") == 0 && strcmp(md.update, "skip") != 0;
    return e;
}
