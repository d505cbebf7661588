/*
 * molt/fwu.h - the PSA Firmware Update API over molt's boot code.
 *
 * Every psa_fwu_* function of <psa/update.h> has a molt_fwu_* twin taking an
 * explicit context (molt_fwu_t). The global psa_fwu_* functions act on the one
 * instance bound with molt_fwu_bind() (a single static pointer in lib/fwu.c:
 * the only static state of the library); unbound, they return
 * PSA_ERROR_BAD_STATE (query: PSA_ERROR_DOES_NOT_EXIST). No heap, no stdio.
 *
 * Variant: reboot needed (install -> STAGED, PSA_SUCCESS_REBOOT), trial
 * supported (TRIAL/REJECTED, accept), non-volatile staging. Image components
 * are SWAP (molt_fwu_init/molt_fwu_add) or, for the stage-1 boot code, A/B
 * REMAP (molt_fwu_add_remap, molt_fwu_ab_t below). SWAP: the image is staged in SECONDARY
 * at molt_boot_staging_offset(); install writes MCUboot's "test" request
 * (molt_request_upgrade), the boot code activates it as a trial, accept
 * confirms it (molt_confirm) and advances the security counter at once.
 *
 * Components: component 0 is the port given to molt_fwu_init(); more may be
 * added with molt_fwu_add() (each its own port: its own slots and counter).
 * install, accept and reject act on every component in the right state; a
 * component in a blocking state makes the whole call fail with nothing done.
 *
 * Persistent progress record (R-BACKGROUND; docs/design.md "Firmware update"):
 * it lives in SECONDARY's trailer sector below MCUboot's trailer fields, in
 * write units of max(8, write_align) bytes: a head unit (magic, kind, CRC),
 * a FAILED unit (reason + CRC), a CANDIDATE unit, then one unit per completed
 * checkpoint of `checkpoint` bytes. Writes must be sequential: image_offset
 * must equal info.impl.written. After a reset, query tells the last
 * checkpoint; resume from there.
 *
 * Checks (R-AUTH, R-ROLLBACK, verify early): the header at the write that
 * completes its 32 bytes (magic, header size, declared size against
 * max_size), the unprotected TLV info when it arrives (magic; the declared
 * total size). Writes past the declared size are refused
 * (PSA_ERROR_INVALID_ARGUMENT, nothing changes). finish runs molt_verify()
 * over the staged bytes with the stored security counter as the floor, using
 * the SHA-256 streamed while writing when the image's hash TLV is SHA-256 and
 * no reset broke the stream (otherwise it reads the image once more).
 * An encrypted image (R-CONF) is decrypted while hashed through the port's key
 * store, as the boot code will judge it (the streamed digest covers ciphertext
 * and is not used); the staging slot keeps the ciphertext. Refusals:
 * INVALID_SIGNATURE (bad, unsigned, untrusted, content key that does not
 * unwrap), NOT_PERMITTED (rollback, downgrade, unencrypted image on a
 * PSA_FWU_FLAG_ENCRYPTION component), INVALID_ARGUMENT (encrypted, but the
 * device has no key for it: ENC_NO_KEY, ENC_ALG), then FAILED. info.error holds a molt_err_t (positive) for
 * failures found by molt - FWU_CANCELLED after cancel, FWU_REVERTED after a
 * reset in TRIAL or REJECTED - or the value given to psa_fwu_reject().
 *
 * The security counter advances at accept (and is never advanced for a trial).
 */
#ifndef MOLT_FWU_H
#define MOLT_FWU_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/boot.h"
#include "molt/error.h"
#include "molt/port.h"
#include "psa/update.h"

#ifndef MOLT_FWU_MAX_COMPONENTS
#define MOLT_FWU_MAX_COMPONENTS 4u
#endif
#define MOLT_FWU_UNIT_MAX 256u /* the largest write unit (port write_align max) */
#ifndef MOLT_FWU_HASH_CTX_WORDS
#define MOLT_FWU_HASH_CTX_WORDS 40u /* room for a PSA hash operation (checked in lib/fwu.c) */
#endif

