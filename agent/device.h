/*
 * device.h - the device adapter: everything molt-agent asks of the device it drives.
 *
 * The update driver (driver.c) knows nothing of the simulator: it powers the
 * device on, reads what the boot code decided, writes the download through the
 * PSA Firmware Update API, installs, accepts or rejects, asks for attestation
 * tokens and watchdog nonces, all through this table. dev_sim.c implements it
 * on a `molt sim` device file; a real device's port would implement the same
 * table over its own boot code and flash (docs/agent.md, "Layout: the parts and the device adapter").
 *
 * Every function takes the adapter's own context (dev->ctx). Functions that a
 * device without the feature cannot do are NULL (no watchdog: the awdt_* ones;
 * no key store: set_envelopes).
 */
#ifndef MOLT_AGENT_DEVICE_H
#define MOLT_AGENT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/awdt.h"
#include "molt/error.h"
#include "molt/fwu.h"
#include "molt/verify.h"

#define AGENT_COMP_IMAGE 0u
#define AGENT_COMP_KEYSET 2u /* SIM_FWU_COMPONENT_KEYSET on the simulator */

/* What the boot code decided at the last power-on. */
typedef struct agent_boot {
    char running[48]; /* version of the running image, "1.2.3+4" */
    uint32_t slot;    /* the slot it runs from */
    bool trial;       /* running as a trial (not yet accepted) */
    bool resumed;     /* an interrupted activation was completed */
    bool reverted;    /* the boot code reverted to the previous image */
    bool recovery;    /* the watchdog's deadline passed: only the updater runs */
    unsigned boots;   /* boots counted in recovery */
} agent_boot_t;

/* power_on's outcome. */
typedef enum { DEV_ON = 0, DEV_CUT = 1, DEV_FAIL = 2 } dev_power_t;

/* The watchdog's state after a ticket (device time, seconds). */
typedef struct agent_awdt {
    uint32_t deadline, clock, boot_limit;
} agent_awdt_t;

typedef struct agent_device {
    void *ctx;
    /* Power on or restart: the boot code runs. cut_at >= 0 cuts the power at that
     * flash operation of the boot (a test fault); DEV_CUT then means the device is
     * off and its state saved. On DEV_FAIL, why says what went wrong. */
    dev_power_t (*power_on)(void *ctx, long cut_at, agent_boot_t *boot, char *why, size_t cap);
    /* Persist the device's state (a simulator's device file; a real device: no-op). */
    bool (*save)(void *ctx);

    /* Which PSA FWU component the calls below reach: AGENT_COMP_IMAGE (0, the
     * application; the default after power_on) or AGENT_COMP_KEYSET (the key
     * set, docs/keys.md "Delivery"). false: the device has no such component;
     * NULL: only the application. */
    bool (*select)(void *ctx, unsigned component);
    /* The PSA Firmware Update API for the selected component. */
    psa_status_t (*query)(void *ctx, psa_fwu_component_info_t *info);
    psa_status_t (*start)(void *ctx);
    psa_status_t (*write)(void *ctx, size_t offset, const void *chunk, size_t len);
    psa_status_t (*finish)(void *ctx);
    psa_status_t (*install)(void *ctx);
    psa_status_t (*accept)(void *ctx);
    psa_status_t (*reject)(void *ctx);
    psa_status_t (*cancel)(void *ctx);
    psa_status_t (*clean)(void *ctx);

    /* The security counter of the running image (for the feedback). */
    bool (*security_counter)(void *ctx, uint32_t *out);
    /* R-ATTEST: a token over what runs now, answering nonce. */
    molt_err_t (*attest)(void *ctx, const uint8_t *nonce, size_t nlen, uint8_t *tok, size_t cap, size_t *len);

    /* Key envelopes (R-ONEPKG): the hash-TLV value of the image in slot (primary
     * or secondary), false if the slot holds no image; and the envelopes the key
     * store must hold from now on (NULL without a key store). */
    bool (*slot_digest)(void *ctx, uint32_t slot, uint8_t *digest, size_t *dlen);
    void (*set_envelopes)(void *ctx, const uint8_t *const *env, const size_t *len, unsigned n);

    /* The authenticated watchdog (R-AVAIL); NULL without one. nonce: a fresh
     * nonce from the update service; ticket: hand a ticket to the device;
     * advance: device time moves on by s seconds, true when the hardware
     * watchdog fired (the device must restart); clock: device time now. */
    molt_err_t (*awdt_nonce)(void *ctx, uint8_t nonce[MOLT_AWDT_NONCE_LEN]);
    molt_err_t (*awdt_ticket)(void *ctx, const uint8_t *ticket, size_t len, agent_awdt_t *state);
    bool (*awdt_advance)(void *ctx, uint32_t s);
    uint32_t (*awdt_clock)(void *ctx);
} agent_device_t;

/* The simulator's adapter (dev_sim.c). */
typedef struct dev_sim_opts {
    const char *file;          /* the device file */
    const molt_keyring_t *ring; /* the trusted signing keys */
    const char *const *enc_keys; /* PEM/DER private encryption keys (--enc-key) */
    int nenc;
    bool require_enc;          /* PSA_FWU_FLAG_ENCRYPTION */
    const molt_keyring_t *roots; /* rotation keys (--root); NULL: the device takes no key-update */
    uint32_t threshold;        /* --threshold */
} dev_sim_opts_t;

/* Load the device file; 0 on success, else prints a one-line error and returns 2. */
int dev_sim_open(agent_device_t *dev, const dev_sim_opts_t *o);
void dev_sim_close(agent_device_t *dev);

#endif
