/*
 * store.c - the log-structured record store (molt/store.h, docs/store.md).
 *
 * Sector:  [header: "MST1", seq (LE32), 0 (LE32), CRC-32 of bytes 0..11]
 *          padded to the write alignment, then records back to back.
 * Record:  0xA5, space | 0x80 if a tombstone, app (LE16), id (LE16),
 *          len (LE16), CRC-32 of the value (LE32), CRC-32 of bytes 0..11 (LE32),
 *          the value, padding (erase value) to the write alignment.
 *
 * Power-fail reasoning: an append is one write into erased cells after the
 * last record. Torn, it is either blank (nothing happened: the slot is written
 * again later), or fails a CRC: with a sound header the record is skipped by
 * its length, with a broken one the sector is closed (nothing after it is
 * trusted or programmed) and the next write compacts. A compaction erases a
 * sector that is not the active one, copies the live records and writes the
 * header last: the only sector with a valid header and the highest sequence
 * is the active one, so a cut before the header write leaves the old sector
 * in charge, and a torn header fails its CRC. The live records of the whole
 * store therefore always sit in the one active sector.
 */
#include <string.h>

#include "crc32.h"
#include "molt/image.h" /* molt_le16/32, molt_put_le16/32 */
#include "store_int.h"

#define REC_MAGIC 0xa5u
#define TOMB 0x80u
static const uint8_t sec_magic[4] = {'M', 'S', 'T', '1'};

typedef struct ent {
    uint8_t space;
    bool tomb;
    uint16_t app, id, len;
    uint32_t dcrc;
    uint32_t pos;  /* header offset in the sector */
    uint32_t size; /* bytes taken, aligned */
    bool valid;    /* header and value check */
} ent_t;

enum { ENT_OK, ENT_END, ENT_BAD };

static uint32_t roundup(uint32_t v, uint32_t a) { return (v + a - 1u) / a * a; }
static uint32_t rec_size(const molt_store_t *st, uint32_t len) { return roundup(MOLT_STORE_HDR + len, st->align); }
static uint32_t sec_base(const molt_store_t *st, int32_t s) { return st->sec_off[s]; }

static bool blank(const uint8_t *p, uint32_t n, uint8_t ev)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != ev)
            return false;
    return true;
}

static molt_err_t rd(const molt_store_t *st, uint32_t off, void *buf, uint32_t len)
{
    return st->area->read(st->area->ctx, off, buf, len);
}

/* CRC-32 of len bytes of the area at off, read through buf's value part. */
static molt_err_t crc_range(molt_store_t *st, uint32_t off, uint32_t len, uint32_t *crc)
{
    molt_err_t err;
    if (len > MOLT_STORE_VALUE_MAX)
        return MOLT_E_ARG;
    if ((err = rd(st, off, st->buf + MOLT_STORE_HDR, len)) != MOLT_OK)
        return err;
    *crc = molt_crc32(st->buf + MOLT_STORE_HDR, len);
    return MOLT_OK;
}

/* Is the rest of sector s from pos erased? */
static molt_err_t rest_blank(molt_store_t *st, int32_t s, uint32_t pos, bool *yes)
{
    uint32_t end = st->sec_size[s];
    molt_err_t err;

    *yes = true;
    while (pos < end && *yes) {
        uint32_t n = end - pos < sizeof st->buf ? end - pos : (uint32_t)sizeof st->buf;
        if ((err = rd(st, sec_base(st, s) + pos, st->buf, n)) != MOLT_OK)
            return err;
        *yes = blank(st->buf, n, st->area->erase_value);
        pos += n;
    }
    return MOLT_OK;
}

