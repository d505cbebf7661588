/*
 * sim_nvcnt.h - monotonic NV counters kept in simulated flash, power-fail safe.
 *
 * The simulator's implementation of the port's NV counters (the rollback index
 * lives here). SIM_NVCNT_COUNTERS counters, each starting at 0, that can only be
 * read or advanced to a value >= the current one. They live in two sectors of a
 * sim_flash_t that nothing else may touch.
 *
 * The guarantee: a power cut at any instant, including one that tears a write
 * or an erase, leaves every counter at either its old or its new value - never
 * lower, never garbage - and a value once read back after a reboot is never
 * lost by a later cut.
 *
 * How (docs/sim.md, "NV counters"): append-only records, each stored together
 * with its bitwise complement and a CRC-32. Tearing moves bits in one direction
 * only, and a value/complement pair detects every such change, so a torn record
 * is either exactly the intended one or rejected. Slot 0 of a sector holds its
 * seal (a generation number); the sealed sector with the newer generation is
 * the active one and alone holds the truth. When it is full, the other sector
 * is erased, receives a snapshot of every counter, and only then gets its seal:
 * the seal write is the single instant at which the new sector takes over.
 *
 * After sim_flash_reboot() the caller mounts again (RAM does not survive a cut).
 * A failed advance leaves the handle unmounted for the same reason.
 */
#ifndef MOLT_SIM_NVCNT_H
#define MOLT_SIM_NVCNT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_flash.h"

#define SIM_NVCNT_COUNTERS 8u
#define SIM_NVCNT_RECORD   24u /* body 12 (kind, id, magic, value, crc) + its complement */

typedef struct sim_nvcnt {
    sim_flash_t *flash;
    sim_flash_sector_t sec[2];
    uint32_t slot;     /* bytes per record slot: SIM_NVCNT_RECORD rounded up to the write unit */
    int active;        /* 0 or 1; -1 while the region has never been sealed */
    uint32_t gen;      /* generation of the active sector's seal */
    uint32_t next;     /* first free slot of the active sector */
    uint32_t value[SIM_NVCNT_COUNTERS];
    bool mounted;
    sim_res_t last;    /* reason of the last failure */
} sim_nvcnt_t;

/* Scan sectors first_sector and first_sector + 1 of flash; reads only, never
 * writes. Each sector must hold at least SIM_NVCNT_COUNTERS + 2 slots
 * (SIM_E_GEOMETRY otherwise). A blank region mounts with every counter at 0. */
molt_err_t sim_nvcnt_mount(sim_nvcnt_t *nv, sim_flash_t *flash, uint32_t first_sector);

/* The current value of counter id (< SIM_NVCNT_COUNTERS). */
molt_err_t sim_nvcnt_read(sim_nvcnt_t *nv, uint32_t id, uint32_t *value);

/* Set counter id to value >= its current value (equal: nothing is written).
 * Below it: MOLT_E_ARG, SIM_E_DECREASE, nothing written. One program operation,
 * or, when the active sector is full, one erase and up to SIM_NVCNT_COUNTERS + 1
 * programs. */
molt_err_t sim_nvcnt_advance(sim_nvcnt_t *nv, uint32_t id, uint32_t value);

#endif
