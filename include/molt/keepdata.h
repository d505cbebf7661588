/*
 * molt/keepdata.h - data-preserving upgrade (GlobalPlatform Amendment H's
 * steps, R-KEEPDATA): an application's records are saved before its code is
 * replaced, migrated to the new code's schema in the trial, consolidated at
 * accept, and restored byte for byte when the new code is rejected or reverted.
 *
 * The application registers four listeners (molt_keep_ops_t, mirroring
 * OnUpgradeListener): save (flush RAM state into records; an error aborts the
 * upgrade), cleanup (idempotent, errors ignored), restore (migrate the LIVE
 * records, which hold the saved ones again at every call, from schema `prev`
 * to `next`; it may be called more than once after power loss) and
 * consolidate (errors ignored).
 *
 * The phase is a SYSTEM record of the store (molt/store.h) holding the
 * SHA-256 hash TLV values of the old and the new image and both schema
 * versions. Every decision binds to image identity, never to boot internals:
 * after each boot, molt_keep_boot() compares the hash of the image actually
 * running (and whether it runs as a trial, from molt_boot_result_t) with the
 * recorded ones, and from (phase, side, trial) decides:
 *
 *   phase          old image runs          new image runs: trial / confirmed
 *   none, done     -                       -
 *   saving, saved  drop the session        snapshot -> LIVE, migrate / + consolidate
 *   restoring      restore the snapshot    snapshot -> LIVE, migrate again / + consolidate
 *   trial          restore the snapshot    - / consolidate
 *   consolidating  restore the snapshot    consolidate
 *   (neither image runs: saving, saved -> the session is void, dropped;
 *   later phases -> MOLT_E_KEEP_IMAGE, nothing done. With no session left,
 *   code that declares another schema than the data's gets MOLT_E_KEEP_SCHEMA:
 *   it was activated without a save.)
 *
 * Every bulk change (snapshot, reset of LIVE to the snapshot, restore, drop)
 * is one store compaction committed together with the new phase, so a cut
 * leaves either the previous or the next phase with its data; the migration
 * itself re-runs from the snapshot after a cut. Code and data therefore always
 * belong to the same side (tests/test_keepdata.c sweeps every flash
 * operation).
 *
 * The new image declares its schema in a protected TLV (MOLT_TLV_DATA_SCHEMA:
 * application id, schema version, oldest schema it migrates from; `molt sign
 * --data-schema APP:SCHEMA[:FROM]`). molt_keep_check() refuses an image that
 * cannot migrate the device's schema (MOLT_E_KEEP_SCHEMA), before anything is
 * written. molt_keep_fwu_hooks() wires all of this into lib/fwu.c (finish,
 * install, accept, reject); the application calls molt_keep_boot() once after
 * molt_boot_go(), before it touches its records.
 *
 * No heap, no stdio. The caller owns molt_keep_t.
 */
#ifndef MOLT_KEEPDATA_H
#define MOLT_KEEPDATA_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/boot.h"
#include "molt/error.h"
#include "molt/fwu.h"
#include "molt/image.h"
#include "molt/store.h"

#define MOLT_KEEP_HASH 32u           /* bytes of an image's hash TLV kept as its identity */

/* Phases, with the values of Amendment H's status byte where the meaning is
 * the same (the values are part of the stored format). */
typedef enum molt_keep_phase {
    MOLT_KEEP_NONE = 0x00,          /* no session */
    MOLT_KEEP_DONE = 0x01,          /* completed: new code, consolidated data */
    MOLT_KEEP_SAVED = 0x02,         /* saved, waiting for the new code ("waiting for ELF") */
    MOLT_KEEP_SAVING = 0x10,        /* save started ("interrupted in saving" when found at boot) */
    MOLT_KEEP_RESTORING = 0x50,     /* migration running ("interrupted in restore") */
    MOLT_KEEP_CONSOLIDATING = 0x60, /* accept done, consolidation running ("interrupted in consolidate") */
    MOLT_KEEP_TRIAL = 0x70,         /* molt: migrated, the new code runs its trial */
    MOLT_KEEP_RECOVERED = 0x81      /* molt: completed by recovery: old code, its data restored */
} molt_keep_phase_t;

/* What molt_keep_boot() did. */
typedef enum molt_keep_action {
    MOLT_KEEP_ACT_NONE = 0,     /* nothing to do */
    MOLT_KEEP_ACT_MIGRATED,     /* new code: data migrated to its schema (trial) */
    MOLT_KEEP_ACT_CONSOLIDATED, /* new code confirmed: migration (if needed) and consolidation */
    MOLT_KEEP_ACT_RESTORED,     /* old code: the snapshot restored */
    MOLT_KEEP_ACT_DROPPED       /* old code, data never left: the session dropped */
} molt_keep_action_t;