/* The entry at pos of sector s. */
static molt_err_t ent_at(molt_store_t *st, int32_t s, uint32_t pos, ent_t *e, int *kind)
{
    uint8_t h[MOLT_STORE_HDR];
    uint32_t crc;
    molt_err_t err;
    bool b;

    memset(e, 0, sizeof *e);
    e->pos = pos;
    if (pos + MOLT_STORE_HDR > st->sec_size[s]) {
        if ((err = rest_blank(st, s, pos, &b)) != MOLT_OK)
            return err;
        *kind = b ? ENT_END : ENT_BAD;
        return MOLT_OK;
    }
    if ((err = rd(st, sec_base(st, s) + pos, h, sizeof h)) != MOLT_OK)
        return err;
    if (blank(h, sizeof h, st->area->erase_value)) {
        /* The end of the log - unless a torn append left bits further on. */
        if ((err = rest_blank(st, s, pos, &b)) != MOLT_OK)
            return err;
        *kind = b ? ENT_END : ENT_BAD;
        return MOLT_OK;
    }
    e->len = molt_le16(h + 6);
    if (h[0] != REC_MAGIC || molt_le32(h + 12) != molt_crc32(h, 12) || (h[1] & 0x7fu) > MOLT_STORE_SYSTEM ||
        e->len > MOLT_STORE_VALUE_MAX || rec_size(st, e->len) > st->sec_size[s] - pos) {
        *kind = ENT_BAD;
        return MOLT_OK;
    }
    e->space = h[1] & 0x0fu;
    e->tomb = (h[1] & TOMB) != 0u;
    e->app = molt_le16(h + 2);
    e->id = molt_le16(h + 4);
    e->dcrc = molt_le32(h + 8);
    e->size = rec_size(st, e->len);
    if ((err = crc_range(st, sec_base(st, s) + pos + MOLT_STORE_HDR, e->len, &crc)) != MOLT_OK)
        return err;
    e->valid = crc == e->dcrc && !(e->tomb && e->len != 0u);
    *kind = ENT_OK;
    return MOLT_OK;
}

/* Is valid entry e the newest of its key in the active sector? */
static molt_err_t newest(molt_store_t *st, const ent_t *e, bool *yes)
{
    uint32_t pos = e->pos + e->size;
    ent_t f;
    int kind;
    molt_err_t err;

    *yes = true;
    while (pos < st->pos) {
        if ((err = ent_at(st, st->active, pos, &f, &kind)) != MOLT_OK)
            return err;
        if (kind != ENT_OK)
            break;
        if (f.valid && f.space == e->space && f.app == e->app && f.id == e->id) {
            *yes = false;
            break;
        }
        pos += f.size;
    }
    return MOLT_OK;
}

/* The next live entry of the active sector's log (valid, not a tombstone, the
 * newest of its key) at or after *pos: *found, and *pos moves past it (or to
 * where the walk stopped). */
static molt_err_t next_live(molt_store_t *st, uint32_t *pos, ent_t *e, bool *found)
{
    molt_err_t err;

    *found = false;
    while (st->active >= 0 && *pos < st->pos) {
        int kind;
        if ((err = ent_at(st, st->active, *pos, e, &kind)) != MOLT_OK)
            return err;
        if (kind != ENT_OK)
            break;
        *pos += e->size;
        if (!e->valid || e->tomb)
            continue;
        if ((err = newest(st, e, found)) != MOLT_OK || *found)
            return err;
    }
    return MOLT_OK;
}

/* --- mount ------------------------------------------------------------------- */

static molt_err_t scan_end(molt_store_t *st)
{
    uint32_t pos = st->hdr_size;
    ent_t e;
    int kind;
    molt_err_t err;

    st->closed = false;
    for (;;) {
        if ((err = ent_at(st, st->active, pos, &e, &kind)) != MOLT_OK)
            return err;
        if (kind == ENT_END)
            break;
        if (kind == ENT_BAD) {
            st->closed = true;
            break;
        }
        pos += e.size;
    }
    st->pos = pos;
    return MOLT_OK;
}

