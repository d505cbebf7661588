/*
 * crypto.c - hashes and signature checks behind lib/crypto.h.
 *
 * PSA Crypto (Mbed TLS 3.6): SHA-2, ECDSA P-256/P-384, RSA-PSS 2048/3072.
 * libsodium: Ed25519, and PureEdDSA streamed: h = SHA-512(R || A || M) is fed
 * piece by piece, then [S]B - [h]A must equal R (RFC 8032 §5.1.7, cofactorless,
 * like libsodium's own verify), with S canonical and A a valid main-subgroup point.
 */
#include <string.h>

#include <sodium/crypto_core_ed25519.h>
#include <sodium/crypto_scalarmult_ed25519.h>
#include <sodium/crypto_sign_ed25519.h>

#include "crypto.h"
#include "molt/verify.h"

int molt_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (uint8_t)(x[i] ^ y[i]);
    return acc == 0;
}

void molt_wipe(void *p, size_t n)
{
    volatile uint8_t *q = p;
    while (n--)
        *q++ = 0;
}

molt_err_t molt_crypto_init(void)
{
    return psa_crypto_init() == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

static psa_algorithm_t psa_hash_of(uint32_t alg)
{
    switch (alg) {
    case MOLT_HASH_SHA256: return PSA_ALG_SHA_256;
    case MOLT_HASH_SHA384: return PSA_ALG_SHA_384;
    case MOLT_HASH_SHA512: return PSA_ALG_SHA_512;
    default: return 0;
    }
}

molt_err_t molt_hash_start(molt_hash_ctx_t *h, uint32_t alg)
{
    psa_algorithm_t a = psa_hash_of(alg);
    if (a == 0)
        return MOLT_E_ARG;
    h->op = psa_hash_operation_init();
    h->alg = alg;
    return psa_hash_setup(&h->op, a) == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_hash_update(molt_hash_ctx_t *h, const void *data, size_t len)
{
    return psa_hash_update(&h->op, data, len) == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_hash_finish(molt_hash_ctx_t *h, uint8_t *out, size_t cap, size_t *len)
{
    return psa_hash_finish(&h->op, out, cap, len) == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

void molt_hash_abort(molt_hash_ctx_t *h)
{
    (void)psa_hash_abort(&h->op);
}

static molt_err_t psa_verify(const molt_pubkey_t *key, psa_key_type_t type, size_t bits, psa_algorithm_t alg,
                             const uint8_t *digest, size_t digest_len, const uint8_t *sig, size_t sig_len)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    psa_set_key_type(&attr, type);
    psa_set_key_bits(&attr, bits);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&attr, alg);
    if (psa_import_key(&attr, key->pub, key->pub_len, &id) != PSA_SUCCESS)
        return MOLT_E_KEY_FORMAT;
    psa_status_t st = psa_verify_hash(id, alg, digest, digest_len, sig, sig_len);
    (void)psa_destroy_key(id);
    if (st == PSA_SUCCESS)
        return MOLT_OK;
    return (st == PSA_ERROR_INVALID_SIGNATURE || st == PSA_ERROR_INVALID_ARGUMENT) ? MOLT_E_SIG_INVALID
                                                                                  : MOLT_E_CRYPTO;
}

molt_err_t molt_sig_verify_digest(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                  size_t digest_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t raw[96];
    molt_err_t err;
    psa_algorithm_t h = psa_hash_of(hash_alg);

    if (molt_hash_size(hash_alg) != digest_len)
        return MOLT_E_ARG;
    switch (key->type) {
    case MOLT_KEY_P256:
    case MOLT_KEY_P384: {
        size_t n = key->type == MOLT_KEY_P256 ? 32 : 48;
        if ((err = molt_der_ecdsa_to_raw(sig, sig_len, raw, n)) != MOLT_OK)
            return err;
        return psa_verify(key, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1), n * 8, PSA_ALG_ECDSA(h),
                          digest, digest_len, raw, 2 * n);
    }
    case MOLT_KEY_RSA2048:
    case MOLT_KEY_RSA3072: {
        size_t bits = key->type == MOLT_KEY_RSA2048 ? 2048 : 3072;
        if (sig_len != bits / 8)
            return MOLT_E_TLV_LENGTH;
        return psa_verify(key, PSA_KEY_TYPE_RSA_PUBLIC_KEY, bits, PSA_ALG_RSA_PSS(h), digest, digest_len, sig,
                          sig_len);
    }
    case MOLT_KEY_ED25519:
        if (sig_len != crypto_sign_ed25519_BYTES)
            return MOLT_E_TLV_LENGTH;
        return crypto_sign_ed25519_verify_detached(sig, digest, digest_len, key->pub) == 0 ? MOLT_OK
                                                                                           : MOLT_E_SIG_INVALID;
    default:
        return MOLT_E_KEY_FORMAT;
    }
}

molt_err_t molt_ed25519_stream_start(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32])
{
    if (crypto_hash_sha512_init(&s->sha) != 0 || crypto_hash_sha512_update(&s->sha, sig, 32) != 0 ||
        crypto_hash_sha512_update(&s->sha, pub, 32) != 0)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}

molt_err_t molt_ed25519_stream_update(molt_ed25519_stream_t *s, const void *data, size_t len)
{
    return crypto_hash_sha512_update(&s->sha, data, len) == 0 ? MOLT_OK : MOLT_E_CRYPTO;
}

/* S < L, the group order, little-endian. */
static int scalar_is_canonical(const uint8_t s[32])
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    for (int i = 31; i >= 0; i--) {
        if (s[i] != L[i])
            return s[i] < L[i];
    }
    return 0;
}

molt_err_t molt_ed25519_stream_finish(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32])
{
    uint8_t hram[64], h[32], sb[32], ha[32], r[32];
    molt_err_t err = MOLT_E_SIG_INVALID;

    if (crypto_hash_sha512_final(&s->sha, hram) != 0)
        return MOLT_E_CRYPTO;
    crypto_core_ed25519_scalar_reduce(h, hram);
    if (scalar_is_canonical(sig + 32) && crypto_core_ed25519_is_valid_point(pub) &&
        crypto_scalarmult_ed25519_base_noclamp(sb, sig + 32) == 0 &&
        crypto_scalarmult_ed25519_noclamp(ha, h, pub) == 0 && crypto_core_ed25519_sub(r, sb, ha) == 0 &&
        molt_ct_equal(r, sig, 32))
        err = MOLT_OK;
    molt_wipe(hram, sizeof hram);
    return err;
}
