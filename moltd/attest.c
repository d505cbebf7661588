/*
 * attest.c - molt's attestation extension of the device API (R-ATTEST,
 * deployer side), under the DDI base /{tenant}/controller/v1/{id}:
 *
 *   GET  .../molt/attestation   a fresh 32-byte challenge for this device:
 *                               200 {"nonce": hex, "expires": ms}. One per
 *                               device: a new one replaces the last.
 *   POST .../molt/attestation   the token itself (Content-Type:
 *                               application/cbor, the raw COSE_Sign1 bytes).
 *                               moltd verifies it with the device's provisioned
 *                               IAK (host/attest_check.c, the same checks as
 *                               `molt attest verify`) against the outstanding
 *                               challenge, consumes the challenge, records the
 *                               running image's version and measurement in the
 *                               device row and the evidence in the audit log
 *                               (attest.verified), all in one transaction.
 *
 * Refusals change nothing (the challenge stays until it expires): 409 no
 * outstanding challenge (never asked, already used, expired), 415 not CBOR,
 * 400 empty body, 422 the token does not verify (reason from the checker:
 * wrong key, wrong nonce, malformed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "molt_host/attest_check.h"
#include "moltd.h"

#define CHALLENGE_LEN 32

static int challenge(req_t *r)
{
    moltd_t *srv = r->srv;
    uint8_t nonce[CHALLENGE_LEN];
    char hex[2 * CHALLENGE_LEN + 1], exp[24];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return http_error(r, 500, "no random source");
    host_hex(nonce, sizeof nonce, hex);
    long long expires = (long long)now_ms() + (long long)srv->attest_ttl * 1000;
    snprintf(exp, sizeof exp, "%lld", expires);
    if (!tx_begin(srv))
        return http_db_error(r);
    /* an upsert: of two concurrent requests (two instances), the last one's challenge stands */
    bool ok = Q(srv, NULL,
                "INSERT INTO attest_challenges (device_id, nonce, expires) VALUES ($1, $2, $3)"
                " ON CONFLICT (device_id) DO UPDATE SET nonce = excluded.nonce, expires = excluded.expires",
                r->device, hex, exp) == DB_OK;
    if (!tx_end(srv, ok))
        return http_db_error(r);
    return http_json(r, 200, json_pack("{s:s,s:I}", "nonce", hex, "expires", (json_int_t)expires));
}

/* The raw P-256 point of a PEM public key. */
static bool pem_point(const char *pem, uint8_t pub[65])
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    char group[64] = "";
    size_t n = 0;
    bool ok = key && EVP_PKEY_is_a(key, "EC") &&
              EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) &&
              strcmp(group, "prime256v1") == 0 &&
              EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, 65, &n) && n == 65 &&
              pub[0] == 0x04;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The device's outstanding challenge (its nonce, hex), its attestation key
 * (the P-256 point) and the version it attested last; false with the answer in
 * *ret when there is no challenge or no usable key. */
static bool outstanding(req_t *r, char nonce_hex[2 * CHALLENGE_LEN + 1], uint8_t pub[65], char before[64], int *ret)
{
    moltd_t *srv = r->srv;
    db_rows_t d, c = {0};
    srv_lock(srv);
    db_status_t st = Q(srv, &d, "SELECT attest_key, attested_version FROM devices WHERE id = $1", r->device);
    if (st == DB_OK)
        st = Q(srv, &c, "SELECT nonce, expires FROM attest_challenges WHERE device_id = $1", r->device);
    srv_unlock(srv);
    if (st != DB_OK)
        return *ret = http_db_error(r), false;
    bool have = c.nrows > 0 && strtoll(db_cell(&c, 0, 1), NULL, 10) > now_ms();
    if (have)
        snprintf(nonce_hex, 2 * CHALLENGE_LEN + 1, "%s", db_cell(&c, 0, 0));
    bool key_ok = d.nrows > 0 && pem_point(db_cell(&d, 0, 0), pub);
    if (d.nrows > 0 && db_cell(&d, 0, 1))
        snprintf(before, 64, "%s", db_cell(&d, 0, 1));
    db_rows_free(&d);
    db_rows_free(&c);
    if (!have)
        return *ret = http_error(r, 409, "no outstanding challenge for %s (GET molt/attestation first; a challenge is "
                                  "used once and expires)", r->device), false;
    if (!key_ok)
        return *ret = http_error(r, 422, "the attestation key provisioned for %s is not an ECDSA P-256 key", r->device),
               false;
    return true;
}

