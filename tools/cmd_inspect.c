/*
 * cmd_inspect.c - `molt inspect IMAGE [--json]`: what an image says about itself.
 *
 * Header fields, layout, every TLV by name, version, security counter, the hash
 * (recomputed and compared), the signer's key id, and the MCUboot trailer when
 * the file is a padded slot. Parsing is libmolt's, so what inspect calls
 * malformed a device refuses too. Exit 0 parsed, 1 malformed, 2 usage or I/O.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"
#include "molt/verify.h"
#include "molt_host/version.h"

static const char *tlv_name(uint16_t type)
{
    switch (type) {
    case MOLT_TLV_KEYHASH: return "KEYHASH";
    case MOLT_TLV_PUBKEY: return "PUBKEY";
    case MOLT_TLV_SHA256: return "SHA256";
    case MOLT_TLV_SHA384: return "SHA384";
    case MOLT_TLV_SHA512: return "SHA512";
    case MOLT_TLV_RSA2048_PSS: return "RSA2048_PSS";
    case MOLT_TLV_ECDSA224: return "ECDSA224";
    case MOLT_TLV_ECDSA_SIG: return "ECDSA_SIG";
    case MOLT_TLV_RSA3072_PSS: return "RSA3072_PSS";
    case MOLT_TLV_ED25519: return "ED25519";
    case MOLT_TLV_SIG_PURE: return "SIG_PURE";
    case MOLT_TLV_ENC_RSA2048: return "ENC_RSA2048";
    case MOLT_TLV_ENC_KW: return "ENC_KW";
    case MOLT_TLV_ENC_EC256: return "ENC_EC256";
    case MOLT_TLV_ENC_X25519: return "ENC_X25519";
    case MOLT_TLV_ENC_X25519_SHA512: return "ENC_X25519_SHA512";
    case MOLT_TLV_DEPENDENCY: return "DEPENDENCY";
    case MOLT_TLV_SEC_CNT: return "SEC_CNT";
    case MOLT_TLV_BOOT_RECORD: return "BOOT_RECORD";
    case MOLT_TLV_DECOMP_SIZE: return "DECOMP_SIZE";
    case MOLT_TLV_DECOMP_SHA: return "DECOMP_SHA";
    case MOLT_TLV_DECOMP_SIGNATURE: return "DECOMP_SIGNATURE";
    case MOLT_TLV_COMP_DEC_SIZE: return "COMP_DEC_SIZE";
    case MOLT_TLV_UUID_VID: return "UUID_VID";
    case MOLT_TLV_UUID_CID: return "UUID_CID";
    case MOLT_TLV_DATA_SCHEMA: return "DATA_SCHEMA";
    default: return (type & 0xff) >= 0xa0 ? "VENDOR" : "UNKNOWN";
    }
}

static const struct {
    uint32_t bit;
    const char *name;
} flag_names[] = {
    {MOLT_IMAGE_F_PIC, "PIC"},
    {MOLT_IMAGE_F_ENCRYPTED_AES128, "ENCRYPTED_AES128"},
    {MOLT_IMAGE_F_ENCRYPTED_AES256, "ENCRYPTED_AES256"},
    {MOLT_IMAGE_F_NON_BOOTABLE, "NON_BOOTABLE"},
    {MOLT_IMAGE_F_RAM_LOAD, "RAM_LOAD"},
    {MOLT_IMAGE_F_ROM_FIXED, "ROM_FIXED"},
    {MOLT_IMAGE_F_COMPRESSED_LZMA1, "COMPRESSED_LZMA1"},
    {MOLT_IMAGE_F_COMPRESSED_LZMA2, "COMPRESSED_LZMA2"},
    {MOLT_IMAGE_F_COMPRESSED_ARM_THUMB, "COMPRESSED_ARM_THUMB"},
};

static const uint8_t trailer_magic8[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                           0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
static const uint8_t trailer_magic_tail[14] = {0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
                                               0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};

static char *hexdup(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s)
        host_hex(p, n, s);
    return s;
}

static const char *flag_state(uint8_t v)
{
    return v == 0xff ? "unset" : v == 0x01 ? "set" : "bad";
}

/* MCUboot trailer at the end of a padded slot: {max_align, image_ok, ...}. */
static json_t *trailer_json(const uint8_t *img, size_t len, uint32_t image_end)
{
    if (len < image_end + 16u || len < 64)
        return json_null();
    const uint8_t *m = img + len - 16;
    unsigned align;
    if (!memcmp(m, trailer_magic8, 16))
        align = 8;
    else if (!memcmp(m + 2, trailer_magic_tail, 14) && molt_le16(m) >= 16 && molt_le16(m) <= 4096 &&
             !(molt_le16(m) & (molt_le16(m) - 1)))
        align = molt_le16(m);
    else
        return json_pack("{s:s}", "magic", (m[0] == 0xff && !memcmp(m, m + 1, 15)) ? "unset" : "bad");
    size_t magic_area = (16 + align - 1) / align * align;
    if (len < magic_area + 3 * align)
        return json_null();
    uint8_t ok = img[len - magic_area - align], done = img[len - magic_area - 2 * align];
    uint8_t info = img[len - magic_area - 3 * align];
    return json_pack("{s:s,s:I,s:s,s:s,s:I,s:I}", "magic", "good", "max_align", (json_int_t)align, "image_ok",
                     flag_state(ok), "copy_done", flag_state(done), "swap_type",
                     (json_int_t)(info == 0xff ? 0 : (info & 0x0f)), "image_index",
                     (json_int_t)(info == 0xff ? 0 : (info >> 4)));
}

