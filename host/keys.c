/*
 * sign_crypto.c - the OpenSSL side of `molt sign`: load and classify the
 * signing key, pick the image hash as imgtool does, compute digests, make
 * ECDSA / RSA-PSS / Ed25519 signatures, and derive UUIDv5 identifiers.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "molt_host/util.h"
#include "molt_host/keys.h"

static enum sign_key_type classify_ec(EVP_PKEY *pkey)
{
    char group[64];
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
        return SIGN_KEY_OTHER;
    if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))
        return SIGN_KEY_ECDSA_P256;
    if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384"))
        return SIGN_KEY_ECDSA_P384;
    return SIGN_KEY_OTHER;
}

enum sign_key_type sign_key_classify(EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC"))
        return classify_ec(pkey);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        return bits == 2048 ? SIGN_KEY_RSA_2048 : bits == 3072 ? SIGN_KEY_RSA_3072 : SIGN_KEY_OTHER;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519"))
        return SIGN_KEY_ED25519;
    if (EVP_PKEY_is_a(pkey, "X25519"))
        return SIGN_KEY_X25519;
    return SIGN_KEY_OTHER;
}

const char *sign_key_type_name(enum sign_key_type type)
{
    switch (type) {
    case SIGN_KEY_ECDSA_P256: return "ecdsa-p256";
    case SIGN_KEY_ECDSA_P384: return "ecdsa-p384";
    case SIGN_KEY_RSA_2048: return "rsa-2048";
    case SIGN_KEY_RSA_3072: return "rsa-3072";
    case SIGN_KEY_ED25519: return "ed25519";
    case SIGN_KEY_X25519: return "x25519";
    default: return "unsupported";
    }
}

bool sign_key_load(const char *path, sign_key_t *key)
{
    memset(key, 0, sizeof *key);
    key->pkey = host_load_key(path, &key->is_private);
    if (!key->pkey)
        return false;
    key->type = sign_key_classify(key->pkey);
    const char *why = NULL;
    if (key->type == SIGN_KEY_OTHER)
        why = "unsupported key type (want ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or ed25519)";
    else if (key->type == SIGN_KEY_X25519)
        why = "an x25519 key cannot sign";
    else if (!key->is_private)
        why = "a public key cannot sign: give the private key";
    else if (!host_pubkey_der(key->pkey, &key->pub_der, &key->pub_len))
        why = "cannot encode the public key";
    if (why) {
        host_error("%s: %s", path, why);
        sign_key_free(key);
        return false;
    }
    return true;
}

void sign_key_free(sign_key_t *key)
{
    EVP_PKEY_free(key->pkey);
    OPENSSL_free(key->pub_der);
    memset(key, 0, sizeof *key);
}

/* The hashes imgtool allows per key type; the first one is its "auto". */
static const enum sign_sha *allowed_sha(enum sign_key_type type)
{
    static const enum sign_sha p256[] = {SIGN_SHA256, 0}, p384[] = {SIGN_SHA384, 0};
    static const enum sign_sha ed[] = {SIGN_SHA256, SIGN_SHA512, 0};
    switch (type) {
    case SIGN_KEY_ECDSA_P384: return p384;
    case SIGN_KEY_ED25519: return ed;
    default: return p256; /* ECDSA P-256 and RSA */
    }
}

static bool pick_pure(const sign_key_t *key, enum sign_sha user, enum sign_sha *out)
{
    if (!key || key->type != SIGN_KEY_ED25519) {
        host_error("--pure needs an ed25519 signing key (-k)");
        return false;
    }
    if (user != SIGN_SHA_AUTO && user != SIGN_SHA512) {
        host_error("--pure always hashes with SHA-512; --sha %d is refused", (int)user);
        return false;
    }
    *out = SIGN_SHA512;
    return true;
}

