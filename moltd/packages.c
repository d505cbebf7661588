/*
 * packages.c - the packages resource (/api/v1/packages): upload (verified as a
 * device of the class would, pkg.c / swu.c), listing and lookup.
 *
 * An upload is checked from its headers before its body is read
 * (packages_precheck), streamed to a file, verified, held to the version rule
 * (R-DEPLOY-VERSION) and then committed into the artifact store (artifacts.c)
 * with its row and audit record in one transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "moltd.h"

static const char *const pkg_cols[] = {"#id",    "sha256",      "sha1",        "md5",     "#size",
                                       "class",  "version",     "#security_counter", "filename", "signer",
                                       "uploaded_by", "#created", "encryption", "kind", "#sequence"};
#define PKG_SELECT                                                                                           \
    "SELECT id, sha256, sha1, md5, size, class, version, security_counter, filename, signer, uploaded_by, " \
    "created, encryption, kind, keyset_seq FROM packages"

/* One upload on its way into the store. */
typedef struct upload {
    const char *cls, *fname, *ckh;
    uint8_t ck[32];               /* the content key of an encrypted package */
    size_t ck_len;
    bool swu;                     /* the class's kind is swu */
    bool ku;                      /* the upload is a key-update (MKU1), of an mcuboot class */
    char signer[96];              /* who vouched: a registered signer's name, or a key of the key set */
    db_rows_t keys;               /* the class's signers: name, der_hex, pem */
    db_rows_t max;                /* the class's latest package: version, version_key, security_counter */
    pkg_info_t info;
    char path[4200];              /* where the artifact goes: <dir>/<sha256> */
} upload_t;

/* The upload's query parameters and content key header; true when refused
 * (*ret holds the answer). */
static bool upload_headers(req_t *r, upload_t *u, int *ret)
{
    u->cls = http_arg(r, "class");
    u->fname = http_arg(r, "filename");
    u->ckh = http_header(r, "X-Molt-Content-Key");
    u->ck_len = 0;
    if (!valid_name(u->cls, 64))
        *ret = http_error(r, 400, "the query parameter class=NAME is required");
    else if (u->fname && !valid_name(u->fname, 128))
        *ret = http_error(r, 400, "filename: [A-Za-z0-9._-]{1,128}");
    /* An encrypted package comes with its content key (R-CONF): moltd verifies the
     * plaintext with it and keeps it only wrapped under the KEK, for envelopes. */
    else if (u->ckh && !content_key_parse(u->ckh, u->ck, &u->ck_len))
        *ret = http_error(r, 400, "X-Molt-Content-Key: 32 or 64 hex digits (the key of molt sign --save-content-key)");
    else if (u->ckh && !r->srv->has_kek)
        *ret = http_error(r, 400, "X-Molt-Content-Key: this moltd keeps no content keys (start it with --kek-file)");
    else
        return false;
    return true;
}

bool packages_precheck(req_t *r, int *ret)
{
    upload_t u;
    bool refused = upload_headers(r, &u, ret);
    OPENSSL_cleanse(u.ck, sizeof u.ck);
    if (refused)
        return true;
    db_rows_t c;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &c,
                       "SELECT dc.kind FROM device_classes dc WHERE dc.name = $1"
                       " AND EXISTS (SELECT 1 FROM class_signers cs WHERE cs.class = dc.name)",
                       u.cls);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return *ret = http_db_error(r), true;
    bool known = c.nrows > 0, swu = known && strcmp(db_cell(&c, 0, 0), "swu") == 0;
    db_rows_free(&c);
    const char *f = u.fname;
    if (!known)
        *ret = http_error(r, 400, "class: no device class named %s", u.cls);
    /* suricatta installs only artifacts named *.swu */
    else if (swu && f && (strlen(f) < 5 || strcmp(f + strlen(f) - 4, ".swu") != 0))
        *ret = http_error(r, 400, "filename: a package of an swu class is named *.swu");
    else if (swu && u.ckh)
        *ret = http_error(r, 400, "X-Molt-Content-Key: an swu package carries its own encryption (SWUpdate's)");
    else
        return false;
    return true;
}

