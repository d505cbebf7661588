/*
 * cmd_sim.c - `molt sim`: a simulated device in a file, driven like a real one.
 *
 *   molt sim create  -f DEV [--sector-size N] [--slot-sectors N] [--align A]
 *                    [--erase-value 0xff|0x00] [--mode swap|remap|overwrite]
 *   molt sim write   -f DEV --slot primary|secondary IMAGE
 *   molt sim request -f DEV [--permanent]
 *   molt sim confirm -f DEV
 *   molt sim boot    -f DEV -k PUB [-k PUB ...]
 *   molt sim state   -f DEV [-k PUB ...] [--json]
 *   molt sim attest  -f DEV -k PUB [-k PUB ...] --nonce HEX [--client-id N] [-o TOKEN]
 *   molt sim iak     -f DEV [-o PUB.pem]
 *   molt sim put     -f DEV [--app N] --id N VALUE     (VALUE: text, or 0x + hex)
 *   molt sim get     -f DEV [--app N] --id N
 *   molt sim del     -f DEV [--app N] --id N
 *   molt sim records -f DEV [--json]
 *   molt sim powerfail [--mode M] [--sectors N] [--sector-size S] [--align A]
 *                    [--erase-value V] [--seeds K] [--torn|--clean] [--double-cuts M]
 *                    [--vectors DIR | --old IMG --new IMG -k PUB]
 *                    [--encrypted | --enc-key ENC_PRIV]
 *   (--encrypted: imgtool's encrypted p13 -> p14 with the device key enc-x25519;
 *    --enc-key: the device's decryption key for --old/--new encrypted images.
 *    Both add the check that no plaintext ever rests in staging.)
 *
 * Data-preserving upgrade (R-KEEPDATA, molt/keepdata.h): a device created
 * with --data-sectors N has a record store. Application 1 is "the device's
 * application": request saves its records (refusing an image whose schema TLV
 * cannot migrate them, KEEP_SCHEMA), boot runs molt_keep_boot() after the boot
 * code, confirm consolidates. Its built-in migration from schema P to N > P
 * rewrites every value V as "sN|" + V (an earlier "sK|" prefix replaced).
 *
 * The device (ports/sim/sim_port: layout, mode, flash cells, wear) lives in
 * DEV between commands. Everything device-side is libmolt's boot code over the
 * simulator port. Exit 0: done; 1: refused (no verified image, a request not
 * valid now, a power-fail failure); 2: usage or I/O error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cli.h"
#include "keyring.h"
#include "molt/attest.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "molt/keepdata.h"
#include "molt/store.h"
#include "enc_tool.h"
#include "sim_keystore.h"
#include "sim_port.h"
#include "life.h"
#include "sim_powerfail.h"
#include "../lib/trailer.h" /* read-only trailer decoding, the boot code's own */

typedef struct sim_opts {
    const char *file, *slot, *vectors, *old_img, *new_img, *nonce, *out, *enc_key;
    int64_t client_id;
    bool encrypted;
    uint64_t data_sectors, app, id;
    bool has_id;
    uint64_t sector_size, slot_sectors, align, erase_value, seeds, double_cuts, lives, first_seed, wear_cycles;
    int mode; /* -1: not given */
    bool permanent, json, clean, data;
    cli_keyring_t kr;
    int nargs;
    char **args;
} sim_opts_t;

static const char *const mode_names[] = {"swap", "remap", "overwrite"};
static const char *const slot_names[] = {"primary", "secondary"};

static int usage(FILE *f)
{
    fprintf(f,
            "usage: molt sim create -f DEV [--sector-size N] [--slot-sectors N] [--align A]\n"
            "                       [--erase-value 0xff|0x00] [--mode swap|remap|overwrite]\n"
            "                       [--data-sectors N]   (a record store for R-KEEPDATA; 0: none)\n"
            "       molt sim write -f DEV --slot primary|secondary IMAGE\n"
            "       molt sim request -f DEV [--permanent]\n"
            "       molt sim confirm -f DEV\n"
            "       molt sim boot -f DEV -k PUB [-k PUB ...] [--json]\n"
            "       molt sim state -f DEV [-k PUB ...] [--json]\n"
            "       molt sim attest -f DEV -k PUB [-k PUB ...] --nonce HEX [--client-id N] [-o TOKEN]\n"
            "       molt sim iak -f DEV [-o PUB.pem]\n"
            "       molt sim put -f DEV [--app N] --id N VALUE    (VALUE: text, or 0x + hex)\n"
            "       molt sim get|del -f DEV [--app N] --id N\n"
            "       molt sim records -f DEV [--json]\n"
            "       molt sim powerfail [--mode M] [--sectors N] [--sector-size S] [--align A]\n"
            "                       [--erase-value V] [--seeds K] [--torn|--clean] [--double-cuts M]\n"
            "                       [--vectors DIR | --old IMAGE --new IMAGE -k PUB]\n"
            "                       [--encrypted | --enc-key ENC_PRIV]\n"
            "       molt sim life [--mode M] [--lives N] [--first-seed S] [--data] [--vectors DIR] [--json]\n"
            "       molt sim life --wear-cycles N [--vectors DIR]\n"
            "       molt sim watchdog|nonce|ticket|clock ...   (the authenticated watchdog: molt sim watchdog --help)\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static bool parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!cli_parse_u64(s, max, out) || *out < min) {
        cli_error("%s: '%s' is not a number in %llu..%llu", opt, s, (unsigned long long)min,
                  (unsigned long long)max);
        return false;
    }
    return true;
}

