/*
 * cbor.c - deterministic CBOR encoder (see cbor.h).
 */
#include "cbor.h"

#include <string.h>

void molt_cbor_init(molt_cbor_t *c, uint8_t *buf, size_t cap)
{
    c->buf = buf;
    c->cap = buf != NULL ? cap : 0;
    c->len = 0;
    c->overflow = false;
}

void molt_cbor_raw(molt_cbor_t *c, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (!c->overflow && c->len <= c->cap && n <= c->cap - c->len)
        memcpy(c->buf + c->len, p, n);
    else
        c->overflow = true;
    c->len += n;
}

void molt_cbor_head(molt_cbor_t *c, unsigned major, uint64_t arg)
{
    uint8_t h[9];
    size_t n;
    uint8_t mt = (uint8_t)((major & 7u) << 5);

    if (arg < 24u) {
        h[0] = (uint8_t)(mt | arg);
        n = 1;
    } else if (arg <= 0xffu) {
        h[0] = (uint8_t)(mt | 24u);
        n = 2;
    } else if (arg <= 0xffffu) {
        h[0] = (uint8_t)(mt | 25u);
        n = 3;
    } else if (arg <= 0xffffffffu) {
        h[0] = (uint8_t)(mt | 26u);
        n = 5;
    } else {
        h[0] = (uint8_t)(mt | 27u);
        n = 9;
    }
    for (size_t i = 1; i < n; i++)
        h[i] = (uint8_t)(arg >> (8u * (n - 1u - i)));
    molt_cbor_raw(c, h, n);
}

void molt_cbor_uint(molt_cbor_t *c, uint64_t v)
{
    molt_cbor_head(c, MOLT_CBOR_UINT, v);
}

void molt_cbor_int(molt_cbor_t *c, int64_t v)
{
    if (v >= 0)
        molt_cbor_head(c, MOLT_CBOR_UINT, (uint64_t)v);
    else /* -1 - v without overflow for INT64_MIN */
        molt_cbor_head(c, MOLT_CBOR_NINT, ~(uint64_t)v);
}

void molt_cbor_bstr(molt_cbor_t *c, const void *p, size_t n)
{
    molt_cbor_head(c, MOLT_CBOR_BSTR, n);
    molt_cbor_raw(c, p, n);
}

void molt_cbor_tstr(molt_cbor_t *c, const char *s, size_t n)
{
    molt_cbor_head(c, MOLT_CBOR_TSTR, n);
    molt_cbor_raw(c, s, n);
}

void molt_cbor_tstr_z(molt_cbor_t *c, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') /* no strlen: lib/ links only mem* from libc */
        n++;
    molt_cbor_tstr(c, s, n);
}

void molt_cbor_array(molt_cbor_t *c, size_t n)
{
    molt_cbor_head(c, MOLT_CBOR_ARRAY, n);
}

void molt_cbor_map(molt_cbor_t *c, size_t n_pairs)
{
    molt_cbor_head(c, MOLT_CBOR_MAP, n_pairs);
}

void molt_cbor_tag(molt_cbor_t *c, uint64_t tag)
{
    molt_cbor_head(c, MOLT_CBOR_TAG, tag);
}

void molt_cbor_bool(molt_cbor_t *c, bool v)
{
    molt_cbor_head(c, MOLT_CBOR_SIMPLE, v ? 21u : 20u);
}

void molt_cbor_null(molt_cbor_t *c)
{
    molt_cbor_head(c, MOLT_CBOR_SIMPLE, 22u);
}

molt_err_t molt_cbor_finish(const molt_cbor_t *c, size_t *len)
{
    if (len != NULL)
        *len = c->len;
    return c->overflow ? MOLT_E_BUFFER : MOLT_OK;
}
