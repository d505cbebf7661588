/*
 * cmd_sign.c - `molt sign [options] IN OUT`, a drop-in for `imgtool sign`.
 *
 * Same option names and meanings as imgtool (2.4.0), so build scripts switch
 * by changing the program name; the output is byte-identical to imgtool's
 * except for the randomized ECDSA/RSA signature bytes. This file parses and
 * validates the options; sign_image.c builds the image, sign_crypto.c signs.
 * Encryption (-E) is imgtool's: ECIES-P256, ECIES-X25519 or RSA-OAEP-2048 key
 * TLV, AES-CTR payload, hash and signature over the plaintext (enc_tool.c).
 * Anything imgtool can do that molt cannot (AES key wrap, Intel HEX, big endian,
 * compression, external signatures) is refused with one line, exit 2.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "cli.h"
#include "molt_host/encrypt.h"
#include "molt_host/version.h"
#include "molt_host/image_writer.h"

static const char usage_text[] =
    "usage: molt sign [options] IN OUT    (imgtool sign's options)\n"
    "  -k, --key FILE             private signing key (PEM/DER); none: unsigned image\n"
    "  -v, --version VER          maj.min.rev+build                      (required)\n"
    "  -H, --header-size N        header area size, >= 32                (required)\n"
    "  -S, --slot-size N          slot size, for the overflow check/padding (required)\n"
    "  -s, --security-counter N   protected SEC_CNT: a number, or 'auto'\n"
    "      --pad-header           prepend an erased header area to IN\n"
    "      --pad                  pad OUT to the slot size and add the trailer magic\n"
    "      --confirm              like --pad, and set image_ok\n"
    "      --overwrite-only       trailer for overwrite-only upgrades\n"
    "      --align 1|2|4|8|16|32  flash write size (default 1)\n"
    "      --max-align 8|16|32    maximum flash alignment (default max(8, align))\n"
    "  -M, --max-sectors N        sectors in the swap status area (default 128)\n"
    "      --public-key-format hash|full   KEYHASH (default) or PUBKEY TLV\n"
    "      --sha auto|256|384|512  image hash (auto: 384 for P-384, else 256)\n"
    "      --pure                 Ed25519 over the whole image (SHA-512 hash TLV)\n"
    "      --pad-sig              zero-pad ECDSA signatures (MCUboot < 1.5)\n"
    "  -d, --dependencies DEPS    \"(ID, VER), (ID, VER)...\"\n"
    "      --boot-record SW_TYPE  CBOR boot record TLV (at most 12 characters)\n"
    "      --custom-tlv TAG VALUE  protected vendor TLV (0xXXa0-0xXXfe); VALUE 0x.. or text\n"
    "      --custom-tlv-file TAG FILE\n"
    "      --data-schema APP:SCHEMA[:FROM]  the data schema this image uses for application APP\n"
    "                             (1..65535), migrating from schema FROM..SCHEMA (default FROM = SCHEMA)\n"
    "                             (protected TLV 0x6dd5, R-KEEPDATA; once per application)\n"
    "      --boot-stage N         mark the image for boot stage N (1: the updatable boot stage,\n"
    "                             docs/boot-chain.md; protected TLV 0x6dc1)\n"
    "      --vid UUID|DOMAIN      vendor UUID (UUIDv5 of DOMAIN in the DNS namespace)\n"
    "      --cid UUID|NAME        image class UUID (UUIDv5 of NAME in the vid namespace)\n"
    "  -L, --load-addr ADDR       RAM load address (sets RAM_LOAD)\n"
    "  -F, --rom-fixed ADDR       flash address the image is linked for (sets ROM_FIXED)\n"
    "      --non-bootable         set the NON_BOOTABLE flag\n"
    "  -R, --erased-val 0|0xff    erased flash value (default 0xff)\n"
    "  -e, --endian little        big endian is not supported\n"
    "  -E, --encrypt PUB          encrypt for this device key (ecdsa-p256: ENC_EC256, x25519: ENC_X25519,\n"
    "                             rsa-2048: ENC_RSA2048, RSA-OAEP-SHA-256)\n"
    "      --encrypt-keylen 128|256  AES key size (default 128)\n"
    "      --hmac-sha auto|256|512   ECIES hash (512: ENC_X25519_SHA512, x25519 only)\n"
    "  -c, --clear                flag and key TLV, but the payload left in plaintext (factory image)\n"
    "      --save-content-key FILE   keep the AES content key (mode 0600) for key envelopes\n"
    "Not supported yet: --save-enctlv, -x/--hex-addr, Intel HEX\n"
    "files, --compression, --fix-sig, --sig-out, --vector-to-sign.\n";

enum opt_id {
    O_KEY, O_VERSION, O_SECCNT, O_HDR, O_SLOT, O_PAD_HEADER, O_PAD, O_CONFIRM, O_OVERWRITE,
    O_ALIGN, O_MAX_ALIGN, O_MAX_SECTORS, O_PUBKEY_FMT, O_SHA, O_PURE, O_PAD_SIG, O_DEPS,
    O_BOOT_RECORD, O_CUSTOM, O_CUSTOM_FILE, O_DATA_SCHEMA, O_BOOT_STAGE, O_VID, O_CID, O_LOAD_ADDR, O_ROM_FIXED,
    O_NON_BOOTABLE, O_ERASED, O_ENDIAN, O_HEX_ADDR, O_ENCRYPT, O_ENC_KEYLEN, O_HMAC_SHA, O_CLEAR, O_SAVE_KEY,
    O_COMPRESSION, O_UNSUPPORTED, O_HELP
};

static const struct option_def {
    const char *name; /* long name */
    char short_name;  /* 0: none */
    int nargs;
    enum opt_id id;
} options[] = {
    {"key", 'k', 1, O_KEY},
    {"version", 'v', 1, O_VERSION},
    {"security-counter", 's', 1, O_SECCNT},
    {"header-size", 'H', 1, O_HDR},
    {"slot-size", 'S', 1, O_SLOT},
    {"pad-header", 0, 0, O_PAD_HEADER},
    {"pad", 0, 0, O_PAD},
    {"confirm", 0, 0, O_CONFIRM},
    {"overwrite-only", 0, 0, O_OVERWRITE},
    {"align", 0, 1, O_ALIGN},
    {"max-align", 0, 1, O_MAX_ALIGN},
    {"max-sectors", 'M', 1, O_MAX_SECTORS},
    {"public-key-format", 0, 1, O_PUBKEY_FMT},
    {"sha", 0, 1, O_SHA},
    {"pure", 0, 0, O_PURE},
    {"pad-sig", 0, 0, O_PAD_SIG},
    {"dependencies", 'd', 1, O_DEPS},
    {"boot-record", 0, 1, O_BOOT_RECORD},
    {"custom-tlv", 0, 2, O_CUSTOM},
    {"custom-tlv-file", 0, 2, O_CUSTOM_FILE},
    {"data-schema", 0, 1, O_DATA_SCHEMA},
    {"boot-stage", 0, 1, O_BOOT_STAGE},
    {"vid", 0, 1, O_VID},
    {"cid", 0, 1, O_CID},
    {"load-addr", 'L', 1, O_LOAD_ADDR},
    {"rom-fixed", 'F', 1, O_ROM_FIXED},
    {"non-bootable", 0, 0, O_NON_BOOTABLE},
    {"erased-val", 'R', 1, O_ERASED},
    {"endian", 'e', 1, O_ENDIAN},
    {"hex-addr", 'x', 1, O_HEX_ADDR},
    {"encrypt", 'E', 1, O_ENCRYPT},
    {"encrypt-keylen", 0, 1, O_ENC_KEYLEN},
    {"hmac-sha", 0, 1, O_HMAC_SHA},
    {"clear", 'c', 0, O_CLEAR},
    {"save-content-key", 0, 1, O_SAVE_KEY},
    {"save-enctlv", 0, 0, O_UNSUPPORTED},
    {"compression", 0, 1, O_COMPRESSION},
    {"fix-sig", 0, 1, O_UNSUPPORTED},
    {"fix-sig-pubkey", 0, 1, O_UNSUPPORTED},
    {"sig-out", 0, 1, O_UNSUPPORTED},
    {"vector-to-sign", 0, 1, O_UNSUPPORTED},
    {"help", 'h', 0, O_HELP},
};

