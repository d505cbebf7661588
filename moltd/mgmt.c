/*
 * mgmt.c - the management API (JSON over HTTP, /api/v1/...).
 *
 * Bearer tokens carry a role: viewer (read), operator (packages, devices,
 * campaigns), admin (tokens, signer keys, device classes; everything else too).
 * The bootstrap admin token comes from a file or the environment and is never
 * stored; every other token is returned once at creation and kept as its SHA-256.
 * Every change is written together with its audit record in one transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "moltd.h"

static const char *role_name(role_t r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_OPERATOR ? "operator" : r == ROLE_VIEWER ? "viewer" : "none";
}

static role_t role_parse(const char *s)
{
    return !s                          ? ROLE_NONE
           : strcmp(s, "admin") == 0    ? ROLE_ADMIN
           : strcmp(s, "operator") == 0 ? ROLE_OPERATOR
           : strcmp(s, "viewer") == 0   ? ROLE_VIEWER
                                        : ROLE_NONE;
}

int mgmt_auth(req_t *r, bool *refused)
{
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    *refused = true;
    if (!h || strncmp(h, "Bearer ", 7) != 0 || !h[7])
        return http_error(r, 401, "a bearer token is required");
    char hash[65];
    sha256_hex(h + 7, strlen(h + 7), hash);
    if (CRYPTO_memcmp(hash, r->srv->admin_hash, 64) == 0) {
        r->role = ROLE_ADMIN;
        snprintf(r->actor, sizeof r->actor, "admin");
        *refused = false;
        return MHD_YES;
    }
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &rows, "SELECT name, role FROM api_tokens WHERE hash = $1", hash);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    role_t role = rows.nrows ? role_parse(db_cell(&rows, 0, 1)) : ROLE_NONE;
    if (role != ROLE_NONE)
        snprintf(r->actor, sizeof r->actor, "token:%s", db_cell(&rows, 0, 0));
    db_rows_free(&rows);
    if (role == ROLE_NONE)
        return http_error(r, 401, "unknown token");
    r->role = role;
    *refused = false;
    return MHD_YES;
}

static bool need(req_t *r, role_t role, int *ret)
{
    if (r->role >= role)
        return true;
    *ret = http_error(r, 403, "needs the %s role (this token is %s)", role_name(role), role_name(r->role));
    return false;
}

static int db_fail(req_t *r)
{
    return http_db_error(r);
}

/* From the headers alone, before any body byte is read or stored: the role a
 * change needs, and for a package upload its parameters (the class exists, the
 * filename, the content key header). A refusal is answered here; the body is
 * then never read. */
int mgmt_precheck(req_t *r, bool *refused)
{
    *refused = true;
    int ret = MHD_YES;
    const char *what = r->nseg >= 3 ? r->seg[2] : "";
    bool post = strcmp(r->method, "POST") == 0, del = strcmp(r->method, "DELETE") == 0;
    bool admin_only = strcmp(what, "tokens") == 0 || strcmp(what, "signers") == 0 || strcmp(what, "classes") == 0;
    if ((post || del) && !need(r, admin_only ? ROLE_ADMIN : ROLE_OPERATOR, &ret))
        return ret;
    if (r->to_file) {
        moltd_t *srv = r->srv;
        const char *cls = http_arg(r, "class"), *fname = http_arg(r, "filename"), *ckh = http_header(r, "X-Molt-Content-Key");
        uint8_t ck[32];
        size_t ck_len = 0;
        if (!valid_name(cls, 64))
            return http_error(r, 400, "the query parameter class=NAME is required");
        if (fname && !valid_name(fname, 128))
            return http_error(r, 400, "filename: [A-Za-z0-9._-]{1,128}");
        if (ckh && !content_key_parse(ckh, ck, &ck_len))
            return http_error(r, 400, "X-Molt-Content-Key: 32 or 64 hex digits (the key of molt sign --save-content-key)");
        OPENSSL_cleanse(ck, sizeof ck);
        if (ckh && !srv->has_kek)
            return http_error(r, 400, "X-Molt-Content-Key: this moltd keeps no content keys (start it with --kek-file)");
        db_rows_t c;
        srv_lock(srv);
        db_status_t st = Q(srv, &c,
                           "SELECT dc.kind FROM device_classes dc WHERE dc.name = $1"
                           " AND EXISTS (SELECT 1 FROM class_signers cs WHERE cs.class = dc.name)",
                           cls);
        srv_unlock(srv);
        if (st != DB_OK)
            return db_fail(r);
        bool known = c.nrows > 0, swu = known && strcmp(db_cell(&c, 0, 0), "swu") == 0;
        db_rows_free(&c);
        if (!known)
            return http_error(r, 400, "class: no device class named %s", cls);
        /* suricatta installs only artifacts named *.swu */
        if (swu && fname && (strlen(fname) < 5 || strcmp(fname + strlen(fname) - 4, ".swu") != 0))
            return http_error(r, 400, "filename: a package of an swu class is named *.swu");
        if (swu && ckh)
            return http_error(r, 400, "X-Molt-Content-Key: an swu package carries its own encryption (SWUpdate's)");
    }
    *refused = false;
    return MHD_YES;
}

/* Rows of a query as an array of objects keyed by names[] (NULL cells -> null;
 * names starting with '#' are numbers). */