molt_err_t molt_store_mount(molt_store_t *st, const molt_area_t *area)
{
    uint8_t h[MOLT_STORE_HDR];
    molt_err_t err;
    uint32_t off = 0;
    bool have = false;

    if (st == NULL || area == NULL || area->read == NULL || area->write == NULL || area->erase == NULL ||
        area->sector == NULL)
        return MOLT_E_ARG;
    memset(st, 0, sizeof *st);
    st->area = area;
    st->align = area->write_align == 0u ? 1u : area->write_align;
    if (st->align > 256u || (st->align & (st->align - 1u)) != 0u)
        return MOLT_E_LAYOUT;
    st->hdr_size = roundup(MOLT_STORE_HDR, st->align);
    while (off < area->size && st->nsec < MOLT_STORE_MAX_SECTORS) {
        molt_sector_t s;
        if ((err = area->sector(area->ctx, off, &s)) != MOLT_OK)
            return err;
        if (s.off != off || s.size == 0u || s.size > area->size - off)
            return MOLT_E_LAYOUT;
        if (s.size < st->hdr_size + rec_size(st, MOLT_STORE_VALUE_MAX))
            return MOLT_E_LAYOUT;
        st->sec_off[st->nsec] = s.off;
        st->sec_size[st->nsec] = s.size;
        st->nsec++;
        off += s.size;
    }
    if (st->nsec < 2u)
        return MOLT_E_LAYOUT;
    st->active = -1;
    for (uint32_t s = 0; s < st->nsec; s++) {
        if ((err = rd(st, st->sec_off[s], h, sizeof h)) != MOLT_OK)
            return err;
        if (memcmp(h, sec_magic, 4) != 0 || molt_le32(h + 12) != molt_crc32(h, 12))
            continue;
        uint32_t seq = molt_le32(h + 4);
        if (!have || seq > st->seq) {
            have = true;
            st->seq = seq;
            st->active = (int32_t)s;
        }
    }
    if (st->active < 0)
        return MOLT_OK;
    return scan_end(st);
}

/* --- writing ------------------------------------------------------------------ */

/* Build a record in st->buf (the value must already sit at buf + HDR). */
static uint32_t build(molt_store_t *st, uint8_t flags, uint16_t app, uint16_t id, uint16_t len, uint32_t dcrc)
{
    uint8_t *h = st->buf;
    uint32_t size = rec_size(st, len);

    h[0] = REC_MAGIC;
    h[1] = flags;
    molt_put_le16(h + 2, app);
    molt_put_le16(h + 4, id);
    molt_put_le16(h + 6, len);
    molt_put_le32(h + 8, dcrc);
    molt_put_le32(h + 12, molt_crc32(h, 12));
    memset(st->buf + MOLT_STORE_HDR + len, st->area->erase_value, size - MOLT_STORE_HDR - len);
    return size;
}

static bool emits_key(const molt_store_extra_t *x, uint32_t n, uint8_t space, uint16_t app, uint16_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (x[i].space == space && x[i].app == app && x[i].id == id)
            return true;
    return false;
}

/* Copy value of e (active sector) as a record of space sp to target t at *wpos
 * (measure only when t < 0). */
static molt_err_t emit_copy(molt_store_t *st, const ent_t *e, uint8_t sp, int32_t t, uint32_t *wpos)
{
    uint32_t size = rec_size(st, e->len);
    molt_err_t err;

    if (t >= 0) {
        if ((err = rd(st, sec_base(st, st->active) + e->pos + MOLT_STORE_HDR, st->buf + MOLT_STORE_HDR, e->len)) !=
            MOLT_OK)
            return err;
        if (molt_crc32(st->buf + MOLT_STORE_HDR, e->len) != e->dcrc)
            return MOLT_E_IO; /* changed under us: refuse to copy a bad value */
        (void)build(st, sp, e->app, e->id, e->len, e->dcrc);
        if ((err = st->area->write(st->area->ctx, sec_base(st, t) + *wpos, st->buf, size)) != MOLT_OK)
            return err;
    }
    *wpos += size;
    return MOLT_OK;
}

