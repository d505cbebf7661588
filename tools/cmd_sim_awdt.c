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
#include "cmd_sim.h"

typedef struct aw_opts {
    const char *file;
    host_keyring_t tk;
    uint64_t seconds, boots, max_seconds, max_boots, nonce_ttl, exit_seconds, exit_boots, advance;
    bool json, status, help;
    int nargs;
    char **args;
} aw_opts_t;

static const char aw_usage_text[] =
    "usage: molt sim watchdog -f DEV --ticket-key PUB --seconds S --boots B [--max-seconds N]\n"
    "                         [--max-boots N] [--nonce-ttl N] [--exit-seconds N] [--exit-boots N]\n"
    "       molt sim watchdog -f DEV --status [--json]\n"
    "       molt sim nonce -f DEV [--json]\n"
    "       molt sim ticket -f DEV HEX [--json]\n"
    "       molt sim clock -f DEV [--advance S] [--json]\n";

static int aw_usage(void)
{
    fputs(aw_usage_text, stderr);
    return EXIT_USAGE;
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
        case 'T': ok = host_keyring_add(&o->tk, optarg); break;
        case 's': ok = sim_parse_num("--seconds", optarg, 1, U32, &o->seconds); break;
        case 'b': ok = sim_parse_num("--boots", optarg, 1, U32, &o->boots); break;
        case 'S': ok = sim_parse_num("--max-seconds", optarg, 1, U32, &o->max_seconds); break;
        case 'B': ok = sim_parse_num("--max-boots", optarg, 1, U32, &o->max_boots); break;
        case 'n': ok = sim_parse_num("--nonce-ttl", optarg, 1, U32, &o->nonce_ttl); break;
        case 'e': ok = sim_parse_num("--exit-seconds", optarg, 0, U32, &o->exit_seconds); break;
        case 'x': ok = sim_parse_num("--exit-boots", optarg, 0, U32, &o->exit_boots); break;
        case 'a': ok = sim_parse_num("--advance", optarg, 0, U32, &o->advance); break;
        case 'j': o->json = true; break;
        case 'q': o->status = true; break;
        case 'h': o->help = true; return true;
        default: aw_usage(); return false;
        }
        if (!ok)
            return false;
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
    if (o->file == NULL) {
        host_error("-f DEV is required");
        return false;
    }
    return true;
}

static json_t *status_json(sim_device_t *dev)
{
    molt_awdt_state_t st;
    uint32_t boots = 0;
    molt_err_t e = sim_awdt_status(&dev->aw, &st, &boots);
    if (e != MOLT_OK)
        return json_pack("{s:b,s:s,s:I}", "provisioned", dev->aw.on, "error", molt_err_name(e), "clock",
                         (json_int_t)dev->aw.clock);
    char id[2 * MOLT_AWDT_ID_LEN + 1];
    host_hex(dev->aw.device_id, sizeof dev->aw.device_id, id);
    json_t *j = json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:b,s:b,s:b}", "provisioned", true, "device_id", id, "clock",
                          (json_int_t)dev->aw.clock, "deadline", (json_int_t)st.deadline, "boot_limit",
                          (json_int_t)st.boot_limit, "boots", (json_int_t)boots, "expired",
                          molt_awdt_expired(&st, dev->aw.clock, boots), "recovery", st.recovery, "nonce_outstanding",
                          st.nonce_out);
    if (st.recovery)
        json_object_set_new(j, "entry_version", sim_version_json(&st.entry));
    json_object_set_new(j, "watchdog_armed", json_boolean(dev->aw.armed));
    if (dev->aw.armed)
        json_object_set_new(j, "watchdog_fires_at", json_integer(dev->aw.fires_at));
    return j;
}

