/*
 * test_awdt_pf.c - power cuts on the whole recovery path (R-AVAIL, R-FAILSAFE;
 * issue 12). A simulated device (lib/ over the sim port, SWAP) runs v1; its
 * watchdog's deadline passes; the recovery boot latches recovery, the updater
 * stages v2 and requests a trial, the boot code activates it (still recovery),
 * the updater confirms it, and the next boot leaves recovery on v2.
 *
 * A torn cut lands at every flash operation of that path, in the slots and
 * STATUS (sim_flash) and, separately, in the watchdog's state area
 * (sim_awdt); after the power comes back the updater goes on from what it
 * finds. After every boot the oracle, which knows only the two images and the
 * numbers it saw before, checks: never bricked (molt_boot_go finds an image),
 * never mixed (the image that runs is v1 or v2, byte for byte), the deadline,
 * the boot limit and the boot count never lower than before; and at the end
 * the device runs v2 confirmed and out of recovery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "molt/boot.h"
#include "sim_port.h"
#include "slurp.h"

static uint8_t *g_v1, *g_v2, *g_kd;
static size_t g_n1, g_n2, g_nk;
static molt_key_t g_key;
static molt_keyring_t g_ring;

typedef struct run {
    sim_device_t d;
    molt_boot_cfg_t bc;
    uint32_t deadline, limit, boots; /* the highest seen: never to go lower */
    unsigned cuts, boots_done, recovery_boots, bricked, mixed, rewound;
    bool done;
} run_t;

static bool holds(run_t *r, const uint8_t *img, size_t n)
{
    uint8_t *buf = malloc(n);
    bool same = buf && r->d.port.area[MOLT_AREA_PRIMARY].read(r->d.port.area[MOLT_AREA_PRIMARY].ctx, 0, buf, n) == MOLT_OK &&
                memcmp(buf, img, n) == 0;
    free(buf);
    return same;
}

static bool cut_now(run_t *r) { return !sim_flash_powered(&r->d.flash) || r->d.aw.dead; }

static void power_back(run_t *r)
{
    sim_flash_disarm(&r->d.flash);
    sim_awdt_power_back(&r->d.aw);
    CHECK_EQ(sim_device_reboot(&r->d), MOLT_OK);
    r->cuts++;
}

