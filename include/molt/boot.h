/*
 * molt/boot.h - decide what runs at reset, and activate updates atomically.
 *
 * molt_boot_go() is the first thing the boot code calls. It resumes any
 * activation a reset interrupted, acts on the application's request (MCUboot
 * trailer semantics: "test" and "permanent" upgrades, confirmation), verifies
 * the image that will run with molt_verify() (R-SECBOOT) against the trusted
 * keys and the stored security counter, and returns which slot to execute. It
 * never returns a slot holding unverified code: with no verified image it calls
 * the port's no_image hook and returns MOLT_E_NO_IMAGE (secure state).
 *
 * Modes (molt_boot_cfg_t.mode):
 *   SWAP      execute-in-place from PRIMARY; the new image is staged in
 *             SECONDARY starting at its second sector (molt_boot_staging_offset);
 *             activation swaps sector by sector with a progress journal in the
 *             boot record (STATUS); revertible. Cost: 2N + 3 sector erases for N sectors (2N + 1 to revert).
 *   REMAP     A/B: either slot executes (memory remapping); no copying at all.
 *   OVERWRITE copy SECONDARY over PRIMARY; not revertible.
 * Trial: a "test" upgrade runs unconfirmed; a reset before molt_confirm()
 * reverts. The security counter advances only for a confirmed image (or a
 * permanent request), never for a trial. An image whose security counter is
 * below the stored one is never activated or booted.
 *
 * Decisions are bound to image identity and kept in the boot record (the
 * STATUS area, lib/bootrec.h), never in state the application can write: a
 * revert installs only the image recorded at activation, verified again; a
 * request found during a trial is ignored; a request starts nothing but a
 * verification of the image staged now.
 *
 * Every flash write sequence is resumable: a power cut at any instant, inside
 * any write or erase, leaves a state from which the next molt_boot_go() boots
 * a verified image that is entirely the old or entirely the new one.
 */
#ifndef MOLT_BOOT_H
#define MOLT_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/image.h"
#include "molt/port.h"

struct molt_awdt_cfg;   /* molt/awdt.h */
struct molt_keyrot_cfg; /* molt/keyrot.h */
struct molt_boot_cfg;
struct molt_boot_result;

/* An activation mode's entry (molt_boot_swap, molt_boot_remap,
 * molt_boot_overwrite): given the stored counter nv, finish or start an
 * activation, judge the image that will run and fill res. */
typedef molt_err_t (*molt_boot_mode_fn)(const molt_port_t *port, const struct molt_boot_cfg *cfg, uint32_t nv,
                                        struct molt_boot_result *res);

typedef enum molt_boot_mode {
    MOLT_MODE_SWAP = 0,
    MOLT_MODE_REMAP = 1,
    MOLT_MODE_OVERWRITE = 2
} molt_boot_mode_t;

/* When a trial is not confirmed by the next reset but the image a revert must
 * restore is missing or is not the one recorded at activation (the application
 * can write the staging slot that holds it): */
typedef enum molt_revert_lost {
    MOLT_REVERT_LOST_RUN_TRIAL = 0,   /* keep running the trial unconfirmed (default):
                                         res.revert_lost is set, the counter never
                                         advances for it, molt_confirm() still works */
    MOLT_REVERT_LOST_SECURE_STATE = 1 /* run nothing: no_image(MOLT_E_REVERT_LOST) */
} molt_revert_lost_t;

/* Other images of a multi-image device, for DEPENDENCY TLVs: check whether
 * image_id holds (or will hold, with the same activation) at least min.
 * MOLT_OK, or MOLT_E_DEPENDENCY. */
typedef struct molt_deps {
    molt_err_t (*check)(void *ctx, uint8_t image_id, const molt_version_t *min);
    void *ctx;
} molt_deps_t;

