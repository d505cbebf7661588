/*
 * verify.c - the one place where an image is judged (molt/verify.h).
 *
 * Pass 1 collects the unprotected TLVs that matter (hash, SIG_PURE, key
 * encryption) and checks flags; then the hash is computed over the hashed region
 * and compared; pass 2 walks key and signature TLVs in order, pairing each
 * signature with the key TLV just before it. Policy (rollback floor, downgrade)
 * comes last. Acceptance is recorded twice, in complementary encodings, and
 * re-checked before returning.
 */
#include <string.h>

#include "crypto.h"
#include "enc_ops.h"
#include "molt/verify.h"

#define CHUNK 256u
#define KEY_NONE (-1)
#define KEY_UNTRUSTED (-2)
#define SIG_MAX 512u   /* RSA-3072 is 384 bytes; ECDSA-P384 DER about 104 */
#define PUBKEY_MAX 512u /* RSA-3072 PKCS#1 is 398 bytes */

/* Acceptance markers: a glitched branch must produce both, not just one. */
#define ACCEPT_A 0x5a3cu
#define ACCEPT_B 0xa5c3u

void molt_policy_default(molt_policy_t *pol)
{
    memset(pol, 0, sizeof *pol);
    pol->allowed_hash = MOLT_HASH_SHA256 | MOLT_HASH_SHA384 | MOLT_HASH_SHA512;
    pol->allowed_sig = MOLT_SIG_ALL;
    pol->require_signature = true;
    pol->role = MOLT_ROLE_UPLOAD;
}

size_t molt_hash_size(uint32_t alg)
{
    switch (alg) {
    case MOLT_HASH_SHA256: return 32;
    case MOLT_HASH_SHA384: return 48;
    case MOLT_HASH_SHA512: return 64;
    default: return 0;
    }
}

static uint32_t hash_alg_of_tlv(uint16_t type)
{
    switch (type) {
    case MOLT_TLV_SHA256: return MOLT_HASH_SHA256;
    case MOLT_TLV_SHA384: return MOLT_HASH_SHA384;
    case MOLT_TLV_SHA512: return MOLT_HASH_SHA512;
    default: return 0;
    }
}

static bool is_sig_tlv(uint16_t type)
{
    return type == MOLT_TLV_ECDSA_SIG || type == MOLT_TLV_ED25519 || type == MOLT_TLV_RSA2048_PSS ||
           type == MOLT_TLV_RSA3072_PSS || type == MOLT_TLV_ECDSA224;
}

static bool is_enc_tlv(uint16_t type)
{
    return type >= MOLT_TLV_ENC_RSA2048 && type <= MOLT_TLV_ENC_X25519_SHA512;
}

molt_err_t molt_key_hash(const molt_key_t *key, uint32_t alg, uint8_t *out, size_t *out_len)
{
    molt_hash_ctx_t h;
    molt_err_t err;
    if (!key || !key->der || !out || !out_len)
        return MOLT_E_ARG;
    if ((err = molt_crypto_init()) != MOLT_OK || (err = molt_hash_start(&h, alg)) != MOLT_OK)
        return err;
    if ((err = molt_hash_update(&h, key->der, key->der_len)) != MOLT_OK) {
        molt_hash_abort(&h);
        return err;
    }
    return molt_hash_finish(&h, out, MOLT_HASH_MAX_SIZE, out_len);
}

/* What pass 1 learns about the unprotected area. */
typedef struct {
    molt_tlv_t hash;
    bool have_hash;
    bool pure;
    molt_tlv_t enc;
    bool have_enc;
} tlv_summary_t;

