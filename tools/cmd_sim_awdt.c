/*
 * cmd_sim_awdt.c - `molt sim` commands of the authenticated watchdog
 * (R-AVAIL, molt/awdt.h, ports/sim/sim_awdt.h):
 *
 *   molt sim watchdog -f DEV --ticket-key PUB --seconds S --boots B
 *                     [--max-seconds N] [--max-boots N] [--nonce-ttl N]
 *                     [--exit-seconds N] [--exit-boots N]      factory provisioning, once
 *   molt sim nonce    -f DEV [--json]     the update service issues a nonce
 *   molt sim ticket   -f DEV HEX          the update service checks and stores a ticket
 *   molt sim clock    -f DEV [--advance S] [--json]   device time moves on
 *   molt sim watchdog -f DEV --status [--json]
 *
 * Exit 0: done; 1: refused (a ticket, a second provisioning; the hardware
 * watchdog fired while the clock moved: the device must boot again); 2: usage
 * or I/O error. With --json every command prints one JSON object.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "keyring.h"
#include "sim_port.h"

typedef struct aw_opts {
    const char *file;
    cli_keyring_t tk;
    uint64_t seconds, boots, max_seconds, max_boots, nonce_ttl, exit_seconds, exit_boots, advance;
    bool json, status;
    int nargs;
    char **args;
} aw_opts_t;

static int aw_usage(FILE *f)
{
    fprintf(f, "usage: molt sim watchdog -f DEV --ticket-key PUB --seconds S --boots B [--max-seconds N]\n"
               "                         [--max-boots N] [--nonce-ttl N] [--exit-seconds N] [--exit-boots N]\n"
               "       molt sim watchdog -f DEV --status [--json]\n"
               "       molt sim nonce -f DEV [--json]\n"
               "       molt sim ticket -f DEV HEX [--json]\n"
               "       molt sim clock -f DEV [--advance S] [--json]\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static bool num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
        cli_error("%s: expected an integer from %llu to %llu, got '%s'", opt, (unsigned long long)min,
                  (unsigned long long)max, s);
        return false;
    }
    *out = v;
    return true;
}

static bool aw_parse(int argc, char **argv, aw_opts_t *o)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},        {"ticket-key", required_argument, NULL, 'T'},
        {"seconds", required_argument, NULL, 's'},     {"boots", required_argument, NULL, 'b'},
        {"max-seconds", required_argument, NULL, 'S'}, {"max-boots", required_argument, NULL, 'B'},
        {"nonce-ttl", required_argument, NULL, 'n'},   {"exit-seconds", required_argument, NULL, 'e'},
        {"exit-boots", required_argument, NULL, 'x'},  {"advance", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},              {"status", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    const uint64_t U32 = UINT32_MAX;
    int c;
    o->max_seconds = 30u * 24u * 3600u;
    o->max_boots = 1000;
    o->nonce_ttl = 600;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'f': o->file = optarg; break;
        case 'T': ok = cli_keyring_add(&o->tk, optarg); break;
        case 's': ok = num("--seconds", optarg, 1, U32, &o->seconds); break;
        case 'b': ok = num("--boots", optarg, 1, U32, &o->boots); break;
        case 'S': ok = num("--max-seconds", optarg, 1, U32, &o->max_seconds); break;
        case 'B': ok = num("--max-boots", optarg, 1, U32, &o->max_boots); break;
        case 'n': ok = num("--nonce-ttl", optarg, 1, U32, &o->nonce_ttl); break;
        case 'e': ok = num("--exit-seconds", optarg, 0, U32, &o->exit_seconds); break;
        case 'x': ok = num("--exit-boots", optarg, 0, U32, &o->exit_boots); break;
        case 'a': ok = num("--advance", optarg, 0, U32, &o->advance); break;
        case 'j': o->json = true; break;
        case 'q': o->status = true; break;
        default: aw_usage(stderr); return false;
        }
        if (!ok)
            return false;
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
    if (o->file == NULL) {
        cli_error("-f DEV is required");
        return false;
    }
    return true;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

static json_t *status_json(sim_device_t *dev)
{
    molt_awdt_state_t st;
    uint32_t boots = 0;
    molt_err_t e = sim_awdt_status(&dev->aw, &st, &boots);
    if (e != MOLT_OK)
        return json_pack("{s:b,s:s,s:I}", "provisioned", dev->aw.on, "error", molt_err_name(e), "clock",
                         (json_int_t)dev->aw.clock);
    char id[2 * MOLT_AWDT_ID_LEN + 1], entry[48];
    cli_hex(dev->aw.device_id, sizeof dev->aw.device_id, id);
    snprintf(entry, sizeof entry, "%u.%u.%u+%u", st.entry.major, st.entry.minor, st.entry.revision,
             (unsigned)st.entry.build);
    json_t *j = json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:b,s:b,s:b}", "provisioned", true, "device_id", id, "clock",
                          (json_int_t)dev->aw.clock, "deadline", (json_int_t)st.deadline, "boot_limit",
                          (json_int_t)st.boot_limit, "boots", (json_int_t)boots, "expired",
                          molt_awdt_expired(&st, dev->aw.clock, boots), "recovery", st.recovery, "nonce_outstanding",
                          st.nonce_out);
    if (st.recovery)
        json_object_set_new(j, "entry_version", json_string(entry));
    json_object_set_new(j, "watchdog_armed", json_boolean(dev->aw.armed));
    if (dev->aw.armed)
        json_object_set_new(j, "watchdog_fires_at", json_integer(dev->aw.fires_at));
    return j;
}

static int aw_provision(sim_device_t *dev, const aw_opts_t *o)
{
    if (o->tk.ring.count != 1)
        return cli_error("--ticket-key PUB (one ECDSA P-256 public key) is required");
    if (o->seconds == 0 || o->boots == 0)
        return cli_error("--seconds S and --boots B (the first deadline) are required");
    if ((o->exit_seconds == 0) != (o->exit_boots == 0))
        return cli_error("--exit-seconds and --exit-boots go together (0 and 0: leave recovery through tickets only)");
    if (!dev->ks.has_iak)
        return cli_error("%s: the device has no attestation key (its identity): recreate it", o->file);
    const molt_key_t *k = &o->tk.ring.keys[0];
    molt_err_t e = sim_awdt_provision(&dev->aw, dev->ks.iak_pub, k->der, k->der_len, (uint32_t)o->seconds,
                                      (uint32_t)o->boots, (uint32_t)o->max_seconds, (uint32_t)o->max_boots,
                                      (uint32_t)o->nonce_ttl, (uint32_t)o->exit_seconds, (uint32_t)o->exit_boots);
    if (e == MOLT_E_STATE) {
        cli_error("%s: the watchdog is provisioned already: it is never reset", o->file);
        return EXIT_INVALID;
    }
    if (e != MOLT_OK)
        return cli_error("%s: watchdog: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
    return -1; /* save */
}