/* One pass of a compaction: measure (t < 0) or write into sector t. */
static molt_err_t compact_pass(molt_store_t *st, int32_t t, uint16_t app, uint32_t flags,
                               const molt_store_extra_t *x, uint32_t nx, uint32_t *wpos)
{
    uint32_t pos = st->hdr_size;
    molt_err_t err;

    *wpos = st->hdr_size;
    for (;;) {
        ent_t e;
        bool found;
        if ((err = next_live(st, &pos, &e, &found)) != MOLT_OK)
            return err;
        if (!found)
            break;
        bool live = e.space == MOLT_STORE_LIVE && e.app == app, snap = e.space == MOLT_STORE_SAVED && e.app == app;
        bool keep = !emits_key(x, nx, e.space, e.app, e.id);
        if (live && (flags & MOLT_STORE_X_LIVE_FROM_SNAP))
            keep = false;
        if (snap && (flags & (MOLT_STORE_X_SNAP_FROM_LIVE | MOLT_STORE_X_DROP_SNAP)))
            keep = false;
        if (keep && (err = emit_copy(st, &e, e.space, t, wpos)) != MOLT_OK)
            return err;
        if (live && (flags & MOLT_STORE_X_SNAP_FROM_LIVE) && (err = emit_copy(st, &e, MOLT_STORE_SAVED, t, wpos)) != MOLT_OK)
            return err;
        if (snap && (flags & MOLT_STORE_X_LIVE_FROM_SNAP) && (err = emit_copy(st, &e, MOLT_STORE_LIVE, t, wpos)) != MOLT_OK)
            return err;
        if (*wpos > (t >= 0 ? st->sec_size[t] : UINT32_MAX))
            return MOLT_E_STORE_FULL;
    }
    for (uint32_t i = 0; i < nx; i++) {
        if (x[i].data == NULL)
            continue;
        uint32_t size = rec_size(st, x[i].len);
        if (t >= 0) {
            memcpy(st->buf + MOLT_STORE_HDR, x[i].data, x[i].len);
            (void)build(st, x[i].space, x[i].app, x[i].id, x[i].len, molt_crc32(st->buf + MOLT_STORE_HDR, x[i].len));
            if ((err = st->area->write(st->area->ctx, sec_base(st, t) + *wpos, st->buf, size)) != MOLT_OK)
                return err;
        }
        *wpos += size;
    }
    return MOLT_OK;
}

molt_err_t molt_store_compact(molt_store_t *st, uint16_t app, uint32_t flags, const molt_store_extra_t *x,
                              uint32_t nx)
{
    int32_t t = st->active < 0 ? 0 : (int32_t)(((uint32_t)st->active + 1u) % st->nsec);
    uint32_t need = 0, wpos = 0;
    uint8_t h[MOLT_STORE_HDR];
    molt_err_t err;

    for (uint32_t i = 0; i < nx; i++)
        if (x[i].len > MOLT_STORE_VALUE_MAX || x[i].space > MOLT_STORE_SYSTEM)
            return MOLT_E_ARG;
    /* Measure first: a compaction that cannot fit erases nothing. */
    if ((err = compact_pass(st, -1, app, flags, x, nx, &need)) != MOLT_OK)
        return err;
    if (need > st->sec_size[t])
        return MOLT_E_STORE_FULL;
    st->closed = true; /* until the commit below: a failure leaves the RAM view closed */
    if ((err = st->area->erase(st->area->ctx, sec_base(st, t), st->sec_size[t])) != MOLT_OK ||
        (err = compact_pass(st, t, app, flags, x, nx, &wpos)) != MOLT_OK)
        return err;
    /* The commit. */
    memset(st->buf, st->area->erase_value, st->hdr_size);
    memcpy(h, sec_magic, 4);
    molt_put_le32(h + 4, st->seq + 1u);
    molt_put_le32(h + 8, 0);
    molt_put_le32(h + 12, molt_crc32(h, 12));
    memcpy(st->buf, h, sizeof h);
    if ((err = st->area->write(st->area->ctx, sec_base(st, t), st->buf, st->hdr_size)) != MOLT_OK)
        return err;
    st->active = t;
    st->seq++;
    st->pos = wpos;
    st->closed = false;
    st->gc_count++;
    return MOLT_OK;
}

molt_err_t molt_store_gc(molt_store_t *st)
{
    if (st == NULL || st->area == NULL)
        return MOLT_E_ARG;
    return molt_store_compact(st, 0, 0, NULL, 0);
}

