/*
 * flash.h - the board's code memory as internal NOR flash (see board.h for the map).
 *
 * NOR rules, enforced here so molt runs on the same contract as on a real part:
 *   - program: 8-byte aligned offset and length, only into bytes that read erased
 *     (0xff) since the last erase; programming clears bits (new = old AND data);
 *   - erase: whole 4 KiB sectors only; afterwards every byte reads 0xff;
 *   - the boot stage and the key store sector are never programmed or erased by
 *     device code, the NV counter sector is never erased (keystore.c) - they are
 *     provisioned by the host (ports/mps2/mkflash.py).
 * Every program and erase is written through to the host file flash.bin at once
 * (semihosting), so the flash survives a power cycle; the boot stage loads the file
 * at every reset (flash_init(true)).
 */
#ifndef MPS2_FLASH_H
#define MPS2_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/port.h"

/* Open flash.bin; with load, copy it over the persistent part of the memory. */
molt_err_t flash_init(bool load);
void flash_close(void);

const uint8_t *flash_ptr(uint32_t off); /* memory-mapped read (execute in place) */
molt_err_t flash_program(uint32_t off, const void *buf, size_t len);
molt_err_t flash_erase(uint32_t off, uint32_t len);

/* A molt area over [base, base + size) of the flash. */
typedef struct flash_window {
    uint32_t base;
    uint32_t size;
} flash_window_t;
void flash_area(molt_area_t *a, flash_window_t *w, uint32_t base, uint32_t size);

#endif