/* Parsing state: the options being filled, plus what needs a second pass. */
typedef struct sign_args {
    sign_opts_t o;
    const char *version, *sec_cnt, *vid, *cid;
    bool has_hdr, has_slot, has_max_align, help;
    bool has_keylen, has_hmac;
    const char *pos[2];
    size_t npos;
} sign_args_t;

/* ---- small parsers ---- */

/* Python's int(s, 0), which imgtool uses: 0x/0o/0b prefixes, decimal without
 * leading zeros, '_' between digits. */
static bool py_int(const char *s, uint64_t max, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && s[1] && strchr("xXoObB", s[1])) {
        base = strchr("xX", s[1]) ? 16 : strchr("oO", s[1]) ? 8 : 2;
        s += 2;
        if (*s == '_')
            s++;
    } else if (s[0] == '0') {
        for (const char *p = s; *p; p++)
            if (*p != '0' && *p != '_')
                return false;
    }
    uint64_t v = 0;
    bool any = false;
    for (; *s; s++) {
        if (*s == '_' && any && s[1] && s[1] != '_')
            continue;
        unsigned d = isdigit((unsigned char)*s) ? (unsigned)(*s - '0')
                     : isxdigit((unsigned char)*s) ? (unsigned)(tolower((unsigned char)*s) - 'a' + 10) : 99;
        if (d >= base || d > max || v > (max - d) / base)
            return false;
        v = v * base + d;
        any = true;
    }
    *out = v;
    return any;
}

