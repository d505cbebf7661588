/*
 * der.c - the little DER that verification needs: public keys and ECDSA
 * signatures. Strict: definite lengths in minimal form, no trailing data (except
 * the zero padding imgtool's --pad-sig appends to a signature).
 */
#include <stdbool.h>
#include <string.h>

#include "crypto.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} der_t;

/* Read one TLV with the expected tag; val and len get its contents. */
static molt_err_t der_take(der_t *d, uint8_t tag, const uint8_t **val, size_t *len)
{
    if (d->left < 2 || d->p[0] != tag)
        return MOLT_E_KEY_FORMAT;
    size_t n = d->p[1], hdr = 2;
    if (n & 0x80) {
        size_t bytes = n & 0x7f;
        if (bytes == 0 || bytes > 2 || d->left < 2 + bytes)
            return MOLT_E_KEY_FORMAT;
        n = 0;
        for (size_t i = 0; i < bytes; i++)
            n = (n << 8) | d->p[2 + i];
        if (n < 0x80 || (bytes == 2 && n < 0x100)) /* not minimal */
            return MOLT_E_KEY_FORMAT;
        hdr += bytes;
    }
    if (n > d->left - hdr)
        return MOLT_E_KEY_FORMAT;
    *val = d->p + hdr;
    *len = n;
    d->p += hdr + n;
    d->left -= hdr + n;
    return MOLT_OK;
}

static bool oid_is(const uint8_t *v, size_t len, const uint8_t *oid, size_t oid_len)
{
    return len == oid_len && memcmp(v, oid, len) == 0;
}

static const uint8_t OID_EC_PUBLIC_KEY[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t OID_PRIME256V1[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_SECP384R1[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_ED25519[] = {0x2b, 0x65, 0x70};

/* Length in bytes of a positive DER INTEGER's magnitude, or 0 if malformed. */
static size_t der_uint_len(const uint8_t *v, size_t len)
{
    if (len == 0 || (v[0] & 0x80))
        return 0;
    if (v[0] == 0) {
        if (len == 1)
            return 0; /* zero is not a valid modulus or signature part */
        if (!(v[1] & 0x80))
            return 0; /* not minimal */
        return len - 1;
    }
    return len;
}

static molt_err_t parse_rsa(const uint8_t *der, size_t len, molt_pubkey_t *out)
{
    der_t d = {der, len}, seq;
    const uint8_t *v, *n, *e;
    size_t vlen, nlen, elen;
    if (der_take(&d, 0x30, &v, &vlen) != MOLT_OK || d.left != 0)
        return MOLT_E_KEY_FORMAT;
    seq = (der_t){v, vlen};
    if (der_take(&seq, 0x02, &n, &nlen) != MOLT_OK || der_take(&seq, 0x02, &e, &elen) != MOLT_OK ||
        seq.left != 0)
        return MOLT_E_KEY_FORMAT;
    size_t bytes = der_uint_len(n, nlen);
    if (der_uint_len(e, elen) == 0)
        return MOLT_E_KEY_FORMAT;
    if (bytes == 256)
        out->type = MOLT_KEY_RSA2048;
    else if (bytes == 384)
        out->type = MOLT_KEY_RSA3072;
    else
        return MOLT_E_KEY_FORMAT;
    out->pub = der;
    out->pub_len = len;
    return MOLT_OK;
}

molt_err_t molt_der_parse_pubkey(const uint8_t *der, size_t len, molt_pubkey_t *out)
{
    der_t d = {der, len}, spki, alg;
    const uint8_t *v, *a, *oid, *bits;
    size_t vlen, alen, oid_len, bits_len;

    memset(out, 0, sizeof *out);
    if (der_take(&d, 0x30, &v, &vlen) != MOLT_OK || d.left != 0)
        return MOLT_E_KEY_FORMAT;
    if (vlen > 0 && v[0] == 0x02)
        return parse_rsa(der, len, out); /* PKCS#1 RSAPublicKey */
    spki = (der_t){v, vlen};
    if (der_take(&spki, 0x30, &a, &alen) != MOLT_OK || der_take(&spki, 0x03, &bits, &bits_len) != MOLT_OK ||
        spki.left != 0 || bits_len < 1 || bits[0] != 0)
        return MOLT_E_KEY_FORMAT;
    bits++;
    bits_len--;
    alg = (der_t){a, alen};
    if (der_take(&alg, 0x06, &oid, &oid_len) != MOLT_OK)
        return MOLT_E_KEY_FORMAT;
    if (oid_is(oid, oid_len, OID_ED25519, sizeof OID_ED25519)) {
        if (alg.left != 0 || bits_len != 32)
            return MOLT_E_KEY_FORMAT;
        out->type = MOLT_KEY_ED25519;
    } else if (oid_is(oid, oid_len, OID_EC_PUBLIC_KEY, sizeof OID_EC_PUBLIC_KEY)) {
        const uint8_t *curve;
        size_t curve_len;
        if (der_take(&alg, 0x06, &curve, &curve_len) != MOLT_OK || alg.left != 0)
            return MOLT_E_KEY_FORMAT;
        if (oid_is(curve, curve_len, OID_PRIME256V1, sizeof OID_PRIME256V1) && bits_len == 65)
            out->type = MOLT_KEY_P256;
        else if (oid_is(curve, curve_len, OID_SECP384R1, sizeof OID_SECP384R1) && bits_len == 97)
            out->type = MOLT_KEY_P384;
        else
            return MOLT_E_KEY_FORMAT;
        if (bits[0] != 0x04) /* uncompressed point only */
            return MOLT_E_KEY_FORMAT;
    } else {
        return MOLT_E_KEY_FORMAT;
    }
    out->pub = bits;
    out->pub_len = bits_len;
    return MOLT_OK;
}

molt_err_t molt_der_ecdsa_to_raw(const uint8_t *der, size_t len, uint8_t *raw, size_t n)
{
    der_t d = {der, len}, seq;
    const uint8_t *v, *part[2];
    size_t vlen, plen[2];

    if (der_take(&d, 0x30, &v, &vlen) != MOLT_OK)
        return MOLT_E_SIG_FORMAT;
    for (size_t i = 0; i < d.left; i++)
        if (d.p[i] != 0)
            return MOLT_E_SIG_FORMAT;
    seq = (der_t){v, vlen};
    if (der_take(&seq, 0x02, &part[0], &plen[0]) != MOLT_OK ||
        der_take(&seq, 0x02, &part[1], &plen[1]) != MOLT_OK || seq.left != 0)
        return MOLT_E_SIG_FORMAT;
    memset(raw, 0, 2 * n);
    for (int i = 0; i < 2; i++) {
        size_t mag = der_uint_len(part[i], plen[i]);
        if (mag == 0 || mag > n)
            return MOLT_E_SIG_FORMAT;
        memcpy(raw + i * n + (n - mag), part[i] + (plen[i] - mag), mag);
    }
    return MOLT_OK;
}
