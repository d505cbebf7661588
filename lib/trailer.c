/*
 * trailer.c - flash-area helpers and the MCUboot trailer (see trailer.h).
 *
 * Field positions follow MCUboot exactly (mcuboot-notes 2.1) so that
 * MCUboot-style applications and imgtool --pad images drive molt unchanged
 * (issue 3: "MCUboot's trailer semantics as an application sees them").
 */
#include <string.h>

#include "trailer.h"

#define CHUNK 256u /* >= the largest write alignment (256) */
#define MAGIC_SZ 16u

static const uint8_t magic8[MAGIC_SZ] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                         0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
static const uint8_t magic_tail[MAGIC_SZ - 2u] = {0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
                                                  0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};

uint32_t molt_tr_align(const molt_area_t *a) { return a->write_align > 8u ? a->write_align : 8u; }

/* Bytes taken by the magic unit: roundup(16, M). */
static uint32_t magic_unit(const molt_area_t *a) { return molt_roundup(MAGIC_SZ, molt_tr_align(a)); }

static uint32_t field_off(const molt_area_t *a, molt_tr_field_t f)
{
    return a->size - magic_unit(a) - (uint32_t)f * molt_tr_align(a);
}

/* The magic for max_align M: the standard one for 8, else LE16(M) + tail. */
static void expected_magic(const molt_area_t *a, uint8_t out[MAGIC_SZ])
{
    uint32_t m = molt_tr_align(a);
    if (m == 8u) {
        memcpy(out, magic8, MAGIC_SZ);
    } else {
        molt_put_le16(out, (uint16_t)m);
        memcpy(out + 2, magic_tail, sizeof magic_tail);
    }
}

molt_err_t molt_tr_sector(const molt_area_t *a, molt_sector_t *sec)
{
    if (a->size == 0u)
        return MOLT_E_LAYOUT;
    return a->sector(a->ctx, a->size - 1u, sec);
}

molt_err_t molt_tr_erase(const molt_area_t *a)
{
    molt_sector_t sec;
    molt_err_t err = molt_tr_sector(a, &sec);
    return err ? err : a->erase(a->ctx, sec.off, sec.size);
}

static molt_err_t read_byte(const molt_area_t *a, uint32_t off, uint8_t *v)
{
    return a->read(a->ctx, off, v, 1);
}

molt_err_t molt_tr_read(const molt_area_t *a, molt_trailer_t *t)
{
    uint8_t want[MAGIC_SZ], got[MAGIC_SZ];
    molt_err_t err;

    memset(t, 0, sizeof *t);
    t->erased = a->erase_value;
    if (a->size < 4u * molt_tr_align(a) + magic_unit(a))
        return MOLT_E_LAYOUT;
    expected_magic(a, want);
    if ((err = a->read(a->ctx, a->size - MAGIC_SZ, got, MAGIC_SZ)) != MOLT_OK)
        return err;
    t->magic_good = memcmp(want, got, MAGIC_SZ) == 0;
    if ((err = read_byte(a, field_off(a, MOLT_TR_IMAGE_OK), &t->image_ok)) != MOLT_OK ||
        (err = read_byte(a, field_off(a, MOLT_TR_COPY_DONE), &t->copy_done)) != MOLT_OK ||
        (err = read_byte(a, field_off(a, MOLT_TR_SWAP_INFO), &t->swap_info)) != MOLT_OK)
        return err;
    return MOLT_OK;
}

molt_err_t molt_tr_write_magic(const molt_area_t *a)
{
    uint8_t unit[CHUNK];
    uint32_t n = magic_unit(a);

    if (n > sizeof unit)
        return MOLT_E_LAYOUT;
    /* Right-aligned like MCUboot's boot_write_magic: padding first. */
    memset(unit, a->erase_value, n);
    expected_magic(a, unit + n - MAGIC_SZ);
    return a->write(a->ctx, a->size - n, unit, n);
}

molt_err_t molt_tr_write_field(const molt_area_t *a, molt_tr_field_t f, uint8_t value)
{
    uint8_t unit[CHUNK];
    uint32_t m = molt_tr_align(a);

    if (m > sizeof unit)
        return MOLT_E_LAYOUT;
    memset(unit, a->erase_value, m);
    unit[0] = value;
    return a->write(a->ctx, field_off(a, f), unit, m);
}

uint32_t molt_tr_size(const molt_area_t *a) { return magic_unit(a) + 4u * molt_tr_align(a); }

molt_err_t molt_tr_blank(const molt_area_t *a, bool *blank)
{
    uint32_t n = molt_tr_size(a);
    if (a->size < n)
        return MOLT_E_LAYOUT;
    return molt_area_blank(a, a->size - n, n, blank);
}
