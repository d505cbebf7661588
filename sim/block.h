/*
 * block.h - the blocking attacker against the authenticated watchdog
 * (R-AVAIL, issue 12; docs/awdt.md). A simulated device (lib/ over the sim
 * port, its watchdog provisioned) and a model of the deployer's ticket rule
 * live through device time, second by second of events:
 *
 *   t = 0          v1 runs; the honest application asks for a ticket every
 *                  poll interval and gets one (the device is current)
 *   t = release    the deployer releases v2 to the device; from now on:
 *     NONE         the application updates at its next poll (the baseline)
 *     DROP         an attacker drops every update packet (deployment and
 *                  download); ticket requests still pass, and the deployer
 *                  grants them until the grace after release is over
 *     IGNORE       the application is compromised: it ignores updates and
 *                  never asks for a ticket again
 *     OUTAGE       no v2; the deployer is unreachable for a long time instead
 *                  (longer than a ticket): the device must degrade to
 *                  recovery, never to an unbootable device, and come back
 *
 * The hardware watchdog the boot code arms resets the device at its deadline;
 * a recovery boot starts only the updater (trusted, not the application): it
 * asks for a ticket, or installs what the deployer approves (a trial, its
 * health check, confirm), and leaves recovery through the approved image.
 * The deployer's attested view of the device is the version the last boot
 * ran (what an attestation token proves). Host code only.
 */
#ifndef MOLT_SIM_BLOCK_H
#define MOLT_SIM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/verify.h"

typedef enum block_attacker { BLOCK_NONE, BLOCK_DROP, BLOCK_IGNORE, BLOCK_OUTAGE } block_attacker_t;

typedef struct block_cfg {
    block_attacker_t attacker;
    const uint8_t *v1, *v2;     /* signed images, v2 above v1 */
    size_t v1_len, v2_len;
    const molt_keyring_t *keys; /* the image keys the device trusts */
    uint32_t ticket_seconds;    /* the class policy: what a ticket grants */
    uint32_t ticket_boots;
    uint32_t grace;             /* seconds after release an outdated device still gets tickets */
    uint32_t poll;              /* the application's (and the updater's) poll interval */
    uint32_t release_at;        /* device time v2 is released (OUTAGE: the outage starts) */
    uint32_t outage;            /* OUTAGE: how long the deployer is unreachable */
    uint32_t boot_cost;         /* device seconds one boot takes */
    uint32_t download_cost;     /* device seconds to download and stage v2 */
    uint32_t horizon;           /* give up after this device time */
} block_cfg_t;

typedef struct block_result {
    bool reached;               /* v2 runs confirmed (OUTAGE: normal boots again) */
    bool bricked;               /* some boot found no image to run */
    uint32_t reached_at;        /* device time of that boot */
    uint32_t last_ticket_at;    /* last ticket accepted in normal mode */
    uint32_t deadline;          /* the deadline in force when recovery was entered */
    uint32_t old_app_until;     /* last moment the old application ran */
    uint32_t recovery_at;       /* first recovery boot, 0: none */
    uint32_t recovery_cycle;    /* recovery boot -> reached */
    uint32_t bound;             /* release + grace + ticket seconds + one recovery cycle */
    uint32_t boots, recovery_boots, tickets, refusals, watchdog_resets;
} block_result_t;

/* Run one scenario. false when the set-up failed (reason on stderr). */
bool block_run(const block_cfg_t *cfg, block_result_t *res);

/* The bound on one recovery cycle with this configuration: the recovery
 * boot, one download, the trial boot and the confirmed boot. */
uint32_t block_cycle_bound(const block_cfg_t *cfg);

const char *block_attacker_name(block_attacker_t a);

#endif