struct molt_keyrot_cfg; /* molt/keyrot.h */
struct molt_fwu_comp;

/* An A/B (REMAP) component: the stage-1 boot code behind stage 0
 * (docs/boot-chain.md; R-ALLUPDATABLE). Its port is stage 0's: PRIMARY and
 * SECONDARY are the stage-1 slots S1A and S1B, STATUS stage 0's boot record,
 * the NV counter the stage-1 counter; cfg.mode = MOLT_MODE_REMAP (cfg.stage
 * MOLT_STAGE_1 for stage 1). molt_fwu_add_remap() (lib/fwu_remap.c) sets the
 * one hook below, so a build that never adds such a component does not link
 * the A/B code of the update API.
 *   download   into the slot that is not confirmed (the one stage 0 would
 *              activate), the image at offset 0 of the slot, the progress
 *              record at the start of that slot's trailer sector (as for
 *              SWAP); a slot's sectors must be uniform below its trailer
 *              sector, and both slots alike;
 *   finish     judged as stage 0 will judge it: cfg.stage's BOOT_STAGE mark,
 *              the component's counter, its port's key table, and newer than
 *              the confirmed image (REMAP boots only forward: MOLT_E_DOWNGRADE,
 *              NOT_PERMITTED);
 *   install    the REMAP trial request in that slot's trailer (STAGED); stage
 *              0 runs it once as a trial at the next reset (TRIAL);
 *   accept     sets the trial slot's confirmation flag and advances the
 *              counter to the running image's at once (UPDATED);
 *   reject     STAGED: the staged header sector is erased; TRIAL: a FAILED
 *              record, stage 0 reverts at the next reset (REJECTED);
 *   query      the version of the image running (the trial's in TRIAL /
 *              REJECTED, else the confirmed one's).
 * where: locate c's download slot (c->slot) from stage 0's boot record; *trial
 * tells a trial runs (c->slot is then the trial slot). MOLT_E_NO_IMAGE when no
 * stage 1 is recorded as confirmed yet (start is then refused: BAD_STATE). */
typedef struct molt_fwu_ab {
    molt_err_t (*where)(struct molt_fwu_comp *c, bool *trial);
} molt_fwu_ab_t;

/* A key-set component (docs/keys.md "Delivery"; R-ALLUPDATABLE): its "image"
 * is a key-update (molt/keyrot.h), written into RAM (volatile staging:
 * PSA_FWU_FLAG_VOLATILE_STAGING; a reset drops a download, READY). finish
 * checks it (check(): a refusal is FAILED with the MOLT_E_KU_* reason, mapped
 * to INVALID_SIGNATURE for KU_SIG, NOT_PERMITTED for replay / rollback / gap /
 * a stranding or locking-out update, INVALID_ARGUMENT for the rest); install
 * applies it with the image component `running` runs in its PRIMARY slot
 * (apply(): the strand check) and the component goes to UPDATED at once --
 * no reboot, no trial, no accept: a key set is never tried and reverted
 * (that would be a rollback). install applies a key-set candidate before it
 * requests any image candidate; the key set is not taken back if an image
 * request then fails. clean: UPDATED / FAILED -> READY. query: version.build
 * is the sequence number of the key set in force. The port sets check, apply
 * and load to molt_keyrot_check, molt_keyrot_apply and molt_keyrot_load, so a
 * build without key rotation does not link lib/keyrot.c. */
typedef struct molt_fwu_keyset {
    const struct molt_keyrot_cfg *keyrot;
    const molt_keyring_t *factory;    /* the factory key table the set extends */
    uint8_t *buf;                     /* RAM for one key-update */
    uint32_t cap;                     /* its size (a key-update is at most 2,457 bytes) */
    psa_fwu_component_t running;      /* the image component whose PRIMARY image runs */
    molt_err_t (*check)(const struct molt_keyrot_cfg *c, const molt_keyring_t *factory, const uint8_t *ku, size_t len);
    molt_err_t (*apply)(const struct molt_keyrot_cfg *c, const molt_keyring_t *factory, const uint8_t *ku, size_t len,
                        const molt_source_t *running);
    molt_err_t (*load)(const struct molt_keyrot_cfg *c);
} molt_fwu_keyset_t;

