/*
 * ticket.c - deferral tickets for the authenticated watchdog (R-AVAIL, the
 * deployer's part; docs/moltd.md "Deferral tickets", docs/awdt.md).
 *
 *   POST /{tenant}/controller/v1/{id}/molt/ticket     {"nonce": 32 lowercase hex}
 *        200 {"ticket": 248 hex, "seconds": S, "boots": B}, or a refusal
 *        {"error": text, "reason": CODE}; each answer is one audit record.
 *   GET  /api/v1/ticketkey                             {"pem": the ticket key's SPKI PEM}
 *   GET|PUT|DELETE /api/v1/classes/{name}/ticketpolicy {"seconds": S, "boots": B, "grace": G}
 *   GET|PUT /api/v1/devices/{id}/quarantine            {"quarantined": bool, "reason": text}
 *
 * The ticket is include/molt/awdt.h's: "MDT1", the device identity, the
 * device's nonce, S and B little-endian, then ECDSA P-256 r || s over SHA-256
 * of those 60 bytes, by the ticket key (--ticket-key, never an image signer).
 * The identity is SHA-256 of the device's IAK as the uncompressed point
 * 0x04 || X || Y, computed from moltd's own record: the device never names it.
 *
 * Standing: a device gets a ticket unless moltd has never accepted an
 * attestation from it, its class has no policy, it is quarantined, or it is
 * outdated. Outdated: an open action released to it (campaign running, its
 * step released, start_at passed) installs a version above the ATTESTED one,
 * and was released more than the class's grace ago. The grace counts from
 * moltd's own release of the action (campaign_steps.released, or the
 * campaign's creation for step 0, whichever of that and start_at is later;
 * a resume restarts it), never from the device's first fetch, which a
 * blocking attacker controls. A device with nothing released to it is
 * current: withholding a ticket when there is nothing to install would only
 * send it into recovery for nothing (a way to brick a fleet).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "moltd.h"
#include "molt_host/ticket.h"

#define NONCE_LEN 16
#define ID_LEN 32
#define TICKET_LEN 124
#define U32_MAX_LL 4294967295LL
#define REASON_MAX 256

/* --- the key --------------------------------------------------------------- */

bool ticket_key_load(moltd_t *srv, const char *path, char *why, size_t cap)
{
    BIO *in = BIO_new_file(path, "r");
    if (!in) {
        snprintf(why, cap, "--ticket-key %s: cannot read the file", path);
        return false;
    }
    EVP_PKEY *k = PEM_read_bio_PrivateKey(in, NULL, NULL, (void *)"");
    BIO_free(in);
    char group[64] = "";
    if (!k) {
        snprintf(why, cap, "--ticket-key %s: not a PEM private key", path);
        return false;
    }
    if (!EVP_PKEY_is_a(k, "EC") ||
        !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(k);
        snprintf(why, cap, "--ticket-key %s: not an ECDSA P-256 key (the ticket key is P-256)", path);
        return false;
    }
    BIO *out = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = out && PEM_write_bio_PUBKEY(out, k) == 1 ? BIO_get_mem_data(out, &data) : 0;
    char *pem = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (pem) {
        memcpy(pem, data, (size_t)n);
        pem[n] = '\0';
    }
    BIO_free(out);
    if (!pem) {
        EVP_PKEY_free(k);
        snprintf(why, cap, "--ticket-key %s: cannot encode its public key", path);
        return false;
    }
    srv->ticket_key = k;
    srv->ticket_pub_pem = pem;
    return true;
}

/* A ticket key that is also an image signer would let whoever holds it sign
 * code, and the reverse: refused at start-up (a signer registered later with
 * the same key is the operator's mistake to avoid; docs/moltd.md). */
