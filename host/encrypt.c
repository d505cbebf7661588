/*
 * enc_tool.c - image encryption on the host (enc_tool.h), with OpenSSL 3.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "molt_host/util.h"
#include "molt_host/encrypt.h"
#include "molt_host/keys.h"

static const uint8_t ecies_info[16] = "MCUBoot_ECIES_v1";
static const uint8_t env_info[16] = "molt-envelope-v1";

const char *enc_key_adopt(EVP_PKEY *pkey, bool is_private, bool need_private, enc_key_t *k)
{
    memset(k, 0, sizeof *k);
    k->pkey = pkey;
    k->is_private = is_private;
    enum sign_key_type t = sign_key_classify(pkey);
    const char *why = NULL;
    if (t == SIGN_KEY_RSA_3072)
        why = "ENC_RSA2048 takes RSA-2048 keys only (or use an ecdsa-p256 or x25519 encryption key)";
    else if (t != SIGN_KEY_ECDSA_P256 && t != SIGN_KEY_X25519 && t != SIGN_KEY_RSA_2048)
        why = "not an encryption key (want ecdsa-p256, x25519 or rsa-2048)";
    else if (need_private && !is_private)
        why = "a public key cannot decrypt: give the device's private encryption key";
    if (why) {
        enc_key_free(k);
        return why;
    }
    k->x25519 = t == SIGN_KEY_X25519;
    k->rsa = t == SIGN_KEY_RSA_2048;
    return NULL;
}

bool enc_key_load(const char *path, bool need_private, enc_key_t *k)
{
    bool is_private = false;
    EVP_PKEY *pkey = host_load_key(path, &is_private);
    memset(k, 0, sizeof *k);
    if (!pkey)
        return false;
    const char *why = enc_key_adopt(pkey, is_private, need_private, k);
    if (why)
        host_error("%s: %s", path, why);
    return why == NULL;
}

bool enc_key_pkcs8(const char *path, uint8_t **der, size_t *len)
{
    bool priv = false;
    EVP_PKEY *k = host_load_key(path, &priv);
    if (k == NULL)
        return false;
    PKCS8_PRIV_KEY_INFO *p8 = priv ? EVP_PKEY2PKCS8(k) : NULL;
    unsigned char *out = NULL;
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &out) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(k);
    if (n <= 0) {
        host_error("%s: not a private key", path);
        return false;
    }
    *der = out;
    *len = (size_t)n;
    return true;
}

bool enc_image_digest(const molt_source_t *src, const molt_image_t *img, uint16_t *type, uint8_t digest[64],
                      size_t *len)
{
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    *len = 0;
    molt_tlv_iter_init(&it, src, img);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more) {
        if (!t.prot && t.type >= MOLT_TLV_SHA256 && t.type <= MOLT_TLV_SHA512 && t.len <= 64 &&
            molt_tlv_read(src, &t, digest, 64) == MOLT_OK) {
            *type = t.type;
            *len = t.len;
            return true;
        }
    }
    return false;
}

void enc_key_free(enc_key_t *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

bool enc_aes_ctr(const uint8_t *key, size_t key_len, uint8_t *buf, size_t len)
{
    static const uint8_t iv[16] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int out = 0, fin = 0;
    bool ok = c && EVP_EncryptInit_ex(c, key_len == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), NULL, key, iv);
    /* In pieces of at most 1 GiB (int lengths). */
    for (size_t done = 0; ok && done < len;) {
        int n = len - done > (1u << 30) ? (1 << 30) : (int)(len - done);
        ok = EVP_EncryptUpdate(c, buf + done, &out, buf + done, n) && out == n;
        done += (size_t)n;
    }
    ok = ok && EVP_EncryptFinal_ex(c, buf + len, &fin) && fin == 0;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static bool hkdf(const char *md, const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len,
                 uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end(),
    };
    bool ok = ctx && EVP_KDF_derive(ctx, out, out_len, p) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

static bool hmac(const char *md, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len, uint8_t *tag,
                 size_t tag_len)
{
    size_t out = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, key_len, msg, len, tag, tag_len, &out) && out == tag_len;
}

/* Fresh ephemeral key on k's curve, its public encoding, and ECDH with k. */
static bool ephemeral_agree(const enc_key_t *k, uint8_t *eph_pub, size_t *eph_len, uint8_t shared[32])
{
    EVP_PKEY *eph = k->x25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "X25519") : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY_CTX *d = eph ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
    size_t slen = 32;
    bool ok = d && EVP_PKEY_derive_init(d) == 1 && EVP_PKEY_derive_set_peer(d, k->pkey) == 1 &&
              EVP_PKEY_derive(d, shared, &slen) == 1 && slen == 32;
    if (ok && k->x25519) {
        *eph_len = 32;
        ok = EVP_PKEY_get_raw_public_key(eph, eph_pub, eph_len) == 1 && *eph_len == 32;
    } else if (ok) {
        ok = EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, eph_pub, 65, eph_len) == 1 &&
             *eph_len == 65;
    }
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(eph);
    if (!ok)
        host_error("ECDH with the encryption key failed: %s", host_ossl_error());
    return ok;
}

/* RSA-OAEP with SHA-256 for the hash and MGF1, empty label (imgtool's ENC_RSA2048). */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, bool encrypt)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = c && (encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(c);
        return NULL;
    }
    return c;
}

static bool rsa_wrap(const enc_key_t *k, const uint8_t *key, size_t key_len, uint16_t *type, uint8_t *tlv,
                     size_t *tlv_len)
{
    EVP_PKEY_CTX *c = oaep_ctx(k->pkey, true);
    size_t out = 256;
    bool ok = c && EVP_PKEY_encrypt(c, tlv, &out, key, key_len) == 1 && out == 256;
    EVP_PKEY_CTX_free(c);
    if (!ok)
        return host_error("cannot wrap the content key (RSA-OAEP): %s", host_ossl_error()), false;
    *type = MOLT_TLV_ENC_RSA2048;
    *tlv_len = out;
    return true;
}

