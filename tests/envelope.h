/*
 * envelope.h - host tests: key envelopes built with PSA directly from the format
 * in docs/encryption.md (independently of lib/enc.c), and fresh device keys.
 */
#ifndef MOLT_TEST_ENVELOPE_H
#define MOLT_TEST_ENVELOPE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <psa/crypto.h>

#include "molt/enc.h"


/* Envelope for device pub (exported public key of a key-store key) carrying key. */
static inline size_t make_envelope(uint16_t scheme, uint32_t device_key, const uint8_t *key, size_t klen, uint16_t hash_tlv,
                            const uint8_t *digest, size_t dlen, uint8_t *env)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t eph = 0;
    uint8_t dev_pub[65], shared[32], okm[64], info[16 + 8 + 64];
    size_t publen = 0, elen = 0, olen = 0, p = 0;
    bool ec = scheme == MOLT_TLV_ENC_EC256;
    if (psa_export_public_key((psa_key_id_t)device_key, dev_pub, sizeof dev_pub, &publen) != PSA_SUCCESS)
        return 0;
    psa_set_key_type(&a, ec ? PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
                            : PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
    psa_set_key_bits(&a, ec ? 256 : 255);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&a, PSA_ALG_ECDH);
    if (psa_generate_key(&a, &eph) != PSA_SUCCESS)
        return 0;
    memcpy(env, "MENV", 4);
    env[4] = 1;
    env[5] = (uint8_t)scheme;
    env[6] = (uint8_t)klen;
    env[7] = (uint8_t)hash_tlv;
    p = 8;
    memcpy(env + p, digest, dlen);
    p += dlen;
    psa_export_public_key(eph, env + p, 65, &elen);
    p += elen;
    psa_status_t st = psa_raw_key_agreement(PSA_ALG_ECDH, eph, dev_pub, publen, shared, 32, &olen);
    psa_destroy_key(eph);
    if (st != PSA_SUCCESS)
        return 0;
    memcpy(info, "molt-envelope-v1", 16);
    memcpy(info + 16, env, 8 + dlen);
    psa_key_derivation_operation_t op = PSA_KEY_DERIVATION_OPERATION_INIT;
    psa_key_derivation_setup(&op, PSA_ALG_HKDF(PSA_ALG_SHA_256));
    psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_SECRET, shared, 32);
    psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_INFO, info, 16 + 8 + dlen);
    st = psa_key_derivation_output_bytes(&op, okm, klen + 32);
    psa_key_derivation_abort(&op);
    if (st != PSA_SUCCESS)
        return 0;
    /* enc key = AES-CTR(KEK, counter 0) = key XOR AES-ECB(KEK, 0) (and block 1 for AES-256) */
    psa_key_attributes_t ka = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t kek = 0;
    uint8_t blocks[32] = {0}, ks[32];
    blocks[31] = 1;
    psa_set_key_type(&ka, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&ka, klen * 8);
    psa_set_key_usage_flags(&ka, PSA_KEY_USAGE_ENCRYPT);
    psa_set_key_algorithm(&ka, PSA_ALG_ECB_NO_PADDING);
    psa_import_key(&ka, okm, klen, &kek);
    psa_cipher_encrypt(kek, PSA_ALG_ECB_NO_PADDING, blocks, 32, ks, 32, &olen);
    psa_destroy_key(kek);
    for (size_t i = 0; i < klen; i++)
        env[p + i] = key[i] ^ ks[i];
    p += klen;
    psa_key_attributes_t ma = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t mk = 0;
    psa_set_key_type(&ma, PSA_KEY_TYPE_HMAC);
    psa_set_key_usage_flags(&ma, PSA_KEY_USAGE_SIGN_MESSAGE);
    psa_set_key_algorithm(&ma, PSA_ALG_HMAC(PSA_ALG_SHA_256));
    psa_import_key(&ma, okm + klen, 32, &mk);
    st = psa_mac_compute(mk, PSA_ALG_HMAC(PSA_ALG_SHA_256), env, p, env + p, 32, &olen);
    psa_destroy_key(mk);
    return st == PSA_SUCCESS ? p + 32 : 0;
}

static inline uint32_t fresh_key(bool ec)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    psa_set_key_type(&a, ec ? PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
                            : PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
    psa_set_key_bits(&a, ec ? 256 : 255);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&a, PSA_ALG_ECDH);
    return psa_generate_key(&a, &id) == PSA_SUCCESS ? id : 0;
}

#endif