static bool parse_int_opt(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    if (py_int(s, max, out))
        return true;
    host_error("%s: '%s' is not an integer in [0, %llu] (use 0x for hex)", opt, s, (unsigned long long)max);
    return false;
}

static const char *skip_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* One "(ID, VERSION)" of --dependencies; *s advances past it. */
static bool parse_one_dep(const char **s, sign_dep_t *d, const char **why)
{
    const char *p = skip_space(*s);
    char *end;
    *why = "expected \"(ID, maj.min.rev+build)\"";
    if (*p++ != '(' || !isdigit((unsigned char)*(p = skip_space(p))))
        return false;
    unsigned long id = strtoul(p, &end, 10);
    p = skip_space(end);
    if (*p++ != ',')
        return false;
    p = skip_space(p);
    size_t n = strcspn(p, ") \t");
    char ver[64];
    if (n == 0 || n >= sizeof ver)
        return false;
    memcpy(ver, p, n);
    ver[n] = '\0';
    p = skip_space(p + n);
    if (*p++ != ')' || !host_parse_version(ver, &d->version, why))
        return false;
    if (id > 255) {
        *why = "image ID is at most 255";
        return false;
    }
    d->image_id = (uint8_t)id;
    *s = p;
    return true;
}

static bool parse_deps(sign_opts_t *o, const char *s)
{
    const char *why = NULL;
    free(o->deps);
    o->deps = NULL;
    o->ndeps = 0;
    for (const char *p = skip_space(s); *p; p = skip_space(p)) {
        sign_dep_t *d = realloc(o->deps, (o->ndeps + 1) * sizeof *d);
        if (!d)
            return host_error("out of memory"), false;
        o->deps = d;
        if (!parse_one_dep(&p, &o->deps[o->ndeps], &why))
            return host_error("--dependencies: '%s': %s", s, why), false;
        o->ndeps++;
        p = skip_space(p);
        if (*p == ',')
            p++;
    }
    if (o->ndeps == 0)
        return host_error("--dependencies: '%s': no dependency given", s), false;
    return true;
}

/* A canonical 8-4-4-4-12 hex UUID string into 16 bytes. */
static bool parse_raw_uuid(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-') || (!dash && !isxdigit((unsigned char)s[i])))
            return false;
    }
    for (size_t i = 0; i < 36; i += (s[i] == '-') ? 1 : 2) {
        if (s[i] == '-')
            continue;
        char hex[3] = {s[i], s[i + 1], 0};
        out[n++] = (uint8_t)strtoul(hex, NULL, 16);
    }
    return n == 16;
}

