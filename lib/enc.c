/*
 * enc.c - encrypted images (molt/enc.h): ECIES and RSA-OAEP key unwrap as imgtool makes it,
 * AES-CTR at any payload offset, and per-device envelopes.
 *
 * Crypto is PSA (HKDF, HMAC, AES-ECB for the CTR keystream); the ECDH and the
 * RSA-OAEP decryption themselves are the port's key store's (molt_decrypt_t.ecdh,
 * .rsa_unwrap), so the device's private key never reaches this code. Every
 * secret on the stack is wiped before returning.
 */
#include <string.h>

#include <psa/crypto.h>

#include "crypto.h"
#include "molt/enc.h"
#include "molt/verify.h"

#define CTR_BLOCKS 16u /* keystream blocks per backend call */
static const uint8_t ecies_info[16] = {'M', 'C', 'U', 'B', 'o', 'o', 't', '_', 'E', 'C', 'I', 'E', 'S', '_', 'v', '1'};
static const uint8_t env_info[16] = {'m', 'o', 'l', 't', '-', 'e', 'n', 'v', 'e', 'l', 'o', 'p', 'e', '-', 'v', '1'};
static const uint8_t env_magic[4] = {'M', 'E', 'N', 'V'};

size_t molt_enc_key_len(uint32_t flags)
{
    switch (flags & MOLT_IMAGE_F_ENCRYPTED) {
    case MOLT_IMAGE_F_ENCRYPTED_AES128: return 16;
    case MOLT_IMAGE_F_ENCRYPTED_AES256: return 32;
    default: return 0;
    }
}

size_t molt_enc_tlv_len(uint16_t type, size_t key_len)
{
    switch (type) {
    case MOLT_TLV_ENC_RSA2048: return 256;
    case MOLT_TLV_ENC_KW: return key_len + 8;
    case MOLT_TLV_ENC_EC256: return 65 + 32 + key_len;
    case MOLT_TLV_ENC_X25519: return 32 + 32 + key_len;
    case MOLT_TLV_ENC_X25519_SHA512: return 32 + 64 + key_len;
    default: return 0;
    }
}

static psa_algorithm_t psa_hash_of_tlv(uint16_t hash_tlv)
{
    switch (hash_tlv) {
    case MOLT_TLV_SHA256: return PSA_ALG_SHA_256;
    case MOLT_TLV_SHA384: return PSA_ALG_SHA_384;
    case MOLT_TLV_SHA512: return PSA_ALG_SHA_512;
    default: return 0;
    }
}

static size_t digest_len_of_tlv(uint16_t hash_tlv)
{
    return hash_tlv == MOLT_TLV_SHA256 ? 32 : hash_tlv == MOLT_TLV_SHA384 ? 48 : hash_tlv == MOLT_TLV_SHA512 ? 64 : 0;
}

molt_err_t molt_enc_hkdf(uint16_t hash_tlv, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
                         size_t info_len, uint8_t *out, size_t out_len)
{
    psa_key_derivation_operation_t op = PSA_KEY_DERIVATION_OPERATION_INIT;
    psa_algorithm_t h = psa_hash_of_tlv(hash_tlv);
    if (h == 0 || molt_crypto_init() != MOLT_OK)
        return MOLT_E_ARG;
    psa_status_t st = psa_key_derivation_setup(&op, PSA_ALG_HKDF(h));
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_SECRET, ikm, ikm_len);
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_INFO, info, info_len);
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_output_bytes(&op, out, out_len);
    (void)psa_key_derivation_abort(&op);
    return st == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_enc_hmac(uint16_t hash_tlv, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                         uint8_t *tag, size_t tag_len)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    psa_algorithm_t h = psa_hash_of_tlv(hash_tlv);
    size_t olen = 0;
    if (h == 0 || tag_len != PSA_HASH_LENGTH(h) || molt_crypto_init() != MOLT_OK)
        return MOLT_E_ARG;
    psa_set_key_type(&attr, PSA_KEY_TYPE_HMAC);
    psa_set_key_bits(&attr, PSA_BYTES_TO_BITS(key_len));
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_SIGN_MESSAGE);
    psa_set_key_algorithm(&attr, PSA_ALG_HMAC(h));
    if (psa_import_key(&attr, key, key_len, &id) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    psa_status_t st = psa_mac_compute(id, PSA_ALG_HMAC(h), msg, len, tag, tag_len, &olen);
    (void)psa_destroy_key(id);
    return st == PSA_SUCCESS && olen == tag_len ? MOLT_OK : MOLT_E_CRYPTO;
}

