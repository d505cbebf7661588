/*
 * sign_image.c - lay out an MCUboot image exactly as imgtool's `sign` does:
 * header area, payload, protected TLVs (SEC_CNT, BOOT_RECORD, DEPENDENCY,
 * custom vendor TLVs, UUID_VID, UUID_CID in that order), unprotected TLVs
 * (hash, [SIG_PURE], KEYHASH or PUBKEY, signature), then optional padding to
 * the slot with the swap trailer. Crypto is in sign_crypto.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt_host/util.h"
#include "molt_host/encrypt.h"
#include "molt_host/image_writer.h"

/* ---- byte buffer ---- */

/* ---- TLVs ---- */

static void tlv_put(sbuf_t *area, uint16_t type, const void *value, size_t len)
{
    sbuf_u16(area, type);
    sbuf_u16(area, (uint16_t)len); /* callers keep len <= 0xffff (checked on the area) */
    sbuf_put(area, value, len);
}

/* A TLV area as imgtool writes it: nothing at all when empty, otherwise the info
 * header (magic, total length including itself) then the entries. */
static bool tlv_area_finish(const sbuf_t *entries, uint16_t magic, sbuf_t *out, const char *what,
                            const char *input)
{
    if (entries->len == 0)
        return true;
    if (entries->len > 0xffffu - MOLT_TLV_INFO_SIZE) {
        host_error("%s: %s TLV area too large (%zu bytes, at most 65535)", input, what,
                  entries->len + MOLT_TLV_INFO_SIZE);
        return false;
    }
    sbuf_u16(out, magic);
    sbuf_u16(out, (uint16_t)(entries->len + MOLT_TLV_INFO_SIZE));
    sbuf_put(out, entries->p, entries->len);
    return true;
}

/* ---- BOOT_RECORD: the CBOR map imgtool's boot_record.py emits ---- */

static void cbor_head(sbuf_t *b, uint8_t major, size_t n)
{
    if (n < 24) {
        sbuf_u8(b, (uint8_t)(major << 5 | n));
    } else if (n < 0x100) {
        sbuf_u8(b, (uint8_t)(major << 5 | 24));
        sbuf_u8(b, (uint8_t)n);
    } else {
        sbuf_u8(b, (uint8_t)(major << 5 | 25));
        sbuf_u8(b, (uint8_t)(n >> 8));
        sbuf_u8(b, (uint8_t)n);
    }
}

static void cbor_text(sbuf_t *b, const char *s)
{
    cbor_head(b, 3, strlen(s));
    sbuf_put(b, s, strlen(s));
}

static void cbor_bytes(sbuf_t *b, const uint8_t *p, size_t n)
{
    cbor_head(b, 2, n);
    sbuf_put(b, p, n);
}

/* PSA software component: {1: type, 4: "maj.min.rev", 5: signer id,
 * 6: "SHA256"|..., 2: zero measurement} - in that key order, value last so the
 * bootloader can patch it in. */
static void boot_record(sbuf_t *b, const sign_opts_t *o, enum sign_sha alg, const uint8_t *signer,
                        size_t signer_len)
{
    char version[32], desc[8];
    uint8_t zero[64] = {0};
    snprintf(version, sizeof version, "%u.%u.%u", o->version.major, o->version.minor,
             o->version.revision);
    snprintf(desc, sizeof desc, "SHA%d", (int)alg);
    cbor_head(b, 5, 5);
    cbor_head(b, 0, 1);
    cbor_text(b, o->boot_record);
    cbor_head(b, 0, 4);
    cbor_text(b, version);
    cbor_head(b, 0, 5);
    cbor_bytes(b, signer, signer_len);
    cbor_head(b, 0, 6);
    cbor_text(b, desc);
    cbor_head(b, 0, 2);
    cbor_bytes(b, zero, (size_t)alg / 8);
}

/* The signer id in the boot record: the key hash, or 32 zero bytes unsigned. */
static size_t signer_id(const sign_key_t *key, enum sign_sha alg, uint8_t out[64])
{
    if (!key) {
        memset(out, 0, 32);
        return 32;
    }
    return sign_digest(alg, key->pub_der, key->pub_len, out);
}

static void dependency(sbuf_t *b, const sign_dep_t *d)
{
    uint8_t v[12] = {0};
    v[0] = d->image_id;
    v[4] = d->version.major;
    v[5] = d->version.minor;
    molt_put_le16(v + 6, d->version.revision);
    molt_put_le32(v + 8, d->version.build);
    tlv_put(b, MOLT_TLV_DEPENDENCY, v, sizeof v);
}

