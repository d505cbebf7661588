/*
 * test_life.c - the adversarial device-life proof in CI (sim/life.h): random
 * lives of an attacked device with fixed seeds, per activation mode, zero
 * violations of the oracle; then the data variant (issue 13: a record store,
 * data-preserving upgrades, the data oracle). `molt sim life [--data]` runs
 * the large runs recorded in docs/bench.md; MOLT_LIFE_LIVES overrides the
 * counts here.
 */
#include <stdlib.h>

#include "check.h"
#include "life.h"

int main(void)
{
    /* The data variant's lives (issue 13) check everything the plain ones do,
     * plus the data; its lives are cheaper (a third of the steps are record
     * writes): 275 plain + 150 data lives per mode cost the CPU of 400 plain. */
    const char *env = getenv("MOLT_LIFE_LIVES");
    uint32_t lives = env ? (uint32_t)strtoul(env, NULL, 10) : 275u, dlives = env ? lives : 150u;
    static const molt_boot_mode_t modes[3] = {MOLT_MODE_SWAP, MOLT_MODE_REMAP, MOLT_MODE_OVERWRITE};
    static const char *names[3] = {"swap", "remap", "overwrite"};
    for (int v = 0; v < 2; v++) {
        for (int m = 0; m < 3; m++) {
            uint32_t n = v ? dlives : lives;
            life_cfg_t cfg = {modes[m], v ? 30000u : 1000u * (uint64_t)(m + 1), n, 40,
                              MOLT_VECTORS "/keys/sign-ecdsa-p256.pem", MOLT_VECTORS "/keys/sign-ecdsa-p256.pub.der",
                              stderr, v == 1};
            life_result_t res;
            char line[1000];
            CHECK(life_run(&cfg, &res), "%s: set-up", names[m]);
            life_line(&res, line, sizeof line);
            printf("%s%s: %s\n", names[m], v ? " + data" : "", line);
            CHECK(life_ok(&res), "%s: violations", names[m]);
            CHECK_EQ(res.lives, n);
            CHECK(res.cuts > 0 && res.recovery_cuts > 0, "%s: cuts in recovery too", names[m]);
            if (m != 2)
                CHECK(res.activations > 0 && res.reverts > 0 && res.refusals > 0,
                      "%s: the lives reach every outcome", names[m]);
            if (v == 1) {
                /* the data lives reach every data outcome */
                CHECK(res.rec_writes > 0 && res.saves > 0 && res.migrations > 0 && res.drops > 0 &&
                          res.schema_refusals > 0 && res.keep_refused > 0,
                      "%s + data: writes, saves, migrations, drops, refusals", names[m]);
                if (m != 2)
                    CHECK(res.restores > 0, "%s + data: restores", names[m]);
                CHECK_EQ(res.dmismatch, 0);
                CHECK_EQ(res.dlost, 0);
            }
        }
    }
    life_wear_t w;
    life_cfg_t wc = {MOLT_MODE_SWAP, 1, 0, 0, MOLT_VECTORS "/keys/sign-ecdsa-p256.pem",
                     MOLT_VECTORS "/keys/sign-ecdsa-p256.pub.der", NULL, false};
    CHECK(life_wear(&wc, 100, &w), "wear cycles");
    printf("wear over %u FWU update cycles: max %.2f erases per sector per update (staging trailer %.2f, "
           "STATUS %.2f, PRIMARY trailer %.2f)\n",
           w.cycles, w.max_per_update, w.staging_trailer_per_update, w.status_per_update,
           w.primary_trailer_per_update);
    CHECK(w.max_per_update <= 2.0, "no sector erased more than twice per update");
    return check_done();
}
