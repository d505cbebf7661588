/*
 * db_pg.c - the PostgreSQL backend of db.h (libpq), for fleets beyond one machine.
 *
 * Same portable SQL as SQLite: PQexecParams with text parameters ($1..$n, types
 * inferred by the server), every value read back as text. A committed
 * transaction is durable by PostgreSQL's own WAL. One connection, serialised by
 * moltd's lock like the SQLite backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"

typedef struct db_pg {
    db_t base;
    PGconn *c;
} db_pg_t;

typedef struct pg_row {
    PGresult *res;
    int r;
} pg_row_t;

static const char *pg_cell(void *ctx, size_t col)
{
    const pg_row_t *row = ctx;
    return PQgetisnull(row->res, row->r, (int)col) ? NULL : PQgetvalue(row->res, row->r, (int)col);
}

static db_status_t pg_exec(db_t *db, const char *sql, int n, const char *const *params, db_rows_t *out)
{
    db_pg_t *d = (db_pg_t *)db;
    if (out)
        memset(out, 0, sizeof *out);
    PGresult *res = PQexecParams(d->c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool integrity = state && strncmp(state, "23", 2) == 0; /* class 23: integrity constraint */
        db->full = state && (strcmp(state, "53100") == 0 || strcmp(state, "53400") == 0); /* disk full */
        snprintf(db->err, sizeof db->err, "postgresql: %s", PQerrorMessage(d->c));
        db->err[strcspn(db->err, "\n")] = '\0';
        PQclear(res);
        return integrity ? DB_CONSTRAINT : DB_ERROR;
    }
    if (out && st == PGRES_TUPLES_OK) {
        pg_row_t row = {res, 0};
        size_t cap = 0, rows = (size_t)PQntuples(res);
        out->ncols = (size_t)PQnfields(res);
        for (; row.r < (int)rows; row.r++)
            if (!db_rows_append(out, &cap, pg_cell, &row)) {
                PQclear(res);
                snprintf(db->err, sizeof db->err, "postgresql: out of memory");
                return DB_ERROR;
            }
    }
    PQclear(res);
    return DB_OK;
}

static db_status_t simple(db_t *db, const char *sql) { return pg_exec(db, sql, 0, NULL, NULL); }
static db_status_t pg_begin(db_t *db) { return simple(db, "BEGIN"); }
static db_status_t pg_commit(db_t *db) { return simple(db, "COMMIT"); }
static db_status_t pg_rollback(db_t *db) { return simple(db, "ROLLBACK"); }

static void pg_close(db_t *db)
{
    db_pg_t *d = (db_pg_t *)db;
    PQfinish(d->c);
    free(d);
}

static const db_driver_t pg_driver = {
    .name = "postgresql",
    .serial_pk = "BIGSERIAL PRIMARY KEY",
    .append_only = "CREATE FUNCTION %s_append_only() RETURNS trigger LANGUAGE plpgsql AS"
                   " 'BEGIN RAISE EXCEPTION ''append-only''; END';\n"
                   "CREATE TRIGGER %s_no_change BEFORE UPDATE OR DELETE ON %s"
                   " FOR EACH ROW EXECUTE FUNCTION %s_append_only();\n",
    .for_update = " FOR UPDATE",
    /* A session advisory lock: instances starting together migrate one at a time. */
    .schema_lock = "SELECT pg_advisory_lock(7370320)",
    .schema_unlock = "SELECT pg_advisory_unlock(7370320)",
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .close = pg_close,
};

db_t *db_pg_open(const char *url, char *why, size_t whylen)
{
    db_pg_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    d->base.drv = &pg_driver;
    d->c = PQconnectdb(url);
    if (PQstatus(d->c) != CONNECTION_OK) {
        snprintf(why, whylen, "postgresql: %s", PQerrorMessage(d->c));
        why[strcspn(why, "\n")] = '\0';
        pg_close(&d->base);
        return NULL;
    }
    if (simple(&d->base, "SET client_min_messages = warning") != DB_OK) {
        snprintf(why, whylen, "%s", d->base.err);
        pg_close(&d->base);
        return NULL;
    }
    return &d->base;
}
