/*
 * cmd_sim.c - `molt sim`: a simulated device in a file, driven like a real one.
 *
 *   molt sim create  -f DEV [--sector-size N] [--slot-sectors N] [--align A]
 *                    [--erase-value 0xff|0x00] [--mode swap|remap|overwrite]
 *                    [--data-sectors N]
 *   molt sim write   -f DEV --slot primary|secondary IMAGE
 *   molt sim request -f DEV [--permanent]
 *   molt sim confirm -f DEV
 *   molt sim boot    -f DEV -k PUB [-k PUB ...]
 *   molt sim state   -f DEV [-k PUB ...]
 *   molt sim attest  -f DEV -k PUB [-k PUB ...] --nonce HEX [--client-id N] [-o TOKEN]
 *   molt sim iak     -f DEV [-o PUB.pem]
 *   molt sim put     -f DEV [--app N] --id N VALUE     (VALUE: text, or 0x + hex)
 *   molt sim get     -f DEV [--app N] --id N
 *   molt sim del     -f DEV [--app N] --id N
 *   molt sim records -f DEV
 *   molt sim powerfail [--mode M] [--sectors N] [--sector-size S] [--align A]
 *                    [--erase-value V] [--seeds K] [--torn|--clean] [--double-cuts M]
 *                    [--vectors DIR | --old IMG --new IMG -k PUB]
 *                    [--encrypted | --enc-key ENC_PRIV]
 *   molt sim life    [--mode M] [--lives N] [--first-seed S] [--data] [--vectors DIR]
 *   molt sim life    --wear-cycles N [--vectors DIR]
 *   molt sim watchdog|nonce|ticket|clock ...   (cmd_sim_awdt.c)
 * Every command takes --json: one JSON object on stdout (docs/sim.md).
 *
 * The device (ports/sim/sim_port.h: layout, mode, flash cells, wear, key
 * stores, watchdog) lives in DEV between commands. Everything device-side is
 * libmolt's boot code over the simulator port. Exit 0: done; 1: refused (no
 * verified image, a request not valid now, a power-fail failure); 2: usage or
 * I/O error. The commands live in cmd_sim_*.c (cmd_sim.h); this file parses
 * the options and dispatches through sim_cmds[].
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_sim.h"
#include "sim_chain.h" /* the two-stage chain and the key set (cmd_sim_stage.c) */
#include "molt_host/version.h"

const char *const sim_mode_names[3] = {"swap", "remap", "overwrite"};
const char *const sim_slot_names[2] = {"primary", "secondary"};

static const char usage_text[] =
    "usage: molt sim create -f DEV [--sector-size N] [--slot-sectors N] [--align A]\n"
    "                       [--erase-value 0xff|0x00] [--mode swap|remap|overwrite]\n"
    "                       [--data-sectors N]   (a record store for R-KEEPDATA; 0: none)\n"
    "       molt sim write -f DEV --slot primary|secondary IMAGE\n"
    "       molt sim request -f DEV [--permanent]\n"
    "       molt sim confirm -f DEV\n"
    "       molt sim boot -f DEV -k PUB [-k PUB ...]\n"
    "       molt sim state -f DEV [-k PUB ...]\n"
    "       molt sim attest -f DEV -k PUB [-k PUB ...] --nonce HEX [--client-id N] [-o TOKEN]\n"
    "       molt sim iak -f DEV [-o PUB.pem]\n"
    "       molt sim put -f DEV [--app N] --id N VALUE    (VALUE: text, or 0x + hex)\n"
    "       molt sim get|del -f DEV [--app N] --id N\n"
    "       molt sim records -f DEV\n"
    "       molt sim powerfail [--mode M] [--sectors N] [--sector-size S] [--align A]\n"
    "                       [--erase-value V] [--seeds K] [--torn|--clean] [--double-cuts M]\n"
    "                       [--vectors DIR | --old IMAGE --new IMAGE -k PUB]\n"
    "                       [--encrypted | --enc-key ENC_PRIV]\n"
    "       molt sim life [--mode M] [--lives N] [--first-seed S] [--data] [--vectors DIR]\n"
    "       molt sim life --wear-cycles N [--vectors DIR]\n"
    "       molt sim chain|stage1|stage1-confirm|keyupdate ...   (the boot chain and key set: molt sim chain --help)\n"
    "       molt sim life --chain [--lives N] [--first-seed S]\n"
    "       molt sim watchdog|nonce|ticket|clock ...   (the authenticated watchdog: molt sim watchdog --help)\n"
    "every command: --json prints one JSON object on stdout (docs/sim.md)\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

