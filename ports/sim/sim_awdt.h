/*
 * sim_awdt.h - the simulated device's authenticated watchdog (R-AVAIL,
 * molt/awdt.h): the parts a real SoC puts behind its isolation boundary.
 *
 *   - the watchdog state area: two 512-byte NOR sectors (program only erased
 *     bytes, 8-byte units, erase value 0xff) that are not one of the molt
 *     areas, so nothing that writes the slots, STATUS or the data area can
 *     reach them; only the boot code and the update service write it;
 *   - device time: a monotonic seconds counter, the port's tick source, moved
 *     on only by the simulation (sim_awdt_advance);
 *   - the hardware watchdog the boot code arms: it fires when device time
 *     reaches the armed deadline (the device resets into recovery);
 *   - the update service's RAM: the outstanding nonce, lost at every reset;
 *   - the factory's provisioning: the deployer's ticket key (P-256 SPKI DER),
 *     the device's ticket policy and the exit grant for an approved image.
 *
 * The device identity a ticket names is SHA-256 of the device's IAK public key
 * (the 65-byte point; the PSA attestation instance id is 0x01 || that hash),
 * so the deployer derives it from the key it verifies tokens with.
 * Saved with the device file (sim_devfile.c, version 4). Host code only.
 */
#ifndef MOLT_SIM_AWDT_H
#define MOLT_SIM_AWDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/awdt.h"

#define SIM_AWDT_SECTOR 512u
#define SIM_AWDT_KEY_MAX 91u

typedef struct sim_awdt {
    bool on;                                  /* provisioned */
    uint8_t mem[2 * SIM_AWDT_SECTOR];         /* the state area */
    uint32_t clock;                           /* device time, seconds */
    bool armed;                               /* the hardware watchdog runs */
    uint32_t fires_at;                        /* device time it resets the device */
    bool nonce_out;                           /* update service RAM: lost at reset */
    uint8_t nonce[MOLT_AWDT_NONCE_LEN];
    uint32_t nonce_time, nonce_boot;
    uint8_t key_der[SIM_AWDT_KEY_MAX];        /* the deployer's ticket key */
    uint32_t key_len;
    uint32_t max_seconds, max_boots, nonce_ttl, exit_seconds, exit_boots;
    uint8_t device_id[MOLT_AWDT_ID_LEN];
    bool recovery;                            /* the last boot was a recovery boot */
    /* power cuts in the state area, for power-fail sweeps (not saved): with
     * cut_armed, flash operation number cut_at (counted in ops) is torn and
     * every later one fails until sim_awdt_power_back() */
    bool cut_armed, dead;
    uint64_t ops, cut_at;
    uint32_t cut_rng;
    /* wired by sim_awdt_wire(), not saved */
    molt_area_t area;
    molt_key_t key;
    molt_keyring_t ring;
    molt_awdt_policy_t pol;
    molt_awdt_cfg_t cfg;
} sim_awdt_t;

/* Wire the area, the policy and the boot step (after init or load; the struct
 * must not move afterwards). */
void sim_awdt_wire(sim_awdt_t *w);

/* Factory provisioning, once: the ticket key, the policy, and the first
 * deadline (now + seconds) and boot limit (boots). iak_pub: the device's IAK
 * point (65 bytes), whose hash is the identity tickets name. MOLT_E_STATE if
 * already provisioned. */
molt_err_t sim_awdt_provision(sim_awdt_t *w, const uint8_t *iak_pub, const uint8_t *key_der, size_t key_len,
                              uint32_t seconds, uint32_t boots, uint32_t max_seconds, uint32_t max_boots,
                              uint32_t nonce_ttl, uint32_t exit_seconds, uint32_t exit_boots);

/* The boot configuration's watchdog (NULL when not provisioned). */
const molt_awdt_cfg_t *sim_awdt_cfg(sim_awdt_t *w);

/* A reset: the update service's RAM is gone, the hardware watchdog stops until
 * the boot code arms it again. */
void sim_awdt_reset(sim_awdt_t *w);

/* The update service issues a fresh nonce (replacing any outstanding one). */
molt_err_t sim_awdt_nonce(sim_awdt_t *w, uint8_t nonce[MOLT_AWDT_NONCE_LEN]);

/* The update service checks and stores a ticket (molt_awdt_accept). */
molt_err_t sim_awdt_ticket(sim_awdt_t *w, const uint8_t *ticket, size_t len);

/* Power cuts in the state area (sweeps): arm a torn cut at the n-th operation
 * from now; power back clears it. */
void sim_awdt_arm_cut(sim_awdt_t *w, uint64_t n, uint32_t seed);
void sim_awdt_power_back(sim_awdt_t *w);

/* Device time moves on by secs; true when the hardware watchdog fired on the
 * way (the device must reset: the clock stops at the moment it fired). */
bool sim_awdt_advance(sim_awdt_t *w, uint32_t secs);

/* The state in force (deadline, boot limit, latch, entry) and the boot count. */
molt_err_t sim_awdt_status(sim_awdt_t *w, molt_awdt_state_t *st, uint32_t *boots);

/* Device file section (sim_devfile.c): SIM_AWDT_FILE_SIZE bytes with a CRC. */
#define SIM_AWDT_FILE_SIZE (16u + 2u * SIM_AWDT_SECTOR + 4u * 9u + MOLT_AWDT_NONCE_LEN + SIM_AWDT_KEY_MAX + 1u + \
                            MOLT_AWDT_ID_LEN + 4u)
void sim_awdt_serialize(const sim_awdt_t *w, uint8_t out[SIM_AWDT_FILE_SIZE]);
bool sim_awdt_deserialize(sim_awdt_t *w, const uint8_t in[SIM_AWDT_FILE_SIZE]);

#endif