static bool parse_opts(int argc, char **argv, sim_opts_t *o)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"key", required_argument, NULL, 'k'},
        {"sector-size", required_argument, NULL, 'S'},
        {"slot-sectors", required_argument, NULL, 'N'},
        {"sectors", required_argument, NULL, 'N'},
        {"align", required_argument, NULL, 'A'},
        {"erase-value", required_argument, NULL, 'E'},
        {"mode", required_argument, NULL, 'M'},
        {"slot", required_argument, NULL, 's'},
        {"permanent", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"seeds", required_argument, NULL, 'K'},
        {"lives", required_argument, NULL, 1001},
        {"first-seed", required_argument, NULL, 1002},
        {"wear-cycles", required_argument, NULL, 1003},
        {"data", no_argument, NULL, 1004},
        {"torn", no_argument, NULL, 't'},
        {"clean", no_argument, NULL, 'c'},
        {"double-cuts", required_argument, NULL, 'D'},
        {"vectors", required_argument, NULL, 'V'},
        {"old", required_argument, NULL, 'L'},
        {"new", required_argument, NULL, 'n'},
        {"nonce", required_argument, NULL, 'X'},
        {"client-id", required_argument, NULL, 'C'},
        {"output", required_argument, NULL, 'o'},
        {"enc-key", required_argument, NULL, 'Y'},
        {"encrypted", no_argument, NULL, 'e'},
        {"data-sectors", required_argument, NULL, 'G'},
        {"app", required_argument, NULL, 'a'},
        {"id", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->mode = -1;
    o->sector_size = 1024;
    o->slot_sectors = 8;
    o->align = 8;
    o->erase_value = 0xff;
    o->seeds = 2;
    o->lives = 1000;
    o->first_seed = 1;
    o->double_cuts = 4;
    o->client_id = -1;
    o->app = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:k:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'f': o->file = optarg; break;
        case 'k':
            if (!cli_keyring_add(&o->kr, optarg))
                return false;
            break;
        case 'S':
            if (!parse_num("--sector-size", optarg, 1, 1u << 24, &o->sector_size))
                return false;
            break;
        case 'N':
            if (!parse_num("--slot-sectors", optarg, 2, 1u << 16, &o->slot_sectors))
                return false;
            break;
        case 'A':
            if (!parse_num("--align", optarg, 1, 256, &o->align))
                return false;
            break;
        case 'E':
            if (!parse_num("--erase-value", optarg, 0, 0xff, &o->erase_value) ||
                (o->erase_value != 0 && o->erase_value != 0xff)) {
                cli_error("--erase-value: expected 0xff or 0x00, got '%s'", optarg);
                return false;
            }
            break;
        case 'M':
            for (int m = 0; m < 3; m++)
                if (!strcmp(optarg, mode_names[m]))
                    o->mode = m;
            if (o->mode < 0) {
                cli_error("--mode: expected swap, remap or overwrite, got '%s'", optarg);
                return false;
            }
            break;
        case 's': o->slot = optarg; break;
        case 'p': o->permanent = true; break;
        case 'j': o->json = true; break;
        case 'K':
            if (!parse_num("--seeds", optarg, 1, 1000, &o->seeds))
                return false;
            break;
        case 1001:
            if (!parse_num("--lives", optarg, 1, 100000000, &o->lives))
                return false;
            break;
        case 1004: o->data = true; break;
        case 1003:
            if (!parse_num("--wear-cycles", optarg, 1, 1000000, &o->wear_cycles))
                return false;
            break;
        case 1002:
            if (!parse_num("--first-seed", optarg, 0, UINT64_MAX / 2, &o->first_seed))
                return false;
            break;
        case 't': o->clean = false; break;
        case 'c': o->clean = true; break;
        case 'D':
            if (!parse_num("--double-cuts", optarg, 0, 100000, &o->double_cuts))
                return false;
            break;
        case 'V': o->vectors = optarg; break;
        case 'L': o->old_img = optarg; break;
        case 'n': o->new_img = optarg; break;
        case 'X': o->nonce = optarg; break;
        case 'o': o->out = optarg; break;
        case 'C': {
            char *end = NULL;
            long long v = strtoll(optarg, &end, 0);
            if (end == optarg || *end != '\0' || v < INT32_MIN || v > INT32_MAX || v == 0) {
                cli_error("--client-id: expected a non-zero 32-bit integer, got '%s'", optarg);
                return false;
            }
            o->client_id = v;
            break;
        }
        case 'Y': o->enc_key = optarg; break;
        case 'e': o->encrypted = true; break;
        case 'G':
            if (!parse_num("--data-sectors", optarg, 0, MOLT_STORE_MAX_SECTORS, &o->data_sectors))
                return false;
            if (o->data_sectors == 1) {
                cli_error("--data-sectors: the store needs at least 2 sectors, got 1");
                return false;
            }
            break;
        case 'a':
            if (!parse_num("--app", optarg, 1, 0xffff, &o->app))
                return false;
            break;
        case 'i':
            if (!parse_num("--id", optarg, 0, 0xffff, &o->id))
                return false;
            o->has_id = true;
            break;
        default: usage(stderr); return false;
        }
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
    return true;
}

/* --- device file ---------------------------------------------------------- */

static bool dev_load(sim_device_t *dev, const sim_opts_t *o)
{
    sim_res_t why;
    if (o->file == NULL) {
        cli_error("-f DEV is required");
        return false;
    }
    if (sim_device_load(dev, o->file, &o->kr.ring, &why) != MOLT_OK) {
        cli_error("%s: %s", o->file, sim_res_str(why));
        return false;
    }
    return true;
}

static bool dev_save(sim_device_t *dev, const char *path)
{
    if (sim_device_save(dev, path) != MOLT_OK) {
        cli_error("%s: cannot write the device file", path);
        return false;
    }
    return true;
}

/* The device's boot configuration: its mode, and its authenticated watchdog
 * once provisioned (molt sim watchdog, R-AVAIL). */
static molt_boot_cfg_t dev_cfg(sim_device_t *dev)
{
    molt_boot_cfg_t cfg = {.mode = (molt_boot_mode_t)dev->layout.mode, .downgrade_prevention = false,
                           .awdt = sim_awdt_cfg(&dev->aw)};
    return cfg;
}

static void version_str(const molt_version_t *v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u+%u", v->major, v->minor, v->revision, (unsigned)v->build);
}

/* --- subcommands ------------------------------------------------------------ */

static int sim_create(const sim_opts_t *o)
{
    sim_layout_t l;
    sim_device_t dev;

    if (o->file == NULL)
        return cli_error("-f DEV is required");
    if (sim_layout_uniform(&l, (uint32_t)o->sector_size, (uint32_t)o->slot_sectors, (uint32_t)o->align,
                           (uint8_t)o->erase_value) != MOLT_OK)
        return cli_error("unusable geometry: sector size must be a multiple of the alignment (a power of two)");
    l.mode = (uint32_t)(o->mode < 0 ? MOLT_MODE_SWAP : o->mode);
    if (o->data_sectors > 0 && sim_layout_add_data(&l, (uint32_t)o->data_sectors) != MOLT_OK)
        return cli_error("--data-sectors %llu: no room for a data area in this geometry",
                         (unsigned long long)o->data_sectors);
    if (sim_device_init(&dev, &l, NULL) != MOLT_OK)
        return cli_error("cannot create the device");
    if (o->data_sectors > 0) {
        molt_store_t st;
        if (molt_store_mount(&st, sim_device_data_area(&dev)) != MOLT_OK) {
            sim_device_free(&dev);
            return cli_error("--data-sectors: sectors of %llu bytes are too small for the record store",
                             (unsigned long long)o->sector_size);
        }
    }
    bool ok = dev_save(&dev, o->file);
    if (ok)
        printf("%s: %s, %llu sectors x %llu bytes per slot, align %llu, erase 0x%02llx, %u bytes\n",
               o->file, mode_names[l.mode], (unsigned long long)o->slot_sectors,
               (unsigned long long)o->sector_size, (unsigned long long)o->align,
               (unsigned long long)o->erase_value, sim_flash_size(&dev.flash));
    if (ok && o->data_sectors > 0)
        printf("%s: data area of %llu sectors for the record store\n", o->file, (unsigned long long)o->data_sectors);
    sim_device_free(&dev);
    return ok ? 0 : EXIT_USAGE;
}

