/*
 * mkimage.h - test helpers: P-256 signers (PSA Crypto) and small MCUboot-format
 * images made from the format itself, never with lib/ (test_keyrot, test_stage0).
 * Include after check.h and <psa/crypto.h>.
 */
#ifndef MOLT_TEST_MKIMAGE_H
#define MOLT_TEST_MKIMAGE_H

#include <stdint.h>
#include <string.h>

#include <psa/crypto.h>

#include "molt/verify.h"

static const uint8_t k_spki_p256[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

typedef struct signer {
    psa_key_id_t id;
    uint8_t der[91];
    uint8_t hash[32]; /* SHA-256 of der, computed here */
    molt_key_t key;
} signer_t;

static inline void signer_new(signer_t *s)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_generate_key(&at, &s->id) == PSA_SUCCESS, "generate a key");
    size_t n = 0;
    memcpy(s->der, k_spki_p256, sizeof k_spki_p256);
    CHECK(psa_export_public_key(s->id, s->der + 26, 65, &n) == PSA_SUCCESS && n == 65, "export it");
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, s->der, sizeof s->der, s->hash, 32, &n) == PSA_SUCCESS, "hash it");
    s->key.der = s->der;
    s->key.der_len = sizeof s->der;
}

static inline void sign_raw(const signer_t *s, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    uint8_t h[32];
    size_t n = 0;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, msg, len, h, 32, &n) == PSA_SUCCESS, "hash");
    CHECK(psa_sign_hash(s->id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, 32, sig, 64, &n) == PSA_SUCCESS && n == 64, "sign");
}

static inline void mk_put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void mk_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* --- images (MCUboot format: header, payload, protected and unprotected TLVs) --- */

#define IMG_MAX 1024u
typedef struct img {
    uint8_t b[IMG_MAX];
    uint32_t n;
} img_t;

/* DER of an ECDSA signature from raw r || s. */
static inline size_t der_int(uint8_t *o, const uint8_t *v)
{
    size_t i = 0;
    while (i < 31 && v[i] == 0)
        i++;
    size_t n = 32 - i, pad = (v[i] & 0x80) ? 1 : 0;
    o[0] = 0x02;
    o[1] = (uint8_t)(n + pad);
    o[2] = 0;
    memcpy(o + 2 + pad, v + i, n);
    return 2 + pad + n;
}

static inline size_t sig_der(uint8_t *o, const uint8_t raw[64])
{
    uint8_t t[80];
    size_t a = der_int(t, raw);
    size_t b = der_int(t + a, raw + 32);
    o[0] = 0x30;
    o[1] = (uint8_t)(a + b);
    memcpy(o + 2, t, a + b);
    return 2 + a + b;
}

/* An image of build `build` with security counter `cnt`, marked for boot
 * stage `stage` (MOLT_TLV_BOOT_STAGE, protected; 0: no mark), signed by each
 * of s[0..n). */
static inline void make_image_stage(img_t *im, const signer_t *const *s, int n, uint32_t build, uint32_t cnt, uint8_t stage)
{
    uint8_t *b = im->b;
    memset(b, 0, IMG_MAX);
    const uint32_t payload = 256, prot = 4 + 8 + (stage ? 5u : 0u);
    mk_put32(b, 0x96f3b83du);
    mk_put16(b + 8, 32);
    mk_put16(b + 10, prot);
    mk_put32(b + 12, payload);
    b[20] = 1; /* version 1.0.0+build */
    mk_put32(b + 24, build);
    for (uint32_t i = 0; i < payload; i++)
        b[32 + i] = (uint8_t)(i * 7u + build);
    uint32_t off = 32 + payload;
    mk_put16(b + off, 0x6908); /* protected: the security counter, the stage */
    mk_put16(b + off + 2, prot);
    mk_put16(b + off + 4, 0x50);
    mk_put16(b + off + 6, 4);
    mk_put32(b + off + 8, cnt);
    if (stage) {
        mk_put16(b + off + 12, 0x6dc1);
        mk_put16(b + off + 14, 1);
        b[off + 16] = stage;
    }
    off += prot;
    uint32_t info = off;
    mk_put16(b + off, 0x6907);
    off += 4;
    uint8_t h[32];
    size_t hn = 0;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, b, info, h, 32, &hn) == PSA_SUCCESS, "image hash");
    mk_put16(b + off, 0x10);
    mk_put16(b + off + 2, 32);
    memcpy(b + off + 4, h, 32);
    off += 36;
    for (int i = 0; i < n; i++) {
        mk_put16(b + off, 0x01);
        mk_put16(b + off + 2, 32);
        memcpy(b + off + 4, s[i]->hash, 32);
        off += 36;
        uint8_t raw[64];
        size_t sn = 0;
        CHECK(psa_sign_hash(s[i]->id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, 32, raw, 64, &sn) == PSA_SUCCESS,
              "image sig");
        size_t dl = sig_der(b + off + 4, raw);
        mk_put16(b + off, 0x22);
        mk_put16(b + off + 2, (uint32_t)dl);
        off += 4 + (uint32_t)dl;
    }
    mk_put16(b + info + 2, off - info);
    im->n = off;
}

static inline void make_image(img_t *im, const signer_t *const *s, int n, uint32_t build, uint32_t cnt)
{
    make_image_stage(im, s, n, build, cnt, 0);
}

#endif
