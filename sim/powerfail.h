/*
 * powerfail.h - the power-fail proof: cut power at every flash operation of
 * molt_boot_go() (torn, optionally also clean), reboot, recover, and check.
 *
 * Flows, each from a start state built without cuts on a fresh device (old image
 * written to PRIMARY, booted and confirmed):
 *   update   new image staged + TEST request; boot activates it for a trial;
 *   revert   after a completed test upgrade, boot without confirming: revert;
 *   confirm  after a completed test upgrade and molt_confirm(): boot advances
 *            the security counter;
 *   perm     new image staged + PERM request; boot installs it for good.
 * (revert is skipped in OVERWRITE mode, which is documented as not revertible.)
 *
 * For a flow: run the boot once uncut to count its T flash operations; then for
 * every k in 0..T-1 (and each seed; each cut kind) start from the flow's state,
 * cut at operation k, reboot, boot again uncut, and check the result. For a
 * sample of k (double_cuts), also cut the recovery boot at each of its
 * operations, then boot uncut and check. Checks after the final boot:
 *   bricked  molt_boot_go() did not return MOLT_OK;
 *   mixed    the booted slot's bytes over the image length are neither exactly
 *            the old nor exactly the new image;
 *   counter  the NV security counter decreased (at any reboot), or exceeds the
 *            old image's counter while an unconfirmed or the old image runs, or
 *            exceeds the new image's; confirm flow: not advanced to the new one;
 *   lost     a confirmed image was lost: revert flow must end on the old image,
 *            confirm flow on the new one, confirmed;
 *   violations  NOR / write-once violations seen by the simulator;
 *   plaintext   (encrypted images, R-CONF) a 16-byte block of an encrypted
 *            image's plaintext payload found anywhere in SECONDARY or STATUS,
 *            after any cut or any boot.
 */
#ifndef MOLT_HARNESS_POWERFAIL_H
#define MOLT_HARNESS_POWERFAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "molt/boot.h"
#include "sim_port.h"

#define SIM_PF_UPDATE  0x1u
#define SIM_PF_REVERT  0x2u
#define SIM_PF_CONFIRM 0x4u
#define SIM_PF_PERM    0x8u
#define SIM_PF_ALL     0xfu

typedef struct sim_pf_cfg {
    sim_layout_t layout;
    molt_boot_mode_t mode;
    const uint8_t *old_img;
    size_t old_len;
    const uint8_t *new_img;
    size_t new_len;
    molt_keyring_t keys;
    uint32_t flows;       /* SIM_PF_* mask; 0 = all */
    uint32_t seeds;       /* torn cuts per index (>= 1) */
    bool clean;           /* also cut *before* each operation */
    uint32_t double_cuts; /* first-cut indices per flow whose recovery is cut again */
    FILE *log;            /* failures and per-flow figures; may be NULL */
    /* Encrypted images: the device's key store (a sim_keystore_t, NULL: none),
     * and the installed (decrypted) form of each image, which PRIMARY holds when
     * it runs (NULL: the image itself). old_plain is what is programmed. */
    void *key_store;
    const uint8_t *old_plain, *new_plain;
    /* Other images of the device for DEPENDENCY TLVs (NULL: a single image). */
    const molt_deps_t *deps;
    /* The boot stage the slots hold (molt_boot_cfg_t.stage; 0: applications). */
    uint8_t stage;
} sim_pf_cfg_t;

typedef struct sim_pf_result {
    uint64_t cuts;        /* power cuts that fired */
    uint64_t runs;        /* final boots checked */
    uint64_t bricked, mixed, counter, lost, violations;
    uint64_t plaintext;   /* states with plaintext of an encrypted image in staging */
    uint64_t scans;       /* staging scans made (0 without encrypted images) */
    uint64_t flow_ops[4]; /* T of each flow (0: not run) */
} sim_pf_result_t;

/* Run the proof. MOLT_OK when it ran (the verdict is in res); an error when a
 * start state could not be built or an uncut flow failed (reason on log). */
molt_err_t sim_powerfail_run(const sim_pf_cfg_t *cfg, sim_pf_result_t *res);

/* "update", "revert", "confirm", "perm" for flow index 0..3 (bit index of SIM_PF_*). */
const char *sim_powerfail_flow_name(int f);

/* True when every failure count in res is zero and at least one cut fired. */
bool sim_powerfail_ok(const sim_pf_result_t *res);

/* "power cuts injected: N, bricked: B, mixed: M, counter violations: C" (no newline);
 * with encrypted images also ", plaintext in staging: P (S scans)". */
void sim_powerfail_line(const sim_pf_result_t *res, char *buf, size_t cap);

#endif