bool sign_pick_sha(const sign_key_t *key, enum sign_sha user, bool pure, enum sign_sha *out)
{
    if (pure)
        return pick_pure(key, user, out);
    if (!key) {
        *out = user == SIGN_SHA_AUTO ? SIGN_SHA256 : user;
        return true;
    }
    const enum sign_sha *ok = allowed_sha(key->type);
    if (user == SIGN_SHA_AUTO) {
        *out = ok[0];
        return true;
    }
    for (size_t i = 0; ok[i]; i++) {
        if (ok[i] == user) {
            *out = user;
            return true;
        }
    }
    host_error("%s keys can not be used with --sha %d (allowed: %d%s)", sign_key_type_name(key->type),
              (int)user, (int)ok[0], ok[1] ? ", 512" : "");
    return false;
}

static const EVP_MD *sha_md(enum sign_sha alg)
{
    return alg == SIGN_SHA512 ? EVP_sha512() : alg == SIGN_SHA384 ? EVP_sha384() : EVP_sha256();
}

size_t sign_digest(enum sign_sha alg, const uint8_t *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, sha_md(alg), NULL))
        return 0;
    return n;
}

uint16_t sign_sig_tlv(const sign_key_t *key)
{
    switch (key->type) {
    case SIGN_KEY_RSA_2048: return MOLT_TLV_RSA2048_PSS;
    case SIGN_KEY_RSA_3072: return MOLT_TLV_RSA3072_PSS;
    case SIGN_KEY_ED25519: return MOLT_TLV_ED25519;
    default: return MOLT_TLV_ECDSA_SIG;
    }
}

/* RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) or ECDSA over a digest. */
static bool setup_pkey_sign(EVP_PKEY_CTX *ctx, const sign_key_t *key, enum sign_sha alg)
{
    if (EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx, sha_md(alg)) <= 0)
        return false;
    if (key->type != SIGN_KEY_RSA_2048 && key->type != SIGN_KEY_RSA_3072)
        return true;
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32) > 0;
}

static bool sign_with_pkey_ctx(const sign_key_t *key, enum sign_sha alg, const uint8_t *dgst,
                               size_t len, uint8_t *sig, size_t *siglen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    bool ok = ctx && setup_pkey_sign(ctx, key, alg) && EVP_PKEY_sign(ctx, sig, siglen, dgst, len) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Ed25519 (PureEdDSA) over msg: the digest bytes, or the whole region in --pure. */
static bool sign_ed25519(const sign_key_t *key, const uint8_t *msg, size_t len, uint8_t *sig,
                         size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    bool ok = mctx && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, key->pkey, NULL) > 0 &&
              EVP_DigestSign(mctx, sig, siglen, msg, len) > 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

bool sign_message(const sign_key_t *key, enum sign_sha alg, bool pad_sig, const uint8_t *msg,
                  size_t len, sbuf_t *sig)
{
    uint8_t out[512]; /* RSA-3072: 384 bytes; ECDSA P-384 DER: at most 104 */
    size_t n = sizeof out;
    bool ok = key->type == SIGN_KEY_ED25519 ? sign_ed25519(key, msg, len, out, &n)
                                            : sign_with_pkey_ctx(key, alg, msg, len, out, &n);
    if (!ok) {
        host_error("%s key: signing failed: %s", sign_key_type_name(key->type), host_ossl_error());
        return false;
    }
    sbuf_put(sig, out, n);
    /* imgtool --pad-sig: zero-pad ECDSA DER to 72 (P-256) or 103 (P-384) bytes. */
    size_t want = key->type == SIGN_KEY_ECDSA_P256 ? 72 : key->type == SIGN_KEY_ECDSA_P384 ? 103 : 0;
    if (pad_sig && n < want)
        sbuf_fill(sig, 0, want - n);
    return true;
}

bool sign_uuid5(const uint8_t ns[16], const char *name, uint8_t out[16])
{
    uint8_t h[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    bool ok = mctx && EVP_DigestInit_ex(mctx, EVP_sha1(), NULL) && EVP_DigestUpdate(mctx, ns, 16) &&
              EVP_DigestUpdate(mctx, name, strlen(name)) && EVP_DigestFinal_ex(mctx, h, &n);
    EVP_MD_CTX_free(mctx);
    if (!ok)
        return false;
    memcpy(out, h, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x50); /* version 5 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return true;
}
