/*
 * life.h - the adversarial device-life proof (issue 11; docs/sim.md).
 *
 * Random lives of a simulated device whose application is an attacker. Each
 * life picks a geometry (1-, 2- or 3-sector images; write alignment 1, 8, 32 or
 * 256; erase value 0x00 or 0xff; uniform or mixed sectors; write-once or not),
 * signs a family of images for it (versions and security counters up and
 * down), installs a factory image and then, step by step, does what an
 * application can do: stage through the PSA FWU API or by raw writes to the
 * staging slot, request through the API or with raw MCUboot trailer writes,
 * write any trailer field and any byte of the staging slot (the revert copy
 * too, while a trial runs), confirm, accept, reject, cancel, clean, reset --
 * with torn or clean power cuts armed at random flash operations of any of
 * them, and second and third cuts during recovery.
 *
 * After every boot an oracle that knows only what the application did (not
 * how molt works) checks:
 *   bricked   molt_boot_go() failed although a valid confirmed image exists;
 *   mixed     the running bytes are none of the signed images;
 *   unconf    an image runs confirmed that was neither confirmed by the
 *             application, nor permanently requested, nor the confirmed one;
 *   revert    a trial still runs after a reset without a confirm, and the
 *             application never touched the revert copy;
 *   lost      the confirmed image is gone although the application never
 *             wrote over the revert copy;
 *   counter   the counter decreased, exceeds the counter of the confirmed
 *             image, or an image below it runs;
 *   nor       molt broke a NOR rule (violations inside molt's own calls).
 *
 * The data variant (cfg.data, issue 13) gives every life a record store and
 * Amendment H's upgrade listeners (molt/keepdata.h): the images declare data
 * schemas in their protected schema TLV, the application writes records
 * between steps (the save listener flushes one more), installs save its data
 * (through the update API's hooks in SWAP, molt_keep_save() before the
 * request otherwise), and cuts land in save, activation, migration, accept,
 * reject and revert. After every boot a second oracle - which knows only the
 * images' schemas and the records the application wrote, never lib/keepdata.c -
 * checks the application's records:
 *   dmismatch code and data on different sides: molt_keep_boot() let the
 *             application run on data of another schema than its code's, or
 *             a record holds the right content in the wrong schema;
 *   dlost     a record the application wrote is missing, altered or extra, a
 *             revert or reject did not give back the old data byte for byte,
 *             or another application's record changed.
 */
#ifndef MOLT_SIM_LIFE_H
#define MOLT_SIM_LIFE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "molt/boot.h"

typedef struct life_cfg {
    molt_boot_mode_t mode;
    uint64_t seed;      /* the first life's; life i uses seed + i */
    uint32_t lives;
    uint32_t steps;     /* actions per life */
    const char *key_pem; /* signing key (private PEM) */
    const char *key_der; /* its public key, DER, as the device trusts it */
    FILE *log;          /* violations (with their seeds); may be NULL */
    bool data;          /* the data variant: a record store and data-preserving upgrades */
} life_cfg_t;

typedef struct life_result {
    uint64_t lives, steps, boots, cuts, recovery_cuts;
    uint64_t activations, reverts, refusals, revert_lost, fwu_installs;
    uint64_t bricked, mixed, unconf, revert, lost, counter, nor;
    /* wear: the largest per-sector erase count divided by the updates */
    uint64_t updates, max_wear;
    /* the data variant: record writes, saves (save listener calls), migrations
     * (the new code took the saved data over), restores (the old code got it
     * back after the new code had run), drops (the old code ran again before
     * the new one), images refused at finish for their schema, boots where
     * molt_keep_boot() refused the data to the code (KEEP_SCHEMA / KEEP_IMAGE);
     * violations: dmismatch, dlost */
    uint64_t rec_writes, saves, migrations, restores, drops, schema_refusals, keep_refused;
    uint64_t dmismatch, dlost;
} life_result_t;

/* Run the lives. false when the set-up failed (reason on stderr). */
bool life_run(const life_cfg_t *cfg, life_result_t *res);

/* Zero violations (and at least one boot). */
bool life_ok(const life_result_t *res);

/* One line of figures, no newline. */
void life_line(const life_result_t *res, char *buf, size_t cap);

/* Wear of one SWAP device over n update cycles through the PSA FWU API
 * (download, install, trial, accept, clean): the largest erase count of any
 * sector per update, and of the staging trailer and STATUS sectors. */
typedef struct life_wear {
    uint32_t cycles;
    double max_per_update, staging_trailer_per_update, status_per_update, primary_trailer_per_update;
} life_wear_t;
bool life_wear(const life_cfg_t *cfg, uint32_t cycles, life_wear_t *w);

#endif