/* One component (treat as opaque; public for static allocation). */
typedef struct molt_fwu_comp {
    bool used;
    uint8_t id;
    const molt_port_t *port;
    molt_boot_cfg_t cfg;
    uint8_t state;          /* PSA_FWU_* */
    psa_status_t error;     /* FAILED / REJECTED reason */
    /* geometry */
    uint32_t stg;           /* staging offset in SECONDARY */
    uint32_t max_size;      /* largest image */
    uint32_t sector;        /* staging sector size */
    uint32_t unit;          /* record / program unit: max(8, write_align) */
    uint32_t rec_off;       /* record region in SECONDARY (trailer sector start) */
    uint32_t rec_units;     /* capacity in units */
    uint32_t chunk;         /* checkpoint size, bytes (whole sectors) */
    /* download */
    uint32_t written;       /* bytes accepted (flash + pend) */
    uint32_t programmed;    /* bytes in flash (multiple of unit) */
    uint32_t declared;      /* image size once known, else 0 */
    uint32_t unprot_off;    /* unprotected TLV info offset once the header is known */
    bool hdr_known;
    bool img_clean;         /* staging sectors erased by clean() since the last reset */
    bool rec_clean;         /* record sector erased by clean() since the last reset */
    uint8_t hdr[32];        /* the image header as written */
    uint8_t info[4];        /* the unprotected TLV info as written */
    uint32_t pend_len;      /* bytes of a partial write unit kept in RAM */
    bool hashing;           /* SHA-256 of [0, unprot_off) streamed since offset 0 */
    uint64_t hash_ctx[MOLT_FWU_HASH_CTX_WORDS]; /* the streaming hash (opaque) */
    uint8_t pend[MOLT_FWU_UNIT_MAX];
    uint32_t flags;         /* PSA_FWU_FLAG_* configured (molt_fwu_set_flags) */
    struct molt_fwu *fwu;   /* the instance it belongs to (DEPENDENCY TLVs) */
    const molt_fwu_keyset_t *keyset; /* non-NULL: a key-set component (molt_fwu_add_keyset) */
    const molt_fwu_ab_t *ab; /* non-NULL: an A/B (REMAP) component (molt_fwu_add_remap) */
    uint8_t slot;           /* the area the download goes to (SWAP: SECONDARY) */
} molt_fwu_comp_t;

/* Optional data-preserving upgrade (R-KEEPDATA): molt/keepdata.h fills these
 * (molt_keep_fwu_hooks) so FWU never links the store when they are unset.
 * They act on component 0 only. check: at finish, after the image verified
 * (an error: FAILED with that reason, e.g. MOLT_E_KEEP_SCHEMA -> NOT_PERMITTED,
 * nothing else changed); save: at install, before the request is written (an
 * error: nothing requested); accept_check: before the image is confirmed (an
 * error: nothing changed); accepted: after (errors are left to the next boot);
 * unstaged: after a staged request was withdrawn (reject, or a failed install). */
typedef struct molt_fwu_keep_hooks {
    molt_err_t (*check)(void *ctx, const molt_source_t *staged);
    molt_err_t (*save)(void *ctx, const molt_source_t *staged);
    molt_err_t (*accept_check)(void *ctx);
    molt_err_t (*accepted)(void *ctx);
    molt_err_t (*unstaged)(void *ctx);
    void *ctx;
} molt_fwu_keep_hooks_t;

typedef struct molt_fwu {
    molt_fwu_comp_t comp[MOLT_FWU_MAX_COMPONENTS];
    molt_deps_t deps;          /* other components' versions, for DEPENDENCY TLVs */
    void (*reboot)(void *ctx); /* psa_fwu_request_reboot(); NULL: NOT_SUPPORTED */
    void *reboot_ctx;
    const molt_fwu_keep_hooks_t *keep; /* NULL: no data-preserving upgrade (molt_fwu_set_keep) */
} molt_fwu_t;

