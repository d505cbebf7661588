/*
 * test_attest_bound.c - the attestation token check runs in bounded memory
 * (R-ATTEST, R-FLAW: the finding of docs/fuzzing.md).
 *
 * host/attest_check.c hands tokens to libcbor, which allocates what a
 * definite length claims before reading the items: the 6-byte token
 * d2 9a 10 00 00 00 (tag 18, an array claiming 2^28 items) made it allocate
 * and fill 2 GiB, on every token a device uploads to moltd. The check now
 * refuses tokens over MOLT_ATTEST_TOKEN_MAX and any head claiming more than
 * the bytes left, before libcbor sees them.
 *
 * The memory ceiling is measured, not assumed: under AddressSanitizer (make
 * test) the allocator's hooks track the peak of live heap bytes during each
 * call, and any single allocation over 64 MiB aborts the process (so a
 * regression fails loudly instead of thrashing). Each case also asserts the
 * exact refusal reason. Last, a randomized property with a fixed seed: for
 * CBOR-shaped random inputs the walk accepts, the peak allocation of the
 * token check (libcbor, then the COSE checks) stays under 64 bytes per input
 * byte plus 4 KiB (the oracle is the allocator, not the walk).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "molt_host/attest_check.h"
#include "check.h"
#include "molt/attest.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
/* <sanitizer/allocator_interface.h> is not shipped with every compiler. */
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *p);
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=64:allocator_may_return_null=0";
}

static size_t live, peak;
static bool tracking;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    if (!tracking)
        return;
    live += n;
    if (live > peak)
        peak = live;
}
static void on_free(const volatile void *p)
{
    if (!tracking || p == NULL)
        return;
    size_t n = __sanitizer_get_allocated_size(p);
    live = live > n ? live - n : 0;
}
static void track_start(void)
{
    live = peak = 0;
    tracking = true;
}
static size_t track_stop(void)
{
    tracking = false;
    return peak;
}
#define MEASURED 1
#else
static void track_start(void) {}
static size_t track_stop(void) { return 0; }
#define MEASURED 0
#endif

#define CEILING (64u * 1024u) /* bytes of heap any of these tokens may cost */

static uint8_t pub[65], nonce[32];
static EVP_PKEY *iak;

/* Check tok and expect a refusal whose reason is exactly want, within CEILING. */
static void refused(const char *name, const uint8_t *tok, size_t len, const char *want)
{
    attest_verdict_t v;
    memset(&v, 0, sizeof v);
    track_start();
    bool ok = attest_check_token(tok, len, pub, nonce, sizeof nonce, &v);
    size_t used = track_stop();
    CHECK(!ok, "%s: accepted", name);
    CHECK(v.reason && strcmp(v.reason, want) == 0, "%s: reason \"%s\", expected \"%s\"", name,
          v.reason ? v.reason : "(none)", want);
    CHECK(used <= CEILING, "%s: peak heap %zu bytes during the check, ceiling %u", name, used, CEILING);
    if (ok)
        json_decref(v.claims);
}

/* --- a signing device (OpenSSL), to reach the decoding behind the signature --- */

static size_t head(uint8_t *b, unsigned major, uint64_t arg)
{
    size_t n = 0;
    if (arg < 24) {
        b[n++] = (uint8_t)(major << 5 | arg);
    } else if (arg <= 0xff) {
        b[n++] = (uint8_t)(major << 5 | 24);
        b[n++] = (uint8_t)arg;
    } else {
        b[n++] = (uint8_t)(major << 5 | 25);
        b[n++] = (uint8_t)(arg >> 8);
        b[n++] = (uint8_t)arg;
    }
    return n;
}

/* 18([prot, {}, payload, sig]) signed by iak; returns the token length. */
static size_t sign_token(uint8_t *out, const uint8_t *prot, size_t plen, const uint8_t *payload, size_t len)
{
    uint8_t tbs[1200];
    size_t t = 0, n = 0;
    t += head(tbs + t, 4, 4);
    t += head(tbs + t, 3, 10);
    memcpy(tbs + t, "Signature1", 10);
    t += 10;
    t += head(tbs + t, 2, plen);
    memcpy(tbs + t, prot, plen);
    t += plen;
    t += head(tbs + t, 2, 0);
    t += head(tbs + t, 2, len);
    memcpy(tbs + t, payload, len);
    t += len;

    uint8_t der[80], raw[64];
    size_t dlen = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, iak) == 1 &&
              EVP_DigestSign(md, der, &dlen, tbs, t) == 1;
    EVP_MD_CTX_free(md);
    const unsigned char *p = der;
    ECDSA_SIG *es = ok ? d2i_ECDSA_SIG(NULL, &p, (long)dlen) : NULL;
    ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32;
    ECDSA_SIG_free(es);
    CHECK(ok, "signing a test token");

    out[n++] = 0xd2;
    n += head(out + n, 4, 4);
    n += head(out + n, 2, plen);
    memcpy(out + n, prot, plen);
    n += plen;
    out[n++] = 0xa0;
    n += head(out + n, 2, len);
    memcpy(out + n, payload, len);
    n += len;
    n += head(out + n, 2, 64);
    memcpy(out + n, raw, 64);
    return n + 64;
}