static int token(req_t *r)
{
    moltd_t *srv = r->srv;
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncmp(ct, "application/cbor", 16) != 0)
        return http_error(r, 415, "the token is sent as Content-Type: application/cbor");
    if (r->body_len == 0)
        return http_error(r, 400, "empty body: the attestation token is required");
    char nonce_hex[2 * CHALLENGE_LEN + 1] = "", before[64] = "";
    uint8_t pub[65];
    int ret;
    if (!outstanding(r, nonce_hex, pub, before, &ret))
        return ret;
    size_t nlen = 0;
    uint8_t *nonce = hex_decode(nonce_hex, &nlen);
    attest_verdict_t v;
    memset(&v, 0, sizeof v);
    bool good = nonce && attest_check_token((const uint8_t *)r->body, r->body_len, pub, nonce, nlen, &v);
    free(nonce);
    if (!good)
        return http_error(r, 422, "attestation token refused: %s", v.reason ? v.reason : "out of memory");
    /* The running image: the component measured as "App". */
    json_t *comps = json_object_get(v.claims, "software_components"), *sc, *run = NULL;
    size_t i;
    json_array_foreach(comps, i, sc) if (!run && jstr(sc, "measurement_type") &&
                                         strcmp(jstr(sc, "measurement_type"), "App") == 0) run = sc;
    if (!run) {
        json_decref(v.claims);
        return http_error(r, 422, "attestation token refused: no component of type App (the running image)");
    }
    const char *ver = jstr(run, "version") ? jstr(run, "version") : "";
    char tokhash[65], now[24];
    sha256_hex(r->body, r->body_len, tokhash);
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:O,s:O,s:s?,s:O}", "token_sha256", tokhash, "nonce", nonce_hex,
                           "measurement", jstr(run, "measurement_value"), "signer_id", jstr(run, "signer_id"),
                           "security_counter", json_object_get(v.claims, "security_counter"), "boot_seed",
                           json_object_get(v.claims, "boot_seed"), "instance_id", jstr(v.claims, "instance_id"),
                           "software_components", comps);
    char *evs = ev ? json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ev);
    db_rows_t again;
    if (!evs || !tx_begin(srv)) {
        free(evs);
        json_decref(v.claims);
        return http_db_error(r);
    }
    /* The challenge is consumed in the same transaction: a concurrent upload of
     * the same token finds it gone (serialised by the write transaction). */
    bool ok = Q(srv, &again, "DELETE FROM attest_challenges WHERE device_id = $1 AND nonce = $2 RETURNING device_id",
                r->device, nonce_hex) == DB_OK; /* conditional: one of two instances consumes it */
    bool still = ok && again.nrows > 0;
    if (ok)
        db_rows_free(&again);
    ok = ok && still &&
         Q(srv, NULL, "UPDATE devices SET attested_version = $2, attested_hash = $3, attested_at = $4 WHERE id = $1",
           r->device, ver, jstr(run, "measurement_value"), now) == DB_OK &&
         audit(srv, r->actor, "attest.verified", r->device, before[0] ? before : NULL, ver, evs) == DB_OK;
    bool committed = tx_end(srv, ok);
    free(evs);
    if (!still)
        ret = http_error(r, 409, "no outstanding challenge for %s (used by another upload)", r->device);
    else if (!committed)
        ret = http_db_error(r);
    else
        ret = http_json(r, 200, json_pack("{s:s,s:s,s:O}", "attested_version", ver, "measurement",
                                          jstr(run, "measurement_value"), "security_counter",
                                          json_object_get(v.claims, "security_counter")));
    json_decref(v.claims);
    return ret;
}

int attest_dispatch(req_t *r)
{
    if (strcmp(r->method, "GET") == 0)
        return challenge(r);
    if (strcmp(r->method, "POST") == 0)
        return token(r);
    return http_error(r, 405, "method %s not allowed here", r->method);
}
