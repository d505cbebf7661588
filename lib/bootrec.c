/*
 * bootrec.c - the boot record in the STATUS area (see bootrec.h).
 *
 * Header (HDR_BYTES, little endian): magic, version, type, flags, seq (4),
 * n (2), new_slot, old_slot, new_id (32), old_id (32), new_kcv (16),
 * old_kcv (16), CRC-32 of the 108 bytes before it (4). A torn header fails its
 * CRC; a torn erase of the other half leaves the record in force untouched.
 */
#include <string.h>

#include "bootrec.h"
#include "crc32.h"
#include "molt/image.h"
#include "trailer.h"

#define REC_MAGIC 0x4du
#define REC_VERSION 3u
#define HDR_BYTES 112u
#define UNIT_MAX 256u

static const molt_area_t *status(const molt_port_t *port) { return &port->area[MOLT_AREA_STATUS]; }
static uint32_t unit(const molt_area_t *st) { return molt_tr_align(st); }
static uint32_t hdr_units(const molt_area_t *st) { return (HDR_BYTES + unit(st) - 1u) / unit(st); }

/* Bytes in one half, or 0 when the area cannot be cut in two whole halves. */
static uint32_t half_size(const molt_area_t *st)
{
    molt_sector_t sec;
    uint32_t h = st->size / 2u;

    if (h == 0u || st->size % 2u != 0u || st->sector(st->ctx, h, &sec) != MOLT_OK || sec.off != h)
        return 0u;
    return h;
}

uint32_t molt_bootrec_capacity(const molt_port_t *port)
{
    const molt_area_t *st = status(port);
    uint32_t h = half_size(st);

    if (h == 0u || unit(st) > UNIT_MAX || h / unit(st) <= hdr_units(st))
        return 0u;
    return h / unit(st) - hdr_units(st);
}

static void encode(const molt_bootrec_t *r, uint8_t h[HDR_BYTES])
{
    memset(h, 0, HDR_BYTES);
    h[0] = REC_MAGIC;
    h[1] = REC_VERSION;
    h[2] = r->type;
    h[3] = r->flags;
    molt_put_le32(h + 4, r->seq);
    molt_put_le16(h + 8, (uint16_t)r->n);
    h[10] = r->new_slot;
    h[11] = r->old_slot;
    memcpy(h + 12, r->new_id, MOLT_ID_LEN);
    memcpy(h + 44, r->old_id, MOLT_ID_LEN);
    memcpy(h + 76, r->new_kcv, MOLT_KCV_LEN);
    memcpy(h + 92, r->old_kcv, MOLT_KCV_LEN);
    molt_put_le32(h + 108, molt_crc32(h, 108));
}

static molt_err_t read_half(const molt_area_t *st, uint32_t half, molt_bootrec_t *r)
{
    uint8_t h[HDR_BYTES];
    molt_err_t err = st->read(st->ctx, half * half_size(st), h, HDR_BYTES);

    memset(r, 0, sizeof *r);
    if (err != MOLT_OK)
        return err;
    if (h[0] != REC_MAGIC || h[1] != REC_VERSION || molt_le32(h + 108) != molt_crc32(h, 108))
        return MOLT_OK;
    r->valid = true;
    r->half = (uint8_t)half;
    r->type = h[2];
    r->flags = h[3];
    r->seq = molt_le32(h + 4);
    r->n = molt_le16(h + 8);
    r->new_slot = h[10];
    r->old_slot = h[11];
    memcpy(r->new_id, h + 12, MOLT_ID_LEN);
    memcpy(r->old_id, h + 44, MOLT_ID_LEN);
    memcpy(r->new_kcv, h + 76, MOLT_KCV_LEN);
    memcpy(r->old_kcv, h + 92, MOLT_KCV_LEN);
    return MOLT_OK;
}

molt_err_t molt_bootrec_read(const molt_port_t *port, molt_bootrec_t *rec)
{
    const molt_area_t *st = status(port);
    molt_bootrec_t r[2];
    molt_err_t err;

    memset(rec, 0, sizeof *rec);
    if (molt_bootrec_capacity(port) == 0u)
        return MOLT_E_LAYOUT;
    for (uint32_t k = 0; k < 2u; k++)
        if ((err = read_half(st, k, &r[k])) != MOLT_OK)
            return err;
    if (r[0].valid && r[1].valid)
        *rec = r[1].seq - r[0].seq < 0x80000000u ? r[1] : r[0]; /* serial-number order */
    else if (r[0].valid || r[1].valid)
        *rec = r[0].valid ? r[0] : r[1];
    return MOLT_OK;
}

molt_err_t molt_bootrec_begin(const molt_port_t *port, const molt_bootrec_t *cur, molt_bootrec_t *next)
{
    const molt_area_t *st = status(port);
    uint8_t buf[((HDR_BYTES + UNIT_MAX - 1u) / UNIT_MAX) * UNIT_MAX];
    uint32_t hs = half_size(st), len = hdr_units(st) * unit(st);
    uint32_t half = cur->valid ? 1u - cur->half : 0u;
    molt_err_t err;

    if (molt_bootrec_capacity(port) == 0u || len > sizeof buf)
        return MOLT_E_LAYOUT;
    next->seq = cur->valid ? cur->seq + 1u : 1u;
    next->half = (uint8_t)half;
    if ((err = molt_area_erase_range(st, half * hs, hs)) != MOLT_OK)
        return err;
    memset(buf, st->erase_value, len);
    encode(next, buf);
    if ((err = st->write(st->ctx, half * hs, buf, len)) != MOLT_OK)
        return err;
    next->valid = true;
    return MOLT_OK;
}

static uint32_t mark_off(const molt_area_t *st, const molt_bootrec_t *rec, uint32_t k)
{
    return rec->half * half_size(st) + (hdr_units(st) + k) * unit(st);
}

molt_err_t molt_bootrec_mark_done(const molt_port_t *port, const molt_bootrec_t *rec, uint32_t k, bool *done)
{
    const molt_area_t *st = status(port);
    uint8_t buf[UNIT_MAX];
    uint32_t u = unit(st);
    molt_err_t err;

    *done = false;
    if (k >= molt_bootrec_capacity(port))
        return MOLT_E_LAYOUT;
    if ((err = st->read(st->ctx, mark_off(st, rec, k), buf, u)) != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < u; i++)
        if (buf[i] != st->erase_value)
            *done = true;
    return MOLT_OK;
}

molt_err_t molt_bootrec_mark(const molt_port_t *port, const molt_bootrec_t *rec, uint32_t k)
{
    const molt_area_t *st = status(port);
    uint8_t buf[UNIT_MAX];
    uint32_t u = unit(st);

    if (k >= molt_bootrec_capacity(port))
        return MOLT_E_LAYOUT;
    memset(buf, (uint8_t)~st->erase_value, u);
    return st->write(st->ctx, mark_off(st, rec, k), buf, u);
}
