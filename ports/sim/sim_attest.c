/*
 * sim_attest.c - the simulated device's attestation key store (sim_attest.h).
 */
#include "sim_attest.h"

#include <psa/crypto.h>

#include "molt/attest.h"

#define IAK_ALG PSA_ALG_ECDSA(PSA_ALG_SHA_256)

static molt_err_t init_psa(void)
{
    return psa_crypto_init() == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t sim_attest_sign(const sim_attest_store_t *ks, const uint8_t digest[32], uint8_t sig[64])
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key = 0;
    size_t n = 0;
    psa_status_t st;

    if (!ks->has_iak || init_psa() != MOLT_OK)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, IAK_ALG);
    if (psa_import_key(&at, ks->iak_priv, sizeof ks->iak_priv, &key) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    st = psa_sign_hash(key, IAK_ALG, digest, 32, sig, 64, &n);
    psa_destroy_key(key);
    return st == PSA_SUCCESS && n == 64 ? MOLT_OK : MOLT_E_CRYPTO;
}

void sim_attest_wire(molt_port_t *p, sim_attest_store_t *ks,
                     molt_err_t (*sign)(void *ctx, const uint8_t digest[32], uint8_t sig[64]))
{
    bool on = ks->has_iak;
    p->attest_sign = on ? sign : NULL;
    p->attest_pub = on ? ks->iak_pub : NULL;
    p->attest_impl_id = on ? ks->impl_id : NULL;
    p->attest_boot_seed = on ? ks->boot_seed : NULL;
    p->attest_lifecycle = MOLT_LIFECYCLE_SECURED;
}

molt_err_t sim_attest_impl_id(sim_attest_store_t *ks)
{
    static const char name[] = "molt sim port";
    size_t n = 0;
    if (init_psa() != MOLT_OK ||
        psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)name, sizeof name - 1u, ks->impl_id,
                         sizeof ks->impl_id, &n) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}

molt_err_t sim_attest_provision(sim_attest_store_t *ks)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key = 0;
    size_t n = 0, m = 0;
    molt_err_t e = MOLT_E_CRYPTO;

    if (init_psa() != MOLT_OK)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_EXPORT);
    psa_set_key_algorithm(&at, IAK_ALG);
    if (psa_generate_key(&at, &key) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    if (psa_export_key(key, ks->iak_priv, sizeof ks->iak_priv, &n) == PSA_SUCCESS && n == 32 &&
        psa_export_public_key(key, ks->iak_pub, sizeof ks->iak_pub, &m) == PSA_SUCCESS && m == 65) {
        ks->has_iak = true;
        e = MOLT_OK;
    }
    psa_destroy_key(key);
    return e;
}

molt_err_t sim_attest_new_boot(sim_attest_store_t *ks)
{
    ks->boot_slot = -1;
    if (init_psa() != MOLT_OK || psa_generate_random(ks->boot_seed, sizeof ks->boot_seed) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}