bool ticket_key_check(moltd_t *srv, char *why, size_t cap)
{
    if (!srv->ticket_key)
        return true;
    uint8_t *der = NULL, *p;
    int n = i2d_PUBKEY(srv->ticket_key, NULL);
    if (n <= 0 || !(der = malloc((size_t)n))) {
        snprintf(why, cap, "--ticket-key: cannot encode its public key");
        return false;
    }
    p = der;
    i2d_PUBKEY(srv->ticket_key, &p);
    char *hex = malloc(2 * (size_t)n + 1);
    if (hex)
        host_hex(der, (size_t)n, hex);
    free(der);
    db_rows_t s;
    srv_lock(srv);
    db_status_t st = hex ? Q(srv, &s, "SELECT name FROM signers WHERE der_hex = $1", hex) : DB_ERROR;
    srv_unlock(srv);
    free(hex);
    if (st != DB_OK) {
        snprintf(why, cap, "--ticket-key: cannot read the signer keys: %s", srv_db(srv)->err);
        return false;
    }
    bool clash = s.nrows > 0;
    if (clash)
        snprintf(why, cap, "--ticket-key: this key is the image signer %s; the ticket key must be a key of its own",
                 db_cell(&s, 0, 0));
    db_rows_free(&s);
    return !clash;
}

void ticket_key_free(moltd_t *srv)
{
    EVP_PKEY_free(srv->ticket_key);
    free(srv->ticket_pub_pem);
    srv->ticket_key = NULL;
    srv->ticket_pub_pem = NULL;
}

/* --- the release time of a campaign step ------------------------------------ */

db_status_t ticket_step_released(moltd_t *srv, const char *cid, const char *step)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    if (step)
        return Q(srv, NULL, "UPDATE campaign_steps SET released = $3 WHERE campaign_id = $1 AND step = $2", cid, step,
                 now);
    return Q(srv, NULL,
             "UPDATE campaign_steps SET released = $2 WHERE campaign_id = $1"
             " AND step <= (SELECT c.step FROM campaigns c WHERE c.id = $1)",
             cid, now);
}

/* --- helpers ------------------------------------------------------------------ */

/* SHA-256 of the P-256 point of a PEM public key (0x04 || X || Y). */
static bool device_identity(const char *pem, uint8_t id[ID_LEN])
{
    BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    uint8_t pub[65];
    char group[64] = "";
    size_t n = 0;
    bool ok = key && EVP_PKEY_is_a(key, "EC") &&
              EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) &&
              strcmp(group, "prime256v1") == 0 &&
              EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof pub, &n) &&
              n == 65 && pub[0] == 0x04;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok && ticket_device_id(pub, id);
}

/* "MAJ.MIN.REV" or "MAJ.MIN.REV+BUILD" (as attestation reports it); false for
 * anything else. Its sortable key is pkg.c's (pkg_version_key). */
static bool parse_attested(const char *v, molt_version_t *out)
{
    static const unsigned long long max[4] = {255, 255, 65535, 4294967295ULL};
    unsigned long long f[4] = {0};
    int i = 0;
    const char *p = v;
    if (!p)
        return false;
    for (;; i++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned long long x = 0;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
            x = x * 10 + (unsigned)(*p - '0');
            if (digits > 10 || x > max[i])
                return false;
        }
        f[i] = x;
        char want = i < 2 ? '.' : '+';
        if (*p == '\0' && i >= 2)
            break;
        if (i == 3 || *p != want)
            return false;
        p++;
    }
    *out = (molt_version_t){(uint8_t)f[0], (uint8_t)f[1], (uint16_t)f[2], (uint32_t)f[3]};
    return true;
}

static bool lower_hex(const char *s, size_t n)
{
    return s && strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* --- POST .../molt/ticket ------------------------------------------------------- */

typedef struct verdict {
    unsigned status;
    const char *reason;   /* the refusal's code; NULL: issued */
    char error[480];
    json_t *detail;       /* the audit record's detail */
} verdict_t;

__attribute__((format(printf, 4, 5))) static void refuse(verdict_t *v, unsigned status, const char *reason,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->error, sizeof v->error, fmt, ap);
    va_end(ap);
    v->status = status;
    v->reason = reason;
}

