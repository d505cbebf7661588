/*
 * cmd_keyupdate.c - `molt keyupdate`: make, co-sign and check the signed
 * key-updates that rotate a device's trusted image keys (molt/keyrot.h,
 * docs/keys.md).
 *
 *   molt keyupdate make --seq N [--add PUB]... [--retire PUB|HEX]...
 *                       -r ROOT_PUB... [-k ROOT_PRIV]... -o OUT
 *   molt keyupdate sign -r ROOT_PUB... -k ROOT_PRIV IN OUT
 *   molt keyupdate check -r ROOT_PUB... --threshold T -f FACTORY_PUB...
 *                       [--after KU]... [--running IMAGE] KU
 *
 * -r lists the device's rotation (root) keys in the order of its table: a
 * signature names its root by index. `sign` adds one more root signature, so
 * the holders of a threshold sign one after the other, each on their own
 * machine. `check` judges the update exactly as a device with these keys
 * would, after the earlier updates (--after, in order), through libmolt;
 * with --running, also whether that image (what the devices run) still
 * verifies under the new set (KU_STRANDS if the update retires its signer).
 * `molt inspect` shows a key-update.
 *
 * Exit 0 made / accepted, 1 refused (check), 2 usage or I/O error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli.h"
#include "molt_host/keyring.h"
#include "molt/keyrot.h"
#include "molt_host/image_writer.h"

#define KU_MAX 4096u

static int usage(FILE *f)
{
    fprintf(f,
            "usage: molt keyupdate make --seq N [--add PUB]... [--retire PUB|HEXID]... -r ROOT_PUB... "
            "[-k ROOT_PRIV]... -o OUT\n"
            "       molt keyupdate sign -r ROOT_PUB... -k ROOT_PRIV IN OUT\n"
            "       molt keyupdate check -r ROOT_PUB... --threshold T -f FACTORY_PUB... [--after KU]... "
            "[--running IMAGE] KU\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* Where a root's signature goes: its index in the device's root table. */
static int root_index(const host_keyring_t *roots, const sign_key_t *k)
{
    for (size_t i = 0; i < roots->ring.count; i++)
        if (roots->keys[i].der_len == k->pub_len && !memcmp(roots->keys[i].der, k->pub_der, k->pub_len))
            return (int)i;
    return -1;
}

/* The end of the signed body and the signature count, from a key-update's
 * own counts (bounds checked); false if it is not one. */
static bool ku_body(const uint8_t *p, size_t len, size_t *body)
{
    if (len < 13 || memcmp(p, MOLT_KEYROT_MAGIC, 4))
        return false;
    size_t off = 12;
    for (unsigned i = 0; i < p[8]; i++) {
        if (len - off < 2 || len - off - 2 < molt_le16(p + off))
            return false;
        off += 2u + molt_le16(p + off);
    }
    if ((len - off) / 32 < p[9])
        return false;
    off += 32u * p[9];
    if (off >= len)
        return false;
    *body = off;
    return true;
}

/* Append one root signature (ECDSA P-256, raw r || s over SHA-256 of the body). */
static bool add_sig(uint8_t *ku, size_t *len, size_t body, const host_keyring_t *roots, const char *path)
{
    sign_key_t k;
    if (!sign_key_load(path, &k))
        return false;
    bool ok = false;
    int ix = root_index(roots, &k);
    if (k.type != SIGN_KEY_ECDSA_P256) {
        host_error("%s: a rotation key is ecdsa-p256, not %s", path, sign_key_type_name(k.type));
    } else if (ix < 0) {
        host_error("%s: not one of the rotation keys given with -r", path);
    } else if (*len + 65 > KU_MAX || ku[body] >= MOLT_KEYROT_MAX_SIG) {
        host_error("%s: at most %u signatures", path, MOLT_KEYROT_MAX_SIG);
    } else {
        bool dup = false;
        for (unsigned i = 0; i < ku[body]; i++)
            dup |= ku[body + 1 + 65 * i] == ix;
        uint8_t dg[32];
        sha256(ku, body, dg);
        sbuf_t sig = {0};
        if (dup) {
            host_error("%s: this rotation key has signed already", path);
        } else if (sign_message(&k, SIGN_SHA256, false, dg, sizeof dg, &sig) && !sig.oom) {
            const unsigned char *q = sig.p;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sig.len);
            const BIGNUM *r = NULL, *s = NULL;
            if (es)
                ECDSA_SIG_get0(es, &r, &s);
            uint8_t *o = ku + *len;
            o[0] = (uint8_t)ix;
            if (es && BN_bn2binpad(r, o + 1, 32) == 32 && BN_bn2binpad(s, o + 33, 32) == 32) {
                ku[body]++;
                *len += 65;
                ok = true;
            } else {
                host_error("%s: signing failed", path);
            }
            ECDSA_SIG_free(es);
        }
        sbuf_free(&sig);
    }
    sign_key_free(&k);
    return ok;
}

