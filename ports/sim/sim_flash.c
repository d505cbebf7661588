/*
 * sim_flash.c - the NOR flash simulator (see sim_flash.h and docs/sim.md).
 *
 * Internally every byte is looked at "normalised": XORed so that the erase value
 * reads 0xFF. Then one rule covers both erase values: a program may only clear
 * bits, an erase sets them all.
 */
#include "sim_flash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- results -------------------------------------------------------------- */

const char *sim_res_str(sim_res_t r)
{
    switch (r) {
    case SIM_OK: return "ok";
    case SIM_E_ARG: return "bad argument";
    case SIM_E_RANGE: return "address range outside the device";
    case SIM_E_ALIGN: return "write not aligned to the write unit";
    case SIM_E_SECTOR: return "erase range not on sector boundaries";
    case SIM_E_NOR: return "program would set a bit back to the erase value";
    case SIM_E_REWRITE: return "write unit programmed twice without an erase";
    case SIM_E_POWER: return "power lost";
    case SIM_E_NOMEM: return "out of memory";
    case SIM_E_FILE: return "device file could not be read or written";
    case SIM_E_FORMAT: return "device file is corrupt or of an unknown version";
    case SIM_E_GEOMETRY: return "invalid or mismatched geometry";
    case SIM_E_DECREASE: return "counter may not decrease";
    case SIM_E_CORRUPT: return "counter region holds no consistent state";
    case SIM_E_UNMOUNTED: return "counter region not mounted";
    }
    return "unknown";
}

molt_err_t sim_res_err(sim_res_t r)
{
    switch (r) {
    case SIM_OK: return MOLT_OK;
    case SIM_E_ARG: case SIM_E_RANGE: case SIM_E_ALIGN: case SIM_E_SECTOR:
    case SIM_E_GEOMETRY: case SIM_E_DECREASE: case SIM_E_UNMOUNTED:
        return MOLT_E_ARG;
    default:
        return MOLT_E_IO;
    }
}

static molt_err_t fail(sim_flash_t *f, sim_res_t r)
{
    f->last = r;
    return sim_res_err(r);
}

static molt_err_t ok(sim_flash_t *f)
{
    f->last = SIM_OK;
    return MOLT_OK;
}

/* --- geometry ------------------------------------------------------------ */

molt_err_t sim_flash_geom_check(const sim_flash_geom_t *g, sim_res_t *why)
{
    uint64_t total = 0;
    sim_res_t r = SIM_OK;

    if (g == NULL || g->nregions == 0 || g->nregions > SIM_FLASH_MAX_REGIONS ||
        g->write_align == 0 || g->write_align > SIM_FLASH_MAX_ALIGN ||
        (g->write_align & (g->write_align - 1)) != 0 ||
        (g->erase_value != 0xFF && g->erase_value != 0x00))
        r = SIM_E_GEOMETRY;
    for (uint32_t i = 0; r == SIM_OK && i < g->nregions; i++) {
        const sim_flash_region_t *rg = &g->regions[i];
        if (rg->sector_size == 0 || rg->count == 0 || rg->sector_size % g->write_align != 0)
            r = SIM_E_GEOMETRY;
        else
            total += (uint64_t)rg->sector_size * rg->count; /* no overflow: both < 2^32 */
        if (total > SIM_FLASH_MAX_SIZE)
            r = SIM_E_GEOMETRY;
    }
    if (why != NULL)
        *why = r;
    return sim_res_err(r);
}

static uint32_t geom_size(const sim_flash_geom_t *g, uint32_t *nsectors)
{
    uint32_t size = 0, n = 0;
    for (uint32_t i = 0; i < g->nregions; i++) {
        size += g->regions[i].sector_size * g->regions[i].count;
        n += g->regions[i].count;
    }
    *nsectors = n;
    return size;
}

static size_t bitmap_bytes(uint32_t size, uint32_t align)
{
    return ((size_t)(size / align) + 7u) / 8u;
}

uint32_t sim_flash_size(const sim_flash_t *f) { return f->size; }
uint32_t sim_flash_sector_count(const sim_flash_t *f) { return f->nsectors; }
uint32_t sim_flash_write_align(const sim_flash_t *f) { return f->geom.write_align; }
uint8_t sim_flash_erase_value(const sim_flash_t *f) { return f->geom.erase_value; }

