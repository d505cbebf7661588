/*
 * image.c - parse and bound-check the MCUboot image format (molt/image.h).
 *
 * All offsets are computed in 64 bits and compared with the source size before
 * any read, so no header field can make the parser wrap or read out of bounds.
 * The checks mirror what a strict MCUboot build does (TLV iterator bounds, the
 * protected-size cross-check, the unprotected allow-list), with one specific
 * reason code per failure.
 */
#include "molt/image.h"

#include <string.h>

static molt_err_t src_read(const molt_source_t *src, uint64_t off, void *buf, size_t len)
{
    if (off > src->size || len > src->size - off)
        return MOLT_E_BOUNDS;
    return src->read(src->ctx, (uint32_t)off, buf, len);
}

bool molt_tlv_allowed_unprotected(uint16_t type)
{
    switch (type) {
    case MOLT_TLV_KEYHASH:
    case MOLT_TLV_PUBKEY:
    case MOLT_TLV_SHA256:
    case MOLT_TLV_SHA384:
    case MOLT_TLV_SHA512:
    case MOLT_TLV_RSA2048_PSS:
    case MOLT_TLV_ECDSA_SIG:
    case MOLT_TLV_RSA3072_PSS:
    case MOLT_TLV_ED25519:
    case MOLT_TLV_SIG_PURE:
    case MOLT_TLV_ENC_RSA2048:
    case MOLT_TLV_ENC_KW:
    case MOLT_TLV_ENC_EC256:
    case MOLT_TLV_ENC_X25519:
    case MOLT_TLV_ENC_X25519_SHA512:
        return true;
    default:
        return false;
    }
}

static molt_err_t read_info(const molt_source_t *src, uint64_t off, uint16_t magic, uint16_t *tot)
{
    uint8_t info[MOLT_TLV_INFO_SIZE];
    molt_err_t err = src_read(src, off, info, sizeof info);
    if (err != MOLT_OK)
        return err == MOLT_E_BOUNDS ? MOLT_E_TLV_OVERRUN : err;
    if (molt_le16(info) != magic)
        return MOLT_E_TLV_INFO;
    *tot = molt_le16(info + 2);
    return *tot < MOLT_TLV_INFO_SIZE ? MOLT_E_TLV_INFO : MOLT_OK;
}

/* Walk the TLVs in [pos, end): each one must fit exactly; apply per-area rules. */
static molt_err_t check_area(const molt_source_t *src, molt_image_t *img, uint32_t pos, uint32_t end,
                             bool prot)
{
    while (pos < end) {
        uint8_t h[MOLT_TLV_HDR_SIZE];
        if (end - pos < MOLT_TLV_HDR_SIZE)
            return MOLT_E_TLV_OVERRUN;
        molt_err_t err = src_read(src, pos, h, sizeof h);
        if (err != MOLT_OK)
            return err;
        uint16_t type = molt_le16(h), len = molt_le16(h + 2);
        pos += MOLT_TLV_HDR_SIZE;
        if (len > end - pos)
            return MOLT_E_TLV_OVERRUN;
        if (!prot) {
            if (!molt_tlv_allowed_unprotected(type))
                return MOLT_E_TLV_NOT_ALLOWED;
        } else if (molt_tlv_allowed_unprotected(type)) {
            return MOLT_E_TLV_MISPLACED;
        } else if (type == MOLT_TLV_SEC_CNT) {
            uint8_t v[4];
            if (img->has_sec_cnt)
                return MOLT_E_TLV_DUPLICATE;
            if (len != sizeof v)
                return MOLT_E_TLV_LENGTH;
            if ((err = src_read(src, pos, v, sizeof v)) != MOLT_OK)
                return err;
            img->has_sec_cnt = true;
            img->sec_cnt = molt_le32(v);
        }
        pos += len;
    }
    return MOLT_OK;
}

static void decode_header(const uint8_t h[MOLT_IMAGE_HEADER_SIZE], molt_image_t *img)
{
    memset(img, 0, sizeof *img);
    img->magic = molt_le32(h);
    img->load_addr = molt_le32(h + 4);
    img->hdr_size = molt_le16(h + 8);
    img->prot_tlv_size = molt_le16(h + 10);
    img->img_size = molt_le32(h + 12);
    img->flags = molt_le32(h + 16);
    img->version.major = h[20];
    img->version.minor = h[21];
    img->version.revision = molt_le16(h + 22);
    img->version.build = molt_le32(h + 24);
}