static int cmd_make(int argc, char **argv)
{
    host_keyring_t roots = {0}, adds = {0};
    const char *out = NULL, *privs[MOLT_KEYROT_MAX_SIG];
    uint8_t retire[MOLT_KEYROT_MAX_RETIRE][32];
    unsigned nret = 0, npriv = 0;
    uint64_t seq = 0;
    bool have_seq = false;
    int rc = EXIT_USAGE;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            host_error("%s: missing value", a);
            goto out;
        }
        i++;
        if (!strcmp(a, "--seq")) {
            if (!host_parse_u64(v, UINT32_MAX, &seq) || seq == 0) {
                host_error("--seq %s: want 1..4294967295 (the key set's number after this update)", v);
                goto out;
            }
            have_seq = true;
        } else if (!strcmp(a, "--add")) {
            if (adds.ring.count >= MOLT_KEYROT_MAX_ADD) {
                host_error("--add %s: at most %u keys per update", v, MOLT_KEYROT_MAX_ADD);
                goto out;
            }
            if (!host_keyring_add(&adds, v))
                goto out;
        } else if (!strcmp(a, "--retire")) {
            size_t n = 0;
            if (nret >= MOLT_KEYROT_MAX_RETIRE) {
                host_error("--retire %s: at most %u keys per update", v, MOLT_KEYROT_MAX_RETIRE);
                goto out;
            }
            if (strlen(v) == 64 && host_parse_hex(v, retire[nret], 32, &n) && n == 32) {
                nret++;
            } else {
                host_keyring_t one = {0};
                if (!host_keyring_add(&one, v))
                    goto out;
                sha256(one.keys[0].der, one.keys[0].der_len, retire[nret++]);
                host_keyring_free(&one);
            }
        } else if (!strcmp(a, "-r") || !strcmp(a, "--root")) {
            if (!host_keyring_add(&roots, v))
                goto out;
        } else if (!strcmp(a, "-k") || !strcmp(a, "--key")) {
            if (npriv >= MOLT_KEYROT_MAX_SIG) {
                host_error("-k %s: at most %u signatures", v, MOLT_KEYROT_MAX_SIG);
                goto out;
            }
            privs[npriv++] = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out = v;
        } else {
            host_error("unexpected argument '%s'", a);
            usage(stderr);
            goto out;
        }
    }
    if (!have_seq || !out || roots.ring.count == 0) {
        host_error("need --seq N, -r ROOT_PUB (the device's rotation keys, in order) and -o OUT");
        goto out;
    }
    if (adds.ring.count + nret == 0) {
        host_error("nothing to do: give --add and/or --retire");
        goto out;
    }
    uint8_t ku[KU_MAX];
    size_t len = 12;
    memcpy(ku, MOLT_KEYROT_MAGIC, 4);
    molt_put_le32(ku + 4, (uint32_t)seq);
    ku[8] = (uint8_t)adds.ring.count;
    ku[9] = (uint8_t)nret;
    ku[10] = ku[11] = 0;
    for (size_t i = 0; i < adds.ring.count; i++) {
        if (adds.keys[i].der_len > MOLT_KEYROT_MAX_DER) {
            host_error("--add %s: key too long for a device (%zu bytes)", adds.paths[i], adds.keys[i].der_len);
            goto out;
        }
        molt_put_le16(ku + len, (uint16_t)adds.keys[i].der_len);
        memcpy(ku + len + 2, adds.keys[i].der, adds.keys[i].der_len);
        len += 2 + adds.keys[i].der_len;
    }
    memcpy(ku + len, retire, 32u * nret);
    len += 32u * nret;
    size_t body = len;
    ku[len++] = 0;
    for (unsigned i = 0; i < npriv; i++)
        if (!add_sig(ku, &len, body, &roots, privs[i]))
            goto out;
    if (!host_write_file(out, ku, len))
        goto out;
    printf("key-update seq %llu: %zu added, %u retired, %u signature%s, %zu bytes -> %s\n", (unsigned long long)seq,
           adds.ring.count, nret, ku[body], ku[body] == 1 ? "" : "s", len, out);
    rc = 0;
out:
    host_keyring_free(&roots);
    host_keyring_free(&adds);
    return rc;
}

