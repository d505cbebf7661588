/*
 * store.c - the rules shared by the management and device APIs: transactions,
 * the append-only audit log and the staged rollout of a campaign.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "moltd.h"

static __thread db_t *tls_db;     /* this thread's connection */
static __thread bool tls_shared;  /* it is srv->db, shared under srv->lock */

db_t *srv_db(moltd_t *srv)
{
    if (tls_db)
        return tls_db;
    char why[512];
    db_t *db = srv->db_url ? db_open(srv->db_url, why, sizeof why) : NULL;
    pthread_mutex_lock(&srv->pool_lock);
    if (db && srv->npool < sizeof srv->pool / sizeof *srv->pool) {
        srv->pool[srv->npool++] = db;
    } else {
        if (db)
            db->drv->close(db);
        else if (srv->db_url)
            fprintf(stderr, "moltd: warning: a worker shares the main database connection: %s\n", why);
        db = srv->db;
        tls_shared = true;
    }
    pthread_mutex_unlock(&srv->pool_lock);
    tls_db = db;
    return db;
}

/* --- last_seen, batched ----------------------------------------------------- */
typedef struct seen {
    char id[72];
    int64_t t;
} seen_t;
#define SEEN_MAX 200000 /* notes kept between flushes; beyond, a poll is not noted (advisory) */
#define SEEN_BATCH 200  /* devices per UPDATE statement */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cond = PTHREAD_COND_INITIALIZER;
static seen_t *seen_buf;
static size_t seen_n, seen_cap;
static bool seen_stop;
static pthread_t seen_thread;
static bool seen_running;

void last_seen_note(moltd_t *srv, const char *device, int64_t t)
{
    (void)srv;
    pthread_mutex_lock(&seen_lock);
    if (seen_n == seen_cap && seen_cap < SEEN_MAX) {
        size_t cap = seen_cap ? seen_cap * 2 : 1024;
        seen_t *b = realloc(seen_buf, cap * sizeof *b);
        if (b) {
            seen_buf = b;
            seen_cap = cap;
        }
    }
    if (seen_n < seen_cap) {
        snprintf(seen_buf[seen_n].id, sizeof seen_buf[seen_n].id, "%s", device);
        seen_buf[seen_n++].t = t;
    }
    pthread_mutex_unlock(&seen_lock);
}

static int seen_cmp(const void *a, const void *b)
{
    const seen_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->t < y->t) - (x->t > y->t); /* latest first */
}

/* Write a batch: one transaction, one UPDATE per SEEN_BATCH devices. */
static void seen_flush(moltd_t *srv, seen_t *b, size_t n)
{
    qsort(b, n, sizeof *b, seen_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) /* keep the latest note of each device */
        if (m == 0 || strcmp(b[m - 1].id, b[i].id) != 0)
            b[m++] = b[i];
    if (m == 0 || !tx_begin(srv))
        return;
    bool ok = true;
    size_t cap = 160 * SEEN_BATCH + 256; /* per device: ~70 bytes of SELECT, ~8 of IN list */
    char *sql = malloc(cap);
    const char **p = malloc(2 * SEEN_BATCH * sizeof *p);
    char (*ts)[24] = malloc(SEEN_BATCH * sizeof *ts);
    ok = sql && p && ts;
    for (size_t i = 0; ok && i < m; i += SEEN_BATCH) {
        size_t k = m - i < SEEN_BATCH ? m - i : SEEN_BATCH, len = 0;
        len += (size_t)snprintf(sql + len, cap - len, "UPDATE devices SET last_seen = (SELECT v.t FROM (");
        for (size_t j = 0; j < k; j++) {
            len += (size_t)snprintf(sql + len, cap - len, "%sSELECT CAST($%zu AS TEXT) AS id, CAST($%zu AS BIGINT) AS t",
                                   j ? " UNION ALL " : "", 2 * j + 1, 2 * j + 2);
            snprintf(ts[j], sizeof ts[j], "%lld", (long long)b[i + j].t);
            p[2 * j] = b[i + j].id;
            p[2 * j + 1] = ts[j];
        }
        len += (size_t)snprintf(sql + len, cap - len, ") v WHERE v.id = devices.id) WHERE id IN (");
        for (size_t j = 0; j < k; j++)
            len += (size_t)snprintf(sql + len, cap - len, "%s$%zu", j ? ", " : "", 2 * j + 1);
        snprintf(sql + len, cap - len, ")");
        if (len + 2 >= cap) { /* cannot happen with cap above; never run a truncated statement */
            ok = false;
            break;
        }
        ok = db_exec(srv_db(srv), sql, (int)(2 * k), p, NULL) == DB_OK;
    }
    if (!tx_end(srv, ok))
        fprintf(stderr, "moltd: warning: last_seen of %zu devices not written: %s\n", m, srv_db(srv)->err);
    free(sql);
    free(p);
    free(ts);
}