molt_err_t sim_flash_sector_at(sim_flash_t *f, uint32_t addr, sim_flash_sector_t *sec)
{
    uint32_t index = 0, base = 0;

    for (uint32_t i = 0; i < f->geom.nregions; i++) {
        const sim_flash_region_t *rg = &f->geom.regions[i];
        uint32_t span = rg->sector_size * rg->count;
        if (addr - base < span) {
            uint32_t k = (addr - base) / rg->sector_size;
            sec->index = index + k;
            sec->offset = base + k * rg->sector_size;
            sec->size = rg->sector_size;
            return ok(f);
        }
        index += rg->count;
        base += span;
    }
    return fail(f, SIM_E_RANGE);
}

molt_err_t sim_flash_sector_info(sim_flash_t *f, uint32_t index, sim_flash_sector_t *sec)
{
    uint32_t first = 0, base = 0;

    for (uint32_t i = 0; i < f->geom.nregions; i++) {
        const sim_flash_region_t *rg = &f->geom.regions[i];
        if (index - first < rg->count) {
            sec->index = index;
            sec->offset = base + (index - first) * rg->sector_size;
            sec->size = rg->sector_size;
            return ok(f);
        }
        first += rg->count;
        base += rg->sector_size * rg->count;
    }
    return fail(f, SIM_E_RANGE);
}

/* --- lifetime ------------------------------------------------------------ */

void sim_flash_timing_default(sim_flash_timing_t *t)
{
    /* Typical, not worst-case, datasheet figures for MCU-internal NOR: an STM32F4
     * erases 128 KiB in about 1 s and programs a 32-bit word in about 16 us; SPI
     * NOR erases 4 KiB in 30-45 ms. Proportional erase time fits both ends. */
    t->erase_us_per_sector = 0;
    t->erase_us_per_kib = 8000;
    t->program_ns_per_byte = 4000;
}

molt_err_t sim_flash_init(sim_flash_t *f, const sim_flash_geom_t *g)
{
    sim_res_t why;

    memset(f, 0, sizeof *f);
    if (sim_flash_geom_check(g, &why) != MOLT_OK)
        return fail(f, why);
    f->geom = *g;
    f->size = geom_size(g, &f->nsectors);
    f->mem = malloc(f->size);
    f->wear = calloc(f->nsectors, sizeof *f->wear);
    f->programmed = calloc(bitmap_bytes(f->size, g->write_align), 1);
    if (f->mem == NULL || f->wear == NULL || f->programmed == NULL) {
        sim_flash_free(f);
        return fail(f, SIM_E_NOMEM);
    }
    memset(f->mem, g->erase_value, f->size);
    sim_flash_timing_default(&f->timing);
    f->powered = true;
    return ok(f);
}

void sim_flash_free(sim_flash_t *f)
{
    free(f->mem);
    free(f->wear);
    free(f->programmed);
    f->mem = NULL;
    f->wear = NULL;
    f->programmed = NULL;
    f->size = 0;
    f->nsectors = 0;
}

void sim_flash_set_flags(sim_flash_t *f, uint32_t flags) { f->flags = flags & SIM_FLASH_F_ALL; }

void sim_flash_set_timing(sim_flash_t *f, const sim_flash_timing_t *t)
{
    if (t == NULL)
        memset(&f->timing, 0, sizeof f->timing);
    else
        f->timing = *t;
}

/* --- accounting ---------------------------------------------------------- */

sim_res_t sim_flash_last(const sim_flash_t *f) { return f->last; }
uint64_t sim_flash_ops(const sim_flash_t *f) { return f->ops; }
const uint8_t *sim_flash_data(const sim_flash_t *f) { return f->mem; }
void sim_flash_stats_reset(sim_flash_t *f) { memset(&f->stats, 0, sizeof f->stats); }

uint32_t sim_flash_wear(const sim_flash_t *f, uint32_t index)
{
    return index < f->nsectors ? f->wear[index] : 0;
}

/* --- faults -------------------------------------------------------------- */

void sim_flash_arm_cut(sim_flash_t *f, sim_cut_t mode, uint64_t n, uint64_t seed)
{
    f->cut_mode = mode;
    f->cut_at = f->ops + n;
    f->rng = seed;
}

