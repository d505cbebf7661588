/*
 * molt_host/encrypt.h - the host side of image encryption (OpenSSL 3): ECIES wrapping of
 * a content key exactly as imgtool does, per-device envelopes, and a host
 * "key store" (a private key file) for `molt verify --enc-key` and
 * `molt decrypt`. Formats: include/molt/enc.h and docs/encryption.md.
 *
 * This is an implementation independent of lib/enc.c (OpenSSL's HKDF, HMAC and
 * AES-CTR), so every image the CLI makes and lib/ opens crosses two codes.
 */
#ifndef MOLT_HOST_ENCRYPT_H
#define MOLT_HOST_ENCRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "molt/enc.h"
#include "molt/image.h"

/* A device encryption public key (-E) or private key (--enc-key). */
typedef struct enc_key {
    EVP_PKEY *pkey;
    bool x25519;   /* else P-256 (or RSA) */
    bool rsa;      /* RSA-2048: ENC_RSA2048, RSA-OAEP-SHA-256 */
    bool is_private;
} enc_key_t;

/* Load a P-256, X25519 or RSA-2048 key (PEM/DER, public or private); one-line
 * error on failure. */
bool enc_key_load(const char *path, bool need_private, enc_key_t *k);

/* Take pkey (ownership passes to k, or it is freed) as an encryption key.
 * Returns NULL, or why it is not one (k is then empty). */
const char *enc_key_adopt(EVP_PKEY *pkey, bool is_private, bool need_private, enc_key_t *k);

/* A private key file as PKCS#8 DER (what a key store imports); *der is
 * OpenSSL's: OPENSSL_clear_free(*der, *len). One-line error on failure. */
bool enc_key_pkcs8(const char *path, uint8_t **der, size_t *len);

/* The image's hash TLV (its type and value: what an envelope is bound to).
 * False if the image has none. */
bool enc_image_digest(const molt_source_t *src, const molt_image_t *img, uint16_t *type, uint8_t digest[64],
                      size_t *len);
void enc_key_free(enc_key_t *k);

/* Key TLV (type *type into tlv, *tlv_len bytes; tlv holds 256) wrapping key for
 * k, as imgtool: ENC_EC256 for P-256, ENC_X25519 or with sha512
 * ENC_X25519_SHA512, ENC_RSA2048 (OAEP, SHA-256, MGF1-SHA-256) for RSA-2048. */
bool enc_wrap_tlv(const enc_key_t *k, bool sha512, const uint8_t *key, size_t key_len, uint16_t *type,
                  uint8_t *tlv, size_t *tlv_len);

/* An envelope for device k (P-256 or X25519; envelopes are ECC-only) carrying
 * key, bound to the image's hash TLV. */
bool enc_make_envelope(const enc_key_t *k, const uint8_t *key, size_t key_len, uint16_t hash_tlv,
                       const uint8_t *digest, size_t digest_len, uint8_t *env, size_t *env_len);

/* molt_decrypt_t.ecdh over a private enc_key_t (ctx). */
molt_err_t enc_host_ecdh(void *ctx, uint16_t scheme, const uint8_t *peer, size_t len, uint8_t shared[32]);

/* molt_decrypt_t.rsa_unwrap over a private RSA enc_key_t (ctx), OpenSSL's OAEP. */
molt_err_t enc_host_rsa_unwrap(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                               size_t *key_len);

/* AES-CTR (counter 0 at offset 0) in place, OpenSSL. */
bool enc_aes_ctr(const uint8_t *key, size_t key_len, uint8_t *buf, size_t len);

#endif