/* Does the upload start with a key-update's magic ("MKU1", include/molt/keyrot.h)? */
static bool is_keyupdate(const char *path)
{
    char m[4] = {0};
    FILE *f = fopen(path, "rb");
    bool ku = f && fread(m, 1, 4, f) == 4 && memcmp(m, MOLT_KEYROT_MAGIC, 4) == 0;
    if (f)
        fclose(f);
    return ku;
}

/* A key-update: lib/'s verdict on it after the class's earlier ones, with the
 * class's rotation keys and threshold (rotation.c). 422 with the KU_* reason. */
static bool upload_verify_ku(req_t *r, upload_t *u, int *ret)
{
    void *map = NULL;
    int m = pkg_map(r->tmp_path, 4096, &u->info, &map);
    if (m != 0)
        return *ret = m < 0 ? http_error(r, 500, "%s", u->info.why)
                            : http_json(r, 422, json_pack("{s:s,s:s}", "error", "not a key-update: longer than 4096 bytes",
                                                          "reason", "KU_FORMAT")),
               false;
    host_keyset_t *ks = malloc(sizeof *ks);
    int rc = ks ? class_keyset(r->srv, u->cls, map, (size_t)u->info.size, ks) : -1;
    munmap(map, (size_t)u->info.size);
    if (rc == 0 && ks->err != MOLT_OK && ks->failed < ks->n) { /* a stored one: the store is damaged */
        *ret = http_error(r, 500, "the class's stored key-update %zu no longer applies: %s", ks->failed + 1,
                          molt_err_name(ks->err));
        rc = -2;
    } else if (rc == 0 && ks->err != MOLT_OK) {
        const char *why = molt_err_str(ks->err), *name = molt_err_name(ks->err);
        *ret = http_json(r, 422, json_pack("{s:s,s:s}", "error", why, "reason", name));
    } else if (rc == 0) {
        u->ku = true;
        snprintf(u->info.version, sizeof u->info.version, "keyset-%u", ks->set.seq);
        snprintf(u->info.version_key, sizeof u->info.version_key, "keyset.%010u", ks->set.seq);
        snprintf(u->signer, sizeof u->signer, "rotation keys of %s", u->cls);
    } else if (rc != -2) {
        *ret = rc > 0 ? http_error(r, 409, "class %s has no rotation keys (PUT /api/v1/classes/%s/rotation)", u->cls, u->cls)
                      : http_error(r, 500, "cannot read the class's key set");
    }
    free(ks);
    return rc == 0 && u->ku;
}

/* An image (mcuboot class): lib/'s molt_verify with the class's signer keys,
 * or, once the class has taken a key-update, with the key set in force. */
static int image_check(req_t *r, upload_t *u, uint8_t **der, size_t *der_len, size_t nkeys)
{
    moltd_t *srv = r->srv;
    host_keyset_t *ks = calloc(1, sizeof *ks);
    int rc = ks ? class_keyset(srv, u->cls, NULL, 0, ks) : -1;
    if (rc < 0 || (rc == 0 && ks->err != MOLT_OK)) {
        free(ks);
        snprintf(u->info.why, sizeof u->info.why, "cannot read the class's key set");
        return -1;
    }
    bool rotated = rc == 0 && ks->set.seq > 0;
    const uint8_t *kd[16];
    size_t kl[16], n = rotated ? ks->nring : nkeys;
    for (size_t i = 0; i < n && i < 16; i++) {
        kd[i] = rotated ? ks->ring[i].der : der[i];
        kl[i] = rotated ? ks->ring[i].der_len : der_len[i];
    }
    pthread_mutex_lock(&srv->crypto_lock); /* lib/ verifies: one at a time (no global database lock any more) */
    int v = pkg_check(r->tmp_path, kd, kl, n < 16 ? n : 16, u->ckh ? u->ck : NULL, u->ck_len, &u->info);
    pthread_mutex_unlock(&srv->crypto_lock);
    if (v == 0 && rotated) { /* name the signer: a registered one, or the key set's key id */
        size_t s = (size_t)u->info.signer;
        char id[65];
        sha256_hex(kd[s], kl[s], id);
        snprintf(u->signer, sizeof u->signer, "key-set key %.16s", id);
        for (size_t i = 0; i < nkeys; i++)
            if (der[i] && der_len[i] == kl[s] && memcmp(der[i], kd[s], kl[s]) == 0)
                snprintf(u->signer, sizeof u->signer, "%s", db_cell(&u->keys, i, 0));
    }
    free(ks);
    return v;
}