typedef struct molt_keep_ops {
    molt_err_t (*save)(void *ctx, const molt_store_app_t *h);
    void (*cleanup)(void *ctx);
    molt_err_t (*restore)(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next);
    void (*consolidate)(void *ctx);
    void *ctx;
} molt_keep_ops_t; /* every member may be NULL (restore NULL: the records are kept as they are) */

/* The phase record (its stored form is docs/store.md's). */
typedef struct molt_keep_state {
    uint8_t phase;            /* molt_keep_phase_t */
    uint16_t prev, next;      /* schemas: the device's before the upgrade, the new image's */
    uint8_t old_hash[MOLT_KEEP_HASH], new_hash[MOLT_KEEP_HASH];
} molt_keep_state_t;

typedef struct molt_keep {
    molt_store_t *st;
    molt_store_app_t app;
    const molt_port_t *port;
    molt_boot_cfg_t cfg;
    uint32_t slot;               /* the running image's slot (molt_keep_boot); PRIMARY before */
    molt_keep_ops_t ops;
    molt_fwu_keep_hooks_t hooks; /* filled by molt_keep_fwu_hooks() */
} molt_keep_t;

/* Bind k to application app's records in st, on the device port (its slots
 * hold the images) and boot configuration. ops may be NULL. */
molt_err_t molt_keep_init(molt_keep_t *k, molt_store_t *st, uint16_t app, const molt_port_t *port,
                          const molt_boot_cfg_t *cfg, const molt_keep_ops_t *ops);

/* After molt_boot_go(): resume or recover the recorded session (table above)
 * for the image boot says is running. A device with no schema record takes
 * the running image's (or 0). did may be NULL. MOLT_E_KEEP_IMAGE: the running
 * image is neither side (nothing done); MOLT_E_KEEP_SCHEMA: no session, and
 * the running image declares another schema than the data's (it was activated
 * without a save: nothing migrated, nothing done - the application must not
 * use its records); MOLT_E_KEEP_RESTORE: the restore
 * listener failed - the phase stays RESTORING, accept is refused, and the
 * application should reject the trial (the next boot restores the snapshot). */
molt_err_t molt_keep_boot(molt_keep_t *k, const molt_boot_result_t *boot, molt_keep_action_t *did);

/* May the staged image (src) take over this application's data? MOLT_OK, or
 * MOLT_E_KEEP_SCHEMA (no schema TLV for this application while the device has
 * a schema, or the device's schema outside the image's [from, schema]).
 * Reads only. */
molt_err_t molt_keep_check(molt_keep_t *k, const molt_source_t *staged);

/* Before the install request: save listener, cleanup listener, then one
 * compaction takes the snapshot and records SAVED with both images' hashes.
 * The application's LIVE writes are refused (MOLT_E_KEEP_PHASE) until the next
 * boot. MOLT_E_KEEP_SAVE if the save listener failed (nothing changed). */
molt_err_t molt_keep_save(molt_keep_t *k, const molt_source_t *staged);

/* Accept: check (before the image is confirmed: only a migrated trial may be
 * accepted, MOLT_E_KEEP_PHASE otherwise), then consolidate (after it is
 * confirmed: consolidate listener, drop the snapshot, the new schema becomes
 * the device's). A cut in between is finished by the next molt_keep_boot(). */
molt_err_t molt_keep_accept_check(molt_keep_t *k);
molt_err_t molt_keep_consolidate(molt_keep_t *k);

/* The staged request was withdrawn (reject before the reboot): drop the
 * session; the old code keeps its data. */
molt_err_t molt_keep_abort(molt_keep_t *k);

/* The recorded phase record (phase NONE and zeros when there is none) and
 * the device's schema for this application (0 when none). */
molt_err_t molt_keep_status(molt_keep_t *k, molt_keep_state_t *s, uint16_t *schema);

/* The schema TLV of an image for application app: MOLT_OK with *schema and
 * *from, or MOLT_E_STORE_NOT_FOUND when it declares none for app. */
molt_err_t molt_keep_image_schema(const molt_source_t *img, uint16_t app, uint16_t *schema, uint16_t *from);

/* Fill k->hooks and hand them to fwu (component 0): finish checks the schema,
 * install saves, accept checks and consolidates, a reject of a staged image
 * aborts. */
void molt_keep_fwu_hooks(molt_keep_t *k, molt_fwu_t *fwu);

#endif
