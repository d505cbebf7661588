/*
 * molt/enc.h - encrypted images: content-key recovery, AES-CTR, per-device envelopes.
 *
 * An encrypted image (R-CONF) is what imgtool makes: the payload alone is
 * AES-128/256-CTR under a fresh content key (counter block = 128-bit big-endian
 * block index from the first payload byte); the header and every TLV stay in
 * plaintext; the hash and signature cover the PLAINTEXT. The content key travels
 * in an unprotected key TLV, wrapped for the device's encryption key:
 *   ENC_RSA2048 (0x30)       RSA-OAEP-2048 (SHA-256, MGF1-SHA-256): 256 bytes
 *   ENC_EC256 (0x32)         ECIES-P256:   eph point(65) | tag(32) | enc key
 *   ENC_X25519 (0x33)        ECIES-X25519: eph key(32)   | tag(32) | enc key
 *   ENC_X25519_SHA512 (0x34) the same with SHA-512:  eph(32) | tag(64) | enc key
 * with shared = ECDH(device key, eph), HKDF(hash, salt none,
 * info "MCUBoot_ECIES_v1", L = key_len + hash size): KEK = first key_len bytes,
 * MAC key = the rest; tag = HMAC(MAC key, enc key); enc key = AES-CTR(KEK, 0).
 *
 * The device's private key never enters libmolt (R-ASSETS): the port's key store
 * performs the ECDH (molt_decrypt_t.ecdh, fed from molt_port_t.enc_ecdh) and
 * hands back only the 32-byte shared secret, which libmolt wipes after use; for
 * RSA-OAEP it performs the whole private-key decryption (molt_decrypt_t.rsa_unwrap,
 * from molt_port_t.enc_rsa_unwrap) and hands back the content key.
 *
 * Envelopes (R-ONEPKG, R-CHANNEL; docs/encryption.md): the same ciphertext for a
 * whole fleet, and per device a small envelope carrying the content key under an
 * ECIES to that device's key, bound to the image's hash. With an envelope set in
 * molt_decrypt_t, the image's own key TLV is ignored and the content key comes
 * from the envelope.
 *
 * Nothing here allocates; every key buffer is wiped before returning.
 */
#ifndef MOLT_ENC_H
#define MOLT_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/image.h"

#define MOLT_ENC_KEY_MAX 32u /* AES-256 */

/* The device's decryption capability, as the verifier sees it. */
typedef struct molt_decrypt {
    /* ECDH of the device's private encryption key with peer_pub. scheme is the
     * key TLV type naming the curve: MOLT_TLV_ENC_EC256 (peer: 65-byte
     * uncompressed P-256 point) or MOLT_TLV_ENC_X25519 / _SHA512 (peer: 32
     * bytes). Returns MOLT_OK with the 32-byte shared secret, MOLT_E_ENC_ALG if
     * the device has no key for that curve, MOLT_E_ENC_UNWRAP for an invalid
     * peer point. */
    molt_err_t (*ecdh)(void *ctx, uint16_t scheme, const uint8_t *peer_pub, size_t len, uint8_t shared[32]);
    void *ctx;
    /* Optional per-device envelope (molt_envelope_open); NULL: use the key TLV. */
    const uint8_t *envelope;
    size_t envelope_len;
    /* RSA-OAEP (MOLT_TLV_ENC_RSA2048, SHA-256, MGF1-SHA-256, empty label): decrypt
     * the 256-byte wrapped key with the device's RSA-2048 private key (ctx as for
     * ecdh), writing at most key_max bytes. MOLT_E_ENC_UNWRAP if decryption fails,
     * MOLT_E_ENC_ALG if the device has no RSA key. NULL: no RSA key. */
    molt_err_t (*rsa_unwrap)(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                             size_t *key_len);
} molt_decrypt_t;

/* Content-key length (16 or 32) for an image's flags; 0 if not encrypted or both
 * AES flags are set. */
size_t molt_enc_key_len(uint32_t flags);

/* Expected length of an encrypted-key TLV of type for a key_len-byte key; 0 if
 * the type is not a key-encryption TLV. */
size_t molt_enc_tlv_len(uint16_t type, size_t key_len);

