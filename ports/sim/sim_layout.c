/*
 * sim_layout.c - standard layouts of the simulated device and their check
 * (see sim_layout.h).
 */
#include "sim_layout.h"

#include <string.h>

#include "molt/port.h"
#include "sim_nvcnt.h"

static uint32_t nv_slot(uint32_t align)
{
    return (SIM_NVCNT_RECORD + align - 1u) / align * align;
}

/* Smallest sector able to hold the NV counters at this alignment. */
static uint32_t nv_min_sector(uint32_t align)
{
    return (SIM_NVCNT_COUNTERS + 2u) * nv_slot(align);
}

static molt_err_t layout_from_regions(sim_layout_t *l, uint32_t slot_regions)
{
    /* regions [0, slot_regions): PRIMARY; the same again: SECONDARY; then STATUS + NV. */
    uint32_t slot = 0;
    for (uint32_t i = 0; i < slot_regions; i++)
        slot += l->geom.regions[i].count;
    l->first[MOLT_AREA_PRIMARY] = 0;
    l->count[MOLT_AREA_PRIMARY] = slot;
    l->first[MOLT_AREA_SECONDARY] = slot;
    l->count[MOLT_AREA_SECONDARY] = slot;
    l->first[MOLT_AREA_STATUS] = 2 * slot;
    l->count[MOLT_AREA_STATUS] = SIM_STATUS_SECTORS;
    l->first[SIM_PART_NV] = 2 * slot + SIM_STATUS_SECTORS;
    l->count[SIM_PART_NV] = 2;
    return sim_layout_check(l);
}

/* Append the STATUS sector and the two NV sectors in sectors of size s (or a
 * separate region of larger sectors for NV when s is too small). */
static molt_err_t add_tail(sim_layout_t *l, uint32_t s)
{
    uint32_t n = l->geom.nregions;
    uint32_t need = nv_min_sector(l->geom.write_align);

    if (s >= need) {
        if (n >= SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        l->geom.regions[n] = (sim_flash_region_t){s, SIM_STATUS_SECTORS + 2};
        l->geom.nregions = n + 1;
    } else {
        if (n + 2 > SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        uint32_t big = (need + s - 1u) / s * s;
        l->geom.regions[n] = (sim_flash_region_t){s, SIM_STATUS_SECTORS};
        l->geom.regions[n + 1] = (sim_flash_region_t){big, 2};
        l->geom.nregions = n + 2;
    }
    return MOLT_OK;
}

static void merge_regions(sim_flash_geom_t *g)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < g->nregions; i++) {
        if (out > 0 && g->regions[out - 1].sector_size == g->regions[i].sector_size)
            g->regions[out - 1].count += g->regions[i].count;
        else
            g->regions[out++] = g->regions[i];
    }
    for (uint32_t i = out; i < g->nregions; i++)
        g->regions[i] = (sim_flash_region_t){0, 0};
    g->nregions = out;
}

molt_err_t sim_layout_uniform(sim_layout_t *l, uint32_t sector_size, uint32_t slot_sectors,
                              uint32_t write_align, uint8_t erase_value)
{
    memset(l, 0, sizeof *l);
    if (sector_size == 0 || slot_sectors == 0 || slot_sectors > SIM_FLASH_MAX_SIZE / 2 / sector_size)
        return MOLT_E_LAYOUT;
    l->geom.write_align = write_align;
    l->geom.erase_value = erase_value;
    l->geom.regions[0] = (sim_flash_region_t){sector_size, 2 * slot_sectors};
    l->geom.nregions = 1;
    if (add_tail(l, sector_size) != MOLT_OK)
        return MOLT_E_LAYOUT;
    merge_regions(&l->geom);
    /* Sector indices do not depend on region merging. */
    l->first[MOLT_AREA_PRIMARY] = 0;
    l->count[MOLT_AREA_PRIMARY] = slot_sectors;
    l->first[MOLT_AREA_SECONDARY] = slot_sectors;
    l->count[MOLT_AREA_SECONDARY] = slot_sectors;
    l->first[MOLT_AREA_STATUS] = 2 * slot_sectors;
    l->count[MOLT_AREA_STATUS] = SIM_STATUS_SECTORS;
    l->first[SIM_PART_NV] = 2 * slot_sectors + SIM_STATUS_SECTORS;
    l->count[SIM_PART_NV] = 2;
    return sim_layout_check(l);
}