/* ---- AES-CTR: keystream = AES-ECB(key, 128-bit big-endian block index) ---- */

molt_err_t molt_ctr_start(molt_ctr_t *c, const uint8_t *key, size_t key_len)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    c->key_id = 0;
    if (key_len != 16 && key_len != 32)
        return MOLT_E_ARG;
    if (molt_crypto_init() != MOLT_OK)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&attr, PSA_BYTES_TO_BITS(key_len));
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT); /* no EXPORT: the key stays in the backend */
    psa_set_key_algorithm(&attr, PSA_ALG_ECB_NO_PADDING);
    if (psa_import_key(&attr, key, key_len, &id) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    c->key_id = id;
    return MOLT_OK;
}

molt_err_t molt_ctr_xor(molt_ctr_t *c, uint32_t off, uint8_t *buf, size_t len)
{
    uint8_t ctr[CTR_BLOCKS * 16], ks[CTR_BLOCKS * 16];
    if (c->key_id == 0)
        return MOLT_E_ARG;
    uint64_t block = off / 16u;
    size_t skip = off % 16u, done = 0;
    while (done < len) {
        size_t want = skip + (len - done), nblk = (want + 15) / 16, olen = 0;
        if (nblk > CTR_BLOCKS)
            nblk = CTR_BLOCKS;
        memset(ctr, 0, nblk * 16);
        for (size_t b = 0; b < nblk; b++) {
            uint64_t v = block + b;
            for (int i = 0; i < 8; i++)
                ctr[b * 16 + 15 - i] = (uint8_t)(v >> (8 * i));
        }
        if (psa_cipher_encrypt((psa_key_id_t)c->key_id, PSA_ALG_ECB_NO_PADDING, ctr, nblk * 16, ks, sizeof ks,
                               &olen) != PSA_SUCCESS ||
            olen != nblk * 16) {
            molt_wipe(ks, sizeof ks);
            return MOLT_E_CRYPTO;
        }
        size_t n = nblk * 16 - skip;
        if (n > len - done)
            n = len - done;
        for (size_t i = 0; i < n; i++)
            buf[done + i] ^= ks[skip + i];
        done += n;
        block += nblk;
        skip = 0;
    }
    molt_wipe(ks, sizeof ks);
    return MOLT_OK;
}

void molt_ctr_end(molt_ctr_t *c)
{
    if (c->key_id != 0)
        (void)psa_destroy_key((psa_key_id_t)c->key_id);
    c->key_id = 0;
}

/* ---- ECIES ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* ECDH through the key store; refuses an all-zero secret (small-order X25519 point). */
static molt_err_t key_agree(const molt_decrypt_t *dec, uint16_t scheme, const uint8_t *peer, size_t len,
                            uint8_t shared[32])
{
    if (!dec || !dec->ecdh)
        return dec && dec->rsa_unwrap ? MOLT_E_ENC_ALG : MOLT_E_ENC_NO_KEY;
    molt_err_t err = dec->ecdh(dec->ctx, scheme, peer, len, shared);
    if (err == MOLT_OK && all_zero(shared, 32))
        err = MOLT_E_ENC_UNWRAP;
    if (err != MOLT_OK)
        molt_wipe(shared, 32);
    return err;
}

/* KEK || MAC key from a shared secret; decrypt enc_key after checking tag. */
static molt_err_t open_wrapped(uint16_t hash_tlv, const uint8_t shared[32], const uint8_t *info, size_t info_len,
                               const uint8_t *mac_msg, size_t mac_len, const uint8_t *tag, size_t tag_len,
                               const uint8_t *enc_key, size_t key_len, uint8_t key[MOLT_ENC_KEY_MAX])
{
    uint8_t okm[MOLT_ENC_KEY_MAX + 64], mac[64];
    molt_ctr_t c;
    molt_err_t err = molt_enc_hkdf(hash_tlv, shared, 32, info, info_len, okm, key_len + tag_len);
    if (err == MOLT_OK)
        err = molt_enc_hmac(hash_tlv, okm + key_len, tag_len, mac_msg, mac_len, mac, tag_len);
    if (err == MOLT_OK && !molt_ct_equal(mac, tag, tag_len))
        err = MOLT_E_ENC_UNWRAP;
    if (err == MOLT_OK) {
        memcpy(key, enc_key, key_len);
        if ((err = molt_ctr_start(&c, okm, key_len)) == MOLT_OK) {
            err = molt_ctr_xor(&c, 0, key, key_len);
            molt_ctr_end(&c);
        }
        if (err != MOLT_OK)
            molt_wipe(key, key_len);
    }
    molt_wipe(okm, sizeof okm);
    return err;
}

