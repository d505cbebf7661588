/*
 * db.c - backend selection, shared utilities and the versioned schema of moltd.
 *
 * Migrations are ordered SQL steps. schema_version holds the number of the last
 * step applied; each step runs in its own transaction together with the update
 * of schema_version, so a crash mid-migration leaves the previous version intact.
 * Steps are never edited once released: a change is a new step at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

db_t *db_open(const char *url, char *why, size_t whylen)
{
    if (!url[0] || strcmp(url, "sqlite:") == 0) {
        snprintf(why, whylen, "--db: empty database path");
        return NULL;
    }
    if (strncmp(url, "sqlite:", 7) == 0)
        return db_sqlite_open(url + 7, why, whylen);
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return db_pg_open(url, why, whylen);
    if (strstr(url, "://")) {
        snprintf(why, whylen, "%s: unknown database scheme (want sqlite:PATH or postgresql://...)", url);
        return NULL;
    }
    return db_sqlite_open(url, why, whylen);
}

void db_rows_free(db_rows_t *r)
{
    if (!r->cell)
        return;
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cell[i]);
    free(r->cell);
    memset(r, 0, sizeof *r);
}

db_status_t db_exec(db_t *db, const char *sql, int n, const char *const *params, db_rows_t *out)
{
    return db->drv->exec(db, sql, n, params, out);
}

bool db_rows_append(db_rows_t *rows, size_t *cap, const char *(*cell)(void *ctx, size_t col), void *ctx)
{
    size_t ncols = rows->ncols, need = (rows->nrows + 1) * ncols;
    if (need > *cap) {
        size_t c = *cap ? *cap * 2 : 16 * (ncols ? ncols : 1);
        while (c < need)
            c *= 2;
        char **grown = realloc(rows->cell, c * sizeof *grown);
        if (!grown) {
            db_rows_free(rows);
            return false;
        }
        rows->cell = grown;
        *cap = c;
    }
    for (size_t i = 0; i < ncols; i++) {
        const char *v = cell(ctx, i);
        rows->cell[rows->nrows * ncols + i] = v ? strdup(v) : NULL;
    }
    rows->nrows++;
    return true;
}

/* --- migrations ------------------------------------------------------------ */

/* "@SERIAL@" is the driver's auto-increment primary key; statements end with ";\n". */
typedef struct step {
    const char *sql;
    const char *append_only_table; /* made append-only after the step's SQL, or NULL */
} step_t;

