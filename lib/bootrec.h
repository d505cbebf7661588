/*
 * bootrec.h - internal: the boot record, the state only the boot code owns.
 *
 * The application can write the whole staging slot and every trailer field
 * (docs/security-target.md, assumptions). Nothing it writes may decide what
 * runs confirmed, what a revert installs or how far the counter moves. Those
 * decisions are bound to image identity and kept here, in the STATUS area,
 * which only the boot code writes:
 *   - which image (its identity: the first 32 bytes of its hash TLV) was
 *     activated, and which one it replaced -- the only image a revert installs;
 *   - the swap's progress journal (SWAP) or which slot is in trial (REMAP);
 *   - the key check value of an encrypted image's content key, so that an image
 *     leaving PRIMARY is re-encrypted only under the key it was installed with.
 *
 * Layout: the STATUS area is two halves, each a whole number of sectors. A half
 * holds one record: a header of HDR_BYTES (CRC-32 over it) padded to write
 * units of U = max(8, write_align), then single-unit marks written once each
 * (a mark that is partly programmed counts as written: it is written only after
 * what it vouches for is complete). The current record is the valid header with
 * the higher sequence number. A new record goes into the other half: erase it,
 * write the header. A cut anywhere in that leaves the old record current, so
 * the step that wanted the new record is simply redone. Cost: one half erased
 * per activation, never the half that holds the state in force.
 */
#ifndef MOLT_LIB_BOOTREC_H
#define MOLT_LIB_BOOTREC_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/port.h"

#define MOLT_ID_LEN 32u  /* image identity: its hash TLV value, first 32 bytes */
#define MOLT_KCV_LEN 16u /* key check value of a content key (enc.h) */

/* Record types. */
#define MOLT_REC_GENESIS 1u     /* factory image in PRIMARY / slot `new_slot`, confirmed */
#define MOLT_REC_SWAP_TEST 2u   /* SWAP: new image activated for a trial, old kept for revert */
#define MOLT_REC_SWAP_PERM 3u   /* SWAP: new image activated for good */
#define MOLT_REC_REMAP_TRIAL 4u /* REMAP: new_slot in trial, old_slot confirmed */
#define MOLT_REC_REMAP_PERM 5u  /* REMAP: new_slot confirmed by a permanent request */

/* Marks of a REMAP record. */
#define MOLT_MARK_STARTED 0u   /* the request that made the record was cleared */
#define MOLT_MARK_CONFIRMED 1u /* the trial was confirmed */
#define MOLT_MARK_REJECTED 2u  /* the trial was reverted (rejected) */

/* Flags. */
#define MOLT_RECF_OLD 0x1u     /* old_id names an image (SWAP: PRIMARY held one) */
#define MOLT_RECF_NEW_KCV 0x2u /* new_kcv is the new image's content key check */
#define MOLT_RECF_OLD_KCV 0x4u /* old_kcv is the old image's content key check */

typedef struct molt_bootrec {
    bool valid;
    uint8_t half; /* 0 or 1 */
    uint32_t seq;
    uint8_t type;
    uint8_t flags;
    uint32_t n;       /* SWAP: sectors swapped */
    uint8_t new_slot; /* REMAP (and GENESIS): slot of the new / confirmed image */
    uint8_t old_slot;
    uint8_t new_id[MOLT_ID_LEN], old_id[MOLT_ID_LEN];
    uint8_t new_kcv[MOLT_KCV_LEN], old_kcv[MOLT_KCV_LEN];
} molt_bootrec_t;

/* The record in force (rec->valid false: none). MOLT_E_LAYOUT when STATUS
 * cannot hold two halves. */
molt_err_t molt_bootrec_read(const molt_port_t *port, molt_bootrec_t *rec);

/* Make next (type, ids, ...) the record in force: erase the half cur does not
 * occupy and write next's header there, with seq = cur->seq + 1. cur may be
 * invalid. On success next->valid, ->half and ->seq are set. */
molt_err_t molt_bootrec_begin(const molt_port_t *port, const molt_bootrec_t *cur, molt_bootrec_t *next);

/* Mark k of rec: written (a partly programmed unit counts), and write it. */
molt_err_t molt_bootrec_mark_done(const molt_port_t *port, const molt_bootrec_t *rec, uint32_t k, bool *done);
molt_err_t molt_bootrec_mark(const molt_port_t *port, const molt_bootrec_t *rec, uint32_t k);

/* How many marks a half holds after the header. */
uint32_t molt_bootrec_capacity(const molt_port_t *port);

#endif
