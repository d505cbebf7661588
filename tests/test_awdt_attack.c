/*
 * test_awdt_attack.c - the application as the attacker of the authenticated
 * watchdog (R-AVAIL, R-FAILSAFE; issue 12). Before the deadline the compromised
 * application holds the device: it writes anything it can reach - the whole
 * staging slot (its own images: a stale newer one, a downgrade, a copy of the
 * running one, random bytes), every field of both trailers (raw writes, and the
 * request/confirm calls of the API it is allowed to use), erases any sector of
 * the staging slot - reboots when it likes, and the power fails inside its own
 * writes. Then the deadline passes and only the updater runs: it installs the
 * deployer's image v3, which the application never had.
 *
 * The oracle knows only the four images and the rule of the design, not the
 * code: after the deadline every boot is a recovery boot until the device runs
 * v3 confirmed, and then none is (the entry version is one of the application's,
 * all below v3); no boot ever fails to find an image; the image that runs is
 * always one of the four, byte for byte; the watchdog's deadline, boot limit
 * and boot count never go lower; and the updater always brings the device to
 * v3 out of recovery. Lives are random with fixed seeds; the figures are printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "mkimage.h"
#include "molt/boot.h"
#include "sim_port.h"

#define LIVES 400u
#define DEADLINE 100u /* device seconds after provisioning */

static signer_t g_signer;
static img_t g_img[4]; /* v0 (downgrade), v1 (factory), v2 (stale, newer), v3 (the deployer's) */
static molt_keyring_t g_ring;
static int g_verbose; /* MOLT_TEST_LIFE=N: print life N step by step */

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

typedef struct life {
    sim_device_t d;
    molt_boot_cfg_t bc;
    uint64_t rng;
    uint32_t deadline, limit, boots; /* the highest seen */
    unsigned actions, cuts, boots_done, recovery_boots;
    unsigned bricked, mixed, rewound, escaped, stuck_in_recovery, unfinished;
    int trial_seen; /* the updater's memory of a foreign trial, for a lost revert */
} life_t;

/* Which of the four images runs (slot res->slot, byte for byte), or -1. */
static int running(life_t *l, const molt_boot_result_t *res)
{
    const molt_area_t *a = &l->d.port.area[res->slot];
    uint8_t buf[IMG_MAX];
    for (int i = 0; i < 4; i++) {
        if (a->read(a->ctx, 0, buf, g_img[i].n) == MOLT_OK && memcmp(buf, g_img[i].b, g_img[i].n) == 0)
            return i;
    }
    return -1;
}

static bool cut_now(life_t *l) { return !sim_flash_powered(&l->d.flash); }

static void power_back(life_t *l)
{
    sim_flash_disarm(&l->d.flash);
    sim_awdt_power_back(&l->d.aw);
    CHECK_EQ(sim_device_reboot(&l->d), MOLT_OK);
    l->cuts++;
}

/* One boot and the oracle's checks of it. -2: the power failed in it. */
static int boot(life_t *l, bool after_deadline, molt_boot_result_t *res)
{
    (void)sim_device_new_boot(&l->d);
    molt_err_t e = molt_boot_go(&l->d.port, &l->bc, res);
    if (cut_now(l)) {
        if (g_verbose)
            printf("  boot t=%u: power cut inside the boot (%d)\n", l->d.aw.clock, (int)e);
        power_back(l);
        return -2;
    }
    l->boots_done++;
    if (e != MOLT_OK) {
        if (g_verbose)
            printf("  boot t=%u: error %d\n", l->d.aw.clock, (int)e);
        l->bricked++;
        return -1;
    }
    int who = running(l, res);
    if (g_verbose)
        printf("  boot t=%u: v%d slot %u trial %d recovery %d action %d staged_err %d awdt_err %d\n", l->d.aw.clock, who,
               res->slot, res->trial, res->recovery, (int)res->action, (int)res->staged_err, (int)res->awdt_err);
    if (who < 0)
        l->mixed++;
    molt_awdt_state_t st;
    uint32_t boots = 0;
    CHECK_EQ(sim_awdt_status(&l->d.aw, &st, &boots), MOLT_OK);
    if (st.deadline < l->deadline || st.boot_limit < l->limit || boots <= l->boots)
        l->rewound++;
    l->deadline = st.deadline;
    l->limit = st.boot_limit;
    l->boots = boots;
    l->recovery_boots += res->recovery;
    if (after_deadline) {
        bool approved = who == 3 && !res->trial;
        if (!res->recovery && !approved)
            l->escaped++; /* the application's image ran past the deadline */
        if (res->recovery && approved)
            l->stuck_in_recovery++;
    } else if (res->recovery) {
        l->escaped++; /* nothing may shorten the deadline either */
    }
    return who;
}