static bool resolve_uuids(sign_args_t *a)
{
    static const uint8_t dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    sign_opts_t *o = &a->o;
    if (a->vid) {
        o->has_vid = parse_raw_uuid(a->vid, o->vid) || sign_uuid5(dns, a->vid, o->vid);
        if (!o->has_vid)
            return host_error("--vid: cannot compute the UUID"), false;
    }
    if (a->cid) {
        if (!parse_raw_uuid(a->cid, o->cid)) {
            if (!a->vid)
                return host_error("--cid: '%s' is not a UUID; a class name needs --vid", a->cid), false;
            if (!sign_uuid5(o->vid, a->cid, o->cid))
                return host_error("--cid: cannot compute the UUID"), false;
        }
        o->has_cid = true;
    }
    return true;
}

/* ---- --custom-tlv ---- */

static bool hex_value(const char *s, sign_custom_tlv_t *t)
{
    size_t n = strlen(s);
    if (n % 2)
        return host_error("--custom-tlv: '0x%s': odd number of hex digits", s), false;
    t->value = malloc(n / 2 + 1);
    if (!t->value)
        return host_error("out of memory"), false;
    for (size_t i = 0; i < n; i += 2) {
        if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
            return host_error("--custom-tlv: '0x%s': not hex", s), false;
        char hex[3] = {s[i], s[i + 1], 0};
        t->value[i / 2] = (uint8_t)strtoul(hex, NULL, 16);
    }
    t->len = n / 2;
    return true;
}

static bool custom_tag(const sign_opts_t *o, const char *opt, const char *s, uint16_t *tag)
{
    uint64_t v;
    if (!parse_int_opt(opt, s, 0xffff, &v))
        return false;
    if ((v & 0xff) < 0xa0 || v == 0xffff)
        return host_error("%s: tag %s is not in a vendor range 0xXXa0-0xXXff (not 0xffff)", opt, s), false;
    for (size_t i = 0; i < o->ncustom; i++)
        if (o->custom[i].tag == v)
            return host_error("%s: tag 0x%llx given twice", opt, (unsigned long long)v), false;
    *tag = (uint16_t)v;
    return true;
}

/* --data-schema APP:SCHEMA[:FROM] -> the protected TLV MOLT_TLV_DATA_SCHEMA. */
static bool add_schema(sign_opts_t *o, const char *arg)
{
    unsigned long v[3] = {0, 0, 0};
    int n = 0;
    const char *p = arg;
    while (n < 3) {
        char *end = NULL;
        if (!isdigit((unsigned char)*p))
            break;
        v[n++] = strtoul(p, &end, 10);
        p = end;
        if (*p != ':')
            break;
        p++;
    }
    if (*p != '\0' || n < 2)
        return host_error("--data-schema: '%s' is not APP:SCHEMA or APP:SCHEMA:FROM", arg), false;
    if (n == 2)
        v[2] = v[1];
    if (v[0] == 0 || v[0] > 0xffff || v[1] > 0xffff || v[2] > v[1])
        return host_error("--data-schema: '%s': APP must be 1..65535 and FROM <= SCHEMA <= 65535", arg), false;
    for (size_t i = 0; i < o->ncustom; i++)
        if (o->custom[i].tag == MOLT_TLV_DATA_SCHEMA && o->custom[i].len == 8 &&
            molt_le16(o->custom[i].value) == v[0])
            return host_error("--data-schema: application %lu given twice", v[0]), false;
    sign_custom_tlv_t t = {MOLT_TLV_DATA_SCHEMA, malloc(8), 8};
    sign_custom_tlv_t *c = realloc(o->custom, (o->ncustom + 1) * sizeof *c);
    if (t.value == NULL || c == NULL) {
        free(t.value);
        if (c != NULL)
            o->custom = c;
        return host_error("out of memory"), false;
    }
    o->custom = c;
    molt_put_le16(t.value, (uint16_t)v[0]);
    molt_put_le16(t.value + 2, (uint16_t)v[1]);
    molt_put_le16(t.value + 4, (uint16_t)v[2]);
    molt_put_le16(t.value + 6, 0);
    o->custom[o->ncustom++] = t;
    return true;
}