/* Is a newer version released to the device past its grace (seconds)? An
 * action of a running or finished campaign, on a released step, whose
 * package's version is above the attested one. 1 refused (v says why), 0 no,
 * -1 database error. */
static int outdated(moltd_t *srv, const char *dev, const char *attested, long long grace, verdict_t *v)
{
    /* An attested version moltd cannot read counts as the lowest: anything released is newer. */
    char key[48] = "000.000.00000.0000000000", now[24];
    molt_version_t av;
    if (parse_attested(attested, &av))
        pkg_version_key(&av, key);
    long long t = (long long)now_ms();
    snprintf(now, sizeof now, "%lld", t);
    db_rows_t a = {0};
    bool ok = Q(srv, &a,
           "SELECT a.id, p.version, COALESCE(cs.released, c.created), c.start_at, c.id FROM actions a"
           " JOIN campaigns c ON c.id = a.campaign_id JOIN packages p ON p.id = c.package_id"
           " LEFT JOIN campaign_steps cs ON cs.campaign_id = a.campaign_id AND cs.step = a.step"
           " WHERE a.device_id = $1 AND a.state NOT IN ('cancelled', 'cancelling') AND c.state IN ('running', 'finished')"
           " AND a.step <= c.step AND c.start_at <= $2 AND p.version_key > $3 ORDER BY a.id",
           dev, now, key) == DB_OK;
    int ret = ok ? 0 : -1;
    for (size_t i = 0; ret == 0 && i < a.nrows; i++) {
        long long rel = strtoll(db_cell(&a, i, 2), NULL, 10), start = strtoll(db_cell(&a, i, 3), NULL, 10);
        if (start > rel)
            rel = start;
        if (t - rel > grace * 1000) {
            refuse(v, 403, "OUTDATED",
                   "device %s runs %s (attested); %s (action %s) was released to it %lld s ago, past the grace of "
                   "%lld s: install it",
                   dev, attested, db_cell(&a, i, 1), db_cell(&a, i, 0), (t - rel) / 1000, grace);
            json_object_set_new(v->detail, "action", json_integer(strtoll(db_cell(&a, i, 0), NULL, 10)));
            json_object_set_new(v->detail, "campaign", json_integer(strtoll(db_cell(&a, i, 4), NULL, 10)));
            json_object_set_new(v->detail, "version", json_string(db_cell(&a, i, 1)));
            json_object_set_new(v->detail, "released", json_integer(rel));
            json_object_set_new(v->detail, "grace", json_integer(grace));
            ret = 1;
        }
    }
    db_rows_free(&a);
    return ret;
}

/* The decision, from the device row, its class's policy, its quarantine and its
 * open actions, read in the caller's transaction (the one that writes the audit
 * record). Returns false on a database error. */
