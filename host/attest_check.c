/*
 * attest_check.c - verification of a device's attestation token, shared by
 * `molt attest verify` (tools/cmd_attest.c) and moltd's attestation endpoint
 * (moltd/attest.c). The token is decoded with libcbor and verified with
 * OpenSSL, independently of libmolt's encoder (R-ATTEST); attest_check.h
 * lists the checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "molt_host/attest_check.h"
#include "molt/attest.h"

/* An EVP_PKEY for a raw P-256 point (0x04 || X || Y). */
EVP_PKEY *attest_p256_from_point(const uint8_t pub[65])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 65);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* --- CBOR helpers -------------------------------------------------------- */

static void put_head(uint8_t *buf, size_t *pos, unsigned major, uint64_t arg)
{
    uint8_t mt = (uint8_t)(major << 5);
    int n = arg < 24 ? 0 : arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffu ? 4 : 8;
    buf[(*pos)++] = (uint8_t)(mt | (n == 0 ? arg : n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
    for (int i = n - 1; i >= 0; i--)
        buf[(*pos)++] = (uint8_t)(arg >> (8 * i));
}

static bool item_int(const cbor_item_t *it, int64_t *v)
{
    if (cbor_isa_uint(it) && cbor_get_int(it) <= (uint64_t)INT64_MAX) {
        *v = (int64_t)cbor_get_int(it);
        return true;
    }
    if (cbor_isa_negint(it) && cbor_get_int(it) <= (uint64_t)INT64_MAX) {
        *v = -1 - (int64_t)cbor_get_int(it);
        return true;
    }
    return false;
}

static bool is_bstr(const cbor_item_t *it)
{
    return it != NULL && cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

static bool is_tstr(const cbor_item_t *it)
{
    return it != NULL && cbor_isa_string(it) && cbor_string_is_definite(it);
}

/* The value of integer key k in a definite map, NULL if absent. */
static cbor_item_t *map_get(const cbor_item_t *map, int64_t k)
{
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        int64_t v;
        if (item_int(p[i].key, &v) && v == k)
            return p[i].value;
    }
    return NULL;
}

/* Every key an integer, none twice. */
static bool map_keys_ok(const cbor_item_t *map, int64_t *dup)
{
    struct cbor_pair *p = cbor_map_handle(map);
    size_t n = cbor_map_size(map);
    for (size_t i = 0; i < n; i++) {
        int64_t a, b;
        if (!item_int(p[i].key, &a)) {
            *dup = INT64_MIN;
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (item_int(p[j].key, &b) && a == b) {
                *dup = a;
                return false;
            }
    }
    return true;
}

static char *hexdup(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static json_t *json_hex(const cbor_item_t *bstr)
{
    char *s = hexdup(cbor_bytestring_handle(bstr), cbor_bytestring_length(bstr));
    json_t *j = json_string(s ? s : "");
    free(s);
    return j;
}

static json_t *json_text(const cbor_item_t *tstr)
{
    return json_stringn((const char *)cbor_string_handle(tstr), cbor_string_length(tstr));
}

static const char *lifecycle_name(uint64_t lc)
{
    switch (lc & 0xf000u) {
    case 0x0000: return "unknown";
    case 0x1000: return "assembly-and-test";
    case 0x2000: return "psa-rot-provisioning";
    case 0x3000: return "secured";
    case 0x4000: return "non-psa-rot-debug";
    case 0x5000: return "recoverable-psa-rot-debug";
    case 0x6000: return "decommissioned";
    }
    return "invalid";
}

static bool hash_size_ok(size_t n)
{
    return n == 32 || n == 48 || n == 64;
}

/* --- bounding the decoder -------------------------------------------------- */

/* libcbor allocates what a definite length claims before it has read the items
 * (an array head claiming 2^28 elements costs 2 GiB), and leaves bounding that
 * to the caller. This walk reads only the heads of the encoded item at
 * buf[*pos..len) and refuses, before libcbor sees a byte, any definite length
 * that cannot fit in the bytes left: a string longer than the rest, an array
 * of more items than bytes left (each item takes at least one), a map of more
 * pairs than half of them. Indefinite strings must be made of definite chunks
 * of their own type; nesting is limited to ATTEST_CBOR_DEPTH. With every
 * claimed count bounded by the input, libcbor's allocations are at most a
 * constant times the token size (which attest_check_token caps first). */
#define ATTEST_CBOR_DEPTH 16

static const char *cbor_walk(const uint8_t *buf, size_t len, size_t *pos, unsigned depth, bool *brk)
{
    if (*pos >= len)
        return "truncated";
    uint8_t ib = buf[(*pos)++];
    unsigned major = ib >> 5, ai = ib & 31u;
    uint64_t arg = ai;
    *brk = false;
    if (ai >= 24 && ai <= 27) {
        size_t n = (size_t)1 << (ai - 24);
        if (len - *pos < n)
            return "truncated";
        arg = 0;
        for (size_t i = 0; i < n; i++)
            arg = arg << 8 | buf[(*pos)++];
    } else if (ai >= 28 && ai <= 30) {
        return "reserved additional information";
    }
    size_t left = len - *pos;
    bool indef = ai == 31;
    if (indef && (major == 0 || major == 1 || major == 6))
        return "indefinite length on an integer or tag";
    if (indef && major == 7) {
        *brk = true; /* a "break": only valid where an indefinite item ends (checked by the caller) */
        return NULL;
    }
    if ((major == 4 || major == 5 || major == 6) && depth >= ATTEST_CBOR_DEPTH)
        return "nested too deeply";
    switch (major) {
    case 0: case 1: case 7:
        return NULL;
    case 2: case 3:
        if (!indef) {
            if (arg > left)
                return "a string is longer than the bytes left";
            *pos += (size_t)arg;
            return NULL;
        }
        for (;;) { /* chunks: definite strings of the same major type, then a break */
            if (*pos >= len)
                return "truncated";
            uint8_t cb = buf[*pos];
            if (cb == 0xff) {
                (*pos)++;
                return NULL;
            }
            if ((unsigned)(cb >> 5) != major || (cb & 31u) == 31)
                return "a chunk of an indefinite string is not a definite string of its type";
            bool b;
            const char *e = cbor_walk(buf, len, pos, depth + 1, &b);
            if (e != NULL)
                return e;
        }
    case 4: case 5: {
        uint64_t per = major == 5 ? 2 : 1;
        if (!indef && arg > left / per)
            return major == 4 ? "an array claims more items than the bytes left"
                              : "a map claims more pairs than the bytes left";
        for (uint64_t i = 0; indef || i < arg * per; i++) {
            bool b;
            const char *e = cbor_walk(buf, len, pos, depth + 1, &b);
            if (e != NULL)
                return e;
            if (b) {
                if (!indef || (major == 5 && i % 2 != 0))
                    return "unexpected break";
                return NULL;
            }
        }
        return NULL;
    }
    default: { /* 6: a tag and its item */
        bool b;
        const char *e = cbor_walk(buf, len, pos, depth + 1, &b);
        return e != NULL ? e : b ? "unexpected break" : NULL;
    }
    }
}

const char *attest_cbor_bounded(const uint8_t *buf, size_t len, size_t *used)
{
    size_t pos = 0;
    bool brk;
    const char *e = cbor_walk(buf, len, &pos, 0, &brk);
    if (e == NULL && brk)
        e = "unexpected break";
    if (used != NULL)
        *used = pos;
    return e;
}

/* cbor_load behind the walk: NULL (and *why set) when the walk refuses. */
static cbor_item_t *load_bounded(const uint8_t *buf, size_t len, struct cbor_load_result *lr, const char **why)
{
    *why = attest_cbor_bounded(buf, len, NULL);
    if (*why != NULL)
        return NULL;
    return cbor_load(buf, len, lr);
}

/* --- verification -------------------------------------------------------- */


static bool refuse(attest_verdict_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(attest_verdict_t *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->buf, sizeof v->buf, fmt, ap);
    va_end(ap);
    v->reason = v->buf;
    return false;
}

static bool sig_ok(const uint8_t pub[65], const uint8_t *tbs, size_t tbs_len, const uint8_t sig[64])
{
    EVP_PKEY *key = attest_p256_from_point(pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int der_len = -1;
    bool ok = false;

    if (key && md && es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL; /* owned by es */
        der_len = i2d_ECDSA_SIG(es, &der);
        ok = der_len > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, der, (size_t)der_len, tbs, tbs_len) == 1;
    }
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return ok;
}

static bool check_components(const cbor_item_t *arr, attest_verdict_t *v, json_t *out)
{
    if (!cbor_isa_array(arr) || !cbor_array_is_definite(arr) || cbor_array_size(arr) == 0)
        return refuse(v, "software components: not a non-empty array");
    cbor_item_t **items = cbor_array_handle(arr);
    for (size_t i = 0; i < cbor_array_size(arr); i++) {
        const cbor_item_t *m = items[i];
        int64_t dup;
        if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
            return refuse(v, "software component %zu: not a map", i);
        if (!map_keys_ok(m, &dup))
            return refuse(v, "software component %zu: duplicate or non-integer key", i);
        const cbor_item_t *type = map_get(m, MOLT_ATTEST_SWC_TYPE), *val = map_get(m, MOLT_ATTEST_SWC_VALUE),
                          *ver = map_get(m, MOLT_ATTEST_SWC_VERSION), *sid = map_get(m, MOLT_ATTEST_SWC_SIGNER_ID),
                          *desc = map_get(m, MOLT_ATTEST_SWC_DESC);
        if (!is_bstr(val) || !hash_size_ok(cbor_bytestring_length(val)))
            return refuse(v, "software component %zu: measurement value missing or not a 32/48/64-byte hash", i);
        if (!is_bstr(sid) || !hash_size_ok(cbor_bytestring_length(sid)))
            return refuse(v, "software component %zu: signer id missing or not a 32/48/64-byte hash", i);
        if ((type && !is_tstr(type)) || (ver && !is_tstr(ver)) || (desc && !is_tstr(desc)))
            return refuse(v, "software component %zu: type, version or description is not text", i);
        json_t *c = json_object();
        json_object_set_new(c, "measurement_type", type ? json_text(type) : json_null());
        json_object_set_new(c, "measurement_value", json_hex(val));
        json_object_set_new(c, "version", ver ? json_text(ver) : json_null());
        json_object_set_new(c, "signer_id", json_hex(sid));
        json_object_set_new(c, "measurement_desc", desc ? json_text(desc) : json_null());
        json_array_append_new(out, c);
    }
    return true;
}

static bool check_claims(const uint8_t *payload, size_t plen, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t ueid[33], attest_verdict_t *v)
{
    struct cbor_load_result lr;
    const char *why = NULL;
    cbor_item_t *m = load_bounded(payload, plen, &lr, &why);
    bool ok = false;
    int64_t dup = 0, iv = 0;
    json_t *j = json_object();

    if (why != NULL) {
        refuse(v, "payload is not a CBOR claims map (%s)", why);
        goto out;
    }
    if (m == NULL || lr.error.code != CBOR_ERR_NONE || lr.read != plen || !cbor_isa_map(m) ||
        !cbor_map_is_definite(m)) {
        refuse(v, "payload is not a CBOR claims map");
        goto out;
    }
    if (!map_keys_ok(m, &dup)) {
        if (dup == INT64_MIN)
            refuse(v, "payload: a claim key is not an integer");
        else
            refuse(v, "payload: claim %lld appears twice", (long long)dup);
        goto out;
    }
    const cbor_item_t *c_nonce = map_get(m, MOLT_ATTEST_CLAIM_NONCE), *c_ueid = map_get(m, MOLT_ATTEST_CLAIM_INSTANCE_ID),
                      *c_prof = map_get(m, MOLT_ATTEST_CLAIM_PROFILE), *c_seed = map_get(m, MOLT_ATTEST_CLAIM_BOOT_SEED),
                      *c_client = map_get(m, MOLT_ATTEST_CLAIM_CLIENT_ID),
                      *c_lc = map_get(m, MOLT_ATTEST_CLAIM_LIFECYCLE), *c_impl = map_get(m, MOLT_ATTEST_CLAIM_IMPL_ID),
                      *c_sw = map_get(m, MOLT_ATTEST_CLAIM_SW_COMPONENTS),
                      *c_cnt = map_get(m, MOLT_ATTEST_CLAIM_SECURITY_COUNTER);
    if (!is_bstr(c_nonce) || !hash_size_ok(cbor_bytestring_length(c_nonce))) {
        refuse(v, "nonce claim (10) missing or not 32, 48 or 64 bytes");
        goto out;
    }
    if (cbor_bytestring_length(c_nonce) != nonce_len ||
        memcmp(cbor_bytestring_handle(c_nonce), nonce, nonce_len) != 0) {
        refuse(v, "nonce does not match the challenge");
        goto out;
    }
    if (!is_tstr(c_prof) || cbor_string_length(c_prof) != strlen(MOLT_ATTEST_PROFILE) ||
        memcmp(cbor_string_handle(c_prof), MOLT_ATTEST_PROFILE, strlen(MOLT_ATTEST_PROFILE)) != 0) {
        refuse(v, "profile claim (265) missing or not \"%s\"", MOLT_ATTEST_PROFILE);
        goto out;
    }
    if (!is_bstr(c_ueid) || cbor_bytestring_length(c_ueid) != 33 || cbor_bytestring_handle(c_ueid)[0] != 0x01) {
        refuse(v, "instance id claim (256) missing or not 0x01 and a 32-byte hash");
        goto out;
    }
    if (memcmp(cbor_bytestring_handle(c_ueid), ueid, 33) != 0) {
        refuse(v, "instance id does not match the IAK");
        goto out;
    }
    if (!is_bstr(c_impl) || cbor_bytestring_length(c_impl) != 32) {
        refuse(v, "implementation id claim (2396) missing or not 32 bytes");
        goto out;
    }
    if (c_lc == NULL || !cbor_isa_uint(c_lc) || cbor_get_int(c_lc) > 0xffff) {
        refuse(v, "security lifecycle claim (2395) missing or not a 16-bit unsigned integer");
        goto out;
    }
    if (c_client == NULL || !item_int(c_client, &iv) || iv == 0 || iv < INT32_MIN || iv > INT32_MAX) {
        refuse(v, "client id claim (2394) missing, zero or not a 32-bit integer");
        goto out;
    }
    if (c_seed != NULL && (!is_bstr(c_seed) || cbor_bytestring_length(c_seed) < 8 ||
                           cbor_bytestring_length(c_seed) > 32)) {
        refuse(v, "boot seed claim (268) is not 8 to 32 bytes");
        goto out;
    }
    if (c_cnt != NULL && (!cbor_isa_uint(c_cnt) || cbor_get_int(c_cnt) > UINT32_MAX)) {
        refuse(v, "security counter claim (%d) is not a 32-bit unsigned integer",
               MOLT_ATTEST_CLAIM_SECURITY_COUNTER);
        goto out;
    }
    if (c_sw == NULL) {
        refuse(v, "software components claim (2399) missing");
        goto out;
    }
    json_t *comps = json_array();
    json_object_set_new(j, "profile", json_text(c_prof));
    json_object_set_new(j, "nonce", json_hex(c_nonce));
    json_object_set_new(j, "instance_id", json_hex(c_ueid));
    json_object_set_new(j, "implementation_id", json_hex(c_impl));
    json_object_set_new(j, "security_lifecycle", json_integer((json_int_t)cbor_get_int(c_lc)));
    json_object_set_new(j, "lifecycle_state", json_string(lifecycle_name(cbor_get_int(c_lc))));
    json_object_set_new(j, "client_id", json_integer((json_int_t)iv));
    json_object_set_new(j, "boot_seed", c_seed ? json_hex(c_seed) : json_null());
    json_object_set_new(j, "security_counter", c_cnt ? json_integer((json_int_t)cbor_get_int(c_cnt)) : json_null());
    json_object_set_new(j, "software_components", comps);
    if (!check_components(c_sw, v, comps))
        goto out;
    v->claims = j;
    j = NULL;
    ok = true;
out:
    json_decref(j);
    if (m)
        cbor_decref(&m);
    return ok;
}

/* The whole check; v->reason says why not. */
bool attest_check_token(const uint8_t *tok, size_t len, const uint8_t pub[65], const uint8_t *nonce,
                        size_t nonce_len, attest_verdict_t *v)
{
    struct cbor_load_result lr;
    cbor_item_t *arr = NULL, *prot = NULL;
    uint8_t ueid[33];
    bool ok = false;
    size_t skip;
    const char *why = NULL;

    /* Bounded before anything is decoded: the profile's largest token is
     * MOLT_ATTEST_TOKEN_MAX bytes (a 64-byte challenge, two SHA-512 components). */
    if (len > MOLT_ATTEST_TOKEN_MAX) {
        refuse(v, "token is %zu bytes, more than the profile's maximum of %u", len, MOLT_ATTEST_TOKEN_MAX);
        goto out;
    }

    /* The tag head is read here, not by libcbor: Debian bookworm's libcbor 0.8
     * refuses tags 6..20 (0xc6..0xd4) as "unassigned", and 18 is one of them.
     * Tag 18 in its preferred form is the byte 0xd2 (0xd8 0x12 is accepted too). */
    if (len >= 1 && tok[0] == 0xd2)
        skip = 1;
    else if (len >= 2 && tok[0] == 0xd8 && tok[1] == 0x12)
        skip = 2;
    else {
        refuse(v, "not a COSE_Sign1: CBOR tag 18 missing");
        goto out;
    }
    arr = load_bounded(tok + skip, len - skip, &lr, &why);
    if (why != NULL) {
        refuse(v, "not a CBOR item (malformed or truncated): %s", why);
        goto out;
    }
    if (arr == NULL || lr.error.code != CBOR_ERR_NONE) {
        refuse(v, "not a CBOR item (malformed or truncated)");
        goto out;
    }
    if (lr.read != len - skip) {
        refuse(v, "%zu trailing bytes after the token", len - skip - lr.read);
        goto out;
    }
    if (!cbor_isa_array(arr) || !cbor_array_is_definite(arr) || cbor_array_size(arr) != 4) {
        refuse(v, "not a COSE_Sign1: expected an array of 4 items");
        goto out;
    }
    cbor_item_t **it = cbor_array_handle(arr);
    if (!is_bstr(it[0])) {
        refuse(v, "protected header is not a byte string");
        goto out;
    }
    prot = load_bounded(cbor_bytestring_handle(it[0]), cbor_bytestring_length(it[0]), &lr, &why);
    int64_t alg = 0, dup;
    if (why != NULL || prot == NULL || lr.error.code != CBOR_ERR_NONE || lr.read != cbor_bytestring_length(it[0]) ||
        !cbor_isa_map(prot) || !cbor_map_is_definite(prot) || !map_keys_ok(prot, &dup)) {
        refuse(v, "protected header is not a CBOR map with integer labels");
        goto out;
    }
    if (map_get(prot, 1) == NULL || !item_int(map_get(prot, 1), &alg) || alg != -7) {
        refuse(v, "protected header: alg is not ES256 (-7)");
        goto out;
    }
    if (map_get(prot, 2) != NULL) {
        refuse(v, "protected header: critical parameters are not supported");
        goto out;
    }
    if (!cbor_isa_map(it[1]) || !cbor_map_is_definite(it[1]) || cbor_map_size(it[1]) > 1 ||
        (cbor_map_size(it[1]) == 1 && map_get(it[1], 4) == NULL)) {
        refuse(v, "unprotected header is not empty or {4: kid}");
        goto out;
    }
    if (!is_bstr(it[2])) {
        refuse(v, "payload is not a byte string");
        goto out;
    }
    if (!is_bstr(it[3]) || cbor_bytestring_length(it[3]) != 64) {
        refuse(v, "signature is not 64 bytes (raw r || s)");
        goto out;
    }
    /* Sig_structure = ["Signature1", protected, h'', payload] */
    size_t plen = cbor_bytestring_length(it[2]), hlen = cbor_bytestring_length(it[0]);
    uint8_t *tbs = malloc(32 + hlen + plen);
    size_t pos = 0;
    if (tbs == NULL) {
        refuse(v, "out of memory");
        goto out;
    }
    put_head(tbs, &pos, 4, 4);
    put_head(tbs, &pos, 3, 10);
    memcpy(tbs + pos, "Signature1", 10);
    pos += 10;
    put_head(tbs, &pos, 2, hlen);
    memcpy(tbs + pos, cbor_bytestring_handle(it[0]), hlen);
    pos += hlen;
    put_head(tbs, &pos, 2, 0);
    put_head(tbs, &pos, 2, plen);
    memcpy(tbs + pos, cbor_bytestring_handle(it[2]), plen);
    pos += plen;
    bool good = sig_ok(pub, tbs, pos, cbor_bytestring_handle(it[3]));
    free(tbs);
    if (!good) {
        refuse(v, "signature does not verify with this IAK");
        goto out;
    }
    unsigned dlen = 0;
    ueid[0] = 0x01;
    if (!EVP_Digest(pub, 65, ueid + 1, &dlen, EVP_sha256(), NULL) || dlen != 32) {
        refuse(v, "SHA-256 failed");
        goto out;
    }
    const cbor_item_t *kid = map_get(it[1], 4);
    if (kid != NULL && (!is_bstr(kid) || cbor_bytestring_length(kid) != 32 ||
                        memcmp(cbor_bytestring_handle(kid), ueid + 1, 32) != 0)) {
        refuse(v, "kid does not name this IAK");
        goto out;
    }
    ok = check_claims(cbor_bytestring_handle(it[2]), plen, nonce, nonce_len, ueid, v);
out:
    if (prot)
        cbor_decref(&prot);
    if (arr)
        cbor_decref(&arr);
    return ok;
}