static json_t *rows_json(const db_rows_t *rows, const char *const *names)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rows->nrows; i++) {
        json_t *o = json_object();
        for (size_t c = 0; c < rows->ncols; c++) {
            const char *v = db_cell(rows, i, c), *n = names[c];
            bool num = n[0] == '#';
            json_object_set_new(o, num ? n + 1 : n,
                                !v ? json_null() : num ? json_integer(strtoll(v, NULL, 10)) : json_string(v));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *row_json(const db_rows_t *rows, const char *const *names, size_t i)
{
    json_t *a = rows_json(rows, names);
    json_t *o = json_incref(json_array_get(a, i));
    json_decref(a);
    return o ? o : json_null();
}

static int list(req_t *r, const char *sql, const char *const *names, const char *p1)
{
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = p1 ? Q(r->srv, &rows, sql, p1) : Q0(r->srv, &rows, sql);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return db_fail(r);
    json_t *a = rows_json(&rows, names);
    db_rows_free(&rows);
    return http_json(r, 200, a);
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void now_str(char *out, size_t cap)
{
    snprintf(out, cap, "%lld", (long long)now_ms());
}

/* --- tokens (admin) ---------------------------------------------------------- */
static int tokens_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *name = str_field(j, "name"), *role = str_field(j, "role");
    if (!valid_name(name, 64) || !role ||
        (role_parse(role) == ROLE_NONE && strcmp(role, "gateway") != 0)) {
        json_decref(j);
        return http_error(r, 400, "want {\"name\": [A-Za-z0-9._-]{1,64}, \"role\": admin|operator|viewer|gateway}");
    }
    char token[33], hash[65], now[24];
    random_token(token, 32);
    sha256_hex(token, 32, hash);
    now_str(now, sizeof now);
    if (!tx_begin(r->srv)) {
        json_decref(j);
        return db_fail(r);
    }
    db_rows_t dup;
    bool ok = Q(r->srv, &dup, "SELECT 1 FROM api_tokens WHERE name = $1", name) == DB_OK;
    bool exists = ok && dup.nrows > 0;
    db_rows_free(&dup);
    ok = ok && !exists &&
         Q(r->srv, NULL, "INSERT INTO api_tokens (hash, name, role, created) VALUES ($1, $2, $3, $4)", hash, name,
           role, now) == DB_OK &&
         audit(r->srv, r->actor, "token.create", name, NULL, NULL, role) == DB_OK;
    if (!tx_end(r->srv, ok)) {
        ret = exists ? http_error(r, 409, "token %s exists", name) : db_fail(r);
        json_decref(j);
        return ret;
    }
    ret = http_json(r, 201, json_pack("{s:s,s:s,s:s}", "name", name, "role", role, "token", token));
    json_decref(j);
    return ret;
}

/* DELETE /tokens/{name}: the token stops working at once (its hash is removed);
 * the audit log keeps token.create and token.revoke. */
static int tokens_revoke(req_t *r, const char *name)
{
    if (!valid_name(name, 64))
        return http_error(r, 404, "no token %s", "(malformed name)");
    db_rows_t t = {0};
    if (!tx_begin(r->srv))
        return db_fail(r);
    bool ok = Q(r->srv, &t, "SELECT role FROM api_tokens WHERE name = $1", name) == DB_OK;
    bool found = ok && t.nrows > 0;
    char role[16] = "";
    if (found)
        snprintf(role, sizeof role, "%s", db_cell(&t, 0, 0));
    db_rows_free(&t);
    ok = ok && found && Q(r->srv, NULL, "DELETE FROM api_tokens WHERE name = $1", name) == DB_OK &&
         audit(r->srv, r->actor, "token.revoke", name, NULL, NULL, role) == DB_OK;
    if (!tx_end(r->srv, ok))
        return found ? db_fail(r) : http_error(r, 404, "no token %s", name);
    return http_json(r, 200, json_pack("{s:s,s:s,s:b}", "name", name, "role", role, "revoked", 1));
}

/* A numeric row id as the URL gives it (1 to 18 digits): anything else names
 * nothing, on every backend (PostgreSQL would refuse to compare it to a BIGINT). */
static bool num_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 18 && strspn(s, "0123456789") == n;
}

/* --- signer keys and device classes (admin) ---------------------------------- */
static int signers_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *name = str_field(j, "name"), *pem = str_field(j, "pem");
    uint8_t *der = NULL;
    size_t der_len = 0;
    const char *type = NULL;
    if (!valid_name(name, 64) || !pem) {
        json_decref(j);
        return http_error(r, 400, "want {\"name\": [A-Za-z0-9._-]{1,64}, \"pem\": a PEM public key}");
    }
    /* A certificate is accepted as well as a public key: its key signs MCUboot
     * images, and the certificate itself is the trust anchor of swu packages'
     * CMS signatures (the signer's own certificate or an issuer of it). */
    char subject[256] = "";
    char *cert_key = strstr(pem, "-----BEGIN CERTIFICATE-----") ? signer_cert_key(pem, subject, sizeof subject) : NULL;
    if (strstr(pem, "-----BEGIN CERTIFICATE-----") && !cert_key) {
        json_decref(j);
        return http_error(r, 400, "pem: not a readable X.509 certificate");
    }
    bool parsed = pkg_parse_pem(cert_key ? cert_key : pem, &der, &der_len, &type);
    free(cert_key);
    if (!parsed || strcmp(type, "x25519") == 0 || strcmp(type, "other") == 0) {
        free(der);
        json_decref(j);
        return http_error(r, 400, "pem: not a signing public key (ecdsa-p256/p384, ed25519, rsa-2048/3072) or a certificate of one");
    }
    char *hex = malloc(2 * der_len + 1), now[24];
    hex_encode(der, der_len, hex);
    free(der);
    now_str(now, sizeof now);
    bool ok = tx_begin(r->srv);
    if (!ok) {
        free(hex);
        json_decref(j);
        return db_fail(r);
    }
    db_status_t st = Q(r->srv, NULL,
                       "INSERT INTO signers (name, pem, der_hex, key_type, created) VALUES ($1, $2, $3, $4, $5)", name,
                       pem, hex, type, now);
    ok = st == DB_OK && audit(r->srv, r->actor, "signer.create", name, NULL, NULL, type) == DB_OK;
    free(hex);
    if (!tx_end(r->srv, ok)) {
        ret = st == DB_CONSTRAINT ? http_error(r, 409, "signer %s exists", name) : db_fail(r);
        json_decref(j);
        return ret;
    }
    ret = subject[0] ? http_json(r, 201, json_pack("{s:s,s:s,s:s}", "name", name, "type", type, "certificate", subject))
                     : http_json(r, 201, json_pack("{s:s,s:s}", "name", name, "type", type));
    json_decref(j);
    return ret;
}

