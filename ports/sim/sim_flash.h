/*
 * sim_flash.h - a NOR flash simulator: the test bench for everything device-side.
 *
 * It plays the part SQLite's test VFS plays for SQLite: boot, swap and counter
 * code run against it, and it enforces the rules real NOR flash imposes, counts
 * what the code costs, and injects power cuts that can tear an operation in half.
 *
 * The model (docs/sim.md has the long form):
 *   - A device is a list of regions, each `count` sectors of `sector_size` bytes,
 *     so uniform and mixed layouts (4 KiB + 128 KiB) are one description.
 *   - Program only moves bits away from the erase value (0xFF: 1 -> 0; 0x00:
 *     0 -> 1). A write that needs the other direction is a NOR violation: counted,
 *     and refused (default) or ANDed like real silicon (SIM_FLASH_F_AND).
 *     With SIM_FLASH_F_WRITE_ONCE a write unit may be programmed once per erase
 *     (ECC flash; MCUboot's simulator rule). Address and length of a write must be
 *     multiples of the write alignment. Erases cover whole sectors.
 *   - Every accepted write or sector erase is one "operation". A cut can be armed
 *     N operations ahead: cut *before* operation N (it does not happen), or *torn*
 *     (operation N happens partly, the damage drawn from a seeded PRNG). From then
 *     on every call fails with SIM_E_POWER until sim_flash_reboot(), which keeps
 *     the contents, as real flash does.
 *
 * Conventions: the caller owns sim_flash_t; sim_flash_init() allocates the
 * contents and sim_flash_free() releases them. Functions that can fail return
 * molt_err_t (MOLT_E_ARG: the caller's mistake; MOLT_E_IO: the "device" failed)
 * and leave the precise reason in f->last (sim_flash_last()). Host code only:
 * it uses malloc and stdio, never from lib/.
 */
#ifndef MOLT_SIM_FLASH_H
#define MOLT_SIM_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

#define SIM_FLASH_MAX_REGIONS 8u
#define SIM_FLASH_MAX_ALIGN   256u
#define SIM_FLASH_MAX_SIZE    (1u << 30) /* 1 GiB keeps every offset sum in uint32_t */

/* Why the last call failed. Values are stable (they appear in test output). */
typedef enum sim_res {
    SIM_OK = 0,
    SIM_E_ARG = 1,      /* bad argument (NULL, zero length where one is needed, bad id) */
    SIM_E_RANGE = 2,    /* address range outside the device or the area */
    SIM_E_ALIGN = 3,    /* write address or length not a multiple of the write alignment */
    SIM_E_SECTOR = 4,   /* erase range does not begin and end on sector boundaries */
    SIM_E_NOR = 5,      /* program would move a bit towards the erase value */
    SIM_E_REWRITE = 6,  /* WRITE_ONCE: program into a write unit that is not erased */
    SIM_E_POWER = 7,    /* power was cut; nothing works until sim_flash_reboot() */
    SIM_E_NOMEM = 8,    /* host out of memory */
    SIM_E_FILE = 9,     /* host file could not be opened, read or written */
    SIM_E_FORMAT = 10,  /* saved device file is corrupt or of an unknown version */
    SIM_E_GEOMETRY = 11,/* invalid geometry, or a file's geometry differs from the expected one */
    SIM_E_DECREASE = 12,/* NV counter: advance to a value below the current one */
    SIM_E_CORRUPT = 13, /* NV counter: region holds no consistent state */
    SIM_E_UNMOUNTED = 14 /* NV counter: not mounted, or a failed advance needs a remount */
} sim_res_t;

/* Short fixed phrase for r ("power lost"); never NULL. */
const char *sim_res_str(sim_res_t r);
/* The molt_err_t a function reports for r: MOLT_E_ARG for the caller's mistakes
 * (ARG, RANGE, ALIGN, SECTOR, GEOMETRY, DECREASE, UNMOUNTED), MOLT_E_IO otherwise. */
