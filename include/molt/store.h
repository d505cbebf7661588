/*
 * molt/store.h - a small power-fail-safe record store for personalization data.
 *
 * Keys, calibration, pairing records and counters live here, in a flash area of
 * their own (a molt_area_t from the port, at least two sectors), so an upgrade
 * can save, migrate and restore them with the code (molt/keepdata.h,
 * R-KEEPDATA). docs/store.md has the format and the reasoning.
 *
 * The store is log-structured: every write appends one record (16-byte header
 * with a CRC-32 of itself and one of the value, then the value) to the active
 * sector; a newer record of a key hides older ones, a tombstone deletes it.
 * When the active sector is full, garbage collection copies every live record
 * into the next sector of the ring and only then writes that sector's header
 * (a sequence number one higher, with a CRC). The header is the commit: a cut
 * before it leaves the old sector active, untouched; after it the new one holds
 * everything. The same compaction carries the bulk changes of an upgrade
 * (snapshot, restore, drop the snapshot) atomically. A torn append fails its
 * CRC and is ignored; the sector is then closed for appends, and the next write
 * collects into a fresh sector. Nothing is ever programmed twice without an
 * erase, so write-once (ECC) flash works.
 *
 * Records are keyed by (application, id) within a space: LIVE (what the
 * application reads and writes), SAVED (the snapshot of an upgrade) and SYSTEM
 * (schema versions and upgrade phases, written by libmolt only). Applications
 * get a handle bound to their id (molt_store_app_t); through it they reach
 * only their own LIVE records, and read their SAVED ones. Application id 0 is
 * refused: it names no application. Whether one application can bypass its
 * handle depends on the port: the area must sit behind the same privilege
 * boundary as the key store for R-ASSETS to hold against hostile code
 * (docs/store.md, "Who can read and write what").
 *
 * No heap, no stdio: the caller owns molt_store_t (about 600 bytes) and the
 * area. Not reentrant; one molt_store_t per area.
 */
#ifndef MOLT_STORE_H
#define MOLT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/port.h"

#define MOLT_STORE_VALUE_MAX 256u  /* largest record value, bytes */
#define MOLT_STORE_MAX_SECTORS 16u /* sectors of the area the store uses (the first ones) */
#define MOLT_STORE_HDR 16u         /* record and sector header size, before alignment */

/* Spaces (record header byte 1, low nibble). */
#define MOLT_STORE_LIVE 0u
#define MOLT_STORE_SAVED 1u
#define MOLT_STORE_SYSTEM 2u

typedef struct molt_store {
    const molt_area_t *area;
    uint32_t nsec;                         /* sectors in the ring */
    uint32_t sec_off[MOLT_STORE_MAX_SECTORS];
    uint32_t sec_size[MOLT_STORE_MAX_SECTORS];
    uint32_t align;                        /* write_align (>= 1) */
    uint32_t hdr_size;                     /* MOLT_STORE_HDR rounded up to align */
    int32_t active;                        /* sector index, -1: empty store */
    uint32_t seq;                          /* active sector's sequence number */
    uint32_t pos;                          /* next append offset in the active sector */
    bool closed;                           /* active sector takes no more appends */
    uint16_t frozen_app;                   /* LIVE writes of this app refused (an upgrade saved them); 0: none */
    /* figures for benchmarks and tests (RAM only) */
    uint32_t gc_count;                     /* compactions since mount */
    uint8_t buf[MOLT_STORE_HDR + MOLT_STORE_VALUE_MAX + 256u]; /* one record + alignment */
} molt_store_t;

/* An application's door into the store. */
typedef struct molt_store_app {
    molt_store_t *st;
    uint16_t app;
} molt_store_app_t;

/* One record as the iterator reports it. */
typedef struct molt_store_rec {
    uint8_t space;
    uint16_t app;
    uint16_t id;
    uint16_t len;
    uint32_t off; /* value's offset in the area */
} molt_store_rec_t;

/* Mount the store in area: find the active sector (highest valid sequence) and
 * the end of its log. Reads only. A fresh (or foreign) area mounts empty; the
 * first write formats it. MOLT_E_LAYOUT: fewer than two sectors, a sector too
 * small for one largest record, or write_align above 256. */
molt_err_t molt_store_mount(molt_store_t *st, const molt_area_t *area);

/* Raw access, any space (libmolt, the host tools, tests). get: MOLT_OK with
 * *len, MOLT_E_STORE_NOT_FOUND, MOLT_E_BUFFER (cap too small; *len is the
 * size). put: MOLT_E_ARG (len > MOLT_STORE_VALUE_MAX), MOLT_E_STORE_FULL (live
 * records do not fit one sector: nothing changed). A put of the value already
 * stored writes nothing. del of an absent record writes nothing. */
molt_err_t molt_store_get_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id, void *buf, size_t cap,
                              size_t *len);
molt_err_t molt_store_put_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id, const void *data,
                              size_t len);
molt_err_t molt_store_del_raw(molt_store_t *st, uint8_t space, uint16_t app, uint16_t id);

/* Iterate the live records (latest version, not deleted) in log order: start
 * with *cursor = 0; MOLT_OK with *more = false after the last. */
molt_err_t molt_store_next(molt_store_t *st, uint32_t *cursor, molt_store_rec_t *rec, bool *more);
/* Read a record's value found by the iterator (rec->len bytes into buf). */
molt_err_t molt_store_read_value(molt_store_t *st, const molt_store_rec_t *rec, void *buf, size_t cap);

/* Garbage-collect now (compaction into the next sector). */
molt_err_t molt_store_gc(molt_store_t *st);

/* Bytes of live records (headers and alignment included) and the capacity of
 * one sector for records: what a compaction must fit. */
molt_err_t molt_store_usage(molt_store_t *st, uint32_t *used, uint32_t *capacity);

/* --- the application's calls ------------------------------------------------ */

/* Bind h to application app (1..0xffff). MOLT_E_ARG for app 0. */
molt_err_t molt_store_app_open(molt_store_app_t *h, molt_store_t *st, uint16_t app);
/* The application's LIVE records. put/del: MOLT_E_KEEP_PHASE while an upgrade
 * has saved this application's data and the new code has not run yet. */
molt_err_t molt_store_get(const molt_store_app_t *h, uint16_t id, void *buf, size_t cap, size_t *len);
molt_err_t molt_store_put(const molt_store_app_t *h, uint16_t id, const void *data, size_t len);
molt_err_t molt_store_del(const molt_store_app_t *h, uint16_t id);
/* The application's SAVED records (the snapshot of the upgrade in progress):
 * what its restore listener migrates from. Read only. */
molt_err_t molt_store_get_saved(const molt_store_app_t *h, uint16_t id, void *buf, size_t cap, size_t *len);
/* Iterate the application's LIVE records (ids only; values through get). */
molt_err_t molt_store_app_next(const molt_store_app_t *h, uint32_t *cursor, uint16_t *id, uint16_t *len, bool *more);

#endif
