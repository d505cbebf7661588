/*
 * molt_host/keys.h - signing keys and signatures as imgtool makes them: load and
 * classify a key, pick the image hash, compute digests, sign (ECDSA, RSA-PSS,
 * Ed25519), UUIDv5 (host/keys.c, OpenSSL).
 */
#ifndef MOLT_HOST_KEYS_H
#define MOLT_HOST_KEYS_H

#include "molt_host/util.h"

#include "molt/image.h"

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
    uint8_t *pub_der; /* the bytes MCUboot hashes (host_pubkey_der), OPENSSL_free'd */
    size_t pub_len;
} sign_key_t;


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

#endif