static const step_t steps[] = {
    /* 1: the first schema */
    {"CREATE TABLE api_tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL,"
     " role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'gateway')), created BIGINT NOT NULL);\n"
     "CREATE TABLE signers (name TEXT PRIMARY KEY, pem TEXT NOT NULL, der_hex TEXT NOT NULL,"
     " key_type TEXT NOT NULL, created BIGINT NOT NULL);\n"
     "CREATE TABLE device_classes (name TEXT PRIMARY KEY, created BIGINT NOT NULL);\n"
     "CREATE TABLE class_signers (class TEXT NOT NULL REFERENCES device_classes(name),"
     " signer TEXT NOT NULL REFERENCES signers(name), PRIMARY KEY (class, signer));\n"
     "CREATE TABLE packages (id @SERIAL@, sha256 TEXT NOT NULL UNIQUE, sha1 TEXT NOT NULL, md5 TEXT NOT NULL,"
     " size BIGINT NOT NULL, class TEXT NOT NULL REFERENCES device_classes(name), version TEXT NOT NULL,"
     " version_key TEXT NOT NULL, security_counter BIGINT NOT NULL, filename TEXT NOT NULL, signer TEXT NOT NULL,"
     " uploaded_by TEXT NOT NULL, created BIGINT NOT NULL, UNIQUE (class, version_key));\n"
     "CREATE TABLE devices (id TEXT PRIMARY KEY, class TEXT NOT NULL REFERENCES device_classes(name),"
     " attest_key TEXT NOT NULL, enc_key TEXT, token_hash TEXT NOT NULL, version TEXT, attested_version TEXT,"
     " attributes TEXT NOT NULL DEFAULT '{}', config_wanted INTEGER NOT NULL DEFAULT 1, last_seen BIGINT,"
     " created BIGINT NOT NULL);\n"
     "CREATE TABLE campaigns (id @SERIAL@, name TEXT NOT NULL, package_id BIGINT NOT NULL REFERENCES packages(id),"
     " filter TEXT NOT NULL, steps TEXT NOT NULL, step INTEGER NOT NULL, failure_threshold INTEGER NOT NULL,"
     " message TEXT NOT NULL, start_at BIGINT NOT NULL, state TEXT NOT NULL, state_reason TEXT,"
     " created_by TEXT NOT NULL, created BIGINT NOT NULL);\n"
     "CREATE TABLE actions (id @SERIAL@, campaign_id BIGINT NOT NULL REFERENCES campaigns(id),"
     " device_id TEXT NOT NULL REFERENCES devices(id), step INTEGER NOT NULL, state TEXT NOT NULL,"
     " version_before TEXT, notified BIGINT, detail TEXT, updated BIGINT NOT NULL);\n"
     "CREATE INDEX actions_device ON actions (device_id, state);\n"
     "CREATE INDEX actions_campaign ON actions (campaign_id, step, state);\n"
     "CREATE TABLE audit (id @SERIAL@, at BIGINT NOT NULL, actor TEXT NOT NULL, what TEXT NOT NULL,"
     " object TEXT NOT NULL, version_before TEXT, version_after TEXT, detail TEXT);\n",
     "audit"},
    /* 2: attestation (R-ATTEST): outstanding challenges, the attested measurement */
    {"CREATE TABLE attest_challenges (device_id TEXT PRIMARY KEY REFERENCES devices(id), nonce TEXT NOT NULL,"
     " expires BIGINT NOT NULL);\n"
     "ALTER TABLE devices ADD COLUMN attested_hash TEXT;\n"
     "ALTER TABLE devices ADD COLUMN attested_at BIGINT;\n",
     NULL},
    /* 3: encrypted packages (R-CONF, R-ONEPKG): the content key wrapped under the
     * KEK with the envelope binding (hash TLV type || value, hex), and the key
     * envelope issued to each device */
    {"ALTER TABLE packages ADD COLUMN encryption TEXT;\n"
     "CREATE TABLE package_keys (package_id BIGINT PRIMARY KEY REFERENCES packages(id), wrapped TEXT NOT NULL,"
     " binding TEXT NOT NULL);\n"
     "CREATE TABLE envelopes (device_id TEXT NOT NULL REFERENCES devices(id),"
     " package_id BIGINT NOT NULL REFERENCES packages(id), envelope TEXT NOT NULL, created BIGINT NOT NULL,"
     " PRIMARY KEY (device_id, package_id));\n",
     NULL},
    /* 4: several instances on one database: at most one open action per device
     * (two campaigns created at once cannot both take it), token names unique */
    {"CREATE UNIQUE INDEX actions_one_open ON actions (device_id)"
     " WHERE state IN ('assigned', 'running', 'downloaded', 'cancelling');\n"
     "CREATE UNIQUE INDEX api_tokens_name ON api_tokens (name);\n"
     "CREATE INDEX devices_class ON devices (class, id);\n"
     /* constant-time bookkeeping: per campaign and step, the actions, the open ones
      * and the failed ones, kept in the transaction of every state change instead of
      * counted over the whole campaign at each closing feedback */
     "CREATE TABLE campaign_steps (campaign_id BIGINT NOT NULL REFERENCES campaigns(id), step INTEGER NOT NULL,"
     " total_n BIGINT NOT NULL, open_n BIGINT NOT NULL, failed_n BIGINT NOT NULL, PRIMARY KEY (campaign_id, step));\n"
     "INSERT INTO campaign_steps (campaign_id, step, total_n, open_n, failed_n) SELECT campaign_id, step, COUNT(*),"
     " SUM(CASE WHEN state IN ('assigned', 'running', 'downloaded', 'cancelling') THEN 1 ELSE 0 END),"
     " SUM(CASE WHEN state = 'failure' THEN 1 ELSE 0 END) FROM actions GROUP BY campaign_id, step;\n",
     NULL},
    /* 5: package kinds (issue 19): a device class declares what its packages are,
     * mcuboot (signed images, verified by lib/) or swu (SWUpdate archives, CMS);
     * a campaign's DDI update/download modes, its maintenance windows and whether
     * the user must confirm (campaigns.ddi, compact JSON), and the device's answer
     * to a confirmation request (actions.confirmed: when it confirmed), and the
     * feedback messages of each action (actionHistory) */
    {"ALTER TABLE device_classes ADD COLUMN kind TEXT NOT NULL DEFAULT 'mcuboot';\n"
     "ALTER TABLE campaigns ADD COLUMN ddi TEXT;\n"
     "ALTER TABLE actions ADD COLUMN confirmed BIGINT;\n"
     /* every feedback's status and details, for DDI's actionHistory (bounded per action) */
     "CREATE TABLE action_messages (id @SERIAL@, action_id BIGINT NOT NULL REFERENCES actions(id), at BIGINT NOT NULL,"
     " execution TEXT NOT NULL, message TEXT NOT NULL);\n"
     "CREATE INDEX action_messages_action ON action_messages (action_id, id);\n",
     NULL},
    /* 6: deferral tickets (R-AVAIL): the policy of each device class, quarantined
     * devices, and when moltd released each campaign step (a ticket's grace counts
     * from it, never from a device's fetch). Steps released before this step get
     * their time from the audit log (campaign.step, or a later campaign.resume);
     * step 0 without one counts from the campaign's creation (ticket.c). */
    {"CREATE TABLE ticket_policies (class TEXT PRIMARY KEY REFERENCES device_classes(name),"
     " seconds BIGINT NOT NULL CHECK (seconds >= 1), boots BIGINT NOT NULL CHECK (boots >= 1),"
     " grace BIGINT NOT NULL CHECK (grace >= 0), updated BIGINT NOT NULL);\n"
     "CREATE TABLE device_quarantine (device_id TEXT PRIMARY KEY REFERENCES devices(id), reason TEXT NOT NULL,"
     " since BIGINT NOT NULL, actor TEXT NOT NULL);\n"
     "ALTER TABLE campaign_steps ADD COLUMN released BIGINT;\n"
     "UPDATE campaign_steps SET released = (SELECT MAX(au.at) FROM audit au"
     " WHERE au.object = CAST(campaign_steps.campaign_id AS TEXT) AND (au.what = 'campaign.resume'"
     " OR (au.what = 'campaign.step' AND au.detail LIKE 'step ' || CAST(campaign_steps.step + 1 AS TEXT) || ' of %')));\n",
     NULL},
    /* 7: trusted-key rotation (issue 18): a class's rotation (root) keys and
     * threshold, fixed once it has taken a key-update; a package's kind (image or
     * keyupdate, an MKU1 key-update) and the key-set sequence it makes; the
     * sequence each device reported in its feedback. */
    {"CREATE TABLE class_rotation (class TEXT PRIMARY KEY REFERENCES device_classes(name),"
     " threshold INTEGER NOT NULL CHECK (threshold >= 1), updated BIGINT NOT NULL);\n"
     "CREATE TABLE class_roots (class TEXT NOT NULL REFERENCES device_classes(name), idx INTEGER NOT NULL,"
     " der_hex TEXT NOT NULL, pem TEXT NOT NULL, PRIMARY KEY (class, idx));\n"
     "ALTER TABLE packages ADD COLUMN kind TEXT NOT NULL DEFAULT 'image';\n"
     "ALTER TABLE packages ADD COLUMN keyset_seq BIGINT;\n"
     "CREATE UNIQUE INDEX packages_keyset ON packages (class, keyset_seq);\n"
     "ALTER TABLE devices ADD COLUMN keyset_seq BIGINT;\n",
     NULL},
};