static int classes_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *name = str_field(j, "name"), *k;
    json_t *signers = json_object_get(j, "signers"), *kv = json_object_get(j, "kind"), *v;
    /* A misspelt field must not be silently dropped (a class's kind decides how
     * every package of it is verified): unknown fields are refused by name. */
    json_object_foreach(j, k, v) if (strcmp(k, "name") && strcmp(k, "signers") && strcmp(k, "kind"))
    {
        ret = http_error(r, 400, "%.64s: unknown field (a class has name, signers, kind)", k);
        json_decref(j);
        return ret;
    }
    const char *kind = kv ? json_string_value(kv) : "mcuboot";
    if (!kind || (strcmp(kind, "mcuboot") && strcmp(kind, "swu"))) {
        json_decref(j);
        return http_error(r, 400, "kind: mcuboot or swu");
    }
    if (!valid_name(name, 64) || !json_is_array(signers) || json_array_size(signers) == 0 ||
        json_array_size(signers) > 16) {
        json_decref(j);
        return http_error(r, 400, "want {\"name\": [A-Za-z0-9._-]{1,64}, \"signers\": [1 to 16 signer names], \"kind\"?: mcuboot|swu}");
    }
    char now[24];
    now_str(now, sizeof now);
    if (!tx_begin(r->srv)) {
        json_decref(j);
        return db_fail(r);
    }
    db_status_t st = Q(r->srv, NULL, "INSERT INTO device_classes (name, created, kind) VALUES ($1, $2, $3)", name, now,
                       kind);
    bool ok = st == DB_OK;
    const char *missing = NULL, *unfit = NULL;
    char unfit_type[32] = "";
    size_t i;
    json_t *s;
    json_array_foreach(signers, i, s)
    {
        if (!ok)
            break;
        const char *sn = json_string_value(s);
        db_rows_t found = {0};
        ok = sn && Q(r->srv, &found, "SELECT key_type FROM signers WHERE name = $1", sn) == DB_OK;
        if (ok && found.nrows == 0) {
            missing = sn;
            ok = false;
        }
        /* Contradictory: an mcuboot class whose signer's key no MCUboot image can
         * carry (RSA other than 2048/3072 bits, EC other than P-256/P-384). */
        static const char *const mcuboot_types[] = {"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072"};
        bool fits = strcmp(kind, "mcuboot") != 0;
        for (size_t t = 0; ok && !fits && t < sizeof mcuboot_types / sizeof *mcuboot_types; t++)
            fits = strcmp(db_cell(&found, 0, 0), mcuboot_types[t]) == 0;
        if (ok && !fits) {
            unfit = sn;
            snprintf(unfit_type, sizeof unfit_type, "%s", db_cell(&found, 0, 0));
            ok = false;
        }
        db_rows_free(&found);
        if (ok && Q(r->srv, NULL, "INSERT INTO class_signers (class, signer) VALUES ($1, $2)", name, sn) != DB_OK)
            ok = false;
    }
    ok = ok && audit(r->srv, r->actor, "class.create", name, NULL, NULL, NULL) == DB_OK;
    tx_end(r->srv, ok);
    if (!ok) {
        ret = st == DB_CONSTRAINT ? http_error(r, 409, "device class %s exists", name)
              : missing           ? http_error(r, 400, "signers: no signer key named %s", missing)
              : unfit ? http_error(r, 400, "signers: %s is an %s key, which no MCUboot image can carry (kind mcuboot)",
                                   unfit, unfit_type)
                                  : http_error(r, 400, "signers: each must be a registered signer's name, once");
    } else {
        ret = http_json(r, 201, json_pack("{s:s,s:O,s:s}", "name", name, "signers", signers, "kind", kind));
    }
    json_decref(j);
    return ret;
}

/* --- packages (operator) ---------------------------------------------------- */
static const char *const pkg_cols[] = {"#id",    "sha256",      "sha1",        "md5",     "#size",
                                       "class",  "version",     "#security_counter", "filename", "signer",
                                       "uploaded_by", "#created", "encryption"};
#define PKG_SELECT                                                                                           \
    "SELECT id, sha256, sha1, md5, size, class, version, security_counter, filename, signer, uploaded_by, " \
    "created, encryption FROM packages"

