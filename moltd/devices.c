/*
 * devices.c - the devices resource (/api/v1/devices): provisioning (the device
 * token is shown once, its hash is stored), listing and lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "moltd.h"

/* --- devices (operator) ------------------------------------------------------ */
int devices_create(req_t *r)
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
        return http_db_error(r);
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
        ret = st == DB_CONSTRAINT ? http_error(r, 409, "device %s exists", id) : http_db_error(r);
    else /* the token is shown once; only its hash is stored */
        ret = http_json(r, 201, json_pack("{s:s,s:s,s:s}", "id", id, "class", cls, "token", token));
    json_decref(j);
    return ret;
}

#define DEV_SELECT                                                                                              \
    "SELECT d.id, d.class, d.version, d.attested_version, d.last_seen, d.attributes,"                          \
    " (SELECT a.id FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1),"                      \
    " (SELECT a.campaign_id FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1),"             \
    " (SELECT a.state FROM actions a WHERE a.device_id = d.id ORDER BY a.id DESC LIMIT 1), d.keyset_seq FROM devices d"

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
    /* the key set the device last reported in force (a key-update's feedback); null: never */
    json_object_set_new(o, "keyset_seq",
                        db_cell(rows, i, 9) ? json_integer(strtoll(db_cell(rows, i, 9), NULL, 10)) : json_null());
    return o;
}

int devices_get(req_t *r, const char *id)
{
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = id ? Q(r->srv, &rows, DEV_SELECT " WHERE d.id = $1", id) : Q0(r->srv, &rows, DEV_SELECT " ORDER BY d.id");
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
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
