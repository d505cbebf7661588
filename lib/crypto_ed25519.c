/*
 * crypto_ed25519.c - Ed25519 behind lib/crypto.h, through libsodium: a signature
 * over a digest, and PureEdDSA streamed: h = SHA-512(R || A || M) is fed piece by
 * piece, then [S]B - [h]A must equal R (RFC 8032 §5.1.7, cofactorless, like
 * libsodium's own verify), with S canonical and A a valid main-subgroup point.
 * Its own object: an ECDSA-only link that never reaches these functions does not
 * pull libsodium.
 */
#include <sodium/crypto_core_ed25519.h>
#include <sodium/crypto_hash_sha512.h>
#include <sodium/crypto_scalarmult_ed25519.h>
#include <sodium/crypto_sign_ed25519.h>

#include "crypto.h"

_Static_assert(sizeof(crypto_hash_sha512_state) <= sizeof(((molt_ed25519_stream_t *)0)->sha),
               "molt_ed25519_stream_t too small for libsodium's SHA-512 state");
_Static_assert(_Alignof(crypto_hash_sha512_state) <= _Alignof(uint64_t), "SHA-512 state alignment");

static crypto_hash_sha512_state *sha_of(molt_ed25519_stream_t *s)
{
    return (crypto_hash_sha512_state *)(void *)s->sha;
}

molt_err_t molt_ed25519_verify_digest(const uint8_t pub[32], const uint8_t *digest, size_t digest_len,
                                      const uint8_t *sig, size_t sig_len)
{
    if (sig_len != crypto_sign_ed25519_BYTES)
        return MOLT_E_TLV_LENGTH;
    return crypto_sign_ed25519_verify_detached(sig, digest, digest_len, pub) == 0 ? MOLT_OK : MOLT_E_SIG_INVALID;
}

molt_err_t molt_ed25519_stream_start(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32])
{
    if (crypto_hash_sha512_init(sha_of(s)) != 0 || crypto_hash_sha512_update(sha_of(s), sig, 32) != 0 ||
        crypto_hash_sha512_update(sha_of(s), pub, 32) != 0)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}

molt_err_t molt_ed25519_stream_update(molt_ed25519_stream_t *s, const void *data, size_t len)
{
    return crypto_hash_sha512_update(sha_of(s), data, len) == 0 ? MOLT_OK : MOLT_E_CRYPTO;
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

    if (crypto_hash_sha512_final(sha_of(s), hram) != 0)
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