static int packages_upload(req_t *r)
{
    moltd_t *srv = r->srv;
    const char *cls = http_arg(r, "class"), *fname = http_arg(r, "filename");
    if (!valid_name(cls, 64))
        return http_error(r, 400, "the query parameter class=NAME is required");
    if (fname && !valid_name(fname, 128))
        return http_error(r, 400, "filename: [A-Za-z0-9._-]{1,128}");
    if (r->fd < 0 || r->body_len == 0)
        return http_error(r, 400, "empty body: send the signed image as application/octet-stream");
    /* An encrypted package comes with its content key (R-CONF): moltd verifies the
     * plaintext with it and keeps it only wrapped under the KEK, for envelopes. */
    const char *ckh = http_header(r, "X-Molt-Content-Key");
    uint8_t ck[32];
    size_t ck_len = 0;
    if (ckh && !content_key_parse(ckh, ck, &ck_len))
        return http_error(r, 400, "X-Molt-Content-Key: 32 or 64 hex digits (the key of molt sign --save-content-key)");
    if (ckh && !srv->has_kek)
        return http_error(r, 400, "X-Molt-Content-Key: this moltd keeps no content keys (start it with --kek-file)");
    if (fsync(r->fd) != 0)
        return http_error(r, 507, "cannot store the upload: %s", strerror(errno));

    if (!tx_begin(srv))
        return db_fail(r);
    int ret;
    db_rows_t keys = {0};
    db_rows_t same = {0}, max = {0}, lock = {0};
    /* Uploads to one class are serialised across instances (the class row is
     * locked till commit), so R-DEPLOY-VERSION compares with what the others committed. */
    char lock_sql[128];
    snprintf(lock_sql, sizeof lock_sql, "SELECT name, kind FROM device_classes WHERE name = $1%s",
             srv_db(srv)->drv->for_update);
    if (Q(srv, &lock, lock_sql, cls) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    bool swu = lock.nrows && strcmp(db_cell(&lock, 0, 1), "swu") == 0;
    db_rows_free(&lock);
    if (Q(srv, &keys,
          "SELECT s.name, s.der_hex, s.pem FROM class_signers cs JOIN signers s ON s.name = cs.signer"
          " WHERE cs.class = $1 ORDER BY s.name",
          cls) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    if (keys.nrows == 0) {
        ret = http_error(r, 400, "class: no device class named %s", cls);
        goto out;
    }
    uint8_t *der[16] = {0};
    size_t der_len[16] = {0}, nkeys = keys.nrows < 16 ? keys.nrows : 16;
    for (size_t i = 0; i < nkeys; i++)
        der[i] = hex_decode(db_cell(&keys, i, 1), &der_len[i]);
    pkg_info_t info;
    int v;
    if (swu) { /* SWUpdate: cpio, CMS over sw-description, each artifact's sha256 (swu.c) */
        const char *pems[16];
        for (size_t i = 0; i < nkeys; i++)
            pems[i] = db_cell(&keys, i, 2);
        v = swu_check(r->tmp_path, pems, nkeys, !srv->test_unverified_swu, &info);
    } else {
        pthread_mutex_lock(&srv->crypto_lock); /* lib/ verifies: one at a time (no global database lock any more) */
        v = pkg_check(r->tmp_path, (const uint8_t *const *)der, der_len, nkeys, ckh ? ck : NULL, ck_len, &info);
        pthread_mutex_unlock(&srv->crypto_lock);
    }
    for (size_t i = 0; i < nkeys; i++)
        free(der[i]);
    if (v != 0) {
        ret = v < 0 ? http_error(r, 500, "%s", info.why)
                    : http_json(r, 422, json_pack("{s:s,s:s}", "error", info.why, "reason", info.why_name));
        goto out;
    }
    /* Stored once, content-addressed: the same bytes again are the same package. */
    if (Q(srv, &same, PKG_SELECT " WHERE sha256 = $1", info.sha256) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    if (same.nrows) {
        if (strcmp(db_cell(&same, 0, 5), cls) != 0)
            ret = http_error(r, 409, "these bytes are already package %s of class %s", db_cell(&same, 0, 0),
                             db_cell(&same, 0, 5));
        else
            ret = http_json(r, 200, row_json(&same, pkg_cols, 0));
        goto out;
    }
    /* R-DEPLOY-VERSION: version and security counter strictly increase per device class. */
    if (Q(srv, &max,
          "SELECT version, version_key, security_counter FROM packages WHERE class = $1"
          " ORDER BY version_key DESC LIMIT 1",
          cls) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    db_rows_t maxc = {0};
    if (Q(srv, &maxc, "SELECT MAX(security_counter) FROM packages WHERE class = $1", cls) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    long long top_cnt = maxc.nrows && db_cell(&maxc, 0, 0) ? strtoll(db_cell(&maxc, 0, 0), NULL, 10) : -1;
    db_rows_free(&maxc);
    if (max.nrows && strcmp(info.version_key, db_cell(&max, 0, 1)) <= 0) {
        ret = http_json(r, 409,
                        json_pack("{s:s,s:s}", "error", "version is not above the latest of this class", "detail",
                                  db_cell(&max, 0, 0)));
        goto out;
    }
    if (!swu && max.nrows && (long long)info.sec_cnt <= top_cnt) { /* an swu package has no security counter */
        char d[64];
        snprintf(d, sizeof d, "%lld", top_cnt);
        ret = http_json(r, 409,
                        json_pack("{s:s,s:s}", "error", "security counter is not above the latest of this class",
                                  "detail", d));
        goto out;
    }
    char path[4200], size[24], cnt[16], now[24], defname[160];
    snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, info.sha256);
    snprintf(size, sizeof size, "%llu", (unsigned long long)info.size);
    snprintf(cnt, sizeof cnt, "%u", info.sec_cnt);
    snprintf(defname, sizeof defname, "%s-%s.%s", cls, info.version, swu ? "swu" : "bin");
    for (char *p = defname; *p; p++)
        if (*p == '+')
            *p = '_';
    now_str(now, sizeof now);
    if (rename(r->tmp_path, path) != 0) {
        ret = http_error(r, 507, "cannot store the package: %s", strerror(errno));
        goto out;
    }
    r->tmp_path[0] = '\0';
    int dfd = open(srv->artifact_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    db_rows_t id;
    /* info.signer < 0 only in the test-only mode that skips an swu package's checks */
    const char *signer = info.signer >= 0 ? db_cell(&keys, (size_t)info.signer, 0) : "(unverified: test mode)", *enc = info.encryption[0] ? info.encryption : NULL;
    if (Q(srv, &id,
          "INSERT INTO packages (sha256, sha1, md5, size, class, version, version_key, security_counter, filename,"
          " signer, uploaded_by, created, encryption) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
          " ON CONFLICT (sha256) DO NOTHING RETURNING id",
          info.sha256, info.sha1, info.md5, size, cls, info.version, info.version_key, cnt, fname ? fname : defname,
          signer, r->actor, now, enc) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    if (id.nrows == 0) { /* the same bytes committed meanwhile by another instance, for another class */
        db_rows_free(&id);
        if (Q(srv, &same, PKG_SELECT " WHERE sha256 = $1", info.sha256) != DB_OK || same.nrows == 0) {
            ret = db_fail(r);
            goto out;
        }
        ret = strcmp(db_cell(&same, 0, 5), cls) != 0
                  ? http_error(r, 409, "these bytes are already package %s of class %s", db_cell(&same, 0, 0),
                               db_cell(&same, 0, 5))
                  : http_json(r, 200, row_json(&same, pkg_cols, 0));
        goto out;
    }
    char object[32], detail[120];
    snprintf(object, sizeof object, "package:%s", db_cell(&id, 0, 0));
    snprintf(detail, sizeof detail, "%s%s%s", info.sha256, enc ? " encrypted " : "", enc ? enc : "");
    char *wrapped = enc ? content_key_wrap(srv, info.sha256, ck, ck_len) : NULL;
    if (enc && !wrapped) {
        db_rows_free(&id);
        ret = http_error(r, 500, "cannot wrap the content key");
        goto out;
    }
    bool stored = !enc || Q(srv, NULL, "INSERT INTO package_keys (package_id, wrapped, binding) VALUES ($1, $2, $3)",
                            db_cell(&id, 0, 0), wrapped, info.binding) == DB_OK;
    free(wrapped);
    db_rows_free(&id);
    if (!stored || audit(srv, r->actor, "package.upload", object, max.nrows ? db_cell(&max, 0, 0) : NULL,
                         info.version, detail) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    db_rows_t row;
    if (Q(srv, &row, PKG_SELECT " WHERE sha256 = $1", info.sha256) != DB_OK) {
        ret = db_fail(r);
        goto out;
    }
    json_t *o = row_json(&row, pkg_cols, 0);
    db_rows_free(&row);
    db_rows_free(&keys);
    db_rows_free(&max);
    OPENSSL_cleanse(ck, sizeof ck);
    if (!tx_end(srv, true)) {
        json_decref(o);
        unlink(path); /* no row names it: a re-upload stores it again */
        return db_fail(r);
    }
    return http_json(r, 201, o);
out:
    OPENSSL_cleanse(ck, sizeof ck);
    tx_end(srv, false);
    db_rows_free(&keys);
    db_rows_free(&same);
    db_rows_free(&max);
    return ret;
}

/* --- devices (operator) ------------------------------------------------------ */
static int devices_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *id = str_field(j, "id"), *cls = str_field(j, "class"), *ak = str_field(j, "attestation_key"),
               *ek = str_field(j, "encryption_key"), *tok = str_field(j, "token");
    const char *bad = !valid_name(id, 64)                             ? "id: [A-Za-z0-9._-]{1,64}"
                      : !valid_name(cls, 64)                          ? "class: a device class name"
                      : !ak                                           ? "attestation_key: a PEM public key is required"
                      : json_object_get(j, "encryption_key") && !ek   ? "encryption_key: a PEM public key"
                      : json_object_get(j, "token") && !tok           ? "token: a string"
                      : tok && (strlen(tok) < 16 || !valid_name(tok, 128)) ? "token: 16 to 128 of [A-Za-z0-9._-]"
                                                                      : NULL;
    uint8_t *der = NULL;
    size_t der_len;
    const char *type;
    if (!bad && !pkg_parse_pem(ak, &der, &der_len, &type))
        bad = "attestation_key: not a PEM public key";
    free(der);
    der = NULL;
    if (!bad && ek && !pkg_parse_pem(ek, &der, &der_len, &type))
        bad = "encryption_key: not a PEM public key";
    free(der);
    if (bad) {
        json_decref(j);
        return http_error(r, 400, "%s", bad);
    }
    char token[129], hash[65], now[24];
    if (tok)
        snprintf(token, sizeof token, "%s", tok);
    else
        random_token(token, 32);
    sha256_hex(token, strlen(token), hash);
    now_str(now, sizeof now);
    if (!tx_begin(r->srv)) {
        json_decref(j);
        return db_fail(r);
    }
    db_rows_t c;
    bool ok = Q(r->srv, &c, "SELECT 1 FROM device_classes WHERE name = $1", cls) == DB_OK;
    bool no_class = ok && c.nrows == 0;
    db_rows_free(&c);
    db_status_t st = DB_OK;
    if (ok && !no_class) {
        st = Q(r->srv, NULL,
               "INSERT INTO devices (id, class, attest_key, enc_key, token_hash, created) VALUES ($1, $2, $3, $4, $5, $6)",
               id, cls, ak, ek, hash, now);
        ok = st == DB_OK && audit(r->srv, r->actor, "device.provision", id, NULL, NULL, cls) == DB_OK;
    }
    ok = tx_end(r->srv, ok && !no_class);
    if (no_class)
        ret = http_error(r, 400, "class: no device class named %s", cls);
    else if (!ok)
        ret = st == DB_CONSTRAINT ? http_error(r, 409, "device %s exists", id) : db_fail(r);
    else /* the token is shown once; only its hash is stored */
        ret = http_json(r, 201, json_pack("{s:s,s:s,s:s}", "id", id, "class", cls, "token", token));
    json_decref(j);
    return ret;
}

#define DEV_SELECT                                                                                              \
    "SELECT d.id, d.class, d.version, d.attested_version, d.last_seen, d.attributes,"                          \
    " (SELECT a.id FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1),"                      \
    " (SELECT a.campaign_id FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1),"             \
    " (SELECT a.state FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1) FROM devices d"

static json_t *device_json(const db_rows_t *rows, size_t i)
{
    json_error_t e;
    const char *attrs = db_cell(rows, i, 5);
    json_t *o = json_pack("{s:s,s:s,s:s?,s:s?,s:o,s:o}", "id", db_cell(rows, i, 0), "class", db_cell(rows, i, 1),
                          "version", db_cell(rows, i, 2), "attested_version", db_cell(rows, i, 3), "last_seen",
                          db_cell(rows, i, 4) ? json_integer(strtoll(db_cell(rows, i, 4), NULL, 10)) : json_null(),
                          "attributes", attrs ? json_loads(attrs, 0, &e) : json_object());
    json_object_set_new(o, "action",
                        db_cell(rows, i, 6)
                            ? json_pack("{s:I,s:I,s:s}", "id", (json_int_t)strtoll(db_cell(rows, i, 6), NULL, 10),
                                        "campaign", (json_int_t)strtoll(db_cell(rows, i, 7), NULL, 10), "state",
                                        db_cell(rows, i, 8))
                            : json_null());
    return o;
}

static int devices_get(req_t *r, const char *id)
{
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = id ? Q(r->srv, &rows, DEV_SELECT " WHERE d.id = $1", id) : Q0(r->srv, &rows, DEV_SELECT " ORDER BY d.id");
    srv_unlock(r->srv);
    if (st != DB_OK)
        return db_fail(r);
    if (id && rows.nrows == 0) {
        db_rows_free(&rows);
        return http_error(r, 404, "no device %s", id);
    }
    json_t *out = id ? device_json(&rows, 0) : json_array();
    for (size_t i = 0; !id && i < rows.nrows; i++)
        json_array_append_new(out, device_json(&rows, i));
    db_rows_free(&rows);
    return http_json(r, 200, out);
}

/* --- campaigns (operator) ---------------------------------------------------- */

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

static int campaigns_create(req_t *r)
{
    int ret;
    json_t *j = http_body_json(r, &ret);
    if (!j)
        return ret;
    const char *name = str_field(j, "name"), *msg = str_field(j, "message");
    json_t *pkg = json_object_get(j, "package"), *filter = json_object_get(j, "filter"),
           *steps = json_object_get(j, "steps"), *thr = json_object_get(j, "failure_threshold"),
           *start = json_object_get(j, "start_at");
    json_t *ids = json_object_get(filter, "ids"), *attrs = json_object_get(filter, "attributes");
    char stepstr[256] = "", why[200];
    const char *bad = !name || strlen(name) == 0 || strlen(name) > 128 ? "name: 1 to 128 characters"
                      : !json_is_integer(pkg)                            ? "package: a package id"
                      : json_object_get(j, "message") && !msg            ? "message: a string"
                      : msg && strlen(msg) > 1024                        ? "message: at most 1024 bytes"
                      : filter && !json_is_object(filter) ? "filter: an object {\"ids\"?: [...], \"attributes\"?: {...}}"
                      : ids && !json_is_array(ids)        ? "filter.ids: an array of device ids"
                      : attrs && !json_is_object(attrs)   ? "filter.attributes: an object of string values"
                      : thr && (!json_is_integer(thr) || json_integer_value(thr) < 0 || json_integer_value(thr) > 100)
                          ? "failure_threshold: a percentage 0..100"
                      : start && !json_is_integer(start) ? "start_at: milliseconds since the epoch"
                                                         : NULL;
    long last = 0;
    size_t nsteps = steps ? json_array_size(steps) : 0;
    if (!bad && steps) {
        if (!json_is_array(steps) || nsteps == 0 || nsteps > 20)
            bad = "steps: 1 to 20 increasing percentages ending at 100";
        for (size_t i = 0; !bad && i < nsteps; i++) {
            json_t *s = json_array_get(steps, i);
            long v = json_is_integer(s) ? (long)json_integer_value(s) : -1;
            if (v <= last || v > 100 || (i + 1 == nsteps && v != 100))
                bad = "steps: 1 to 20 increasing percentages ending at 100";
            else
                snprintf(stepstr + strlen(stepstr), sizeof stepstr - strlen(stepstr), "%s%ld", i ? "," : "", v);
            last = v;
        }
    }
    if (!steps)
        snprintf(stepstr, sizeof stepstr, "100");
    size_t nids = ids ? json_array_size(ids) : 0;
    for (size_t i = 0; !bad && i < nids; i++)
        if (!valid_name(json_string_value(json_array_get(ids, i)), 64))
            bad = "filter.ids: an array of device ids";
    /* An unknown filter key is refused, not ignored: ignoring it would widen the
     * campaign to the whole class. */
    const char *key;
    json_t *val;
    if (!bad && filter) {
        json_object_foreach(filter, key, val)
        {
            if (strcmp(key, "ids") != 0 && strcmp(key, "attributes") != 0) {
                snprintf(why, sizeof why, "filter.%.64s: unknown key (want ids, attributes)", key);
                bad = why;
                break;
            }
        }
    }
    if (!bad && attrs) {
        json_object_foreach(attrs, key, val)
        {
            if (!json_is_string(val)) {
                snprintf(why, sizeof why, "filter.attributes.%.64s: not a string", key);
                bad = why;
                break;
            }
        }
    }
    /* hawkBit's per-action DDI modes, windows, polling interval and consent (ddi.c) */
    char *ddi = NULL;
    if (!bad)
        bad = ddi_campaign_parse(j, &ddi, why, sizeof why);
    if (bad) {
        json_decref(j);
        return http_error(r, 400, "%s", bad);
    }
    char pkgid[24], thrs[8], starts[24], now[24], fstr[32];
    snprintf(pkgid, sizeof pkgid, "%lld", (long long)json_integer_value(pkg));
    snprintf(thrs, sizeof thrs, "%lld", thr ? (long long)json_integer_value(thr) : 100LL);
    now_str(now, sizeof now);
    snprintf(starts, sizeof starts, "%lld", start ? (long long)json_integer_value(start) : 0LL);
    char *filter_s = filter ? json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(fstr, sizeof fstr, "{}");

    moltd_t *srv = r->srv;
    if (!tx_begin(srv)) {
        free(filter_s);
        free(ddi);
        json_decref(j);
        return db_fail(r);
    }
    db_rows_t p = {0}, devs = {0}, cid = {0};
    bool ok = Q(srv, &p, "SELECT class, version FROM packages WHERE id = $1", pkgid) == DB_OK;
    if (ok && p.nrows == 0) {
        ret = http_error(r, 400, "package: no package %s", pkgid);
        ok = false;
        goto out;
    }
    /* Targets are chosen once: campaigns of one class are created one at a time
     * across instances (the class row is locked till commit), so a second one
     * sees the first's open actions and skips those devices. */
    if (ok) {
        char lock_sql[128];
        db_rows_t lock = {0};
        snprintf(lock_sql, sizeof lock_sql, "SELECT name FROM device_classes WHERE name = $1%s",
                 srv_db(srv)->drv->for_update);
        ok = Q(srv, &lock, lock_sql, db_cell(&p, 0, 0)) == DB_OK;
        db_rows_free(&lock);
    }
    /* Targets: the package's class, the filter's ids and attributes if any (all must
     * hold); devices that already run this version or have an update open are skipped.
     * Ordered by id. Attributes are matched here, in C, so both backends agree. */
    ok = ok && Q(srv, &devs,
                 "SELECT d.id, d.version, d.attributes FROM devices d WHERE d.class = $1 AND (d.version IS NULL OR d.version <> $2)"
                 " AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.device_id = d.id"
                 " AND a.state IN ('assigned', 'running', 'downloaded', 'cancelling')) ORDER BY d.id",
                 db_cell(&p, 0, 0), db_cell(&p, 0, 1)) == DB_OK;
    if (!ok) {
        ret = db_fail(r);
        goto out;
    }
    size_t n = 0;
    const char **targets = calloc(devs.nrows + 1, sizeof *targets), **before = calloc(devs.nrows + 1, sizeof *before);
    for (size_t i = 0; i < devs.nrows; i++) {
        bool in = !ids;
        for (size_t k = 0; !in && k < nids; k++)
            in = strcmp(json_string_value(json_array_get(ids, k)), db_cell(&devs, i, 0)) == 0;
        if (in && attrs)
            in = attributes_match(attrs, db_cell(&devs, i, 2));
        if (in) {
            before[n] = db_cell(&devs, i, 1);
            targets[n++] = db_cell(&devs, i, 0);
        }
    }
    if (n == 0) {
        free(targets);
        free(before);
        ret = http_error(r, 409, "no device to update: none of class %s matches the filter without %s or an open update",
                         db_cell(&p, 0, 0), db_cell(&p, 0, 1));
        ok = false;
        goto out;
    }
    ok = Q(srv, &cid,
           "INSERT INTO campaigns (name, package_id, filter, steps, step, failure_threshold, message, start_at, state,"
           " created_by, created, ddi) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, 'running', $8, $9, $10) RETURNING id",
           name, pkgid, filter_s ? filter_s : fstr, stepstr, thrs, msg ? msg : "", starts, r->actor, now, ddi) == DB_OK;
    /* Device i (of n) belongs to the first step s with i < ceil(n * steps[s] / 100). */
    long pct[20];
    size_t ns = 0;
    for (char *q = stepstr; *q && ns < 20;) {
        pct[ns++] = strtol(q, &q, 10);
        if (*q == ',')
            q++;
    }
    db_status_t ast = DB_OK;
    for (size_t i = 0; ok && i < n; i++) {
        size_t s = 0;
        while (s + 1 < ns && (long)i >= ((long)n * pct[s] + 99) / 100)
            s++;
        char step[24];
        snprintf(step, sizeof step, "%zu", s);
        ast = Q(srv, NULL,
                "INSERT INTO actions (campaign_id, device_id, step, state, version_before, updated)"
                " VALUES ($1, $2, $3, 'assigned', $4, $5)",
                db_cell(&cid, 0, 0), targets[i], step, before[i], now);
        ok = ast == DB_OK;
    }
    if (ast == DB_CONSTRAINT) { /* actions_one_open: a device got an open update meanwhile */
        free(targets);
        free(before);
        ret = http_error(r, 409, "a target device got an open update meanwhile: nothing created, create it again");
        goto out;
    }
    /* the counters of each step (constant-time bookkeeping, see campaign_evaluate) */
    size_t per_step[20] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t s = 0;
        while (s + 1 < ns && (long)i >= ((long)n * pct[s] + 99) / 100)
            s++;
        per_step[s]++;
    }
    for (size_t s = 0; ok && s < ns; s++) {
        char sn[24], cnt[24];
        snprintf(sn, sizeof sn, "%zu", s);
        snprintf(cnt, sizeof cnt, "%zu", per_step[s]);
        if (per_step[s])
            ok = Q(srv, NULL,
                   "INSERT INTO campaign_steps (campaign_id, step, total_n, open_n, failed_n) VALUES ($1, $2, $3, $3, 0)",
                   db_cell(&cid, 0, 0), sn, cnt) == DB_OK;
    }
    char detail[1200];
    snprintf(detail, sizeof detail, "package %s, %zu devices, steps %s, threshold %s%%; message: %s", pkgid, n, stepstr,
             thrs, msg ? msg : "");
    ok = ok && audit(srv, r->actor, "campaign.create", db_cell(&cid, 0, 0), NULL, db_cell(&p, 0, 1), detail) == DB_OK;
    free(targets);
    free(before);
    if (!ok) {
        ret = db_fail(r);
        goto out;
    }
    long long id = strtoll(db_cell(&cid, 0, 0), NULL, 10);
    if (!tx_end(srv, true)) {
        ret = db_fail(r);
    } else {
        ret = http_json(r, 201, json_pack("{s:I,s:I,s:s}", "id", (json_int_t)id, "targets", (json_int_t)n, "state",
                                          "running"));
    }
    db_rows_free(&p);
    db_rows_free(&devs);
    db_rows_free(&cid);
    free(filter_s);
    free(ddi);
    json_decref(j);
    return ret;
out:
    tx_end(srv, false);
    db_rows_free(&p);
    db_rows_free(&devs);
    db_rows_free(&cid);
    free(filter_s);
    free(ddi);
    json_decref(j);
    return ret;
}

#define CAMP_SELECT                                                                                         \
    "SELECT c.id, c.name, c.package_id, p.version, c.steps, c.step, c.failure_threshold, c.message,"       \
    " c.start_at, c.state, c.state_reason, c.created_by, c.created FROM campaigns c"                        \
    " JOIN packages p ON p.id = c.package_id"
static const char *const camp_cols[] = {"#id",         "name",  "#package",     "version",    "steps",
                                        "#step",       "#failure_threshold", "message", "#start_at", "state",
                                        "state_reason", "created_by", "#created"};

static int campaigns_get(req_t *r, const char *id)
{
    if (!id)
        return list(r, CAMP_SELECT " ORDER BY c.id", camp_cols, NULL);
    db_rows_t rows, counts;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &rows, CAMP_SELECT " WHERE c.id = $1", id);
    db_rows_t dd = {0};
    if (st == DB_OK)
        st = Q(r->srv, &counts, "SELECT state, COUNT(*) FROM actions WHERE campaign_id = $1 GROUP BY state", id);
    if (st == DB_OK)
        st = Q(r->srv, &dd, "SELECT ddi FROM campaigns WHERE id = $1", id);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return db_fail(r);
    if (rows.nrows == 0) {
        db_rows_free(&rows);
        db_rows_free(&counts);
        db_rows_free(&dd);
        return http_error(r, 404, "no campaign %s", id);
    }
    json_t *o = row_json(&rows, camp_cols, 0), *c = json_object();
    /* the DDI modes (download, update, polling_sleep, maintenance_windows, confirm), when any was given */
    json_error_t je;
    json_t *ddi = dd.nrows && db_cell(&dd, 0, 0) ? json_loads(db_cell(&dd, 0, 0), 0, &je) : NULL;
    db_rows_free(&dd);
    if (ddi)
        json_object_set_new(o, "ddi", ddi);
    for (size_t i = 0; i < counts.nrows; i++)
        json_object_set_new(c, db_cell(&counts, i, 0), json_integer(strtoll(db_cell(&counts, i, 1), NULL, 10)));
    json_object_set_new(o, "actions", c);
    db_rows_free(&rows);
    db_rows_free(&counts);
    return http_json(r, 200, o);
}

/* pause: running -> paused (no new device starts; started ones finish).
 * resume: paused -> running (re-evaluates the step). cancel: running|paused ->
 * cancelled; unstarted actions close, started ones are asked to cancel (DDI cancelAction). */
static int campaigns_control(req_t *r, const char *id, const char *op)
{
    moltd_t *srv = r->srv;
    if (!tx_begin(srv))
        return db_fail(r);
    db_rows_t c;
    if (Q(srv, &c, "SELECT state FROM campaigns WHERE id = $1", id) != DB_OK) {
        tx_end(srv, false);
        return db_fail(r);
    }
    if (c.nrows == 0) {
        db_rows_free(&c);
        tx_end(srv, false);
        return http_error(r, 404, "no campaign %s", id);
    }
    char state[16];
    snprintf(state, sizeof state, "%s", db_cell(&c, 0, 0));
    db_rows_free(&c);
    const char *to = strcmp(op, "pause") == 0    ? (strcmp(state, "running") == 0 ? "paused" : NULL)
                     : strcmp(op, "resume") == 0 ? (strcmp(state, "paused") == 0 ? "running" : NULL)
                     /* a finished campaign can be withdrawn too: it then no longer makes its
                      * devices outdated for deferral tickets (moltd/ticket.c) */
                     : (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
                        strcmp(state, "finished") == 0)
                         ? "cancelled"
                         : NULL;
    if (!to) {
        tx_end(srv, false);
        return http_error(r, 409, "cannot %s a campaign that is %s", op, state);
    }
    char now[24], what[32];
    now_str(now, sizeof now);
    snprintf(what, sizeof what, "campaign.%s", op);
    db_rows_t upd;
    char lock_sql[128];
    snprintf(lock_sql, sizeof lock_sql, "SELECT state FROM campaigns WHERE id = $1%s", srv_db(srv)->drv->for_update);
    bool ok = Q(srv, &upd, lock_sql, id) == DB_OK; /* the campaign row, locked till commit */
    bool same = ok && upd.nrows == 1 && strcmp(db_cell(&upd, 0, 0), state) == 0;
    if (ok)
        db_rows_free(&upd);
    if (ok && !same) { /* changed meanwhile by another instance */
        tx_end(srv, false);
        return http_error(r, 409, "campaign %s changed meanwhile: %s it again", id, op);
    }
    ok = ok &&
         Q(srv, &upd, "UPDATE campaigns SET state = $2, state_reason = NULL WHERE id = $1 AND state = $3 RETURNING id",
           id, to, state) == DB_OK;
    if (ok) {
        ok = upd.nrows == 1;
        db_rows_free(&upd);
    }
    ok = ok && audit(srv, r->actor, what, id, NULL, NULL, NULL) == DB_OK;
    db_rows_t closed = {0};
    if (ok && strcmp(to, "cancelled") == 0) {
        /* the unstarted actions close: the counters of their steps go down */
        ok = Q(srv, &closed,
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
    }
    if (ok && strcmp(to, "cancelled") == 0)
        ok = Q(srv, NULL,
               "UPDATE actions SET state = 'cancelling', updated = $2 WHERE campaign_id = $1"
               " AND state IN ('running', 'downloaded')",
               id, now) == DB_OK;
    if (ok && strcmp(to, "running") == 0) /* a resume restarts the grace of tickets (ticket.c) */
        ok = ticket_step_released(srv, id, NULL) == DB_OK && campaign_evaluate(srv, id, false) == DB_OK;
    if (!tx_end(srv, ok))
        return db_fail(r);
    return campaigns_get(r, id);
}

/* --- audit (viewer) ---------------------------------------------------------- */
static int audit_get(req_t *r)
{
    static const char *const cols[] = {"#id", "#at", "actor", "what", "object", "version_before", "version_after",
                                       "detail"};
    const char *after = http_arg(r, "after");
    char num[24];
    snprintf(num, sizeof num, "%lld", after ? strtoll(after, NULL, 10) : 0LL);
    return list(r,
                "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit"
                " WHERE id > $1 ORDER BY id LIMIT 1000",
                cols, num);
}

/* --- routing ----------------------------------------------------------------- */
int mgmt_dispatch(req_t *r)
{
    int ret = 0;
    const char *m = r->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    const char *what = r->nseg >= 3 ? r->seg[2] : "", *id = r->nseg >= 4 ? r->seg[3] : NULL;
    if (r->nseg < 3 || r->nseg > 5)
        return http_error(r, 404, "no such resource");
    if (ticket_mgmt_match(r)) /* ticket key, ticket policies, quarantine (ticket.c) */
        return ticket_mgmt_dispatch(r);
    if (strcmp(what, "tokens") == 0 && r->nseg == 4) {
        if (strcmp(m, "DELETE") == 0)
            return need(r, ROLE_ADMIN, &ret) ? tokens_revoke(r, id) : ret;
    } else if (strcmp(what, "tokens") == 0 && r->nseg == 3) {
        static const char *const cols[] = {"name", "role", "#created"};
        if (post)
            return need(r, ROLE_ADMIN, &ret) ? tokens_create(r) : ret;
        if (get)
            return need(r, ROLE_ADMIN, &ret) ? list(r, "SELECT name, role, created FROM api_tokens ORDER BY name", cols, NULL) : ret;
    } else if (strcmp(what, "signers") == 0 && r->nseg == 3) {
        static const char *const cols[] = {"name", "type", "pem", "#created"};
        if (post)
            return need(r, ROLE_ADMIN, &ret) ? signers_create(r) : ret;
        if (get)
            return need(r, ROLE_VIEWER, &ret)
                       ? list(r, "SELECT name, key_type, pem, created FROM signers ORDER BY name", cols, NULL)
                       : ret;
    } else if (strcmp(what, "classes") == 0 && r->nseg == 3) {
        static const char *const cols[] = {"class", "signer", "kind"};
        if (post)
            return need(r, ROLE_ADMIN, &ret) ? classes_create(r) : ret;
        if (get)
            return need(r, ROLE_VIEWER, &ret)
                       ? list(r, "SELECT cs.class, cs.signer, dc.kind FROM class_signers cs JOIN device_classes dc"
                                    " ON dc.name = cs.class ORDER BY cs.class, cs.signer", cols, NULL)
                       : ret;
    } else if (strcmp(what, "packages") == 0 && r->nseg <= 4) {
        if (get && id && !num_id(id))
            return need(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no package %.40s", id) : ret;
        if (post && !id)
            return need(r, ROLE_OPERATOR, &ret) ? packages_upload(r) : ret;
        if (get && !need(r, ROLE_VIEWER, &ret))
            return ret;
        if (get && !id)
            return list(r, PKG_SELECT " ORDER BY id", pkg_cols, NULL);
        if (get) {
            db_rows_t rows;
            srv_lock(r->srv);
            db_status_t st = Q(r->srv, &rows, PKG_SELECT " WHERE id = $1", id);
            srv_unlock(r->srv);
            if (st != DB_OK)
                return db_fail(r);
            ret = rows.nrows ? http_json(r, 200, row_json(&rows, pkg_cols, 0)) : http_error(r, 404, "no package %s", id);
            db_rows_free(&rows);
            return ret;
        }
    } else if (strcmp(what, "devices") == 0 && r->nseg <= 4) {
        if (post && !id)
            return need(r, ROLE_OPERATOR, &ret) ? devices_create(r) : ret;
        if (get && id && !valid_name(id, 64))
            return need(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no device %s", "(malformed id)") : ret;
        if (get)
            return need(r, ROLE_VIEWER, &ret) ? devices_get(r, id) : ret;
    } else if (strcmp(what, "campaigns") == 0) {
        if (id && !num_id(id) && (get || post))
            return need(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no campaign %.40s", id) : ret;
        if (post && r->nseg == 3)
            return need(r, ROLE_OPERATOR, &ret) ? campaigns_create(r) : ret;
        if (get && r->nseg <= 4)
            return need(r, ROLE_VIEWER, &ret) ? campaigns_get(r, id) : ret;
        if (post && r->nseg == 5 &&
            (strcmp(r->seg[4], "pause") == 0 || strcmp(r->seg[4], "resume") == 0 || strcmp(r->seg[4], "cancel") == 0))
            return need(r, ROLE_OPERATOR, &ret) ? campaigns_control(r, id, r->seg[4]) : ret;
        if (r->nseg == 5)
            return http_error(r, 404, "no such resource");
    } else if (strcmp(what, "audit") == 0 && r->nseg == 3) {
        if (get)
            return need(r, ROLE_VIEWER, &ret) ? audit_get(r) : ret;
    } else {
        return http_error(r, 404, "no such resource");
    }
    return http_error(r, 405, "method %s not allowed here", m);
}
