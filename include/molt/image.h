/*
 * molt/image.h - the MCUboot image format: parse and bound-check, no crypto.
 *
 * Layout of an image (all integers little-endian):
 *   [header area: 32-byte header + filler, ih_hdr_size bytes]
 *   [payload: ih_img_size bytes]
 *   [protected TLV area: info 0x6908 + TLVs, ih_protect_tlv_size bytes, optional]
 *   [unprotected TLV area: info 0x6907 + TLVs, always present]
 * The hash covers everything before the unprotected area.
 *
 * molt_image_parse() reads an image through a molt_source_t (a read callback,
 * so the image may sit in flash, a file or RAM), checks every offset with
 * overflow-safe arithmetic and fills a molt_image_t. After a successful parse,
 * every TLV is known to lie inside its area, and the unprotected area holds only
 * allow-listed types. It never allocates and never trusts a length it has not
 * checked against the source size.
 *
 * Callers: verify.c, the boot code, the CLI's inspect. It never decides whether
 * an image is *trustworthy*: that is molt/verify.h.
 */
#ifndef MOLT_IMAGE_H
#define MOLT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

#define MOLT_IMAGE_MAGIC        0x96f3b83du
#define MOLT_IMAGE_MAGIC_V1     0x96f3b83cu /* legacy, refused */
#define MOLT_IMAGE_HEADER_SIZE  32u
#define MOLT_TLV_INFO_MAGIC     0x6907u
#define MOLT_TLV_PROT_INFO_MAGIC 0x6908u
#define MOLT_TLV_INFO_SIZE      4u
#define MOLT_TLV_HDR_SIZE       4u

/* Header flags (ih_flags). */
#define MOLT_IMAGE_F_PIC              0x00000001u
#define MOLT_IMAGE_F_ENCRYPTED_AES128 0x00000004u
#define MOLT_IMAGE_F_ENCRYPTED_AES256 0x00000008u
#define MOLT_IMAGE_F_NON_BOOTABLE     0x00000010u
#define MOLT_IMAGE_F_RAM_LOAD         0x00000020u
#define MOLT_IMAGE_F_ROM_FIXED        0x00000100u
#define MOLT_IMAGE_F_COMPRESSED_LZMA1 0x00000200u
#define MOLT_IMAGE_F_COMPRESSED_LZMA2 0x00000400u
#define MOLT_IMAGE_F_COMPRESSED_ARM_THUMB 0x00000800u
#define MOLT_IMAGE_F_ENCRYPTED (MOLT_IMAGE_F_ENCRYPTED_AES128 | MOLT_IMAGE_F_ENCRYPTED_AES256)

/* TLV types. */
enum molt_tlv_type {
    MOLT_TLV_KEYHASH = 0x01,
    MOLT_TLV_PUBKEY = 0x02,
    MOLT_TLV_SHA256 = 0x10,
    MOLT_TLV_SHA384 = 0x11,
    MOLT_TLV_SHA512 = 0x12,
    MOLT_TLV_RSA2048_PSS = 0x20,
    MOLT_TLV_ECDSA224 = 0x21,
    MOLT_TLV_ECDSA_SIG = 0x22,
    MOLT_TLV_RSA3072_PSS = 0x23,
    MOLT_TLV_ED25519 = 0x24,
    MOLT_TLV_SIG_PURE = 0x25,
    MOLT_TLV_ENC_RSA2048 = 0x30,
    MOLT_TLV_ENC_KW = 0x31,
    MOLT_TLV_ENC_EC256 = 0x32,
    MOLT_TLV_ENC_X25519 = 0x33,
    MOLT_TLV_ENC_X25519_SHA512 = 0x34,
    MOLT_TLV_DEPENDENCY = 0x40,
    MOLT_TLV_SEC_CNT = 0x50,
    MOLT_TLV_BOOT_RECORD = 0x60,
    MOLT_TLV_DECOMP_SIZE = 0x70,
    MOLT_TLV_DECOMP_SHA = 0x71,
    MOLT_TLV_DECOMP_SIGNATURE = 0x72,
    MOLT_TLV_COMP_DEC_SIZE = 0x73,
    MOLT_TLV_UUID_VID = 0x74,
    MOLT_TLV_UUID_CID = 0x75,
    /* molt's own, protected (a vendor tag, so imgtool's --custom-tlv writes it
     * too): the data schema an image uses, per application - app, schema,
     * oldest schema it migrates from, 0 (LE16 each; molt/keepdata.h). */
    MOLT_TLV_DATA_SCHEMA = 0x6dd5,
    /* molt's own, protected: the boot stage an image is for, one byte (1: the
     * updatable boot stage, docs/boot-chain.md). Absent: an application. */
    MOLT_TLV_BOOT_STAGE = 0x6dc1
};

