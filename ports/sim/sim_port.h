/*
 * sim_port.h - a molt_port_t over the flash simulator: the host "device".
 *
 * The device is assembled from one file per job:
 *   sim_flash.c     the NOR flash (torn writes, power cuts, wear, timing)
 *   sim_layout.c    how the flash is cut into parts (sim_layout.h)
 *   sim_nvcnt.c     NV counters in two sectors of their own
 *   sim_keystore.c  the encryption key store (PSA keys, no export)
 *   sim_attest.c    the attestation key store (IAK, boot seed, boot record)
 *   sim_awdt.c      the authenticated watchdog's isolated parts
 *   sim_devfile.c   the device in a file (sim_device_save / sim_device_load)
 *   sim_port.c      this: the molt_port_t over all of them
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
 * Key (ECDSA P-256) at sim_device_init(), kept in sim_attest_store_t
 * (sim_attest.h) -- not in any of the molt flash areas. A fresh 32-byte boot
 * seed is drawn at every sim_device_reboot() and sim_device_new_boot().
 */
#ifndef MOLT_SIM_PORT_H
#define MOLT_SIM_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/port.h"
#include "sim_attest.h"
#include "sim_awdt.h"
#include "sim_flash.h"
#include "sim_layout.h"
#include "sim_nvcnt.h"

typedef struct sim_device sim_device_t;

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

/* Wire the port to dev->flash and the checked dev->layout (areas, NV counters,
 * random, no_image, attestation door); keys may be NULL. For sim_device_init()
 * and sim_device_load(); nothing else needs it. */
molt_err_t sim_device_attach(sim_device_t *dev, const molt_keyring_t *keys);

/* (sim_devfile.c) Save the layout, the flash (sim_flash_save's format, embedded) and the key
 * store to path, atomically. Load: init dev from such a file; *why (may be
 * NULL) gets the simulator's reason (SIM_E_FILE, SIM_E_FORMAT, SIM_E_GEOMETRY).
 * Files of format 1 (before attestation) load, without an IAK: attestation on
 * such a device fails with MOLT_E_ATTEST_KEY. Files of format 1 and 2 have no
 * data area, files before format 4 no watchdog. */
molt_err_t sim_device_save(const sim_device_t *dev, const char *path);
molt_err_t sim_device_load(sim_device_t *dev, const char *path, const molt_keyring_t *keys,
                           sim_res_t *why);

#endif