static bool decide(req_t *r, verdict_t *v, const uint8_t nonce[NONCE_LEN], char attested[64], uint8_t ticket[TICKET_LEN],
                   long long *secs, long long *boots)
{
    moltd_t *srv = r->srv;
    db_rows_t d = {0}, pol = {0}, q = {0};
    bool ok = Q(srv, &d, "SELECT attest_key, attested_version, class FROM devices WHERE id = $1", r->device) == DB_OK;
    if (!ok)
        return false;
    uint8_t id[ID_LEN];
    if (d.nrows == 0) {
        refuse(v, 404, "NO_DEVICE", "no controller %s", r->device);
        goto out;
    }
    if (db_cell(&d, 0, 1))
        snprintf(attested, 64, "%s", db_cell(&d, 0, 1));
    if (!db_cell(&d, 0, 1)) {
        refuse(v, 409, "NOT_ATTESTED",
               "moltd has accepted no attestation from %s, so it does not know what the device runs"
               " (attest first: molt/attestation)",
               r->device);
        goto out;
    }
    if (!device_identity(db_cell(&d, 0, 0), id)) {
        refuse(v, 409, "NOT_ATTESTED", "the attestation key provisioned for %s is not an ECDSA P-256 key", r->device);
        goto out;
    }
    ok = Q(srv, &pol, "SELECT seconds, boots, grace FROM ticket_policies WHERE class = $1", db_cell(&d, 0, 2)) == DB_OK;
    if (!ok)
        goto out;
    if (pol.nrows == 0) {
        refuse(v, 409, "NO_POLICY", "device class %s has no ticket policy", db_cell(&d, 0, 2));
        goto out;
    }
    ok = Q(srv, &q, "SELECT reason FROM device_quarantine WHERE device_id = $1", r->device) == DB_OK;
    if (!ok)
        goto out;
    if (q.nrows > 0) {
        refuse(v, 403, "QUARANTINED", "device %s is quarantined: %s", r->device, db_cell(&q, 0, 0));
        goto out;
    }
    *secs = strtoll(db_cell(&pol, 0, 0), NULL, 10);
    *boots = strtoll(db_cell(&pol, 0, 1), NULL, 10);
    int old = outdated(srv, r->device, attested, strtoll(db_cell(&pol, 0, 2), NULL, 10), v);
    ok = old >= 0;
    if (old != 0)
        goto out;
    /* the one ticket signer, shared with `molt ticket` (host/ticket.c) */
    if (!ticket_make(srv->ticket_key, id, nonce, (uint32_t)*secs, (uint32_t)*boots, ticket, NULL))
        refuse(v, 500, "SIGN_FAILED", "cannot sign the ticket");
out:
    db_rows_free(&d);
    db_rows_free(&pol);
    db_rows_free(&q);
    return ok;
}

