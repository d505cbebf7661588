/*
 * molt/port.h - the only door between libmolt and the hardware.
 *
 * A port fills one molt_port_t: three flash areas, monotonic NV counters, the
 * trusted-key table, a random source, a secure-state hook and, for encrypted
 * images, its key store (ECDH, key envelopes, RSA-OAEP unwrap). That is all
 * the boot code and the update API ever touch. Reading this file should take
 * five minutes; writing a port, an afternoon.
 *
 * Flash contract (every area):
 *   - offsets are relative to the area; the area is a whole number of sectors;
 *   - write(): off and len are multiples of write_align, and only into units
 *     erased since their last write (write-once: ECC flash is fine);
 *   - erase(): off and len cover whole sectors; afterwards every byte reads
 *     erase_value;
 *   - sector(): the sector containing off (its start and size), so non-uniform
 *     layouts (e.g. 4 KiB and 128 KiB sectors) work;
 *   - any error from write or erase ends the boot attempt: libmolt performs no
 *     further flash operation and returns the error. That is also how a power
 *     loss looks in the simulator, and why every flash write sequence in libmolt
 *     must be resumable from whatever state a cut leaves.
 * read() has the shape of molt_source_t.read, so an area can feed the verifier.
 *
 * NV counters: read, and advance to a value >= the current one; the port
 * refuses to decrease (R-ROLLBACK, R-ASSETS) and must make an advance atomic
 * under power loss. The application has no access to them.
 *
 * Attestation (optional; molt/attest.h, R-ATTEST, R-ASSETS): the port holds the
 * Initial Attestation Key (IAK, ECDSA P-256) in its key store -- a PSA built-in
 * key, a secure element, a secure-world partition -- and offers only
 * attest_sign(): ECDSA over a SHA-256 digest libmolt computed, returned as raw
 * r || s. Neither libmolt nor the application can read the private key. The
 * port also publishes the IAK's public key (the instance id is derived from
 * it), a 32-byte implementation id, the PSA security lifecycle state and a boot
 * seed drawn fresh at every reset. Leave attest_sign NULL for no attestation.
 */
#ifndef MOLT_PORT_H
#define MOLT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/verify.h"

typedef struct molt_sector {
    uint32_t off;  /* first byte, relative to the area */
    uint32_t size; /* bytes */
} molt_sector_t;

typedef struct molt_area {
    uint32_t size;        /* bytes, a whole number of sectors */
    uint32_t write_align; /* power of two, 1..256 */
    uint8_t erase_value;  /* 0xff or 0x00 */
    molt_err_t (*read)(void *ctx, uint32_t off, void *buf, size_t len);
    molt_err_t (*write)(void *ctx, uint32_t off, const void *buf, size_t len);
    molt_err_t (*erase)(void *ctx, uint32_t off, uint32_t len);
    molt_err_t (*sector)(void *ctx, uint32_t off, molt_sector_t *sec);
    void *ctx;
} molt_area_t;

/* Area ids. Swap and overwrite modes: PRIMARY executes in place, SECONDARY
 * stages. Remap (A/B) mode: both slots execute, SECONDARY is slot B. STATUS
 * holds the activation progress journal (swap mode). */
enum molt_area_id {
    MOLT_AREA_PRIMARY = 0,
    MOLT_AREA_SECONDARY = 1,
    MOLT_AREA_STATUS = 2,
    MOLT_AREA_COUNT = 3
};

/* NV counter ids. */
#define MOLT_NV_SECURITY_COUNTER 0u /* the reliable index of image 0 */