/* --boot-stage N -> the protected TLV MOLT_TLV_BOOT_STAGE (one byte). */
static bool add_stage(sign_opts_t *o, const char *arg)
{
    uint64_t n = 0;
    if (!host_parse_u64(arg, 255, &n) || n == 0)
        return host_error("--boot-stage: '%s': want 1..255 (1: the updatable boot stage)", arg), false;
    for (size_t i = 0; i < o->ncustom; i++)
        if (o->custom[i].tag == MOLT_TLV_BOOT_STAGE)
            return host_error("--boot-stage given twice"), false;
    sign_custom_tlv_t t = {MOLT_TLV_BOOT_STAGE, malloc(1), 1};
    sign_custom_tlv_t *c = realloc(o->custom, (o->ncustom + 1) * sizeof *c);
    if (t.value == NULL || c == NULL) {
        free(t.value);
        if (c != NULL)
            o->custom = c;
        return host_error("out of memory"), false;
    }
    o->custom = c;
    t.value[0] = (uint8_t)n;
    o->custom[o->ncustom++] = t;
    return true;
}

static bool add_custom(sign_opts_t *o, const char *tag, const char *value, bool from_file)
{
    const char *opt = from_file ? "--custom-tlv-file" : "--custom-tlv";
    sign_custom_tlv_t t = {0};
    if (!custom_tag(o, opt, tag, &t.tag))
        return false;
    sign_custom_tlv_t *c = realloc(o->custom, (o->ncustom + 1) * sizeof *c);
    if (!c)
        return host_error("out of memory"), false;
    o->custom = c;
    bool ok;
    if (from_file) {
        ok = host_read_file(value, &t.value, &t.len);
    } else if (!strncmp(value, "0x", 2)) {
        ok = hex_value(value + 2, &t);
    } else {
        t.len = strlen(value);
        t.value = (uint8_t *)strdup(value);
        ok = t.value != NULL;
    }
    if (!ok) {
        free(t.value);
        return false;
    }
    o->custom[o->ncustom++] = t;
    return true;
}

/* ---- one option ---- */

static bool choice(const char *opt, const char *v, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(v, allowed[i]))
            return true;
    host_error("%s: '%s' is not one of the allowed values", opt, v);
    return false;
}

static bool set_u32(const char *opt, const char *v, uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t x;
    if (!parse_int_opt(opt, v, max, &x))
        return false;
    if (x < min)
        return host_error("%s: must be at least %llu", opt, (unsigned long long)min), false;
    *out = (uint32_t)x;
    return true;
}

/* Options with a number or a fixed set of values that shape the layout. */
static bool apply_number(sign_args_t *a, enum opt_id id, const char *opt, const char *v)
{
    static const char *const aligns[] = {"1", "2", "4", "8", "16", "32", NULL};
    static const char *const max_aligns[] = {"8", "16", "32", NULL};
    static const char *const erased[] = {"0", "0xff", NULL};
    sign_opts_t *o = &a->o;
    uint32_t x = 0;
    switch (id) {
    case O_HDR:
        a->has_hdr = set_u32(opt, v, MOLT_IMAGE_HEADER_SIZE, 0xffff, &x);
        o->hdr_size = (uint16_t)x;
        return a->has_hdr;
    case O_SLOT:
        return (a->has_slot = set_u32(opt, v, 0, UINT32_MAX, &o->slot_size));
    case O_ALIGN:
        o->align = (unsigned)atoi(v);
        return choice(opt, v, aligns);
    case O_MAX_ALIGN:
        o->max_align = (unsigned)atoi(v);
        a->has_max_align = true;
        return choice(opt, v, max_aligns);
    case O_MAX_SECTORS: return set_u32(opt, v, 0, 1u << 20, &o->max_sectors);
    case O_LOAD_ADDR: return set_u32(opt, v, 0, UINT32_MAX, &o->load_addr);
    case O_ROM_FIXED: return set_u32(opt, v, 0, UINT32_MAX, &o->rom_fixed);
    case O_ERASED:
        o->erased = strcmp(v, "0") ? 0xff : 0;
        return choice(opt, v, erased);
    default: return false;
    }
}

