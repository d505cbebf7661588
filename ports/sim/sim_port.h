/*
 * sim_port.h - a molt_port_t over the flash simulator: the host "device".
 *
 * A sim_device_t owns one sim_flash_t cut into four consecutive parts, each a
 * whole number of sectors: PRIMARY slot, SECONDARY slot, STATUS area (the boot
 * record: two sectors) and two sectors of NV counters (sim_nvcnt).
 * Its molt_port_t translates area-relative offsets to device offsets, refusing
 * anything outside the area, so boot code can never touch a neighbour. The
 * keys are the caller's (they must outlive the device); the no_image hook only
 * records that it was called and why, so tests can assert the secure state.
 *
 * The device holds pointers into itself (port ctx): do not move or copy a
 * sim_device_t after sim_device_init()/sim_device_load(). Host code only.
 *
 * After sim_flash_reboot() call sim_device_reboot() (or sim_device_remount()):
 * the NV counter handle is RAM and does not survive a cut. nv_read/nv_advance
 * also remount by themselves when they find the handle unmounted.
 *
 * Key store (R-ATTEST, R-ASSETS): every device gets its own Initial Attestation
 * Key (ECDSA P-256) at sim_device_init(), kept in sim_attest_store_t -- not in any
 * of the molt flash areas, so nothing that reads or writes the slots, STATUS or
 * NV sectors can reach it. The port offers libmolt attest_sign() (PSA Crypto
 * psa_sign_hash) and the public key only. A fresh 32-byte boot seed is drawn
 * at every sim_device_reboot() and sim_device_new_boot().
 */
#ifndef MOLT_SIM_PORT_H
#define MOLT_SIM_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/port.h"
#include "sim_awdt.h"
#include "sim_flash.h"
#include "sim_nvcnt.h"

/* Parts of the device: the three molt areas, then the NV counter sectors. */
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

typedef struct sim_device sim_device_t;

/* The simulated attestation key store and boot record: outside the flash areas
 * (the encryption key store is sim_keystore.h's sim_keystore_t). */
typedef struct sim_attest_store {
    bool has_iak;           /* false for device files from before attestation */
    uint8_t iak_priv[32];   /* the IAK's private scalar: only attest_sign uses it */
    uint8_t iak_pub[65];    /* 0x04 || X || Y */
    uint8_t impl_id[32];    /* SHA-256("molt sim port"), the same on every sim device */
    uint8_t boot_seed[32];  /* drawn at each boot */
    int32_t boot_slot;      /* slot the last boot ran (molt_boot_result_t.slot), -1 none */
} sim_attest_store_t;

typedef struct sim_area_ctx {
    sim_device_t *dev;
    uint32_t base; /* device offset of the area */
    uint32_t size;
} sim_area_ctx_t;

struct sim_device {
    sim_flash_t flash;
    sim_layout_t layout;
    sim_nvcnt_t nv;
    sim_area_ctx_t actx[MOLT_AREA_COUNT];
    molt_port_t port;           /* hand &dev->port to libmolt */
    sim_area_ctx_t data_ctx;    /* the data area (layout.data_count > 0) */
    molt_area_t data;
    uint64_t rng;               /* the port's (deterministic) random source */
    /* no_image hook record */
    uint32_t no_image_calls;
    molt_err_t no_image_why;
    /* highest value passed to a successful nv_advance of each counter */
    uint32_t nv_advanced[SIM_NVCNT_COUNTERS];
    sim_attest_store_t ks;          /* IAK and boot record; saved with the device */
    /* the device's encryption key store (a sim_keystore_t), or NULL: see
     * sim_device_set_keystore */
    void *key_store;
    /* the authenticated watchdog's isolated parts (sim_awdt.h); aw.on once
     * provisioned. Saved with the device. */
    sim_awdt_t aw;
};

/* Give the device an encryption key store (sim_keystore.h; it must outlive the
 * device): port.enc_ecdh then performs the ECDH with its keys, and
 * port.enc_envelope finds the envelopes kept in it. NULL removes it. */
void sim_device_set_keystore(sim_device_t *dev, void *key_store);

/* A fresh device (all erased) with layout l; keys may be NULL (no trusted keys). */
molt_err_t sim_device_init(sim_device_t *dev, const sim_layout_t *l, const molt_keyring_t *keys);
void sim_device_free(sim_device_t *dev);

/* Power comes back (sim_flash_reboot) and the NV counters are mounted again. */
molt_err_t sim_device_reboot(sim_device_t *dev);
/* Mount the NV counters again (reads only). */
molt_err_t sim_device_remount(sim_device_t *dev);

/* dst (already initialised with the same layout) takes src's cells, write marks
 * and wear; dst is rebooted and remounted. For snapshots in power-fail sweeps. */
molt_err_t sim_device_copy(sim_device_t *dst, const sim_device_t *src);

/* A reset as seen by attestation: a fresh boot seed, no boot record yet.
 * (sim_device_reboot() does this too.) MOLT_E_CRYPTO if no random source. */
molt_err_t sim_device_new_boot(sim_device_t *dev);

/* Record which slot the boot code chose (for the attestation token). */
void sim_device_set_boot_slot(sim_device_t *dev, uint32_t slot);

/* Host-side programming (what a debugger or an update client does): erase every
 * sector of area id overlapping [off, off + len), then write data there, padded
 * with the erase value to the write alignment. off must be aligned. */
molt_err_t sim_device_program(sim_device_t *dev, uint32_t id, uint32_t off, const void *data,
                              size_t len);

/* The data area for the record store, or NULL if the layout has none. */
const molt_area_t *sim_device_data_area(const sim_device_t *dev);

/* Device offset of area-relative offset off of area id (no checks). */
uint32_t sim_device_area_base(const sim_device_t *dev, uint32_t id);

/* Save the layout, the flash (sim_flash_save's format, embedded) and the key
 * store to path, atomically. Load: init dev from such a file; *why (may be
 * NULL) gets the simulator's reason (SIM_E_FILE, SIM_E_FORMAT, SIM_E_GEOMETRY).
 * Files of format 1 (before attestation) load, without an IAK: attestation on
 * such a device fails with MOLT_E_ATTEST_KEY. Files of format 1 and 2 have no
 * data area, files before format 4 no watchdog. */
molt_err_t sim_device_save(const sim_device_t *dev, const char *path);
molt_err_t sim_device_load(sim_device_t *dev, const char *path, const molt_keyring_t *keys,
                           sim_res_t *why);

#endif
