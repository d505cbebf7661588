/*
 * attest_check.h - verify a PSA attestation token (R-ATTEST) on the host.
 *
 * Checks, in order: CBOR tag 18 (COSE_Sign1), a 4-element array, a protected
 * header {1: -7} (ES256, no crit), a 64-byte raw r || s signature over the
 * Sig_structure ["Signature1", protected, h'', payload] by the IAK, an
 * unprotected header empty or holding only the kid, which must then be
 * SHA-256(IAK point); then the claims: nonce equal to the challenge, the
 * profile, instance id 0x01 || SHA-256(IAK point), implementation id,
 * lifecycle, client id, boot seed, one or more software components with their
 * measurement value and signer id, no duplicate claim.
 * Uses libcbor, OpenSSL and jansson; host code only.
 */
#ifndef MOLT_ATTEST_CHECK_H
#define MOLT_ATTEST_CHECK_H

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

/* An EVP_PKEY for a raw P-256 point (NULL if it is not one). */
EVP_PKEY *attest_p256_from_point(const uint8_t pub[65]);

#endif