/* After a reset the boot code runs first, again after every power cut inside
 * it; only after a boot that found its image does the application run. */
static int boot_up(life_t *l, bool after_deadline, molt_boot_result_t *res)
{
    int who = -2;
    for (int i = 0; i < 4 && who == -2; i++)
        who = boot(l, after_deadline, res);
    return who;
}

static void raw_write(life_t *l, unsigned id, uint32_t off, const uint8_t *b, uint32_t n)
{
    const molt_area_t *a = &l->d.port.area[id];
    (void)a->write(a->ctx, off, b, n); /* NOR rules may refuse it: the attacker does not care */
}

/* One thing the application does before the deadline. */
static void attack(life_t *l)
{
    const molt_area_t *pri = &l->d.port.area[MOLT_AREA_PRIMARY], *sec = &l->d.port.area[MOLT_AREA_SECONDARY];
    uint32_t al = sec->write_align, staging = molt_boot_staging_offset(&l->d.port, &l->bc);
    uint8_t unit[16];
    uint32_t what = rnd(&l->rng) % 10;
    if (g_verbose)
        printf("  action %u\n", what);
    switch (what) {
    case 0: case 1: case 2: { /* stage one of its images (v0, v1, v2) */
        uint32_t v = rnd(&l->rng) % 3;
        const img_t *im = &g_img[v];
        if (g_verbose)
            printf("    stage v%u\n", v);
        (void)sim_device_program(&l->d, MOLT_AREA_SECONDARY, staging, im->b, im->n);
        break;
    }
    case 3:
        (void)molt_request_upgrade(&l->d.port, &l->bc, rnd(&l->rng) & 1);
        break;
    case 4:
        (void)molt_confirm(&l->d.port, &l->bc);
        break;
    case 5: case 6: { /* a raw write into the last 64 bytes of a slot: the trailer's fields */
        unsigned id = rnd(&l->rng) & 1 ? MOLT_AREA_PRIMARY : MOLT_AREA_SECONDARY;
        const molt_area_t *a = id == MOLT_AREA_PRIMARY ? pri : sec;
        uint32_t off = a->size - 64u + (rnd(&l->rng) % (64u / al)) * al;
        uint32_t kind = rnd(&l->rng) % 3;
        for (uint32_t i = 0; i < al; i++)
            unit[i] = kind == 0 ? (uint8_t)rnd(&l->rng) : kind == 1 ? (i == 0 ? 0x01 : 0xff) : 0x00;
        raw_write(l, id, off, unit, al);
        break;
    }
    case 7: { /* random bytes anywhere in the staging slot */
        uint32_t off = (rnd(&l->rng) % (sec->size / al)) * al;
        for (uint32_t i = 0; i < al; i++)
            unit[i] = (uint8_t)rnd(&l->rng);
        raw_write(l, MOLT_AREA_SECONDARY, off, unit, al);
        break;
    }
    case 8: { /* erase a sector of the staging slot */
        molt_sector_t s;
        if (sec->sector(sec->ctx, (rnd(&l->rng) % sec->size), &s) == MOLT_OK)
            (void)sec->erase(sec->ctx, s.off, s.size);
        break;
    }
    default: { /* reboot (before the deadline: a normal boot), and maybe confirm what runs */
        molt_boot_result_t res;
        l->d.aw.clock += 1;
        if (boot_up(l, false, &res) >= 0 && res.trial && (rnd(&l->rng) & 1))
            (void)molt_confirm(&l->d.port, &l->bc);
        break;
    }
    }
    l->actions++;
}

/* The updater, the only code a recovery boot starts. true: the device is done. */
static bool updater_round(life_t *l)
{
    molt_boot_result_t res;
    int who = boot(l, true, &res);
    if (who == -2)
        return false;
    if (who == -1 && l->bricked)
        return true;
    if (!res.recovery)
        return true; /* checked by boot(): only v3 confirmed gets here rightly */
    if (res.trial) {
        if (who == 3) {
            CHECK_EQ(molt_confirm(&l->d.port, &l->bc), MOLT_OK);
        } else if (l->trial_seen++ > 0) {
            (void)molt_confirm(&l->d.port, &l->bc); /* the revert was lost: take it, then install v3 */
        }
        return false; /* an unconfirmed foreign trial reverts at the next boot */
    }
    l->trial_seen = 0;
    const molt_area_t *sec = &l->d.port.area[MOLT_AREA_SECONDARY];
    CHECK_EQ(sec->erase(sec->ctx, 0, sec->size), MOLT_OK);
    CHECK_EQ(sim_device_program(&l->d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&l->d.port, &l->bc),
                                g_img[3].b, g_img[3].n),
             MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&l->d.port, &l->bc, false), MOLT_OK);
    return false;
}