static bool protected_area(const sign_opts_t *o, const sign_key_t *key, enum sign_sha alg, sbuf_t *out)
{
    sbuf_t e = {0};
    if (o->has_sec_cnt) {
        uint8_t v[4];
        molt_put_le32(v, o->sec_cnt);
        tlv_put(&e, MOLT_TLV_SEC_CNT, v, 4);
    }
    if (o->boot_record) {
        uint8_t id[64];
        sbuf_t rec = {0};
        boot_record(&rec, o, alg, id, signer_id(key, alg, id));
        tlv_put(&e, MOLT_TLV_BOOT_RECORD, rec.p, rec.len);
        e.oom |= rec.oom;
        sbuf_free(&rec);
    }
    for (size_t i = 0; i < o->ndeps; i++)
        dependency(&e, &o->deps[i]);
    for (size_t i = 0; i < o->ncustom; i++)
        tlv_put(&e, o->custom[i].tag, o->custom[i].value, o->custom[i].len);
    if (o->has_vid)
        tlv_put(&e, MOLT_TLV_UUID_VID, o->vid, 16);
    if (o->has_cid)
        tlv_put(&e, MOLT_TLV_UUID_CID, o->cid, 16);
    bool ok = !e.oom && tlv_area_finish(&e, MOLT_TLV_PROT_INFO_MAGIC, out, "protected", o->in_path);
    sbuf_free(&e);
    return ok;
}

/* ---- header ---- */

static uint32_t header_flags(const sign_opts_t *o)
{
    uint32_t flags = 0;
    if (o->load_addr != 0)
        flags |= MOLT_IMAGE_F_RAM_LOAD;
    if (o->rom_fixed != 0)
        flags |= MOLT_IMAGE_F_ROM_FIXED;
    if (o->non_bootable)
        flags |= MOLT_IMAGE_F_NON_BOOTABLE;
    if (o->enc_path)
        flags |= o->enc_key_len == 32 ? MOLT_IMAGE_F_ENCRYPTED_AES256 : MOLT_IMAGE_F_ENCRYPTED_AES128;
    return flags;
}

static void write_header(uint8_t *h, const sign_opts_t *o, uint32_t img_size, uint16_t prot_size)
{
    memset(h, 0, MOLT_IMAGE_HEADER_SIZE);
    molt_put_le32(h, MOLT_IMAGE_MAGIC);
    molt_put_le32(h + 4, o->rom_fixed ? o->rom_fixed : o->load_addr);
    molt_put_le16(h + 8, o->hdr_size);
    molt_put_le16(h + 10, prot_size);
    molt_put_le32(h + 12, img_size);
    molt_put_le32(h + 16, header_flags(o));
    h[20] = o->version.major;
    h[21] = o->version.minor;
    molt_put_le16(h + 22, o->version.revision);
    molt_put_le32(h + 24, o->version.build);
}

/* Header area + payload: with --pad-header the input is the payload and the
 * header area is erased filler; otherwise the input must start with hdr_size
 * zero bytes, which become the header area. */
static bool header_and_payload(const sign_opts_t *o, const uint8_t *in, size_t in_len, sbuf_t *img)
{
    if (o->pad_header) {
        sbuf_fill(img, o->erased, o->hdr_size);
    } else {
        if (in_len < o->hdr_size) {
            host_error("%s: shorter than the %u-byte header (use --pad-header?)", o->in_path, o->hdr_size);
            return false;
        }
        for (size_t i = 0; i < o->hdr_size; i++) {
            if (in[i]) {
                host_error("%s: does not start with %u zero bytes for the header (use --pad-header)",
                          o->in_path, o->hdr_size);
                return false;
            }
        }
    }
    sbuf_put(img, in, in_len);
    /* imgtool zero-pads (header area + payload) to a multiple of 16 when encrypting. */
    if (o->enc_path && img->len % 16)
        sbuf_fill(img, 0, 16 - img->len % 16);
    if (img->len - o->hdr_size > UINT32_MAX) {
        host_error("%s: payload larger than 4 GiB", o->in_path);
        return false;
    }
    return true;
}

/* ---- unprotected TLVs ---- */