static int sim_write(const sim_opts_t *o)
{
    sim_device_t dev;
    uint8_t *img;
    size_t len;
    int slot = -1;

    if (o->slot != NULL)
        for (int s = 0; s < 2; s++)
            if (!strcmp(o->slot, slot_names[s]))
                slot = s;
    if (slot < 0)
        return cli_error("--slot primary|secondary is required");
    if (o->nargs != 1)
        return usage(stderr);
    if (!cli_read_file(o->args[0], &img, &len))
        return EXIT_USAGE;
    if (!dev_load(&dev, o)) {
        free(img);
        return EXIT_USAGE;
    }
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    uint32_t off = slot == MOLT_AREA_SECONDARY ? molt_boot_staging_offset(&dev.port, &cfg) : 0;
    molt_err_t e = len == 0 ? MOLT_E_ARG : sim_device_program(&dev, (uint32_t)slot, off, img, len);
    int rc = 0;
    if (e != MOLT_OK)
        rc = cli_error("%s: cannot write to the %s slot at offset %u: %s", o->args[0], slot_names[slot], off,
                       molt_err_str(e));
    else if (!dev_save(&dev, o->file))
        rc = EXIT_USAGE;
    else
        printf("%s: %zu bytes at %s+0x%x\n", o->file, len, slot_names[slot], off);
    sim_device_free(&dev);
    free(img);
    return rc;
}

/* --- the device's application and its records (R-KEEPDATA) ---------------------- */

#define SIM_APP 1u /* the application whose data `molt sim` upgrades */

/* Schema P -> N (N > P): every value V becomes "sN|" + V without an earlier "sK|". */
static molt_err_t sim_migrate(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next)
{
    uint16_t ids[64], id, len;
    uint32_t n = 0, cur = 0;
    bool more = true;
    molt_err_t err;

    (void)ctx;
    if (next <= prev)
        return MOLT_OK;
    while ((err = molt_store_app_next(h, &cur, &id, &len, &more)) == MOLT_OK && more && n < 64)
        ids[n++] = id;
    if (err != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t v[MOLT_STORE_VALUE_MAX], out[MOLT_STORE_VALUE_MAX + 8];
        size_t vl = 0, skip = 0;
        if ((err = molt_store_get(h, ids[i], v, sizeof v, &vl)) != MOLT_OK)
            return err;
        if (vl > 1 && v[0] == 's') {
            size_t j = 1;
            while (j < vl && v[j] >= '0' && v[j] <= '9')
                j++;
            if (j > 1 && j < vl && v[j] == '|')
                skip = j + 1;
        }
        int hn = snprintf((char *)out, sizeof out, "s%u|", (unsigned)next);
        size_t ol = (size_t)hn + vl - skip;
        if (ol > MOLT_STORE_VALUE_MAX)
            ol = MOLT_STORE_VALUE_MAX;
        memcpy(out + hn, v + skip, ol - (size_t)hn);
        if ((err = molt_store_put(h, ids[i], out, ol)) != MOLT_OK)
            return err;
    }
    return MOLT_OK;
}

typedef struct sim_data {
    molt_store_t st;
    molt_keep_t keep;
    bool on;
} sim_data_t;

/* Mount the device's store (if it has one) and bind application 1's listeners. */
static bool data_open(sim_device_t *dev, const molt_boot_cfg_t *cfg, sim_data_t *d, const char *file)
{
    static const molt_keep_ops_t ops = {NULL, NULL, sim_migrate, NULL, NULL};
    molt_err_t e;
    memset(d, 0, sizeof *d);
    if (sim_device_data_area(dev) == NULL)
        return true;
    if ((e = molt_store_mount(&d->st, sim_device_data_area(dev))) != MOLT_OK ||
        (e = molt_keep_init(&d->keep, &d->st, SIM_APP, &dev->port, cfg, &ops)) != MOLT_OK) {
        cli_error("%s: record store: %s", file, molt_err_str(e));
        return false;
    }
    d->on = true;
    return true;
}

static const char *phase_name(uint8_t p)
{
    switch (p) {
    case MOLT_KEEP_NONE: return "none";
    case MOLT_KEEP_DONE: return "completed";
    case MOLT_KEEP_SAVED: return "saved (waiting for the new code)";
    case MOLT_KEEP_SAVING: return "saving";
    case MOLT_KEEP_RESTORING: return "restoring";
    case MOLT_KEEP_CONSOLIDATING: return "consolidating";
    case MOLT_KEEP_TRIAL: return "trial (data migrated)";
    case MOLT_KEEP_RECOVERED: return "recovered (old code, old data)";
    }
    return "?";
}

static const char *keep_action_name(molt_keep_action_t a)
{
    switch (a) {
    case MOLT_KEEP_ACT_NONE: return "kept";
    case MOLT_KEEP_ACT_MIGRATED: return "migrated";
    case MOLT_KEEP_ACT_CONSOLIDATED: return "consolidated";
    case MOLT_KEEP_ACT_RESTORED: return "restored";
    case MOLT_KEEP_ACT_DROPPED: return "kept (upgrade dropped)";
    }
    return "?";
}