static molt_err_t summarize(const molt_source_t *src, const molt_image_t *img, tlv_summary_t *s)
{
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    molt_err_t err;

    memset(s, 0, sizeof *s);
    molt_tlv_iter_init(&it, src, img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (t.prot)
            continue;
        if (hash_alg_of_tlv(t.type)) {
            if (s->have_hash)
                return MOLT_E_TLV_DUPLICATE;
            s->hash = t;
            s->have_hash = true;
        } else if (t.type == MOLT_TLV_SIG_PURE) {
            uint8_t v;
            if (s->pure)
                return MOLT_E_TLV_DUPLICATE;
            if (t.len != 1)
                return MOLT_E_TLV_LENGTH;
            if ((err = molt_tlv_read(src, &t, &v, 1)) != MOLT_OK)
                return err;
            if (v != 1)
                return MOLT_E_TLV_LENGTH;
            s->pure = true;
        } else if (is_enc_tlv(t.type)) {
            if (s->have_enc)
                return MOLT_E_TLV_DUPLICATE;
            s->enc = t;
            s->have_enc = true;
        }
    }
    return err;
}

static molt_err_t check_flags(const molt_image_t *img, const tlv_summary_t *s, const molt_policy_t *pol,
                              const molt_enc_ops_t *ops)
{
    const uint32_t unsupported = MOLT_IMAGE_F_PIC | MOLT_IMAGE_F_COMPRESSED_LZMA1 | MOLT_IMAGE_F_COMPRESSED_LZMA2 |
                                 MOLT_IMAGE_F_COMPRESSED_ARM_THUMB;
    uint32_t enc = img->flags & MOLT_IMAGE_F_ENCRYPTED;

    if (img->flags & unsupported)
        return MOLT_E_FLAGS;
    if (enc == MOLT_IMAGE_F_ENCRYPTED)
        return MOLT_E_FLAGS; /* both AES-128 and AES-256 */
    if (enc == 0)
        return pol->require_encryption ? MOLT_E_ENC_REQUIRED : MOLT_OK;
    size_t key_len = molt_enc_key_len(img->flags);
    if (!s->have_enc || s->enc.len != molt_enc_tlv_len(s->enc.type, key_len))
        return MOLT_E_ENC_TLV;
    /* An upload's payload is ciphertext: it is decrypted before hashing, which
     * needs the device's decryption key and the decryption code (ops: NULL in a
     * build without it). Installed images (and --clear factory images) are
     * hashed as stored. */
    if (pol->role == MOLT_ROLE_UPLOAD && (pol->dec == NULL || ops == NULL))
        return MOLT_E_ENC_NO_KEY;
    return MOLT_OK;
}

/* The payload's decryption while it is hashed: ctr over [start, end) of the source. */
typedef struct {
    molt_ctr_t *ctr; /* NULL: hashed as stored */
    const molt_enc_ops_t *ops; /* with ctr */
    uint32_t start, end;
} decrypt_view_t;

/* Feed [0, end) of src to a hash and, if pure is non-NULL, to PureEdDSA; the part
 * of it inside dv's payload is decrypted first (it never leaves this buffer). */
static molt_err_t hash_region(const molt_source_t *src, uint32_t end, molt_hash_ctx_t *h,
                              molt_ed25519_stream_t *pure, const decrypt_view_t *dv)
{
    uint8_t buf[CHUNK];
    for (uint32_t off = 0; off < end;) {
        size_t n = end - off < CHUNK ? end - off : CHUNK;
        molt_err_t err = src->read(src->ctx, off, buf, n);
        if (err == MOLT_OK && dv && dv->ctr && off + n > dv->start && off < dv->end) {
            uint32_t a = off > dv->start ? off : dv->start;
            uint32_t b = off + (uint32_t)n < dv->end ? off + (uint32_t)n : dv->end;
            err = dv->ops->ctr_xor(dv->ctr, a - dv->start, buf + (a - off), b - a);
        }
        if (err == MOLT_OK && h)
            err = molt_hash_update(h, buf, n);
        if (err == MOLT_OK && pure)
            err = molt_ed25519_stream_update(pure, buf, n);
        if (err != MOLT_OK) {
            molt_wipe(buf, sizeof buf);
            return err;
        }
        off += (uint32_t)n;
    }
    molt_wipe(buf, sizeof buf);
    return MOLT_OK;
}

