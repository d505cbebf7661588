/*
 * fuzz_attest.c - the host's attestation token check (host/attest_check.c,
 * run by `molt attest verify` and by moltd on every uploaded token), R-ATTEST.
 *
 * First byte even: the rest is a token, checked as it comes against a fixed
 * IAK and challenge (the decoding before the signature: tag, array, headers).
 * First byte odd: the rest is [n][protected header: n bytes][payload], and
 * the target signs it with the IAK (ES256, as a device would) before the
 * check, so mutations reach the claims decoding behind the signature.
 * Oracles: an accepted token is at most MOLT_ATTEST_TOKEN_MAX bytes and its
 * claims carry exactly the challenge; memory is bounded by the replay's and
 * libFuzzer's allocation limits (-malloc_limit_mb, ASan
 * max_allocation_size_mb: no single allocation over 64 MiB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "molt_host/attest_check.h"
#include "molt/attest.h"
#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *iak;
static uint8_t pub[65];
static const uint8_t nonce[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void setup(void)
{
    FILE *f = fopen(MOLT_VECTORS "/keys/sign-ecdsa-p256.pem", "r");
    iak = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    size_t n = 0;
    if (!iak || !EVP_PKEY_get_octet_string_param(iak, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof pub, &n) ||
        n != 65)
        abort();
}

static size_t head(uint8_t *b, unsigned major, size_t arg)
{
    if (arg < 24) {
        b[0] = (uint8_t)(major << 5 | arg);
        return 1;
    }
    if (arg <= 0xff) {
        b[0] = (uint8_t)(major << 5 | 24);
        b[1] = (uint8_t)arg;
        return 2;
    }
    b[0] = (uint8_t)(major << 5 | 25);
    b[1] = (uint8_t)(arg >> 8);
    b[2] = (uint8_t)arg;
    return 3;
}

/* 18([prot, {}, payload, ES256(Sig_structure)]) into out (cap >= 2 * len + 200). */
static size_t sign(uint8_t *out, const uint8_t *prot, size_t plen, const uint8_t *pay, size_t len)
{
    uint8_t *tbs = malloc(plen + len + 32);
    size_t t = 0, o = 0;
    t += head(tbs + t, 4, 4);
    t += head(tbs + t, 3, 10);
    memcpy(tbs + t, "Signature1", 10);
    t += 10;
    t += head(tbs + t, 2, plen);
    memcpy(tbs + t, prot, plen);
    t += plen;
    t += head(tbs + t, 2, 0);
    t += head(tbs + t, 2, len);
    memcpy(tbs + t, pay, len);
    t += len;
    uint8_t der[80], raw[64] = {0};
    size_t dlen = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, iak) != 1 || EVP_DigestSign(md, der, &dlen, tbs, t) != 1)
        abort();
    EVP_MD_CTX_free(md);
    free(tbs);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 || BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(es);
    out[o++] = 0xd2;
    o += head(out + o, 4, 4);
    o += head(out + o, 2, plen);
    memcpy(out + o, prot, plen);
    o += plen;
    out[o++] = 0xa0;
    o += head(out + o, 2, len);
    memcpy(out + o, pay, len);
    o += len;
    o += head(out + o, 2, 64);
    memcpy(out + o, raw, 64);
    return o + 64;
}

static void check(const uint8_t *tok, size_t len)
{
    attest_verdict_t v;
    memset(&v, 0, sizeof v);
    bool ok = attest_check_token(tok, len, pub, nonce, sizeof nonce, &v);
    if (!ok) {
        if (!v.reason || !v.reason[0] || strchr(v.reason, '\n'))
            FUZZ_FAIL("a refusal always says why, in one line");
        return;
    }
    if (len > MOLT_ATTEST_TOKEN_MAX)
        FUZZ_FAIL("accepted beyond the profile's size");
    const char *n = json_string_value(json_object_get(v.claims, "nonce"));
    char want[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", nonce[i]);
    if (!n || strcmp(n, want) != 0 || json_array_size(json_object_get(v.claims, "software_components")) == 0)
        FUZZ_FAIL("accepted claims that do not carry the challenge");
    json_decref(v.claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iak)
        setup();
    if (size < 1 || size > 4096)
        return 0;
    if ((data[0] & 1) == 0) {
        check(data + 1, size - 1);
        return 0;
    }
    if (size < 2 || (size_t)data[1] > size - 2)
        return 0;
    size_t plen = data[1];
    uint8_t *tok = malloc(2 * size + 200);
    size_t n = sign(tok, data + 2, plen, data + 2 + plen, size - 2 - plen);
    check(tok, n);
    free(tok);
    return 0;
}
