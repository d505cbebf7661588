/*
 * sim_keystore.c - PSA-backed device key store for the simulator (sim_keystore.h).
 */
#include "sim_keystore.h"

#include <string.h>

#include <psa/crypto.h>

#include "molt/image.h"

/* PKCS#8 prefix of an X25519 private key (RFC 8410), then the 32-byte key. */
static const uint8_t x25519_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                          0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20};
/* AlgorithmIdentifier id-ecPublicKey + prime256v1, and ECPrivateKey's version + key header. */
static const uint8_t p256_alg[19] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                     0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t ec_priv_hdr[5] = {0x02, 0x01, 0x01, 0x04, 0x20};
/* OID rsaEncryption (1.2.840.113549.1.1.1). */
static const uint8_t rsa_oid[11] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};

static const uint8_t *find(const uint8_t *p, size_t len, const uint8_t *pat, size_t n)
{
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (!memcmp(p + i, pat, n))
            return p + i;
    return NULL;
}

static molt_err_t import(psa_key_type_t type, size_t bits, const uint8_t *raw, uint32_t *id)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t k = 0;
    if (psa_crypto_init() != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&attr, type);
    psa_set_key_bits(&attr, bits);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE); /* no EXPORT */
    psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
    if (psa_import_key(&attr, raw, 32, &k) != PSA_SUCCESS)
        return MOLT_E_KEY_FORMAT;
    if (*id)
        (void)psa_destroy_key((psa_key_id_t)*id);
    *id = k;
    return MOLT_OK;
}

/* PKCS#8 RSA: AlgorithmIdentifier {rsaEncryption, NULL}, then an OCTET STRING
 * holding the PKCS#1 RSAPrivateKey, which PSA imports as an RSA key pair. */
static molt_err_t import_rsa(const uint8_t *der, size_t len, uint32_t *id)
{
    const uint8_t *p = find(der, len, rsa_oid, sizeof rsa_oid), *end = der + len;
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t k = 0;
    size_t n = 0, hdr;

    if (p == NULL)
        return MOLT_E_KEY_FORMAT;
    p += sizeof rsa_oid;
    if (end - p >= 2 && p[0] == 0x05 && p[1] == 0x00)
        p += 2;
    if (end - p < 2 || p[0] != 0x04)
        return MOLT_E_KEY_FORMAT;
    if (p[1] < 0x80) {
        n = p[1];
        hdr = 2;
    } else if (p[1] == 0x81 && end - p >= 3) {
        n = p[2];
        hdr = 3;
    } else if (p[1] == 0x82 && end - p >= 4) {
        n = (size_t)p[2] << 8 | p[3];
        hdr = 4;
    } else {
        return MOLT_E_KEY_FORMAT;
    }
    if ((size_t)(end - p) - hdr < n)
        return MOLT_E_KEY_FORMAT;
    if (psa_crypto_init() != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&attr, PSA_KEY_TYPE_RSA_KEY_PAIR);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DECRYPT); /* no EXPORT */
    psa_set_key_algorithm(&attr, PSA_ALG_RSA_OAEP(PSA_ALG_SHA_256));
    if (psa_import_key(&attr, p + hdr, n, &k) != PSA_SUCCESS)
        return MOLT_E_KEY_FORMAT;
    if (psa_get_key_attributes(k, &attr) != PSA_SUCCESS || psa_get_key_bits(&attr) != 2048) {
        psa_reset_key_attributes(&attr);
        (void)psa_destroy_key(k);
        return MOLT_E_KEY_FORMAT; /* imgtool's ENC_RSA2048 is RSA-2048 only */
    }
    psa_reset_key_attributes(&attr);
    if (*id)
        (void)psa_destroy_key((psa_key_id_t)*id);
    *id = k;
    return MOLT_OK;
}