void sim_flash_disarm(sim_flash_t *f) { f->cut_mode = SIM_CUT_NONE; }
bool sim_flash_powered(const sim_flash_t *f) { return f->powered; }

void sim_flash_reboot(sim_flash_t *f)
{
    f->powered = true;
    f->cut_mode = SIM_CUT_NONE;
    f->last = SIM_OK;
}

/* splitmix64: tiny, and every seed (0 included) gives a good stream. */
static uint64_t rng_next(sim_flash_t *f)
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint8_t rng_byte(sim_flash_t *f) { return (uint8_t)rng_next(f); }

/* Uniform in [0, n), n > 0; the modulo bias is irrelevant for fault placement. */
static uint32_t rng_below(sim_flash_t *f, uint32_t n) { return (uint32_t)(rng_next(f) % n); }

/* Is the operation about to start the one the armed cut hits? */
static sim_cut_t cut_due(const sim_flash_t *f)
{
    return f->ops == f->cut_at ? f->cut_mode : SIM_CUT_NONE;
}

static molt_err_t power_cut(sim_flash_t *f)
{
    f->powered = false;
    f->cut_mode = SIM_CUT_NONE;
    f->stats.cuts++;
    return fail(f, SIM_E_POWER);
}

/* --- cells --------------------------------------------------------------- */

/* XOR mask that makes the erase value read 0xFF. */
static uint8_t norm_mask(const sim_flash_t *f) { return (uint8_t)(f->geom.erase_value ^ 0xFFu); }

static bool range_ok(const sim_flash_t *f, uint32_t off, size_t len)
{
    return len <= f->size && off <= f->size - len;
}

static bool unit_programmed(const sim_flash_t *f, uint32_t unit)
{
    return (f->programmed[unit / 8] >> (unit % 8)) & 1u;
}

static void unit_mark(sim_flash_t *f, uint32_t unit, bool on)
{
    uint8_t bit = (uint8_t)(1u << (unit % 8));
    if (on)
        f->programmed[unit / 8] |= bit;
    else
        f->programmed[unit / 8] &= (uint8_t)~bit;
}

/* The NOR and write-once rules for a write already known to be in range and aligned. */
static sim_res_t program_check(const sim_flash_t *f, uint32_t off, const uint8_t *src, size_t len)
{
    uint8_t m = norm_mask(f);
    uint32_t a = f->geom.write_align;

    if (f->flags & SIM_FLASH_F_WRITE_ONCE) {
        for (uint32_t u = off / a; u < (off + (uint32_t)len) / a; u++)
            if (unit_programmed(f, u))
                return SIM_E_REWRITE;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t o = (uint8_t)(f->mem[off + i] ^ m), n = (uint8_t)(src[i] ^ m);
        if (n & (uint8_t)~o)
            return SIM_E_NOR;
    }
    return SIM_OK;
}

/* Physically a program ANDs (in normalised form); after program_check that
 * equals the new value, unless SIM_FLASH_F_AND let a violation through. */
static void program_full(sim_flash_t *f, uint32_t off, const uint8_t *src, size_t len)
{
    uint8_t m = norm_mask(f);
    uint32_t a = f->geom.write_align;

    for (size_t i = 0; i < len; i++)
        f->mem[off + i] = (uint8_t)(((f->mem[off + i] ^ m) & (src[i] ^ m)) ^ m);
    for (uint32_t u = off / a; u < (off + (uint32_t)len) / a; u++)
        unit_mark(f, u, true);
}

/* A write cut mid-way: bytes before a random point k are programmed; from k on,
 * each bit that was to change did so or not, by the PRNG. A write unit counts as
 * programmed if it lies wholly before k or any of its bits moved - so a unit that
 * still reads erased can be programmed again, as software would expect. */
static void program_torn(sim_flash_t *f, uint32_t off, const uint8_t *src, size_t len)
{
    uint8_t m = norm_mask(f);
    uint32_t a = f->geom.write_align;
    uint32_t k = rng_below(f, (uint32_t)len);

    for (uint32_t i = 0; i < (uint32_t)len; i++) {
        uint8_t o = (uint8_t)(f->mem[off + i] ^ m);
        uint8_t clear = (uint8_t)(o & ~(src[i] ^ m));
        if (i >= k)
            clear &= rng_byte(f);
        f->mem[off + i] = (uint8_t)((o & (uint8_t)~clear) ^ m);
        if (clear != 0)
            unit_mark(f, (off + i) / a, true);
    }
    for (uint32_t u = off / a; u < (off + k) / a; u++)
        unit_mark(f, u, true);
}

