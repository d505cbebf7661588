/*
 * keyrot.c - rotation and revocation of the trusted image keys (molt/keyrot.h,
 * docs/keys.md). Nothing a key-update says is believed before enough root
 * signatures over it verify; the set in force lives in two halves of an area
 * only the boot code writes, and a new set only ever goes to the half that
 * does not hold the one in force.
 *
 * Record (little-endian): magic, version, 2 reserved, total length (4), seq
 * (4), n_retired, n_added, 2 reserved, the retired hashes (32 each), the added
 * keys (2-byte length, DER), CRC-32 of everything before it (4).
 */
#include "molt/keyrot.h"

#include <string.h>

#include "area.h"
#include "crc32.h"
#include "crypto.h"

#define REC_MAGIC 0x4bu
#define REC_VERSION 1u
#define REC_HDR 16u
#define REC_MIN (REC_HDR + 4u)
#define UNIT_MAX 256u
#define KU_HDR 12u
#define KU_SIG_LEN 65u /* root index, r || s */

/* --- the area --- */

static uint32_t unit_of(const molt_area_t *a) { return a->write_align < 8u ? 8u : a->write_align; }

/* Bytes in one half, 0 when the area cannot be cut into two whole halves. */
static uint32_t half_of(const molt_area_t *a)
{
    molt_sector_t sec;
    uint32_t h = a->size / 2u;
    if (a->write_align == 0u || a->write_align > UNIT_MAX || h < REC_MIN || a->size % 2u != 0u ||
        a->sector(a->ctx, h, &sec) != MOLT_OK || sec.off != h)
        return 0u;
    return h;
}

static bool cfg_ok(const molt_keyrot_cfg_t *c)
{
    return c != NULL && c->area != NULL && c->ws != NULL && c->area->read != NULL && c->area->write != NULL &&
           c->area->erase != NULL && c->area->sector != NULL;
}

molt_err_t molt_keyrot_key_id(const uint8_t *der, size_t len, uint8_t out[MOLT_KEYROT_HASH_LEN])
{
    molt_key_t k = {der, len};
    uint8_t h[MOLT_HASH_MAX_SIZE]; /* molt_key_hash may write that many */
    size_t n = 0;
    molt_err_t e = molt_key_hash(&k, MOLT_HASH_SHA256, h, &n);
    if (e == MOLT_OK && n != MOLT_KEYROT_HASH_LEN)
        e = MOLT_E_CRYPTO;
    if (e == MOLT_OK)
        memcpy(out, h, MOLT_KEYROT_HASH_LEN);
    return e;
}

/* Decode a record of len bytes in p into s; false when it is not one. */
static bool decode(const uint8_t *p, uint32_t len, molt_keyset_t *s)
{
    if (len < REC_MIN || p[0] != REC_MAGIC || p[1] != REC_VERSION || molt_le32(p + 4) != len ||
        molt_le32(p + len - 4u) != molt_crc32(p, len - 4u))
        return false;
    uint32_t nr = p[12], na = p[13], off = REC_HDR, end = len - 4u;
    if (nr > MOLT_KEYROT_MAX_RETIRED || na > MOLT_KEYROT_MAX_ADDED || end - off < nr * MOLT_KEYROT_HASH_LEN)
        return false;
    s->seq = molt_le32(p + 8);
    s->n_retired = nr;
    s->n_added = na;
    memcpy(s->retired, p + off, nr * MOLT_KEYROT_HASH_LEN);
    off += nr * MOLT_KEYROT_HASH_LEN;
    for (uint32_t i = 0; i < na; i++) {
        if (end - off < 2u)
            return false;
        uint32_t kl = molt_le16(p + off);
        off += 2u;
        if (kl == 0u || kl > MOLT_KEYROT_MAX_DER || end - off < kl)
            return false;
        s->added_len[i] = (uint16_t)kl;
        memcpy(s->added[i], p + off, kl);
        off += kl;
    }
    return off == end;
}

/* Encode s into p; its length (before padding). */
static uint32_t encode(const molt_keyset_t *s, uint8_t *p)
{
    uint32_t off = REC_HDR;
    memset(p, 0, REC_HDR);
    p[0] = REC_MAGIC;
    p[1] = REC_VERSION;
    molt_put_le32(p + 8, s->seq);
    p[12] = (uint8_t)s->n_retired;
    p[13] = (uint8_t)s->n_added;
    memcpy(p + off, s->retired, s->n_retired * MOLT_KEYROT_HASH_LEN);
    off += s->n_retired * MOLT_KEYROT_HASH_LEN;
    for (uint32_t i = 0; i < s->n_added; i++) {
        molt_put_le16(p + off, s->added_len[i]);
        memcpy(p + off + 2u, s->added[i], s->added_len[i]);
        off += 2u + s->added_len[i];
    }
    molt_put_le32(p + 4, off + 4u);
    molt_put_le32(p + off, molt_crc32(p, off));
    return off + 4u;
}

