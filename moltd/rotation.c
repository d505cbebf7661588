/*
 * rotation.c - trusted-key rotation on the deployer's side (issue 18,
 * docs/keys.md "Delivery"):
 *   PUT /api/v1/classes/{name}/rotation {"roots": [PEM...], "threshold": T} (admin)
 *   GET /api/v1/classes/{name}/rotation (viewer)
 * and the class's key set in force: the class's signer keys (its devices'
 * factory table) moved forward by every key-update package of the class, in
 * sequence order, each applied by lib/'s molt_keyrot_apply on a key-set area in
 * host memory (host/keyupdate.c). moltd judges a new key-update, and an image
 * upload after a rotation, with exactly lib/'s verdict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moltd.h"

bool rotation_match(const req_t *r)
{
    return r->nseg == 5 && strcmp(r->seg[2], "classes") == 0 && strcmp(r->seg[4], "rotation") == 0;
}

/* Decoded DER of n rows' hex column col (malloc'd each; free with ders_free). */
static void ders_decode(const db_rows_t *rows, size_t col, uint8_t **der, molt_key_t *keys, size_t cap, size_t *n)
{
    *n = rows->nrows < cap ? rows->nrows : cap;
    for (size_t i = 0; i < *n; i++) {
        size_t len = 0;
        der[i] = hex_decode(db_cell(rows, i, col), &len);
        keys[i] = (molt_key_t){der[i], der[i] ? len : 0};
    }
}

static void ders_free(uint8_t **der, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(der[i]);
}

/* The class's accepted key-updates, read from the artifact store in order. */
static int stored_updates(moltd_t *srv, const char *cls, uint8_t **kus, size_t *lens, size_t cap, size_t *n)
{
    db_rows_t p = {0};
    *n = 0;
    if (Q(srv, &p, "SELECT sha256 FROM packages WHERE class = $1 AND kind = 'keyupdate' ORDER BY keyset_seq", cls) !=
        DB_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < p.nrows && rc == 0; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, db_cell(&p, i, 0));
        if (*n >= cap || !host_read_file(path, &kus[*n], &lens[*n]))
            rc = -1;
        else
            (*n)++;
    }
    db_rows_free(&p);
    return rc;
}

int class_keyset(moltd_t *srv, const char *cls, const uint8_t *cand, size_t cand_len, host_keyset_t *out)
{
    db_rows_t thr = {0}, roots = {0}, fac = {0};
    enum { MAXU = 1024 };
    uint8_t *rder[MOLT_KEYROT_MAX_SIG * 4] = {0}, *fder[MOLT_KEYROT_MAX_FACTORY] = {0}, **kus = calloc(MAXU, sizeof *kus);
    size_t *lens = calloc(MAXU, sizeof *lens), nr = 0, nf = 0, nu = 0;
    molt_key_t rk[MOLT_KEYROT_MAX_SIG * 4], fk[MOLT_KEYROT_MAX_FACTORY];
    int rc = -1;
    if (!kus || !lens || Q(srv, &thr, "SELECT threshold FROM class_rotation WHERE class = $1", cls) != DB_OK)
        goto out;
    rc = 1;
    if (thr.nrows == 0)
        goto out;
    rc = -1;
    if (Q(srv, &roots, "SELECT der_hex FROM class_roots WHERE class = $1 ORDER BY idx", cls) != DB_OK ||
        Q(srv, &fac,
          "SELECT s.der_hex FROM class_signers cs JOIN signers s ON s.name = cs.signer WHERE cs.class = $1"
          " ORDER BY s.name",
          cls) != DB_OK ||
        stored_updates(srv, cls, kus, lens, MAXU, &nu) != 0)
        goto out;
    ders_decode(&roots, 0, rder, rk, sizeof rk / sizeof *rk, &nr);
    ders_decode(&fac, 0, fder, fk, MOLT_KEYROT_MAX_FACTORY, &nf);
    molt_keyring_t rr = {rk, nr}, fr = {fk, nf};
    pthread_mutex_lock(&srv->crypto_lock); /* lib/'s crypto backend: one at a time */
    bool ok = host_keyupdate_replay(&rr, (uint32_t)strtoul(db_cell(&thr, 0, 0), NULL, 10), &fr,
                                    (const uint8_t *const *)kus, lens, nu, cand, cand_len, out);
    pthread_mutex_unlock(&srv->crypto_lock);
    rc = ok ? 0 : -1;
out:
    for (size_t i = 0; kus && i < nu; i++)
        free(kus[i]);
    free(kus);
    free(lens);
    ders_free(rder, nr);
    ders_free(fder, nf);
    db_rows_free(&thr);
    db_rows_free(&roots);
    db_rows_free(&fac);
    return rc;
}