molt_err_t sim_res_err(sim_res_t r);

/* Behaviour flags (sim_flash_set_flags). */
#define SIM_FLASH_F_AND        0x1u /* NOR violation: AND the bits (real flash) instead of refusing */
#define SIM_FLASH_F_WRITE_ONCE 0x2u /* refuse a program into a write unit not fully erased */
#define SIM_FLASH_F_ALL        (SIM_FLASH_F_AND | SIM_FLASH_F_WRITE_ONCE)

typedef struct sim_flash_region {
    uint32_t sector_size; /* bytes, a non-zero multiple of write_align */
    uint32_t count;       /* sectors of that size, > 0 */
} sim_flash_region_t;

/* The device description: regions in address order from offset 0. */
typedef struct sim_flash_geom {
    sim_flash_region_t regions[SIM_FLASH_MAX_REGIONS];
    uint32_t nregions;    /* 1..SIM_FLASH_MAX_REGIONS */
    uint32_t write_align; /* power of two, 1..256 */
    uint8_t erase_value;  /* 0xFF or 0x00 */
} sim_flash_geom_t;

typedef struct sim_flash_sector {
    uint32_t index;  /* 0-based over the whole device */
    uint32_t offset; /* first byte */
    uint32_t size;
} sim_flash_sector_t;

/* Accounting since init or sim_flash_stats_reset(). An operation cut before it
 * happens is not counted; a torn one is counted as issued, in full. */
typedef struct sim_flash_stats {
    uint64_t erases;           /* sector erases */
    uint64_t programs;         /* program operations */
    uint64_t bytes_programmed;
    uint64_t reads;            /* read operations */
    uint64_t bytes_read;
    uint64_t violations;       /* NOR / write-once violations (refused or ANDed) */
    uint64_t cuts;             /* power cuts that fired */
    uint64_t time_ns;          /* busy time under the timing model */
} sim_flash_stats_t;

/* Timing model: erase time = erase_us_per_sector + erase_us_per_kib * size / 1 KiB;
 * program time = program_ns_per_byte * bytes (so per write unit: align times it).
 * Reads are free. Defaults (sim_flash_timing_default, set by init): 0 us per
 * sector, 8000 us per KiB (4 KiB: 32 ms, 128 KiB: 1.024 s) and 4000 ns per byte
 * (16 us per 32-bit word) - typical datasheet figures for MCU internal NOR. */
typedef struct sim_flash_timing {
    uint32_t erase_us_per_sector;
    uint32_t erase_us_per_kib;
    uint32_t program_ns_per_byte;
} sim_flash_timing_t;

typedef enum sim_cut {
    SIM_CUT_NONE = 0,
    SIM_CUT_BEFORE = 1, /* operation N does not happen at all */
    SIM_CUT_TORN = 2    /* operation N is torn: partly done, damage drawn from the seed */
} sim_cut_t;

typedef struct sim_flash {
    sim_flash_geom_t geom;
    uint32_t size;
    uint32_t nsectors;
    uint32_t flags;
    uint8_t *mem;          /* size bytes: the cells */
    uint32_t *wear;        /* nsectors erase counters; survive stats reset, saved to file */
    uint8_t *programmed;   /* bit per write unit: programmed since its last erase */
    sim_flash_stats_t stats;
    sim_flash_timing_t timing;
    uint64_t ops;          /* accepted writes + sector erases since init; never reset */
    sim_cut_t cut_mode;
    uint64_t cut_at;       /* value of ops at which the cut fires */
    uint64_t rng;          /* splitmix64 state, seeded when a cut is armed */
    bool powered;
    sim_res_t last;
} sim_flash_t;

/* --- lifetime ---------------------------------------------------------------- */

/* Check g; MOLT_OK or MOLT_E_ARG with *why = SIM_E_GEOMETRY (why may be NULL). */
molt_err_t sim_flash_geom_check(const sim_flash_geom_t *g, sim_res_t *why);

