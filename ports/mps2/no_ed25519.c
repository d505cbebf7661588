/*
 * no_ed25519.c - this port's build has no Ed25519 (no libsodium for the target).
 *
 * lib/verify.c calls the streamed PureEdDSA functions directly and lib/crypto.c hands
 * Ed25519 keys to molt_ed25519_verify_digest(), so a link needs these symbols even
 * when no trusted key is Ed25519 (see docs/bench.md, "What the linker cannot drop").
 * Here every Ed25519 signature is refused as an algorithm this device does not
 * take (MOLT_E_SIG_ALG); lib/crypto_ed25519.c is the real one (host, libsodium).
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
