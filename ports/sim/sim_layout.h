/*
 * sim_layout.h - how the simulated device's flash is cut into parts (host code).
 *
 * A layout cuts one sim_flash_t into consecutive parts, each a whole number of
 * sectors: PRIMARY slot, SECONDARY slot, STATUS area (the boot record: two
 * sectors), two sectors of NV counters (sim_nvcnt) and, optionally, a data area
 * for the record store (molt/store.h). The device (sim_port.h) maps the parts
 * to molt areas; the layout only describes and checks them.
 */
#ifndef MOLT_SIM_LAYOUT_H
#define MOLT_SIM_LAYOUT_H

#include <stdint.h>

#include "molt/error.h"
#include "sim_flash.h"

/* Parts of the device: the three molt areas (MOLT_AREA_*), then the NV counter sectors. */
#define SIM_PART_NV    3u
/* STATUS: two sectors, the two halves of the boot record (lib/bootrec.h). */
#define SIM_STATUS_SECTORS 2u
#define SIM_PART_COUNT 4u

typedef struct sim_layout {
    sim_flash_geom_t geom;
    uint32_t first[SIM_PART_COUNT]; /* first sector index of each part */
    uint32_t count[SIM_PART_COUNT]; /* sectors in each part (NV: exactly 2) */
    uint32_t mode;                  /* opaque to the port: the boot mode (molt_boot_mode_t) the
                                       device is meant for, kept so `molt sim` can save it */
    uint32_t data_first;            /* the data area for the record store (molt/store.h): */
    uint32_t data_count;            /* first sector and count; 0 sectors: none */
} sim_layout_t;

/* Uniform: every part in sectors of sector_size; slot_sectors per slot, one
 * STATUS sector, two NV sectors (in a region of larger sectors when sector_size
 * cannot hold the counters at this alignment). MOLT_E_LAYOUT if impossible. */
molt_err_t sim_layout_uniform(sim_layout_t *l, uint32_t sector_size, uint32_t slot_sectors,
                              uint32_t write_align, uint8_t erase_value);

/* Non-uniform: each slot is small_count sectors of small_size followed by
 * big_count sectors of big_size (e.g. 4 x 4 KiB + 1 x 128 KiB); STATUS and NV
 * use small sectors. */
molt_err_t sim_layout_mixed(sim_layout_t *l, uint32_t small_size, uint32_t small_count,
                            uint32_t big_size, uint32_t big_count, uint32_t write_align,
                            uint8_t erase_value);

/* Append a data area of count sectors (the slots' first sector size) at the
 * end of the device, for the record store (molt/store.h, R-KEEPDATA). The
 * boot code never sees it: it is not one of the molt areas. MOLT_E_LAYOUT if
 * count is 1 (the store needs two) or the geometry has no room for a region. */
molt_err_t sim_layout_add_data(sim_layout_t *l, uint32_t count);

/* Geometry valid, parts inside the device, non-empty and disjoint, NV = 2 sectors
 * big enough for sim_nvcnt. MOLT_OK or MOLT_E_LAYOUT. */
molt_err_t sim_layout_check(const sim_layout_t *l);

#endif
