/*
 * area.c - flash-area helpers (see area.h).
 */
#include <string.h>

#include "area.h"

#define CHUNK 256u /* >= the largest write alignment (256) */

static molt_err_t area_src_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    const molt_area_src_t *s = ctx;
    return s->area->read(s->area->ctx, s->base + off, buf, len);
}

void molt_area_source(molt_source_t *src, molt_area_src_t *ctx, const molt_area_t *area, uint32_t base)
{
    ctx->area = area;
    ctx->base = base;
    src->read = area_src_read;
    src->ctx = ctx;
    src->size = base < area->size ? area->size - base : 0u;
}

molt_err_t molt_area_erase_range(const molt_area_t *a, uint32_t off, uint32_t len)
{
    uint32_t end = off + len;
    molt_sector_t sec;
    molt_err_t err;

    if (end < off || end > a->size)
        return MOLT_E_LAYOUT;
    while (off < end) {
        if ((err = a->sector(a->ctx, off, &sec)) != MOLT_OK)
            return err;
        if ((err = a->erase(a->ctx, sec.off, sec.size)) != MOLT_OK)
            return err;
        off = sec.off + sec.size;
    }
    return MOLT_OK;
}

static bool all_erased(const uint8_t *p, uint32_t n, uint8_t ev)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != ev)
            return false;
    return true;
}

molt_err_t molt_area_copy(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                          uint32_t len)
{
    uint8_t buf[CHUNK];
    molt_err_t err;

    while (len > 0u) {
        uint32_t n = len < CHUNK ? len : CHUNK;
        if ((err = src->read(src->ctx, soff, buf, n)) != MOLT_OK)
            return err;
        /* Skipping erased chunks saves program time; the target is erased. */
        if (!all_erased(buf, n, dst->erase_value) && (err = dst->write(dst->ctx, doff, buf, n)) != MOLT_OK)
            return err;
        doff += n;
        soff += n;
        len -= n;
    }
    return MOLT_OK;
}

molt_err_t molt_area_blank(const molt_area_t *a, uint32_t off, uint32_t len, bool *blank)
{
    uint8_t buf[CHUNK];
    molt_err_t err;

    *blank = true;
    while (len > 0u && *blank) {
        uint32_t n = len < CHUNK ? len : CHUNK;
        if ((err = a->read(a->ctx, off, buf, n)) != MOLT_OK)
            return err;
        *blank = all_erased(buf, n, a->erase_value);
        off += n;
        len -= n;
    }
    return MOLT_OK;
}