bool sim_parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!host_parse_u64(s, max, out) || *out < min) {
        host_error("%s: '%s' is not a number in %llu..%llu", opt, s, (unsigned long long)min,
                  (unsigned long long)max);
        return false;
    }
    return true;
}

/* --- options ----------------------------------------------------------------- */

/* The numeric options: getopt code, name, range and field of sim_opts_t. */
static const struct num_opt {
    int code;
    const char *name;
    uint64_t min, max;
    size_t field;
} num_opts[] = {
    {'S', "--sector-size", 1, 1u << 24, offsetof(sim_opts_t, sector_size)},
    {'N', "--slot-sectors", 2, 1u << 16, offsetof(sim_opts_t, slot_sectors)},
    {'A', "--align", 1, 256, offsetof(sim_opts_t, align)},
    {'K', "--seeds", 1, 1000, offsetof(sim_opts_t, seeds)},
    {1001, "--lives", 1, 100000000, offsetof(sim_opts_t, lives)},
    {1002, "--first-seed", 0, UINT64_MAX / 2, offsetof(sim_opts_t, first_seed)},
    {1003, "--wear-cycles", 1, 1000000, offsetof(sim_opts_t, wear_cycles)},
    {'D', "--double-cuts", 0, 100000, offsetof(sim_opts_t, double_cuts)},
    {'G', "--data-sectors", 0, MOLT_STORE_MAX_SECTORS, offsetof(sim_opts_t, data_sectors)},
    {'a', "--app", 1, 0xffff, offsetof(sim_opts_t, app)},
    {'i', "--id", 0, 0xffff, offsetof(sim_opts_t, id)},
};