/* RSA-OAEP: the whole private-key operation is the key store's; libmolt only
 * checks that what comes back has the image's key length. */
static molt_err_t rsa_unwrap(const molt_decrypt_t *dec, const uint8_t *tlv, size_t tlv_len, size_t key_len,
                             uint8_t key[MOLT_ENC_KEY_MAX])
{
    size_t got = 0;
    molt_err_t err;

    if ((key_len != 16 && key_len != 32) || tlv_len != molt_enc_tlv_len(MOLT_TLV_ENC_RSA2048, key_len))
        return MOLT_E_ENC_TLV;
    if (!dec || !dec->rsa_unwrap)
        return dec && dec->ecdh ? MOLT_E_ENC_ALG : MOLT_E_ENC_NO_KEY;
    err = dec->rsa_unwrap(dec->ctx, tlv, tlv_len, key, MOLT_ENC_KEY_MAX, &got);
    if (err == MOLT_OK && got != key_len)
        err = MOLT_E_ENC_UNWRAP; /* decrypts, but not to a key of this image's size */
    if (err != MOLT_OK)
        molt_wipe(key, MOLT_ENC_KEY_MAX);
    return err;
}

molt_err_t molt_enc_unwrap(const molt_decrypt_t *dec, uint16_t type, const uint8_t *tlv, size_t tlv_len,
                           size_t key_len, uint8_t key[MOLT_ENC_KEY_MAX])
{
    uint8_t shared[32];
    size_t eph, tag;
    uint16_t h;
    molt_err_t err;

    switch (type) {
    case MOLT_TLV_ENC_RSA2048: return rsa_unwrap(dec, tlv, tlv_len, key_len, key);
    case MOLT_TLV_ENC_EC256: eph = 65; tag = 32; h = MOLT_TLV_SHA256; break;
    case MOLT_TLV_ENC_X25519: eph = 32; tag = 32; h = MOLT_TLV_SHA256; break;
    case MOLT_TLV_ENC_X25519_SHA512: eph = 32; tag = 64; h = MOLT_TLV_SHA512; break;
    default: return MOLT_E_ENC_ALG;
    }
    if ((key_len != 16 && key_len != 32) || tlv_len != eph + tag + key_len)
        return MOLT_E_ENC_TLV;
    if ((err = key_agree(dec, type, tlv, eph, shared)) != MOLT_OK)
        return err;
    const uint8_t *enc_key = tlv + eph + tag;
    err = open_wrapped(h, shared, ecies_info, sizeof ecies_info, enc_key, key_len, tlv + eph, tag, enc_key, key_len,
                       key);
    molt_wipe(shared, sizeof shared);
    return err;
}

/* ---- envelopes ----
 * [0..3] "MENV"  [4] version 1  [5] scheme (0x32 P-256, 0x33 X25519)  [6] key_len
 * [7] hash TLV type of the image  | digest | ephemeral public key | encrypted key | tag
 * HKDF-SHA-256(shared, info = "molt-envelope-v1" || header || digest), L = key_len + 32;
 * tag = HMAC-SHA-256(MAC key, everything before the tag). */

static size_t eph_len(uint16_t scheme)
{
    return scheme == MOLT_TLV_ENC_EC256 ? 65 : scheme == MOLT_TLV_ENC_X25519 ? 32 : 0;
}

size_t molt_envelope_size(uint16_t scheme, size_t key_len, size_t digest_len)
{
    if (eph_len(scheme) == 0 || (key_len != 16 && key_len != 32) ||
        (digest_len != 32 && digest_len != 48 && digest_len != 64))
        return 0;
    return MOLT_ENV_HDR + digest_len + eph_len(scheme) + key_len + MOLT_ENV_TAG;
}

