/*
 * area.h - internal: flash-area helpers every module shares (reads as a
 * molt_source_t, erase a range, copy between erased areas, blank checks).
 */
#ifndef MOLT_LIB_AREA_H
#define MOLT_LIB_AREA_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/image.h"
#include "molt/port.h"

/* A molt_source_t over an area starting at base (ctx for molt_area_source_read). */
typedef struct molt_area_src {
    const molt_area_t *area;
    uint32_t base;
} molt_area_src_t;

void molt_area_source(molt_source_t *src, molt_area_src_t *ctx, const molt_area_t *area, uint32_t base);

/* Erase every sector overlapping [off, off + len) of an area. */
molt_err_t molt_area_erase_range(const molt_area_t *a, uint32_t off, uint32_t len);
/* Copy len bytes (multiple of both areas' write_align) between erased areas;
 * chunks that read as the erase value are skipped (the target is erased). */
molt_err_t molt_area_copy(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                          uint32_t len);
/* Whether [off, off + len) of a reads entirely as the erase value. */
molt_err_t molt_area_blank(const molt_area_t *a, uint32_t off, uint32_t len, bool *blank);

static inline uint32_t molt_roundup(uint32_t v, uint32_t a) { return (v + a - 1u) / a * a; }

#endif