static bool apply_layout(sign_args_t *a, enum opt_id id, const char *opt, char **v)
{
    sign_opts_t *o = &a->o;
    switch (id) {
    case O_PAD_HEADER: o->pad_header = true; return true;
    case O_PAD: o->pad = true; return true;
    case O_CONFIRM: o->confirm = true; return true;
    case O_OVERWRITE: o->overwrite_only = true; return true;
    case O_NON_BOOTABLE: o->non_bootable = true; return true;
    default: return apply_number(a, id, opt, v[0]);
    }
}

static bool apply_content(sign_args_t *a, enum opt_id id, const char *opt, char **v)
{
    static const char *const fmts[] = {"hash", "full", NULL};
    static const char *const shas[] = {"auto", "256", "384", "512", NULL};
    sign_opts_t *o = &a->o;
    switch (id) {
    case O_KEY: o->key_path = v[0]; return true;
    case O_VERSION: a->version = v[0]; return true;
    case O_SECCNT: a->sec_cnt = v[0]; return true;
    case O_VID: a->vid = v[0]; return true;
    case O_CID: a->cid = v[0]; return true;
    case O_BOOT_RECORD: o->boot_record = v[0]; return true;
    case O_PURE: o->pure = true; return true;
    case O_PAD_SIG: o->pad_sig = true; return true;
    case O_DEPS: return parse_deps(o, v[0]);
    case O_CUSTOM: return add_custom(o, v[0], v[1], false);
    case O_CUSTOM_FILE: return add_custom(o, v[0], v[1], true);
    case O_DATA_SCHEMA: return add_schema(o, v[0]);
    case O_BOOT_STAGE: return add_stage(o, v[0]);
    case O_PUBKEY_FMT: o->full_pubkey = !strcmp(v[0], "full"); return choice(opt, v[0], fmts);
    case O_SHA: o->sha = (enum sign_sha)atoi(v[0]); return choice(opt, v[0], shas);
    default: return false;
    }
}

static bool apply_refusal(enum opt_id id, const char *opt, char **v)
{
    switch (id) {
    case O_HEX_ADDR: return host_error("%s: Intel HEX output is not supported", opt), false;
    case O_UNSUPPORTED: return host_error("%s is not supported", opt), false;
    case O_ENDIAN:
        if (!strcmp(v[0], "little"))
            return true;
        if (!strcmp(v[0], "big"))
            return host_error("%s big: big-endian images are not supported", opt), false;
        return host_error("%s: '%s' is not little or big", opt, v[0]), false;
    case O_COMPRESSION:
        if (!strcmp(v[0], "disabled"))
            return true;
        return host_error("%s %s: compression is not supported", opt, v[0]), false;
    default: return false;
    }
}

static bool apply_encryption(sign_args_t *a, enum opt_id id, const char *opt, char **v)
{
    static const char *const keylens[] = {"128", "256", NULL};
    static const char *const hmacs[] = {"auto", "256", "512", NULL};
    sign_opts_t *o = &a->o;
    switch (id) {
    case O_ENCRYPT: o->enc_path = v[0]; return true;
    case O_ENC_KEYLEN:
        a->has_keylen = true;
        o->enc_key_len = strcmp(v[0], "256") ? 16 : 32;
        return choice(opt, v[0], keylens);
    case O_HMAC_SHA:
        a->has_hmac = true;
        o->hmac512 = !strcmp(v[0], "512");
        return choice(opt, v[0], hmacs);
    case O_CLEAR: o->clear = true; return true;
    case O_SAVE_KEY: o->save_key_path = v[0]; return true;
    default: return false;
    }
}