/* Append one record (value at data), compacting first when it does not fit. */
static molt_err_t append(molt_store_t *st, uint8_t flags, uint16_t app, uint16_t id, const void *data, uint16_t len)
{
    uint32_t size = rec_size(st, len);
    molt_err_t err;

    if (st->active < 0 || st->closed || size > st->sec_size[st->active] - st->pos) {
        molt_store_extra_t x = {(uint8_t)(flags & 0x0fu), app, id, data, len};
        if (flags & TOMB) {
            x.data = NULL; /* compaction drops the key */
            return molt_store_compact(st, 0, 0, &x, 1);
        }
        return molt_store_compact(st, 0, 0, &x, 1);
    }
    if (len > 0u)
        memcpy(st->buf + MOLT_STORE_HDR, data, len);
    (void)build(st, flags, app, id, len, molt_crc32(st->buf + MOLT_STORE_HDR, len));
    err = st->area->write(st->area->ctx, sec_base(st, st->active) + st->pos, st->buf, size);
    if (err != MOLT_OK) {
        st->closed = true; /* what the cut left there is not trusted: compact next time */
        return err;
    }
    st->pos += size;
    return MOLT_OK;
}

/* --- reading ------------------------------------------------------------------ */

/* The newest valid entry of the key in the active sector. */
static molt_err_t find(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id, ent_t *out, bool *found)
{
    uint32_t pos = st->hdr_size;
    molt_err_t err;

    *found = false;
    while (st->active >= 0 && pos < st->pos) {
        ent_t e;
        int kind;
        if ((err = ent_at(st, st->active, pos, &e, &kind)) != MOLT_OK)
            return err;
        if (kind != ENT_OK)
            break;
        if (e.valid && e.space == space && e.app == app && e.id == id) {
            *out = e;
            *found = !e.tomb;
        }
        pos += e.size;
    }
    return MOLT_OK;
}

static bool args_ok(const molt_store_t *st, uint8_t space) { return st != NULL && st->area != NULL && space <= MOLT_STORE_SYSTEM; }

molt_err_t molt_store_get_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id, void *buf, size_t cap,
                              size_t *len)
{
    ent_t e;
    bool found;
    molt_err_t err;

    if (!args_ok(st, space) || len == NULL || (buf == NULL && cap > 0u))
        return MOLT_E_ARG;
    if ((err = find(st, space, app, id, &e, &found)) != MOLT_OK)
        return err;
    if (!found)
        return MOLT_E_STORE_NOT_FOUND;
    *len = e.len;
    if (cap < e.len)
        return MOLT_E_BUFFER;
    if ((err = rd(st, sec_base(st, st->active) + e.pos + MOLT_STORE_HDR, buf, e.len)) != MOLT_OK)
        return err;
    /* Checked again on the bytes handed out. */
    return molt_crc32(buf, e.len) == e.dcrc ? MOLT_OK : MOLT_E_IO;
}

molt_err_t molt_store_put_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id, const void *data,
                              size_t len)
{
    ent_t e;
    bool found;
    molt_err_t err;

    if (!args_ok(st, space) || len > MOLT_STORE_VALUE_MAX || (data == NULL && len > 0u))
        return MOLT_E_ARG;
    if ((err = find(st, space, app, id, &e, &found)) != MOLT_OK)
        return err;
    if (found && e.len == len && e.dcrc == molt_crc32(data, (uint32_t)len)) {
        if ((err = rd(st, sec_base(st, st->active) + e.pos + MOLT_STORE_HDR, st->buf, e.len)) != MOLT_OK)
            return err;
        if (memcmp(st->buf, data, len) == 0)
            return MOLT_OK; /* already stored: no wear */
    }
    return append(st, space, app, id, data, (uint16_t)len);
}

molt_err_t molt_store_del_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id)
{
    ent_t e;
    bool found;
    molt_err_t err;

    if (!args_ok(st, space))
        return MOLT_E_ARG;
    if ((err = find(st, space, app, id, &e, &found)) != MOLT_OK)
        return err;
    if (!found)
        return MOLT_OK;
    return append(st, (uint8_t)(space | TOMB), app, id, NULL, 0);
}