/* The body of PUT: false with *ret answered when refused. */
static bool rotation_body(req_t *r, json_t *j, json_t **roots_out, uint32_t *thr, int *ret)
{
    const char *k;
    json_t *v, *roots = json_object_get(j, "roots"), *t = json_object_get(j, "threshold");
    json_object_foreach(j, k, v) if (strcmp(k, "roots") && strcmp(k, "threshold"))
    {
        *ret = http_error(r, 400, "%.64s: unknown field (rotation has roots, threshold)", k);
        return false;
    }
    if (!json_is_array(roots) || json_array_size(roots) == 0 || json_array_size(roots) > 16) {
        *ret = http_error(r, 400, "roots: 1 to 16 PEM public keys (ECDSA P-256), in the devices' root order");
        return false;
    }
    if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > MOLT_KEYROT_MAX_SIG ||
        (size_t)json_integer_value(t) > json_array_size(roots)) {
        *ret = http_error(r, 400, "threshold: an integer from 1 to %u, at most the number of roots",
                          MOLT_KEYROT_MAX_SIG);
        return false;
    }
    *thr = (uint32_t)json_integer_value(t);
    *roots_out = json_array();
    size_t i;
    json_array_foreach(roots, i, v)
    {
        uint8_t *der = NULL;
        size_t len = 0;
        const char *type = NULL, *pem = json_string_value(v);
        if (!pem || !pkg_parse_pem(pem, &der, &len, &type) || strcmp(type, "ecdsa-p256") != 0) {
            free(der);
            json_decref(*roots_out);
            *ret = http_error(r, 400, "roots[%zu]: not an ECDSA P-256 public key (PEM)", i);
            return false;
        }
        char *hex = malloc(2 * len + 1), id[65];
        host_hex(der, len, hex);
        sha256_hex(der, len, id);
        free(der);
        json_array_append_new(*roots_out, json_pack("{s:I,s:s,s:s,s:s%}", "index", (json_int_t)i, "key_id", id,
                                                     "pem", pem, "der_hex", hex, (size_t)2 * len));
        free(hex);
    }
    return true;
}

/* Store the roots and threshold, in the open transaction. 0 stored, 404 no
 * class, 409 fixed already (the class has taken a key-update), -1 failure. */
static int rotation_store(req_t *r, const char *cls, json_t *roots, uint32_t thr)
{
    db_rows_t c = {0}, n = {0};
    if (Q(r->srv, &c,
          "SELECT dc.kind, (SELECT COUNT(*) FROM class_signers cs WHERE cs.class = dc.name) FROM device_classes dc"
          " WHERE dc.name = $1",
          cls) != DB_OK ||
        Q(r->srv, &n, "SELECT COUNT(*) FROM packages WHERE class = $1 AND kind = 'keyupdate'", cls) != DB_OK)
        return -1;
    /* a key set extends at most MOLT_KEYROT_MAX_FACTORY factory keys (the class's signers), images only */
    int rc = c.nrows == 0                                                         ? 404
             : strcmp(db_cell(&n, 0, 0), "0") != 0                                ? 409
             : strcmp(db_cell(&c, 0, 0), "mcuboot") != 0 ||
                       strtoul(db_cell(&c, 0, 1), NULL, 10) > MOLT_KEYROT_MAX_FACTORY ? 422
                                                                                  : 0;
    db_rows_free(&c);
    db_rows_free(&n);
    if (rc)
        return rc;
    char now[24], t[16], idx[24], detail[600];
    now_str(now, sizeof now);
    snprintf(t, sizeof t, "%u", thr);
    int w = snprintf(detail, sizeof detail, "threshold %u of %zu:", thr, json_array_size(roots));
    if (Q(r->srv, NULL, "DELETE FROM class_roots WHERE class = $1", cls) != DB_OK ||
        Q(r->srv, NULL, "DELETE FROM class_rotation WHERE class = $1", cls) != DB_OK ||
        Q(r->srv, NULL, "INSERT INTO class_rotation (class, threshold, updated) VALUES ($1, $2, $3)", cls, t, now) !=
            DB_OK)
        return -1;
    size_t i;
    json_t *o;
    json_array_foreach(roots, i, o)
    {
        snprintf(idx, sizeof idx, "%zu", i);
        if (Q(r->srv, NULL, "INSERT INTO class_roots (class, idx, der_hex, pem) VALUES ($1, $2, $3, $4)", cls, idx,
              str_field(o, "der_hex"), str_field(o, "pem")) != DB_OK)
            return -1;
        if (w > 0 && (size_t)w < sizeof detail)
            w += snprintf(detail + w, sizeof detail - (size_t)w, " %.16s", str_field(o, "key_id"));
    }
    return audit(r->srv, r->actor, "rotation.set", cls, NULL, NULL, detail) == DB_OK ? 0 : -1;
}