molt_err_t enc_host_rsa_unwrap(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                               size_t *key_len)
{
    const enc_key_t *k = ctx;
    uint8_t out[256];
    size_t n = sizeof out;
    *key_len = 0;
    if (!k->rsa)
        return MOLT_E_ENC_ALG;
    EVP_PKEY_CTX *c = oaep_ctx(k->pkey, false);
    bool ok = c && EVP_PKEY_decrypt(c, out, &n, wrapped, len) == 1;
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    if (ok && n > key_max)
        ok = false;
    if (ok) {
        memcpy(key, out, n);
        *key_len = n;
    }
    OPENSSL_cleanse(out, sizeof out);
    return ok ? MOLT_OK : MOLT_E_ENC_UNWRAP;
}

bool enc_wrap_tlv(const enc_key_t *k, bool sha512, const uint8_t *key, size_t key_len, uint16_t *type,
                  uint8_t *tlv, size_t *tlv_len)
{
    if (k->rsa)
        return rsa_wrap(k, key, key_len, type, tlv, tlv_len);
    uint8_t shared[32], okm[32 + 64];
    size_t eph_len = 0, tag_len = sha512 ? 64 : 32;
    const char *md = sha512 ? "SHA512" : "SHA256";
    if (!ephemeral_agree(k, tlv, &eph_len, shared))
        return false;
    uint8_t *tag = tlv + eph_len, *enc = tag + tag_len;
    memcpy(enc, key, key_len);
    bool ok = hkdf(md, shared, 32, ecies_info, sizeof ecies_info, okm, key_len + tag_len) &&
              enc_aes_ctr(okm, key_len, enc, key_len) && hmac(md, okm + key_len, tag_len, enc, key_len, tag, tag_len);
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(okm, sizeof okm);
    if (!ok)
        return host_error("cannot wrap the content key: %s", host_ossl_error()), false;
    *type = !k->x25519 ? MOLT_TLV_ENC_EC256 : sha512 ? MOLT_TLV_ENC_X25519_SHA512 : MOLT_TLV_ENC_X25519;
    *tlv_len = eph_len + tag_len + key_len;
    return true;
}

bool enc_make_envelope(const enc_key_t *k, const uint8_t *key, size_t key_len, uint16_t hash_tlv,
                       const uint8_t *digest, size_t digest_len, uint8_t *env, size_t *env_len)
{
    if (k->rsa)
        return host_error("envelopes are ECC-only: give the device's ecdsa-p256 or x25519 key"), false;
    uint8_t shared[32], okm[32 + 32], info[16 + MOLT_ENV_HDR + 64];
    size_t eph_len = 0, p = MOLT_ENV_HDR + digest_len;
    memcpy(env, "MENV", 4);
    env[4] = MOLT_ENV_VERSION;
    env[5] = k->x25519 ? MOLT_TLV_ENC_X25519 : MOLT_TLV_ENC_EC256;
    env[6] = (uint8_t)key_len;
    env[7] = (uint8_t)hash_tlv;
    memcpy(env + MOLT_ENV_HDR, digest, digest_len);
    if (!ephemeral_agree(k, env + p, &eph_len, shared))
        return false;
    p += eph_len;
    memcpy(info, env_info, 16);
    memcpy(info + 16, env, MOLT_ENV_HDR + digest_len);
    memcpy(env + p, key, key_len);
    bool ok = hkdf("SHA256", shared, 32, info, 16 + MOLT_ENV_HDR + digest_len, okm, key_len + 32) &&
              enc_aes_ctr(okm, key_len, env + p, key_len) &&
              hmac("SHA256", okm + key_len, 32, env, p + key_len, env + p + key_len, 32);
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(okm, sizeof okm);
    if (!ok)
        return host_error("cannot seal the envelope: %s", host_ossl_error()), false;
    *env_len = p + key_len + 32;
    return true;
}

molt_err_t enc_host_ecdh(void *ctx, uint16_t scheme, const uint8_t *peer, size_t len, uint8_t shared[32])
{
    const enc_key_t *k = ctx;
    bool want_x = scheme == MOLT_TLV_ENC_X25519 || scheme == MOLT_TLV_ENC_X25519_SHA512;
    if ((scheme != MOLT_TLV_ENC_EC256 && !want_x) || k->rsa)
        return MOLT_E_ENC_ALG;
    if (want_x != k->x25519)
        return MOLT_E_ENC_ALG;
    EVP_PKEY *pp = NULL;
    if (k->x25519) {
        pp = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, len);
    } else {
        EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)peer, len),
            OSSL_PARAM_construct_end(),
        };
        if (!fc || EVP_PKEY_fromdata_init(fc) != 1 || EVP_PKEY_fromdata(fc, &pp, EVP_PKEY_PUBLIC_KEY, p) != 1)
            pp = NULL;
        EVP_PKEY_CTX_free(fc);
    }
    EVP_PKEY_CTX *d = pp ? EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL) : NULL;
    size_t slen = 32;
    bool ok = d && EVP_PKEY_derive_init(d) == 1 && EVP_PKEY_derive_set_peer(d, pp) == 1 &&
              EVP_PKEY_derive(d, shared, &slen) == 1 && slen == 32;
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(pp);
    ERR_clear_error();
    if (!ok)
        memset(shared, 0, 32);
    return ok ? MOLT_OK : MOLT_E_ENC_UNWRAP; /* an invalid peer point */
}