/* Where the bytes of an image come from. read() returns MOLT_OK only when all
 * len bytes at off were read; verify and parse never read past size. */
typedef struct molt_source {
    molt_err_t (*read)(void *ctx, uint32_t off, void *buf, size_t len);
    void *ctx;
    uint32_t size; /* bytes readable: file size, or slot size */
} molt_source_t;

typedef struct molt_version {
    uint8_t major;
    uint8_t minor;
    uint16_t revision;
    uint32_t build;
} molt_version_t;

typedef struct molt_image {
    /* Header fields, host order. */
    uint32_t magic;
    uint32_t load_addr;
    uint16_t hdr_size;
    uint16_t prot_tlv_size;
    uint32_t img_size;
    uint32_t flags;
    molt_version_t version;
    /* Derived offsets, all checked: prot_off <= unprot_off < end <= source size. */
    uint32_t payload_off;  /* == hdr_size */
    uint32_t prot_off;     /* == hdr_size + img_size; start of protected info if any */
    uint32_t unprot_off;   /* start of the unprotected TLV info header */
    uint32_t end;          /* one past the last TLV byte: the image's total size */
    /* Protected facts, present only when in the protected area. */
    bool has_sec_cnt;
    uint32_t sec_cnt;
} molt_image_t;

/* Parse and bound-check an image from src. On MOLT_OK, img is filled and every
 * TLV lies within its area; unprotected TLVs are allow-listed. */
molt_err_t molt_image_parse(const molt_source_t *src, molt_image_t *img);

/* One TLV as found by the iterator. off is the absolute offset of its value. */
typedef struct molt_tlv {
    uint16_t type;
    uint16_t len;
    uint32_t off;
    bool prot; /* lies in the protected area */
} molt_tlv_t;

typedef struct molt_tlv_iter {
    const molt_source_t *src;
    uint32_t pos;      /* next TLV header */
    uint32_t prot_end; /* end of the protected area (== unprot_off) */
    uint32_t end;      /* end of the unprotected area */
} molt_tlv_iter_t;

/* Iterate every TLV of a parsed image, protected area first, in file order.
 * molt_tlv_next() returns MOLT_OK with *more = false after the last one. */
void molt_tlv_iter_init(molt_tlv_iter_t *it, const molt_source_t *src, const molt_image_t *img);
molt_err_t molt_tlv_next(molt_tlv_iter_t *it, molt_tlv_t *tlv, bool *more);

/* Whether type may appear in the unprotected (unsigned) area. */
bool molt_tlv_allowed_unprotected(uint16_t type);

/* Read the value of tlv into buf (cap bytes); MOLT_E_BUFFER if it does not fit. */
molt_err_t molt_tlv_read(const molt_source_t *src, const molt_tlv_t *tlv, void *buf, size_t cap);

/* Version ordering: major, minor, revision, then build. <0, 0, >0 like memcmp. */
int molt_version_cmp(const molt_version_t *a, const molt_version_t *b);

/* Little-endian helpers, shared by the library and the host tools. */
static inline uint16_t molt_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t molt_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void molt_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void molt_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* A source over bytes in memory (host tools, tests, RAM-loaded images). */
typedef struct molt_mem_source {
    const uint8_t *data;
    uint32_t size;
} molt_mem_source_t;
void molt_source_from_mem(molt_source_t *src, molt_mem_source_t *mem, const void *data, uint32_t size);

#endif