static void setup(run_t *r)
{
    memset(r, 0, sizeof *r);
    sim_layout_t lay;
    CHECK_EQ(sim_layout_uniform(&lay, 1024, 8, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&r->d, &lay, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(&r->d, MOLT_AREA_PRIMARY, 0, g_v1, g_n1), MOLT_OK);
    CHECK_EQ(sim_awdt_provision(&r->d.aw, r->d.ks.iak_pub, g_kd, g_nk, 100, 50, 1000, 100, 600, 100, 50), MOLT_OK);
    r->bc = (molt_boot_cfg_t){.mode = MOLT_MODE_SWAP, .awdt = sim_awdt_cfg(&r->d.aw)};
    r->deadline = 100;
    r->limit = 50;
    r->d.aw.clock = 10;
    molt_boot_result_t res;
    CHECK_EQ(molt_boot_go(&r->d.port, &r->bc, &res), MOLT_OK);
    CHECK(!res.recovery, "normal before the deadline");
    r->d.aw.clock = 200; /* the deadline has passed */
}

/* One round of the device: a boot, then what the updater does. */
static void round_(run_t *r)
{
    molt_boot_result_t res;
    (void)sim_device_new_boot(&r->d);
    molt_err_t e = molt_boot_go(&r->d.port, &r->bc, &res);
    if (cut_now(r)) {
        power_back(r);
        return;
    }
    r->boots_done++;
    if (e != MOLT_OK) {
        r->bricked++;
        r->done = true;
        return;
    }
    bool v1 = res.image.version.major == g_v1[20], v2 = res.image.version.major == g_v2[20];
    if (!(v1 && holds(r, g_v1, g_n1)) && !(v2 && holds(r, g_v2, g_n2)))
        r->mixed++;
    molt_awdt_state_t st;
    uint32_t boots = 0;
    CHECK_EQ(sim_awdt_status(&r->d.aw, &st, &boots), MOLT_OK);
    if (st.deadline < r->deadline || st.boot_limit < r->limit || boots <= r->boots)
        r->rewound++;
    r->deadline = st.deadline;
    r->limit = st.boot_limit;
    r->boots = boots;
    r->recovery_boots += res.recovery;
    CHECK_EQ(res.awdt_err, MOLT_OK); /* unreadable state would also be a recovery boot: never here */
    if (v2 && !res.trial && !res.recovery) {
        r->done = true;
        return;
    }
    CHECK(res.recovery, "a boot on v1 or a trial after the deadline is a recovery boot");
    /* the updater (only it runs in recovery) */
    if (res.trial) {
        (void)molt_confirm(&r->d.port, &r->bc);
    } else if (v1) {
        uint32_t off = molt_boot_staging_offset(&r->d.port, &r->bc);
        if (sim_device_program(&r->d, MOLT_AREA_SECONDARY, off, g_v2, g_n2) == MOLT_OK)
            (void)molt_request_upgrade(&r->d.port, &r->bc, false);
    }
    if (cut_now(r))
        power_back(r);
}

static void finish(run_t *r)
{
    for (int i = 0; i < 16 && !r->done; i++)
        round_(r);
}

int main(void)
{
    g_v1 = slurp(MOLT_VECTORS, "images/p24_ecdsa_p256_rollback_low.bin", &g_n1); /* 0.9.0 */
    g_v2 = slurp(MOLT_VECTORS, "images/p03_ecdsa_p256_seccnt.bin", &g_n2);       /* 1.2.3+4 */
    g_kd = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &g_nk);
    CHECK(g_v1 && g_v2 && g_kd, "vectors");
    g_key = (molt_key_t){g_kd, g_nk};
    g_ring = (molt_keyring_t){&g_key, 1};

    /* Uncut: count the operations of the path in each flash. */
    run_t r;
    setup(&r);
    uint64_t f0 = sim_flash_ops(&r.d.flash), a0 = r.d.aw.ops;
    finish(&r);
    CHECK(r.done && r.bricked == 0 && r.mixed == 0 && r.rewound == 0 && r.cuts == 0, "the uncut path ends on v2");
    uint64_t fops = sim_flash_ops(&r.d.flash) - f0, aops = r.d.aw.ops - a0;
    unsigned uncut_boots = r.boots_done;
    printf("recovery path, uncut: %u boots (%u in recovery), %llu slot/STATUS flash operations, %llu watchdog-area "
           "operations\n",
           r.boots_done, r.recovery_boots, (unsigned long long)fops, (unsigned long long)aops);
    CHECK(uncut_boots == 3 && aops >= 4 && fops > 20, "the path has the expected shape");
    sim_device_free(&r.d);

    unsigned cuts = 0, bricked = 0, mixed = 0, rewound = 0, unfinished = 0, rec_boots = 0;
    for (int where = 0; where < 2; where++) {
        uint64_t total = where == 0 ? fops : aops;
        for (uint64_t k = 0; k < total; k++)
            for (uint32_t seed = 1; seed <= 2; seed++) {
                setup(&r);
                if (where == 0)
                    sim_flash_arm_cut(&r.d.flash, SIM_CUT_TORN, k, seed * 7919u + (uint32_t)k);
                else
                    sim_awdt_arm_cut(&r.d.aw, k, seed * 104729u + (uint32_t)k);
                finish(&r);
                CHECK(r.cuts == 1, "%s op %llu seed %u: the cut happened once", where ? "watchdog" : "flash",
                      (unsigned long long)k, seed);
                cuts += r.cuts;
                bricked += r.bricked;
                mixed += r.mixed;
                rewound += r.rewound;
                unfinished += !r.done || r.bricked;
                rec_boots += r.recovery_boots;
                sim_device_free(&r.d);
            }
    }
    printf("recovery path under power cuts: %u torn cuts (%llu slot/STATUS and %llu watchdog-area operations, 2 seeds "
           "each), %u recovery boots after them: %u bricked, %u mixed, %u rewound, %u not on v2 at the end\n",
           cuts, (unsigned long long)fops, (unsigned long long)aops, rec_boots, bricked, mixed, rewound, unfinished);
    CHECK_EQ(bricked, 0);
    CHECK_EQ(mixed, 0);
    CHECK_EQ(rewound, 0);
    CHECK_EQ(unfinished, 0);
    free(g_v1);
    free(g_v2);
    free(g_kd);
    return check_done();
}