/* Lock the class row, read its signers and verify the upload with them: 0 valid,
 * else the answer (refusal or failure). Uploads to one class are serialised
 * across instances (the class row is locked till commit), so R-DEPLOY-VERSION
 * compares with what the others committed. */
static bool upload_verify(req_t *r, upload_t *u, int *ret)
{
    moltd_t *srv = r->srv;
    db_rows_t lock = {0};
    char lock_sql[128];
    snprintf(lock_sql, sizeof lock_sql, "SELECT name, kind FROM device_classes WHERE name = $1%s",
             srv_db(srv)->drv->for_update);
    if (Q(srv, &lock, lock_sql, u->cls) != DB_OK)
        return *ret = http_db_error(r), false;
    u->swu = lock.nrows && strcmp(db_cell(&lock, 0, 1), "swu") == 0;
    db_rows_free(&lock);
    if (Q(srv, &u->keys,
          "SELECT s.name, s.der_hex, s.pem FROM class_signers cs JOIN signers s ON s.name = cs.signer"
          " WHERE cs.class = $1 ORDER BY s.name",
          u->cls) != DB_OK)
        return *ret = http_db_error(r), false;
    if (u->keys.nrows == 0)
        return *ret = http_error(r, 400, "class: no device class named %s", u->cls), false;
    if (!u->swu && is_keyupdate(r->tmp_path))
        return upload_verify_ku(r, u, ret);
    uint8_t *der[16] = {0};
    size_t der_len[16] = {0}, nkeys = u->keys.nrows < 16 ? u->keys.nrows : 16;
    for (size_t i = 0; i < nkeys; i++)
        der[i] = hex_decode(db_cell(&u->keys, i, 1), &der_len[i]);
    int v;
    if (u->swu) { /* SWUpdate: cpio, CMS over sw-description, each artifact's sha256 (swu.c) */
        const char *pems[16];
        for (size_t i = 0; i < nkeys; i++)
            pems[i] = db_cell(&u->keys, i, 2);
        v = swu_check(r->tmp_path, pems, nkeys, !srv->test_unverified_swu, &u->info);
    } else {
        v = image_check(r, u, der, der_len, nkeys);
    }
    for (size_t i = 0; i < nkeys; i++)
        free(der[i]);
    if (v == 0 && !u->signer[0])
        snprintf(u->signer, sizeof u->signer, "%s",
                 u->info.signer >= 0 ? db_cell(&u->keys, (size_t)u->info.signer, 0) : "(unverified: test mode)");
    if (v != 0)
        *ret = v < 0 ? http_error(r, 500, "%s", u->info.why)
                     : http_json(r, 422, json_pack("{s:s,s:s}", "error", u->info.why, "reason", u->info.why_name));
    return v == 0;
}

/* The package row holding these bytes, answered: 409 when it is of another
 * class, else 200 with it (stored once, content-addressed: the same bytes again
 * are the same package). */
static int answer_same(req_t *r, const upload_t *u, const db_rows_t *same)
{
    if (strcmp(db_cell(same, 0, 5), u->cls) != 0)
        return http_error(r, 409, "these bytes are already package %s of class %s", db_cell(same, 0, 0),
                          db_cell(same, 0, 5));
    return http_json(r, 200, row_json(same, pkg_cols, 0));
}

/* true when these bytes are a package already (answered in *ret), or on failure. */
static bool upload_known(req_t *r, const upload_t *u, int *ret)
{
    db_rows_t same = {0};
    if (Q(r->srv, &same, PKG_SELECT " WHERE sha256 = $1", u->info.sha256) != DB_OK)
        return *ret = http_db_error(r), true;
    bool known = same.nrows > 0;
    if (known)
        *ret = answer_same(r, u, &same);
    db_rows_free(&same);
    return known;
}

