/*
 * sim_nvcnt.c - monotonic NV counters in simulated flash (see sim_nvcnt.h).
 *
 * Record (SIM_NVCNT_RECORD bytes at the start of a slot; the rest of the slot
 * stays erased):
 *   0  kind   'C' counter value, 'S' seal
 *   1  id     counter number; 0 for a seal
 *   2  magic  "nv"
 *   4  value  u32 LE: the counter value, or the seal's generation
 *   8  crc    CRC-32 of bytes 0..7
 *   12 the bitwise complement of bytes 0..11
 */
#include "sim_nvcnt.h"

#include <string.h>

#define KIND_COUNT 'C'
#define KIND_SEAL  'S'
#define BODY       12u

static molt_err_t nv_fail(sim_nvcnt_t *nv, sim_res_t r)
{
    nv->last = r;
    return sim_res_err(r);
}

/* A flash failure mid-update leaves RAM out of step with flash: remount. */
static molt_err_t nv_flash_fail(sim_nvcnt_t *nv)
{
    nv->mounted = false;
    return nv_fail(nv, sim_flash_last(nv->flash));
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t slots_in(const sim_nvcnt_t *nv, int s) { return nv->sec[s].size / nv->slot; }

static uint32_t slot_addr(const sim_nvcnt_t *nv, int s, uint32_t i)
{
    return nv->sec[s].offset + i * nv->slot;
}

/* --- records ------------------------------------------------------------- */

static void record_encode(uint8_t *rec, uint8_t kind, uint8_t id, uint32_t value)
{
    rec[0] = kind;
    rec[1] = id;
    rec[2] = 'n';
    rec[3] = 'v';
    put32(rec + 4, value);
    put32(rec + 8, sim_crc32(0, rec, 8));
    for (uint32_t i = 0; i < BODY; i++)
        rec[BODY + i] = (uint8_t)~rec[i];
}

/* The complement check alone rejects every one-directional corruption (what a
 * torn write or erase produces); the CRC is there for anything else. */
static bool record_decode(const uint8_t *rec, uint8_t *kind, uint8_t *id, uint32_t *value)
{
    for (uint32_t i = 0; i < BODY; i++)
        if ((uint8_t)(rec[i] ^ rec[BODY + i]) != 0xFF)
            return false;
    if (rec[2] != 'n' || rec[3] != 'v' || get32(rec + 8) != sim_crc32(0, rec, 8))
        return false;
    if (!(rec[0] == KIND_SEAL && rec[1] == 0) &&
        !(rec[0] == KIND_COUNT && rec[1] < SIM_NVCNT_COUNTERS))
        return false;
    *kind = rec[0];
    *id = rec[1];
    *value = get32(rec + 4);
    return true;
}

static bool slot_blank(const sim_nvcnt_t *nv, const uint8_t *buf)
{
    uint8_t ev = sim_flash_erase_value(nv->flash);
    for (uint32_t i = 0; i < nv->slot; i++)
        if (buf[i] != ev)
            return false;
    return true;
}

static molt_err_t record_write(sim_nvcnt_t *nv, int s, uint32_t i, uint8_t kind, uint8_t id,
                               uint32_t value)
{
    uint8_t buf[SIM_FLASH_MAX_ALIGN];

    memset(buf, sim_flash_erase_value(nv->flash), nv->slot);
    record_encode(buf, kind, id, value);
    return sim_flash_write(nv->flash, slot_addr(nv, s, i), buf, nv->slot);
}

/* --- mount --------------------------------------------------------------- */

/* Generation of sector s's seal; false if slot 0 holds no valid seal. */
static molt_err_t read_seal(sim_nvcnt_t *nv, int s, bool *sealed, uint32_t *gen)
{
    uint8_t buf[SIM_FLASH_MAX_ALIGN], kind, id;

    if (sim_flash_read(nv->flash, slot_addr(nv, s, 0), buf, nv->slot) != MOLT_OK)
        return nv_fail(nv, sim_flash_last(nv->flash));
    *sealed = record_decode(buf, &kind, &id, gen) && kind == KIND_SEAL;
    return MOLT_OK;
}

/* Both sealed: the newer generation wins. They differ by exactly one when the
 * protocol wrote them, so the serial comparison is exact across wrap-around. */
static sim_res_t pick_active(sim_nvcnt_t *nv, const bool sealed[2], const uint32_t gen[2])
{
    if (sealed[0] && sealed[1]) {
        if (gen[0] == gen[1])
            return SIM_E_CORRUPT;
        nv->active = (int32_t)(gen[1] - gen[0]) > 0 ? 1 : 0;
    } else {
        nv->active = sealed[0] ? 0 : sealed[1] ? 1 : -1;
    }
    nv->gen = nv->active < 0 ? 0 : gen[nv->active];
    return SIM_OK;
}

/* Take every counter record of the active sector and find its first free slot:
 * the one after the last slot that is not blank (a torn record is skipped, and
 * never written over). */
static molt_err_t scan_active(sim_nvcnt_t *nv)
{
    uint8_t buf[SIM_FLASH_MAX_ALIGN], kind, id;
    uint32_t v;

    nv->next = 1;
    for (uint32_t i = 1; i < slots_in(nv, nv->active); i++) {
        if (sim_flash_read(nv->flash, slot_addr(nv, nv->active, i), buf, nv->slot) != MOLT_OK)
            return nv_fail(nv, sim_flash_last(nv->flash));
        if (slot_blank(nv, buf))
            continue;
        nv->next = i + 1;
        if (record_decode(buf, &kind, &id, &v) && kind == KIND_COUNT && v > nv->value[id])
            nv->value[id] = v;
    }
    return MOLT_OK;
}

static sim_res_t mount_geometry(sim_nvcnt_t *nv, uint32_t first_sector)
{
    uint32_t a = sim_flash_write_align(nv->flash);

    if (first_sector >= UINT32_MAX - 1 ||
        sim_flash_sector_info(nv->flash, first_sector, &nv->sec[0]) != MOLT_OK ||
        sim_flash_sector_info(nv->flash, first_sector + 1, &nv->sec[1]) != MOLT_OK)
        return SIM_E_RANGE;
    nv->slot = (SIM_NVCNT_RECORD + a - 1) / a * a;
    if (slots_in(nv, 0) < SIM_NVCNT_COUNTERS + 2 || slots_in(nv, 1) < SIM_NVCNT_COUNTERS + 2)
        return SIM_E_GEOMETRY;
    return SIM_OK;
}

molt_err_t sim_nvcnt_mount(sim_nvcnt_t *nv, sim_flash_t *flash, uint32_t first_sector)
{
    bool sealed[2];
    uint32_t gen[2];
    sim_res_t r;

    memset(nv, 0, sizeof *nv);
    nv->flash = flash;
    nv->active = -1;
    if ((r = mount_geometry(nv, first_sector)) != SIM_OK)
        return nv_fail(nv, r);
    for (int s = 0; s < 2; s++)
        if (read_seal(nv, s, &sealed[s], &gen[s]) != MOLT_OK)
            return sim_res_err(nv->last);
    if ((r = pick_active(nv, sealed, gen)) != SIM_OK)
        return nv_fail(nv, r);
    if (nv->active >= 0 && scan_active(nv) != MOLT_OK)
        return sim_res_err(nv->last);
    nv->mounted = true;
    nv->last = SIM_OK;
    return MOLT_OK;
}

/* --- read and advance ---------------------------------------------------- */

molt_err_t sim_nvcnt_read(sim_nvcnt_t *nv, uint32_t id, uint32_t *value)
{
    if (!nv->mounted)
        return nv_fail(nv, SIM_E_UNMOUNTED);
    if (id >= SIM_NVCNT_COUNTERS || value == NULL)
        return nv_fail(nv, SIM_E_ARG);
    if (!sim_flash_powered(nv->flash))
        return nv_fail(nv, SIM_E_POWER);
    *value = nv->value[id];
    nv->last = SIM_OK;
    return MOLT_OK;
}

/* Move to the other sector: erase it (always - it holds stale records, or the
 * remains of a torn erase that only looks blank), write a snapshot of vals, then
 * seal it. Until the seal is valid the old sector stays active and complete. */
static molt_err_t compact(sim_nvcnt_t *nv, const uint32_t vals[SIM_NVCNT_COUNTERS])
{
    int dst = nv->active < 0 ? 0 : 1 - nv->active;
    uint32_t slot = 1;

    if (sim_flash_erase_sector(nv->flash, nv->sec[dst].index) != MOLT_OK)
        return nv_flash_fail(nv);
    for (uint32_t id = 0; id < SIM_NVCNT_COUNTERS; id++) {
        if (vals[id] == 0)
            continue;
        if (record_write(nv, dst, slot++, KIND_COUNT, (uint8_t)id, vals[id]) != MOLT_OK)
            return nv_flash_fail(nv);
    }
    if (record_write(nv, dst, 0, KIND_SEAL, 0, nv->gen + 1) != MOLT_OK)
        return nv_flash_fail(nv);
    nv->active = dst;
    nv->gen++;
    nv->next = slot;
    return MOLT_OK;
}

molt_err_t sim_nvcnt_advance(sim_nvcnt_t *nv, uint32_t id, uint32_t value)
{
    uint32_t vals[SIM_NVCNT_COUNTERS];

    if (!nv->mounted)
        return nv_fail(nv, SIM_E_UNMOUNTED);
    if (id >= SIM_NVCNT_COUNTERS)
        return nv_fail(nv, SIM_E_ARG);
    if (value < nv->value[id])
        return nv_fail(nv, SIM_E_DECREASE);
    nv->last = SIM_OK;
    if (value == nv->value[id])
        return MOLT_OK;
    if (nv->active >= 0 && nv->next < slots_in(nv, nv->active)) {
        if (record_write(nv, nv->active, nv->next, KIND_COUNT, (uint8_t)id, value) != MOLT_OK)
            return nv_flash_fail(nv);
        nv->next++;
    } else {
        memcpy(vals, nv->value, sizeof vals);
        vals[id] = value;
        if (compact(nv, vals) != MOLT_OK)
            return sim_res_err(nv->last);
    }
    nv->value[id] = value;
    return MOLT_OK;
}