/* request / confirm */
static int sim_app(const sim_opts_t *o, bool confirm)
{
    sim_device_t dev;
    sim_data_t data;
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    if (!data_open(&dev, &cfg, &data, o->file)) {
        sim_device_free(&dev);
        return EXIT_USAGE;
    }
    molt_err_t e = MOLT_OK;
    if (data.on && confirm) {
        e = molt_keep_accept_check(&data.keep); /* only migrated data may be accepted */
    } else if (data.on) {
        /* The data is saved before the request; an image that cannot migrate it is refused. */
        molt_area_src_t sctx;
        molt_source_t src;
        molt_area_source(&src, &sctx, &dev.port.area[MOLT_AREA_SECONDARY], molt_boot_staging_offset(&dev.port, &cfg));
        e = molt_keep_save(&data.keep, &src);
    }
    if (e == MOLT_OK)
        e = confirm ? molt_confirm(&dev.port, &cfg) : molt_request_upgrade(&dev.port, &cfg, o->permanent);
    if (e == MOLT_OK && data.on && confirm)
        e = molt_keep_consolidate(&data.keep);
    int rc = 0;
    if (e != MOLT_OK) {
        cli_error("%s: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
        rc = EXIT_INVALID;
        if (e != MOLT_E_KEEP_SCHEMA && e != MOLT_E_KEEP_PHASE && !dev_save(&dev, o->file))
            rc = EXIT_USAGE; /* flash changed before the failure: keep it */
    } else if (!dev_save(&dev, o->file)) {
        rc = EXIT_USAGE;
    } else {
        printf("%s: %s%s\n", o->file,
               confirm ? "confirmed" : o->permanent ? "permanent upgrade requested" : "test upgrade requested",
               !data.on ? "" : confirm ? ", data consolidated" : ", data saved");
    }
    sim_device_free(&dev);
    return rc;
}

static const char *action_name(molt_boot_action_t a)
{
    switch (a) {
    case MOLT_ACT_NONE: return "none";
    case MOLT_ACT_UPGRADE_TEST: return "upgrade-test";
    case MOLT_ACT_UPGRADE_PERM: return "upgrade-perm";
    case MOLT_ACT_REVERT: return "revert";
    case MOLT_ACT_REFUSED: return "refused";
    }
    return "?";
}

static json_t *boot_json(molt_err_t e, const molt_boot_result_t *r)
{
    char v[48];
    if (e != MOLT_OK)
        return json_pack("{s:s,s:s}", "error", molt_err_name(e), "reason", molt_err_str(e));
    version_str(&r->image.version, v, sizeof v);
    return json_pack("{s:s,s:s,s:I,s:b,s:I,s:s,s:b,s:s,s:b,s:I}", "slot", slot_names[r->slot], "version", v,
                     "security_counter", (json_int_t)(r->image.has_sec_cnt ? r->image.sec_cnt : 0), "trial",
                     r->trial, "stored_counter", (json_int_t)r->counter, "action", action_name(r->action),
                     "resumed", r->resumed, "staged", molt_err_name(r->staged_err), "recovery", r->recovery, "boots",
                     (json_int_t)r->boots);
}

static void boot_print(molt_err_t e, const molt_boot_result_t *r, const char *prefix)
{
    char v[48];
    if (e != MOLT_OK) {
        printf("%s: no verified image (%s): secure state, nothing executed\n", prefix, molt_err_str(e));
        return;
    }
    version_str(&r->image.version, v, sizeof v);
    printf("%s: slot %s, version %s, %s, security counter %u, action %s%s", prefix, slot_names[r->slot], v,
           r->trial ? "trial" : "confirmed", (unsigned)r->counter, action_name(r->action),
           r->resumed ? " (resumed)" : "");
    if (r->staged_err != MOLT_OK)
        printf(", staged image refused: %s", molt_err_str(r->staged_err));
    printf("\n");
    if (r->recovery)
        printf("%s: recovery boot %u: only the updater runs (%s)\n", prefix, (unsigned)r->boots,
               r->awdt_err != MOLT_OK ? molt_err_str(r->awdt_err) : "the watchdog's deadline or boot limit passed");
}

static int sim_boot(const sim_opts_t *o)
{
    sim_device_t dev;
    molt_boot_result_t r;

    if (o->kr.ring.count == 0)
        return cli_error("-k PUB is required");
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    memset(&r, 0, sizeof r);
    (void)sim_device_new_boot(&dev); /* a reset: fresh boot seed, no boot record */
    molt_err_t e = molt_boot_go(&dev.port, &cfg, &r);
    if (e == MOLT_OK)
        sim_device_set_boot_slot(&dev, r.slot);
    dev.aw.recovery = e == MOLT_OK && r.recovery;
    int rc = e == MOLT_OK ? 0 : e == MOLT_E_NO_IMAGE ? EXIT_INVALID : EXIT_USAGE;
    if (o->json) {
        json_t *j = boot_json(e, &r);
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        boot_print(e, &r, "boot");
    }
    if (e != MOLT_OK && e != MOLT_E_NO_IMAGE)
        cli_error("%s: %s", o->file, molt_err_str(e));
    sim_data_t data;
    if (e == MOLT_OK && data_open(&dev, &cfg, &data, o->file) && data.on) {
        /* The application's first act: resume or recover its data (R-KEEPDATA). */
        molt_keep_action_t act = MOLT_KEEP_ACT_NONE;
        molt_keep_state_t ks;
        uint16_t schema = 0;
        molt_err_t ke = molt_keep_boot(&data.keep, &r, &act);
        if (ke == MOLT_OK && (ke = molt_keep_status(&data.keep, &ks, &schema)) == MOLT_OK) {
            printf("data: %s, schema %u, phase %s\n", keep_action_name(act), (unsigned)schema, phase_name(ks.phase));
        } else {
            cli_error("%s: data: %s [%s]", o->file, molt_err_str(ke), molt_err_name(ke));
            rc = EXIT_INVALID;
        }
    }
    if (!dev_save(&dev, o->file))
        rc = EXIT_USAGE;
    sim_device_free(&dev);
    return rc;
}

/* One slot: header facts (parsed, not verified) and trailer fields. */
static json_t *slot_json(sim_device_t *dev, uint32_t id, uint32_t base)
{
    const molt_area_t *a = &dev->port.area[id];
    molt_area_src_t ctx;
    molt_source_t src;
    molt_image_t img;
    molt_trailer_t t;
    char v[48];
    json_t *j = json_object();

    molt_area_source(&src, &ctx, a, base);
    bool found = molt_image_parse(&src, &img) == MOLT_OK;
    if (!found && base != 0) { /* SWAP: after an activation the previous image sits at 0 */
        base = 0;
        molt_area_source(&src, &ctx, a, base);
        found = molt_image_parse(&src, &img) == MOLT_OK;
    }
    if (found) {
        version_str(&img.version, v, sizeof v);
        json_object_set_new(j, "image", json_pack("{s:I,s:s,s:I,s:I}", "offset", (json_int_t)base, "version", v,
                                                  "security_counter",
                                                  (json_int_t)(img.has_sec_cnt ? img.sec_cnt : 0), "size",
                                                  (json_int_t)img.end));
    } else {
        json_object_set_new(j, "image", json_null());
    }
    if (molt_tr_read(a, &t) == MOLT_OK) {
        json_object_set_new(
            j, "trailer",
            json_pack("{s:s,s:s,s:s,s:I}", "magic", t.magic_good ? "good" : "unset",
                      "image_ok", t.image_ok == t.erased ? "unset" : t.image_ok == MOLT_FLAG_SET ? "set" : "bad",
                      "copy_done", t.copy_done == t.erased ? "unset" : t.copy_done == MOLT_FLAG_SET ? "set" : "bad",
                      "swap_type", (json_int_t)(t.swap_info == t.erased ? 0 : t.swap_info & 0x0f)));
    }
    return j;
}

static int sim_state(const sim_opts_t *o)
{
    sim_device_t dev;
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    uint32_t cnt = 0;
    (void)dev.port.nv_read(dev.port.ctx, MOLT_NV_SECURITY_COUNTER, &cnt);
    json_t *root = json_object();
    json_object_set_new(root, "mode", json_string(mode_names[dev.layout.mode % 3]));
    json_object_set_new(root, "security_counter", json_integer(cnt));
    uint32_t staging = molt_boot_staging_offset(&dev.port, &cfg);
    json_object_set_new(root, "primary", slot_json(&dev, MOLT_AREA_PRIMARY, 0));
    json_object_set_new(root, "secondary", slot_json(&dev, MOLT_AREA_SECONDARY, staging));
    uint64_t erases = 0;
    uint32_t maxw = 0;
    for (uint32_t i = 0; i < sim_flash_sector_count(&dev.flash); i++) {
        uint32_t w = sim_flash_wear(&dev.flash, i);
        erases += w;
        maxw = w > maxw ? w : maxw;
    }
    json_object_set_new(root, "wear", json_pack("{s:I,s:I}", "erases", (json_int_t)erases, "max_per_sector",
                                                (json_int_t)maxw));
    molt_boot_result_t r;
    memset(&r, 0, sizeof r);
    molt_err_t e = MOLT_OK;
    if (o->kr.ring.count > 0) {
        /* what would boot: run the boot code on this in-memory copy, never saved */
        e = molt_boot_go(&dev.port, &cfg, &r);
        json_object_set_new(root, "would_boot", boot_json(e, &r));
    }
    if (o->json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        printf("mode: %s, security counter: %u\n", mode_names[dev.layout.mode % 3], (unsigned)cnt);
        for (uint32_t id = 0; id < 2; id++) {
            json_t *sj = json_object_get(root, slot_names[id]), *im = json_object_get(sj, "image"),
                   *tr = json_object_get(sj, "trailer");
            printf("%s: ", slot_names[id]);
            if (json_is_object(im))
                printf("image %s at +0x%llx, security counter %lld, %lld bytes",
                       json_string_value(json_object_get(im, "version")),
                       (long long)json_integer_value(json_object_get(im, "offset")),
                       (long long)json_integer_value(json_object_get(im, "security_counter")),
                       (long long)json_integer_value(json_object_get(im, "size")));
            else
                printf("no image");
            if (json_is_object(tr))
                printf("; trailer magic %s, image_ok %s, copy_done %s, swap_type %lld",
                       json_string_value(json_object_get(tr, "magic")),
                       json_string_value(json_object_get(tr, "image_ok")),
                       json_string_value(json_object_get(tr, "copy_done")),
                       (long long)json_integer_value(json_object_get(tr, "swap_type")));
            printf("\n");
        }
        printf("wear: %llu erases, at most %u per sector\n", (unsigned long long)erases, (unsigned)maxw);
        if (o->kr.ring.count > 0)
            boot_print(e, &r, "would boot");
    }
    json_decref(root);
    sim_device_free(&dev);
    return 0;
}

/* The application asks for an attestation token (R-ATTEST). The device must
 * have booted (`molt sim boot`): the token reports the slot that boot chose. */
static int sim_attest(const sim_opts_t *o)
{
    sim_device_t dev;
    uint8_t nonce[256], tok[MOLT_ATTEST_TOKEN_MAX]; /* any length: the device judges it */
    size_t nonce_len = 0, len = 0;
    int rc = 0;

    if (o->nonce == NULL || !cli_parse_hex(o->nonce, nonce, sizeof nonce, &nonce_len))
        return cli_error("--nonce HEX is required (the challenge, 32, 48 or 64 bytes in hex)");
    if (o->kr.ring.count == 0)
        return cli_error("-k PUB is required (the device's trusted signing keys)");
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    if (!dev.ks.has_iak) {
        cli_error("%s: no attestation key (device file from before attestation: create it again)", o->file);
        rc = EXIT_INVALID;
    } else if (dev.ks.boot_slot < 0) {
        cli_error("%s: the device has not booted since its last reset (molt sim boot first)", o->file);
        rc = EXIT_INVALID;
    } else {
        molt_attest_req_t req = {nonce, nonce_len, (int32_t)o->client_id, (uint8_t)dev.ks.boot_slot, dev_cfg(&dev)};
        molt_err_t e = molt_attest_get_token(&dev.port, &req, tok, sizeof tok, &len);
        if (e != MOLT_OK) {
            cli_error("%s: %s", o->file, molt_err_str(e));
            rc = EXIT_INVALID;
        } else if (o->out != NULL) {
            if (!cli_write_file(o->out, tok, len))
                rc = EXIT_USAGE;
            else if (strcmp(o->out, "-") != 0)
                printf("%s: %zu-byte token\n", o->out, len);
        } else {
            char *hex = malloc(2 * len + 1);
            if (hex == NULL) {
                rc = cli_error("out of memory");
            } else {
                cli_hex(tok, len, hex);
                printf("%s\n", hex);
                free(hex);
            }
        }
    }
    sim_device_free(&dev);
    return rc;
}

/* The device's IAK public key (what the deployer registers). */
static int sim_iak(const sim_opts_t *o)
{
    sim_device_t dev;
    int rc = 0;
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    if (!dev.ks.has_iak)
        rc = cli_error("%s: no attestation key (device file from before attestation: create it again)", o->file);
    else if (!cli_write_p256_pem(dev.ks.iak_pub, o->out ? o->out : "-"))
        rc = EXIT_USAGE;
    sim_device_free(&dev);
    return rc;
}

/* The device's key store from a private key file (P-256, X25519 or RSA-2048). */
static bool load_keystore(const char *path, sim_keystore_t *ks)
{
    uint8_t *der = NULL;
    size_t n = 0;
    if (!enc_key_pkcs8(path, &der, &n))
        return false;
    bool ok = sim_keystore_add_pkcs8(ks, der, n) == MOLT_OK;
    if (!ok)
        cli_error("%s: not a P-256, X25519 or RSA-2048 private key", path);
    OPENSSL_clear_free(der, n);
    return ok;
}

/* What PRIMARY holds once img is installed: its payload decrypted (NULL if it
 * is not encrypted, or on error with *err set). */
static uint8_t *installed_form(const uint8_t *img, size_t len, sim_keystore_t *ks, molt_err_t *err)
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_ctr_t c = {0};
    uint8_t key[MOLT_ENC_KEY_MAX];
    size_t klen = 0;

    *err = MOLT_OK;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    if (molt_image_parse(&src, &im) != MOLT_OK || !(im.flags & MOLT_IMAGE_F_ENCRYPTED))
        return NULL;
    uint8_t *out = malloc(len);
    if (out == NULL) {
        *err = MOLT_E_IO;
        return NULL;
    }
    memcpy(out, img, len);
    *err = molt_enc_content_key(&src, &im, &dec, NULL, 0, key, &klen);
    if (*err == MOLT_OK)
        *err = molt_ctr_start(&c, key, klen);
    OPENSSL_cleanse(key, sizeof key);
    if (*err == MOLT_OK)
        *err = molt_ctr_xor(&c, 0, out + im.payload_off, im.img_size);
    molt_ctr_end(&c);
    if (*err != MOLT_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* The default power-fail device's second image, at 1.2.3 (for p20's DEPENDENCY). */
static molt_err_t pf_image1_check(void *ctx, uint8_t id, const molt_version_t *min)
{
    const molt_version_t have = {1, 2, 3, 0};
    (void)ctx;
    return id == 1u && molt_version_cmp(&have, min) >= 0 ? MOLT_OK : MOLT_E_DEPENDENCY;
}
static const molt_deps_t pf_image1 = {pf_image1_check, NULL};

static int sim_powerfail(sim_opts_t *o)
{
    char path[4096], line[200];
    const char *dir = o->vectors ? o->vectors : getenv("VECTORS") ? getenv("VECTORS") : "tests/vectors/imgtool";
    uint8_t *old_img = NULL, *new_img = NULL, *old_plain = NULL, *new_plain = NULL;
    size_t old_len = 0, new_len = 0;
    int rc = EXIT_USAGE;
    sim_pf_cfg_t cfg;
    sim_pf_result_t res;
    sim_keystore_t ks;
    char enc_path[4096];

    memset(&cfg, 0, sizeof cfg);
    memset(&ks, 0, sizeof ks);
    if ((o->old_img == NULL) != (o->new_img == NULL))
        return cli_error("--old and --new go together");
    if (o->encrypted && (o->old_img != NULL || o->enc_key != NULL))
        return cli_error("--encrypted uses the vectors' encrypted images and key: not with --old/--new or --enc-key");
    if (o->encrypted) {
        snprintf(path, sizeof path, "%s/images/p13_ed25519_enc_x25519_aes256.bin", dir);
        if (!cli_read_file(path, &old_img, &old_len))
            goto out;
        snprintf(path, sizeof path, "%s/images/p14_ed25519_enc_x25519_hmacsha512_aes256.bin", dir);
        if (!cli_read_file(path, &new_img, &new_len))
            goto out;
        if (o->kr.ring.count == 0) {
            snprintf(path, sizeof path, "%s/keys/sign-ed25519.pub.der", dir);
            if (!cli_keyring_add(&o->kr, path))
                goto out;
        }
        snprintf(enc_path, sizeof enc_path, "%s/keys/enc-x25519.pem", dir);
        o->enc_key = enc_path;
    } else if (o->old_img == NULL) {
        snprintf(path, sizeof path, "%s/images/p03_ecdsa_p256_seccnt.bin", dir);
        if (!cli_read_file(path, &old_img, &old_len))
            goto out;
        /* p20 declares a DEPENDENCY on image 1 >= 1.2.3: the default device has
         * that second image (pf_image1), so the dependency is met. */
        snprintf(path, sizeof path, "%s/images/p20_ecdsa_p256_deps_bootrec_custom.bin", dir);
        if (!cli_read_file(path, &new_img, &new_len))
            goto out;
        cfg.deps = &pf_image1;
        if (o->kr.ring.count == 0) {
            snprintf(path, sizeof path, "%s/keys/sign-ecdsa-p256.pub.der", dir);
            if (!cli_keyring_add(&o->kr, path))
                goto out;
        }
    } else {
        if (!cli_read_file(o->old_img, &old_img, &old_len) || !cli_read_file(o->new_img, &new_img, &new_len))
            goto out;
        if (o->kr.ring.count == 0) {
            cli_error("-k PUB is required with --old/--new");
            goto out;
        }
    }
    if (o->enc_key != NULL) {
        molt_err_t why;
        if (!load_keystore(o->enc_key, &ks))
            goto out;
        old_plain = installed_form(old_img, old_len, &ks, &why);
        if (why == MOLT_OK)
            new_plain = installed_form(new_img, new_len, &ks, &why);
        if (why != MOLT_OK) {
            cli_error("%s: cannot decrypt the images with this key: %s", o->enc_key, molt_err_str(why));
            goto out;
        }
        cfg.key_store = &ks;
        cfg.old_plain = old_plain;
        cfg.new_plain = new_plain;
    }
    if (sim_layout_uniform(&cfg.layout, (uint32_t)o->sector_size, (uint32_t)o->slot_sectors,
                           (uint32_t)o->align, (uint8_t)o->erase_value) != MOLT_OK) {
        cli_error("unusable geometry: sector size must be a multiple of the alignment (a power of two)");
        goto out;
    }
    cfg.mode = (molt_boot_mode_t)(o->mode < 0 ? MOLT_MODE_SWAP : o->mode);
    cfg.old_img = old_img;
    cfg.old_len = old_len;
    cfg.new_img = new_img;
    cfg.new_len = new_len;
    cfg.keys = o->kr.ring;
    cfg.seeds = (uint32_t)o->seeds;
    cfg.clean = o->clean;
    cfg.double_cuts = (uint32_t)o->double_cuts;
    cfg.log = stderr;
    if (cfg.key_store)
        printf("encrypted: old image %s, new image %s; the device decrypts with %s\n",
               old_plain ? "encrypted" : "plaintext", new_plain ? "encrypted" : "plaintext", o->enc_key);
    printf("geometry: %s, %llu sectors x %llu bytes per slot, align %llu, erase 0x%02llx; "
           "cuts: torn x %llu seeds%s, double cuts at %llu points per flow\n",
           mode_names[cfg.mode], (unsigned long long)o->slot_sectors, (unsigned long long)o->sector_size,
           (unsigned long long)o->align, (unsigned long long)o->erase_value, (unsigned long long)o->seeds,
           o->clean ? " + clean" : "", (unsigned long long)o->double_cuts);
    fflush(stdout);
    molt_err_t e = sim_powerfail_run(&cfg, &res);
    if (e != MOLT_OK) {
        cli_error("the sweep could not run: %s", molt_err_str(e));
        goto out;
    }
    for (int f = 0; f < 4; f++)
        if (res.flow_ops[f] > 0)
            printf("flow %-8s %llu flash operations\n", sim_powerfail_flow_name(f),
                   (unsigned long long)res.flow_ops[f]);
    if (res.lost || res.violations)
        printf("confirmed images lost: %llu, NOR violations: %llu\n", (unsigned long long)res.lost,
               (unsigned long long)res.violations);
    sim_powerfail_line(&res, line, sizeof line);
    printf("%s\n", line);
    rc = sim_powerfail_ok(&res) ? 0 : EXIT_INVALID;
out:
    sim_keystore_free(&ks);
    free(old_img);
    free(new_img);
    free(old_plain);
    free(new_plain);
    return rc;
}

/* The adversarial device-life proof (sim/life.h): exit 0 with zero violations. */
static int sim_life(sim_opts_t *o)
{
    char pem[4096], der[4096], line[1000];
    const char *dir = o->vectors ? o->vectors : getenv("VECTORS") ? getenv("VECTORS") : "tests/vectors/imgtool";
    life_result_t res;
    snprintf(pem, sizeof pem, "%s/keys/sign-ecdsa-p256.pem", dir);
    snprintf(der, sizeof der, "%s/keys/sign-ecdsa-p256.pub.der", dir);
    life_cfg_t cfg = {o->mode < 0 ? MOLT_MODE_SWAP : (molt_boot_mode_t)o->mode, o->first_seed, (uint32_t)o->lives, 40,
                      pem, der, stderr, o->data};
    if (o->wear_cycles > 0) {
        life_wear_t w;
        if (!life_wear(&cfg, (uint32_t)o->wear_cycles, &w))
            return cli_error("life: the wear cycles did not run as expected");
        printf("wear over %u update cycles through the PSA FWU API (download, install, trial, accept, clean): "
               "max %.3f erases of one sector per update; staging trailer %.3f, STATUS %.3f, PRIMARY trailer %.3f\n",
               w.cycles, w.max_per_update, w.staging_trailer_per_update, w.status_per_update,
               w.primary_trailer_per_update);
        return w.max_per_update <= 2.0 ? 0 : EXIT_INVALID;
    }
    if (!life_run(&cfg, &res))
        return EXIT_INVALID;
    life_line(&res, line, sizeof line);
    if (o->json)
        printf("{\"mode\":\"%s\",\"lives\":%llu,\"steps\":%llu,\"boots\":%llu,\"cuts\":%llu,"
               "\"recovery_cuts\":%llu,\"activations\":%llu,\"reverts\":%llu,\"refusals\":%llu,"
               "\"revert_lost\":%llu,\"migrations\":%llu,\"restores\":%llu,\"data_mismatches\":%llu,"
               "\"lost_records\":%llu,\"violations\":%llu}\n",
               mode_names[cfg.mode], (unsigned long long)res.lives, (unsigned long long)res.steps,
               (unsigned long long)res.boots, (unsigned long long)res.cuts, (unsigned long long)res.recovery_cuts,
               (unsigned long long)res.activations, (unsigned long long)res.reverts, (unsigned long long)res.refusals,
               (unsigned long long)res.revert_lost, (unsigned long long)res.migrations,
               (unsigned long long)res.restores, (unsigned long long)res.dmismatch, (unsigned long long)res.dlost,
               (unsigned long long)(res.bricked + res.mixed + res.unconf + res.revert + res.lost + res.counter +
                                    res.nor + res.dmismatch + res.dlost));
    else
        printf("%s: %s\n", mode_names[cfg.mode], line);
    return life_ok(&res) ? 0 : EXIT_INVALID;
}

static bool printable(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    return true;
}

/* put / get / del: application --app's LIVE records, through its own handle
 * (get prints text, or 0x + hex when not printable). */
static int sim_record(const sim_opts_t *o, const char *sub)
{
    sim_device_t dev;
    sim_data_t data;
    molt_store_app_t h;
    uint8_t v[MOLT_STORE_VALUE_MAX];
    size_t len = 0;
    int rc = 0;
    bool put = !strcmp(sub, "put"), del = !strcmp(sub, "del");

    if (!o->has_id)
        return cli_error("--id N is required");
    if (put != (o->nargs == 1))
        return usage(stderr);
    if (put) {
        const char *val = o->args[0];
        if (!strncmp(val, "0x", 2)) {
            if (!cli_parse_hex(val + 2, v, sizeof v, &len))
                return cli_error("%s: not hex of at most %u bytes", val, MOLT_STORE_VALUE_MAX);
        } else if ((len = strlen(val)) > MOLT_STORE_VALUE_MAX) {
            return cli_error("value of %zu bytes: at most %u", len, MOLT_STORE_VALUE_MAX);
        } else {
            memcpy(v, val, len);
        }
    }
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    if (!data_open(&dev, &cfg, &data, o->file)) {
        sim_device_free(&dev);
        return EXIT_USAGE;
    }
    if (!data.on) {
        sim_device_free(&dev);
        return cli_error("%s: no data area (molt sim create --data-sectors N)", o->file);
    }
    molt_keep_state_t ks;
    uint16_t schema = 0;
    molt_err_t e = molt_store_app_open(&h, &data.st, (uint16_t)o->app);
    if (e == MOLT_OK && (put || del) && o->app == SIM_APP && molt_keep_status(&data.keep, &ks, &schema) == MOLT_OK &&
        (ks.phase == MOLT_KEEP_SAVED || ks.phase == MOLT_KEEP_SAVING))
        data.st.frozen_app = SIM_APP; /* saved for an upgrade: frozen until the new code runs */
    if (e == MOLT_OK)
        e = put ? molt_store_put(&h, (uint16_t)o->id, v, len)
            : del ? molt_store_del(&h, (uint16_t)o->id)
                  : molt_store_get(&h, (uint16_t)o->id, v, sizeof v, &len);
    if (e != MOLT_OK) {
        cli_error("%s: app %llu record %llu: %s [%s]", o->file, (unsigned long long)o->app,
                  (unsigned long long)o->id, molt_err_str(e), molt_err_name(e));
        rc = EXIT_INVALID;
    } else if (put || del) {
        if (!dev_save(&dev, o->file))
            rc = EXIT_USAGE;
        else
            printf("%s: app %llu record %llu %s\n", o->file, (unsigned long long)o->app, (unsigned long long)o->id,
                   put ? "written" : "deleted");
    } else if (printable(v, len)) {
        fwrite(v, 1, len, stdout);
        printf("\n");
    } else {
        char hex[2 * MOLT_STORE_VALUE_MAX + 1];
        cli_hex(v, len, hex);
        printf("0x%s\n", hex);
    }
    sim_device_free(&dev);
    return rc;
}

/* Every live record of the store (all spaces), the phase and schema of app 1. */
static int sim_records(const sim_opts_t *o)
{
    static const char *const spaces[] = {"live", "saved", "system"};
    sim_device_t dev;
    sim_data_t data;
    if (!dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = dev_cfg(&dev);
    if (!data_open(&dev, &cfg, &data, o->file) || !data.on) {
        sim_device_free(&dev);
        return data.on ? EXIT_USAGE : cli_error("%s: no data area (molt sim create --data-sectors N)", o->file);
    }
    molt_keep_state_t ks;
    uint16_t schema = 0;
    uint32_t used = 0, cap = 0, cur = 0;
    molt_err_t e;
    if ((e = molt_keep_status(&data.keep, &ks, &schema)) != MOLT_OK ||
        (e = molt_store_usage(&data.st, &used, &cap)) != MOLT_OK) {
        sim_device_free(&dev);
        cli_error("%s: record store: %s", o->file, molt_err_str(e));
        return EXIT_INVALID;
    }
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "schema", json_integer(schema));
    json_object_set_new(root, "phase", json_string(phase_name(ks.phase)));
    json_object_set_new(root, "phase_value", json_integer(ks.phase));
    json_object_set_new(root, "bytes_used", json_integer(used));
    json_object_set_new(root, "bytes_capacity", json_integer(cap));
    bool more = true;
    molt_store_rec_t r;
    while ((e = molt_store_next(&data.st, &cur, &r, &more)) == MOLT_OK && more) {
        uint8_t v[MOLT_STORE_VALUE_MAX];
        char hex[2 * MOLT_STORE_VALUE_MAX + 1];
        if ((e = molt_store_read_value(&data.st, &r, v, sizeof v)) != MOLT_OK)
            break;
        cli_hex(v, r.len, hex);
        json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:s}", "space", spaces[r.space % 3], "app", (json_int_t)r.app,
                              "id", (json_int_t)r.id, "len", (json_int_t)r.len, "hex", hex);
        if (printable(v, r.len))
            json_object_set_new(j, "text", json_stringn((const char *)v, r.len));
        json_array_append_new(arr, j);
    }
    json_object_set_new(root, "records", arr);
    int rc = 0;
    if (e != MOLT_OK) {
        cli_error("%s: record store: %s", o->file, molt_err_str(e));
        rc = EXIT_INVALID;
    } else if (o->json) {
        char *js = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (js)
            printf("%s\n", js);
        free(js);
    } else {
        printf("app %u: schema %u, upgrade phase %s; %u of %u bytes used\n", SIM_APP, (unsigned)schema,
               phase_name(ks.phase), (unsigned)used, (unsigned)cap);
        size_t i;
        json_t *j;
        json_array_foreach(arr, i, j) {
            const char *t = json_string_value(json_object_get(j, "text"));
            printf("%-6s app %lld id %lld (%lld bytes): %s%s%s\n", json_string_value(json_object_get(j, "space")),
                   (long long)json_integer_value(json_object_get(j, "app")),
                   (long long)json_integer_value(json_object_get(j, "id")),
                   (long long)json_integer_value(json_object_get(j, "len")), t ? "\"" : "0x",
                   t ? t : json_string_value(json_object_get(j, "hex")), t ? "\"" : "");
        }
    }
    json_decref(root);
    sim_device_free(&dev);
    return rc;
}

