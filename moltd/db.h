/*
 * db.h - moltd's one storage interface: a driver is a struct of function pointers.
 *
 * Everything above this line (rollout.c, the API handlers) speaks portable SQL with
 * numbered text parameters ($1, $2, ...) and reads every value back as text, so a
 * backend only has to run a statement and hand back rows. SQLite (db_sqlite.c) is
 * the default; PostgreSQL (db_pg.c, libpq) implements the same table.
 * Dialect differences are confined to the few strings in db_driver_t (the
 * auto-increment primary key, append-only triggers).
 */
#ifndef MOLTD_DB_H
#define MOLTD_DB_H

#include <stdbool.h>
#include <stddef.h>

/* Result of one statement: nrows x ncols text cells (NULL for SQL NULL), row-major. */
typedef struct db_rows {
    size_t nrows, ncols;
    char **cell;
} db_rows_t;

typedef enum db_status {
    DB_OK = 0,
    DB_ERROR = 1,      /* anything else: the message says what */
    DB_CONSTRAINT = 2  /* a UNIQUE / PRIMARY KEY / CHECK / trigger refused the row */
} db_status_t;

typedef struct db db_t;

typedef struct db_driver {
    const char *name;          /* "sqlite", "postgresql" */
    const char *serial_pk;     /* column type of an auto-increment integer primary key */
    const char *append_only;   /* SQL making table audit append-only ("%s" = table), or NULL */
    const char *for_update;    /* appended to a SELECT that locks its rows till commit ("" where the
                                  write transaction is exclusive anyway, as in SQLite) */
    bool one_writer;           /* one write transaction at a time: moltd queues its threads itself
                                  (SQLite would make them sleep-and-retry on SQLITE_BUSY) */
    const char *schema_lock;   /* statement taking the migration lock across processes, or NULL */
    const char *schema_unlock;
    /* Run one statement with n text parameters ($1..$n; NULL = SQL NULL).
     * When out is non-NULL it receives the rows (free with db_rows_free). */
    db_status_t (*exec)(db_t *db, const char *sql, int n, const char *const *params, db_rows_t *out);
    db_status_t (*begin)(db_t *db);   /* a write transaction, serialised */
    db_status_t (*commit)(db_t *db);
    db_status_t (*rollback)(db_t *db);
    void (*close)(db_t *db);
} db_driver_t;

/* Every backend's handle starts with this. */
struct db {
    const db_driver_t *drv;
    char err[256];             /* last error message */
    bool full;                 /* the last failure was a full disk or quota (507) */
};

/* Open by URL: "sqlite:PATH" (or a bare path), or "postgresql://..." (libpq).
 * On failure returns NULL and writes a one-line reason to why. */
db_t *db_open(const char *url, char *why, size_t whylen);
db_t *db_sqlite_open(const char *path, char *why, size_t whylen);
db_t *db_pg_open(const char *url, char *why, size_t whylen);

void db_rows_free(db_rows_t *r);
/* For a backend building a result: append one row of rows->ncols cells, cell i
 * a copy of cell(ctx, i) (NULL: SQL NULL); *cap is the cells allocated (0 at
 * first). false when out of memory (rows is freed). */
bool db_rows_append(db_rows_t *rows, size_t *cap, const char *(*cell)(void *ctx, size_t col), void *ctx);
static inline const char *db_cell(const db_rows_t *r, size_t row, size_t col)
{
    return (row < r->nrows && col < r->ncols) ? r->cell[row * r->ncols + col] : NULL;
}

/* Shorthands over db->drv. */
db_status_t db_exec(db_t *db, const char *sql, int n, const char *const *params, db_rows_t *out);

/* Versioned schema: apply every migration step above the stored schema_version,
 * each in its own transaction. Returns the resulting version, or -1 (db->err). */
int db_migrate(db_t *db);
int db_schema_latest(void);

#endif
