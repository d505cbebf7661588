/*
 * swap.c - swap-offset activation and its progress journal (see swap.h).
 *
 * Power-fail reasoning, in one place (R-ATOMIC, R-FAILSAFE):
 *  - header torn          -> CRC fails -> no swap in progress; no data moved yet.
 *  - step torn            -> its unit is still erased -> step redone from scratch.
 *  - unit torn            -> partly programmed -> done (its data was complete).
 *  - finalize torn        -> the last step (no unit; source intact) and finalize redone.
 *  - final STATUS erase torn: the header may survive with progress units half
 *    erased, so the units cannot be trusted any more. The trailers tell instead:
 *    finalize erased the SECONDARY trailer (which held the TEST/PERM request and
 *    is never touched by a step), or wrote image_ok into the PRIMARY trailer
 *    (which was unset throughout a revert). Then only the STATUS erase is redone.
 */
#include <string.h>

#include "crc32.h"
#include "crypto.h"
#include "swap.h"
#include "trailer.h"

#define JOURNAL_MAGIC 0x4du /* 'M' */
#define JOURNAL_VERSION 2u
#define HDR_BYTES 8u /* magic, version << 4 | type, N (le16), CRC-32 of those 4 bytes (le32) */
#define UNIT_BUF 256u
#define MAX_SECTORS 0xffffu

/* Journal layout: the header fills the first write unit (max(8, align) bytes);
 * unit k (k = 0 .. 2N-2) follows at (k + 1) units. The last step has no unit:
 * its source is never destroyed, so it is always safe to redo (see swap.h). */
static uint32_t unit_size(const molt_area_t *st) { return molt_tr_align(st); }
static uint32_t unit_off(const molt_area_t *st, uint32_t k) { return (k + 1u) * unit_size(st); }

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
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
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
    /* Header + 2N - 1 step units. */
    if (p->n > MAX_SECTORS || unit_size(st) < HDR_BYTES || unit_size(st) > UNIT_BUF ||
        (uint64_t)unit_size(st) * 2u * p->n > st->size)
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
    uint32_t n = end / s0.size + (end % s0.size != 0u);
    if (n > MAX_SECTORS)
        return MOLT_E_TOO_LARGE;
    plan->n = n;
    return check_geometry(port, plan);
}

static void encode_header(const molt_swap_plan_t *p, uint8_t h[HDR_BYTES])
{
    h[0] = JOURNAL_MAGIC;
    h[1] = (uint8_t)(JOURNAL_VERSION << 4 | p->type);
    h[2] = (uint8_t)p->n;
    h[3] = (uint8_t)(p->n >> 8);
    molt_put_le32(h + 4, molt_crc32(h, 4));
}

molt_err_t molt_swap_journal(const molt_port_t *port, bool *active, molt_swap_plan_t *plan)
{
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    uint8_t h[HDR_BYTES];
    molt_err_t err;

    *active = false;
    if (st->size < HDR_BYTES)
        return MOLT_E_LAYOUT;
    if ((err = st->read(st->ctx, 0, h, HDR_BYTES)) != MOLT_OK)
        return err;
    if (h[0] != JOURNAL_MAGIC || h[1] >> 4 != JOURNAL_VERSION || molt_le32(h + 4) != molt_crc32(h, 4))
        return MOLT_OK;
    uint8_t type = h[1] & 0x0fu;
    if (type != MOLT_SWAP_TEST && type != MOLT_SWAP_PERM && type != MOLT_SWAP_REVERT)
        return MOLT_OK;
    molt_sector_t s0;
    const molt_area_t *sa = &port->area[MOLT_AREA_SECONDARY];
    if ((err = sa->sector(sa->ctx, 0, &s0)) != MOLT_OK)
        return err;
    memset(plan, 0, sizeof *plan);
    plan->type = type;
    plan->n = (uint32_t)h[2] | (uint32_t)h[3] << 8;
    plan->sector_size = s0.size;
    if (plan->n == 0u || plan->sector_size == 0u)
        return MOLT_OK;
    /* A valid header for a geometry we cannot run would be a bug or tampering. */
    if ((err = check_geometry(port, plan)) != MOLT_OK)
        return err;
    *active = true;
    return MOLT_OK;
}

/* Unit k: true if any byte is programmed (a torn unit counts as done). */
static molt_err_t unit_done(const molt_area_t *st, uint32_t k, bool *done)
{
    uint8_t buf[UNIT_BUF];
    uint32_t u = unit_size(st);
    molt_err_t err = st->read(st->ctx, unit_off(st, k), buf, u);

    *done = false;
    if (err != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < u; i++)
        if (buf[i] != st->erase_value)
            *done = true;
    return MOLT_OK;
}

static molt_err_t unit_write(const molt_area_t *st, uint32_t k)
{
    uint8_t buf[UNIT_BUF];
    uint32_t u = unit_size(st);

    memset(buf, (uint8_t)~st->erase_value, u);
    return st->write(st->ctx, unit_off(st, k), buf, u);
}