int ticket_issue(req_t *r)
{
    moltd_t *srv = r->srv;
    if (strcmp(r->method, "POST") != 0)
        return http_error(r, 405, "method %s not allowed here", r->method);
    verdict_t v = {.status = 200, .detail = json_object()};
    uint8_t nonce[NONCE_LEN] = {0}, ticket[TICKET_LEN];
    char nonce_hex[2 * NONCE_LEN + 1] = "", attested[64] = "";
    long long secs = 0, boots = 0;
    json_error_t e;
    json_t *body = r->body_len ? json_loadb(r->body, r->body_len, 0, &e) : NULL;
    const char *nh = json_string_value(json_object_get(body, "nonce"));
    if (lower_hex(nh, 2 * NONCE_LEN)) {
        snprintf(nonce_hex, sizeof nonce_hex, "%s", nh);
        size_t n = 0;
        uint8_t *b = hex_decode(nonce_hex, &n);
        if (b && n == NONCE_LEN)
            memcpy(nonce, b, NONCE_LEN);
        else
            nonce_hex[0] = '\0';
        free(b);
    }
    json_decref(body);
    json_object_set_new(v.detail, "nonce", nonce_hex[0] ? json_string(nonce_hex) : json_null());
    if (!srv->ticket_key)
        refuse(&v, 503, "NO_TICKET_KEY", "no ticket key");
    else if (!nonce_hex[0])
        refuse(&v, 400, "MALFORMED", "want {\"nonce\": 32 lowercase hex digits (the 16-byte nonce the device issued)}");
    if (!tx_begin(srv)) {
        json_decref(v.detail);
        return http_db_error(r);
    }
    bool ok = v.reason || decide(r, &v, nonce, attested, ticket, &secs, &boots);
    char ticket_hex[2 * TICKET_LEN + 1];
    if (ok && !v.reason) {
        char h[65];
        host_hex(ticket, TICKET_LEN, ticket_hex);
        sha256_hex(ticket, TICKET_LEN, h);
        json_object_set_new(v.detail, "seconds", json_integer(secs));
        json_object_set_new(v.detail, "boots", json_integer(boots));
        json_object_set_new(v.detail, "ticket_sha256", json_string(h));
    } else if (ok) {
        json_object_set_new(v.detail, "reason", json_string(v.reason));
    }
    char *det = ok ? json_dumps(v.detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(v.detail);
    /* The record is written with the reads the decision rests on: no ticket
     * leaves moltd without its record. */
    ok = ok && det &&
         audit(srv, r->actor, v.reason ? "ticket.refused" : "ticket.issued", r->device, attested[0] ? attested : NULL,
               NULL, det) == DB_OK;
    free(det);
    if (!tx_end(srv, ok))
        return http_db_error(r);
    if (v.reason) {
        for (char *p = v.error; *p; p++) /* quoted text (a quarantine reason) stays printable ASCII */
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        return http_json(r, v.status, json_pack("{s:s,s:s}", "error", v.error, "reason", v.reason));
    }
    return http_json(r, 200,
                     json_pack("{s:s,s:I,s:I}", "ticket", ticket_hex, "seconds", (json_int_t)secs, "boots",
                               (json_int_t)boots));
}

/* --- management ------------------------------------------------------------------ */

bool ticket_mgmt_match(const req_t *r)
{
    return (r->nseg == 3 && strcmp(r->seg[2], "ticketkey") == 0) ||
           (r->nseg == 5 && strcmp(r->seg[2], "classes") == 0 && strcmp(r->seg[4], "ticketpolicy") == 0) ||
           (r->nseg == 5 && strcmp(r->seg[2], "devices") == 0 && strcmp(r->seg[4], "quarantine") == 0);
}

static json_t *policy_json(const char *cls, const db_rows_t *p)
{
    return json_pack("{s:s,s:I,s:I,s:I}", "class", cls, "seconds", (json_int_t)strtoll(db_cell(p, 0, 0), NULL, 10),
                     "boots", (json_int_t)strtoll(db_cell(p, 0, 1), NULL, 10), "grace",
                     (json_int_t)strtoll(db_cell(p, 0, 2), NULL, 10));
}

/* {"seconds": 1..2^32-1, "boots": 1..2^32-1, "grace": 0..2^32-1 seconds}; NULL
 * when good, else the message naming the bad field. */
static const char *policy_parse(json_t *j, long long f[3], char *why, size_t cap)
{
    static const char *const names[] = {"seconds", "boots", "grace"};
    if (!json_is_object(j))
        return "want {\"seconds\": S, \"boots\": B, \"grace\": G} (integers; S, B >= 1; G >= 0 seconds)";
    const char *k;
    json_t *val;
    json_object_foreach(j, k, val)
    {
        if (strcmp(k, "seconds") && strcmp(k, "boots") && strcmp(k, "grace")) {
            snprintf(why, cap, "%.64s: unknown field (want seconds, boots, grace)", k);
            return why;
        }
    }
    for (int i = 0; i < 3; i++) {
        json_t *x = json_object_get(j, names[i]);
        long long lo = i < 2 ? 1 : 0;
        if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > U32_MAX_LL) {
            snprintf(why, cap, "%s: an integer from %lld to %lld%s", names[i], lo, U32_MAX_LL,
                     i == 0 ? " (seconds of device time)" : i == 1 ? " (boots)" : " (seconds)");
            return why;
        }
        f[i] = (long long)json_integer_value(x);
    }
    return NULL;
}