/* --- the walk itself ------------------------------------------------------ */

static void walk_ok(const char *name, const uint8_t *b, size_t len, size_t want_used)
{
    size_t used = 0;
    const char *e = attest_cbor_bounded(b, len, &used);
    CHECK(e == NULL, "%s: refused (%s)", name, e ? e : "");
    CHECK_EQ(used, want_used);
}

static void walk_bad(const char *name, const uint8_t *b, size_t len, const char *want)
{
    const char *e = attest_cbor_bounded(b, len, NULL);
    CHECK(e && strcmp(e, want) == 0, "%s: \"%s\", expected \"%s\"", name, e ? e : "(accepted)", want);
}

static uint64_t rng = 0x6d6f6c7466757a7aull; /* fixed seed */
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* A random CBOR-shaped byte string: heads of every major type with small or
 * huge arguments, some payload bytes, some breaks. */
static size_t random_cbor(uint8_t *b, size_t cap)
{
    size_t n = 0, want = 1 + rnd() % cap;
    while (n + 9 <= want) {
        unsigned major = rnd() % 8, kind = rnd() % 8;
        if (kind == 0) {
            b[n++] = (uint8_t)(major << 5 | 31);
        } else if (kind == 1) {
            b[n++] = 0xff;
        } else if (kind <= 5) {
            b[n++] = (uint8_t)(major << 5 | (rnd() % 24));
        } else {
            unsigned ai = 24 + rnd() % 4, w = 1u << (ai - 24);
            b[n++] = (uint8_t)(major << 5 | ai);
            for (unsigned i = 0; i < w; i++)
                b[n++] = (uint8_t)(kind == 6 ? rnd() : (i + 1 == w ? rnd() % 8 : 0));
        }
    }
    return n;
}