molt_err_t molt_area_copy_ctr(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                              uint32_t len, molt_ctr_t *ctr, uint32_t ioff, uint32_t start, uint32_t end)
{
    uint8_t buf[UNIT_BUF];
    molt_err_t err = MOLT_OK;

    if (ctr == NULL || start >= end)
        return molt_area_copy(dst, doff, src, soff, len);
    while (len > 0u && err == MOLT_OK) {
        uint32_t n = len < UNIT_BUF ? len : UNIT_BUF;
        bool any = false;
        if ((err = src->read(src->ctx, soff, buf, n)) != MOLT_OK)
            break;
        if (ioff + n > start && ioff < end) {
            uint32_t a = ioff > start ? ioff : start, b = ioff + n < end ? ioff + n : end;
            err = molt_ctr_xor(ctr, a - start, buf + (a - ioff), b - a);
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
                              uint32_t pi, molt_ctr_t *ctr, uint32_t start, uint32_t end)
{
    molt_err_t err = d->erase(d->ctx, di * size, size);
    return err ? err : molt_area_copy_ctr(d, di * size, s, si * size, size, ctr, pi * size, start, end);
}

static molt_err_t run_step(const molt_port_t *port, const molt_swap_plan_t *p, uint32_t j, const molt_swap_crypt_t *cx)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    uint32_t s = p->sector_size;
    bool first = (j & 1u) == 0u;
    molt_ctr_t *oc = cx ? cx->out : NULL, *ic = cx ? cx->in : NULL;
    uint32_t os = cx ? cx->out_start : 0, oe = cx ? cx->out_end : 0, is = cx ? cx->in_start : 0,
             ie = cx ? cx->in_end : 0;

    /* (a) moves the leaving image's sector i out of PRIMARY, (b) the entering one's in. */
    if (p->type != MOLT_SWAP_REVERT) {
        uint32_t i = j / 2u;
        return first ? move_sector(sa, i, pa, i, s, i, oc, os, oe) : move_sector(pa, i, sa, i + 1u, s, i, ic, is, ie);
    }
    uint32_t i = p->n - 1u - j / 2u;
    return first ? move_sector(sa, i + 1u, pa, i, s, i, oc, os, oe) : move_sector(pa, i, sa, i, s, i, ic, is, ie);
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

/* Write the PRIMARY trailer for the new state, drop the request, drop the journal. */
static molt_err_t finalize(const molt_port_t *port, const molt_swap_plan_t *p)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    molt_err_t err;

    if ((err = molt_tr_erase(pa)) != MOLT_OK)
        return err;
    /* PERM and a completed revert run confirmed; TEST runs as a trial (R-COMPLETE). */
    if (p->type != MOLT_SWAP_TEST && (err = molt_tr_write_field(pa, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    if ((err = molt_tr_write_field(pa, MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    /* Magic last: the trailer reads as valid only once complete. */
    if ((err = molt_tr_write_magic(pa)) != MOLT_OK)
        return err;
    if ((err = molt_tr_erase(sa)) != MOLT_OK)
        return err;
    return molt_area_erase_range(st, 0, st->size);
}

/* Run steps from `from` on (journalling all but the last), then finalize. */
static molt_err_t run_from(const molt_port_t *port, const molt_swap_plan_t *p, uint32_t from,
                           const molt_swap_crypt_t *cx)
{
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    molt_err_t err;

    for (uint32_t j = from; j < 2u * p->n; j++) {
        if ((err = run_step(port, p, j, cx)) != MOLT_OK)
            return err;
        if (j + 1u < 2u * p->n && (err = unit_write(st, j)) != MOLT_OK)
            return err;
    }
    return finalize(port, p);
}

molt_err_t molt_swap_run(const molt_port_t *port, const molt_swap_plan_t *plan, const molt_swap_crypt_t *cx)
{
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    uint8_t h[UNIT_BUF];
    uint32_t hs = unit_size(st);
    molt_err_t err;

    if ((err = check_geometry(port, plan)) != MOLT_OK)
        return err;
    if ((err = molt_area_erase_range(st, 0, st->size)) != MOLT_OK)
        return err;
    memset(h, st->erase_value, hs);
    encode_header(plan, h);
    if ((err = st->write(st->ctx, 0, h, hs)) != MOLT_OK)
        return err;
    return run_from(port, plan, 0, cx);
}

/* Whether finalize already got past the point where the journal's units matter. */
static molt_err_t finalized(const molt_port_t *port, const molt_swap_plan_t *p, bool *yes)
{
    molt_trailer_t t;
    molt_err_t err;

    if (p->type == MOLT_SWAP_REVERT) {
        err = molt_tr_read(&port->area[MOLT_AREA_PRIMARY], &t);
        *yes = t.magic_good && molt_tr_is_set(&t, t.image_ok) && molt_tr_is_set(&t, t.copy_done);
    } else {
        err = molt_tr_read(&port->area[MOLT_AREA_SECONDARY], &t);
        *yes = !t.magic_good;
    }
    return err;
}

molt_err_t molt_swap_progress(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t *k)
{
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    bool done = true;
    molt_err_t err;

    /* Units are written in order: the first erased one is the next step. With
     * every unit written, the last step (which has none) is next: its source is
     * intact, so redoing it is the same as having run it once. */
    for (*k = 0; *k + 1u < 2u * plan->n; (*k)++) {
        if ((err = unit_done(st, *k, &done)) != MOLT_OK)
            return err;
        if (!done)
            break;
    }
    return MOLT_OK;
}

molt_err_t molt_swap_resume(const molt_port_t *port, const molt_swap_plan_t *plan, const molt_swap_crypt_t *cx)
{
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    bool yes;
    uint32_t k;
    molt_err_t err;

    if ((err = finalized(port, plan, &yes)) != MOLT_OK)
        return err;
    if (yes)
        return molt_area_erase_range(st, 0, st->size);
    if ((err = molt_swap_progress(port, plan, &k)) != MOLT_OK)
        return err;
    return run_from(port, plan, k, cx);
}