int db_schema_latest(void)
{
    return (int)(sizeof steps / sizeof *steps);
}

/* Replace every occurrence of tok in s by rep (malloc'd result). */
static char *replace_all(const char *s, const char *tok, const char *rep)
{
    size_t n = 0, tl = strlen(tok), rl = strlen(rep);
    for (const char *p = strstr(s, tok); p; p = strstr(p + tl, tok))
        n++;
    char *out = malloc(strlen(s) + n * rl + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s;;) {
        const char *q = strstr(p, tok);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, rep, rl);
        o += rl;
        p = q + tl;
    }
    return out;
}

/* Run each ";\n"-terminated statement of script. */
static db_status_t run_script(db_t *db, const char *script)
{
    char *copy = strdup(script);
    if (!copy)
        return DB_ERROR;
    db_status_t st = DB_OK;
    for (char *p = copy; *p && st == DB_OK;) {
        char *end = strstr(p, ";\n");
        if (end)
            *end = '\0';
        if (strspn(p, " \n") != strlen(p))
            st = db_exec(db, p, 0, NULL, NULL);
        if (!end)
            break;
        p = end + 2;
    }
    free(copy);
    return st;
}

static int current_version(db_t *db)
{
    if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", 0, NULL, NULL) != DB_OK)
        return -1;
    db_rows_t r;
    if (db_exec(db, "SELECT version FROM schema_version", 0, NULL, &r) != DB_OK)
        return -1;
    int v = r.nrows ? atoi(db_cell(&r, 0, 0)) : 0;
    bool empty = r.nrows == 0;
    db_rows_free(&r);
    if (empty && db_exec(db, "INSERT INTO schema_version (version) VALUES (0)", 0, NULL, NULL) != DB_OK)
        return -1;
    return v;
}