static const struct option long_opts[] = {
    {"file", required_argument, NULL, 'f'},       {"key", required_argument, NULL, 'k'},
    {"sector-size", required_argument, NULL, 'S'}, {"slot-sectors", required_argument, NULL, 'N'},
    {"sectors", required_argument, NULL, 'N'},    {"align", required_argument, NULL, 'A'},
    {"erase-value", required_argument, NULL, 'E'}, {"mode", required_argument, NULL, 'M'},
    {"slot", required_argument, NULL, 's'},       {"permanent", no_argument, NULL, 'p'},
    {"json", no_argument, NULL, 'j'},             {"seeds", required_argument, NULL, 'K'},
    {"lives", required_argument, NULL, 1001},     {"first-seed", required_argument, NULL, 1002},
    {"wear-cycles", required_argument, NULL, 1003}, {"data", no_argument, NULL, 1004},
    {"torn", no_argument, NULL, 't'},             {"clean", no_argument, NULL, 'c'},
    {"double-cuts", required_argument, NULL, 'D'}, {"vectors", required_argument, NULL, 'V'},
    {"old", required_argument, NULL, 'L'},        {"new", required_argument, NULL, 'n'},
    {"nonce", required_argument, NULL, 'X'},      {"client-id", required_argument, NULL, 'C'},
    {"output", required_argument, NULL, 'o'},     {"enc-key", required_argument, NULL, 'Y'},
    {"encrypted", no_argument, NULL, 'e'},        {"data-sectors", required_argument, NULL, 'G'},
    {"app", required_argument, NULL, 'a'},        {"id", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
};

static bool num_opt(int c, const char *arg, sim_opts_t *o, bool *known)
{
    for (size_t i = 0; i < sizeof num_opts / sizeof num_opts[0]; i++) {
        const struct num_opt *n = &num_opts[i];
        if (n->code != c)
            continue;
        *known = true;
        if (!sim_parse_num(n->name, arg, n->min, n->max, (uint64_t *)(void *)((char *)o + n->field)))
            return false;
        if (c == 'G' && o->data_sectors == 1) {
            host_error("--data-sectors: the store needs at least 2 sectors, got 1");
            return false;
        }
        o->has_id |= c == 'i';
        return true;
    }
    *known = false;
    return true;
}

static bool parse_mode(const char *arg, int *mode)
{
    for (int m = 0; m < 3; m++)
        if (!strcmp(arg, sim_mode_names[m]))
            *mode = m;
    if (*mode < 0) {
        host_error("--mode: expected swap, remap or overwrite, got '%s'", arg);
        return false;
    }
    return true;
}

static bool parse_client_id(const char *arg, int64_t *id)
{
    char *end = NULL;
    long long v = strtoll(arg, &end, 0);
    if (end == arg || *end != '\0' || v < INT32_MIN || v > INT32_MAX || v == 0) {
        host_error("--client-id: expected a non-zero 32-bit integer, got '%s'", arg);
        return false;
    }
    *id = v;
    return true;
}

/* The options that are not plain numbers. */
static bool other_opt(int c, const char *arg, sim_opts_t *o)
{
    switch (c) {
    case 'f': o->file = arg; return true;
    case 'k': return host_keyring_add(&o->kr, arg);
    case 'E':
        if (!sim_parse_num("--erase-value", arg, 0, 0xff, &o->erase_value) ||
            (o->erase_value != 0 && o->erase_value != 0xff)) {
            host_error("--erase-value: expected 0xff or 0x00, got '%s'", arg);
            return false;
        }
        return true;
    case 'M': return parse_mode(arg, &o->mode);
    case 's': o->slot = arg; return true;
    case 'p': o->permanent = true; return true;
    case 'j': o->json = true; return true;
    case 1004: o->data = true; return true;
    case 't': o->clean = false; return true;
    case 'c': o->clean = true; return true;
    case 'V': o->vectors = arg; return true;
    case 'L': o->old_img = arg; return true;
    case 'n': o->new_img = arg; return true;
    case 'X': o->nonce = arg; return true;
    case 'o': o->out = arg; return true;
    case 'C': return parse_client_id(arg, &o->client_id);
    case 'Y': o->enc_key = arg; return true;
    case 'e': o->encrypted = true; return true;
    case 'h': o->help = true; return true;
    default: usage(); return false;
    }
}

static bool parse_opts(int argc, char **argv, sim_opts_t *o)
{
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
    while ((c = getopt_long(argc, argv, "f:k:o:h", long_opts, NULL)) != -1) {
        bool known;
        if (!num_opt(c, optarg, o, &known) || (!known && !other_opt(c, optarg, o)))
            return false;
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
    return true;
}

/* --- device file and output --------------------------------------------------- */

bool sim_dev_load(sim_device_t *dev, const sim_opts_t *o)
{
    sim_res_t why;
    if (o->file == NULL) {
        host_error("-f DEV is required");
        return false;
    }
    if (sim_device_load(dev, o->file, &o->kr.ring, &why) != MOLT_OK) {
        host_error("%s: %s", o->file, sim_res_str(why));
        return false;
    }
    return true;
}

bool sim_dev_save(sim_device_t *dev, const char *path)
{
    if (sim_device_save(dev, path) != MOLT_OK) {
        host_error("%s: cannot write the device file", path);
        return false;
    }
    return true;
}

molt_boot_cfg_t sim_dev_cfg(sim_device_t *dev)
{
    molt_boot_cfg_t cfg = {.mode = (molt_boot_mode_t)dev->layout.mode, .downgrade_prevention = false,
                           .awdt = sim_awdt_cfg(&dev->aw)};
    return cfg;
}

void sim_print_json(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

json_t *sim_error_json(molt_err_t e)
{
    return json_pack("{s:s,s:s}", "error", molt_err_name(e), "reason", molt_err_str(e));
}

json_t *sim_version_json(const molt_version_t *v)
{
    char s[48];
    host_format_version(v, s, sizeof s);
    return json_string(s);
}

/* --- create, write --------------------------------------------------------------- */

static int create_report(const sim_opts_t *o, const sim_layout_t *l, const sim_device_t *dev)
{
    if (o->json) {
        sim_print_json(json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "file", o->file, "mode",
                                 sim_mode_names[l->mode], "sector_size", (json_int_t)o->sector_size,
                                 "slot_sectors", (json_int_t)o->slot_sectors, "align", (json_int_t)o->align,
                                 "erase_value", (json_int_t)o->erase_value, "size",
                                 (json_int_t)sim_flash_size(&dev->flash), "data_sectors",
                                 (json_int_t)o->data_sectors));
        return 0;
    }
    printf("%s: %s, %llu sectors x %llu bytes per slot, align %llu, erase 0x%02llx, %u bytes\n", o->file,
           sim_mode_names[l->mode], (unsigned long long)o->slot_sectors, (unsigned long long)o->sector_size,
           (unsigned long long)o->align, (unsigned long long)o->erase_value, sim_flash_size(&dev->flash));
    if (o->data_sectors > 0)
        printf("%s: data area of %llu sectors for the record store\n", o->file, (unsigned long long)o->data_sectors);
    return 0;
}

int sim_create(sim_opts_t *o)
{
    sim_layout_t l;
    sim_device_t dev;

    if (o->file == NULL)
        return host_error("-f DEV is required");
    if (sim_layout_uniform(&l, (uint32_t)o->sector_size, (uint32_t)o->slot_sectors, (uint32_t)o->align,
                           (uint8_t)o->erase_value) != MOLT_OK)
        return host_error("unusable geometry: sector size must be a multiple of the alignment (a power of two)");
    l.mode = (uint32_t)(o->mode < 0 ? MOLT_MODE_SWAP : o->mode);
    if (o->data_sectors > 0 && sim_layout_add_data(&l, (uint32_t)o->data_sectors) != MOLT_OK)
        return host_error("--data-sectors %llu: no room for a data area in this geometry",
                         (unsigned long long)o->data_sectors);
    if (sim_device_init(&dev, &l, NULL) != MOLT_OK)
        return host_error("cannot create the device");
    if (o->data_sectors > 0) {
        molt_store_t st;
        if (molt_store_mount(&st, sim_device_data_area(&dev)) != MOLT_OK) {
            sim_device_free(&dev);
            return host_error("--data-sectors: sectors of %llu bytes are too small for the record store",
                             (unsigned long long)o->sector_size);
        }
    }
    int rc = sim_dev_save(&dev, o->file) ? create_report(o, &l, &dev) : EXIT_USAGE;
    sim_device_free(&dev);
    return rc;
}

int sim_write(sim_opts_t *o)
{
    sim_device_t dev;
    uint8_t *img;
    size_t len;
    int slot = -1;

    if (o->slot != NULL)
        for (int s = 0; s < 2; s++)
            if (!strcmp(o->slot, sim_slot_names[s]))
                slot = s;
    if (slot < 0)
        return host_error("--slot primary|secondary is required");
    if (o->nargs != 1)
        return usage();
    if (!host_read_file(o->args[0], &img, &len))
        return EXIT_USAGE;
    if (!sim_dev_load(&dev, o)) {
        free(img);
        return EXIT_USAGE;
    }
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    uint32_t off = slot == MOLT_AREA_SECONDARY ? molt_boot_staging_offset(&dev.port, &cfg) : 0;
    molt_err_t e = len == 0 ? MOLT_E_ARG : sim_device_program(&dev, (uint32_t)slot, off, img, len);
    int rc = 0;
    if (e != MOLT_OK)
        rc = host_error("%s: cannot write to the %s slot at offset %u: %s", o->args[0], sim_slot_names[slot], off,
                       molt_err_str(e));
    else if (!sim_dev_save(&dev, o->file))
        rc = EXIT_USAGE;
    else if (o->json)
        sim_print_json(json_pack("{s:s,s:s,s:I,s:I}", "file", o->file, "slot", sim_slot_names[slot], "offset",
                                 (json_int_t)off, "bytes", (json_int_t)len));
    else
        printf("%s: %zu bytes at %s+0x%x\n", o->file, len, sim_slot_names[slot], off);
    sim_device_free(&dev);
    free(img);
    return rc;
}

/* --- the command table ----------------------------------------------------------- */

typedef struct sim_cmd {
    const char *name;
    int (*run)(sim_opts_t *o);          /* options parsed here */
    int (*own)(int argc, char **argv);  /* or: its own options (argv[1] is the name) */
    bool args;                          /* takes positional arguments */
} sim_cmd_t;

static const sim_cmd_t sim_cmds[] = {
    {"create", sim_create, NULL, false},
    {"write", sim_write, NULL, true},
    {"request", sim_request, NULL, false},
    {"confirm", sim_confirm, NULL, false},
    {"boot", sim_boot, NULL, false},
    {"state", sim_state, NULL, false},
    {"attest", sim_attest, NULL, false},
    {"iak", sim_iak, NULL, false},
    {"put", sim_record, NULL, true},
    {"get", sim_record, NULL, false},
    {"del", sim_record, NULL, false},
    {"records", sim_records, NULL, false},
    {"powerfail", sim_powerfail, NULL, false},
    {"life", sim_life, NULL, false},
    {"watchdog", NULL, cmd_sim_awdt, false},
    {"nonce", NULL, cmd_sim_awdt, false},
    {"ticket", NULL, cmd_sim_awdt, false},
    {"clock", NULL, cmd_sim_awdt, false},
    {"chain", NULL, cmd_sim_stage, false},
    {"stage1", NULL, cmd_sim_stage, false},
    {"stage1-confirm", NULL, cmd_sim_stage, false},
    {"keyupdate", NULL, cmd_sim_stage, false},
};

static int unknown(const char *sub)
{
    char names[400] = "";
    for (size_t i = 0; i < sizeof sim_cmds / sizeof sim_cmds[0]; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", sim_cmds[i].name);
    return host_error("unknown subcommand '%s' (%s)", sub, names);
}

int cmd_sim(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    const char *sub = argv[1];
    const sim_cmd_t *cmd = NULL;
    for (size_t i = 0; i < sizeof sim_cmds / sizeof sim_cmds[0]; i++)
        if (!strcmp(sub, sim_cmds[i].name))
            cmd = &sim_cmds[i];
    if (cmd == NULL)
        return unknown(sub);
    if (cmd->own != NULL)
        return cmd->own(argc, argv);
    for (int i = 2; !strcmp(sub, "life") && i < argc; i++)
        if (!strcmp(argv[i], "--chain"))
            return cmd_sim_stage(argc, argv); /* the device life across both boot stages */
    sim_opts_t o;
    memset(&o, 0, sizeof o);
    o.sub = sub;
    int rc;
    if (!parse_opts(argc - 1, argv + 1, &o))
        rc = EXIT_USAGE;
    else if (o.help)
        rc = fputs(usage_text, stdout) < 0 ? EXIT_USAGE : 0;
    else if (o.nargs > 0 && !cmd->args)
        rc = usage();
    else
        rc = cmd->run(&o);
    host_keyring_free(&o.kr);
    return rc;
}
