/*
 * crypto.h - libmolt's internal door to crypto (not a public header).
 *
 * Hashes, ECDSA and RSA-PSS go through the PSA Crypto API (Mbed TLS 3.6 on host
 * and target; TF-M and Zephyr expose the same API): lib/crypto.c. Ed25519 goes
 * through libsodium, including a streamed PureEdDSA verification so an image in
 * flash never has to fit in RAM: lib/crypto_ed25519.c, its own object, so a
 * link that never reaches an Ed25519 function does not pull libsodium (and this
 * header does not include libsodium's). Every function returns molt_err_t;
 * none allocates.
 */
#ifndef MOLT_LIB_CRYPTO_H
#define MOLT_LIB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#include "molt/error.h"

/* Key types the verifier knows, from the trusted key's DER. */
typedef enum molt_key_type {
    MOLT_KEY_NONE = 0,
    MOLT_KEY_P256,
    MOLT_KEY_P384,
    MOLT_KEY_ED25519,
    MOLT_KEY_RSA2048,
    MOLT_KEY_RSA3072
} molt_key_type_t;

/* A public key located inside its DER: pub/pub_len is what the backend imports
 * (uncompressed point for EC, 32 bytes for Ed25519, PKCS#1 DER for RSA). */
typedef struct molt_pubkey {
    molt_key_type_t type;
    const uint8_t *pub;
    size_t pub_len;
} molt_pubkey_t;

/* Parse a trusted key's DER (SPKI for EC/Ed25519, PKCS#1 for RSA), strictly. */
molt_err_t molt_der_parse_pubkey(const uint8_t *der, size_t len, molt_pubkey_t *out);

/* Convert a DER ECDSA signature to r||s of 2*n bytes. Strict DER; trailing zero
 * bytes are tolerated for imgtool's --pad-sig. */
molt_err_t molt_der_ecdsa_to_raw(const uint8_t *der, size_t len, uint8_t *raw, size_t n);

typedef struct molt_hash_ctx {
    psa_hash_operation_t op;
    uint32_t alg; /* MOLT_HASH_* */
} molt_hash_ctx_t;

molt_err_t molt_crypto_init(void);
molt_err_t molt_hash_start(molt_hash_ctx_t *h, uint32_t alg);
molt_err_t molt_hash_update(molt_hash_ctx_t *h, const void *data, size_t len);
molt_err_t molt_hash_finish(molt_hash_ctx_t *h, uint8_t *out, size_t cap, size_t *len);
void molt_hash_abort(molt_hash_ctx_t *h);

/* Verify a raw r || s ECDSA signature (P-256: 64 bytes) over a digest. */
molt_err_t molt_ecdsa_verify_raw(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                 size_t digest_len, const uint8_t *sig, size_t sig_len);

/* Verify sig over a digest with key. MOLT_E_SIG_INVALID when it does not verify. */
molt_err_t molt_sig_verify_digest(const molt_pubkey_t *key, uint32_t hash_alg, const uint8_t *digest,
                                  size_t digest_len, const uint8_t *sig, size_t sig_len);

/* Ed25519 over a digest (lib/crypto_ed25519.c). MOLT_E_SIG_INVALID when it does not verify. */
molt_err_t molt_ed25519_verify_digest(const uint8_t pub[32], const uint8_t *digest, size_t digest_len,
                                      const uint8_t *sig, size_t sig_len);

/* Streamed PureEdDSA (Ed25519 over a whole message fed in pieces). sha is the
 * storage of libsodium's crypto_hash_sha512_state (208 bytes; lib/crypto_ed25519.c
 * checks that it fits), opaque here. */
#define MOLT_ED25519_STATE_WORDS 26u
typedef struct molt_ed25519_stream {
    uint64_t sha[MOLT_ED25519_STATE_WORDS];
} molt_ed25519_stream_t;

molt_err_t molt_ed25519_stream_start(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32]);
molt_err_t molt_ed25519_stream_update(molt_ed25519_stream_t *s, const void *data, size_t len);
molt_err_t molt_ed25519_stream_finish(molt_ed25519_stream_t *s, const uint8_t sig[64], const uint8_t pub[32]);

/* Constant-time equality of two buffers of length n: 1 if equal. */
int molt_ct_equal(const void *a, const void *b, size_t n);

/* Wipe a buffer in a way the compiler may not drop. */
void molt_wipe(void *p, size_t n);

#endif
