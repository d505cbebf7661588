/* protarea.c - trusted keys and the NV counter in the protected flash area (protarea.h). */
#include "protarea.h"
#include "board.h"
#include "flash.h"
#include "molt/image.h"

#define NV_RECORDS (SECTOR_SIZE / 8u)

uint32_t pa_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

molt_err_t pa_keys_load(molt_key_t keys[PA_MAX_KEYS], size_t *count)
{
    const uint8_t *s = flash_ptr(KEYS_OFF);
    uint32_t pos = 8;

    *count = 0;
    if (molt_le32(s) != PA_KEYS_MAGIC || s[4] == 0u || s[4] > PA_MAX_KEYS)
        return MOLT_E_KEY_FORMAT;
    for (unsigned i = 0; i < s[4]; i++) {
        if (pos + 2u > SECTOR_SIZE - 4u)
            return MOLT_E_KEY_FORMAT;
        uint32_t len = molt_le16(s + pos);
        if (len == 0u || len > SECTOR_SIZE - 4u - pos - 2u)
            return MOLT_E_KEY_FORMAT;
        keys[i] = (molt_key_t){s + pos + 2u, len};
        pos += (2u + len + 3u) & ~3u;
    }
    if (pos > SECTOR_SIZE - 4u || molt_le32(s + pos) != pa_crc32(s, pos))
        return MOLT_E_KEY_FORMAT;
    *count = s[4];
    return MOLT_OK;
}

static const uint8_t *record(uint32_t i)
{
    return flash_ptr(NVCNT_OFF + 8u * i);
}

static int erased(const uint8_t *r)
{
    for (int k = 0; k < 8; k++)
        if (r[k] != 0xffu)
            return 0;
    return 1;
}

/* The counter value and the first erased record (NV_RECORDS if none). */
static void scan(uint32_t *value, uint32_t *next)
{
    *value = 0;
    *next = NV_RECORDS;
    for (uint32_t i = 0; i < NV_RECORDS; i++) {
        const uint8_t *r = record(i);
        if (erased(r)) {
            if (*next == NV_RECORDS)
                *next = i;
            continue;
        }
        uint32_t v = molt_le32(r);
        if (molt_le32(r + 4) == ~v && v > *value)
            *value = v;
    }
}

molt_err_t pa_nv_read(void *ctx, uint32_t id, uint32_t *value)
{
    uint32_t next;
    (void)ctx;
    if (id != MOLT_NV_SECURITY_COUNTER)
        return MOLT_E_NV;
    scan(value, &next);
    return MOLT_OK;
}

molt_err_t pa_nv_advance(void *ctx, uint32_t id, uint32_t value)
{
    uint32_t cur, next;
    uint8_t rec[8];
    (void)ctx;
    if (id != MOLT_NV_SECURITY_COUNTER)
        return MOLT_E_NV;
    scan(&cur, &next);
    if (value < cur)
        return MOLT_E_ROLLBACK;
    if (value == cur)
        return MOLT_OK;
    if (next == NV_RECORDS)
        return MOLT_E_NV;
    molt_put_le32(rec, value);
    molt_put_le32(rec + 4, ~value);
    return flash_program(NVCNT_OFF + 8u * next, rec, sizeof rec) == MOLT_OK ? MOLT_OK : MOLT_E_NV;
}
