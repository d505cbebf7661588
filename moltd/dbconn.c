/*
 * dbconn.c - the database connections of moltd's threads (one per HTTP worker,
 * the main one shared under a lock as a fallback) and the transactions on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