static molt_err_t compute_hash(const molt_source_t *src, const molt_image_t *img, const molt_policy_t *pol,
                               molt_verify_result_t *r, const decrypt_view_t *dv)
{
    molt_hash_ctx_t h;
    molt_err_t err;

    if (pol->digest != NULL && pol->digest_alg == r->hash_alg && !r->decrypted) {
        /* Hashed by the caller as it wrote the region (molt/fwu.h). Never for an
         * encrypted upload: the caller hashed ciphertext, the hash TLV covers
         * the plaintext. */
        r->hash_len = molt_hash_size(r->hash_alg);
        memcpy(r->hash, pol->digest, r->hash_len);
        return MOLT_OK;
    }
    if ((err = molt_hash_start(&h, r->hash_alg)) != MOLT_OK)
        return err;
    if ((err = hash_region(src, img->unprot_off, &h, NULL, dv)) != MOLT_OK) {
        molt_hash_abort(&h);
        return err;
    }
    return molt_hash_finish(&h, r->hash, sizeof r->hash, &r->hash_len);
}

/* Index of the trusted key a KEYHASH or PUBKEY TLV names, or KEY_UNTRUSTED. */
static molt_err_t find_key(const molt_source_t *src, const molt_tlv_t *t, const molt_keyring_t *keys,
                           uint32_t hash_alg, int *index)
{
    uint8_t v[PUBKEY_MAX], kh[MOLT_HASH_MAX_SIZE];
    size_t hlen = molt_hash_size(hash_alg), kh_len;
    molt_err_t err;

    *index = KEY_UNTRUSTED;
    if (t->type == MOLT_TLV_KEYHASH && t->len != hlen)
        return MOLT_E_TLV_LENGTH; /* exact length: never a prefix match */
    if (t->len > sizeof v)
        return t->type == MOLT_TLV_PUBKEY ? MOLT_OK : MOLT_E_TLV_LENGTH; /* no key is that long */
    if ((err = molt_tlv_read(src, t, v, sizeof v)) != MOLT_OK)
        return err;
    for (size_t i = 0; keys && i < keys->count; i++) {
        const molt_key_t *k = &keys->keys[i];
        if (t->type == MOLT_TLV_PUBKEY) {
            if (k->der_len == t->len && molt_ct_equal(k->der, v, t->len))
                *index = (int)i;
        } else {
            if ((err = molt_key_hash(k, hash_alg, kh, &kh_len)) != MOLT_OK)
                return err;
            if (molt_ct_equal(kh, v, hlen))
                *index = (int)i;
        }
        if (*index >= 0)
            break;
    }
    return MOLT_OK;
}

/* Which MOLT_SIG_* a signature TLV is, given the key and hash; 0 if they don't fit. */
static uint32_t sig_alg_for(uint16_t type, molt_key_type_t key, uint32_t hash_alg, bool pure)
{
    switch (type) {
    case MOLT_TLV_ECDSA_SIG:
        if (pure)
            return 0;
        if (key == MOLT_KEY_P256 && hash_alg == MOLT_HASH_SHA256)
            return MOLT_SIG_ECDSA_P256;
        if (key == MOLT_KEY_P384 && hash_alg == MOLT_HASH_SHA384)
            return MOLT_SIG_ECDSA_P384;
        return 0;
    case MOLT_TLV_RSA2048_PSS:
        return (!pure && key == MOLT_KEY_RSA2048 && hash_alg == MOLT_HASH_SHA256) ? MOLT_SIG_RSA2048_PSS : 0;
    case MOLT_TLV_RSA3072_PSS:
        return (!pure && key == MOLT_KEY_RSA3072 && hash_alg == MOLT_HASH_SHA256) ? MOLT_SIG_RSA3072_PSS : 0;
    case MOLT_TLV_ED25519:
        if (key != MOLT_KEY_ED25519)
            return 0;
        if (pure)
            return hash_alg == MOLT_HASH_SHA512 ? MOLT_SIG_ED25519_PURE : 0;
        return (hash_alg == MOLT_HASH_SHA256 || hash_alg == MOLT_HASH_SHA512) ? MOLT_SIG_ED25519 : 0;
    default:
        return 0;
    }
}