static void *seen_main(void *arg)
{
    moltd_t *srv = arg;
    pthread_mutex_lock(&seen_lock);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        bool stop = seen_stop;
        if (!stop)
            pthread_cond_timedwait(&seen_cond, &seen_lock, &until);
        stop = seen_stop;
        seen_t *b = seen_buf;
        size_t n = seen_n;
        seen_buf = NULL;
        seen_n = seen_cap = 0;
        pthread_mutex_unlock(&seen_lock);
        if (n)
            seen_flush(srv, b, n);
        free(b);
        if (stop)
            return NULL;
        pthread_mutex_lock(&seen_lock);
    }
}

bool last_seen_start(moltd_t *srv)
{
    seen_running = pthread_create(&seen_thread, NULL, seen_main, srv) == 0;
    return seen_running;
}

void last_seen_stop(moltd_t *srv)
{
    (void)srv;
    if (!seen_running)
        return;
    pthread_mutex_lock(&seen_lock);
    seen_stop = true;
    pthread_cond_signal(&seen_cond);
    pthread_mutex_unlock(&seen_lock);
    pthread_join(seen_thread, NULL); /* the last notes are written */
}

void srv_db_bind_main(moltd_t *srv)
{
    tls_db = srv->db;
    tls_shared = false; /* the main thread uses it before the workers start, and not after */
}

void srv_db_close_all(moltd_t *srv)
{
    pthread_mutex_lock(&srv->pool_lock);
    for (unsigned i = 0; i < srv->npool; i++)
        srv->pool[i]->drv->close(srv->pool[i]);
    srv->npool = 0;
    pthread_mutex_unlock(&srv->pool_lock);
}

void srv_lock(moltd_t *srv)
{
    if (srv_db(srv) && tls_shared)
        pthread_mutex_lock(&srv->lock);
}
void srv_unlock(moltd_t *srv)
{
    if (tls_shared)
        pthread_mutex_unlock(&srv->lock);
}

bool tx_begin(moltd_t *srv)
{
    db_t *db = srv_db(srv);
    if (db->drv->one_writer)
        pthread_mutex_lock(&srv->write_lock);
    srv_lock(srv);
    db->full = false;
    if (db->drv->begin(db) != DB_OK) {
        srv_unlock(srv);
        if (db->drv->one_writer)
            pthread_mutex_unlock(&srv->write_lock);
        return false;
    }
    return true;
}