molt_err_t molt_envelope_open(const molt_decrypt_t *dec, const uint8_t *env, size_t env_len, uint16_t hash_tlv,
                              const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                              size_t *key_len)
{
    uint8_t info[sizeof env_info + MOLT_ENV_HDR + 64], shared[32];
    molt_err_t err;

    if (!env || !digest || !key || !key_len)
        return MOLT_E_ARG;
    if (env_len < MOLT_ENV_HDR || memcmp(env, env_magic, 4) != 0 || env[4] != MOLT_ENV_VERSION)
        return MOLT_E_ENV_FORMAT;
    uint16_t scheme = env[5];
    size_t klen = env[6], dlen = digest_len_of_tlv(env[7]);
    if (molt_envelope_size(scheme, klen, dlen) != env_len)
        return MOLT_E_ENV_FORMAT;
    /* Bound to one image: its hash TLV type and value. */
    if (env[7] != hash_tlv || dlen != digest_len || !molt_ct_equal(env + MOLT_ENV_HDR, digest, dlen))
        return MOLT_E_ENV_IMAGE;
    const uint8_t *eph = env + MOLT_ENV_HDR + dlen;
    const uint8_t *enc_key = eph + eph_len(scheme);
    const uint8_t *tag = enc_key + klen;
    if ((err = key_agree(dec, scheme, eph, eph_len(scheme), shared)) != MOLT_OK)
        return err == MOLT_E_ENC_UNWRAP ? MOLT_E_ENV_AUTH : err;
    memcpy(info, env_info, sizeof env_info);
    memcpy(info + sizeof env_info, env, MOLT_ENV_HDR + dlen);
    err = open_wrapped(MOLT_TLV_SHA256, shared, info, sizeof env_info + MOLT_ENV_HDR + dlen, env,
                       (size_t)(tag - env), tag, MOLT_ENV_TAG, enc_key, klen, key);
    molt_wipe(shared, sizeof shared);
    if (err == MOLT_E_ENC_UNWRAP)
        return MOLT_E_ENV_AUTH;
    if (err == MOLT_OK)
        *key_len = klen;
    return err;
}

molt_err_t molt_enc_kcv(const uint8_t *key, size_t key_len, uint8_t kcv[MOLT_ENC_KCV_LEN])
{
    static const char label[] = "molt-kcv-v1";
    uint8_t d[32];
    size_t dlen = 0;
    molt_hash_ctx_t h;
    molt_err_t err;

    if ((err = molt_crypto_init()) != MOLT_OK || (err = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return err;
    if ((err = molt_hash_update(&h, label, sizeof label - 1u)) != MOLT_OK ||
        (err = molt_hash_update(&h, key, key_len)) != MOLT_OK) {
        molt_hash_abort(&h);
        return err;
    }
    if ((err = molt_hash_finish(&h, d, sizeof d, &dlen)) != MOLT_OK)
        return err;
    memcpy(kcv, d, MOLT_ENC_KCV_LEN);
    molt_wipe(d, sizeof d);
    return MOLT_OK;
}

/* ---- the image's content key ---- */

molt_err_t molt_enc_content_key(const molt_source_t *src, const molt_image_t *img, const molt_decrypt_t *dec,
                                const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                                size_t *key_len)
{
    uint8_t v[256]; /* the largest key TLV: RSA-OAEP-2048 */
    molt_tlv_iter_t it;
    molt_tlv_t t, enc = {0}, hash = {0};
    bool more, have_enc = false, have_hash = false;
    molt_err_t err;
    size_t klen = molt_enc_key_len(img->flags);

    if (!src || !img || !key || !key_len)
        return MOLT_E_ARG;
    if (klen == 0)
        return MOLT_E_FLAGS;
    if (!dec)
        return MOLT_E_ENC_NO_KEY;
    molt_tlv_iter_init(&it, src, img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (t.prot)
            continue;
        if (t.type >= MOLT_TLV_ENC_RSA2048 && t.type <= MOLT_TLV_ENC_X25519_SHA512) {
            if (have_enc)
                return MOLT_E_TLV_DUPLICATE;
            enc = t;
            have_enc = true;
        } else if (t.type >= MOLT_TLV_SHA256 && t.type <= MOLT_TLV_SHA512 && !have_hash) {
            hash = t;
            have_hash = true;
        }
    }
    if (err != MOLT_OK)
        return err;
    if (dec->envelope) {
        if (!have_hash || !digest)
            return MOLT_E_HASH_MISSING;
        err = molt_envelope_open(dec, dec->envelope, dec->envelope_len, hash.type, digest, digest_len, key, key_len);
        if (err == MOLT_OK && *key_len != klen) {
            molt_wipe(key, MOLT_ENC_KEY_MAX);
            err = MOLT_E_ENV_IMAGE; /* an envelope for a key of another size cannot be this image's */
        }
        return err;
    }
    if (!have_enc || enc.len != molt_enc_tlv_len(enc.type, klen))
        return MOLT_E_ENC_TLV;
    if (enc.type == MOLT_TLV_ENC_KW)
        return MOLT_E_ENC_ALG; /* AES key wrap with a shared device KEK: not supported */
    if ((err = molt_tlv_read(src, &enc, v, sizeof v)) != MOLT_OK)
        return err;
    err = molt_enc_unwrap(dec, enc.type, v, enc.len, klen, key);
    molt_wipe(v, sizeof v);
    if (err == MOLT_OK)
        *key_len = klen;
    return err;
}