static molt_err_t check_signature(const molt_source_t *src, const molt_image_t *img, const molt_tlv_t *t,
                                  const molt_key_t *key, const molt_policy_t *pol, bool pure,
                                  molt_verify_result_t *r, const decrypt_view_t *dv)
{
    uint8_t sig[SIG_MAX];
    molt_pubkey_t pk;
    molt_err_t err;

    if ((err = molt_der_parse_pubkey(key->der, key->der_len, &pk)) != MOLT_OK)
        return err;
    uint32_t alg = sig_alg_for(t->type, pk.type, r->hash_alg, pure);
    if (alg == 0 || !(pol->allowed_sig & alg))
        return MOLT_E_SIG_ALG;
    if (t->len > sizeof sig)
        return MOLT_E_TLV_LENGTH;
    if ((err = molt_tlv_read(src, t, sig, sizeof sig)) != MOLT_OK)
        return err;
    if (alg == MOLT_SIG_ED25519_PURE) {
        molt_ed25519_stream_t s;
        if (t->len != 64)
            return MOLT_E_TLV_LENGTH;
        if ((err = molt_ed25519_stream_start(&s, sig, pk.pub)) != MOLT_OK ||
            (err = hash_region(src, img->unprot_off, NULL, &s, dv)) != MOLT_OK)
            return err;
        err = molt_ed25519_stream_finish(&s, sig, pk.pub);
    } else {
        err = molt_sig_verify_digest(&pk, r->hash_alg, r->hash, r->hash_len, sig, t->len);
    }
    if (err == MOLT_OK)
        r->sig_alg = alg;
    return err;
}

/* Pass 2: every signature follows its key TLV; every trusted one must verify. */
static molt_err_t check_signatures(const molt_source_t *src, const molt_image_t *img, const molt_keyring_t *keys,
                                   const molt_policy_t *pol, bool pure, molt_verify_result_t *r,
                                   const decrypt_view_t *dv, unsigned *accept, bool *saw_untrusted)
{
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    int pending = KEY_NONE;
    molt_err_t err;

    molt_tlv_iter_init(&it, src, img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (t.prot)
            continue;
        if (t.type == MOLT_TLV_KEYHASH || t.type == MOLT_TLV_PUBKEY) {
            if ((err = find_key(src, &t, keys, r->hash_alg, &pending)) != MOLT_OK)
                return err;
        } else if (is_sig_tlv(t.type)) {
            if (pending == KEY_NONE)
                return MOLT_E_SIG_NO_KEY;
            if (pending == KEY_UNTRUSTED) {
                *saw_untrusted = true;
            } else {
                if ((err = check_signature(src, img, &t, &keys->keys[pending], pol, pure, r, dv)) != MOLT_OK)
                    return err;
                r->key_index = pending;
                r->signed_ok = true;
                *accept = ACCEPT_A;
            }
            pending = KEY_NONE;
        }
    }
    return err;
}

static molt_err_t check_policy(const molt_image_t *img, const molt_policy_t *pol)
{
    uint32_t cnt = img->has_sec_cnt ? img->sec_cnt : 0;
    if (pol->check_sec_cnt && cnt < pol->min_sec_cnt)
        return MOLT_E_ROLLBACK;
    if (pol->check_version && molt_version_cmp(&img->version, &pol->min_version) < 0)
        return MOLT_E_DOWNGRADE;
    return MOLT_OK;
}

/* An encrypted upload: recover the content key (key TLV through the key store,
 * or the envelope bound to digest) and open the keystream over the payload. */
static molt_err_t open_payload(const molt_source_t *src, const molt_image_t *img, const molt_policy_t *pol,
                               const molt_enc_ops_t *ops, const uint8_t *digest, size_t digest_len, molt_ctr_t *ctr,
                               decrypt_view_t *dv, uint8_t kcv[MOLT_ENC_KCV_LEN])
{
    uint8_t key[MOLT_ENC_KEY_MAX];
    size_t key_len = 0;
    molt_err_t err = ops->decrypt_key(ops, src, img, pol->dec, digest, digest_len, key, &key_len, kcv);
    if (err == MOLT_OK)
        err = ops->ctr_start(ctr, key, key_len);
    molt_wipe(key, sizeof key);
    if (err != MOLT_OK)
        return err;
    dv->ctr = ctr;
    dv->ops = ops;
    dv->start = img->payload_off;
    dv->end = img->prot_off;
    return MOLT_OK;
}

