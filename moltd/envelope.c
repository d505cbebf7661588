/*
 * envelope.c - encrypted packages on the deployer's side (R-CONF, R-ONEPKG,
 * R-CHANNEL, R-DEPLOY-KEYS).
 *
 * One ciphertext serves the whole fleet; each device gets its own key envelope
 * (docs/encryption.md): the package's content key under an ECIES to that
 * device's provisioned encryption key, bound to the package's hash TLV. moltd
 * keeps the content key, given with the upload, only wrapped under its
 * key-encryption key (--kek-file; AES-256-GCM, the package's SHA-256 as
 * associated data, so a wrapped key cannot be moved to another package). A
 * device's envelope is made on its first request, stored and audited, and the
 * same bytes are served on every later request. The artifact directory (which
 * may be mirrored to a CDN) never holds a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "molt_host/encrypt.h"
#include "moltd.h"

#define GCM_IV 12
#define GCM_TAG 16

static const char aad_label[] = "molt-content-key-v1:";

bool kek_load(moltd_t *srv, const char *path, char *why, size_t cap)
{
    char line[256] = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        return false;
    }
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = 0;
    uint8_t *k = strlen(line) == 64 ? hex_decode(line, &n) : NULL;
    OPENSSL_cleanse(line, sizeof line);
    if (!k || n != 32) {
        free(k);
        snprintf(why, cap, "%s: the key-encryption key is 64 hex digits on the first line (openssl rand -hex 32)",
                 path);
        return false;
    }
    memcpy(srv->kek, k, 32);
    OPENSSL_cleanse(k, 32);
    free(k);
    srv->has_kek = true;
    return true;
}

/* AES-256-GCM under the KEK; aad = label || sha256 (hex). */
static bool gcm(const moltd_t *srv, bool seal, const char *sha256, const uint8_t *iv, const uint8_t *in, size_t len,
                uint8_t *out, uint8_t tag[GCM_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    char aad[sizeof aad_label + 64];
    snprintf(aad, sizeof aad, "%s%s", aad_label, sha256);
    int n = 0, fin = 0;
    bool ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, srv->kek, iv, seal ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
              EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 && (size_t)n == len;
    if (ok && !seal)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + len, &fin) == 1 && fin == 0;
    if (ok && seal)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

char *content_key_wrap(const moltd_t *srv, const char *sha256, const uint8_t *key, size_t len)
{
    uint8_t w[GCM_IV + 32 + GCM_TAG];
    char *hex = malloc(2 * sizeof w + 1);
    if (!hex || len > 32 || RAND_bytes(w, GCM_IV) != 1 || !gcm(srv, true, sha256, w, key, len, w + GCM_IV, w + GCM_IV + len)) {
        free(hex);
        return NULL;
    }
    host_hex(w, GCM_IV + len + GCM_TAG, hex);
    return hex;
}

static bool content_key_unwrap(const moltd_t *srv, const char *sha256, const char *hex, uint8_t key[32], size_t *len)
{
    size_t n = 0;
    uint8_t *w = hex_decode(hex, &n);
    bool ok = w && (n == GCM_IV + 16 + GCM_TAG || n == GCM_IV + 32 + GCM_TAG);
    if (ok) {
        *len = n - GCM_IV - GCM_TAG;
        ok = gcm(srv, false, sha256, w, w + GCM_IV, *len, key, w + GCM_IV + *len);
    }
    free(w);
    if (!ok)
        OPENSSL_cleanse(key, 32);
    return ok;
}

bool content_key_parse(const char *hex, uint8_t key[32], size_t *len)
{
    size_t n = strlen(hex), got = 0;
    if (n != 32 && n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", hex[i]))
            return false;
    char low[65];
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
    uint8_t *k = hex_decode(low, &got);
    OPENSSL_cleanse(low, sizeof low);
    if (!k)
        return false;
    memcpy(key, k, got);
    *len = got;
    OPENSSL_cleanse(k, got);
    free(k);
    return true;
}

bool kek_check(moltd_t *srv, char *why, size_t cap)
{
    db_rows_t r;
    if (Q0(srv, &r,
           "SELECT p.id, p.sha256, k.wrapped FROM package_keys k JOIN packages p ON p.id = k.package_id"
           " ORDER BY p.id") != DB_OK) {
        snprintf(why, cap, "database: %s", srv_db(srv)->err);
        return false;
    }
    bool ok = true;
    if (r.nrows && !srv->has_kek) {
        fprintf(stderr,
                "moltd: warning: %zu encrypted package(s) stored, no --kek-file: their devices get no key envelope\n",
                r.nrows);
    }
    for (size_t i = 0; ok && srv->has_kek && i < r.nrows; i++) {
        uint8_t key[32];
        size_t len = 0;
        ok = content_key_unwrap(srv, db_cell(&r, i, 1), db_cell(&r, i, 2), key, &len);
        OPENSSL_cleanse(key, sizeof key);
        if (!ok)
            snprintf(why, cap, "--kek-file does not open the content key of package %s (another key-encryption key?)",
                     db_cell(&r, i, 0));
    }
    db_rows_free(&r);
    return ok;
}

/* The device's encryption key as an envelope recipient, or NULL (with *type). */
static bool recipient(const char *pem, enc_key_t *k, const char **type)
{
    EVP_PKEY *pk = pem ? pkg_pem_key(pem) : NULL;
    *type = pk ? (EVP_PKEY_is_a(pk, "X25519") ? "x25519" : EVP_PKEY_is_a(pk, "RSA") ? "rsa" : "other") : "none";
    if (!pk || enc_key_adopt(pk, false, false, k) != NULL)
        return false;
    if (k->rsa) {
        enc_key_free(k);
        return false;
    }
    *type = k->x25519 ? "x25519" : "ecdsa-p256";
    return true;
}

bool envelope_capable(const char *enc_key_pem)
{
    enc_key_t k;
    const char *type;
    if (!recipient(enc_key_pem, &k, &type))
        return false;
    enc_key_free(&k);
    return true;
}

#define ENV_SELECT                                                                                        \
    "SELECT p.id, p.sha256, p.encryption, k.wrapped, k.binding, d.enc_key, e.envelope, p.version"        \
    " FROM actions a JOIN campaigns c ON c.id = a.campaign_id JOIN packages p ON p.id = c.package_id"     \
    " JOIN devices d ON d.id = a.device_id LEFT JOIN package_keys k ON k.package_id = p.id"              \
    " LEFT JOIN envelopes e ON e.device_id = a.device_id AND e.package_id = p.id"                       \
    " WHERE a.id = $1 AND a.device_id = $2 AND " ACTION_RELEASED("$3")

/* Seal a new envelope for the device of row 0 of a (ENV_SELECT), store and audit
 * it. Returns the HTTP status of a refusal, or 0 with env filled. */
static unsigned issue(req_t *r, const db_rows_t *a, uint8_t *env, size_t *env_len, char *msg, size_t cap)
{
    moltd_t *srv = r->srv;
    enc_key_t k;
    const char *type;
    if (!recipient(db_cell(a, 0, 5), &k, &type)) {
        snprintf(msg, cap,
                 strcmp(type, "none") == 0 ? "device %s has no encryption key provisioned: it cannot have an envelope"
                                           : "device %s has no ecdsa-p256 or x25519 encryption key: envelopes are ECC-only",
                 r->device);
        return 409;
    }
    uint8_t key[32], bind[65];
    size_t klen = 0, blen = 0;
    uint8_t *b = hex_decode(db_cell(a, 0, 4) ? db_cell(a, 0, 4) : "", &blen);
    unsigned status = 0;
    if (!srv->has_kek) {
        snprintf(msg, cap, "this moltd runs without --kek-file: it cannot open content keys");
        status = 503;
    } else if (!b || blen < 2 || blen > sizeof bind || !db_cell(a, 0, 3) ||
               !content_key_unwrap(srv, db_cell(a, 0, 1), db_cell(a, 0, 3), key, &klen)) {
        snprintf(msg, cap, "the content key of package %s does not open with this --kek-file", db_cell(a, 0, 0));
        status = 500;
    } else {
        memcpy(bind, b, blen);
        if (!enc_make_envelope(&k, key, klen, bind[0], bind + 1, blen - 1, env, env_len)) {
            snprintf(msg, cap, "cannot seal the envelope");
            status = 500;
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    free(b);
    enc_key_free(&k);
    if (status)
        return status;
    char hex[2 * MOLT_ENV_MAX + 1], now[24], sha[65], detail[200];
    host_hex(env, *env_len, hex);
    sha256_hex(env, *env_len, sha);
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    snprintf(detail, sizeof detail, "package %s, %s envelope, %zu bytes, sha256 %s", db_cell(a, 0, 0), type, *env_len,
             sha);
    db_rows_t ins;
    if (Q(srv, &ins,
          "INSERT INTO envelopes (device_id, package_id, envelope, created) VALUES ($1, $2, $3, $4)"
          " ON CONFLICT (device_id, package_id) DO NOTHING RETURNING device_id",
          r->device, db_cell(a, 0, 0), hex, now) != DB_OK) {
        snprintf(msg, cap, "database: %s", srv_db(srv)->err);
        return 500;
    }
    bool first = ins.nrows == 1;
    db_rows_free(&ins);
    if (!first) { /* sealed meanwhile by another instance: serve the stored one, the same bytes for ever */
        db_rows_t e;
        size_t n = 0;
        uint8_t *b2 = NULL;
        if (Q(srv, &e, "SELECT envelope FROM envelopes WHERE device_id = $1 AND package_id = $2", r->device,
              db_cell(a, 0, 0)) == DB_OK &&
            e.nrows == 1)
            b2 = hex_decode(db_cell(&e, 0, 0), &n);
        db_rows_free(&e);
        if (!b2 || n > MOLT_ENV_MAX) {
            free(b2);
            snprintf(msg, cap, "a stored envelope is malformed");
            return 500;
        }
        memcpy(env, b2, n);
        *env_len = n;
        free(b2);
        return 0;
    }
    if (audit(srv, r->actor, "envelope.issued", r->device, NULL, db_cell(a, 0, 7), detail) != DB_OK) {
        snprintf(msg, cap, "database: %s", srv_db(srv)->err);
        return 500;
    }
    return 0;
}

int envelope_get(req_t *r, const char *aid)
{
    moltd_t *srv = r->srv;
    db_rows_t a = {0};
    uint8_t env[MOLT_ENV_MAX];
    size_t env_len = 0;
    char msg[300] = "";
    unsigned status = 0;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    if (!tx_begin(srv))
        return http_db_error(r);
    if (Q(srv, &a, ENV_SELECT, aid, r->device, now) != DB_OK) {
        snprintf(msg, sizeof msg, "database: %s", srv_db(srv)->err);
        status = 500;
    } else if (a.nrows == 0) {
        snprintf(msg, sizeof msg, "no action %s for %s", aid, r->device);
        status = 404;
    } else if (!db_cell(&a, 0, 2)) {
        snprintf(msg, sizeof msg, "package %s of action %s is not encrypted: it has no key envelope", db_cell(&a, 0, 0),
                 aid);
        status = 404;
    } else if (db_cell(&a, 0, 6)) { /* issued before: the same bytes again */
        uint8_t *e = hex_decode(db_cell(&a, 0, 6), &env_len);
        if (e && env_len <= sizeof env)
            memcpy(env, e, env_len);
        else
            status = 500, snprintf(msg, sizeof msg, "a stored envelope is malformed");
        free(e);
    } else {
        status = issue(r, &a, env, &env_len, msg, sizeof msg);
    }
    db_rows_free(&a);
    if (!tx_end(srv, status == 0) && status == 0) {
        status = 500;
        snprintf(msg, sizeof msg, "database: %s", srv_db(srv)->err);
    }
    if (status)
        return http_error(r, status, "%s", msg);
    return http_reply(r, 200, "application/octet-stream", env, env_len);
}
