/*
 * cbor.h - a small deterministic CBOR encoder (RFC 8949), libmolt-internal.
 *
 * Writes into a caller's buffer, never allocates. Every head is in its shortest
 * form and only definite lengths exist, which is RFC 8949 §4.2.1 "core
 * deterministic encoding" except for map key order: the caller emits map keys
 * in the bytewise order of their encodings (attest.c does; its tests check).
 *
 * Running out of room is sticky and silent until molt_cbor_finish(), and len
 * keeps counting, so a first pass with cap 0 (buf may be NULL) measures the
 * exact size of an encoding.
 */
#ifndef MOLT_LIB_CBOR_H
#define MOLT_LIB_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

typedef struct molt_cbor {
    uint8_t *buf;
    size_t cap;
    size_t len;    /* bytes produced so far (even past cap) */
    bool overflow; /* something did not fit */
} molt_cbor_t;

/* Major types (the top three bits of the initial byte). */
#define MOLT_CBOR_UINT  0u
#define MOLT_CBOR_NINT  1u
#define MOLT_CBOR_BSTR  2u
#define MOLT_CBOR_TSTR  3u
#define MOLT_CBOR_ARRAY 4u
#define MOLT_CBOR_MAP   5u
#define MOLT_CBOR_TAG   6u
#define MOLT_CBOR_SIMPLE 7u

void molt_cbor_init(molt_cbor_t *c, uint8_t *buf, size_t cap);
/* A head: major type and argument, shortest form. */
void molt_cbor_head(molt_cbor_t *c, unsigned major, uint64_t arg);
void molt_cbor_uint(molt_cbor_t *c, uint64_t v);
void molt_cbor_int(molt_cbor_t *c, int64_t v);
void molt_cbor_bstr(molt_cbor_t *c, const void *p, size_t n);
void molt_cbor_tstr(molt_cbor_t *c, const char *s, size_t n);
void molt_cbor_tstr_z(molt_cbor_t *c, const char *s); /* NUL-terminated */
void molt_cbor_array(molt_cbor_t *c, size_t n);
void molt_cbor_map(molt_cbor_t *c, size_t n_pairs);
void molt_cbor_tag(molt_cbor_t *c, uint64_t tag);
void molt_cbor_bool(molt_cbor_t *c, bool v);
void molt_cbor_null(molt_cbor_t *c);
/* Raw bytes (an already encoded item). */
void molt_cbor_raw(molt_cbor_t *c, const void *p, size_t n);
/* MOLT_OK, or MOLT_E_BUFFER if anything did not fit; *len (may be NULL) gets
 * the full size the encoding needs either way. */
molt_err_t molt_cbor_finish(const molt_cbor_t *c, size_t *len);

#endif