static json_t *tlvs_json(const molt_source_t *src, const molt_image_t *im, const uint8_t *img, bool prot,
                         const uint8_t **keyid, size_t *keyid_len, uint16_t *key_type)
{
    json_t *arr = json_array();
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    molt_tlv_iter_init(&it, src, im);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more) {
        if (t.prot != prot)
            continue;
        char *hex = hexdup(img + t.off, t.len);
        json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:I,s:s}", "type", (json_int_t)t.type, "name",
                                             tlv_name(t.type), "offset", (json_int_t)t.off, "length",
                                             (json_int_t)t.len, "value", hex ? hex : ""));
        free(hex);
        if (t.type == MOLT_TLV_KEYHASH || t.type == MOLT_TLV_PUBKEY) {
            *keyid = img + t.off;
            *keyid_len = t.len;
            *key_type = t.type;
        }
    }
    return arr;
}

static json_t *describe(const char *path, const uint8_t *img, size_t len, molt_err_t *perr)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_verify_result_t res;
    molt_policy_t pol;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    molt_policy_default(&pol);
    pol.require_signature = false;
    pol.role = MOLT_ROLE_INSTALLED; /* hash as stored */
    molt_err_t err = molt_verify(&src, NULL, &pol, &res);
    const molt_image_t *im = &res.image;
    *perr = err;

    json_t *j = json_pack("{s:s,s:I}", "file", path, "size", (json_int_t)len);
    if (len >= MOLT_IMAGE_HEADER_SIZE && im->magic == MOLT_IMAGE_MAGIC) {
        char ver[48];
        json_t *flags = json_array();
        for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
            if (im->flags & flag_names[i].bit)
                json_array_append_new(flags, json_string(flag_names[i].name));
        host_format_version(&im->version, ver, sizeof ver);
        json_object_set_new(j, "header",
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:s}", "magic", (json_int_t)im->magic,
                                      "load_addr", (json_int_t)im->load_addr, "hdr_size", (json_int_t)im->hdr_size,
                                      "protect_tlv_size", (json_int_t)im->prot_tlv_size, "img_size",
                                      (json_int_t)im->img_size, "flags", (json_int_t)im->flags, "flag_names",
                                      flags, "version", ver));
    }
    bool parsed = err == MOLT_OK || err >= MOLT_E_FLAGS;
    if (!parsed) {
        json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", molt_err_name(err), "reason",
                                                  molt_err_str(err)));
        return j;
    }
    const uint8_t *keyid = NULL;
    size_t keyid_len = 0;
    uint16_t key_type = 0;
    json_object_set_new(j, "layout",
                        json_pack("{s:I,s:I,s:I,s:I}", "payload", (json_int_t)im->payload_off, "protected_tlvs",
                                  (json_int_t)im->prot_off, "unprotected_tlvs", (json_int_t)im->unprot_off, "end",
                                  (json_int_t)im->end));
    json_object_set_new(j, "security_counter", im->has_sec_cnt ? json_integer(im->sec_cnt) : json_null());
    json_object_set_new(j, "protected_tlvs", tlvs_json(&src, im, img, true, &keyid, &keyid_len, &key_type));
    json_object_set_new(j, "unprotected_tlvs", tlvs_json(&src, im, img, false, &keyid, &keyid_len, &key_type));
    if (res.hash_len) {
        char *hex = hexdup(res.hash, res.hash_len);
        const char *alg = res.hash_alg == MOLT_HASH_SHA256 ? "sha256"
                          : res.hash_alg == MOLT_HASH_SHA384 ? "sha384" : "sha512";
        json_object_set_new(j, "hash", json_pack("{s:s,s:s,s:b}", "algorithm", alg, "value", hex ? hex : "",
                                                 "matches_tlv", err != MOLT_E_HASH_MISMATCH));
        free(hex);
    }
    if (keyid && key_type == MOLT_TLV_PUBKEY && res.hash_len) {
        /* A PUBKEY's id is its hash, the same value a KEYHASH TLV would hold. */
        static uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned dlen = 0;
        const EVP_MD *md = res.hash_alg == MOLT_HASH_SHA256 ? EVP_sha256()
                           : res.hash_alg == MOLT_HASH_SHA384 ? EVP_sha384() : EVP_sha512();
        if (EVP_Digest(keyid, keyid_len, digest, &dlen, md, NULL)) {
            keyid = digest;
            keyid_len = dlen;
        }
    }
    if (keyid) {
        char *hex = hexdup(keyid, keyid_len);
        json_object_set_new(j, "signer_key_id", json_string(hex ? hex : ""));
        free(hex);
    } else {
        json_object_set_new(j, "signer_key_id", json_null());
    }
    json_object_set_new(j, "trailer", trailer_json(img, len, im->end));
    if (err != MOLT_OK && err != MOLT_E_HASH_MISMATCH)
        json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", molt_err_name(err), "reason",
                                                  molt_err_str(err)));
    return j;
}