typedef struct molt_port {
    molt_area_t area[MOLT_AREA_COUNT];

    molt_err_t (*nv_read)(void *ctx, uint32_t id, uint32_t *value);
    molt_err_t (*nv_advance)(void *ctx, uint32_t id, uint32_t value); /* value >= current */

    molt_keyring_t keys; /* trusted signing keys, in immutable storage */

    molt_err_t (*random)(void *ctx, void *buf, size_t len); /* may be NULL until encryption/attestation */
    /* The crypto build's own entropy is the port's too: a target whose Mbed TLS
     * is built with MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG (no entropy module, as the
     * mps2 port) must define mbedtls_psa_external_get_random() from a TRNG; PSA
     * Crypto calls it for ECDSA signing (attestation), ephemeral keys and
     * blinding. docs/porting.md says what each port function must guarantee. */

    /* Called when no verified image can run: the device stays in a secure state
     * (no code from the slots executes, no secret is touched); a port may start a
     * recovery loader here. May be NULL. */
    void (*no_image)(void *ctx, molt_err_t why);

    void *ctx; /* passed to nv_*, random, no_image, enc_* (incl. enc_rsa_unwrap), attest_sign */

    /* The device's encryption key store (R-CONF, R-ASSETS; molt/enc.h): ECDH of
     * the device's private key with peer_pub for the key-TLV type tlv_type
     * (MOLT_TLV_ENC_EC256: 65-byte P-256 point; MOLT_TLV_ENC_X25519/_SHA512: 32
     * bytes). Writes the 32-byte shared secret; the private key never leaves the
     * key store. MOLT_E_ENC_ALG: no key for that curve; MOLT_E_ENC_UNWRAP: invalid
     * peer point. NULL: the device takes no encrypted images. */
    molt_err_t (*enc_ecdh)(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32]);

    /* Per-device key envelopes (R-ONEPKG; docs/encryption.md): the envelope the
     * device received for the image whose hash TLV value is digest, if it has
     * one. MOLT_OK with *env pointing at port-owned bytes (valid until the next
     * call), or MOLT_E_ENC_NO_KEY when there is none: the image's key TLV is then
     * used. The port keeps the envelopes of both slots' images while a revert is
     * possible. NULL: no envelopes. */
    molt_err_t (*enc_envelope)(void *ctx, const uint8_t *digest, size_t len, const uint8_t **env, size_t *env_len);

    /* --- attestation (appended; all NULL/0: no attestation) --- */
    molt_err_t (*attest_sign)(void *ctx, const uint8_t digest[32], uint8_t sig[64]); /* raw r || s; ctx */
    const uint8_t *attest_pub;       /* IAK public key, 65 bytes: 0x04 || X || Y */
    const uint8_t *attest_impl_id;   /* implementation id, 32 bytes (names the boot code + port) */
    const uint8_t *attest_boot_seed; /* 32 bytes, random, drawn at this reset */
    uint32_t attest_lifecycle;       /* PSA security lifecycle, e.g. 0x3000 = secured */

    /* --- RSA-OAEP key transport (appended; NULL: no RSA encryption key) ---
     * imgtool's ENC_RSA2048 (0x30): decrypt the 256-byte wrapped content key
     * with the device's RSA-2048 private key, RSA-OAEP with SHA-256 and
     * MGF1-SHA-256, empty label (PSA_ALG_RSA_OAEP(PSA_ALG_SHA_256)). Writes at
     * most key_max bytes to key and their count to *key_len; the private key
     * never leaves the key store (R-ASSETS). MOLT_E_ENC_UNWRAP: decryption
     * fails (another device's key, altered TLV); MOLT_E_ENC_ALG: no RSA key. ctx. */
    molt_err_t (*enc_rsa_unwrap)(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                                 size_t *key_len);

    /* --- decryption code (appended; molt/enc.h) ---
     * &molt_enc_ops for a port that takes encrypted images (with enc_ecdh or
     * enc_rsa_unwrap). NULL: the device cannot decrypt, whatever key-store hooks
     * it has: encrypted uploads are refused (MOLT_E_ENC_NO_KEY), and lib/enc.c
     * stays out of a boot stage that never names molt_enc_ops. */
    const struct molt_enc_ops *enc_ops;
} molt_port_t;

#endif