static int policy_route(req_t *r, const char *cls)
{
    moltd_t *srv = r->srv;
    int ret;
    bool get = strcmp(r->method, "GET") == 0, put = strcmp(r->method, "PUT") == 0,
         del = strcmp(r->method, "DELETE") == 0;
    if (!get && !put && !del)
        return http_error(r, 405, "method %s not allowed here", r->method);
    if (!need_role(r, get ? ROLE_VIEWER : ROLE_ADMIN, &ret))
        return ret;
    if (!valid_name(cls, 64))
        return http_error(r, 404, "no device class %s", "(malformed name)");
    long long f[3] = {0};
    char why[160], fs[3][24];
    json_t *j = NULL;
    if (put) {
        if (!(j = http_body_json(r, &ret)))
            return ret;
        const char *bad = policy_parse(j, f, why, sizeof why);
        json_decref(j);
        if (bad)
            return http_error(r, 400, "%s", bad);
        for (int i = 0; i < 3; i++)
            snprintf(fs[i], sizeof fs[i], "%lld", f[i]);
    }
    if (!tx_begin(srv))
        return http_db_error(r);
    db_rows_t c = {0}, p = {0};
    bool ok = Q(srv, &c, "SELECT 1 FROM device_classes WHERE name = $1", cls) == DB_OK &&
              Q(srv, &p, "SELECT seconds, boots, grace FROM ticket_policies WHERE class = $1", cls) == DB_OK;
    bool known = ok && c.nrows > 0, had = ok && p.nrows > 0;
    json_t *before = had ? policy_json(cls, &p) : NULL;
    db_rows_free(&c);
    db_rows_free(&p);
    if (ok && (!known || (!put && !had))) {
        tx_end(srv, false);
        json_decref(before);
        return !known ? http_error(r, 404, "no device class %s", cls)
                      : http_error(r, 404, "device class %s has no ticket policy", cls);
    }
    if (get) {
        tx_end(srv, ok);
        return ok ? http_json(r, 200, before) : http_db_error(r);
    }
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    json_t *after = put ? json_pack("{s:s,s:I,s:I,s:I}", "class", cls, "seconds", (json_int_t)f[0], "boots",
                                    (json_int_t)f[1], "grace", (json_int_t)f[2])
                        : NULL;
    json_t *d = json_pack("{s:O?,s:O?}", "before", before, "after", after);
    char *det = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    json_decref(before);
    if (put)
        ok = ok &&
             Q(srv, NULL,
               "INSERT INTO ticket_policies (class, seconds, boots, grace, updated) VALUES ($1, $2, $3, $4, $5)"
               " ON CONFLICT (class) DO UPDATE SET seconds = excluded.seconds, boots = excluded.boots,"
               " grace = excluded.grace, updated = excluded.updated",
               cls, fs[0], fs[1], fs[2], now) == DB_OK;
    else
        ok = ok && Q(srv, NULL, "DELETE FROM ticket_policies WHERE class = $1", cls) == DB_OK;
    ok = ok && det && audit(srv, r->actor, put ? "ticketpolicy.set" : "ticketpolicy.delete", cls, NULL, NULL, det) == DB_OK;
    free(det);
    if (!tx_end(srv, ok)) {
        json_decref(after);
        return http_db_error(r);
    }
    return put ? http_json(r, 200, after) : http_json(r, 200, json_pack("{s:s,s:b}", "class", cls, "deleted", 1));
}

static json_t *quarantine_json(const char *dev, const db_rows_t *q)
{
    bool in = q->nrows > 0;
    return json_pack("{s:s,s:b,s:s?,s:o,s:s?}", "id", dev, "quarantined", in, "reason", in ? db_cell(q, 0, 0) : NULL,
                     "since", in ? json_integer(strtoll(db_cell(q, 0, 1), NULL, 10)) : json_null(), "by",
                     in ? db_cell(q, 0, 2) : NULL);
}

/* The body of PUT .../quarantine: NULL when valid (*set, *reason: borrowed
 * from j), else the 400 message. */
static const char *quarantine_parse(json_t *j, bool *set, const char **reason, char *why, size_t cap)
{
    json_t *qv = json_object_get(j, "quarantined"), *rv = json_object_get(j, "reason");
    const char *k, *bad = NULL;
    json_t *val;
    json_object_foreach(j, k, val) if (!bad && strcmp(k, "quarantined") && strcmp(k, "reason"))
    {
        snprintf(why, cap, "%.64s: unknown field (want quarantined, reason)", k);
        bad = why;
    }
    *set = json_is_true(qv);
    *reason = json_string_value(rv);
    if (!bad && !json_is_boolean(qv))
        bad = "quarantined: true or false";
    else if (!bad && rv && !json_is_null(rv) && (!*reason || strlen(*reason) > REASON_MAX))
        bad = "reason: a string of at most 256 bytes";
    else if (!bad && *set && (!*reason || !(*reason)[0]))
        bad = "reason: required to quarantine a device (1 to 256 bytes)";
    return bad;
}

