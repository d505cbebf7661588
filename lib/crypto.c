/*
 * crypto.c - hashes and signature checks behind lib/crypto.h, through PSA Crypto
 * (Mbed TLS 3.6): SHA-2, ECDSA P-256/P-384, RSA-PSS 2048/3072. Ed25519 keys are
 * handed to lib/crypto_ed25519.c (libsodium), referenced only from that case.
 */
#include <string.h>

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

/* ECDSA with the signature as raw r || s (2n bytes), as PSA and COSE carry it. */
molt_err_t molt_ecdsa_verify_raw(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                 size_t digest_len, const uint8_t *sig, size_t sig_len)
{
    if (key->type != MOLT_KEY_P256 && key->type != MOLT_KEY_P384)
        return MOLT_E_KEY_FORMAT;
    size_t n = key->type == MOLT_KEY_P256 ? 32 : 48;
    if (molt_hash_size(hash_alg) != digest_len)
        return MOLT_E_ARG;
    if (sig_len != 2 * n)
        return MOLT_E_SIG_INVALID;
    return psa_verify(key, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1), n * 8,
                      PSA_ALG_ECDSA(psa_hash_of(hash_alg)), digest, digest_len, sig, sig_len);
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
        return molt_ecdsa_verify_raw(key, hash_alg, digest, digest_len, raw, 2 * n);
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
        return molt_ed25519_verify_digest(key->pub, digest, digest_len, sig, sig_len);
    default:
        return MOLT_E_KEY_FORMAT;
    }
}
