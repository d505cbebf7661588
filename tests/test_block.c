/*
 * test_block.c - updates an attacker cannot block (R-AVAIL, issue 12;
 * sim/block.h). A device on v1 with the authenticated watchdog provisioned;
 * the deployer releases v2 at t = release. Against an attacker that drops
 * every update packet (DROP) and an application that ignores updates and
 * never asks for a ticket (IGNORE), the device runs v2, confirmed, no later
 * than release + grace + ticket seconds + one recovery cycle, and the old
 * application never runs past release + grace + ticket seconds. A deployer
 * outage longer than a ticket (OUTAGE) degrades to recovery, never to an
 * unbootable device, and ends in normal boots. The figures are printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "check.h"
#include "slurp.h"

static void show(const char *what, const block_cfg_t *c, const block_result_t *r)
{
    printf("%-7s reached %d at t=%u (release %u, bound %u); old application until t=%u; last ticket t=%u; "
           "recovery at t=%u (deadline %u), cycle %u s (bound %u); boots %u (recovery %u), tickets %u, refused %u, "
           "watchdog resets %u\n",
           what, r->reached, r->reached_at, c->release_at, r->bound, r->old_app_until, r->last_ticket_at,
           r->recovery_at, r->deadline, r->recovery_cycle, block_cycle_bound(c), r->boots, r->recovery_boots,
           r->tickets, r->refusals, r->watchdog_resets);
}

int main(void)
{
    size_t n1 = 0, n2 = 0, nk = 0;
    uint8_t *v1 = slurp(MOLT_VECTORS, "images/p24_ecdsa_p256_rollback_low.bin", &n1); /* 0.9.0 */
    uint8_t *v2 = slurp(MOLT_VECTORS, "images/p03_ecdsa_p256_seccnt.bin", &n2);       /* 1.2.3+4 */
    uint8_t *kd = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &nk);
    CHECK(v1 && v2 && kd, "vectors");
    molt_key_t key = {kd, nk};
    molt_keyring_t ring = {&key, 1};
    block_cfg_t base = {.v1 = v1, .v1_len = n1, .v2 = v2, .v2_len = n2, .keys = &ring, .ticket_seconds = 86400,
                        .ticket_boots = 100, .grace = 3 * 86400, .poll = 3600, .release_at = 10 * 86400,
                        .outage = 4 * 86400, .boot_cost = 2, .download_cost = 120, .horizon = 60 * 86400};
    block_result_t r;

    /* The baseline: an honest device updates at its next poll, never in recovery. */
    block_cfg_t c = base;
    c.attacker = BLOCK_NONE;
    CHECK(block_run(&c, &r), "none: runs");
    show("none", &c, &r);
    CHECK(r.reached && !r.bricked && r.recovery_at == 0, "honest: v2 without recovery");
    CHECK(r.reached_at <= c.release_at + c.poll + block_cycle_bound(&c), "honest: at the next poll");

    /* The two blocking attackers, with several poll intervals and grace settings. */
    const uint32_t polls[] = {600, 3600, 7 * 3600}, graces[] = {0, 86400, 3 * 86400};
    unsigned runs = 0;
    uint32_t worst_margin = UINT32_MAX;
    for (int a = BLOCK_DROP; a <= BLOCK_IGNORE; a++)
        for (unsigned p = 0; p < 3; p++)
            for (unsigned g = 0; g < 3; g++) {
                c = base;
                c.attacker = (block_attacker_t)a;
                c.poll = polls[p];
                c.grace = graces[g];
                CHECK(block_run(&c, &r), "%s: runs", block_attacker_name(c.attacker));
                if (p == 1 && g == 2)
                    show(block_attacker_name(c.attacker), &c, &r);
                CHECK(!r.bricked, "%s poll %u grace %u: never bricked", block_attacker_name(c.attacker), c.poll,
                      c.grace);
                CHECK(r.reached, "%s poll %u grace %u: v2 reached", block_attacker_name(c.attacker), c.poll, c.grace);
                CHECK(r.reached_at <= r.bound, "%s poll %u grace %u: reached at %u, bound %u",
                      block_attacker_name(c.attacker), c.poll, c.grace, r.reached_at, r.bound);
                CHECK(r.recovery_at != 0 && r.recovery_cycle <= block_cycle_bound(&c),
                      "%s: through one recovery cycle (%u s)", block_attacker_name(c.attacker), r.recovery_cycle);
                CHECK(r.old_app_until <= c.release_at + c.grace + c.ticket_seconds,
                      "%s: the old application stops by the deadline (%u)", block_attacker_name(c.attacker),
                      r.old_app_until);
                /* IGNORE asks no ticket after release; DROP gets them only inside the grace */
                if (c.attacker == BLOCK_IGNORE)
                    CHECK(r.last_ticket_at <= c.release_at, "ignore: no ticket after release");
                else
                    CHECK(r.last_ticket_at < c.release_at + c.grace + c.poll && r.refusals > 0,
                          "drop: tickets refused after the grace");
                worst_margin = r.bound - r.reached_at < worst_margin ? r.bound - r.reached_at : worst_margin;
                runs++;
            }
    printf("blocking attackers: %u runs, every one on v2 within release + grace + ticket + one recovery cycle "
           "(closest margin %u s)\n",
           runs, worst_margin);

    /* A deployer outage longer than a ticket: recovery, never unbootable, back to normal. */
    c = base;
    c.attacker = BLOCK_OUTAGE;
    CHECK(block_run(&c, &r), "outage: runs");
    show("outage", &c, &r);
    CHECK(!r.bricked && r.recovery_at != 0, "outage: recovery entered, never bricked");
    CHECK(r.recovery_at <= c.release_at + c.ticket_seconds + c.boot_cost, "outage: recovery at the deadline");
    CHECK(r.reached && r.reached_at >= c.release_at + c.outage &&
              r.reached_at <= c.release_at + c.outage + c.poll + 2 * c.boot_cost,
          "outage: normal boots within a poll of the deployer's return (t=%u)", r.reached_at);
    free(v1);
    free(v2);
    free(kd);
    return check_done();
}