static int quarantine_route(req_t *r, const char *dev)
{
    moltd_t *srv = r->srv;
    int ret;
    bool get = strcmp(r->method, "GET") == 0, put = strcmp(r->method, "PUT") == 0;
    if (!get && !put)
        return http_error(r, 405, "method %s not allowed here", r->method);
    if (!need_role(r, get ? ROLE_VIEWER : ROLE_OPERATOR, &ret))
        return ret;
    if (!valid_name(dev, 64))
        return http_error(r, 404, "no device %s", "(malformed id)");
    json_t *j = NULL;
    bool set = false;
    const char *reason = NULL;
    if (put) {
        if (!(j = http_body_json(r, &ret)))
            return ret;
        char why[160];
        const char *bad = quarantine_parse(j, &set, &reason, why, sizeof why);
        if (bad) {
            json_decref(j);
            return http_error(r, 400, "%s", bad);
        }
    }
    if (!tx_begin(srv)) {
        json_decref(j);
        return http_db_error(r);
    }
    db_rows_t d = {0}, q = {0};
    bool ok = Q(srv, &d, "SELECT 1 FROM devices WHERE id = $1", dev) == DB_OK &&
              Q(srv, &q, "SELECT reason, since, actor FROM device_quarantine WHERE device_id = $1", dev) == DB_OK;
    bool known = ok && d.nrows > 0, was = ok && q.nrows > 0;
    db_rows_free(&d);
    if (ok && !known) {
        tx_end(srv, false);
        db_rows_free(&q);
        json_decref(j);
        return http_error(r, 404, "no device %s", dev);
    }
    bool change = put && ok && (set != was || (set && strcmp(db_cell(&q, 0, 0), reason) != 0));
    if (change) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)now_ms());
        if (set)
            ok = Q(srv, NULL,
                   "INSERT INTO device_quarantine (device_id, reason, since, actor) VALUES ($1, $2, $3, $4)"
                   " ON CONFLICT (device_id) DO UPDATE SET reason = excluded.reason, actor = excluded.actor",
                   dev, reason, now, r->actor) == DB_OK;
        else
            ok = Q(srv, NULL, "DELETE FROM device_quarantine WHERE device_id = $1", dev) == DB_OK;
        ok = ok && audit(srv, r->actor, set ? "device.quarantine" : "device.unquarantine", dev, NULL, NULL,
                         reason) == DB_OK;
    }
    json_decref(j);
    if (ok && change) {
        db_rows_free(&q);
        ok = Q(srv, &q, "SELECT reason, since, actor FROM device_quarantine WHERE device_id = $1", dev) == DB_OK;
    }
    if (!tx_end(srv, ok)) {
        db_rows_free(&q);
        return http_db_error(r);
    }
    json_t *out = quarantine_json(dev, &q);
    db_rows_free(&q);
    return http_json(r, 200, out);
}

int ticket_mgmt_dispatch(req_t *r)
{
    int ret;
    if (r->nseg == 3) { /* ticketkey */
        if (strcmp(r->method, "GET") != 0)
            return http_error(r, 405, "method %s not allowed here", r->method);
        if (!need_role(r, ROLE_VIEWER, &ret))
            return ret;
        if (!r->srv->ticket_pub_pem)
            return http_error(r, 503, "no ticket key");
        return http_json(r, 200, json_pack("{s:s}", "pem", r->srv->ticket_pub_pem));
    }
    if (strcmp(r->seg[2], "classes") == 0)
        return policy_route(r, r->seg[3]);
    return quarantine_route(r, r->seg[3]);
}