/* Read half k; *valid and *seq when it holds a record (decoded into s). */
static molt_err_t read_half(const molt_keyrot_cfg_t *c, uint32_t k, bool *valid, molt_keyset_t *s)
{
    const molt_area_t *a = c->area;
    uint8_t *io = c->ws->io;
    uint32_t base = k * half_of(a);
    molt_err_t e;

    *valid = false;
    if ((e = a->read(a->ctx, base, io, REC_HDR)) != MOLT_OK)
        return e;
    uint32_t len = molt_le32(io + 4);
    if (io[0] != REC_MAGIC || len < REC_MIN || len > half_of(a) || len > sizeof c->ws->io)
        return MOLT_OK;
    if ((e = a->read(a->ctx, base + REC_HDR, io + REC_HDR, len - REC_HDR)) != MOLT_OK)
        return e;
    *valid = decode(io, len, s);
    return MOLT_OK;
}

/* The record in force into ws->set, and which half holds it (-1: genesis). */
static molt_err_t load(const molt_keyrot_cfg_t *c, int *half)
{
    molt_keyset_t *s = &c->ws->set;
    bool v0 = false, v1 = false;
    uint32_t seq0 = 0;
    molt_err_t e;

    *half = -1;
    if (!cfg_ok(c))
        return MOLT_E_ARG;
    if (half_of(c->area) == 0u)
        return MOLT_E_LAYOUT;
    if ((e = read_half(c, 0, &v0, s)) != MOLT_OK)
        return e;
    seq0 = s->seq;
    if ((e = read_half(c, 1, &v1, s)) != MOLT_OK)
        return e;
    if (v0 && v1)
        *half = s->seq - seq0 - 1u < 0x7fffffffu ? 1 : 0; /* serial-number order */
    else if (v0 || v1)
        *half = v0 ? 0 : 1;
    if (*half == 1)
        return MOLT_OK; /* s holds half 1 */
    if (*half == 0) {
        bool again = false;
        if ((e = read_half(c, 0, &again, s)) != MOLT_OK)
            return e;
        return again ? MOLT_OK : MOLT_E_NV; /* changed under us */
    }
    /* No record. The first one ever goes to half 0, and after it one half is
     * always valid: so a torn first record is the genesis, but anything in
     * half 1 with no valid record anywhere is damage, never a rollback. */
    bool blank = false;
    if ((e = molt_area_blank(c->area, half_of(c->area), half_of(c->area), &blank)) != MOLT_OK)
        return e;
    if (!blank)
        return MOLT_E_NV;
    memset(s, 0, sizeof *s);
    return MOLT_OK;
}

molt_err_t molt_keyrot_load(const molt_keyrot_cfg_t *c)
{
    int half;
    return load(c, &half);
}

static bool is_retired(const molt_keyset_t *s, const uint8_t id[MOLT_KEYROT_HASH_LEN])
{
    bool hit = false;
    for (uint32_t i = 0; i < s->n_retired; i++)
        hit |= molt_ct_equal(s->retired[i], id, MOLT_KEYROT_HASH_LEN) != 0;
    return hit;
}

/* The keyring over ws->set as it stands. */
static molt_err_t build_ring(molt_keyrot_ws_t *w, const molt_keyring_t *factory, molt_keyring_t *out)
{
    uint8_t id[MOLT_KEYROT_HASH_LEN];
    molt_err_t e;
    size_t n = 0;
    for (size_t i = 0; i < factory->count; i++) {
        if ((e = molt_keyrot_key_id(factory->keys[i].der, factory->keys[i].der_len, id)) != MOLT_OK)
            return e;
        if (!is_retired(&w->set, id))
            w->ring[n++] = factory->keys[i];
    }
    for (uint32_t i = 0; i < w->set.n_added; i++)
        w->ring[n++] = (molt_key_t){w->set.added[i], w->set.added_len[i]};
    out->keys = w->ring;
    out->count = n;
    return MOLT_OK;
}