/* Unwrap a key TLV (type 0x30 RSA-OAEP, 0x32, 0x33 or 0x34 ECIES; tlv/tlv_len
 * its value) for a key_len-byte content key. MOLT_E_ENC_UNWRAP when the tag does
 * not verify or OAEP decryption fails (wrong device key, corrupted TLV),
 * MOLT_E_ENC_ALG for other schemes or one the device has no key for,
 * MOLT_E_ENC_NO_KEY when dec has no hook at all. */
molt_err_t molt_enc_unwrap(const molt_decrypt_t *dec, uint16_t type, const uint8_t *tlv, size_t tlv_len,
                           size_t key_len, uint8_t key[MOLT_ENC_KEY_MAX]);

/* The content key of a parsed encrypted image: from dec->envelope if set (bound
 * to digest, the image's hash TLV value), otherwise from the image's key TLV. */
molt_err_t molt_enc_content_key(const molt_source_t *src, const molt_image_t *img, const molt_decrypt_t *dec,
                                const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                                size_t *key_len);

/* Key check value of a content key: the first 16 bytes of
 * SHA-256("molt-kcv-v1" || key). The boot record keeps it for the image it
 * installed, so that image is re-encrypted only under its own key when it
 * leaves PRIMARY (a key from an envelope anyone can make must match it). */
#define MOLT_ENC_KCV_LEN 16u
molt_err_t molt_enc_kcv(const uint8_t *key, size_t key_len, uint8_t kcv[MOLT_ENC_KCV_LEN]);

/* AES-CTR over an image payload, at any byte offset (the key lives in the crypto
 * backend as a volatile, non-exportable key until molt_ctr_end). */
typedef struct molt_ctr {
    uint32_t key_id; /* backend key id, 0 when closed */
} molt_ctr_t;

molt_err_t molt_ctr_start(molt_ctr_t *c, const uint8_t *key, size_t key_len);
/* XOR len bytes at payload offset off with the keystream (encrypts or decrypts). */
molt_err_t molt_ctr_xor(molt_ctr_t *c, uint32_t off, uint8_t *buf, size_t len);
void molt_ctr_end(molt_ctr_t *c);

/* Decryption as the boot code and the verifier reach it: through one table,
 * never by direct calls, so that a link which never names molt_enc_ops keeps none
 * of lib/enc.c (nor the PSA cipher, MAC and key-derivation code behind it) and none
 * of the decryption steps of the activation modes. A port that takes encrypted
 * images sets molt_port_t.enc_ops = &molt_enc_ops beside its key-store hooks;
 * without it the boot code and the update API refuse encrypted uploads
 * (MOLT_E_ENC_NO_KEY), exactly as for a port without a key store. molt_verify()
 * always uses molt_enc_ops (host tools); molt_verify_with() takes the table as an
 * argument. The table's members are internal (lib/enc_ops.h). */
typedef struct molt_enc_ops molt_enc_ops_t;
extern const molt_enc_ops_t molt_enc_ops;

/* ---- envelopes (format in docs/encryption.md) ---- */
#define MOLT_ENV_MAGIC0 'M'
#define MOLT_ENV_VERSION 1u
#define MOLT_ENV_HDR 8u
#define MOLT_ENV_TAG 32u
#define MOLT_ENV_MAX (MOLT_ENV_HDR + 64u + 65u + MOLT_ENC_KEY_MAX + MOLT_ENV_TAG)

/* Size of an envelope for this scheme (0x32 or 0x33), key and digest length; 0 if invalid. */
size_t molt_envelope_size(uint16_t scheme, size_t key_len, size_t digest_len);

/* Open env for the image whose hash TLV holds digest (digest_len bytes, hash TLV
 * type hash_tlv). MOLT_E_ENV_FORMAT malformed, MOLT_E_ENV_IMAGE bound to another
 * image, MOLT_E_ENV_AUTH tag mismatch (made for another device, or altered). */
molt_err_t molt_envelope_open(const molt_decrypt_t *dec, const uint8_t *env, size_t env_len, uint16_t hash_tlv,
                              const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                              size_t *key_len);

/* HKDF-SHA-256/512 (salt absent) and HMAC, shared with the host tools so the
 * envelope is built by the same code that opens it. hash_tlv: MOLT_TLV_SHA256 or
 * MOLT_TLV_SHA512. */
molt_err_t molt_enc_hkdf(uint16_t hash_tlv, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
                         size_t info_len, uint8_t *out, size_t out_len);
molt_err_t molt_enc_hmac(uint16_t hash_tlv, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                         uint8_t *tag, size_t tag_len);

#endif
