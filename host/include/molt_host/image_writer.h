/*
 * molt_host/image_writer.h - lay an image out byte for byte as imgtool does
 * (header, protected TLVs, unprotected TLVs, trailer; host/image_writer.c).
 * `molt sign` parses imgtool's options into a sign_opts_t.
 */
#ifndef MOLT_HOST_IMAGE_WRITER_H
#define MOLT_HOST_IMAGE_WRITER_H

#include "molt/image.h"
#include "molt_host/encrypt.h"
#include "molt_host/keys.h"

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


/* Build the signed image from the raw input bytes into out (padded to the slot
 * with a trailer when asked). key may be NULL for an unsigned image. */
bool sign_build_image(const sign_opts_t *o, const sign_key_t *key, enum sign_sha alg,
                      const uint8_t *in, size_t in_len, sbuf_t *out);

#endif
