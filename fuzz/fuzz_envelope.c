/*
 * fuzz_envelope.c - molt_envelope_open (lib/enc.c) on arbitrary envelopes,
 * with the device's real key store (sim_keystore: P-256 and X25519), R-CONF,
 * R-ONEPKG.
 *
 * The image binding is taken from the input itself (hash TLV type at byte 7,
 * digest at bytes 8..), so mutations get past ENV_IMAGE to the ECDH, HKDF,
 * tag and unwrap; the first byte of the input, when it is not 'M', instead
 * selects a fixed SHA-256 digest (the binding check itself is fuzzed).
 * Oracle, OpenSSL only: an envelope that opens is re-derived from the
 * device's private key (ECDH, HKDF-SHA-256 with info "molt-envelope-v1" ||
 * header, HMAC-SHA-256 tag over everything before it, AES-CTR unwrap) and
 * must carry exactly the content key libmolt returned; and opening twice
 * gives the same answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "molt/enc.h"
#include "molt/error.h"
#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *dev_p256, *dev_x25519;

static EVP_PKEY *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/keys/%s.pem", MOLT_VECTORS, name);
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!k)
        abort();
    return k;
}

/* The independent opening: the content key, or 0 if the envelope does not authenticate. */
static size_t reopen(const uint8_t *env, size_t len, uint8_t key[32])
{
    if (len < 8)
        return 0;
    size_t d = env[7] == 0x10 ? 32 : env[7] == 0x11 ? 48 : env[7] == 0x12 ? 64 : 0;
    size_t e = env[5] == 0x32 ? 65 : env[5] == 0x33 ? 32 : 0, k = env[6];
    if (memcmp(env, "MENV", 4) != 0 || env[4] != 1 || !d || !e || (k != 16 && k != 32) || len != 8 + d + e + k + 32)
        return 0;
    EVP_PKEY *me = e == 65 ? dev_p256 : dev_x25519, *peer = NULL;
    if (e == 65) {
        OSSL_PARAM p[3] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
                           OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(env + 8 + d), 65),
                           OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!c || EVP_PKEY_fromdata_init(c) <= 0 || EVP_PKEY_fromdata(c, &peer, EVP_PKEY_PUBLIC_KEY, p) <= 0)
            peer = NULL;
        EVP_PKEY_CTX_free(c);
    } else {
        peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, env + 8 + d, 32);
    }
    uint8_t shared[32], okm[64], tag[32], info[16 + 8 + 64];
    size_t sl = sizeof shared, got = 0;
    EVP_PKEY_CTX *dc = peer ? EVP_PKEY_CTX_new(me, NULL) : NULL;
    bool ok = dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, peer) == 1 &&
              EVP_PKEY_derive(dc, shared, &sl) == 1 && sl == 32;
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(peer);
    if (!ok)
        return 0;
    memcpy(info, "molt-envelope-v1", 16);
    memcpy(info + 16, env, 8 + d);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM hp[4] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, 32),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 16 + 8 + d),
                        OSSL_PARAM_construct_end()};
    ok = kc && EVP_KDF_derive(kc, okm, k + 32, hp) == 1;
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    unsigned tl = 0;
    ok = ok && HMAC(EVP_sha256(), okm + k, 32, env, 8 + d + e + k, tag, &tl) && tl == 32 &&
         CRYPTO_memcmp(tag, env + 8 + d + e + k, 32) == 0;
    if (ok) {
        uint8_t iv[16] = {0};
        int outl = 0;
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        ok = cc && EVP_DecryptInit_ex(cc, k == 16 ? EVP_aes_128_ctr() : EVP_aes_256_ctr(), NULL, okm, iv) == 1 &&
             EVP_DecryptUpdate(cc, key, &outl, env + 8 + d + e, (int)k) == 1 && (size_t)outl == k;
        EVP_CIPHER_CTX_free(cc);
        got = ok ? k : 0;
    }
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dev_p256) {
        dev_p256 = load("enc-ecdsa-p256");
        dev_x25519 = load("enc-x25519");
    }
    if (size < 1 || size > 1024)
        return 0;
    const molt_decrypt_t *dec = fuzz_decrypt();
    static const uint8_t fixed[32] = {0x9a, 0xda, 0x5c, 0xa2};
    const uint8_t *env = data, *digest = fixed;
    size_t len = size, dlen = 32;
    uint16_t ht = MOLT_TLV_SHA256;
    if (data[0] != 'M') {
        env = data + 1;
        len = size - 1;
    } else if (size >= 8) {
        ht = data[7];
        dlen = ht == 0x10 ? 32 : ht == 0x11 ? 48 : ht == 0x12 ? 64 : 32;
        if (size >= 8 + dlen)
            digest = data + 8;
    }
    uint8_t key[MOLT_ENC_KEY_MAX], key2[MOLT_ENC_KEY_MAX], want[32];
    size_t kl = 0, kl2 = 0;
    molt_err_t e = molt_envelope_open(dec, env, len, ht, digest, dlen, key, &kl);
    molt_err_t e2 = molt_envelope_open(dec, env, len, ht, digest, dlen, key2, &kl2);
    if (e != e2 || (e == MOLT_OK && (kl != kl2 || memcmp(key, key2, kl) != 0)))
        FUZZ_FAIL("not deterministic");
    if (getenv("FUZZ_ENVELOPE_TRACE"))
        fprintf(stderr, "envelope of %zu bytes: %s\n", len, molt_err_name(e));
    if (e != MOLT_OK)
        return 0;
    size_t wl = reopen(env, len, want);
    if (wl == 0 || wl != kl || memcmp(want, key, kl) != 0)
        FUZZ_FAIL("opened, but it does not authenticate independently, or another key");
    if (len < 8 + dlen || memcmp(env + 8, digest, dlen) != 0 || env[7] != ht)
        FUZZ_FAIL("opened for an image it is not bound to");
    return 0;
}