bool tx_end(moltd_t *srv, bool ok)
{
    db_t *db = srv_db(srv);
    if (ok)
        ok = db->drv->commit(db) == DB_OK;
    if (!ok) {
        /* Keep the first failure's message: a rollback after, say, a full disk
         * may fail too ("no transaction is active") and must not hide it. */
        char err[sizeof db->err];
        bool full = db->full;
        memcpy(err, db->err, sizeof err);
        db->drv->rollback(db);
        memcpy(db->err, err, sizeof err);
        db->full = full;
    }
    srv_unlock(srv);
    if (db->drv->one_writer)
        pthread_mutex_unlock(&srv->write_lock);
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

/* --- the package store at start-up ----------------------------------------- */

#define STALE_UPLOAD_S 3600   /* another host's unfinished upload is abandoned after this */
#define ORPHAN_ARTIFACT_S 600 /* an artifact no package names, older than this, was never committed */

/* ".upload.<host>.<pid>.XXXXXX": may it be removed? Our host's are removed when
 * their process is gone; another host's (a shared directory) when stale. */
static bool upload_abandoned(const moltd_t *srv, const char *name, time_t mtime, time_t now)
{
    const char *rest = name + 8; /* after ".upload." */
    const char *last = strrchr(rest, '.');
    const char *p = last;
    while (p && p > rest && p[-1] != '.')
        p--;
    if (!last || !p || p == rest || last - p < 1 || strspn(p, "0123456789") != (size_t)(last - p))
        return true; /* an older moltd's ".upload.XXXXXX": one process per store then */
    size_t hl = (size_t)(p - 1 - rest);
    bool ours = hl == strlen(srv->host) && strncmp(rest, srv->host, hl) == 0;
    long pid = strtol(p, NULL, 10);
    if (ours)
        return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
    return now - mtime > STALE_UPLOAD_S;
}

void store_reconcile(moltd_t *srv)
{
    DIR *dir = opendir(srv->artifact_dir);
    if (!dir)
        return;
    db_rows_t rows = {0};
    srv_lock(srv);
    db_status_t st = Q0(srv, &rows, "SELECT sha256, size, id FROM packages");
    srv_unlock(srv);
    if (st != DB_OK) {
        fprintf(stderr, "moltd: warning: store not reconciled: %s\n", srv_db(srv)->err);
        closedir(dir);
        return;
    }
    time_t now = time(NULL);
    unsigned swept = 0, orphans = 0, young = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        const char *n = e->d_name;
        bool upload = strncmp(n, ".upload.", 8) == 0;
        bool artifact = strlen(n) == 64 && strspn(n, "0123456789abcdef") == 64;
        if (!upload && !artifact)
            continue;
        char path[4200];
        struct stat stt;
        snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, n);
        if (lstat(path, &stt) != 0 || !S_ISREG(stt.st_mode))
            continue;
        if (upload) {
            if (upload_abandoned(srv, n, stt.st_mtime, now) && unlink(path) == 0)
                swept++;
            continue;
        }
        bool named = false;
        for (size_t i = 0; !named && i < rows.nrows; i++)
            named = strcmp(db_cell(&rows, i, 0), n) == 0;
        if (named)
            continue;
        /* Renamed into place but its row never committed (a crash in between),
         * unless another instance is committing it right now: only old ones go. */
        if (now - stt.st_mtime > ORPHAN_ARTIFACT_S) {
            if (unlink(path) == 0)
                orphans++;
        } else {
            young++;
        }
    }
    closedir(dir);
    unsigned missing = 0;
    for (size_t i = 0; i < rows.nrows; i++) {
        char path[4200];
        struct stat stt;
        snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, db_cell(&rows, i, 0));
        if (stat(path, &stt) != 0 || (long long)stt.st_size != strtoll(db_cell(&rows, i, 1), NULL, 10)) {
            fprintf(stderr, "moltd: warning: package %s: artifact %s is missing or damaged in %s\n", db_cell(&rows, i, 2),
                    db_cell(&rows, i, 0), srv->artifact_dir);
            missing++;
        }
    }
    db_rows_free(&rows);
    if (swept || orphans || young)
        fprintf(stderr, "moltd: store: removed %u unfinished upload%s and %u artifact%s no package names%s\n", swept,
                swept == 1 ? "" : "s", orphans, orphans == 1 ? "" : "s",
                young ? " (newer unnamed artifacts kept: another instance may be committing them)" : "");
}