/* Whole KiB and the rest separately, so no product can overflow 64 bits. */
static uint64_t erase_ns(const sim_flash_t *f, uint32_t size)
{
    uint64_t per_kib = (uint64_t)f->timing.erase_us_per_kib * 1000u;
    return (uint64_t)f->timing.erase_us_per_sector * 1000u + per_kib * (size / 1024u) +
           per_kib * (size % 1024u) / 1024u;
}

static void erase_full(sim_flash_t *f, const sim_flash_sector_t *s)
{
    uint32_t a = f->geom.write_align;
    memset(f->mem + s->offset, f->geom.erase_value, s->size);
    for (uint32_t u = s->offset / a; u < (s->offset + s->size) / a; u++)
        unit_mark(f, u, false);
}

/* An erase cut mid-way. Erase acts on the whole sector at once, so the damage is
 * a per-bit mix with a random strength (0, 1/4, 1/2 or 3/4 of the remaining
 * bits erased), after a random prefix that finished; the extremes "nothing
 * happened" and "all erased" both occur. Units not wholly in the finished prefix
 * stay marked programmed: a half-erased cell is not fit to program. */
static void erase_torn(sim_flash_t *f, const sim_flash_sector_t *s)
{
    uint8_t m = norm_mask(f);
    uint32_t a = f->geom.write_align;
    uint32_t pick = rng_below(f, 8), k, strength = rng_below(f, 4);

    k = pick == 0 ? 0 : pick == 1 ? s->size : rng_below(f, s->size + 1);
    for (uint32_t i = 0; i < s->size; i++) {
        uint8_t o = (uint8_t)(f->mem[s->offset + i] ^ m), set = 0xFF;
        if (i >= k) {
            uint8_t r1 = rng_byte(f), r2 = rng_byte(f);
            set = strength == 0 ? 0 : strength == 1 ? (uint8_t)(r1 & r2)
                : strength == 2 ? r1 : (uint8_t)(r1 | r2);
        }
        f->mem[s->offset + i] = (uint8_t)((o | set) ^ m);
    }
    for (uint32_t u = s->offset / a; u < (s->offset + k) / a; u++)
        unit_mark(f, u, false);
}

/* --- operations ---------------------------------------------------------- */

molt_err_t sim_flash_read(sim_flash_t *f, uint32_t off, void *buf, size_t len)
{
    if (!f->powered)
        return fail(f, SIM_E_POWER);
    if (len != 0 && buf == NULL)
        return fail(f, SIM_E_ARG);
    if (!range_ok(f, off, len))
        return fail(f, SIM_E_RANGE);
    if (len != 0)
        memcpy(buf, f->mem + off, len);
    f->stats.reads++;
    f->stats.bytes_read += len;
    return ok(f);
}

molt_err_t sim_flash_write(sim_flash_t *f, uint32_t off, const void *data, size_t len)
{
    sim_res_t r;
    sim_cut_t cut;

    if (!f->powered)
        return fail(f, SIM_E_POWER);
    if (len != 0 && data == NULL)
        return fail(f, SIM_E_ARG);
    if (!range_ok(f, off, len))
        return fail(f, SIM_E_RANGE);
    if (off % f->geom.write_align != 0 || len % f->geom.write_align != 0)
        return fail(f, SIM_E_ALIGN);
    if (len == 0)
        return ok(f);
    r = program_check(f, off, data, len);
    if (r != SIM_OK) {
        f->stats.violations++;
        if (r == SIM_E_REWRITE || !(f->flags & SIM_FLASH_F_AND))
            return fail(f, r);
    }
    cut = cut_due(f);
    if (cut == SIM_CUT_BEFORE)
        return power_cut(f);
    f->ops++;
    f->stats.programs++;
    f->stats.bytes_programmed += len;
    f->stats.time_ns += (uint64_t)f->timing.program_ns_per_byte * len;
    if (cut == SIM_CUT_TORN) {
        program_torn(f, off, data, len);
        return power_cut(f);
    }
    program_full(f, off, data, len);
    return ok(f);
}

