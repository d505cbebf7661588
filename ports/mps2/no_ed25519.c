/*
 * no_ed25519.c - the ECDSA builds of this port take no Ed25519.
 *
 * lib/verify.c calls the streamed PureEdDSA functions by name and lib/crypto.c hands
 * Ed25519 keys to molt_ed25519_verify_digest(), so a link needs these symbols even
 * when no trusted key is Ed25519. Here every Ed25519 signature is refused as an
 * algorithm this device does not take (MOLT_E_SIG_ALG). boot-ed25519.elf links
 * ed25519_digest.c (libsodium) instead; lib/crypto_ed25519.c is the host's.
 */
#include "crypto.h"

molt_err_t molt_ed25519_verify_digest(const uint8_t pub[32], const uint8_t *digest, size_t digest_len,
                                      const uint8_t *sig, size_t sig_len)
{
    (void)pub;
    (void)digest;
    (void)digest_len;
    (void)sig;
    (void)sig_len;
    return MOLT_E_SIG_ALG;
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
