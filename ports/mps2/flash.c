/* flash.c - NOR flash over board memory, mirrored to flash.bin (see flash.h). */
#include <string.h>

#include "board.h"
#include "flash.h"
#include "semihost.h"

static int g_fd = -1;

static uint8_t *mem(uint32_t off)
{
    return (uint8_t *)(uintptr_t)(FLASH_BASE + off);
}

const uint8_t *flash_ptr(uint32_t off)
{
    return mem(off);
}

molt_err_t flash_init(bool load)
{
    g_fd = sh_open("flash.bin", SH_RPB);
    if (g_fd < 0)
        return MOLT_E_IO;
    if (sh_flen(g_fd) != (long)(PERSIST_END - PERSIST_OFF))
        return MOLT_E_LAYOUT;
    if (load && (sh_seek(g_fd, 0) != 0 || sh_read(g_fd, mem(PERSIST_OFF), PERSIST_END - PERSIST_OFF) != 0))
        return MOLT_E_IO;
    return MOLT_OK;
}

void flash_close(void)
{
    if (g_fd >= 0)
        (void)sh_close(g_fd);
    g_fd = -1;
}

static molt_err_t mirror(uint32_t off, size_t len)
{
    if (g_fd < 0 || sh_seek(g_fd, off - PERSIST_OFF) != 0 || sh_write(g_fd, mem(off), len) != 0)
        return MOLT_E_FLASH;
    return MOLT_OK;
}

molt_err_t flash_program(uint32_t off, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    uint8_t *dst = mem(off);

    if (off < NVCNT_OFF || off >= PERSIST_END || len > PERSIST_END - off || off % WRITE_ALIGN != 0u ||
        len % WRITE_ALIGN != 0u)
        return MOLT_E_FLASH;
    for (size_t i = 0; i < len; i++) {
        if (dst[i] != 0xffu)
            return MOLT_E_FLASH; /* not erased since its last program */
    }
    for (size_t i = 0; i < len; i++)
        dst[i] &= src[i];
    return mirror(off, len);
}

molt_err_t flash_erase(uint32_t off, uint32_t len)
{
    if (off < STATUS_OFF || off >= PERSIST_END || len > PERSIST_END - off || off % SECTOR_SIZE != 0u ||
        len % SECTOR_SIZE != 0u)
        return MOLT_E_FLASH;
    memset(mem(off), 0xff, len);
    return mirror(off, len);
}

static molt_err_t w_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    const flash_window_t *w = ctx;
    if (off > w->size || len > w->size - off)
        return MOLT_E_IO;
    memcpy(buf, mem(w->base + off), len);
    return MOLT_OK;
}

static molt_err_t w_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    const flash_window_t *w = ctx;
    if (off > w->size || len > w->size - off)
        return MOLT_E_FLASH;
    return flash_program(w->base + off, buf, len);
}

static molt_err_t w_erase(void *ctx, uint32_t off, uint32_t len)
{
    const flash_window_t *w = ctx;
    if (off > w->size || len > w->size - off)
        return MOLT_E_FLASH;
    return flash_erase(w->base + off, len);
}

static molt_err_t w_sector(void *ctx, uint32_t off, molt_sector_t *sec)
{
    const flash_window_t *w = ctx;
    if (off >= w->size)
        return MOLT_E_ARG;
    sec->off = off & ~(SECTOR_SIZE - 1u);
    sec->size = SECTOR_SIZE;
    return MOLT_OK;
}

void flash_area(molt_area_t *a, flash_window_t *w, uint32_t base, uint32_t size)
{
    w->base = base;
    w->size = size;
    *a = (molt_area_t){.size = size, .write_align = WRITE_ALIGN, .erase_value = 0xffu, .read = w_read,
                       .write = w_write, .erase = w_erase, .sector = w_sector, .ctx = w};
}
