/*
 * ed25519_digest.c - Ed25519 for boot-ed25519.elf: the signature over the image's
 * digest (imgtool's Ed25519, MOLT_SIG_ED25519) through libsodium's verify, as
 * lib/crypto_ed25519.c does on the host. PureEdDSA (SIG_PURE, the whole image
 * streamed) is refused here (MOLT_E_SIG_ALG): lib/crypto_ed25519.c's streamed check
 * needs libsodium's fixed-base scalar multiplication, whose precomputed table alone
 * is about 30 KB on Cortex-M, more than the rest of the boot stage.
 */
#include <sodium/crypto_sign_ed25519.h>

#include "crypto.h"

molt_err_t molt_ed25519_verify_digest(const uint8_t pub[32], const uint8_t *digest, size_t digest_len,
                                      const uint8_t *sig, size_t sig_len)
{
    if (sig_len != crypto_sign_ed25519_BYTES)
        return MOLT_E_TLV_LENGTH; /* as lib/crypto_ed25519.c */
    return crypto_sign_ed25519_verify_detached(sig, digest, digest_len, pub) == 0 ? MOLT_OK : MOLT_E_SIG_INVALID;
}

molt_err_t molt_ed25519_stream_start(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32])
{
    (void)s;
    (void)sig;
    (void)pub;
    return MOLT_E_SIG_ALG;
}

molt_err_t molt_ed25519_stream_update(molt_ed25519_stream_t *s, const void *data, size_t len)
{
    (void)s;
    (void)data;
    (void)len;
    return MOLT_E_SIG_ALG;
}

molt_err_t molt_ed25519_stream_finish(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32])
{
    (void)s;
    (void)sig;
    (void)pub;
    return MOLT_E_SIG_ALG;
}
