/*
 * admin.c - the administration resources of the management API: API tokens,
 * signer keys and device classes (admin role), and the audit log (viewer).
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

/* --- tokens (admin) ---------------------------------------------------------- */
int tokens_create(req_t *r)
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
        return http_db_error(r);
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
        ret = exists ? http_error(r, 409, "token %s exists", name) : http_db_error(r);
        json_decref(j);
        return ret;
    }
    ret = http_json(r, 201, json_pack("{s:s,s:s,s:s}", "name", name, "role", role, "token", token));
    json_decref(j);
    return ret;
}

/* DELETE /tokens/{name}: the token stops working at once (its hash is removed);
 * the audit log keeps token.create and token.revoke. */
int tokens_revoke(req_t *r, const char *name)
{
    if (!valid_name(name, 64))
        return http_error(r, 404, "no token %s", "(malformed name)");
    db_rows_t t = {0};
    if (!tx_begin(r->srv))
        return http_db_error(r);
    bool ok = Q(r->srv, &t, "SELECT role FROM api_tokens WHERE name = $1", name) == DB_OK;
    bool found = ok && t.nrows > 0;
    char role[16] = "";
    if (found)
        snprintf(role, sizeof role, "%s", db_cell(&t, 0, 0));
    db_rows_free(&t);
    ok = ok && found && Q(r->srv, NULL, "DELETE FROM api_tokens WHERE name = $1", name) == DB_OK &&
         audit(r->srv, r->actor, "token.revoke", name, NULL, NULL, role) == DB_OK;
    if (!tx_end(r->srv, ok))
        return found ? http_db_error(r) : http_error(r, 404, "no token %s", name);
    return http_json(r, 200, json_pack("{s:s,s:s,s:b}", "name", name, "role", role, "revoked", 1));
}

/* --- signer keys and device classes (admin) ---------------------------------- */
int signers_create(req_t *r)
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
    host_hex(der, der_len, hex);
    free(der);
    now_str(now, sizeof now);
    bool ok = tx_begin(r->srv);
    if (!ok) {
        free(hex);
        json_decref(j);
        return http_db_error(r);
    }
    db_status_t st = Q(r->srv, NULL,
                       "INSERT INTO signers (name, pem, der_hex, key_type, created) VALUES ($1, $2, $3, $4, $5)", name,
                       pem, hex, type, now);
    ok = st == DB_OK && audit(r->srv, r->actor, "signer.create", name, NULL, NULL, type) == DB_OK;
    free(hex);
    if (!tx_end(r->srv, ok)) {
        ret = st == DB_CONSTRAINT ? http_error(r, 409, "signer %s exists", name) : http_db_error(r);
        json_decref(j);
        return ret;
    }
    ret = subject[0] ? http_json(r, 201, json_pack("{s:s,s:s,s:s}", "name", name, "type", type, "certificate", subject))
                     : http_json(r, 201, json_pack("{s:s,s:s}", "name", name, "type", type));
    json_decref(j);
    return ret;
}

int classes_create(req_t *r)
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
        return http_db_error(r);
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

/* --- audit (viewer) ---------------------------------------------------------- */
int audit_get(req_t *r)
{
    static const char *const cols[] = {"#id", "#at", "actor", "what", "object", "version_before", "version_after",
                                       "detail"};
    const char *after = http_arg(r, "after");
    char num[24];
    snprintf(num, sizeof num, "%lld", after ? strtoll(after, NULL, 10) : 0LL);
    return rows_list(r,
                "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit"
                " WHERE id > $1 ORDER BY id LIMIT 1000",
                cols, num);
}

/* --- listings ------------------------------------------------------------------ */
int tokens_list(req_t *r)
{
    static const char *const cols[] = {"name", "role", "#created"};
    return rows_list(r, "SELECT name, role, created FROM api_tokens ORDER BY name", cols, NULL);
}

int signers_list(req_t *r)
{
    static const char *const cols[] = {"name", "type", "pem", "#created"};
    return rows_list(r, "SELECT name, key_type, pem, created FROM signers ORDER BY name", cols, NULL);
}

int classes_list(req_t *r)
{
    static const char *const cols[] = {"class", "signer", "kind"};
    return rows_list(r,
                     "SELECT cs.class, cs.signer, dc.kind FROM class_signers cs JOIN device_classes dc"
                     " ON dc.name = cs.class ORDER BY cs.class, cs.signer",
                     cols, NULL);
}