typedef struct molt_boot_cfg {
    molt_boot_mode_t mode;
    bool downgrade_prevention; /* also refuse a lower version than the running one */
    molt_revert_lost_t revert_lost;
    /* NULL: a single-image port; an image declaring a dependency is refused
     * (MOLT_E_DEP_UNSUPPORTED). */
    const molt_deps_t *deps;
    /* NULL: no authenticated watchdog. Otherwise every boot is counted and
     * res.recovery says whether only the updater path may run (molt/awdt.h,
     * R-AVAIL). */
    const struct molt_awdt_cfg *awdt;
    /* NULL: the factory key table (molt_port_t.keys) is trusted as it is.
     * Otherwise every image is judged against the key set in force, which a
     * signed key-update rotates (molt/keyrot.h, R-ALLUPDATABLE). */
    const struct molt_keyrot_cfg *keyrot;
    /* The boot stage whose images these slots hold (docs/boot-chain.md):
     * MOLT_STAGE_APP (0, default): applications; an image marked for a boot
     * stage (MOLT_TLV_BOOT_STAGE) is refused with MOLT_E_BOOT_STAGE.
     * MOLT_STAGE_1: stage 0 choosing the updatable boot stage; only images
     * marked for stage 1 (`molt sign --custom-tlv 0x6dc1 0x01`) are accepted. */
    uint8_t stage;
    /* The mode's entry, for a boot stage the linker can trim (appended): the
     * function of mode (molt_boot_swap for MOLT_MODE_SWAP, ...; another one is
     * MOLT_E_ARG). molt_boot_go() takes it from mode when NULL, and so links every
     * mode; molt_boot_go_with() requires it and links only the mode named here. */
    molt_boot_mode_fn activate;
} molt_boot_cfg_t;

#define MOLT_STAGE_APP 0u
#define MOLT_STAGE_1 1u

/* What molt_boot_go() did, for logs and tests. */
typedef enum molt_boot_action {
    MOLT_ACT_NONE = 0,      /* booted the installed image */
    MOLT_ACT_UPGRADE_TEST,  /* activated a new image for a trial */
    MOLT_ACT_UPGRADE_PERM,  /* activated a new image permanently */
    MOLT_ACT_REVERT,        /* trial not confirmed: previous image restored */
    MOLT_ACT_REFUSED        /* staged image refused (reason in staged_err); old image kept */
} molt_boot_action_t;

typedef struct molt_boot_result {
    uint8_t slot;              /* MOLT_AREA_PRIMARY or _SECONDARY: what to execute */
    molt_image_t image;        /* its header facts (version, sec_cnt, sizes) */
    bool trial;                /* running unconfirmed: molt_confirm() or revert */
    uint32_t counter;          /* the stored security counter after this boot */
    molt_boot_action_t action;
    bool resumed;              /* an interrupted activation was completed */
    molt_err_t staged_err;     /* why a staged image was refused, or MOLT_OK */
    bool revert_lost;          /* a trial was due to revert and could not: see molt_revert_lost_t */
    bool request_cleared;      /* a request found during a trial was ignored and cleared */
    uint8_t id[32];            /* identity of the image that runs (its hash TLV value, 32 bytes) */
    bool recovery;             /* cfg.awdt: the deadline passed; start only the updater path */
    uint32_t boots;            /* cfg.awdt: this boot's number */
    molt_err_t awdt_err;       /* cfg.awdt: why the watchdog state could not be read (then recovery) */
} molt_boot_result_t;

molt_err_t molt_boot_go(const molt_port_t *port, const molt_boot_cfg_t *cfg, molt_boot_result_t *res);

/* molt_boot_go() with exactly the mode in cfg->activate (MOLT_E_ARG when it is
 * NULL or not mode's entry). A boot stage that calls this, and not
 * molt_boot_go(), links no code of the other modes; with molt_port_t.enc_ops
 * NULL it links no decryption either (docs/porting.md). */
molt_err_t molt_boot_go_with(const molt_port_t *port, const molt_boot_cfg_t *cfg, molt_boot_result_t *res);

/* The modes' entries, for molt_boot_cfg_t.activate (molt_boot_mode_fn). */
molt_err_t molt_boot_swap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res);
molt_err_t molt_boot_remap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res);
molt_err_t molt_boot_overwrite(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv,
                               molt_boot_result_t *res);

/* Application side (MCUboot semantics, so MCUboot-style tools drive molt). */

/* Offset in SECONDARY where a new image must be written (SWAP: one sector in). */
uint32_t molt_boot_staging_offset(const molt_port_t *port, const molt_boot_cfg_t *cfg);

/* Ask for the staged image to be activated at the next reset: a trial
 * (permanent = false) or for good (permanent = true). Writes the staging
 * slot's trailer (magic, image_ok, swap type), starting from an erased trailer
 * unless it already holds exactly this request. MOLT_E_STATE while a trial
 * runs (in every mode): the revert that is due takes precedence. */
molt_err_t molt_request_upgrade(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent);

/* Confirm the running image (sets image_ok in its trailer). The security
 * counter advances at the next molt_boot_go(). */
molt_err_t molt_confirm(const molt_port_t *port, const molt_boot_cfg_t *cfg);

/* Whether the running image is an unconfirmed trial, from the boot record
 * (state only the boot code writes) and the confirmation flag. */
molt_err_t molt_boot_in_trial(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool *trial);

#endif