/* Set up fwu with component 0 on port/cfg (clears fwu, the reboot hook too). boot is this boot's result from
 * molt_boot_go() (the boot code hands it to the application, as MCUboot's
 * shared data does); it tells a revert (-> FAILED, MOLT_E_FWU_REVERTED) or a
 * refused staged image (-> FAILED, staged_err). May be NULL. Reads flash only.
 * MOLT_E_ARG (not SWAP mode, bad port), MOLT_E_LAYOUT (no room for the record). */
molt_err_t molt_fwu_init(molt_fwu_t *fwu, const molt_port_t *port, const molt_boot_cfg_t *cfg,
                         const molt_boot_result_t *boot);
/* Add component id (a separate port: its own slots, counter and boot result). */
molt_err_t molt_fwu_add(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                        const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot);
/* Add A/B (REMAP) component id: the stage-1 slots behind stage 0 (molt_fwu_ab_t
 * above); boot is stage 0's result of this reset (may be NULL). MOLT_E_ARG:
 * not REMAP mode, bad port, id taken, no room; MOLT_E_LAYOUT: the slots cannot
 * hold the record, or differ. */
molt_err_t molt_fwu_add_remap(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                              const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot);
/* Add key-set component id (molt_fwu_keyset_t above; ks must outlive fwu).
 * MOLT_E_ARG: id taken, no room, or a member missing. */
molt_err_t molt_fwu_add_keyset(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_fwu_keyset_t *ks);
/* Component flags (reported in psa_fwu_component_info_t.flags), configured
 * after molt_fwu_init()/molt_fwu_add() at every boot. Only
 * PSA_FWU_FLAG_ENCRYPTION may be set, and only on a port that can decrypt
 * (molt_port_t.enc_ecdh or enc_rsa_unwrap): finish then refuses an unencrypted image
 * (PSA_ERROR_NOT_PERMITTED, info.error MOLT_E_ENC_REQUIRED). MOLT_E_ARG: no
 * such component, another flag, or a port without a key store. */
molt_err_t molt_fwu_set_flags(molt_fwu_t *fwu, psa_fwu_component_t id, uint32_t flags);
/* Data-preserving upgrade hooks (after molt_fwu_init(), at every boot; NULL: none). */
void molt_fwu_set_keep(molt_fwu_t *fwu, const molt_fwu_keep_hooks_t *hooks);
/* Hook for psa_fwu_request_reboot() (may not return). */
void molt_fwu_set_reboot(molt_fwu_t *fwu, void (*reboot)(void *ctx), void *ctx);

/* The instance the global psa_fwu_* functions use (NULL unbinds). */
void molt_fwu_bind(molt_fwu_t *fwu);

psa_status_t molt_fwu_query(molt_fwu_t *fwu, psa_fwu_component_t c, psa_fwu_component_info_t *info);
psa_status_t molt_fwu_start(molt_fwu_t *fwu, psa_fwu_component_t c, const void *manifest, size_t manifest_size);
psa_status_t molt_fwu_write(molt_fwu_t *fwu, psa_fwu_component_t c, size_t image_offset, const void *block,
                            size_t block_size);
psa_status_t molt_fwu_finish(molt_fwu_t *fwu, psa_fwu_component_t c);
psa_status_t molt_fwu_cancel(molt_fwu_t *fwu, psa_fwu_component_t c);
psa_status_t molt_fwu_clean(molt_fwu_t *fwu, psa_fwu_component_t c);
psa_status_t molt_fwu_install(molt_fwu_t *fwu);
psa_status_t molt_fwu_request_reboot(molt_fwu_t *fwu);
psa_status_t molt_fwu_reject(molt_fwu_t *fwu, psa_status_t error);
psa_status_t molt_fwu_accept(molt_fwu_t *fwu);

/* The PSA status a molt_err_t maps to (verification: INVALID_SIGNATURE;
 * ROLLBACK/DOWNGRADE: NOT_PERMITTED; TOO_LARGE: INSUFFICIENT_STORAGE; flash:
 * STORAGE_FAILURE; ...). */
psa_status_t molt_fwu_status(molt_err_t err);

#endif