molt_err_t molt_keyrot_ring(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, molt_keyring_t *out)
{
    molt_err_t e;

    if (factory == NULL || out == NULL || factory->count > MOLT_KEYROT_MAX_FACTORY)
        return MOLT_E_ARG;
    if ((e = molt_keyrot_load(c)) != MOLT_OK)
        return e;
    return build_ring(c->ws, factory, out);
}

molt_err_t molt_keyrot_names_retired(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory,
                                     const molt_source_t *src, bool *retired)
{
    uint8_t v[MOLT_KEYROT_MAX_DER], id[MOLT_KEYROT_HASH_LEN], kh[MOLT_HASH_MAX_SIZE];
    molt_image_t img;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    size_t khl;
    molt_err_t e;

    if (retired == NULL || factory == NULL || src == NULL)
        return MOLT_E_ARG;
    *retired = false;
    if ((e = molt_keyrot_load(c)) != MOLT_OK)
        return e;
    const molt_keyset_t *s = &c->ws->set;
    if (molt_image_parse(src, &img) != MOLT_OK)
        return MOLT_OK;
    molt_tlv_iter_init(&it, src, &img);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more) {
        if (t.prot || (t.type != MOLT_TLV_KEYHASH && t.type != MOLT_TLV_PUBKEY) || t.len > sizeof v ||
            molt_tlv_read(src, &t, v, sizeof v) != MOLT_OK)
            continue;
        if (t.type == MOLT_TLV_PUBKEY) {
            if ((e = molt_keyrot_key_id(v, t.len, id)) != MOLT_OK)
                return e;
            *retired = *retired || is_retired(s, id);
            continue;
        }
        if (t.len == MOLT_KEYROT_HASH_LEN)
            *retired = *retired || is_retired(s, v);
        /* A KEYHASH under SHA-384/512: the retired factory keys hashed alike. */
        uint32_t alg = t.len == 48u ? MOLT_HASH_SHA384 : t.len == 64u ? MOLT_HASH_SHA512 : 0u;
        for (size_t i = 0; alg != 0u && factory->count <= MOLT_KEYROT_MAX_FACTORY && i < factory->count; i++) {
            if ((e = molt_keyrot_key_id(factory->keys[i].der, factory->keys[i].der_len, id)) != MOLT_OK ||
                (e = molt_key_hash(&factory->keys[i], alg, kh, &khl)) != MOLT_OK)
                return e;
            *retired = *retired || (is_retired(s, id) && khl == t.len && molt_ct_equal(kh, v, t.len));
        }
    }
    return MOLT_OK;
}

/* --- the key-update --- */

typedef struct ku {
    uint32_t seq, n_add, n_retire, body, n_sig;
    uint32_t add_off[MOLT_KEYROT_MAX_ADD], add_len[MOLT_KEYROT_MAX_ADD];
    uint32_t retire_off;
} ku_t;

static molt_err_t parse(const uint8_t *p, size_t len, ku_t *k)
{
    if (p == NULL || len < KU_HDR + 1u || memcmp(p, MOLT_KEYROT_MAGIC, 4) != 0 || p[10] != 0u || p[11] != 0u)
        return MOLT_E_KU_FORMAT;
    k->seq = molt_le32(p + 4);
    k->n_add = p[8];
    k->n_retire = p[9];
    if (k->n_add > MOLT_KEYROT_MAX_ADD || k->n_retire > MOLT_KEYROT_MAX_RETIRE || k->n_add + k->n_retire == 0u)
        return MOLT_E_KU_FORMAT;
    size_t off = KU_HDR;
    for (uint32_t i = 0; i < k->n_add; i++) {
        if (len - off < 2u)
            return MOLT_E_KU_FORMAT;
        uint32_t kl = molt_le16(p + off);
        off += 2u;
        if (kl == 0u || kl > MOLT_KEYROT_MAX_DER || len - off < kl)
            return MOLT_E_KU_FORMAT;
        k->add_off[i] = (uint32_t)off;
        k->add_len[i] = kl;
        off += kl;
    }
    if (len - off < k->n_retire * MOLT_KEYROT_HASH_LEN + 1u)
        return MOLT_E_KU_FORMAT;
    k->retire_off = (uint32_t)off;
    off += k->n_retire * MOLT_KEYROT_HASH_LEN;
    k->body = (uint32_t)off;
    k->n_sig = p[off++];
    if (k->n_sig == 0u || k->n_sig > MOLT_KEYROT_MAX_SIG || len - off != k->n_sig * KU_SIG_LEN)
        return MOLT_E_KU_FORMAT;
    for (uint32_t i = 0; i < k->n_sig; i++)
        for (uint32_t j = 0; j < i; j++)
            if (p[off + i * KU_SIG_LEN] == p[off + j * KU_SIG_LEN])
                return MOLT_E_KU_FORMAT; /* one root key, one signature */
    return MOLT_OK;
}

