/*
 * molt/verify.h - decide whether an image may run: hash, signer, signature, policy.
 *
 * This is the one place where an image is judged (R-AUTH, R-SECBOOT). The boot
 * code, the update API and the host CLI all call molt_verify(), so the CLI
 * accepts exactly what a device accepts.
 *
 * What it checks, in order (first failure wins, with its own molt_err_t):
 *   1. structure (molt_image_parse: bounds, TLV areas, unprotected allow-list);
 *   2. header flags (no PIC/compression; at most one AES flag; encrypted images
 *      need a key TLV and, when handled as an upload, a decryption key: the
 *      content key is unwrapped through the port's key store, or taken from a
 *      per-device envelope, and the payload is decrypted as it is hashed);
 *   3. exactly one hash TLV of an allowed algorithm; the computed hash over
 *      header + payload + protected TLVs must equal it;
 *   4. every signature TLV follows a KEYHASH/PUBKEY TLV that names a trusted key
 *      (KEYHASH compared over its full length, never a prefix); every signature
 *      by a trusted key must verify, and at least one must (unless the policy is
 *      hash-only). Ed25519 signs the digest, or with SIG_PURE the whole hashed
 *      region (PureEdDSA, streamed);
 *   5. policy: allowed algorithms, minimum security counter, optional downgrade.
 * The result is decided once; the "accept" outcome is re-checked against an
 * independent copy before returning, so a single glitch cannot flip it.
 *
 * It never allocates, never writes the source, and keeps no state between calls.
 * Crypto goes through the PSA Crypto API (hashes, ECDSA, RSA-PSS) and libsodium
 * (Ed25519).
 */
#ifndef MOLT_VERIFY_H
#define MOLT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/enc.h"
#include "molt/image.h"

/* Hash algorithms (bit values for policy masks). */
#define MOLT_HASH_SHA256 0x1u
#define MOLT_HASH_SHA384 0x2u
#define MOLT_HASH_SHA512 0x4u
#define MOLT_HASH_MAX_SIZE 64u

/* Signature algorithms (bit values for policy masks). */
#define MOLT_SIG_ECDSA_P256 0x01u
#define MOLT_SIG_ECDSA_P384 0x02u
#define MOLT_SIG_ED25519 0x04u      /* over the digest */
#define MOLT_SIG_ED25519_PURE 0x08u /* over the whole hashed region */
#define MOLT_SIG_RSA2048_PSS 0x10u
#define MOLT_SIG_RSA3072_PSS 0x20u
#define MOLT_SIG_ALL 0x3fu

/* A trusted signing key: the exact public-key bytes MCUboot hashes for KEYHASH
 * (SubjectPublicKeyInfo DER for EC and Ed25519, PKCS#1 RSAPublicKey DER for RSA). */
typedef struct molt_key {
    const uint8_t *der;
    size_t der_len;
} molt_key_t;

typedef struct molt_keyring {
    const molt_key_t *keys;
    size_t count;
} molt_keyring_t;

/* How the image is being handled: an upload (staging slot; an encrypted payload is
 * decrypted before hashing) or installed (execution slot; hashed as stored). */
typedef enum molt_role {
    MOLT_ROLE_UPLOAD = 0,
    MOLT_ROLE_INSTALLED = 1
} molt_role_t;

typedef struct molt_policy {
    uint32_t allowed_hash;   /* MOLT_HASH_* mask */
    uint32_t allowed_sig;    /* MOLT_SIG_* mask */
    bool require_signature;  /* false: hash-only (no signature) build */
    molt_role_t role;
    bool check_sec_cnt;      /* refuse sec_cnt < min_sec_cnt (missing counter = 0) */
    uint32_t min_sec_cnt;
    bool check_version;      /* refuse version < min_version (downgrade prevention) */
    molt_version_t min_version;
    /* Optional (update API): the digest of the hashed region [0, unprotected
     * TLV info), computed by the caller over the bytes as it wrote them. When
     * digest_alg is the hash TLV's algorithm it stands in for reading and
     * hashing the region again; everything else is checked as usual. NULL
     * (the default): the region is read and hashed here. */
    const uint8_t *digest;
    uint32_t digest_alg;     /* MOLT_HASH_* of digest */
    /* Encryption (R-CONF, molt/enc.h). dec: the device's decryption capability;
     * with it an encrypted upload is decrypted before hashing (the hash covers the
     * plaintext); without it an encrypted upload is ENC_NO_KEY. require_encryption
     * (PSA_FWU_FLAG_ENCRYPTION): an unencrypted image is ENC_REQUIRED. */
    const molt_decrypt_t *dec;
    bool require_encryption;
} molt_policy_t;

/* Default: signature required, every supported algorithm, upload role, no
 * rollback floor (the boot code and update API set one). */
void molt_policy_default(molt_policy_t *pol);

typedef struct molt_verify_result {
    molt_image_t image;                 /* parsed header and layout */
    uint32_t hash_alg;                  /* MOLT_HASH_* of the hash TLV */
    uint8_t hash[MOLT_HASH_MAX_SIZE];   /* computed hash (valid when hash_len > 0) */
    size_t hash_len;
    uint32_t sig_alg;                   /* MOLT_SIG_* that verified, 0 if none */
    int key_index;                      /* index in the keyring of the signer, -1 if none */
    bool signed_ok;                     /* a trusted signature verified */
    bool decrypted;                     /* the payload was decrypted before hashing */
    uint8_t kcv[MOLT_ENC_KCV_LEN];      /* when decrypted: the content key's check value */
} molt_verify_result_t;

/* Verify the image in src against keys and pol. Returns MOLT_OK only if the image
 * may be used; res (optional) is filled as far as verification got. */
molt_err_t molt_verify(const molt_source_t *src, const molt_keyring_t *keys,
                       const molt_policy_t *pol, molt_verify_result_t *res);

/* molt_verify() with the decryption code given as ops (molt/enc.h) instead of
 * lib/enc.c's molt_enc_ops: NULL for a build without decryption, where an
 * encrypted upload is MOLT_E_ENC_NO_KEY even with pol->dec set. The boot code and
 * the update API call this with the port's enc_ops, so a boot stage that never
 * names molt_enc_ops links none of the decryption code. molt_verify(src, keys,
 * pol, res) is molt_verify_with(src, keys, pol, &molt_enc_ops, res). */
molt_err_t molt_verify_with(const molt_source_t *src, const molt_keyring_t *keys, const molt_policy_t *pol,
                            const molt_enc_ops_t *ops, molt_verify_result_t *res);

/* Hash the key's DER with alg into out (for KEYHASH and signer ids). */
molt_err_t molt_key_hash(const molt_key_t *key, uint32_t alg, uint8_t *out, size_t *out_len);

/* Size in bytes of a MOLT_HASH_* digest, 0 if unknown. */
size_t molt_hash_size(uint32_t alg);

#endif
