/*
 * auth.c - who is asking: the management API's bearer tokens and roles, and
 * the device API's target and gateway tokens. Runs from the headers alone,
 * before any body byte is read.
 *
 * Bearer tokens carry a role: viewer (read), operator (packages, devices,
 * campaigns), admin (tokens, signer keys, device classes; everything else too).
 * The bootstrap admin token comes from a file or the environment and is never
 * stored; every other token is returned once at creation and kept as its SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "moltd.h"

const char *role_name(role_t r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_OPERATOR ? "operator" : r == ROLE_VIEWER ? "viewer" : "none";
}

role_t role_parse(const char *s)
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

bool need_role(req_t *r, role_t role, int *ret)
{
    if (r->role >= role)
        return true;
    *ret = http_error(r, 403, "needs the %s role (this token is %s)", role_name(role), role_name(r->role));
    return false;
}

/* The controller id of a device API request, after its tenant; NULL with the
 * 404 answer in *ret. */
static const char *controller(req_t *r, int *ret)
{
    if (strcmp(r->seg[0], r->srv->tenant) != 0)
        return *ret = http_error(r, 404, "no tenant %s", r->seg[0]), NULL;
    if (!valid_name(r->seg[3], 64))
        return *ret = http_error(r, 404, "no such controller"), NULL;
    return r->seg[3];
}

/* Authenticated as device dev (actor "device:ID" unless a gateway speaks). */
static int as_device(req_t *r, const char *dev, bool actor, bool *refused)
{
    if (actor)
        snprintf(r->actor, sizeof r->actor, "device:%s", dev);
    snprintf(r->device, sizeof r->device, "%s", dev);
    *refused = false;
    return MHD_YES;
}

/* The device API: "TargetToken" (the device's own) or "GatewayToken" (a gateway
 * token of the tenant), for the controller id in the URL. */
int ddi_auth(req_t *r, bool *refused)
{
    moltd_t *srv = r->srv;
    *refused = true;
    int ret;
    const char *dev = controller(r, &ret);
    if (!dev)
        return ret;
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    bool target = h && strncmp(h, "TargetToken ", 12) == 0, gw = h && strncmp(h, "GatewayToken ", 13) == 0;
    if (!target && !gw)
        return http_error(r, 401, "Authorization: TargetToken or GatewayToken is required");
    const char *tok = h + (target ? 12 : 13);
    char hash[65];
    sha256_hex(tok, strlen(tok), hash);
    db_rows_t d, g = {0};
    srv_lock(srv);
    db_status_t st = Q(srv, &d, "SELECT token_hash FROM devices WHERE id = $1", dev);
    if (st == DB_OK && gw)
        st = Q(srv, &g, "SELECT name FROM api_tokens WHERE hash = $1 AND role = 'gateway'", hash);
    srv_unlock(srv);
    if (st != DB_OK)
        return http_db_error(r);
    bool known = d.nrows > 0;
    bool ok = target ? known && CRYPTO_memcmp(db_cell(&d, 0, 0), hash, 64) == 0 : g.nrows > 0;
    if (ok && gw)
        snprintf(r->actor, sizeof r->actor, "gateway:%s", db_cell(&g, 0, 0));
    db_rows_free(&d);
    db_rows_free(&g);
    /* A wrong target token and an unknown device look the same (401): no probing. */
    if (!ok)
        return http_error(r, 401, "bad %s", target ? "target token" : "gateway token");
    if (!known)
        return http_error(r, 404, "no controller %s", dev);
    return as_device(r, dev, !gw, refused);
}

/* DDI authentication by client certificate. *handled is false when the request
 * is not one (no trusted proxy, mode off, or no certificate: the proxy passed a
 * request without one, which then needs its TargetToken as usual). */
int ddi_cert_auth(req_t *r, bool *refused, bool *handled)
{
    moltd_t *srv = r->srv;
    *handled = false;
    if (!srv->cert_issuer || !http_from_proxy(r))
        return MHD_YES;
    const char *cn = http_header(r, "X-Ssl-Client-Cn");
    if (!cn)
        return MHD_YES;
    *handled = true;
    *refused = true;
    const char *issuer = http_header(r, "X-Ssl-Issuer-Hash-1");
    size_t n = strlen(srv->cert_issuer);
    if (!issuer || strlen(issuer) != n || CRYPTO_memcmp(issuer, srv->cert_issuer, n) != 0)
        return http_error(r, 401, "client certificate: not issued by the device CA this moltd trusts");
    int ret;
    const char *dev = controller(r, &ret);
    if (!dev)
        return ret;
    if (strcmp(cn, dev) != 0)
        return http_error(r, 403, "client certificate: it names another controller than %s", dev);
    db_rows_t d = {0};
    srv_lock(srv);
    db_status_t st = Q(srv, &d, "SELECT 1 FROM devices WHERE id = $1", dev);
    srv_unlock(srv);
    bool known = st == DB_OK && d.nrows > 0;
    db_rows_free(&d);
    if (st != DB_OK)
        return http_db_error(r);
    if (!known)
        return http_error(r, 404, "no controller %s", dev);
    return as_device(r, dev, true, refused);
}