/* Every signature verifies, by distinct root keys, at least threshold of them. */
static molt_err_t check_sigs(const molt_keyrot_cfg_t *c, const uint8_t *p, const ku_t *k)
{
    uint8_t digest[32];
    size_t dlen = 0;
    molt_hash_ctx_t h;
    molt_err_t e;

    if (c->roots == NULL || c->threshold == 0u || k->n_sig < c->threshold)
        return MOLT_E_KU_SIG;
    if ((e = molt_crypto_init()) != MOLT_OK || (e = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return e;
    if ((e = molt_hash_update(&h, p, k->body)) != MOLT_OK ||
        (e = molt_hash_finish(&h, digest, sizeof digest, &dlen)) != MOLT_OK) {
        molt_hash_abort(&h);
        return e;
    }
    uint32_t good = 0;
    for (uint32_t i = 0; i < k->n_sig; i++) {
        const uint8_t *sg = p + k->body + 1u + i * KU_SIG_LEN;
        molt_pubkey_t pk;
        if (sg[0] >= c->roots->count ||
            molt_der_parse_pubkey(c->roots->keys[sg[0]].der, c->roots->keys[sg[0]].der_len, &pk) != MOLT_OK ||
            pk.type != MOLT_KEY_P256 || molt_ecdsa_verify_raw(&pk, MOLT_HASH_SHA256, digest, dlen, sg + 1, 64) != MOLT_OK)
            return MOLT_E_KU_SIG;
        good++;
    }
    return good >= c->threshold && good == k->n_sig ? MOLT_OK : MOLT_E_KU_SIG;
}

/* Whether id names a key in force: a factory key not retired, or an added key
 * (*added_at its index there, else -1). */
static molt_err_t in_force(const molt_keyset_t *s, const molt_keyring_t *factory, const uint8_t *id, bool *yes,
                           int *added_at)
{
    uint8_t fid[MOLT_KEYROT_HASH_LEN];
    molt_err_t e;

    *yes = false;
    *added_at = -1;
    for (size_t i = 0; i < factory->count; i++) {
        if ((e = molt_keyrot_key_id(factory->keys[i].der, factory->keys[i].der_len, fid)) != MOLT_OK)
            return e;
        if (memcmp(fid, id, MOLT_KEYROT_HASH_LEN) == 0 && !is_retired(s, fid))
            *yes = true;
    }
    for (uint32_t i = 0; i < s->n_added; i++) {
        if ((e = molt_keyrot_key_id(s->added[i], s->added_len[i], fid)) != MOLT_OK)
            return e;
        if (memcmp(fid, id, MOLT_KEYROT_HASH_LEN) == 0) {
            *yes = true;
            *added_at = (int)i;
        }
    }
    return MOLT_OK;
}

static molt_err_t check(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, const uint8_t *p, size_t len,
                        int *half)
{
    uint8_t ids[MOLT_KEYROT_MAX_ADD][MOLT_KEYROT_HASH_LEN];
    molt_keyset_t *s;
    ku_t k;
    molt_err_t e;

    *half = -1;
    if (!cfg_ok(c) || factory == NULL || factory->count > MOLT_KEYROT_MAX_FACTORY)
        return MOLT_E_ARG;
    if ((e = parse(p, len, &k)) != MOLT_OK || (e = check_sigs(c, p, &k)) != MOLT_OK)
        return e;
    /* Signed by the deployer's rotation keys: now what it says counts. */
    if ((e = load(c, half)) != MOLT_OK)
        return e;
    s = &c->ws->set;
    if (k.seq == s->seq)
        return MOLT_E_KU_REPLAY;
    if (k.seq < s->seq)
        return MOLT_E_KU_ROLLBACK;
    if (k.seq - s->seq != 1u)
        return MOLT_E_KU_GAP;

    for (uint32_t i = 0; i < k.n_add; i++) {
        molt_pubkey_t pk;
        bool yes;
        int at;
        if (molt_der_parse_pubkey(p + k.add_off[i], k.add_len[i], &pk) != MOLT_OK)
            return MOLT_E_KU_FORMAT;
        if ((e = molt_keyrot_key_id(p + k.add_off[i], k.add_len[i], ids[i])) != MOLT_OK)
            return e;
        for (uint32_t j = 0; j < i; j++)
            if (memcmp(ids[j], ids[i], MOLT_KEYROT_HASH_LEN) == 0)
                return MOLT_E_KU_FORMAT;
        if ((e = in_force(s, factory, ids[i], &yes, &at)) != MOLT_OK)
            return e;
        if (yes || is_retired(s, ids[i]))
            return MOLT_E_KU_KEY; /* a retired key stays retired */
    }
    for (uint32_t i = 0; i < k.n_retire; i++) {
        const uint8_t *r = p + k.retire_off + i * MOLT_KEYROT_HASH_LEN;
        for (uint32_t j = 0; j < i; j++)
            if (memcmp(p + k.retire_off + j * MOLT_KEYROT_HASH_LEN, r, MOLT_KEYROT_HASH_LEN) == 0)
                return MOLT_E_KU_FORMAT;
        bool yes;
        int at;
        if ((e = in_force(s, factory, r, &yes, &at)) != MOLT_OK)
            return e;
        if (!yes)
            return MOLT_E_KU_KEY;
    }
    if (s->n_retired + k.n_retire > MOLT_KEYROT_MAX_RETIRED)
        return MOLT_E_KU_FULL;

    /* The next set, built in place (a refusal from here on leaves the area
     * untouched; the workspace is reloaded by every call). */
    for (uint32_t i = 0; i < k.n_retire; i++) {
        const uint8_t *r = p + k.retire_off + i * MOLT_KEYROT_HASH_LEN;
        bool yes;
        int at;
        if ((e = in_force(s, factory, r, &yes, &at)) != MOLT_OK)
            return e;
        if (at >= 0) { /* an added key leaves the added list */
            for (uint32_t j = (uint32_t)at; j + 1u < s->n_added; j++) {
                memcpy(s->added[j], s->added[j + 1u], s->added_len[j + 1u]);
                s->added_len[j] = s->added_len[j + 1u];
            }
            s->n_added--;
        }
        memcpy(s->retired[s->n_retired++], r, MOLT_KEYROT_HASH_LEN);
    }
    if (s->n_added + k.n_add > MOLT_KEYROT_MAX_ADDED)
        return MOLT_E_KU_FULL;
    for (uint32_t i = 0; i < k.n_add; i++) {
        memcpy(s->added[s->n_added], p + k.add_off[i], k.add_len[i]);
        s->added_len[s->n_added++] = (uint16_t)k.add_len[i];
    }
    size_t live = s->n_added;
    uint8_t fid[MOLT_KEYROT_HASH_LEN];
    for (size_t i = 0; i < factory->count; i++) {
        if ((e = molt_keyrot_key_id(factory->keys[i].der, factory->keys[i].der_len, fid)) != MOLT_OK)
            return e;
        live += !is_retired(s, fid);
    }
    if (live == 0u)
        return MOLT_E_KU_LOCKOUT;
    s->seq = k.seq;
    if (molt_roundup(encode(s, c->ws->io), unit_of(c->area)) > half_of(c->area))
        return MOLT_E_KU_FULL;
    return MOLT_OK;
}

molt_err_t molt_keyrot_check(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, const uint8_t *ku,
                             size_t len)
{
    int half;
    return check(c, factory, ku, len, &half);
}

molt_err_t molt_keyrot_apply(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, const uint8_t *ku,
                             size_t len, const molt_source_t *running)
{
    int half;
    molt_err_t e = check(c, factory, ku, len, &half);
    if (e != MOLT_OK)
        return e;
    if (running != NULL) {
        /* The running image under the new set, as the next boot will judge it. */
        molt_keyring_t ring;
        molt_policy_t pol;
        molt_policy_default(&pol);
        pol.role = MOLT_ROLE_INSTALLED;
        if ((e = build_ring(c->ws, factory, &ring)) != MOLT_OK)
            return e;
        if (molt_verify(running, &ring, &pol, NULL) != MOLT_OK)
            return MOLT_E_KU_STRANDS;
    }
    /* c->ws->io holds the encoded next set: into the half not in force. */
    const molt_area_t *a = c->area;
    uint32_t hs = half_of(a), next = half < 0 ? 0u : 1u - (uint32_t)half;
    uint32_t rl = molt_le32(c->ws->io + 4), wl = molt_roundup(rl, unit_of(a));
    memset(c->ws->io + rl, a->erase_value, wl - rl);
    if ((e = molt_area_erase_range(a, next * hs, hs)) != MOLT_OK)
        return e;
    return a->write(a->ctx, next * hs, c->ws->io, wl);
}
