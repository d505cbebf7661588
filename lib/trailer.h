/*
 * trailer.h - internal: the MCUboot image trailer (flash-area helpers: area.h).
 *
 * The trailer sits at the end of every slot area with MCUboot's semantics
 * (mcuboot-notes 2.1): max_align M = max(8, write_align); the 16-byte magic is
 * right-aligned in the last A = roundup(16, M) bytes; image_ok, copy_done and
 * swap_info are one M-byte unit each below it (first byte = value, the rest
 * erase value). The last sector of a slot is reserved for the trailer: no image
 * byte may lie in it, so erasing it never touches code.
 */
#ifndef MOLT_LIB_TRAILER_H
#define MOLT_LIB_TRAILER_H

#include <stdbool.h>
#include <stdint.h>

#include "area.h"
#include "molt/image.h"
#include "molt/port.h"

#define MOLT_FLAG_SET 0x01u
/* MCUboot swap types (swap_info low nibble). */
#define MOLT_SWAP_NONE 1u
#define MOLT_SWAP_TEST 2u
#define MOLT_SWAP_PERM 3u
#define MOLT_SWAP_REVERT 4u

typedef enum molt_tr_field {
    MOLT_TR_IMAGE_OK = 1,
    MOLT_TR_COPY_DONE = 2,
    MOLT_TR_SWAP_INFO = 3
} molt_tr_field_t;

/* A trailer as read: raw first bytes of each field plus the magic verdict. */
typedef struct molt_trailer {
    bool magic_good;
    uint8_t image_ok;
    uint8_t copy_done;
    uint8_t swap_info;
    uint8_t erased; /* the area's erase value, to tell "unset" */
} molt_trailer_t;

/* Max alignment of an area's trailer fields: max(8, write_align). */
uint32_t molt_tr_align(const molt_area_t *a);
/* The area's last sector (the trailer sector). */
molt_err_t molt_tr_sector(const molt_area_t *a, molt_sector_t *sec);
molt_err_t molt_tr_erase(const molt_area_t *a);

molt_err_t molt_tr_read(const molt_area_t *a, molt_trailer_t *t);
/* Write the magic (one A-byte unit) / one field (one M-byte unit). The target
 * unit must be erased (write-once). */
molt_err_t molt_tr_write_magic(const molt_area_t *a);
molt_err_t molt_tr_write_field(const molt_area_t *a, molt_tr_field_t f, uint8_t value);

static inline bool molt_tr_is_set(const molt_trailer_t *t, uint8_t v) { (void)t; return v == MOLT_FLAG_SET; }
static inline bool molt_tr_is_unset(const molt_trailer_t *t, uint8_t v) { return v == t->erased; }

/* Bytes MCUboot's trailer takes at the end of the area: the magic unit and
 * four field units (image_ok, copy_done, swap_info, swap_size). */
uint32_t molt_tr_size(const molt_area_t *a);
/* Whether that region reads as erased (no request, no flag, no torn magic). */
molt_err_t molt_tr_blank(const molt_area_t *a, bool *blank);


#endif