static molt_err_t verify(const molt_source_t *src, const molt_keyring_t *keys, const molt_policy_t *pol,
                         const molt_enc_ops_t *ops, molt_verify_result_t *r, molt_ctr_t *ctr)
{
    decrypt_view_t dv = {NULL, NULL, 0, 0};
    tlv_summary_t s;
    uint8_t want[MOLT_HASH_MAX_SIZE];
    unsigned accept = 0;
    bool saw_untrusted = false;
    molt_err_t err;

    if ((err = molt_image_parse(src, &r->image)) != MOLT_OK)
        return err;
    if ((err = summarize(src, &r->image, &s)) != MOLT_OK)
        return err;
    if ((err = check_flags(&r->image, &s, pol, ops)) != MOLT_OK)
        return err;
    if (!s.have_hash)
        return MOLT_E_HASH_MISSING;
    r->hash_alg = hash_alg_of_tlv(s.hash.type);
    if (!(pol->allowed_hash & r->hash_alg))
        return MOLT_E_HASH_ALG;
    if (s.hash.len != molt_hash_size(r->hash_alg))
        return MOLT_E_TLV_LENGTH;
    if ((err = molt_tlv_read(src, &s.hash, want, sizeof want)) != MOLT_OK)
        return err;
    if (pol->role == MOLT_ROLE_UPLOAD && (r->image.flags & MOLT_IMAGE_F_ENCRYPTED)) {
        if ((err = open_payload(src, &r->image, pol, ops, want, s.hash.len, ctr, &dv, r->kcv)) != MOLT_OK)
            return err;
        r->decrypted = true;
    }
    if ((err = compute_hash(src, &r->image, pol, r, &dv)) != MOLT_OK)
        return err;
    if (!molt_ct_equal(want, r->hash, r->hash_len))
        return MOLT_E_HASH_MISMATCH;

    if (pol->require_signature) {
        err = check_signatures(src, &r->image, keys, pol, s.pure, r, &dv, &accept, &saw_untrusted);
        if (err != MOLT_OK)
            return err;
        if (!r->signed_ok)
            return saw_untrusted ? MOLT_E_KEY_UNTRUSTED : MOLT_E_NO_SIGNATURE;
    } else {
        accept = ACCEPT_A; /* hash-only build: integrity, no authenticity */
    }
    if ((err = check_policy(&r->image, pol)) != MOLT_OK)
        return err;

    /* Decided above; checked again here so one skipped branch cannot accept. */
    unsigned accept_b = (accept == ACCEPT_A && molt_ct_equal(want, r->hash, r->hash_len)) ? ACCEPT_B : 0;
    if (accept != ACCEPT_A || accept_b != ACCEPT_B || (pol->require_signature && !r->signed_ok))
        return MOLT_E_SIG_INVALID;
    return MOLT_OK;
}

molt_err_t molt_verify(const molt_source_t *src, const molt_keyring_t *keys, const molt_policy_t *pol,
                       molt_verify_result_t *res)
{
    return molt_verify_with(src, keys, pol, &molt_enc_ops, res);
}

molt_err_t molt_verify_with(const molt_source_t *src, const molt_keyring_t *keys, const molt_policy_t *pol,
                            const molt_enc_ops_t *ops, molt_verify_result_t *res)
{
    molt_verify_result_t local;
    molt_verify_result_t *r = res ? res : &local;
    molt_err_t err;

    if (!src || !src->read || !pol)
        return MOLT_E_ARG;
    memset(r, 0, sizeof *r);
    r->key_index = KEY_NONE;
    if ((err = molt_crypto_init()) != MOLT_OK)
        return err;
    molt_ctr_t ctr = {0};
    err = verify(src, keys, pol, ops, r, &ctr);
    if (ops != NULL)
        ops->ctr_end(&ctr);
    if (err != MOLT_OK)
        r->signed_ok = false;
    return err;
}