static int cmd_cosign(int argc, char **argv)
{
    host_keyring_t roots = {0};
    const char *priv = NULL, *pos[2] = {NULL, NULL};
    unsigned npos = 0;
    int rc = EXIT_USAGE;
    uint8_t *in = NULL;
    size_t len = 0, body = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-r") || !strcmp(a, "-k")) && i + 1 < argc) {
            if (a[1] == 'r' ? !host_keyring_add(&roots, argv[++i]) : (priv = argv[++i]) == NULL)
                goto out;
        } else if (a[0] != '-' && npos < 2) {
            pos[npos++] = a;
        } else {
            host_error("unexpected argument '%s'", a);
            usage(stderr);
            goto out;
        }
    }
    if (!priv || npos != 2 || roots.ring.count == 0) {
        usage(stderr);
        goto out;
    }
    if (!host_read_file(pos[0], &in, &len))
        goto out;
    if (!ku_body(in, len, &body) || len > KU_MAX - 65 || len != body + 1 + 65u * in[body]) {
        host_error("%s: not a key-update", pos[0]);
        goto out;
    }
    uint8_t ku[KU_MAX];
    memcpy(ku, in, len);
    if (!add_sig(ku, &len, body, &roots, priv) || !host_write_file(pos[1], ku, len))
        goto out;
    printf("key-update: %u signature%s -> %s\n", ku[body], ku[body] == 1 ? "" : "s", pos[1]);
    rc = 0;
out:
    free(in);
    host_keyring_free(&roots);
    return rc;
}

/* A RAM area for `check`: the device's key-set storage, played on the host. */
#define RAM_SEC 4096u
static uint8_t g_ram[4 * RAM_SEC];
static molt_err_t ram_read(void *c, uint32_t off, void *buf, size_t n)
{
    (void)c;
    if (off > sizeof g_ram || n > sizeof g_ram - off)
        return MOLT_E_IO;
    memcpy(buf, g_ram + off, n);
    return MOLT_OK;
}
static molt_err_t ram_write(void *c, uint32_t off, const void *buf, size_t n)
{
    (void)c;
    if (off > sizeof g_ram || n > sizeof g_ram - off)
        return MOLT_E_FLASH;
    memcpy(g_ram + off, buf, n);
    return MOLT_OK;
}
static molt_err_t ram_erase(void *c, uint32_t off, uint32_t n)
{
    (void)c;
    if (off > sizeof g_ram || n > sizeof g_ram - off)
        return MOLT_E_FLASH;
    memset(g_ram + off, 0xff, n);
    return MOLT_OK;
}
static molt_err_t ram_sector(void *c, uint32_t off, molt_sector_t *s)
{
    (void)c;
    s->off = off - off % RAM_SEC;
    s->size = RAM_SEC;
    return MOLT_OK;
}

static int cmd_check(int argc, char **argv)
{
    host_keyring_t roots = {0}, factory = {0};
    const char *after[64], *ku_path = NULL, *running = NULL;
    uint8_t *img = NULL;
    size_t img_len = 0;
    unsigned nafter = 0;
    uint64_t thr = 0;
    int rc = EXIT_USAGE;
    static molt_keyrot_ws_t ws;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (ku_path) {
                host_error("unexpected argument '%s'", a);
                goto out;
            }
            ku_path = a;
            continue;
        }
        if (!v) {
            host_error("%s: missing value", a);
            goto out;
        }
        i++;
        if (!strcmp(a, "-r") || !strcmp(a, "--root")) {
            if (!host_keyring_add(&roots, v))
                goto out;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--factory")) {
            if (factory.ring.count >= MOLT_KEYROT_MAX_FACTORY) {
                host_error("-f %s: a device extends at most %u factory keys", v, MOLT_KEYROT_MAX_FACTORY);
                goto out;
            }
            if (!host_keyring_add(&factory, v))
                goto out;
        } else if (!strcmp(a, "--threshold") || !strcmp(a, "-t")) {
            if (!host_parse_u64(v, MOLT_KEYROT_MAX_SIG, &thr) || thr == 0) {
                host_error("--threshold %s: want 1..%u", v, MOLT_KEYROT_MAX_SIG);
                goto out;
            }
        } else if (!strcmp(a, "--running")) {
            running = v;
        } else if (!strcmp(a, "--after")) {
            if (nafter >= 64) {
                host_error("--after %s: at most 64 earlier updates", v);
                goto out;
            }
            after[nafter++] = v;
        } else {
            host_error("unexpected argument '%s'", a);
            usage(stderr);
            goto out;
        }
    }
    if (!ku_path || roots.ring.count == 0 || factory.ring.count == 0 || thr == 0) {
        usage(stderr);
        goto out;
    }
    molt_mem_source_t mem;
    molt_source_t src;
    if (running) {
        if (!host_read_file(running, &img, &img_len))
            goto out;
        if (img_len > UINT32_MAX) {
            host_error("%s: larger than 4 GiB", running);
            goto out;
        }
        molt_source_from_mem(&src, &mem, img, (uint32_t)img_len);
    }
    memset(g_ram, 0xff, sizeof g_ram);
    molt_area_t area = {sizeof g_ram, 8, 0xff, ram_read, ram_write, ram_erase, ram_sector, NULL};
    molt_keyrot_cfg_t c = {&area, &roots.ring, (uint32_t)thr, &ws, molt_keyrot_ring, molt_keyrot_names_retired};
    for (unsigned i = 0; i <= nafter; i++) {
        const char *path = i < nafter ? after[i] : ku_path;
        uint8_t *ku;
        size_t len;
        if (!host_read_file(path, &ku, &len))
            goto out;
        /* the last one into the host's RAM copy too: apply is check + store */
        molt_err_t e = molt_keyrot_apply(&c, &factory.ring, ku, len, i == nafter && running ? &src : NULL);
        free(ku);
        if (e != MOLT_OK) {
            fprintf(stderr, "molt keyupdate: %s: %s (%s)%s\n", path, molt_err_str(e), molt_err_name(e),
                    i < nafter ? " [an earlier update]" : "");
            rc = EXIT_INVALID;
            goto out;
        }
    }
    printf("key-update %s: valid; it makes key set %u (%u added key%s in force, %u retired)\n", ku_path, ws.set.seq,
           ws.set.n_added, ws.set.n_added == 1 ? "" : "s", ws.set.n_retired);
    rc = 0;