static int migrate(db_t *db);

/* Under the backend's migration lock (PostgreSQL: an advisory lock), so several
 * instances starting at once on one database apply each step once. */
int db_migrate(db_t *db)
{
    if (db->drv->schema_lock && db_exec(db, db->drv->schema_lock, 0, NULL, NULL) != DB_OK)
        return -1;
    int v = migrate(db);
    if (db->drv->schema_unlock) {
        char err[sizeof db->err];
        memcpy(err, db->err, sizeof err);
        db_exec(db, db->drv->schema_unlock, 0, NULL, NULL);
        memcpy(db->err, err, sizeof err);
    }
    return v;
}

static int migrate(db_t *db)
{
    int v = current_version(db);
    if (v < 0)
        return -1;
    if (v > db_schema_latest()) {
        snprintf(db->err, sizeof db->err, "schema version %d is newer than this moltd (%d)", v, db_schema_latest());
        return -1;
    }
    for (; v < db_schema_latest(); v++) {
        const step_t *s = &steps[v];
        char *sql = replace_all(s->sql, "@SERIAL@", db->drv->serial_pk);
        char *ao = s->append_only_table && db->drv->append_only
                       ? replace_all(db->drv->append_only, "%s", s->append_only_table)
                       : NULL;
        char num[16];
        snprintf(num, sizeof num, "%d", v + 1);
        const char *p[] = {num};
        db_status_t st = sql ? db->drv->begin(db) : DB_ERROR;
        if (st == DB_OK)
            st = run_script(db, sql);
        if (st == DB_OK && ao)
            st = run_script(db, ao);
        if (st == DB_OK)
            st = db_exec(db, "UPDATE schema_version SET version = $1", 1, p, NULL);
        if (st == DB_OK)
            st = db->drv->commit(db);
        else
            db->drv->rollback(db);
        free(sql);
        free(ao);
        if (st != DB_OK)
            return -1;
    }
    return v;
}