static void live(life_t *l, uint32_t seed)
{
    memset(l, 0, sizeof *l);
    l->rng = 0x9e3779b97f4a7c15ull ^ seed;
    sim_layout_t lay;
    CHECK_EQ(sim_layout_uniform(&lay, 1024, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&l->d, &lay, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(&l->d, MOLT_AREA_PRIMARY, 0, g_img[1].b, g_img[1].n), MOLT_OK);
    CHECK_EQ(sim_awdt_provision(&l->d.aw, l->d.ks.iak_pub, g_signer.der, sizeof g_signer.der, DEADLINE, 1000, 1000,
                                1000, 600, 100, 50),
             MOLT_OK);
    l->bc = (molt_boot_cfg_t){.mode = MOLT_MODE_SWAP, .awdt = sim_awdt_cfg(&l->d.aw)};
    l->deadline = DEADLINE;
    l->limit = 1000;
    l->d.aw.clock = 10;
    molt_boot_result_t res;
    CHECK_EQ(boot(l, false, &res), 1);

    /* The application's turn: 1 to 12 actions, a torn cut inside some of them. */
    unsigned n = 1 + rnd(&l->rng) % 12;
    for (unsigned i = 0; i < n && l->d.aw.clock < DEADLINE - 2; i++) {
        bool cut = rnd(&l->rng) % 3 == 0;
        if (cut)
            sim_flash_arm_cut(&l->d.flash, SIM_CUT_TORN, rnd(&l->rng) % 8, rnd(&l->rng));
        attack(l);
        if (cut_now(l)) {
            if (g_verbose)
                printf("  power cut\n");
            power_back(l);
            l->d.aw.clock += 1;
            (void)boot_up(l, false, &res);
        }
        if (cut)
            sim_flash_disarm(&l->d.flash); /* a cut armed past the action's last operation never fires */
        if (cut_now(l))
            power_back(l);
    }

    /* The deadline passes; from now on only the updater runs. */
    if (g_verbose)
        printf("  -- deadline --\n");
    l->d.aw.clock = DEADLINE + 100;
    bool done = false;
    for (int r = 0; r < 12 && !done; r++)
        done = updater_round(l);
    if (!done || l->bricked)
        l->unfinished++;
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    signer_new(&g_signer);
    const signer_t *s[1] = {&g_signer};
    for (uint32_t v = 0; v < 4; v++)
        make_image(&g_img[v], s, 1, v, 1); /* 1.0.0+v, all with security counter 1 */
    g_ring = (molt_keyring_t){&g_signer.key, 1};

    const char *one = getenv("MOLT_TEST_LIFE");
    if (one != NULL) {
        g_verbose = 1;
        life_t l;
        live(&l, (uint32_t)strtoul(one, NULL, 0));
        printf("bricked %u mixed %u rewound %u escaped %u stuck %u unfinished %u\n", l.bricked, l.mixed, l.rewound,
               l.escaped, l.stuck_in_recovery, l.unfinished);
        return 0;
    }
    unsigned actions = 0, cuts = 0, boots = 0, rec = 0, bricked = 0, mixed = 0, rewound = 0, escaped = 0, stuck = 0,
             unfinished = 0;
    for (uint32_t seed = 1; seed <= LIVES; seed++) {
        life_t l;
        live(&l, seed);
        if (l.bricked || l.mixed || l.rewound || l.escaped || l.stuck_in_recovery || l.unfinished)
            printf("life %u: bricked %u mixed %u rewound %u escaped %u stuck %u unfinished %u\n", seed, l.bricked,
                   l.mixed, l.rewound, l.escaped, l.stuck_in_recovery, l.unfinished);
        actions += l.actions;
        cuts += l.cuts;
        boots += l.boots_done;
        rec += l.recovery_boots;
        bricked += l.bricked;
        mixed += l.mixed;
        rewound += l.rewound;
        escaped += l.escaped;
        stuck += l.stuck_in_recovery;
        unfinished += l.unfinished;
        sim_device_free(&l.d);
    }
    printf("application as the attacker of the watchdog: %u lives (fixed seeds), %u actions before the deadline, "
           "%u power cuts inside them, %u boots (%u recovery): %u bricked, %u mixed, %u rewound, %u ran past the "
           "deadline without v3, %u v3 confirmed kept in recovery, %u not on v3 at the end\n",
           LIVES, actions, cuts, boots, rec, bricked, mixed, rewound, escaped, stuck, unfinished);
    CHECK(cuts > LIVES / 10, "the power failed inside the application's writes (%u)", cuts);
    CHECK_EQ(bricked, 0);
    CHECK_EQ(mixed, 0);
    CHECK_EQ(rewound, 0);
    CHECK_EQ(escaped, 0);
    CHECK_EQ(stuck, 0);
    CHECK_EQ(unfinished, 0);
    return check_done();
}
