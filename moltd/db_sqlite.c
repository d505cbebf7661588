/*
 * db_sqlite.c - the SQLite backend of db.h (the default: one file, zero set-up).
 *
 * The database runs in WAL mode with synchronous=FULL: a transaction is on disk
 * when COMMIT returns, so a kill -9 (or a power cut) of moltd loses nothing that
 * was committed. Parameters are bound by name ("$1", "$2", ...), so the portable
 * SQL of the rules and handlers runs unchanged here and on PostgreSQL.
 *
 * Each connection keeps its prepared statements (a small cache keyed by the SQL
 * text): a base poll runs the same three queries every time, and compiling
 * them was most of SQLite's share of a poll (perf, docs/bench.md). A statement
 * is reset right after use, so a cached one holds no transaction or lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"

#define STMT_CACHE 64

typedef struct cached {
    char *sql;
    sqlite3_stmt *st;
    unsigned long used;           /* the last use, for replacing the least recent */
} cached_t;

typedef struct db_sqlite {
    db_t base;
    sqlite3 *h;
    cached_t cache[STMT_CACHE];
    unsigned long tick;
} db_sqlite_t;

/* The statement for sql: cached, or prepared and cached. NULL: *rc says why. */
static sqlite3_stmt *stmt_get(db_sqlite_t *d, const char *sql, int *rc)
{
    cached_t *victim = &d->cache[0];
    d->tick++;
    for (int i = 0; i < STMT_CACHE; i++) {
        cached_t *c = &d->cache[i];
        if (c->sql && strcmp(c->sql, sql) == 0) {
            c->used = d->tick;
            return c->st;
        }
        if (!c->sql || (victim->sql && c->used < victim->used))
            victim = c;
    }
    sqlite3_stmt *st = NULL;
    *rc = sqlite3_prepare_v2(d->h, sql, -1, &st, NULL);
    if (*rc != SQLITE_OK)
        return NULL;
    char *copy = strdup(sql);
    if (!copy)
        return st; /* not cached: stmt_put finalizes it */
    if (victim->sql) {
        sqlite3_finalize(victim->st);
        free(victim->sql);
    }
    *victim = (cached_t){copy, st, d->tick};
    return st;
}

/* After use: reset (releasing its read transaction) or, if not cached, finalize. */
static void stmt_put(db_sqlite_t *d, sqlite3_stmt *st)
{
    for (int i = 0; i < STMT_CACHE; i++)
        if (d->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    sqlite3_finalize(st);
}

static db_status_t fail(db_sqlite_t *d, int rc)
{
    snprintf(d->base.err, sizeof d->base.err, "sqlite: %s", sqlite3_errmsg(d->h));
    d->base.full = (rc & 0xff) == SQLITE_FULL;
    return (rc & 0xff) == SQLITE_CONSTRAINT ? DB_CONSTRAINT : DB_ERROR;
}

static const char *column_text(void *st, size_t col)
{
    return (const char *)sqlite3_column_text(st, (int)col);
}

static db_status_t sq_exec(db_t *db, const char *sql, int n, const char *const *params, db_rows_t *out)
{
    db_sqlite_t *d = (db_sqlite_t *)db;
    sqlite3_stmt *st = NULL;
    if (out)
        memset(out, 0, sizeof *out);
    int rc = SQLITE_OK;
    st = stmt_get(d, sql, &rc);
    if (!st)
        return fail(d, rc);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx == 0)
            continue; /* a parameter this statement does not use */
        rc = params[i] ? sqlite3_bind_text(st, idx, params[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
        if (rc != SQLITE_OK) {
            db_status_t e = fail(d, rc);
            stmt_put(d, st);
            return e;
        }
    }
    size_t ncols = (size_t)sqlite3_column_count(st), cap = 0;
    db_rows_t rows = {0, ncols, NULL};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out && !db_rows_append(&rows, &cap, column_text, st)) {
            stmt_put(d, st);
            snprintf(d->base.err, sizeof d->base.err, "sqlite: out of memory");
            return DB_ERROR;
        }
    }
    if (rc != SQLITE_DONE) {
        db_status_t s = fail(d, rc);
        db_rows_free(&rows);
        stmt_put(d, st);
        return s;
    }
    stmt_put(d, st);
    if (out)
        *out = rows;
    return DB_OK;
}

static db_status_t simple(db_t *db, const char *sql)
{
    return sq_exec(db, sql, 0, NULL, NULL);
}
static db_status_t sq_begin(db_t *db) { return simple(db, "BEGIN IMMEDIATE"); }
static db_status_t sq_commit(db_t *db) { return simple(db, "COMMIT"); }
static db_status_t sq_rollback(db_t *db) { return simple(db, "ROLLBACK"); }

static void sq_close(db_t *db)
{
    db_sqlite_t *d = (db_sqlite_t *)db;
    for (int i = 0; i < STMT_CACHE; i++)
        if (d->cache[i].sql) {
            sqlite3_finalize(d->cache[i].st);
            free(d->cache[i].sql);
        }
    sqlite3_close(d->h);
    free(d);
}

static const db_driver_t sqlite_driver = {
    .name = "sqlite",
    .serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .append_only = "CREATE TRIGGER %s_no_update BEFORE UPDATE ON %s BEGIN SELECT RAISE(ABORT, 'append-only'); END;\n"
                   "CREATE TRIGGER %s_no_delete BEFORE DELETE ON %s BEGIN SELECT RAISE(ABORT, 'append-only'); END;\n",
    .for_update = "",
    .one_writer = true,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .close = sq_close,
};

/* Before SQLite's first use: no global memory statistics (each allocation of
 * every connection took one process-wide mutex for them; moltd reads none). */
static void sqlite_once(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

db_t *db_sqlite_open(const char *path, char *why, size_t whylen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_once);
    db_sqlite_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    d->base.drv = &sqlite_driver;
    if (sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(why, whylen, "%s: %s", path, d->h ? sqlite3_errmsg(d->h) : "cannot open");
        sqlite3_close(d->h);
        free(d);
        return NULL;
    }
    sqlite3_busy_timeout(d->h, 5000);
    const char *pragmas[] = {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"};
    for (size_t i = 0; i < sizeof pragmas / sizeof *pragmas; i++) {
        db_rows_t r;
        if (sq_exec(&d->base, pragmas[i], 0, NULL, &r) != DB_OK) {
            snprintf(why, whylen, "%s: %s", path, d->base.err);
            sq_close(&d->base);
            return NULL;
        }
        bool wal_refused = i == 0 && (!db_cell(&r, 0, 0) || strcmp(db_cell(&r, 0, 0), "wal") != 0);
        db_rows_free(&r);
        if (wal_refused) {
            snprintf(why, whylen, "%s: the file system refuses WAL mode", path);
            sq_close(&d->base);
            return NULL;
        }
    }
    return &d->base;
}
