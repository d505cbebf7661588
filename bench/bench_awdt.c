/*
 * bench_awdt.c - figures of the authenticated watchdog (R-AVAIL, issue 12;
 * docs/awdt.md, docs/bench.md): how long after release a device that an
 * attacker keeps from updating runs the new version, over a grid of poll
 * intervals and grace periods, for each attacker of sim/block.h (a simulated
 * device: lib/ over the sim port, real signed images and tickets). Device time
 * is simulated, so the figures are exact seconds of device time, not host
 * speed. Prints a table; never passes or fails on a figure.
 *
 *   bench_awdt [TICKET_SECONDS [GRACE_SECONDS]]   defaults: 86400, 259200
 */
#include <stdio.h>
#include <stdlib.h>

#include "block.h"
#include "slurp.h"

static void dhms(uint32_t s, char *out, size_t cap)
{
    snprintf(out, cap, "%ud %02uh %02um %02us", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

int main(int argc, char **argv)
{
    size_t n1 = 0, n2 = 0, nk = 0;
    uint8_t *v1 = slurp(MOLT_VECTORS, "images/p24_ecdsa_p256_rollback_low.bin", &n1); /* 0.9.0 */
    uint8_t *v2 = slurp(MOLT_VECTORS, "images/p03_ecdsa_p256_seccnt.bin", &n2);       /* 1.2.3+4 */
    uint8_t *kd = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &nk);
    if (!v1 || !v2 || !kd) {
        fprintf(stderr, "bench_awdt: cannot read the test vectors\n");
        return 2;
    }
    uint32_t ticket = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 86400u;
    uint32_t grace0 = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 3u * 86400u;
    molt_key_t key = {kd, nk};
    molt_keyring_t ring = {&key, 1};
    block_cfg_t base = {.v1 = v1, .v1_len = n1, .v2 = v2, .v2_len = n2, .keys = &ring, .ticket_seconds = ticket,
                        .ticket_boots = 100, .grace = grace0, .poll = 3600, .release_at = 10 * 86400,
                        .outage = 4 * 86400, .boot_cost = 2, .download_cost = 120, .horizon = 90 * 86400};
    const uint32_t polls[] = {600, 3600, 7 * 3600};
    const uint32_t graces[] = {0, 86400, grace0};
    const block_attacker_t who[] = {BLOCK_NONE, BLOCK_DROP, BLOCK_IGNORE};
    printf("# authenticated watchdog: device time from release to v2 running confirmed\n");
    printf("# ticket %u s, boot %u s, download %u s; bound = grace + ticket + one recovery cycle\n", ticket,
           base.boot_cost, base.download_cost);
    printf("%-7s %7s %8s  %-16s %-16s %9s %6s %8s %8s %7s\n", "attacker", "poll_s", "grace_s", "reached_after",
           "bound_after", "cycle_s", "boots", "recovery", "tickets", "refused");
    int rc = 0;
    for (unsigned a = 0; a < 3; a++)
        for (unsigned p = 0; p < 3; p++)
            for (unsigned g = 0; g < 3; g++) {
                if (who[a] == BLOCK_NONE && g > 0)
                    continue; /* the grace does not matter to an honest device */
                block_cfg_t c = base;
                c.attacker = who[a];
                c.poll = polls[p];
                c.grace = graces[g];
                block_result_t r;
                if (!block_run(&c, &r)) {
                    rc = 2;
                    continue;
                }
                char got[32], bound[32];
                if (r.reached)
                    dhms(r.reached_at - c.release_at, got, sizeof got);
                else
                    snprintf(got, sizeof got, "not reached");
                dhms(r.bound - c.release_at, bound, sizeof bound);
                printf("%-7s %7u %8u  %-16s %-16s %9u %6u %8u %8u %7u%s\n", block_attacker_name(c.attacker), c.poll,
                       c.grace, got, bound, r.recovery_cycle, r.boots, r.recovery_boots, r.tickets, r.refusals,
                       r.bricked ? "  BRICKED" : "");
            }
    block_cfg_t c = base;
    c.attacker = BLOCK_OUTAGE;
    block_result_t r;
    if (block_run(&c, &r)) {
        char back[32];
        dhms(r.reached_at - (c.release_at + c.outage), back, sizeof back);
        printf("# deployer outage of %u s (longer than a ticket): recovery at release + %u s, normal boots %s after "
               "the deployer returns, bricked %d\n",
               c.outage, r.recovery_at - c.release_at, back, r.bricked);
    } else {
        rc = 2;
    }
    free(v1);
    free(v2);
    free(kd);
    return rc;
}