static bool apply(sign_args_t *a, const struct option_def *d, const char *opt, char **v)
{
    switch (d->id) {
    case O_HELP: a->help = true; return true;
    case O_ENCRYPT: case O_ENC_KEYLEN: case O_HMAC_SHA: case O_CLEAR: case O_SAVE_KEY:
        return apply_encryption(a, d->id, opt, v);
    case O_HEX_ADDR: case O_UNSUPPORTED: case O_ENDIAN: case O_COMPRESSION:
        return apply_refusal(d->id, opt, v);
    case O_KEY: case O_VERSION: case O_SECCNT: case O_VID: case O_CID: case O_BOOT_RECORD:
    case O_PURE: case O_PAD_SIG: case O_DEPS: case O_CUSTOM: case O_CUSTOM_FILE: case O_DATA_SCHEMA:
    case O_BOOT_STAGE: case O_PUBKEY_FMT: case O_SHA:
        return apply_content(a, d->id, opt, v);
    default:
        return apply_layout(a, d->id, opt, v);
    }
}

/* ---- the command line ---- */

static const struct option_def *find_option(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const struct option_def *d = &options[i];
        if (arg[1] != '-') {
            if (d->short_name && arg[1] == d->short_name && (arg[2] == '\0' || d->nargs == 1)) {
                *inline_value = arg[2] ? arg + 2 : NULL;
                return d;
            }
            continue;
        }
        size_t n = strlen(d->name);
        if (!strncmp(arg + 2, d->name, n) && (arg[2 + n] == '\0' || (arg[2 + n] == '=' && d->nargs == 1))) {
            *inline_value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            return d;
        }
    }
    return NULL;
}

/* Handle argv[*i] (an option) and its values; advances *i past them. */
static bool take_option(sign_args_t *a, int argc, char **argv, int *i)
{
    const char *inline_value;
    const char *arg = argv[*i];
    const struct option_def *d = find_option(arg, &inline_value);
    if (!d)
        return host_error("unknown option '%s' (see molt sign --help)", arg), false;
    char *vals[2] = {(char *)inline_value, NULL};
    int need = d->nargs - (inline_value ? 1 : 0);
    if (*i + need >= argc)
        return host_error("%s needs %d value%s", arg, d->nargs, d->nargs > 1 ? "s" : ""), false;
    for (int k = 0; k < need; k++)
        vals[d->nargs - need + k] = argv[*i + 1 + k];
    *i += need;
    return apply(a, d, arg, vals);
}

static bool parse_argv(sign_args_t *a, int argc, char **argv)
{
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && !strcmp(arg, "--")) {
            only_positional = true;
        } else if (!only_positional && arg[0] == '-' && arg[1]) {
            if (!take_option(a, argc, argv, &i))
                return false;
            if (a->help)
                return true;
        } else if (a->npos < 2) {
            a->pos[a->npos++] = arg;
        } else {
            return host_error("unexpected argument '%s' (usage: molt sign [options] IN OUT)", arg),
                   false;
        }
    }
    return true;
}

static bool has_hex_ext(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base + 1 : path, '.');
    return dot && dot != (base ? base + 1 : path) && !strcasecmp(dot, ".hex");
}

static bool finish_required(sign_args_t *a)
{
    if (a->npos != 2)
        return host_error("need IN and OUT (usage: molt sign [options] IN OUT)"), false;
    if (!a->version)
        return host_error("missing required option -v/--version"), false;
    if (!a->has_hdr)
        return host_error("missing required option -H/--header-size"), false;
    if (!a->has_slot)
        return host_error("missing required option -S/--slot-size"), false;
    a->o.in_path = a->pos[0];
    a->o.out_path = a->pos[1];
    if (has_hex_ext(a->o.in_path))
        return host_error("%s: Intel HEX input is not supported: give a raw binary", a->o.in_path), false;
    if (has_hex_ext(a->o.out_path))
        return host_error("%s: Intel HEX output is not supported: use a .bin name", a->o.out_path), false;
    return true;
}

