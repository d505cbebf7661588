/*
 * last_seen.c - a device's last_seen, batched: a poll only notes it; a thread
 * writes each second's notes in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moltd.h"

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