/* A fresh device: every byte at the erase value, wear zero, default timing,
 * no flags, powered. f must be released with sim_flash_free(). */
molt_err_t sim_flash_init(sim_flash_t *f, const sim_flash_geom_t *g);
void sim_flash_free(sim_flash_t *f);

void sim_flash_set_flags(sim_flash_t *f, uint32_t flags);
void sim_flash_timing_default(sim_flash_timing_t *t);
/* t == NULL turns the timing model off (all zero). */
void sim_flash_set_timing(sim_flash_t *f, const sim_flash_timing_t *t);

/* --- geometry ---------------------------------------------------------------- */

uint32_t sim_flash_size(const sim_flash_t *f);
uint32_t sim_flash_sector_count(const sim_flash_t *f);
uint32_t sim_flash_write_align(const sim_flash_t *f);
uint8_t sim_flash_erase_value(const sim_flash_t *f);
/* The sector holding byte addr; MOLT_E_ARG (SIM_E_RANGE) past the end. */
molt_err_t sim_flash_sector_at(sim_flash_t *f, uint32_t addr, sim_flash_sector_t *sec);
/* Sector number index; MOLT_E_ARG (SIM_E_RANGE) if there is none. */
molt_err_t sim_flash_sector_info(sim_flash_t *f, uint32_t index, sim_flash_sector_t *sec);

/* --- operations -------------------------------------------------------------- */

molt_err_t sim_flash_read(sim_flash_t *f, uint32_t off, void *buf, size_t len);
/* Program len bytes (len == 0 is a no-op and no operation). */
molt_err_t sim_flash_write(sim_flash_t *f, uint32_t off, const void *data, size_t len);
/* Erase one sector: one operation. */
molt_err_t sim_flash_erase_sector(sim_flash_t *f, uint32_t index);
/* Erase [off, off+len): must start and end on sector boundaries; checked in full
 * before anything is erased; one operation per sector, lowest address first. */
molt_err_t sim_flash_erase(sim_flash_t *f, uint32_t off, size_t len);

/* --- accounting ---------------------------------------------------------------- */

sim_res_t sim_flash_last(const sim_flash_t *f);
uint64_t sim_flash_ops(const sim_flash_t *f);
uint32_t sim_flash_wear(const sim_flash_t *f, uint32_t index); /* 0 if no such sector */
void sim_flash_stats_reset(sim_flash_t *f);                    /* stats only; not wear, not ops */
/* The cells, for assertions; bypasses accounting and power. */
const uint8_t *sim_flash_data(const sim_flash_t *f);

/* --- faults ---------------------------------------------------------------- */

/* Arm a cut at the n-th operation from now (n = 0: the next one). seed drives
 * the tearing; the same seed and the same calls give the same bytes. */
void sim_flash_arm_cut(sim_flash_t *f, sim_cut_t mode, uint64_t n, uint64_t seed);
void sim_flash_disarm(sim_flash_t *f);
bool sim_flash_powered(const sim_flash_t *f);
/* Power comes back: the cut is cleared and disarmed, contents, wear, stats stay. */
void sim_flash_reboot(sim_flash_t *f);

/* --- persistence ----------------------------------------------------------- */

/* Save geometry, flags, contents and wear (docs/sim.md, "File format"). The file
 * is written beside path and renamed over it, so a crash never leaves half a file. */
molt_err_t sim_flash_save(const sim_flash_t *f, const char *path);
/* Init f from a saved file. If expect is not NULL the file's geometry must equal
 * it (SIM_E_GEOMETRY). A corrupt or truncated file gives SIM_E_FORMAT. The result
 * is written to *why (may be NULL) since f is not initialised on failure. */
molt_err_t sim_flash_load(sim_flash_t *f, const char *path, const sim_flash_geom_t *expect,
                          sim_res_t *why);

/* CRC-32 (IEEE 802.3, the zlib one): crc = sim_crc32(0, p, n) for a fresh sum. */
uint32_t sim_crc32(uint32_t crc, const void *p, size_t n);

#endif