int cmd_sim(int argc, char **argv)
{
    sim_opts_t o;
    int rc;

    memset(&o, 0, sizeof o);
    if (argc < 2)
        return usage(stderr);
    const char *sub = argv[1];
    if (!strcmp(sub, "watchdog") || !strcmp(sub, "nonce") || !strcmp(sub, "ticket") || !strcmp(sub, "clock"))
        return cmd_sim_awdt(argc, argv);
    if (cli_help_asked(argc, argv))
        return usage(stdout);
    if (!parse_opts(argc - 1, argv + 1, &o)) {
        cli_keyring_free(&o.kr);
        return EXIT_USAGE;
    }
    if (!strcmp(sub, "powerfail"))
        rc = sim_powerfail(&o);
    else if (!strcmp(sub, "life"))
        rc = sim_life(&o);
    else if (o.nargs > 0 && strcmp(sub, "write") != 0 && strcmp(sub, "put") != 0)
        rc = usage(stderr);
    else if (!strcmp(sub, "create"))
        rc = sim_create(&o);
    else if (!strcmp(sub, "write"))
        rc = sim_write(&o);
    else if (!strcmp(sub, "request"))
        rc = sim_app(&o, false);
    else if (!strcmp(sub, "confirm"))
        rc = sim_app(&o, true);
    else if (!strcmp(sub, "boot"))
        rc = sim_boot(&o);
    else if (!strcmp(sub, "state"))
        rc = sim_state(&o);
    else if (!strcmp(sub, "attest"))
        rc = sim_attest(&o);
    else if (!strcmp(sub, "iak"))
        rc = sim_iak(&o);
    else if (!strcmp(sub, "put") || !strcmp(sub, "get") || !strcmp(sub, "del"))
        rc = sim_record(&o, sub);
    else if (!strcmp(sub, "records"))
        rc = sim_records(&o);
    else
        rc = cli_error("unknown subcommand '%s' (create, write, request, confirm, boot, state, powerfail, life, attest, iak, "
                       "put, get, del, records)",
                       sub);
    cli_keyring_free(&o.kr);
    return rc;
}
