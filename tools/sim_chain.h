/*
 * sim_chain.h - `molt sim` and the two-stage boot chain (tools/cmd_sim_stage.c,
 * ports/sim/sim_stage.h). A device DEV has the chain when DEV.chain exists
 * (made by `molt sim chain`): stage 0's record, the two stage-1 slots and the
 * key set in force. `molt sim boot` then runs stage 0, then the application's
 * boot with the key set wired in (cfg.keyrot), and reports both.
 */
#ifndef MOLT_TOOLS_SIM_CHAIN_H
#define MOLT_TOOLS_SIM_CHAIN_H

#include <stdbool.h>

#include <jansson.h>

#include "molt/boot.h"
#include "molt/verify.h"

typedef struct sim_chain sim_chain_t;

/* `molt sim chain|stage1|stage1-confirm|keyupdate` and `molt sim life --chain`. */
int cmd_sim_stage(int argc, char **argv);

/* Open DEV.chain if it exists (*out = NULL when DEV has no chain). keys:
 * stage 0's table. false: an error was printed. */
bool sim_chain_open(const char *dev_path, const molt_keyring_t *keys, sim_chain_t **out);
/* Stage 0 at reset. false: no stage 1 verifies: the secure state (printed
 * unless json, whose report then carries the error). c may be NULL: true. */
bool sim_chain_boot0(sim_chain_t *c, bool json);
/* The application boot judges with the key set in force (c may be NULL). */
void sim_chain_wire(sim_chain_t *c, molt_boot_cfg_t *cfg);
/* Add "stage1" and "keyset" to j, or print them (j NULL). c may be NULL. */
void sim_chain_report(sim_chain_t *c, json_t *j);
/* Save (when save) and free. false: the save failed (printed). c may be NULL. */
bool sim_chain_close(sim_chain_t *c, const char *dev_path, bool save);

#endif