int cmd_sim_awdt(int argc, char **argv)
{
    const char *sub = argv[1];
    aw_opts_t o;
    sim_device_t dev;
    sim_res_t why;
    int rc = 0;
    json_t *out = NULL;

    memset(&o, 0, sizeof o);
    if (cli_help_asked(argc, argv))
        return aw_usage(stdout);
    if (!aw_parse(argc - 1, argv + 1, &o)) {
        cli_keyring_free(&o.tk);
        return EXIT_USAGE;
    }
    if ((strcmp(sub, "ticket") == 0) != (o.nargs == 1) || o.nargs > 1) {
        cli_keyring_free(&o.tk);
        return aw_usage(stderr);
    }
    if (sim_device_load(&dev, o.file, NULL, &why) != MOLT_OK) {
        cli_keyring_free(&o.tk);
        return cli_error("%s: %s", o.file, sim_res_str(why));
    }
    bool save = false;
    if (!strcmp(sub, "watchdog") && !o.status) {
        rc = aw_provision(&dev, &o);
        save = rc == -1;
        rc = rc == -1 ? 0 : rc;
        if (save)
            out = status_json(&dev);
    } else if (!dev.aw.on && strcmp(sub, "clock") != 0 && strcmp(sub, "watchdog") != 0) {
        rc = cli_error("%s: the watchdog is not provisioned (molt sim watchdog)", o.file);
    } else if (!strcmp(sub, "watchdog")) {
        out = status_json(&dev);
    } else if (!strcmp(sub, "nonce")) {
        uint8_t n[MOLT_AWDT_NONCE_LEN];
        char nh[2 * sizeof n + 1], id[2 * MOLT_AWDT_ID_LEN + 1];
        molt_err_t e = sim_awdt_nonce(&dev.aw, n);
        if (e != MOLT_OK) {
            rc = cli_error("%s: nonce: %s [%s]", o.file, molt_err_str(e), molt_err_name(e));
        } else {
            cli_hex(n, sizeof n, nh);
            cli_hex(dev.aw.device_id, sizeof dev.aw.device_id, id);
            out = json_pack("{s:s,s:s,s:I}", "nonce", nh, "device_id", id, "clock", (json_int_t)dev.aw.clock);
            save = true;
        }
    } else if (!strcmp(sub, "ticket")) {
        uint8_t t[2 * MOLT_AWDT_TICKET_LEN];
        size_t len = 0;
        if (!cli_parse_hex(o.args[0], t, sizeof t, &len)) {
            rc = cli_error("ticket: expected hex, got '%.16s...'", o.args[0]);
        } else {
            molt_err_t e = sim_awdt_ticket(&dev.aw, t, len);
            if (e == MOLT_OK) {
                out = status_json(&dev);
                save = true;
            } else {
                cli_error("%s: ticket refused: %s [%s]", o.file, molt_err_str(e), molt_err_name(e));
                out = json_pack("{s:s,s:s}", "refused", molt_err_name(e), "reason", molt_err_str(e));
                rc = EXIT_INVALID;
            }
        }
    } else if (!strcmp(sub, "clock")) {
        bool fired = sim_awdt_advance(&dev.aw, (uint32_t)o.advance);
        out = json_pack("{s:I,s:b}", "clock", (json_int_t)dev.aw.clock, "watchdog_fired", fired);
        save = true;
        rc = fired ? EXIT_INVALID : 0;
    } else {
        rc = aw_usage(stderr);
    }
    if (out != NULL) {
        if (o.json) {
            print_json(out);
        } else {
            const char *k;
            json_t *v;
            json_object_foreach(out, k, v)
            {
                char *s = json_dumps(v, JSON_ENCODE_ANY);
                printf("%s: %s\n", k, s != NULL ? s : "?");
                free(s);
            }
            json_decref(out);
        }
    }
    if (save && sim_device_save(&dev, o.file) != MOLT_OK)
        rc = cli_error("%s: cannot write the device file", o.file);
    sim_device_free(&dev);
    cli_keyring_free(&o.tk);
    return rc;
}