molt_err_t sim_keystore_add_pkcs8(sim_keystore_t *ks, const uint8_t *der, size_t len)
{
    if (find(der, len, rsa_oid, sizeof rsa_oid) != NULL)
        return import_rsa(der, len, &ks->rsa);
    if (len == 48 && !memcmp(der, x25519_prefix, sizeof x25519_prefix))
        return import(PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY), 255, der + 16, &ks->x25519);
    const uint8_t *alg = find(der, len, p256_alg, sizeof p256_alg);
    const uint8_t *k = alg ? find(alg, len - (size_t)(alg - der), ec_priv_hdr, sizeof ec_priv_hdr) : NULL;
    if (k && (size_t)(k - der) + sizeof ec_priv_hdr + 32 <= len)
        return import(PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 256, k + sizeof ec_priv_hdr, &ks->p256);
    return MOLT_E_KEY_FORMAT;
}

molt_err_t sim_keystore_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32])
{
    sim_keystore_t *ks = ctx;
    uint32_t id = tlv_type == MOLT_TLV_ENC_EC256 ? ks->p256
                  : (tlv_type == MOLT_TLV_ENC_X25519 || tlv_type == MOLT_TLV_ENC_X25519_SHA512) ? ks->x25519
                                                                                                 : 0;
    size_t olen = 0;
    if (id == 0)
        return MOLT_E_ENC_ALG;
    psa_status_t st = psa_raw_key_agreement(PSA_ALG_ECDH, (psa_key_id_t)id, peer_pub, len, shared, 32, &olen);
    if (st == PSA_SUCCESS && olen == 32)
        return MOLT_OK;
    memset(shared, 0, 32);
    return st == PSA_ERROR_INVALID_ARGUMENT || st == PSA_ERROR_NOT_SUPPORTED || st == PSA_SUCCESS ? MOLT_E_ENC_UNWRAP
                                                                                                  : MOLT_E_CRYPTO;
}

molt_err_t sim_keystore_rsa_unwrap(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                                   size_t *key_len)
{
    sim_keystore_t *ks = ctx;
    uint8_t out[256];
    size_t olen = 0;
    molt_err_t err = MOLT_OK;

    *key_len = 0;
    if (ks->rsa == 0)
        return MOLT_E_ENC_ALG;
    psa_status_t st = psa_asymmetric_decrypt((psa_key_id_t)ks->rsa, PSA_ALG_RSA_OAEP(PSA_ALG_SHA_256), wrapped, len,
                                             NULL, 0, out, sizeof out, &olen);
    if (st == PSA_SUCCESS && olen > key_max)
        err = MOLT_E_BUFFER;
    else if (st == PSA_ERROR_INVALID_PADDING || st == PSA_ERROR_INVALID_ARGUMENT)
        err = MOLT_E_ENC_UNWRAP; /* another key, or altered bytes */
    else if (st != PSA_SUCCESS)
        err = MOLT_E_CRYPTO;
    if (err == MOLT_OK) {
        memcpy(key, out, olen);
        *key_len = olen;
    }
    memset(out, 0, sizeof out);
    return err;
}

molt_err_t sim_keystore_add_envelope(sim_keystore_t *ks, const uint8_t *env, size_t len)
{
    if (ks->nenv >= SIM_KEYSTORE_ENVELOPES)
        return MOLT_E_BUFFER;
    ks->env[ks->nenv] = env;
    ks->env_len[ks->nenv++] = len;
    return MOLT_OK;
}

molt_err_t sim_keystore_envelope(void *ctx, const uint8_t *digest, size_t len, const uint8_t **env, size_t *env_len)
{
    const sim_keystore_t *ks = ctx;
    for (unsigned i = 0; i < ks->nenv; i++) {
        if (ks->env_len[i] >= 8 + len && !memcmp(ks->env[i] + 8, digest, len)) {
            *env = ks->env[i];
            *env_len = ks->env_len[i];
            return MOLT_OK;
        }
    }
    return MOLT_E_ENC_NO_KEY;
}

void sim_keystore_free(sim_keystore_t *ks)
{
    if (ks->p256)
        (void)psa_destroy_key((psa_key_id_t)ks->p256);
    if (ks->x25519)
        (void)psa_destroy_key((psa_key_id_t)ks->x25519);
    if (ks->rsa)
        (void)psa_destroy_key((psa_key_id_t)ks->rsa);
    ks->p256 = ks->x25519 = ks->rsa = 0;
}