static int aw_provision(sim_device_t *dev, const aw_opts_t *o)
{
    if (o->tk.ring.count != 1)
        return host_error("--ticket-key PUB (one ECDSA P-256 public key) is required");
    if (o->seconds == 0 || o->boots == 0)
        return host_error("--seconds S and --boots B (the first deadline) are required");
    if ((o->exit_seconds == 0) != (o->exit_boots == 0))
        return host_error("--exit-seconds and --exit-boots go together (0 and 0: leave recovery through tickets only)");
    if (!dev->ks.has_iak)
        return host_error("%s: the device has no attestation key (its identity): recreate it", o->file);
    const molt_key_t *k = &o->tk.ring.keys[0];
    molt_err_t e = sim_awdt_provision(&dev->aw, dev->ks.iak_pub, k->der, k->der_len, (uint32_t)o->seconds,
                                      (uint32_t)o->boots, (uint32_t)o->max_seconds, (uint32_t)o->max_boots,
                                      (uint32_t)o->nonce_ttl, (uint32_t)o->exit_seconds, (uint32_t)o->exit_boots);
    if (e == MOLT_E_STATE) {
        host_error("%s: the watchdog is provisioned already: it is never reset", o->file);
        return EXIT_INVALID;
    }
    if (e != MOLT_OK)
        return host_error("%s: watchdog: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
    return -1; /* save */
}

/* nonce: the update service issues one (lost at the next reset). */
static json_t *aw_nonce(sim_device_t *dev, const aw_opts_t *o, int *rc, bool *save)
{
    uint8_t n[MOLT_AWDT_NONCE_LEN];
    char nh[2 * sizeof n + 1], id[2 * MOLT_AWDT_ID_LEN + 1];
    molt_err_t e = sim_awdt_nonce(&dev->aw, n);
    if (e != MOLT_OK) {
        *rc = host_error("%s: nonce: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
        return NULL;
    }
    host_hex(n, sizeof n, nh);
    host_hex(dev->aw.device_id, sizeof dev->aw.device_id, id);
    *save = true;
    return json_pack("{s:s,s:s,s:I}", "nonce", nh, "device_id", id, "clock", (json_int_t)dev->aw.clock);
}

/* ticket HEX: checked and stored, or refused with its reason. */
static json_t *aw_ticket(sim_device_t *dev, const aw_opts_t *o, int *rc, bool *save)
{
    uint8_t t[2 * MOLT_AWDT_TICKET_LEN];
    size_t len = 0;
    if (!host_parse_hex(o->args[0], t, sizeof t, &len)) {
        *rc = host_error("ticket: expected hex, got '%.16s...'", o->args[0]);
        return NULL;
    }
    molt_err_t e = sim_awdt_ticket(&dev->aw, t, len);
    if (e != MOLT_OK) {
        host_error("%s: ticket refused: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
        *rc = EXIT_INVALID;
        return json_pack("{s:s,s:s}", "refused", molt_err_name(e), "reason", molt_err_str(e));
    }
    *save = true;
    return status_json(dev);
}

/* The command on the loaded device: its JSON answer (NULL: none), *rc, *save. */
static json_t *aw_run(const char *sub, sim_device_t *dev, const aw_opts_t *o, int *rc, bool *save)
{
    if (!strcmp(sub, "watchdog") && !o->status) {
        *rc = aw_provision(dev, o);
        *save = *rc == -1;
        *rc = *rc == -1 ? 0 : *rc;
        return *save ? status_json(dev) : *rc == EXIT_INVALID ? sim_error_json(MOLT_E_STATE) : NULL;
    }
    if (!dev->aw.on && strcmp(sub, "clock") != 0 && strcmp(sub, "watchdog") != 0) {
        *rc = host_error("%s: the watchdog is not provisioned (molt sim watchdog)", o->file);
        return NULL;
    }
    if (!strcmp(sub, "watchdog"))
        return status_json(dev);
    if (!strcmp(sub, "nonce"))
        return aw_nonce(dev, o, rc, save);
    if (!strcmp(sub, "ticket"))
        return aw_ticket(dev, o, rc, save);
    bool fired = sim_awdt_advance(&dev->aw, (uint32_t)o->advance); /* clock */
    *save = true;
    *rc = fired ? EXIT_INVALID : 0;
    return json_pack("{s:I,s:b}", "clock", (json_int_t)dev->aw.clock, "watchdog_fired", fired);
}

/* Without --json: "key: value" lines of the same object. */
static void aw_print(json_t *out)
{
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

int cmd_sim_awdt(int argc, char **argv)
{
    const char *sub = argv[1];
    aw_opts_t o;
    sim_device_t dev;
    sim_res_t why;
    int rc = 0;
    bool save = false;

    memset(&o, 0, sizeof o);
    bool parsed = aw_parse(argc - 1, argv + 1, &o);
    if (o.help || !parsed || (strcmp(sub, "ticket") == 0) != (o.nargs == 1) || o.nargs > 1) {
        host_keyring_free(&o.tk);
        if (o.help)
            fputs(aw_usage_text, stdout);
        return o.help ? 0 : parsed ? aw_usage() : EXIT_USAGE;
    }
    if (sim_device_load(&dev, o.file, NULL, &why) != MOLT_OK) {
        host_keyring_free(&o.tk);
        return host_error("%s: %s", o.file, sim_res_str(why));
    }
    json_t *out = aw_run(sub, &dev, &o, &rc, &save);
    if (out != NULL && o.json)
        sim_print_json(out);
    else if (out != NULL)
        aw_print(out);
    if (save && sim_device_save(&dev, o.file) != MOLT_OK)
        rc = host_error("%s: cannot write the device file", o.file);
    sim_device_free(&dev);
    host_keyring_free(&o.tk);
    return rc;
}
