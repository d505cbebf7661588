/*
 * molt/attest.h - a signed statement of what the device runs (R-ATTEST).
 *
 * molt_attest_get_token() produces a PSA attestation token in the RFC 9783
 * profile: a COSE_Sign1 (CBOR tag 18) signed with ES256 by the port's Initial
 * Attestation Key (IAK). The deployer sends a fresh challenge (32, 48 or 64
 * bytes); the token binds it to the device's identity and to a measurement of
 * every slot that holds a valid image. The IAK never leaves the port's key
 * store (R-ASSETS): libmolt hashes the COSE Sig_structure and asks the port's
 * attest_sign() for a raw r || s signature over that digest.
 *
 * Token (deterministic CBOR, docs/attestation.md has the full table):
 *   18([ h'A10126' ({1: -7} = ES256), {4: kid}, payload, signature (64 bytes) ])
 *   kid = SHA-256 of the IAK public key (65-byte uncompressed point)
 *   payload = {
 *     10: challenge, 256: instance id (0x01 || kid), 265: MOLT_ATTEST_PROFILE,
 *     268: boot seed (32), 2394: client id, 2395: security lifecycle,
 *     2396: implementation id (32), 2399: [software components],
 *     -76000: the stored security counter (private-use claim of molt)
 *   }
 *   component = { 1: "App" (running slot) or "App-inactive" (the other slot),
 *                 2: image hash as the verifier computes it (hash TLV algorithm),
 *                 4: version "major.minor.revision+build",
 *                 5: signer id = hash of the signing key's DER (as KEYHASH),
 *                 6: "sha-256" | "sha-384" | "sha-512" }
 * A slot's image is reported only if the boot code's judge accepts it: the
 * stored security counter and the keys in force -- the port's factory table,
 * or, when req->boot.keyrot is wired, the key set in force after rotation
 * (molt/keyrot.h: an image by an added key is measured, one by a retired key
 * is not; the signer id is that of the key that verified) -- the running slot
 * first; if the running slot holds no valid image the call fails
 * (ATTEST_NO_MEASUREMENT).
 *
 * Stateless, no heap; the token buffer is the only output.
 */
#ifndef MOLT_ATTEST_H
#define MOLT_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "molt/boot.h"
#include "molt/error.h"
#include "molt/port.h"

#define MOLT_ATTEST_PROFILE "tag:psacertified.org,2023:psa#tfm"

/* Claim keys (RFC 9783 / EAT) and molt's private-use claim. */
#define MOLT_ATTEST_CLAIM_NONCE 10
#define MOLT_ATTEST_CLAIM_INSTANCE_ID 256
#define MOLT_ATTEST_CLAIM_PROFILE 265
#define MOLT_ATTEST_CLAIM_BOOT_SEED 268
#define MOLT_ATTEST_CLAIM_CLIENT_ID 2394
#define MOLT_ATTEST_CLAIM_LIFECYCLE 2395
#define MOLT_ATTEST_CLAIM_IMPL_ID 2396
#define MOLT_ATTEST_CLAIM_SW_COMPONENTS 2399
#define MOLT_ATTEST_CLAIM_SECURITY_COUNTER (-76000) /* < -65536: private use (RFC 8392) */

/* Software component keys. */
#define MOLT_ATTEST_SWC_TYPE 1
#define MOLT_ATTEST_SWC_VALUE 2
#define MOLT_ATTEST_SWC_VERSION 4
#define MOLT_ATTEST_SWC_SIGNER_ID 5
#define MOLT_ATTEST_SWC_DESC 6

#define MOLT_ATTEST_TYPE_RUNNING "App"
#define MOLT_ATTEST_TYPE_INACTIVE "App-inactive"

/* PSA security lifecycle states (major state in bits 15..12). */
#define MOLT_LIFECYCLE_UNKNOWN 0x0000u
#define MOLT_LIFECYCLE_ASSEMBLY_AND_TEST 0x1000u
#define MOLT_LIFECYCLE_PROVISIONING 0x2000u
#define MOLT_LIFECYCLE_SECURED 0x3000u
#define MOLT_LIFECYCLE_NON_PSA_ROT_DEBUG 0x4000u
#define MOLT_LIFECYCLE_RECOVERABLE_DEBUG 0x5000u
#define MOLT_LIFECYCLE_DECOMMISSIONED 0x6000u

/* Large enough for any token: 64-byte challenge, two SHA-512 components. */
#define MOLT_ATTEST_TOKEN_MAX 1024u

typedef struct molt_attest_req {
    const uint8_t *challenge; /* the deployer's nonce */
    size_t challenge_len;     /* 32, 48 or 64 */
    int32_t client_id;        /* PSA caller id: < 0 non-secure, > 0 secure; 0 refused */
    uint8_t running_slot;     /* molt_boot_result_t.slot of this boot */
    molt_boot_cfg_t boot;     /* the boot mode (where SECONDARY's image starts) */
} molt_attest_req_t;

/* Build and sign a token into token[cap]. MOLT_OK: *len bytes written.
 * MOLT_E_BUFFER: *len is the size needed (nothing signed). Other errors:
 * ATTEST_CHALLENGE, ATTEST_KEY (no attest_sign or identity in the port),
 * ATTEST_NO_MEASUREMENT, ATTEST_SIGN, ARG (client id 0, bad slot), NV, IO. */
molt_err_t molt_attest_get_token(const molt_port_t *port, const molt_attest_req_t *req, uint8_t *token,
                                 size_t cap, size_t *len);

/* The instance id the token will carry: 0x01 || SHA-256(pub[65]). */
molt_err_t molt_attest_instance_id(const uint8_t pub[65], uint8_t ueid[33]);

#endif
