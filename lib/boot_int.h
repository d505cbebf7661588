/*
 * boot_int.h - internal: what the boot files share. boot.c dispatches to one
 * file per activation mode (boot_swap.c, boot_remap.c, boot_overwrite.c);
 * boot_request.c holds the application-side calls.
 */
#ifndef MOLT_LIB_BOOT_INT_H
#define MOLT_LIB_BOOT_INT_H

#include "bootrec.h"
#include "judge.h"
#include "molt/boot.h"
#include "trailer.h"

#define MOLT_SLOT_COUNT 2u

/* The port has every hook the mode needs (STATUS is unused by OVERWRITE). */
bool molt_boot_cfg_ok(const molt_port_t *port, const molt_boot_cfg_t *cfg);

/* Judge the image at base of slot id as role, against the stored counter nv
 * and an optional version floor; the identity of a good one goes to id. */
molt_err_t molt_boot_judge(const molt_port_t *port, const molt_boot_cfg_t *cfg, unsigned id, uint32_t base,
                           molt_role_t role, uint32_t nv, const molt_version_t *min_ver, molt_verify_result_t *vr);

/* The identity of a verified image (first 32 bytes of its hash). */
void molt_boot_id(const molt_verify_result_t *vr, uint8_t id[MOLT_ID_LEN]);


/* Slot id runs: fill res; a confirmed image commits its counter (R-ROLLBACK). */
molt_err_t molt_boot_run(const molt_port_t *port, unsigned id, const molt_verify_result_t *vr, bool trial,
                         molt_boot_result_t *res);

/* No verified image can run: the port's secure-state hook. */
molt_err_t molt_boot_secure(const molt_port_t *port, molt_err_t why);

/* The request in a slot's trailer: MOLT_SWAP_TEST, _PERM or _NONE. */
uint8_t molt_boot_request_of(const molt_trailer_t *t);

/* Clear a request (erase the trailer sector) unless the trailer region is blank. */
molt_err_t molt_boot_clear_request(const molt_area_t *a, bool *cleared);

/* The modes' entries (molt_boot_swap, _remap, _overwrite) are in molt/boot.h. */

/* Trial state from the boot record (SWAP, REMAP). */
molt_err_t molt_swap_in_trial(const molt_port_t *port, bool *trial);
molt_err_t molt_remap_in_trial(const molt_port_t *port, bool *trial, unsigned *slot);
/* molt_request_upgrade() for the update API, which erased the trailer sector
 * itself: a blank trailer is programmed without another erase. */
molt_err_t molt_boot_request_own(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent);

/* REMAP: the slot the record says is confirmed, -1 with no record. */
int molt_remap_confirmed(const molt_port_t *port);

#endif
