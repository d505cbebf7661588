/*
 * sign.h - internals of `molt sign` (an imgtool-compatible image signer).
 *
 * cmd_sign.c parses imgtool's options into a sign_opts_t; sign_image.c lays the
 * image out byte-for-byte as imgtool does (header, protected TLVs, unprotected
 * TLVs, trailer); sign_crypto.c holds every OpenSSL call: keys, digests,
 * signatures and UUIDv5. Functions that can fail print one line via cli_error()
 * and return false.
 */
#ifndef MOLT_SIGN_H
#define MOLT_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "molt/image.h"

/* A growable byte buffer. Appends after an allocation failure are ignored and
 * set oom, so callers check once at the end. */
typedef struct sbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

void sbuf_put(sbuf_t *b, const void *data, size_t n);
void sbuf_fill(sbuf_t *b, uint8_t value, size_t n);
void sbuf_u8(sbuf_t *b, uint8_t v);
void sbuf_u16(sbuf_t *b, uint16_t v); /* little-endian */
void sbuf_u32(sbuf_t *b, uint32_t v); /* little-endian */
void sbuf_free(sbuf_t *b);

/* Image hash algorithms, named by their digest size in bits. */
enum sign_sha { SIGN_SHA_AUTO = 0, SIGN_SHA256 = 256, SIGN_SHA384 = 384, SIGN_SHA512 = 512 };

/* Key types molt can sign with (and X25519, which it only generates). */
enum sign_key_type {
    SIGN_KEY_ECDSA_P256,
    SIGN_KEY_ECDSA_P384,
    SIGN_KEY_RSA_2048,
    SIGN_KEY_RSA_3072,
    SIGN_KEY_ED25519,
    SIGN_KEY_X25519,
    SIGN_KEY_OTHER
};

typedef struct sign_key {
    EVP_PKEY *pkey;
    enum sign_key_type type;
    bool is_private;
    uint8_t *pub_der; /* the bytes MCUboot hashes (cli_pubkey_der), OPENSSL_free'd */
    size_t pub_len;
} sign_key_t;

typedef struct sign_dep {
    uint8_t image_id;
    molt_version_t version;
} sign_dep_t;

typedef struct sign_custom_tlv {
    uint16_t tag;
    uint8_t *value; /* malloc'd */
    size_t len;
} sign_custom_tlv_t;

/* Everything `molt sign` was asked to do, already validated. */
typedef struct sign_opts {
    const char *key_path, *in_path, *out_path;
    molt_version_t version;
    bool has_sec_cnt;
    uint32_t sec_cnt;
    uint16_t hdr_size;
    bool pad_header;
    uint32_t slot_size; /* 0: no overflow check (imgtool's rule) */
    unsigned align, max_align;
    uint32_t max_sectors;
    bool pad, confirm, overwrite_only, pure, pad_sig, non_bootable, full_pubkey;
    enum sign_sha sha;
    uint8_t erased;
    uint32_t load_addr, rom_fixed;
    sign_dep_t *deps;
    size_t ndeps;
    const char *boot_record; /* sw_type, or NULL */
    sign_custom_tlv_t *custom;
    size_t ncustom;
    bool has_vid, has_cid;
    uint8_t vid[16], cid[16];
    /* Encryption (-E): what was asked ... */
    const char *enc_path, *save_key_path;
    size_t enc_key_len; /* 16 (default) or 32 */
    bool hmac512, clear;
    /* ... and what sign_run prepared: the content key and its wrapped form. */
    uint8_t content_key[32];
    uint16_t enc_tlv_type;
    uint8_t enc_tlv[256]; /* the largest key TLV: RSA-OAEP-2048 */
    size_t enc_tlv_len;
} sign_opts_t;

/* --- sign_crypto.c --- */

/* The reason of the last OpenSSL error (never NULL); clears the error queue. */
const char *sign_ossl_error(void);

/* What kind of key this is (SIGN_KEY_OTHER for anything molt cannot use). */
enum sign_key_type sign_key_classify(EVP_PKEY *pkey);

/* Load a signing key (must be private) and classify it. */
bool sign_key_load(const char *path, sign_key_t *key);
void sign_key_free(sign_key_t *key);
const char *sign_key_type_name(enum sign_key_type type);

/* The hash imgtool would pick for this key and --sha choice; false (and one
 * line on stderr) if the combination is refused. key may be NULL (unsigned). */
bool sign_pick_sha(const sign_key_t *key, enum sign_sha user, bool pure, enum sign_sha *out);

/* Digest of data with alg into out (64 bytes room); returns the digest size. */
size_t sign_digest(enum sign_sha alg, const uint8_t *data, size_t len, uint8_t *out);

/* The signature TLV type for a key (0x20, 0x22, 0x23, 0x24). */
uint16_t sign_sig_tlv(const sign_key_t *key);

/* Sign msg (the image digest, or the whole hashed region when pure) as imgtool
 * does for this key type; the signature is appended to sig. */
bool sign_message(const sign_key_t *key, enum sign_sha alg, bool pad_sig, const uint8_t *msg,
                  size_t len, sbuf_t *sig);

/* RFC 4122 UUIDv5 of name in namespace ns (what Python's uuid.uuid5 returns). */
bool sign_uuid5(const uint8_t ns[16], const char *name, uint8_t out[16]);

/* --- sign_image.c --- */

/* Build the signed image from the raw input bytes into out (padded to the slot
 * with a trailer when asked). key may be NULL for an unsigned image. */
bool sign_build_image(const sign_opts_t *o, const sign_key_t *key, enum sign_sha alg,
                      const uint8_t *in, size_t in_len, sbuf_t *out);

#endif
