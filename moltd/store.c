/*
 * store.c - the rules shared by the management and device APIs: transactions,
 * the append-only audit log and the staged rollout of a campaign.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moltd.h"

void srv_lock(moltd_t *srv) { pthread_mutex_lock(&srv->lock); }
void srv_unlock(moltd_t *srv) { pthread_mutex_unlock(&srv->lock); }

bool tx_begin(moltd_t *srv)
{
    srv_lock(srv);
    if (srv->db->drv->begin(srv->db) != DB_OK) {
        srv_unlock(srv);
        return false;
    }
    return true;
}

bool tx_end(moltd_t *srv, bool ok)
{
    if (ok)
        ok = srv->db->drv->commit(srv->db) == DB_OK;
    if (!ok)
        srv->db->drv->rollback(srv->db);
    srv_unlock(srv);
    return ok;
}

bool valid_name(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n && s[0] != '.';
}

db_status_t audit(moltd_t *srv, const char *actor, const char *what, const char *object, const char *before,
                  const char *after, const char *detail)
{
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)now_ms());
    return Q(srv, NULL,
             "INSERT INTO audit (at, actor, what, object, version_before, version_after, detail)"
             " VALUES ($1, $2, $3, $4, $5, $6, $7)",
             at, actor, what, object, before, after, detail);
}

static long count(moltd_t *srv, const char *sql, const char *a, const char *b)
{
    db_rows_t r;
    if (Q(srv, &r, sql, a, b) != DB_OK)
        return -1;
    long n = r.nrows && db_cell(&r, 0, 0) ? atol(db_cell(&r, 0, 0)) : 0;
    db_rows_free(&r);
    return n;
}

db_status_t campaign_evaluate(moltd_t *srv, const char *cid, bool count_failures)
{
    db_rows_t c;
    if (Q(srv, &c, "SELECT state, step, steps, failure_threshold FROM campaigns WHERE id = $1", cid) != DB_OK)
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
    long released = count(srv, "SELECT COUNT(*) FROM actions WHERE campaign_id = $1 AND step <= $2", cid, step);
    long failed = count(srv, "SELECT COUNT(*) FROM actions WHERE campaign_id = $1 AND step <= $2 AND state = 'failure'",
                        cid, step);
    long open = count(srv,
                      "SELECT COUNT(*) FROM actions WHERE campaign_id = $1 AND step <= $2"
                      " AND state IN ('assigned', 'running', 'downloaded', 'cancelling')",
                      cid, step);
    if (released < 0 || failed < 0 || open < 0)
        return DB_ERROR;
    char detail[160];
    if (count_failures && released > 0 && failed * 100 > threshold * released) {
        snprintf(detail, sizeof detail, "failure threshold %ld%% exceeded: %ld of %ld failed", threshold, failed,
                 released);
        if (Q(srv, NULL, "UPDATE campaigns SET state = 'paused', state_reason = $2 WHERE id = $1", cid, detail) != DB_OK)
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
        if (Q(srv, NULL, "UPDATE campaigns SET step = $2 WHERE id = $1", cid, next) != DB_OK)
            return DB_ERROR;
        snprintf(detail, sizeof detail, "step %d of %d released", cur + 2, nsteps);
        if (audit(srv, "moltd", "campaign.step", cid, NULL, NULL, detail) != DB_OK)
            return DB_ERROR;
        return campaign_evaluate(srv, cid, false); /* a step may be empty: go on */
    }
    if (Q(srv, NULL, "UPDATE campaigns SET state = 'finished', state_reason = NULL WHERE id = $1", cid) != DB_OK)
        return DB_ERROR;
    snprintf(detail, sizeof detail, "%ld of %ld failed", failed, released);
    return audit(srv, "moltd", "campaign.finish", cid, NULL, NULL, detail);
}
