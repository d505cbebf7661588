/*
 * sim_stage.h - the two-stage boot chain and the key set on the simulator
 * (R-ALLUPDATABLE; docs/boot-chain.md, docs/keys.md).
 *
 * A sim_stage_t is the boot-owned part of a simulated device, next to the
 * application's sim_device_t. It is a sim_device_t of its own whose parts are:
 *   PRIMARY, SECONDARY  the stage-1 slots S1A and S1B (both executable);
 *   STATUS              stage 0's boot record (not the application's);
 *   NV                  counter 0: the stage-1 security counter;
 *   data area           the key set in force (molt_keyrot_cfg_t.area: two
 *                       halves of whole sectors), written only by the boot
 *                       code or the update service on its behalf.
 * Stage 0 is molt_boot_go() in REMAP mode with cfg.stage = MOLT_STAGE_1 over
 * these parts and its own immutable key table (sim_stage_boot0). The stage 1
 * it picks then boots the application with cfg.keyrot = &st->keyrot, so every
 * application image is judged against the key set in force. Stage 0 itself
 * judges stage-1 images against its fixed table, not the key set
 * (docs/boot-chain.md "Stage 0 and rotated keys").
 *
 * Do not move or copy a sim_stage_t after init/load (pointers into itself).
 * Host code only.
 */
#ifndef MOLT_SIM_STAGE_H
#define MOLT_SIM_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/boot.h"
#include "molt/keyrot.h"
#include "sim_port.h"

/* The PSA FWU component id a key-update travels under (docs/keys.md
 * "Delivery"): 0 is the application, 1 is stage 1, 2 the key set. */
#define SIM_FWU_COMPONENT_STAGE1 1u
#define SIM_FWU_COMPONENT_KEYSET 2u

typedef struct sim_stage {
    sim_device_t dev;        /* S1A, S1B, stage 0's record, the stage-1 counter, the key-set area */
    molt_keyrot_ws_t ws;     /* the key set module's RAM */
    molt_keyrot_cfg_t keyrot; /* wire into the application boot's cfg.keyrot */
} sim_stage_t;

/* Stage 0's boot configuration: REMAP over S1A/S1B, stage-1 images only. */
extern const molt_boot_cfg_t sim_stage0_cfg;

/* Uniform stage layout: two stage-1 slots of slot_sectors sectors, stage 0's
 * record, the NV counters, and a key-set area of two halves of at least 4 KiB
 * each (whole sectors). MOLT_E_LAYOUT when impossible. */
molt_err_t sim_stage_layout(sim_layout_t *l, uint32_t sector_size, uint32_t slot_sectors, uint32_t write_align,
                            uint8_t erase_value);

/* A fresh chain (all erased: no stage 1, the genesis key set). keys: stage
 * 0's immutable table (must outlive st). roots/threshold: the rotation keys
 * (may be NULL / 0 when no key-update will be applied through st). */
molt_err_t sim_stage_init(sim_stage_t *st, const sim_layout_t *l, const molt_keyring_t *keys,
                          const molt_keyring_t *roots, uint32_t threshold);
molt_err_t sim_stage_load(sim_stage_t *st, const char *path, const molt_keyring_t *keys,
                          const molt_keyring_t *roots, uint32_t threshold, sim_res_t *why);
molt_err_t sim_stage_save(const sim_stage_t *st, const char *path);
void sim_stage_free(sim_stage_t *st);
/* Power comes back (after a cut): the flash and the NV counters. */
molt_err_t sim_stage_reboot(sim_stage_t *st);
/* dst (initialised with the same layout) takes src's flash; for snapshots. */
molt_err_t sim_stage_copy(sim_stage_t *dst, const sim_stage_t *src);

/* Stage 0 at reset: pick, verify and (trial) run a stage 1. */
molt_err_t sim_stage_boot0(sim_stage_t *st, molt_boot_result_t *r);

/* Factory programming of the first stage 1 into S1A (no request). */
molt_err_t sim_stage_factory(sim_stage_t *st, const uint8_t *img, size_t len);

/* Install a stage-1 image: write it into the stage-1 slot that is not
 * confirmed and request a trial (or a permanent update) from stage 0.
 * MOLT_E_NO_IMAGE: no stage 1 has been confirmed yet (program the factory
 * one first). *slot (may be NULL) gets the slot written. */
molt_err_t sim_stage_install(sim_stage_t *st, const uint8_t *img, size_t len, bool permanent, uint32_t *slot);

/* The running stage 1 (a trial) confirms itself: stage 0 records it at the
 * next reset and advances the stage-1 counter. */
molt_err_t sim_stage_confirm(sim_stage_t *st);

/* The update service applies a key-update (molt_keyrot_apply): factory is the
 * application's factory key table, running the image the application runs
 * (NULL: no strand check). Refusals leave the set in force unchanged. */
molt_err_t sim_stage_keyupdate(sim_stage_t *st, const molt_keyring_t *factory, const uint8_t *ku, size_t len,
                               const molt_source_t *running);

/* The sequence number of the key set in force (0: the genesis). */
molt_err_t sim_stage_keyset_seq(sim_stage_t *st, uint32_t *seq);

/* The application boot's configuration with the key set wired in. */
molt_boot_cfg_t sim_stage_app_cfg(sim_stage_t *st, molt_boot_cfg_t base);

#endif