molt_err_t sim_layout_mixed(sim_layout_t *l, uint32_t small_size, uint32_t small_count,
                            uint32_t big_size, uint32_t big_count, uint32_t write_align,
                            uint8_t erase_value)
{
    memset(l, 0, sizeof *l);
    if (small_size == 0 || big_size == 0 || small_count == 0 || big_count == 0)
        return MOLT_E_LAYOUT;
    l->geom.write_align = write_align;
    l->geom.erase_value = erase_value;
    l->geom.regions[0] = (sim_flash_region_t){small_size, small_count};
    l->geom.regions[1] = (sim_flash_region_t){big_size, big_count};
    l->geom.regions[2] = (sim_flash_region_t){small_size, small_count};
    l->geom.regions[3] = (sim_flash_region_t){big_size, big_count};
    l->geom.nregions = 4;
    if (add_tail(l, small_size) != MOLT_OK)
        return MOLT_E_LAYOUT;
    return layout_from_regions(l, 2);
}

molt_err_t sim_layout_add_data(sim_layout_t *l, uint32_t count)
{
    uint32_t n = l->geom.nregions, total = 0, s = l->geom.regions[0].sector_size;

    if (count < 2u || n == 0u)
        return MOLT_E_LAYOUT;
    for (uint32_t i = 0; i < n; i++)
        total += l->geom.regions[i].count;
    if (l->geom.regions[n - 1].sector_size == s) {
        l->geom.regions[n - 1].count += count;
    } else {
        if (n >= SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        l->geom.regions[n] = (sim_flash_region_t){s, count};
        l->geom.nregions = n + 1;
    }
    l->data_first = total;
    l->data_count = count;
    return sim_layout_check(l);
}

molt_err_t sim_layout_check(const sim_layout_t *l)
{
    uint32_t nsectors = 0;

    if (sim_flash_geom_check(&l->geom, NULL) != MOLT_OK)
        return MOLT_E_LAYOUT;
    for (uint32_t i = 0; i < l->geom.nregions; i++) {
        nsectors += l->geom.regions[i].count;
    }
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        if (l->count[p] == 0 || l->first[p] >= nsectors || l->count[p] > nsectors - l->first[p])
            return MOLT_E_LAYOUT;
        for (uint32_t q = 0; q < p; q++)
            if (l->first[p] < l->first[q] + l->count[q] && l->first[q] < l->first[p] + l->count[p])
                return MOLT_E_LAYOUT;
    }
    if (l->count[SIM_PART_NV] != 2)
        return MOLT_E_LAYOUT;
    if (l->data_count != 0) {
        if (l->data_count < 2 || l->data_first >= nsectors || l->data_count > nsectors - l->data_first)
            return MOLT_E_LAYOUT;
        for (uint32_t q = 0; q < SIM_PART_COUNT; q++)
            if (l->data_first < l->first[q] + l->count[q] && l->first[q] < l->data_first + l->data_count)
                return MOLT_E_LAYOUT;
    }
    /* Both NV sectors must hold the counters. */
    uint32_t idx = 0;
    for (uint32_t i = 0; i < l->geom.nregions; i++) {
        for (uint32_t k = 0; k < l->geom.regions[i].count; k++, idx++) {
            if ((idx == l->first[SIM_PART_NV] || idx == l->first[SIM_PART_NV] + 1) &&
                l->geom.regions[i].sector_size < nv_min_sector(l->geom.write_align))
                return MOLT_E_LAYOUT;
        }
    }
    return MOLT_OK;
}

