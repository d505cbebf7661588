/*
 * sim_keystore.h - the simulated device's encryption key store (host code).
 *
 * Holds the device's private encryption keys (one P-256, one X25519) as PSA
 * volatile keys whose only permitted use is key agreement: they cannot be
 * exported, so libmolt (and anything else) sees shared secrets, never the keys
 * (R-ASSETS). sim_keystore_ecdh has the shape of molt_port_t.enc_ecdh and
 * molt_decrypt_t.ecdh, with the key store as its context.
 */
#ifndef MOLT_SIM_KEYSTORE_H
#define MOLT_SIM_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

typedef struct sim_keystore {
    uint32_t p256;   /* PSA key id, 0: none */
    uint32_t x25519; /* PSA key id, 0: none */
} sim_keystore_t;

/* Add a private key given as PKCS#8 DER (P-256 or X25519, as imgtool and
 * `molt keygen` write them). MOLT_E_KEY_FORMAT if it is neither. */
molt_err_t sim_keystore_add_pkcs8(sim_keystore_t *ks, const uint8_t *der, size_t len);

/* ECDH with the key for tlv_type's curve (ctx: a sim_keystore_t). */
molt_err_t sim_keystore_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32]);

/* Destroy the keys. */
void sim_keystore_free(sim_keystore_t *ks);

#endif
