/*
 * life_chain.h - the adversarial device-life proof over the whole boot chain
 * (issue 18, R-ALLUPDATABLE; docs/boot-chain.md, docs/keys.md).
 *
 * Random lives of a simulated device with an immutable stage 0, two stage-1
 * slots (ports/sim/sim_stage.h) and a key set that rotates (lib/keyrot.c),
 * booting an application in SWAP mode. Each life mixes, in random order:
 *   - application updates signed by any key (factory, added, retired, never
 *     trusted), confirmed or left to revert, with a torn power cut at a
 *     random flash operation of the boot that activates them;
 *   - stage-1 updates (the next version, an older one, one by a key stage 0
 *     does not trust, an application image offered as stage 1), confirmed or
 *     not, with a torn power cut at EVERY flash operation of the update
 *     (install, request, stage 0's activation, the confirmation and the boot
 *     that records it), each from the same starting state;
 *   - key rotations along a chain of four key-updates (add, add + retire), and
 *     replays, rollbacks, forgeries (an image key signing as a root) and
 *     updates below the threshold, with a torn cut at EVERY flash operation of
 *     each applied one;
 *   - resets.
 * The oracle knows only the keys, the images, the key-updates and what was
 * done to the device -- a model of plain arrays, never libmolt's state. After
 * every boot it checks:
 *   bricked   stage 0 or stage 1 found nothing to run;
 *   mixed     the running stage 1 or application is not byte for byte one of
 *             the signed images, or is not the one the model allows;
 *   retired   the application that runs (or a staged one that was accepted)
 *             is signed by a key the model's key set has retired, or the
 *             refusal of a retired key's image is not KEY_RETIRED;
 *   rollback  the key set went back: a key-update the device had applied is
 *             accepted again, or one the model expects is refused;
 *   s1counter a stage 1 below the stage-1 counter runs, or a confirmed stage 1
 *             is lost;
 *   wrong     any other outcome that differs from the model's prediction
 *             (a refusal reason, an accepted update the model refuses).
 */
#ifndef MOLT_SIM_LIFE_CHAIN_H
#define MOLT_SIM_LIFE_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct chain_cfg {
    uint64_t seed;  /* life i uses seed + i */
    uint32_t lives;
    uint32_t steps; /* actions per life */
    FILE *log;      /* violations, with their seeds; may be NULL */
    /* The oracle's own test: stage 1 boots the application WITHOUT the key
     * set (cfg.keyrot NULL), as a device that ignores rotation would. The
     * oracle must then find retired-key images accepted. */
    bool sabotage;
} chain_cfg_t;

typedef struct chain_result {
    uint64_t lives, steps, boots, cuts;
    uint64_t s1_updates, s1_cuts, s1_new, s1_old, s1_refused;
    uint64_t ku_applied, ku_cuts, ku_landed, ku_not_landed, ku_refused;
    uint64_t app_updates, app_cuts, app_accepted, app_refused_retired, app_refused_untrusted;
    uint64_t bricked, mixed, retired, rollback, s1counter, wrong;
} chain_result_t;

bool chain_run(const chain_cfg_t *cfg, chain_result_t *res);
bool chain_ok(const chain_result_t *res);
void chain_line(const chain_result_t *res, char *buf, size_t cap);

#endif
