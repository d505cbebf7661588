/*
 * molt_host/attest_check.h - verify a PSA attestation token (R-ATTEST) on the host.
 *
 * Checks, in order: at most MOLT_ATTEST_TOKEN_MAX bytes; every CBOR head
 * bounded by the bytes left (attest_cbor_bounded, before libcbor decodes any
 * item, so no token can make it allocate more than a small multiple of its
 * size); CBOR tag 18 (COSE_Sign1), a 4-element array, a protected
 * header {1: -7} (ES256, no crit), a 64-byte raw r || s signature over the
 * Sig_structure ["Signature1", protected, h'', payload] by the IAK, an
 * unprotected header empty or holding only the kid, which must then be
 * SHA-256(IAK point); then the claims: nonce equal to the challenge, the
 * profile, instance id 0x01 || SHA-256(IAK point), implementation id,
 * lifecycle, client id, boot seed, one or more software components with their
 * measurement value and signer id, no duplicate claim.
 * Uses libcbor, OpenSSL and jansson; host code only.
 */
#ifndef MOLT_HOST_ATTEST_CHECK_H
#define MOLT_HOST_ATTEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

typedef struct attest_verdict {
    const char *reason; /* NULL: valid; else one line saying why not */
    char buf[160];
    json_t *claims;     /* on success (the caller frees it): profile, nonce, instance_id,
                           implementation_id, security_lifecycle, lifecycle_state, client_id,
                           boot_seed, security_counter, software_components[{measurement_type,
                           measurement_value, version, signer_id, measurement_desc}] (hex strings) */
} attest_verdict_t;

/* Verify token (len bytes) with the IAK public point pub (0x04 || X || Y)
 * against the challenge nonce. v must be zeroed by the caller. */
bool attest_check_token(const uint8_t *tok, size_t len, const uint8_t pub[65], const uint8_t *nonce,
                        size_t nonce_len, attest_verdict_t *v);

/* The allocation bound in front of libcbor: walk the heads of the one CBOR
 * item at buf[0..len) and return NULL if every definite length it claims fits
 * in the bytes left (a string no longer than the rest, an array of at most as
 * many items as bytes left, a map of at most half as many pairs), indefinite
 * strings are made of definite chunks, and nesting stays within 16 levels;
 * else a short reason ("an array claims more items than the bytes left").
 * *used (may be NULL) gets the item's size in bytes. Reads only buf[0..len). */
const char *attest_cbor_bounded(const uint8_t *buf, size_t len, size_t *used);

/* An EVP_PKEY for a raw P-256 point (NULL if it is not one). */
EVP_PKEY *attest_p256_from_point(const uint8_t pub[65]);

#endif
