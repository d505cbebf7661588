/*
 * test_life_chain.c - the adversarial device-life proof over the boot chain
 * in CI (sim/life_chain.h, issue 18): random lives with fixed seeds that mix
 * stage-1 updates and key rotations with application updates, a torn power
 * cut at every flash operation of each stage-1 update and each key rotation,
 * and random cuts in application updates. The oracle is the model in
 * sim/life_chain.c (keys, images, key-updates; never libmolt's state): never
 * bricked, never a mixed stage 1 or application, never an accepted image of a
 * retired key, the key set never rolled back. `molt sim life --chain` runs
 * larger counts; MOLT_LIFE_CHAIN_LIVES overrides the count here.
 */
#include <stdlib.h>

#include "check.h"
#include "life_chain.h"

int main(void)
{
    const char *env = getenv("MOLT_LIFE_CHAIN_LIVES");
    uint32_t lives = env ? (uint32_t)strtoul(env, NULL, 10) : 20u;
    chain_cfg_t cfg = {18000u, lives, 16, stderr, false};
    chain_result_t res;
    char line[1200];
    CHECK(chain_run(&cfg, &res), "set-up");
    chain_line(&res, line, sizeof line);
    printf("chain lives (seeds %llu..%llu): %s\n", (unsigned long long)cfg.seed,
           (unsigned long long)(cfg.seed + lives - 1u), line);
    CHECK(chain_ok(&res), "violations");
    CHECK_EQ(res.lives, lives);
    /* the lives reach every outcome the proof is about */
    CHECK(res.s1_cuts > 0 && res.s1_new > 0 && res.s1_old > 0 && res.s1_refused > 0, "stage-1 outcomes");
    CHECK(res.ku_cuts > 0 && res.ku_landed > 0 && res.ku_not_landed > 0 && res.ku_refused > 0, "key-update outcomes");
    CHECK(res.app_accepted > 0 && res.app_refused_retired > 0 && res.app_refused_untrusted > 0 && res.app_cuts > 0,
          "application outcomes");
    CHECK_EQ(res.bricked, 0);
    CHECK_EQ(res.mixed, 0);
    CHECK_EQ(res.retired, 0);
    CHECK_EQ(res.rollback, 0);

    /* The oracle can fail: a stage 1 that boots the application without the
     * key set accepts images of retired keys, and the oracle must say so. */
    chain_cfg_t bad = {18000u, 6, 16, NULL, true};
    chain_result_t bres;
    CHECK(chain_run(&bad, &bres), "set-up (sabotaged)");
    chain_line(&bres, line, sizeof line);
    printf("sabotaged (the application boot ignores the key set): %s\n", line);
    CHECK(bres.retired > 0 && !chain_ok(&bres), "the oracle finds the retired-key images");
    return check_done();
}
