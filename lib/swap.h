/*
 * swap.h - internal: the swap-offset algorithm (SWAP mode) and its progress marks.
 *
 * The new image is staged at SECONDARY + one sector. With N sectors to swap,
 * the upgrade runs 2N steps, for i = 0..N-1:
 *   a) erase S[i], copy P[i] -> S[i];   b) erase P[i], copy S[i+1] -> P[i].
 * Revert (P = new, S = old at offset 0) runs, for i = N-1 down to 0:
 *   a) erase S[i+1], copy P[i] -> S[i+1];   b) erase P[i], copy S[i] -> P[i].
 * A step's source is destroyed only by a later step, so a step interrupted at
 * any instant is redone from scratch (R-ATOMIC, R-FAILSAFE).
 *
 * Progress marks live in the boot record (bootrec.h), which holds the upgrade
 * and its revert in one erase of one STATUS half:
 *   marks 0 .. 2N-2      upgrade step j done (the last step 2N-1 needs none: its
 *                        source S[N] is destroyed by no step and not by finalize);
 *   mark  2N-1           upgrade finalized (PRIMARY trailer written, request gone);
 *   mark  2N             revert started (the revert copy was verified);
 *   marks 2N+1 .. 4N-1   revert step j done (its last step's source S[0] survives);
 *   mark  4N             revert finalized.
 * Cost of one activation: N + N data erases, one STATUS half, two trailers.
 */
#ifndef MOLT_LIB_SWAP_H
#define MOLT_LIB_SWAP_H

#include <stdbool.h>
#include <stdint.h>

#include "bootrec.h"
#include "molt/enc.h"
#include "molt/port.h"

#define MOLT_SWAP_UPG_DONE(n) (2u * (n) - 1u)
#define MOLT_SWAP_REV_START(n) (2u * (n))
#define MOLT_SWAP_REV_STEP(n, j) (2u * (n) + 1u + (j))
#define MOLT_SWAP_REV_DONE(n) (4u * (n))
#define MOLT_SWAP_MARKS(n) (4u * (n) + 1u)

typedef struct molt_swap_plan {
    uint8_t type;         /* MOLT_SWAP_TEST, _PERM or _REVERT (trailer.h) */
    uint32_t n;           /* sectors swapped */
    uint32_t sector_size; /* of the swapped sectors (all equal) */
} molt_swap_plan_t;

/* Encrypted images (R-CONF): the payloads are transformed while they move. AES-CTR
 * is a XOR at fixed payload positions, so a step redone from its intact source
 * writes the same bytes. out: the image leaving PRIMARY (re-encrypted on its way
 * to SECONDARY), in: the image entering PRIMARY (decrypted). A NULL ctr moves that
 * image as it is. Ranges are payload [start, end) in image offsets, which are the
 * PRIMARY offsets of the moving sectors. */
typedef struct molt_swap_crypt {
    molt_ctr_t *out, *in;
    uint32_t out_start, out_end, in_start, in_end;
    const molt_enc_ops_t *ops; /* the port's enc_ops when out or in is set */
} molt_swap_crypt_t;

/* Copy len bytes from src at soff to dst at doff (dst erased), XORing with
 * ctr's keystream (through ops) the bytes whose image offset (ioff + i) lies in
 * [start, end). ctr or ops NULL: a plain copy. */
molt_err_t molt_area_copy_ctr(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                              uint32_t len, const molt_enc_ops_t *ops, molt_ctr_t *ctr, uint32_t ioff, uint32_t start,
                              uint32_t end);

/* The number of steps of plan the record shows done (the next step to run). */
molt_err_t molt_swap_progress(const molt_port_t *port, const molt_bootrec_t *rec, const molt_swap_plan_t *plan,
                              uint32_t *k);

/* A source over the image leaving PRIMARY (out = true) or entering it, reading
 * each sector where it is after k steps (a step's source is intact until a later
 * step, so the not-yet-done side is always readable). For the key TLVs at resume:
 * content keys are re-derived, never stored in flash. */
typedef struct molt_swap_view {
    const molt_port_t *port;
    molt_swap_plan_t plan;
    uint32_t k;
    bool out;
} molt_swap_view_t;
void molt_swap_view_source(molt_source_t *src, molt_swap_view_t *v, const molt_port_t *port,
                           const molt_swap_plan_t *plan, uint32_t k, bool out);

/* Check the geometry and fill plan for a new activation covering both images
 * (old_end: end of the image leaving PRIMARY; new_end: of the one entering);
 * MOLT_E_LAYOUT or MOLT_E_TOO_LARGE when it cannot be done safely. */
molt_err_t molt_swap_plan(const molt_port_t *port, uint8_t type, uint32_t old_end, uint32_t new_end,
                          molt_swap_plan_t *plan);

/* Run steps from..2N-1 of plan, marking each but the last in rec. */
molt_err_t molt_swap_steps(const molt_port_t *port, const molt_bootrec_t *rec, const molt_swap_plan_t *plan,
                           uint32_t from, const molt_swap_crypt_t *cx);

#endif
