/*
 * sim_attest.h - the simulated device's attestation key store (R-ATTEST,
 * R-ASSETS): its Initial Attestation Key (ECDSA P-256), the implementation id,
 * the boot seed and the boot record attestation reports. Host code only.
 *
 * The store sits outside every molt flash area (it is a field of the device,
 * saved in its own block of the device file), so nothing that reads or writes
 * the slots, STATUS or the NV sectors can reach it. libmolt gets a signing door
 * (attest_sign over a digest, PSA Crypto psa_sign_hash) and the public key,
 * never the private scalar.
 */
#ifndef MOLT_SIM_ATTEST_H
#define MOLT_SIM_ATTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/port.h"

typedef struct sim_attest_store {
    bool has_iak;           /* false for device files from before attestation */
    uint8_t iak_priv[32];   /* the IAK's private scalar: only sim_attest_sign uses it */
    uint8_t iak_pub[65];    /* 0x04 || X || Y */
    uint8_t impl_id[32];    /* SHA-256("molt sim port"), the same on every sim device */
    uint8_t boot_seed[32];  /* drawn at each boot */
    int32_t boot_slot;      /* slot the last boot ran (molt_boot_result_t.slot), -1 none */
} sim_attest_store_t;

/* Provision a fresh IAK into ks (has_iak on success). MOLT_E_CRYPTO on failure. */
molt_err_t sim_attest_provision(sim_attest_store_t *ks);

/* Fill ks->impl_id. MOLT_E_CRYPTO on failure. */
molt_err_t sim_attest_impl_id(sim_attest_store_t *ks);

/* A reset: a fresh boot seed, no boot slot. MOLT_E_CRYPTO if no random source. */
molt_err_t sim_attest_new_boot(sim_attest_store_t *ks);

/* Sign a SHA-256 digest with the IAK (raw r || s). The scalar is imported into
 * a volatile PSA key for this one signature and destroyed. */
molt_err_t sim_attest_sign(const sim_attest_store_t *ks, const uint8_t digest[32], uint8_t sig[64]);

/* Point p's attestation members at ks (cleared when ks has no IAK); sign is the
 * port's attest_sign door, which must reach ks through p->ctx. */
void sim_attest_wire(molt_port_t *p, sim_attest_store_t *ks,
                     molt_err_t (*sign)(void *ctx, const uint8_t digest[32], uint8_t sig[64]));

#endif