molt_err_t molt_image_parse(const molt_source_t *src, molt_image_t *img)
{
    uint8_t h[MOLT_IMAGE_HEADER_SIZE];
    molt_err_t err;

    if (!src || !src->read || !img)
        return MOLT_E_ARG;
    if (src->size < sizeof h)
        return MOLT_E_TRUNCATED;
    if ((err = src_read(src, 0, h, sizeof h)) != MOLT_OK)
        return err;
    decode_header(h, img);
    if (img->magic != MOLT_IMAGE_MAGIC)
        return MOLT_E_MAGIC;
    if (img->hdr_size < MOLT_IMAGE_HEADER_SIZE)
        return MOLT_E_HDR_SIZE;

    /* 64-bit sums: hdr_size + img_size cannot wrap. The first TLV info header
     * must lie inside the source. */
    uint64_t prot_off = (uint64_t)img->hdr_size + img->img_size;
    if (prot_off + MOLT_TLV_INFO_SIZE > src->size)
        return MOLT_E_BOUNDS;
    img->payload_off = img->hdr_size;
    img->prot_off = (uint32_t)prot_off;

    uint64_t unprot_off = prot_off;
    uint16_t tot;
    if (img->prot_tlv_size != 0) {
        if ((err = read_info(src, prot_off, MOLT_TLV_PROT_INFO_MAGIC, &tot)) != MOLT_OK)
            return err;
        if (tot != img->prot_tlv_size)
            return MOLT_E_PROT_SIZE;
        unprot_off += tot;
    } else {
        /* A protected area the header does not declare is a mismatch too. */
        uint8_t info[2];
        if ((err = src_read(src, prot_off, info, sizeof info)) != MOLT_OK)
            return err;
        if (molt_le16(info) == MOLT_TLV_PROT_INFO_MAGIC)
            return MOLT_E_PROT_SIZE;
    }
    if (unprot_off + MOLT_TLV_INFO_SIZE > src->size)
        return MOLT_E_TLV_OVERRUN;
    if ((err = read_info(src, unprot_off, MOLT_TLV_INFO_MAGIC, &tot)) != MOLT_OK)
        return err;
    uint64_t end = unprot_off + tot;
    if (end > src->size)
        return MOLT_E_TLV_OVERRUN;
    img->unprot_off = (uint32_t)unprot_off;
    img->end = (uint32_t)end;

    if (img->prot_tlv_size != 0) {
        err = check_area(src, img, img->prot_off + MOLT_TLV_INFO_SIZE, img->unprot_off, true);
        if (err != MOLT_OK)
            return err;
    }
    return check_area(src, img, img->unprot_off + MOLT_TLV_INFO_SIZE, img->end, false);
}

void molt_tlv_iter_init(molt_tlv_iter_t *it, const molt_source_t *src, const molt_image_t *img)
{
    it->src = src;
    it->prot_end = img->unprot_off;
    it->end = img->end;
    it->pos = img->prot_tlv_size ? img->prot_off + MOLT_TLV_INFO_SIZE
                                 : img->unprot_off + MOLT_TLV_INFO_SIZE;
}

molt_err_t molt_tlv_next(molt_tlv_iter_t *it, molt_tlv_t *tlv, bool *more)
{
    if (it->pos == it->prot_end)
        it->pos += MOLT_TLV_INFO_SIZE; /* step over the unprotected info header */
    if (it->pos >= it->end) {
        *more = false;
        return MOLT_OK;
    }
    /* Re-checked here although parse checked it: the source may be flash that
     * changed since, and a bound check is cheaper than a wrong read. */
    uint32_t area_end = it->pos < it->prot_end ? it->prot_end : it->end;
    uint8_t h[MOLT_TLV_HDR_SIZE];
    if (area_end - it->pos < MOLT_TLV_HDR_SIZE)
        return MOLT_E_TLV_OVERRUN;
    molt_err_t err = src_read(it->src, it->pos, h, sizeof h);
    if (err != MOLT_OK)
        return err;
    tlv->type = molt_le16(h);
    tlv->len = molt_le16(h + 2);
    tlv->off = it->pos + MOLT_TLV_HDR_SIZE;
    tlv->prot = it->pos < it->prot_end;
    if (tlv->len > area_end - tlv->off)
        return MOLT_E_TLV_OVERRUN;
    it->pos = tlv->off + tlv->len;
    *more = true;
    return MOLT_OK;
}

molt_err_t molt_tlv_read(const molt_source_t *src, const molt_tlv_t *tlv, void *buf, size_t cap)
{
    if (tlv->len > cap)
        return MOLT_E_BUFFER;
    return src_read(src, tlv->off, buf, tlv->len);
}

int molt_version_cmp(const molt_version_t *a, const molt_version_t *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->revision != b->revision)
        return a->revision < b->revision ? -1 : 1;
    if (a->build != b->build)
        return a->build < b->build ? -1 : 1;
    return 0;
}

static molt_err_t mem_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    const molt_mem_source_t *m = ctx;
    if (off > m->size || len > m->size - off)
        return MOLT_E_IO;
    memcpy(buf, m->data + off, len);
    return MOLT_OK;
}

void molt_source_from_mem(molt_source_t *src, molt_mem_source_t *mem, const void *data, uint32_t size)
{
    mem->data = data;
    mem->size = size;
    src->read = mem_read;
    src->ctx = mem;
    src->size = size;
}
