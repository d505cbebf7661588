/*
 * swap.c - the swap-offset algorithm (see swap.h): sector moves and their
 * progress marks in the boot record.
 *
 * Power-fail reasoning, in one place (R-ATOMIC, R-FAILSAFE):
 *  - record header torn   -> CRC fails -> the record before it is in force; no
 *                            data moved yet, the activation is decided again.
 *  - step torn            -> its mark is still erased -> step redone from scratch.
 *  - mark torn            -> partly programmed -> done (its data was complete).
 *  - finalize torn        -> the last step (no mark; source intact) and finalize
 *                            redone (lib/boot_swap.c), then the DONE mark.
 * Nothing is erased in STATUS at the end: the record stays in force and tells
 * the next reset which image is in trial and which one a revert installs.
 */
#include <string.h>

#include "crypto.h"
#include "enc_ops.h"
#include "swap.h"
#include "trailer.h"

#define UNIT_BUF 256u
#define MAX_SECTORS 0xffffu

/* Every sector of a in [0, count * s) is exactly s bytes at i * s. */
static molt_err_t check_uniform(const molt_area_t *a, uint32_t count, uint32_t s)
{
    molt_sector_t sec;
    for (uint32_t i = 0; i < count; i++) {
        molt_err_t err = a->sector(a->ctx, i * s, &sec);
        if (err != MOLT_OK)
            return err;
        if (sec.off != i * s || sec.size != s)
            return MOLT_E_LAYOUT;
    }
    return MOLT_OK;
}

static molt_err_t check_geometry(const molt_port_t *port, const molt_swap_plan_t *p)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_sector_t ptr, str;
    molt_err_t err;

    if ((err = molt_tr_sector(pa, &ptr)) != MOLT_OK || (err = molt_tr_sector(sa, &str)) != MOLT_OK)
        return err;
    /* Neither slot's trailer sector may be part of the swap. */
    if ((uint64_t)p->n * p->sector_size > ptr.off || (uint64_t)(p->n + 1u) * p->sector_size > str.off)
        return MOLT_E_TOO_LARGE;
    if ((err = check_uniform(pa, p->n, p->sector_size)) != MOLT_OK ||
        (err = check_uniform(sa, p->n + 1u, p->sector_size)) != MOLT_OK)
        return err;
    /* The boot record holds both journals: 4N + 1 marks (swap.h). */
    if (p->n > MAX_SECTORS || molt_bootrec_capacity(port) < MOLT_SWAP_MARKS(p->n))
        return MOLT_E_LAYOUT;
    return MOLT_OK;
}

molt_err_t molt_swap_plan(const molt_port_t *port, uint8_t type, uint32_t old_end, uint32_t new_end,
                          molt_swap_plan_t *plan)
{
    const molt_area_t *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_sector_t s0;
    uint32_t end = old_end > new_end ? old_end : new_end;
    molt_err_t err = sa->sector(sa->ctx, 0, &s0);

    if (err != MOLT_OK)
        return err;
    if (s0.size == 0u || end == 0u)
        return MOLT_E_LAYOUT;
    memset(plan, 0, sizeof *plan);
    plan->type = type;
    plan->sector_size = s0.size;
    /* Round up without 64-bit arithmetic (no __aeabi_uldivmod on the boot path). */
    uint32_t n = end / s0.size + (end % s0.size != 0u ? 1u : 0u);
    if (n > MAX_SECTORS)
        return MOLT_E_TOO_LARGE;
    plan->n = n;
    return check_geometry(port, plan);
}

molt_err_t molt_area_copy_ctr(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                              uint32_t len, const molt_enc_ops_t *ops, molt_ctr_t *ctr, uint32_t ioff, uint32_t start,
                              uint32_t end)
{
    uint8_t buf[UNIT_BUF];
    molt_err_t err = MOLT_OK;

    if (ops == NULL || ctr == NULL || start >= end)
        return molt_area_copy(dst, doff, src, soff, len);
    while (len > 0u && err == MOLT_OK) {
        uint32_t n = len < UNIT_BUF ? len : UNIT_BUF;
        bool any = false;
        if ((err = src->read(src->ctx, soff, buf, n)) != MOLT_OK)
            break;
        if (ioff + n > start && ioff < end) {
            uint32_t a = ioff > start ? ioff : start, b = ioff + n < end ? ioff + n : end;
            err = ops->ctr_xor(ctr, a - start, buf + (a - ioff), b - a);
        }
        for (uint32_t i = 0; i < n; i++)
            any |= buf[i] != dst->erase_value;
        /* The target is erased: an all-erased chunk needs no programming. */
        if (err == MOLT_OK && any)
            err = dst->write(dst->ctx, doff, buf, n);
        doff += n;
        soff += n;
        ioff += n;
        len -= n;
    }
    molt_wipe(buf, sizeof buf); /* may hold plaintext */
    return err;
}

/* Erase dst sector di of area d, copy sector si of area s into it, transforming
 * the payload bytes of the moving image (its image offset is pi * size). */