static bool unprotected_area(const sign_opts_t *o, const sign_key_t *key, enum sign_sha alg,
                             const uint8_t *hashed, size_t hashed_len, sbuf_t *out)
{
    uint8_t digest[64], keyhash[64];
    size_t dlen = sign_digest(alg, hashed, hashed_len, digest);
    sbuf_t e = {0}, sig = {0};
    bool ok = dlen != 0;
    tlv_put(&e, alg == SIGN_SHA512 ? MOLT_TLV_SHA512 : alg == SIGN_SHA384 ? MOLT_TLV_SHA384 : MOLT_TLV_SHA256,
            digest, dlen);
    if (o->pure) {
        uint8_t one = 1;
        tlv_put(&e, MOLT_TLV_SIG_PURE, &one, 1);
    }
    if (ok && key) {
        if (o->full_pubkey)
            tlv_put(&e, MOLT_TLV_PUBKEY, key->pub_der, key->pub_len);
        else
            tlv_put(&e, MOLT_TLV_KEYHASH, keyhash, sign_digest(alg, key->pub_der, key->pub_len, keyhash));
        ok = o->pure ? sign_message(key, alg, o->pad_sig, hashed, hashed_len, &sig)
                     : sign_message(key, alg, o->pad_sig, digest, dlen, &sig);
        tlv_put(&e, sign_sig_tlv(key), sig.p, sig.len);
        e.oom |= sig.oom;
    }
    if (o->enc_path)
        tlv_put(&e, o->enc_tlv_type, o->enc_tlv, o->enc_tlv_len); /* last, as imgtool */
    ok = ok && !e.oom && tlv_area_finish(&e, MOLT_TLV_INFO_MAGIC, out, "unprotected", o->in_path);
    sbuf_free(&e);
    sbuf_free(&sig);
    return ok;
}

/* ---- trailer ---- */

static uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* imgtool's _trailer_size(): the swap status area, 4 aligned flag fields and
 * the (aligned) magic; overwrite-only keeps just two fields and the magic. */
static uint64_t trailer_size(const sign_opts_t *o)
{
    uint64_t magic = align_up(16, o->max_align);
    if (o->overwrite_only)
        return 2ull * o->max_align + magic;
    /* Two key slots when encrypting, sized for 16-byte keys whatever the AES size (imgtool). */
    uint64_t keys = o->enc_path ? 2 * align_up(16, o->max_align) : 0;
    return (uint64_t)o->max_sectors * 3 * o->align + keys + 4ull * o->max_align + magic;
}

static void trailer_magic(const sign_opts_t *o, uint8_t m[16])
{
    static const uint8_t std[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                    0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
    static const uint8_t tail[14] = {0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
                                     0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};
    if (o->max_align == 8) {
        memcpy(m, std, 16);
        return;
    }
    molt_put_le16(m, (uint16_t)o->max_align);
    memcpy(m + 2, tail, 14);
}

/* Pad the image with the erased value up to the slot size; the last 16 bytes
 * are the magic, and --confirm (not with --overwrite-only) sets image_ok. */
static void pad_to_slot(const sign_opts_t *o, sbuf_t *img)
{
    uint8_t magic[16];
    trailer_magic(o, magic);
    sbuf_fill(img, o->erased, o->slot_size - 16 - img->len);
    sbuf_put(img, magic, 16);
    if (img->oom)
        return;
    if (o->confirm && !o->overwrite_only)
        img->p[img->len - (align_up(16, o->max_align) + o->max_align)] = 0x01;
}

static bool check_slot(const sign_opts_t *o, size_t image_len)
{
    if (o->slot_size == 0)
        return true;
    uint64_t tsize = trailer_size(o);
    if ((uint64_t)image_len + tsize > o->slot_size) {
        host_error("%s: image size (0x%zx) + trailer (0x%llx) exceeds the slot size 0x%x", o->in_path,
                  image_len, (unsigned long long)tsize, o->slot_size);
        return false;
    }
    return true;
}

/* ---- the whole image ---- */

bool sign_build_image(const sign_opts_t *o, const sign_key_t *key, enum sign_sha alg,
                      const uint8_t *in, size_t in_len, sbuf_t *out)
{
    sbuf_t prot = {0};
    bool ok = header_and_payload(o, in, in_len, out) && protected_area(o, key, alg, &prot);
    if (ok && !out->oom) {
        write_header(out->p, o, (uint32_t)(out->len - o->hdr_size), (uint16_t)prot.len);
        sbuf_put(out, prot.p, prot.len);
        /* The hashed region is out itself; it is only read before the area is appended. */
        size_t hashed_len = out->len;
        ok = !out->oom && unprotected_area(o, key, alg, out->p, out->len, out);
        /* Hashed and signed over the plaintext; now the payload alone is
         * encrypted in place (not with --clear, the factory image). */
        if (ok && o->enc_path && !o->clear)
            ok = enc_aes_ctr(o->content_key, o->enc_key_len, out->p + o->hdr_size,
                             hashed_len - prot.len - o->hdr_size);
    }
    sbuf_free(&prot);
    ok = ok && !out->oom && check_slot(o, out->len);
    if (ok && o->pad)
        pad_to_slot(o, out);
    if (out->oom) {
        host_error("%s: out of memory", o->in_path);
        ok = false;
    }
    return ok;
}