int main(void)
{
    iak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t plen = 0;
    CHECK(iak && EVP_PKEY_get_octet_string_param(iak, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof pub, &plen) &&
              plen == 65,
          "a P-256 test IAK");
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(i * 7 + 1);

    /* The finding and its map variant, and the 8-byte-argument forms. */
    static const uint8_t arr28[] = {0xd2, 0x9a, 0x10, 0x00, 0x00, 0x00};
    static const uint8_t map28[] = {0xd2, 0xba, 0x10, 0x00, 0x00, 0x00};
    static const uint8_t arr64[] = {0xd2, 0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t map64[] = {0xd8, 0x12, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bstr[] = {0xd2, 0x84, 0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00};
    refused("array of 2^28", arr28, sizeof arr28,
            "not a CBOR item (malformed or truncated): an array claims more items than the bytes left");
    refused("map of 2^28", map28, sizeof map28,
            "not a CBOR item (malformed or truncated): a map claims more pairs than the bytes left");
    refused("array of 2^32", arr64, sizeof arr64,
            "not a CBOR item (malformed or truncated): an array claims more items than the bytes left");
    refused("map of 2^64-1", map64, sizeof map64,
            "not a CBOR item (malformed or truncated): a map claims more pairs than the bytes left");
    refused("byte string of 2 GiB", bstr, sizeof bstr,
            "not a CBOR item (malformed or truncated): a string is longer than the bytes left");

    /* An inner array of 4 items where 3 bytes are left: one too many. */
    static const uint8_t inner[] = {0xd2, 0x84, 0x40, 0x84, 0x00, 0x00, 0x00};
    refused("inner array", inner, sizeof inner,
            "not a CBOR item (malformed or truncated): an array claims more items than the bytes left");

    /* 17 nested arrays. */
    uint8_t deep[24] = {0xd2};
    for (size_t i = 1; i <= 17; i++)
        deep[i] = 0x81;
    deep[18] = 0x00;
    refused("17 levels", deep, 19, "not a CBOR item (malformed or truncated): nested too deeply");

    /* Over the profile's size, refused before any decoding. */
    static uint8_t big[MOLT_ATTEST_TOKEN_MAX + 1];
    memset(big, 0x9a, sizeof big);
    big[0] = 0xd2;
    char want[128];
    snprintf(want, sizeof want, "token is %u bytes, more than the profile's maximum of %u",
             MOLT_ATTEST_TOKEN_MAX + 1, MOLT_ATTEST_TOKEN_MAX);
    refused("1025 bytes", big, sizeof big, want);

    /* Behind a valid signature: the protected header and the claims map. */
    static const uint8_t es256[] = {0xa1, 0x01, 0x26};
    static const uint8_t hmap[] = {0xba, 0x10, 0x00, 0x00, 0x00};
    uint8_t tok[MOLT_ATTEST_TOKEN_MAX];
    size_t n = sign_token(tok, hmap, sizeof hmap, es256, sizeof es256);
    refused("huge protected header", tok, n, "protected header is not a CBOR map with integer labels");
    n = sign_token(tok, es256, sizeof es256, hmap, sizeof hmap);
    refused("huge claims map", tok, n, "payload is not a CBOR claims map (a map claims more pairs than the bytes left)");
    static const uint8_t harr[] = {0xa1, 0x0a, 0x9a, 0x10, 0x00, 0x00, 0x00};
    n = sign_token(tok, es256, sizeof es256, harr, sizeof harr);
    refused("huge claim value", tok, n,
            "payload is not a CBOR claims map (an array claims more items than the bytes left)");
    /* ... and a well-formed but empty claims map still reaches the claim checks. */
    static const uint8_t empty[] = {0xa0};
    n = sign_token(tok, es256, sizeof es256, empty, sizeof empty);
    refused("empty claims", tok, n, "nonce claim (10) missing or not 32, 48 or 64 bytes");

    /* The walk on well-formed items: sizes, indefinite forms, tags, floats. */
    static const uint8_t w1[] = {0x83, 0x01, 0x42, 0xaa, 0xbb, 0xa1, 0x20, 0xf5};
    walk_ok("array", w1, sizeof w1, sizeof w1);
    static const uint8_t w2[] = {0x5f, 0x41, 0x01, 0x42, 0x02, 0x03, 0xff, 0x00};
    walk_ok("indefinite bstr, one trailing byte", w2, sizeof w2, sizeof w2 - 1);
    static const uint8_t w3[] = {0x9f, 0xbf, 0x01, 0x02, 0xff, 0xc1, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0, 0xff};
    walk_ok("indefinite array and map, tag, double", w3, sizeof w3, sizeof w3);
    static const uint8_t w4[] = {0x81, 0x80};
    walk_ok("array of one empty array", w4, sizeof w4, sizeof w4);
    static const uint8_t b1[] = {0xbf, 0x01, 0xff};
    walk_bad("break after a key", b1, sizeof b1, "unexpected break");
    static const uint8_t b2[] = {0x5f, 0x61, 0x41, 0xff};
    walk_bad("text chunk in a byte string", b2, sizeof b2,
             "a chunk of an indefinite string is not a definite string of its type");
    static const uint8_t b3[] = {0x1c};
    walk_bad("reserved", b3, sizeof b3, "reserved additional information");
    static const uint8_t b4[] = {0x19, 0x01};
    walk_bad("short head", b4, sizeof b4, "truncated");
    static const uint8_t b5[] = {0xff};
    walk_bad("lone break", b5, sizeof b5, "unexpected break");
    static const uint8_t b6[] = {0x1f};
    walk_bad("indefinite integer", b6, sizeof b6, "indefinite length on an integer or tag");
    walk_bad("empty", b6, 0, "truncated");

    /* Property: whatever the walk lets through, the check decodes in memory
     * proportional to the input. 20000 inputs, fixed seed. */
    unsigned accepted = 0, over = 0;
    size_t worst = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t b[256];
        size_t len = random_cbor(b, sizeof b), used = 0;
        if (len == 0 || attest_cbor_bounded(b, len, &used) != NULL)
            continue;
        accepted++;
        uint8_t t[1 + sizeof b];
        t[0] = 0xd2; /* tag 18: the check hands the rest to libcbor */
        memcpy(t + 1, b, len);
        attest_verdict_t v;
        memset(&v, 0, sizeof v);
        track_start();
        bool ok = attest_check_token(t, len + 1, pub, nonce, sizeof nonce, &v);
        size_t p = track_stop();
        CHECK(!ok, "random input %d accepted as a token", i);
        if (p > 64 * len + 4096)
            over++;
        if (p > worst)
            worst = p;
    }
    CHECK(accepted > 1000, "only %u of 20000 random inputs passed the walk", accepted);
    CHECK(over == 0, "%u accepted inputs cost libcbor more than 64 bytes per byte + 4 KiB (worst %zu)", over, worst);
    printf("walk: %u of 20000 random inputs accepted; libcbor peak heap at most %zu bytes (%s)\n", accepted, worst,
           MEASURED ? "measured by the ASan allocator" : "not measured: no ASan in this build");

    EVP_PKEY_free(iak);
    return check_done();
}

#ifdef HAVE_ASAN
__attribute__((constructor)) static void install_hooks(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#endif
