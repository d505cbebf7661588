/*
 * crypto_direct.c - lib/crypto.h for a boot stage without PSA: SHA-256 from Mbed TLS's
 * sha256.c and ECDSA-P256 verification from p256-m, called directly (bench/mps2.sh's
 * "direct" configuration, boot-direct.elf).
 *
 * lib/crypto.c reaches the same two primitives through the PSA Crypto API (key slots,
 * driver dispatch, algorithm policy: about 3 KB on Cortex-M). A port that verifies
 * ECDSA-P256 over SHA-256 and nothing else may link this file in its place: it defines
 * every symbol of lib/crypto.c the boot stage uses, so the archive's crypto.o is never
 * pulled (a symbol missing here would pull it and the link would fail on duplicates).
 * Every other key type and hash is refused: MOLT_E_SIG_ALG / MOLT_E_CRYPTO, never
 * accepted. The checks are the same as lib/crypto.c's: exact digest length, strict
 * DER signature (molt_der_ecdsa_to_raw), an uncompressed point validated on the curve
 * by p256-m before any arithmetic.
 *
 * Built with MPS2_SIG_ED25519 (boot-ed25519.elf) it takes Ed25519 keys instead, over
 * the SHA-256 digest, through lib/crypto_ed25519.c and the part of libsodium that
 * verifies (cross-built from Debian's source package, like Mbed TLS); ECDSA is then
 * refused and p256-m is not linked.
 */
#include <string.h>

#include "crypto.h"
#include "molt/verify.h"
#include "p256-m.h"
#include <mbedtls/sha256.h>

/* The SHA-256 context lives in the storage of the PSA hash operation that
 * molt_hash_ctx_t carries (lib/crypto.h): the builtin driver's own member. */
static mbedtls_sha256_context *sha(molt_hash_ctx_t *h)
{
    return &h->op.MBEDTLS_PRIVATE(ctx).mbedtls_ctx.MBEDTLS_PRIVATE(ctx).sha256;
}

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
    return MOLT_OK;
}

molt_err_t molt_hash_start(molt_hash_ctx_t *h, uint32_t alg)
{
    if (alg != MOLT_HASH_SHA256)
        return MOLT_E_CRYPTO; /* what PSA answers for a hash this build lacks */
    h->alg = alg;
    mbedtls_sha256_init(sha(h));
    return mbedtls_sha256_starts(sha(h), 0) == 0 ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_hash_update(molt_hash_ctx_t *h, const void *data, size_t len)
{
    return mbedtls_sha256_update(sha(h), data, len) == 0 ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_hash_finish(molt_hash_ctx_t *h, uint8_t *out, size_t cap, size_t *len)
{
    int rc = cap < 32u ? -1 : mbedtls_sha256_finish(sha(h), out);
    mbedtls_sha256_free(sha(h));
    if (rc != 0)
        return MOLT_E_CRYPTO;
    *len = 32u;
    return MOLT_OK;
}

void molt_hash_abort(molt_hash_ctx_t *h)
{
    mbedtls_sha256_free(sha(h));
}

molt_err_t molt_ecdsa_verify_raw(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                 size_t digest_len, const uint8_t *sig, size_t sig_len)
{
    if (key->type != MOLT_KEY_P256)
        return MOLT_E_SIG_ALG;
    if (hash_alg != MOLT_HASH_SHA256 || digest_len != 32u)
        return MOLT_E_ARG;
    if (sig_len != 64u)
        return MOLT_E_SIG_INVALID;
    if (key->pub_len != 65u || key->pub[0] != 0x04u)
        return MOLT_E_KEY_FORMAT;
    switch (p256_ecdsa_verify(sig, key->pub + 1, digest, digest_len)) {
    case P256_SUCCESS: return MOLT_OK;
    case P256_INVALID_PUBKEY: return MOLT_E_KEY_FORMAT;
    default: return MOLT_E_SIG_INVALID;
    }
}

molt_err_t molt_sig_verify_digest(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                  size_t digest_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t raw[64];
    molt_err_t err;

    if (molt_hash_size(hash_alg) != digest_len)
        return MOLT_E_ARG;
#ifdef MPS2_SIG_ED25519
    (void)raw;
    (void)err;
    if (key->type != MOLT_KEY_ED25519)
        return MOLT_E_SIG_ALG; /* this boot stage takes Ed25519 only */
    return molt_ed25519_verify_digest(key->pub, digest, digest_len, sig, sig_len);
#else
    if (key->type != MOLT_KEY_P256)
        return MOLT_E_SIG_ALG; /* this boot stage takes ECDSA-P256 only */
    if ((err = molt_der_ecdsa_to_raw(sig, sig_len, raw, 32)) != MOLT_OK)
        return err;
    return molt_ecdsa_verify_raw(key, hash_alg, digest, digest_len, raw, sizeof raw);
#endif
}
