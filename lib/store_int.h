/*
 * store_int.h - internal: the store's atomic bulk change, for lib/keepdata.c.
 *
 * molt_store_compact() is a garbage collection that transforms the records of
 * one application while it copies them, and adds a few SYSTEM records, all
 * committed by the one sector header it writes last (lib/store.c). A cut
 * anywhere before that header leaves the store exactly as it was.
 */
#ifndef MOLT_LIB_STORE_INT_H
#define MOLT_LIB_STORE_INT_H

#include "molt/store.h"

#define MOLT_STORE_X_SNAP_FROM_LIVE 0x1u /* SAVED := LIVE (the old SAVED records dropped) */
#define MOLT_STORE_X_LIVE_FROM_SNAP 0x2u /* LIVE := SAVED (the old LIVE records dropped) */
#define MOLT_STORE_X_DROP_SNAP 0x4u      /* SAVED records dropped */

typedef struct molt_store_extra {
    uint8_t space;
    uint16_t app, id;
    const void *data; /* NULL: the key is dropped */
    uint16_t len;
} molt_store_extra_t;

molt_err_t molt_store_compact(molt_store_t *st, uint16_t app, uint32_t flags, const molt_store_extra_t *extra,
                              uint32_t nextra);

#endif