molt_err_t sim_flash_erase_sector(sim_flash_t *f, uint32_t index)
{
    sim_flash_sector_t s;
    sim_cut_t cut;

    if (!f->powered)
        return fail(f, SIM_E_POWER);
    if (sim_flash_sector_info(f, index, &s) != MOLT_OK)
        return fail(f, SIM_E_RANGE);
    cut = cut_due(f);
    if (cut == SIM_CUT_BEFORE)
        return power_cut(f);
    f->ops++;
    f->stats.erases++;
    f->stats.time_ns += erase_ns(f, s.size);
    f->wear[index]++;
    if (cut == SIM_CUT_TORN) {
        erase_torn(f, &s);
        return power_cut(f);
    }
    erase_full(f, &s);
    return ok(f);
}

molt_err_t sim_flash_erase(sim_flash_t *f, uint32_t off, size_t len)
{
    sim_flash_sector_t first, last;

    if (!f->powered)
        return fail(f, SIM_E_POWER);
    if (len == 0)
        return fail(f, SIM_E_ARG);
    if (!range_ok(f, off, len))
        return fail(f, SIM_E_RANGE);
    if (sim_flash_sector_at(f, off, &first) != MOLT_OK ||
        sim_flash_sector_at(f, off + (uint32_t)len - 1, &last) != MOLT_OK)
        return fail(f, SIM_E_RANGE);
    if (first.offset != off || last.offset + last.size != off + len)
        return fail(f, SIM_E_SECTOR);
    for (uint32_t i = first.index; i <= last.index; i++) {
        molt_err_t e = sim_flash_erase_sector(f, i);
        if (e != MOLT_OK)
            return e;
    }
    return ok(f);
}

/* --- CRC-32 -------------------------------------------------------------- */

uint32_t sim_crc32(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;

    crc = ~crc;
    while (n--) {
        crc ^= *b++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* --- persistence --------------------------------------------------------- */

#define FILE_MAGIC   "MOLTSIMF"
#define FILE_VERSION 1u
#define FILE_FIXED   28u /* magic 8, version, flags, align, erase value, nregions */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Byte length of a file for g (already checked), trailing CRC included. */
static size_t file_len(const sim_flash_geom_t *g)
{
    uint32_t nsectors, size = geom_size(g, &nsectors);
    return FILE_FIXED + 8u * (size_t)g->nregions + size + 4u * (size_t)nsectors +
           bitmap_bytes(size, g->write_align) + 4u;
}

static void file_header(const sim_flash_t *f, uint8_t *p)
{
    memcpy(p, FILE_MAGIC, 8);
    put32(p + 8, FILE_VERSION);
    put32(p + 12, f->flags);
    put32(p + 16, f->geom.write_align);
    put32(p + 20, f->geom.erase_value);
    put32(p + 24, f->geom.nregions);
    for (uint32_t i = 0; i < f->geom.nregions; i++) {
        put32(p + FILE_FIXED + 8 * i, f->geom.regions[i].sector_size);
        put32(p + FILE_FIXED + 8 * i + 4, f->geom.regions[i].count);
    }
}

static uint8_t *file_image(const sim_flash_t *f, size_t *len)
{
    size_t n = file_len(&f->geom), pos = FILE_FIXED + 8u * f->geom.nregions;
    uint8_t *buf = malloc(n);

    if (buf == NULL)
        return NULL;
    file_header(f, buf);
    memcpy(buf + pos, f->mem, f->size);
    pos += f->size;
    for (uint32_t i = 0; i < f->nsectors; i++, pos += 4)
        put32(buf + pos, f->wear[i]);
    memcpy(buf + pos, f->programmed, bitmap_bytes(f->size, f->geom.write_align));
    put32(buf + n - 4, sim_crc32(0, buf, n - 4));
    *len = n;
    return buf;
}

static bool write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    bool good;

    if (fp == NULL)
        return false;
    good = fwrite(buf, 1, len, fp) == len && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    return fclose(fp) == 0 && good;
}

molt_err_t sim_flash_save(const sim_flash_t *f, const char *path)
{
    size_t len, plen = strlen(path);
    uint8_t *buf = file_image(f, &len);
    char *tmp = malloc(plen + 5);
    bool good = false;

    if (buf != NULL && tmp != NULL) {
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp", 5);
        good = write_file(tmp, buf, len) && rename(tmp, path) == 0;
        if (!good)
            remove(tmp);
    }
    free(buf);
    free(tmp);
    if (buf == NULL || tmp == NULL)
        return sim_res_err(SIM_E_NOMEM);
    return good ? MOLT_OK : sim_res_err(SIM_E_FILE);
}

/* Read a whole file; refuses one larger than any device file can be. */
static uint8_t *read_file(const char *path, size_t *len, sim_res_t *why)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    *why = SIM_E_FILE;
    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        if ((unsigned long)n > 2ul * SIM_FLASH_MAX_SIZE) {
            *why = SIM_E_FORMAT;
        } else if ((buf = malloc((size_t)n + 1)) == NULL) {
            *why = SIM_E_NOMEM;
        } else if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            *len = (size_t)n;
            *why = SIM_OK;
        }
    }
    fclose(fp);
    return buf;
}

