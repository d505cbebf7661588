/*
 * cmd_sim.h - the pieces `molt sim`'s files share (tools/cmd_sim*.c):
 *
 *   cmd_sim.c        options, the command table and dispatch, device files,
 *                    create and write, the JSON/text output of every command
 *   cmd_sim_boot.c   boot, state, attest, iak
 *   cmd_sim_data.c   the device's application and its records (R-KEEPDATA):
 *                    request, confirm, put, get, del, records
 *   cmd_sim_proof.c  the power-fail proof and the device-life proof
 *   cmd_sim_awdt.c   the authenticated watchdog: watchdog, nonce, ticket, clock
 *
 * A new command is one row in cmd_sim.c's table (sim_cmds[]) and a function of
 * one of these two shapes: run (options parsed by cmd_sim.c into sim_opts_t) or
 * own (argc/argv as given, for commands with options of their own).
 *
 * --json on every command that prints state: one JSON object on stdout (fields
 * in docs/sim.md); refusals (exit 1) print {"error": NAME, "reason": TEXT} there
 * too, besides the one-line error on stderr; usage errors (exit 2) print
 * nothing on stdout.
 */
#ifndef MOLT_CMD_SIM_H
#define MOLT_CMD_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "molt_host/keyring.h"
#include "molt/boot.h"
#include "molt/keepdata.h"
#include "molt/store.h"
#include "sim_port.h"

typedef struct sim_opts {
    const char *sub; /* the command's name (put, get, del share one function) */
    const char *file, *slot, *vectors, *old_img, *new_img, *nonce, *out, *enc_key;
    int64_t client_id;
    bool encrypted;
    uint64_t data_sectors, app, id;
    bool has_id;
    uint64_t sector_size, slot_sectors, align, erase_value, seeds, double_cuts, lives, first_seed, wear_cycles;
    int mode; /* -1: not given */
    bool permanent, json, clean, data, help;
    host_keyring_t kr;
    int nargs;
    char **args;
} sim_opts_t;

extern const char *const sim_mode_names[3]; /* swap, remap, overwrite */
extern const char *const sim_slot_names[2]; /* primary, secondary */

/* Parse an unsigned number (decimal or 0x hex) of option opt in [min, max];
 * on failure print "OPT: 'S' is not a number in MIN..MAX" and return false. */
bool sim_parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The name of a boot action, as `--json` spells it ("upgrade-test"). */
const char *sim_action_name(molt_boot_action_t a);

/* Load o->file (-f DEV required) with o's keys; print the reason on failure. */
bool sim_dev_load(sim_device_t *dev, const sim_opts_t *o);
/* Save dev to path; print the reason on failure. */
bool sim_dev_save(sim_device_t *dev, const char *path);
/* The device's boot configuration: its mode and its watchdog (R-AVAIL). */
molt_boot_cfg_t sim_dev_cfg(sim_device_t *dev);

/* Print j as one compact JSON line on stdout and release it. */
void sim_print_json(json_t *j);
/* {"error": molt_err_name(e), "reason": molt_err_str(e)} */
json_t *sim_error_json(molt_err_t e);
/* "1.2.3+4" as a JSON string. */
json_t *sim_version_json(const molt_version_t *v);

/* --- the device's application and its data (cmd_sim_data.c) ---------------- */

#define SIM_APP 1u /* the application whose data `molt sim` upgrades */

typedef struct sim_data {
    molt_store_t st;
    molt_keep_t keep;
    bool on;
} sim_data_t;

/* Mount the device's store (if it has one: d->on) and bind application 1. */
bool sim_data_open(sim_device_t *dev, const molt_boot_cfg_t *cfg, sim_data_t *d, const char *file);
const char *sim_phase_name(uint8_t phase);
const char *sim_keep_action_name(molt_keep_action_t a);

/* --- commands --------------------------------------------------------------- */

int sim_create(sim_opts_t *o);
int sim_write(sim_opts_t *o);
int sim_boot(sim_opts_t *o);
int sim_state(sim_opts_t *o);
int sim_attest(sim_opts_t *o);
int sim_iak(sim_opts_t *o);
int sim_request(sim_opts_t *o);
int sim_confirm(sim_opts_t *o);
int sim_record(sim_opts_t *o); /* put, get, del (o->sub) */
int sim_records(sim_opts_t *o);
int sim_powerfail(sim_opts_t *o);
int sim_life(sim_opts_t *o);

#endif