static bool finish_values(sign_args_t *a)
{
    sign_opts_t *o = &a->o;
    const char *why;
    if (!host_parse_version(a->version, &o->version, &why))
        return host_error("--version: '%s': %s", a->version, why), false;
    if (a->sec_cnt && !strcasecmp(a->sec_cnt, "auto")) {
        o->sec_cnt = ((uint32_t)o->version.major << 24) | ((uint32_t)o->version.minor << 16) |
                     o->version.revision;
        o->has_sec_cnt = true;
    } else if (a->sec_cnt) {
        uint64_t v;
        if (!parse_int_opt("--security-counter", a->sec_cnt, UINT32_MAX, &v))
            return false;
        o->sec_cnt = (uint32_t)v;
        o->has_sec_cnt = true;
    }
    if (o->boot_record && strlen(o->boot_record) > 12)
        return host_error("--boot-record: '%s' is too long (at most 12 characters)", o->boot_record), false;
    if (o->load_addr && o->rom_fixed)
        return host_error("--load-addr and --rom-fixed cannot be used together"), false;
    if (!o->enc_path && (a->has_keylen || a->has_hmac || o->clear || o->save_key_path))
        return host_error("--encrypt-keylen, --hmac-sha, --clear and --save-content-key need -E/--encrypt"), false;
    return resolve_uuids(a);
}

static bool finish_layout(sign_args_t *a)
{
    sign_opts_t *o = &a->o;
    if (o->confirm)
        o->pad = true; /* imgtool: --confirm implies --pad */
    if (!a->has_max_align)
        o->max_align = o->align > 8 ? o->align : 8;
    if (o->pad && o->slot_size == 0)
        return host_error("--pad needs a non-zero -S/--slot-size"), false;
    return true;
}

static void free_opts(sign_opts_t *o)
{
    for (size_t i = 0; i < o->ncustom; i++)
        free(o->custom[i].value);
    free(o->custom);
    free(o->deps);
}

/* ---- signing ---- */

/* -E: a fresh content key from OpenSSL's CSPRNG, wrapped for the device key. */
static bool prepare_encryption(sign_opts_t *o)
{
    enc_key_t k;
    if (!o->enc_path)
        return true;
    if (!enc_key_load(o->enc_path, false, &k))
        return false;
    bool ok = true;
    if (o->hmac512 && !k.x25519)
        ok = (host_error("--hmac-sha 512: only with an x25519 encryption key (ENC_EC256 is HMAC-SHA256)"), false);
    ok = ok && (RAND_priv_bytes(o->content_key, (int)o->enc_key_len) == 1 ||
                (host_error("no randomness for the content key: %s", host_ossl_error()), false));
    ok = ok && enc_wrap_tlv(&k, o->hmac512, o->content_key, o->enc_key_len, &o->enc_tlv_type, o->enc_tlv,
                            &o->enc_tlv_len);
    enc_key_free(&k);
    return ok;
}

static int sign_run(sign_opts_t *o)
{
    sign_key_t key = {0};
    enum sign_sha alg;
    uint8_t *in = NULL;
    size_t in_len = 0;
    sbuf_t img = {0};
    bool ok = (!o->key_path || sign_key_load(o->key_path, &key)) &&
              sign_pick_sha(o->key_path ? &key : NULL, o->sha, o->pure, &alg) && prepare_encryption(o) &&
              host_read_file(o->in_path, &in, &in_len) &&
              sign_build_image(o, o->key_path ? &key : NULL, alg, in, in_len, &img) &&
              (!o->save_key_path || cli_write_secret(o->save_key_path, o->content_key, o->enc_key_len, true)) &&
              host_write_file(o->out_path, img.p, img.len);
    OPENSSL_cleanse(o->content_key, sizeof o->content_key);
    sign_key_free(&key);
    free(in);
    sbuf_free(&img);
    return ok ? 0 : EXIT_USAGE;
}

int cmd_sign(int argc, char **argv)
{
    sign_args_t a = {0};
    a.o.align = 1;
    a.o.max_sectors = 128;
    a.o.erased = 0xff;
    a.o.enc_key_len = 16;
    bool ok = parse_argv(&a, argc, argv);
    if (ok && a.help) {
        fputs(usage_text, stdout);
        free_opts(&a.o);
        return 0;
    }
    ok = ok && finish_required(&a) && finish_values(&a) && finish_layout(&a);
    int rc = ok ? sign_run(&a.o) : EXIT_USAGE;
    free_opts(&a.o);
    return rc;
}