out:
    free(img);
    host_keyring_free(&roots);
    host_keyring_free(&factory);
    return rc;
}

int cmd_keyupdate(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (cli_help_asked(argc, argv))
        return usage(stdout);
    if (!strcmp(argv[1], "make"))
        return cmd_make(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sign"))
        return cmd_cosign(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    host_error("unknown action '%s' (make, sign, check)", argv[1]);
    return EXIT_USAGE;
}

/* `molt inspect` of a key-update. Exit 0 parsed, 1 malformed. */
int cli_inspect_keyupdate(const char *path, const uint8_t *p, size_t len, bool as_json)
{
    size_t body = 0;
    if (!ku_body(p, len, &body) || len != body + 1 + 65u * p[body]) {
        fprintf(stderr, "molt inspect: %s: not a well-formed key-update\n", path);
        if (as_json) { /* the same contract as a malformed image: one JSON object on stdout */
            json_t *j = json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "file", path, "type", "key-update", "size",
                                  (json_int_t)len, "error", "code", "KU_FORMAT", "reason", "not a well-formed key-update");
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
            json_decref(j);
        }
        return EXIT_INVALID;
    }
    json_t *j = json_pack("{s:s,s:s,s:I,s:I}", "file", path, "type", "key-update", "size", (json_int_t)len, "seq",
                          (json_int_t)molt_le32(p + 4));
    json_t *adds = json_array(), *rets = json_array(), *sigs = json_array();
    size_t off = 12;
    char hex[65];
    for (unsigned i = 0; i < p[8]; i++) {
        size_t kl = molt_le16(p + off);
        uint8_t id[32];
        sha256(p + off + 2, kl, id);
        host_hex(id, 32, hex);
        json_array_append_new(adds, json_pack("{s:s,s:s,s:I}", "type", host_key_type_name(p + off + 2, kl), "key_id",
                                              hex, "length", (json_int_t)kl));
        off += 2 + kl;
    }
    for (unsigned i = 0; i < p[9]; i++, off += 32) {
        host_hex(p + off, 32, hex);
        json_array_append_new(rets, json_string(hex));
    }
    for (unsigned i = 0; i < p[body]; i++)
        json_array_append_new(sigs, json_integer(p[body + 1 + 65 * i]));
    json_object_set_new(j, "add", adds);
    json_object_set_new(j, "retire", rets);
    json_object_set_new(j, "signed_by_roots", sigs);
    if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        size_t i;
        json_t *e;
        printf("file: %s (%zu bytes)\nkey-update: seq %u\n", path, len, molt_le32(p + 4));
        json_array_foreach(adds, i, e) printf("  add     %s %s\n", json_string_value(json_object_get(e, "type")),
                                              json_string_value(json_object_get(e, "key_id")));
        json_array_foreach(rets, i, e) printf("  retire  %s\n", json_string_value(e));
        printf("signed by rotation keys:");
        json_array_foreach(sigs, i, e) printf(" #%lld", (long long)json_integer_value(e));
        printf("%s\n", p[body] ? "" : " none");
    }
    json_decref(j);
    return 0;
}