static int rotation_put(req_t *r, const char *cls)
{
    int ret;
    json_t *j = http_body_json(r, &ret), *roots = NULL;
    uint32_t thr = 0;
    if (!j)
        return ret;
    if (!rotation_body(r, j, &roots, &thr, &ret)) {
        json_decref(j);
        return ret;
    }
    json_decref(j);
    if (!tx_begin(r->srv)) {
        json_decref(roots);
        return http_db_error(r);
    }
    int rc = rotation_store(r, cls, roots, thr);
    if (!tx_end(r->srv, rc == 0) || rc != 0) {
        json_decref(roots);
        return rc == 404   ? http_error(r, 404, "no device class named %s", cls)
               : rc == 409 ? http_error(r, 409, "the rotation keys of class %s are fixed: it has taken a key-update", cls)
               : rc == 422 ? http_error(r, 422, "class %s: key rotation needs an mcuboot class of at most %u signers", cls,
                                        MOLT_KEYROT_MAX_FACTORY)
                           : http_db_error(r);
    }
    size_t i;
    json_t *o;
    json_array_foreach(roots, i, o) json_object_del(o, "der_hex");
    return http_json(r, 200, json_pack("{s:s,s:I,s:o,s:I}", "class", cls, "threshold", (json_int_t)thr, "roots", roots,
                                       "seq", (json_int_t)0));
}

static int rotation_get(req_t *r, const char *cls)
{
    db_rows_t t = {0}, roots = {0}, s = {0};
    srv_lock(r->srv);
    bool ok = Q(r->srv, &t, "SELECT threshold FROM class_rotation WHERE class = $1", cls) == DB_OK &&
              Q(r->srv, &roots, "SELECT idx, der_hex, pem FROM class_roots WHERE class = $1 ORDER BY idx", cls) == DB_OK &&
              Q(r->srv, &s, "SELECT MAX(keyset_seq) FROM packages WHERE class = $1 AND kind = 'keyupdate'", cls) == DB_OK;
    srv_unlock(r->srv);
    int ret;
    if (!ok)
        ret = http_db_error(r);
    else if (t.nrows == 0)
        ret = http_error(r, 404, "device class %s has no rotation keys", cls);
    else {
        json_t *a = json_array();
        for (size_t i = 0; i < roots.nrows; i++) {
            size_t len = 0;
            uint8_t *der = hex_decode(db_cell(&roots, i, 1), &len);
            char id[65] = "";
            if (der)
                sha256_hex(der, len, id);
            free(der);
            json_array_append_new(a, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)strtoll(db_cell(&roots, i, 0), NULL, 10),
                                               "key_id", id, "pem", db_cell(&roots, i, 2)));
        }
        const char *seq = s.nrows && db_cell(&s, 0, 0) ? db_cell(&s, 0, 0) : "0";
        ret = http_json(r, 200, json_pack("{s:s,s:I,s:o,s:I}", "class", cls, "threshold",
                                          (json_int_t)strtoll(db_cell(&t, 0, 0), NULL, 10), "roots", a, "seq",
                                          (json_int_t)strtoll(seq, NULL, 10)));
    }
    db_rows_free(&t);
    db_rows_free(&roots);
    db_rows_free(&s);
    return ret;
}

int rotation_dispatch(req_t *r)
{
    int ret = 0;
    const char *cls = r->seg[3];
    if (!valid_name(cls, 64))
        return http_error(r, 404, "no device class named %s", "(malformed name)");
    if (strcmp(r->method, "PUT") == 0)
        return need_role(r, ROLE_ADMIN, &ret) ? rotation_put(r, cls) : ret;
    if (strcmp(r->method, "GET") == 0)
        return need_role(r, ROLE_VIEWER, &ret) ? rotation_get(r, cls) : ret;
    return http_error(r, 405, "method %s not allowed here", r->method);
}