static bool geom_equal(const sim_flash_geom_t *a, const sim_flash_geom_t *b)
{
    if (a->nregions != b->nregions || a->write_align != b->write_align ||
        a->erase_value != b->erase_value)
        return false;
    for (uint32_t i = 0; i < a->nregions; i++)
        if (a->regions[i].sector_size != b->regions[i].sector_size ||
            a->regions[i].count != b->regions[i].count)
            return false;
    return true;
}

/* Check buf as a device file and extract its geometry and flags. */
static sim_res_t file_parse(const uint8_t *buf, size_t len, sim_flash_geom_t *g, uint32_t *flags)
{
    uint32_t ev;

    if (len < FILE_FIXED + 4 || memcmp(buf, FILE_MAGIC, 8) != 0 || get32(buf + 8) != FILE_VERSION)
        return SIM_E_FORMAT;
    memset(g, 0, sizeof *g);
    *flags = get32(buf + 12);
    g->write_align = get32(buf + 16);
    ev = get32(buf + 20);
    g->nregions = get32(buf + 24);
    if ((*flags & ~SIM_FLASH_F_ALL) != 0 || ev > 0xFF || g->nregions == 0 ||
        g->nregions > SIM_FLASH_MAX_REGIONS || len < FILE_FIXED + 8u * g->nregions + 4u)
        return SIM_E_FORMAT;
    g->erase_value = (uint8_t)ev;
    for (uint32_t i = 0; i < g->nregions; i++) {
        g->regions[i].sector_size = get32(buf + FILE_FIXED + 8 * i);
        g->regions[i].count = get32(buf + FILE_FIXED + 8 * i + 4);
    }
    if (sim_flash_geom_check(g, NULL) != MOLT_OK || file_len(g) != len ||
        sim_crc32(0, buf, len - 4) != get32(buf + len - 4))
        return SIM_E_FORMAT;
    return SIM_OK;
}

static void file_restore(sim_flash_t *f, const uint8_t *buf)
{
    size_t pos = FILE_FIXED + 8u * f->geom.nregions;

    memcpy(f->mem, buf + pos, f->size);
    pos += f->size;
    for (uint32_t i = 0; i < f->nsectors; i++, pos += 4)
        f->wear[i] = get32(buf + pos);
    memcpy(f->programmed, buf + pos, bitmap_bytes(f->size, f->geom.write_align));
}

molt_err_t sim_flash_load(sim_flash_t *f, const char *path, const sim_flash_geom_t *expect,
                          sim_res_t *why)
{
    sim_flash_geom_t g;
    uint32_t flags = 0;
    size_t len = 0;
    sim_res_t r;
    uint8_t *buf = read_file(path, &len, &r);

    memset(f, 0, sizeof *f);
    if (buf != NULL)
        r = file_parse(buf, len, &g, &flags);
    if (r == SIM_OK && expect != NULL && !geom_equal(&g, expect))
        r = SIM_E_GEOMETRY;
    if (r == SIM_OK && sim_flash_init(f, &g) != MOLT_OK)
        r = f->last;
    if (r == SIM_OK) {
        file_restore(f, buf);
        f->flags = flags;
    }
    free(buf);
    f->last = r;
    if (why != NULL)
        *why = r;
    return sim_res_err(r);
}