/* R-DEPLOY-VERSION: version and security counter strictly increase per device
 * class. The rule itself, without HTTP: 0 holds, 1 the version is not above
 * the latest (*detail: that version), 2 the security counter is not (*detail:
 * the highest), -1 database failure. An swu package has no security counter. */
static int version_rule(moltd_t *srv, upload_t *u, char *detail, size_t cap)
{
    if (Q(srv, &u->max,
          "SELECT version, version_key, security_counter FROM packages WHERE class = $1 AND kind = 'image'"
          " ORDER BY version_key DESC LIMIT 1",
          u->cls) != DB_OK)
        return -1;
    db_rows_t maxc = {0};
    if (Q(srv, &maxc, "SELECT MAX(security_counter) FROM packages WHERE class = $1 AND kind = 'image'", u->cls) != DB_OK)
        return -1;
    long long top_cnt = maxc.nrows && db_cell(&maxc, 0, 0) ? strtoll(db_cell(&maxc, 0, 0), NULL, 10) : -1;
    db_rows_free(&maxc);
    if (u->max.nrows && strcmp(u->info.version_key, db_cell(&u->max, 0, 1)) <= 0)
        return snprintf(detail, cap, "%s", db_cell(&u->max, 0, 0)), 1;
    if (!u->swu && u->max.nrows && (long long)u->info.sec_cnt <= top_cnt)
        return snprintf(detail, cap, "%lld", top_cnt), 2;
    return 0;
}

static bool upload_version_ok(req_t *r, upload_t *u, int *ret)
{
    if (u->ku) /* a key-update's order is its sequence number, checked by lib/ */
        return true;
    char d[64];
    int v = version_rule(r->srv, u, d, sizeof d);
    if (v < 0)
        *ret = http_db_error(r);
    else if (v > 0)
        *ret = http_json(r, 409,
                         json_pack("{s:s,s:s}", "error",
                                   v == 1 ? "version is not above the latest of this class"
                                          : "security counter is not above the latest of this class",
                                   "detail", d));
    return v == 0;
}

/* The package's row, its wrapped content key and its audit record, in the
 * open transaction; the artifact is already in place. */
static bool upload_record(req_t *r, upload_t *u, int *ret)
{
    moltd_t *srv = r->srv;
    pkg_info_t *info = &u->info;
    char size[24], cnt[16], now[24], defname[160];
    snprintf(size, sizeof size, "%llu", (unsigned long long)info->size);
    snprintf(cnt, sizeof cnt, "%u", info->sec_cnt);
    snprintf(defname, sizeof defname, "%s-%s.%s", u->cls, info->version, u->swu ? "swu" : u->ku ? "mku" : "bin");
    for (char *p = defname; *p; p++)
        if (*p == '+')
            *p = '_';
    now_str(now, sizeof now);
    db_rows_t id;
    /* info->signer < 0 only in the test-only mode that skips an swu package's checks */
    char seq[16];
    snprintf(seq, sizeof seq, "%s", u->ku ? info->version + 7 : "");
    const char *signer = u->signer, *enc = info->encryption[0] ? info->encryption : NULL;
    if (Q(srv, &id,
          "INSERT INTO packages (sha256, sha1, md5, size, class, version, version_key, security_counter, filename,"
          " signer, uploaded_by, created, encryption, kind, keyset_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
          " $12, $13, $14, $15)"
          " ON CONFLICT (sha256) DO NOTHING RETURNING id",
          info->sha256, info->sha1, info->md5, size, u->cls, info->version, info->version_key, cnt,
          u->fname ? u->fname : defname, signer, r->actor, now, enc, u->ku ? "keyupdate" : "image", u->ku ? seq : NULL) != DB_OK)
        return *ret = http_db_error(r), false;
    if (id.nrows == 0) { /* the same bytes committed meanwhile by another instance, for another class */
        db_rows_free(&id);
        db_rows_t same = {0};
        bool found = Q(srv, &same, PKG_SELECT " WHERE sha256 = $1", info->sha256) == DB_OK && same.nrows > 0;
        *ret = found ? answer_same(r, u, &same) : http_db_error(r);
        db_rows_free(&same);
        return false;
    }
    char object[32], detail[120];
    snprintf(object, sizeof object, "package:%s", db_cell(&id, 0, 0));
    snprintf(detail, sizeof detail, "%s%s%s", info->sha256, enc ? " encrypted " : "", enc ? enc : "");
    char *wrapped = enc ? content_key_wrap(srv, info->sha256, u->ck, u->ck_len) : NULL;
    if (enc && !wrapped) {
        db_rows_free(&id);
        return *ret = http_error(r, 500, "cannot wrap the content key"), false;
    }
    bool stored = !enc || Q(srv, NULL, "INSERT INTO package_keys (package_id, wrapped, binding) VALUES ($1, $2, $3)",
                            db_cell(&id, 0, 0), wrapped, info->binding) == DB_OK;
    free(wrapped);
    db_rows_free(&id);
    if (!stored || audit(srv, r->actor, "package.upload", object, u->max.nrows ? db_cell(&u->max, 0, 0) : NULL,
                         info->version, detail) != DB_OK)
        return *ret = http_db_error(r), false;
    return true;
}

