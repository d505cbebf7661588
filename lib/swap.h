/*
 * swap.h - internal: swap-offset activation with a progress journal (SWAP mode).
 *
 * The new image is staged at SECONDARY + one sector. With N sectors to swap,
 * the upgrade runs 2N steps, for i = 0..N-1:
 *   a) erase S[i], copy P[i] -> S[i];   b) erase P[i], copy S[i+1] -> P[i].
 * Revert (P = new, S = old at offset 0) runs, for i = N-1 down to 0:
 *   a) erase S[i+1], copy P[i] -> S[i+1];   b) erase P[i], copy S[i] -> P[i].
 * A step's source is destroyed only by a later step, so a step interrupted at
 * any instant is redone from scratch (R-ATOMIC, R-FAILSAFE).
 *
 * Journal in the STATUS area, in write units of max(8, align) bytes: a header
 * unit (magic, version, type, N, CRC-32) then one unit per completed step for
 * steps 0 .. 2N-2. A unit is written only after its step's data is complete,
 * so a partly programmed unit counts as done; a fully erased one does not. An
 * invalid header means no step has happened. The last step needs no unit: its
 * source (S[N] upgrading, S[0] reverting) is destroyed by no step and not by
 * finalize, so a resume that finds every unit written simply redoes it. The
 * journal is 2N units: 4 KiB at N = 256 with 8-byte units.
 * Cost of one activation: N + N data erases, 2 status, 2 trailers = 2N + 4.
 */
#ifndef MOLT_LIB_SWAP_H
#define MOLT_LIB_SWAP_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/port.h"

typedef struct molt_swap_plan {
    uint8_t type;         /* MOLT_SWAP_TEST, _PERM or _REVERT (trailer.h) */
    uint32_t n;           /* sectors swapped */
    uint32_t sector_size; /* of the swapped sectors (all equal) */
} molt_swap_plan_t;

/* Check the geometry and fill plan for a new activation covering both images
 * (old_end: end of the image leaving PRIMARY; new_end: of the one entering);
 * MOLT_E_LAYOUT or MOLT_E_TOO_LARGE when it cannot be done safely. */
molt_err_t molt_swap_plan(const molt_port_t *port, uint8_t type, uint32_t old_end, uint32_t new_end,
                          molt_swap_plan_t *plan);

/* Whether the STATUS area holds a valid journal header; if so, plan is filled. */
molt_err_t molt_swap_journal(const molt_port_t *port, bool *active, molt_swap_plan_t *plan);

/* Start an activation: erase STATUS, write the header, run every step, finalize. */
molt_err_t molt_swap_run(const molt_port_t *port, const molt_swap_plan_t *plan);

/* Finish an activation a reset interrupted (plan from molt_swap_journal). */
molt_err_t molt_swap_resume(const molt_port_t *port, const molt_swap_plan_t *plan);

#endif