static void print_tlvs(const char *title, json_t *arr)
{
    size_t i;
    json_t *t;
    printf("%s:%s\n", title, json_array_size(arr) ? "" : " none");
    json_array_foreach(arr, i, t)
    {
        const char *v = json_string_value(json_object_get(t, "value"));
        printf("  0x%04llx %-17s len %-4lld %.64s%s\n", (long long)json_integer_value(json_object_get(t, "type")),
               json_string_value(json_object_get(t, "name")),
               (long long)json_integer_value(json_object_get(t, "length")), v, strlen(v) > 64 ? "..." : "");
    }
}

static void print_text(json_t *j)
{
    json_t *h = json_object_get(j, "header"), *e = json_object_get(j, "error");
    printf("file: %s (%lld bytes)\n", json_string_value(json_object_get(j, "file")),
           (long long)json_integer_value(json_object_get(j, "size")));
    if (h) {
        printf("header:\n  magic 0x%08llx  load_addr 0x%08llx  hdr_size 0x%llx  protect_tlv_size 0x%llx"
               "  img_size %lld\n",
               (long long)json_integer_value(json_object_get(h, "magic")),
               (long long)json_integer_value(json_object_get(h, "load_addr")),
               (long long)json_integer_value(json_object_get(h, "hdr_size")),
               (long long)json_integer_value(json_object_get(h, "protect_tlv_size")),
               (long long)json_integer_value(json_object_get(h, "img_size")));
        printf("  flags 0x%08llx", (long long)json_integer_value(json_object_get(h, "flags")));
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(h, "flag_names"), i, f) printf(" %s", json_string_value(f));
        printf("\n  version %s\n", json_string_value(json_object_get(h, "version")));
    }
    json_t *sc = json_object_get(j, "security_counter");
    if (json_object_get(j, "layout")) {
        if (json_is_integer(sc))
            printf("security counter: %lld\n", (long long)json_integer_value(sc));
        else
            printf("security counter: none\n");
        print_tlvs("protected TLVs", json_object_get(j, "protected_tlvs"));
        print_tlvs("unprotected TLVs", json_object_get(j, "unprotected_tlvs"));
    }
    json_t *hash = json_object_get(j, "hash");
    if (hash)
        printf("hash: %s %s (%s)\n", json_string_value(json_object_get(hash, "algorithm")),
               json_string_value(json_object_get(hash, "value")),
               json_is_true(json_object_get(hash, "matches_tlv")) ? "matches the hash TLV"
                                                                  : "DOES NOT match the hash TLV");
    json_t *kid = json_object_get(j, "signer_key_id");
    if (json_is_string(kid))
        printf("signer key id: %s\n", json_string_value(kid));
    json_t *tr = json_object_get(j, "trailer");
    if (json_is_object(tr)) {
        if (!strcmp(json_string_value(json_object_get(tr, "magic")), "good"))
            printf("trailer: magic good (max-align %lld), image_ok %s, copy_done %s, swap_type %lld\n",
                   (long long)json_integer_value(json_object_get(tr, "max_align")),
                   json_string_value(json_object_get(tr, "image_ok")),
                   json_string_value(json_object_get(tr, "copy_done")),
                   (long long)json_integer_value(json_object_get(tr, "swap_type")));
        else
            printf("trailer: magic %s\n", json_string_value(json_object_get(tr, "magic")));
    }
    if (e)
        printf("error: %s (%s)\n", json_string_value(json_object_get(e, "reason")),
               json_string_value(json_object_get(e, "code")));
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char usage[] = "usage: molt inspect IMAGE [--json]\n";
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return EXIT_VALID;
        }
        if (c != 'j') {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
        as_json = true;
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    uint8_t *img;
    size_t len;
    if (!host_read_file(argv[optind], &img, &len))
        return EXIT_USAGE;
    if (len > UINT32_MAX) {
        free(img);
        return host_error("%s: larger than 4 GiB", argv[optind]);
    }
    if (len >= 4 && !memcmp(img, "MKU1", 4)) { /* a key-update (molt/keyrot.h) */
        int rc = cli_inspect_keyupdate(argv[optind], img, len, as_json);
        free(img);
        return rc;
    }
    molt_err_t err;
    json_t *j = describe(argv[optind], img, len, &err);
    if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        print_text(j);
    }
    json_decref(j);
    free(img);
    bool malformed = err != MOLT_OK && err < MOLT_E_FLAGS;
    if (malformed)
        fprintf(stderr, "molt inspect: %s: %s\n", argv[optind], molt_err_str(err));
    return malformed ? EXIT_INVALID : 0;
}
