/*
 * sim_keystore.h - the simulated device's encryption key store (host code).
 *
 * Holds the device's private encryption keys (one P-256, one X25519, one
 * RSA-2048) as PSA volatile keys whose only permitted use is key agreement
 * (ECDH) or RSA-OAEP-SHA-256 decryption: they cannot be exported, so libmolt
 * (and anything else) sees shared secrets and content keys, never the keys
 * (R-ASSETS). sim_keystore_ecdh has the shape of molt_port_t.enc_ecdh and
 * molt_decrypt_t.ecdh, sim_keystore_rsa_unwrap that of molt_port_t.enc_rsa_unwrap
 * and molt_decrypt_t.rsa_unwrap, with the key store as their context.
 */
#ifndef MOLT_SIM_KEYSTORE_H
#define MOLT_SIM_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

#define SIM_KEYSTORE_ENVELOPES 4

typedef struct sim_keystore {
    uint32_t p256;   /* PSA key id, 0: none */
    uint32_t x25519; /* PSA key id, 0: none */
    uint32_t rsa;    /* PSA key id of the RSA-2048 key (OAEP-SHA-256 decrypt only), 0: none */
    /* envelopes the device received (the caller's memory), found by image hash */
    const uint8_t *env[SIM_KEYSTORE_ENVELOPES];
    size_t env_len[SIM_KEYSTORE_ENVELOPES];
    unsigned nenv;
} sim_keystore_t;

/* Add a private key given as PKCS#8 DER (P-256, X25519 or RSA-2048, as imgtool
 * and `molt keygen` write them). MOLT_E_KEY_FORMAT if it is none of these. */
molt_err_t sim_keystore_add_pkcs8(sim_keystore_t *ks, const uint8_t *der, size_t len);

/* ECDH with the key for tlv_type's curve (ctx: a sim_keystore_t). */
molt_err_t sim_keystore_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32]);

/* RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) decryption of a wrapped content
 * key with the RSA key (ctx: a sim_keystore_t). MOLT_E_ENC_ALG: no RSA key;
 * MOLT_E_ENC_UNWRAP: decryption fails; MOLT_E_BUFFER: the result exceeds key_max. */
molt_err_t sim_keystore_rsa_unwrap(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                                   size_t *key_len);

/* Keep an envelope (not copied; it must outlive the key store). MOLT_E_BUFFER when full. */
molt_err_t sim_keystore_add_envelope(sim_keystore_t *ks, const uint8_t *env, size_t len);

/* molt_port_t.enc_envelope over the kept envelopes (ctx: a sim_keystore_t): the
 * one whose bound digest (bytes 8.. of the envelope) equals digest. */
molt_err_t sim_keystore_envelope(void *ctx, const uint8_t *digest, size_t len, const uint8_t **env, size_t *env_len);

/* Destroy the keys. */
void sim_keystore_free(sim_keystore_t *ks);

#endif