/* Verify, hold to the version rule, commit into the store: false with *ret
 * when the upload stops (the caller rolls back). */
static bool upload_run(req_t *r, upload_t *u, json_t **row, int *ret)
{
    if (!upload_verify(r, u, ret) || upload_known(r, u, ret) || !upload_version_ok(r, u, ret))
        return false;
    snprintf(u->path, sizeof u->path, "%s/%s", r->srv->artifact_dir, u->info.sha256);
    if (!artifact_commit(r->srv, r->tmp_path, u->path))
        return *ret = http_error(r, 507, "cannot store the package: %s", strerror(errno)), false;
    r->tmp_path[0] = '\0';
    if (!upload_record(r, u, ret))
        return false;
    db_rows_t rows;
    if (Q(r->srv, &rows, PKG_SELECT " WHERE sha256 = $1", u->info.sha256) != DB_OK)
        return *ret = http_db_error(r), false;
    *row = row_json(&rows, pkg_cols, 0);
    db_rows_free(&rows);
    return true;
}

int packages_upload(req_t *r)
{
    moltd_t *srv = r->srv;
    upload_t u = {0};
    int ret;
    if (!valid_name(http_arg(r, "class"), 64) || (http_arg(r, "filename") && !valid_name(http_arg(r, "filename"), 128)))
        return upload_headers(r, &u, &ret), ret;
    if (r->fd < 0 || r->body_len == 0)
        return http_error(r, 400, "empty body: send the signed image as application/octet-stream");
    if (upload_headers(r, &u, &ret))
        return ret;
    if (fsync(r->fd) != 0)
        return http_error(r, 507, "cannot store the upload: %s", strerror(errno));
    if (!tx_begin(srv))
        return http_db_error(r);
    json_t *o = NULL;
    bool ok = upload_run(r, &u, &o, &ret);
    OPENSSL_cleanse(u.ck, sizeof u.ck);
    db_rows_free(&u.keys);
    db_rows_free(&u.max);
    if (!ok) {
        tx_end(srv, false);
        return ret;
    }
    if (!tx_end(srv, true)) {
        json_decref(o);
        unlink(u.path); /* no row names it: a re-upload stores it again */
        return http_db_error(r);
    }
    return http_json(r, 201, o);
}

/* GET /packages (id NULL) or /packages/{id} */
int packages_get(req_t *r, const char *id)
{
    if (!id)
        return rows_list(r, PKG_SELECT " ORDER BY id", pkg_cols, NULL);
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = Q(r->srv, &rows, PKG_SELECT " WHERE id = $1", id);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    int ret = rows.nrows ? http_json(r, 200, row_json(&rows, pkg_cols, 0)) : http_error(r, 404, "no package %s", id);
    db_rows_free(&rows);
    return ret;
}