molt_err_t molt_store_next(molt_store_t *st, uint32_t *cursor, molt_store_rec_t *rec, bool *more)
{
    molt_err_t err;

    if (st == NULL || st->area == NULL || cursor == NULL || rec == NULL || more == NULL)
        return MOLT_E_ARG;
    *more = false;
    uint32_t pos = *cursor < st->hdr_size ? st->hdr_size : *cursor;
    ent_t e;
    if ((err = next_live(st, &pos, &e, more)) != MOLT_OK)
        return err;
    if (*more) {
        rec->space = e.space;
        rec->app = e.app;
        rec->id = e.id;
        rec->len = e.len;
        rec->off = sec_base(st, st->active) + e.pos + MOLT_STORE_HDR;
    }
    *cursor = pos;
    return MOLT_OK;
}

molt_err_t molt_store_read_value(molt_store_t *st, const molt_store_rec_t *rec, void *buf, size_t cap)
{
    if (st == NULL || st->area == NULL || rec == NULL || (buf == NULL && rec->len > 0u))
        return MOLT_E_ARG;
    if (cap < rec->len)
        return MOLT_E_BUFFER;
    return rd(st, rec->off, buf, rec->len);
}

molt_err_t molt_store_usage(molt_store_t *st, uint32_t *used, uint32_t *capacity)
{
    molt_err_t err;
    uint32_t need = 0, cap = UINT32_MAX;

    if (st == NULL || st->area == NULL || used == NULL || capacity == NULL)
        return MOLT_E_ARG;
    if ((err = compact_pass(st, -1, 0, 0, NULL, 0, &need)) != MOLT_OK)
        return err;
    for (uint32_t s = 0; s < st->nsec; s++)
        cap = st->sec_size[s] < cap ? st->sec_size[s] : cap;
    *used = need - st->hdr_size;
    *capacity = cap - st->hdr_size;
    return MOLT_OK;
}

/* --- the application's door ---------------------------------------------------- */

molt_err_t molt_store_app_open(molt_store_app_t *h, molt_store_t *st, uint16_t app)
{
    if (h == NULL || st == NULL || app == 0u)
        return MOLT_E_ARG;
    h->st = st;
    h->app = app;
    return MOLT_OK;
}

static bool app_ok(const molt_store_app_t *h) { return h != NULL && h->st != NULL && h->app != 0u; }

molt_err_t molt_store_get(const molt_store_app_t *h, uint16_t id, void *buf, size_t cap, size_t *len)
{
    return app_ok(h) ? molt_store_get_raw(h->st, MOLT_STORE_LIVE, h->app, id, buf, cap, len) : MOLT_E_ARG;
}

molt_err_t molt_store_get_saved(const molt_store_app_t *h, uint16_t id, void *buf, size_t cap, size_t *len)
{
    return app_ok(h) ? molt_store_get_raw(h->st, MOLT_STORE_SAVED, h->app, id, buf, cap, len) : MOLT_E_ARG;
}

molt_err_t molt_store_put(const molt_store_app_t *h, uint16_t id, const void *data, size_t len)
{
    if (!app_ok(h))
        return MOLT_E_ARG;
    if (h->st->frozen_app == h->app)
        return MOLT_E_KEEP_PHASE;
    return molt_store_put_raw(h->st, MOLT_STORE_LIVE, h->app, id, data, len);
}

molt_err_t molt_store_del(const molt_store_app_t *h, uint16_t id)
{
    if (!app_ok(h))
        return MOLT_E_ARG;
    if (h->st->frozen_app == h->app)
        return MOLT_E_KEEP_PHASE;
    return molt_store_del_raw(h->st, MOLT_STORE_LIVE, h->app, id);
}

molt_err_t molt_store_app_next(const molt_store_app_t *h, uint32_t *cursor, uint16_t *id, uint16_t *len, bool *more)
{
    molt_store_rec_t r = {0};
    molt_err_t err;

    if (!app_ok(h) || id == NULL || len == NULL)
        return MOLT_E_ARG;
    do {
        if ((err = molt_store_next(h->st, cursor, &r, more)) != MOLT_OK)
            return err;
    } while (*more && (r.space != MOLT_STORE_LIVE || r.app != h->app));
    if (*more) {
        *id = r.id;
        *len = r.len;
    }
    return MOLT_OK;
}