static molt_err_t move_sector(const molt_area_t *d, uint32_t di, const molt_area_t *s, uint32_t si, uint32_t size,
                              uint32_t pi, const molt_enc_ops_t *ops, molt_ctr_t *ctr, uint32_t start, uint32_t end)
{
    molt_err_t err = d->erase(d->ctx, di * size, size);
    if (err != MOLT_OK)
        return err;
    if (ops == NULL || ctr == NULL) /* through the table: a plain swap links no keystream copy */
        return molt_area_copy(d, di * size, s, si * size, size);
    return ops->copy_ctr(d, di * size, s, si * size, size, ops, ctr, pi * size, start, end);
}

static molt_err_t run_step(const molt_port_t *port, const molt_swap_plan_t *p, uint32_t j, const molt_swap_crypt_t *cx)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    uint32_t s = p->sector_size;
    bool first = (j & 1u) == 0u;
    molt_ctr_t *oc = cx ? cx->out : NULL, *ic = cx ? cx->in : NULL;
    const molt_enc_ops_t *ops = cx ? cx->ops : NULL;
    uint32_t os = cx ? cx->out_start : 0, oe = cx ? cx->out_end : 0, is = cx ? cx->in_start : 0,
             ie = cx ? cx->in_end : 0;

    /* (a) moves the leaving image's sector i out of PRIMARY, (b) the entering one's in. */
    if (p->type != MOLT_SWAP_REVERT) {
        uint32_t i = j / 2u;
        return first ? move_sector(sa, i, pa, i, s, i, ops, oc, os, oe)
                     : move_sector(pa, i, sa, i + 1u, s, i, ops, ic, is, ie);
    }
    uint32_t i = p->n - 1u - j / 2u;
    return first ? move_sector(sa, i + 1u, pa, i, s, i, ops, oc, os, oe) : move_sector(pa, i, sa, i, s, i, ops, ic, is, ie);
}

/* ---- where an image's sector is after k steps (see swap.h) ---- */

static molt_err_t view_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    const molt_swap_view_t *v = ctx;
    const molt_area_t *pa = &v->port->area[MOLT_AREA_PRIMARY], *sa = &v->port->area[MOLT_AREA_SECONDARY];
    uint32_t s = v->plan.sector_size, n = v->plan.n;
    uint8_t *out = buf;

    while (len > 0u) {
        uint32_t q = off / s, in_sec = off % s;
        size_t m = s - in_sec < len ? s - in_sec : len;
        bool done;
        const molt_area_t *a;
        uint32_t sec;
        if (q >= n)
            return MOLT_E_BOUNDS;
        if (v->plan.type != MOLT_SWAP_REVERT) {
            /* upgrade: out sector q goes P[q] -> S[q] at step 2q; in sector q S[q+1] -> P[q] at 2q+1 */
            done = v->k > (v->out ? 2u * q : 2u * q + 1u);
            if (v->out) { a = done ? sa : pa; sec = q; }
            else { a = done ? pa : sa; sec = done ? q : q + 1u; }
        } else {
            /* revert: out sector q P[q] -> S[q+1] at 2(n-1-q); in sector q S[q] -> P[q] at 2(n-1-q)+1 */
            uint32_t j = 2u * (n - 1u - q) + (v->out ? 0u : 1u);
            done = v->k > j;
            if (v->out) { a = done ? sa : pa; sec = done ? q + 1u : q; }
            else { a = done ? pa : sa; sec = q; }
        }
        molt_err_t err = a->read(a->ctx, sec * s + in_sec, out, m);
        if (err != MOLT_OK)
            return err;
        out += m;
        off += (uint32_t)m;
        len -= m;
    }
    return MOLT_OK;
}

void molt_swap_view_source(molt_source_t *src, molt_swap_view_t *v, const molt_port_t *port,
                           const molt_swap_plan_t *plan, uint32_t k, bool out)
{
    v->port = port;
    v->plan = *plan;
    v->k = k;
    v->out = out;
    src->read = view_read;
    src->ctx = v;
    src->size = plan->n * plan->sector_size;
}

static uint32_t mark_base(const molt_swap_plan_t *p) { return p->type == MOLT_SWAP_REVERT ? MOLT_SWAP_REV_STEP(p->n, 0) : 0u; }

molt_err_t molt_swap_progress(const molt_port_t *port, const molt_bootrec_t *rec, const molt_swap_plan_t *plan,
                              uint32_t *k)
{
    bool done = true;
    molt_err_t err;

    /* Marks are written in order: the first erased one is the next step. With
     * every mark written, the last step (which has none) is next: its source is
     * intact, so redoing it is the same as having run it once. */
    for (*k = 0; *k + 1u < 2u * plan->n; (*k)++) {
        if ((err = molt_bootrec_mark_done(port, rec, mark_base(plan) + *k, &done)) != MOLT_OK)
            return err;
        if (!done)
            break;
    }
    return MOLT_OK;
}

molt_err_t molt_swap_steps(const molt_port_t *port, const molt_bootrec_t *rec, const molt_swap_plan_t *plan,
                           uint32_t from, const molt_swap_crypt_t *cx)
{
    molt_err_t err;

    if ((err = check_geometry(port, plan)) != MOLT_OK)
        return err;
    for (uint32_t j = from; j < 2u * plan->n; j++) {
        if ((err = run_step(port, plan, j, cx)) != MOLT_OK)
            return err;
        if (j + 1u < 2u * plan->n && (err = molt_bootrec_mark(port, rec, mark_base(plan) + j)) != MOLT_OK)
            return err;
    }
    return MOLT_OK;
}
