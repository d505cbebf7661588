/*
 * test_attack.c - the application is an attacker: one directed test for each
 * defect an independent review reproduced against the boot code (issue 11).
 * Each asserts the exact outcome; each failed on the code before the boot
 * record (R-FAILSAFE, R-ROLLBACK, R-ATOMIC; defect 8, R-CONF, is in
 * test_enc_boot.c).
 *
 *   1 a trial writes an older, counter-valid image where the revert copy is:
 *     it is never installed (the revert is bound to the recorded identity);
 *   2 a damaged revert copy: the trial runs unconfirmed with revert_lost, the
 *     counter never moves for it; or, configured, the secure state;
 *   3 a request magic written during a trial: the revert wins, the revert copy
 *     is intact, the request is cleared;
 *   4 a torn request magic on write-once flash never blocks later requests;
 *   5 REMAP: a stale confirmed or rejected trailer neither makes a new image
 *     permanent nor swallows a request;
 *   6 REMAP: a request during a trial is refused; a raw one is ignored; the
 *     device never ends in NO_IMAGE with two valid images;
 *   7 REMAP: a newer image without a request never runs;
 *   9 DEPENDENCY TLVs: refused on a single-image port, enforced on several;
 *  10 a torn erase of the staging trailer sector before a request or a confirm.
 */
#include <stdlib.h>
#include <string.h>

#include "boot_int.h" /* molt_boot_request_own: what psa_fwu_install calls */
#include "check.h"
#include "deps.h"
#include "molt/boot.h"
#include "molt/fwu.h"
#include "psa/update.h"
#include "sim_port.h"
#include "slurp.h"

#define SEC 4096u
#define SLOT 20u

static const char *dir;
static molt_key_t g_key;
static molt_keyring_t g_ring;

typedef struct img {
    uint8_t *b;
    size_t n;
} img_t;

static img_t p03, p07, p20, p23, p24;

static img_t load(const char *name)
{
    img_t im = {0, 0};
    im.b = slurp(dir, name, &im.n);
    CHECK(im.b != NULL, "load %s", name);
    return im;
}

static void dev_new(sim_device_t *d, bool write_once)
{
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, SEC, SLOT, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(d, &l, &g_ring), MOLT_OK);
    if (write_once)
        sim_flash_set_flags(&d->flash, SIM_FLASH_F_WRITE_ONCE);
}

static bool holds(sim_device_t *d, uint32_t area, uint32_t off, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, area) + off, im->b, im->n) == 0;
}

static uint32_t counter(sim_device_t *d)
{
    uint32_t v = 0;
    CHECK_EQ(d->port.nv_read(d->port.ctx, MOLT_NV_SECURITY_COUNTER, &v), MOLT_OK);
    return v;
}

/* Raw application writes (what an MCUboot application can do), padded with
 * the erase value to the write unit. */
static void raw(sim_device_t *d, uint32_t area, uint32_t off, const void *b, size_t n)
{
    size_t m = (n + 7u) & ~(size_t)7u;
    uint8_t *p = malloc(m);
    CHECK(p != NULL, "raw buffer");
    if (p == NULL)
        return;
    memset(p, 0xff, m);
    memcpy(p, b, n);
    CHECK_EQ(d->port.area[area].write(d->port.area[area].ctx, off, p, m), MOLT_OK);
    free(p);
}

static const uint8_t magic8[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                   0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

/* boot_set_pending's first write: the magic (align 8: the last 16 bytes). */
static void raw_magic(sim_device_t *d, uint32_t area)
{
    raw(d, area, d->port.area[area].size - 16u, magic8, 16);
}

/* A field unit (image_ok = 1, copy_done = 2, swap_info = 3 units below the magic). */
static void raw_field(sim_device_t *d, uint32_t area, unsigned f, uint8_t v)
{
    uint8_t u[8];
    memset(u, 0xff, sizeof u);
    u[0] = v;
    raw(d, area, d->port.area[area].size - 16u - 8u * f, u, 8);
}

/* SWAP device running `old` confirmed, then a trial of `new_` (TEST request). */
static void swap_trial(sim_device_t *d, const molt_boot_cfg_t *cfg, const img_t *old, const img_t *new_)
{
    molt_boot_result_t r;
    dev_new(d, true);
    CHECK_EQ(sim_device_program(d, MOLT_AREA_PRIMARY, 0, old->b, old->n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d->port, cfg, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&d->port, cfg), new_->b, new_->n),
             MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&d->port, cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d->port, cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK(r.trial && holds(d, MOLT_AREA_PRIMARY, 0, new_), "trial of the new image");
}

static void defect1_trial_chooses_revert(void)
{
    /* p20 1.5.0 (counter 8) confirmed, trial of p23; the trial writes p07
     * (1.2.3, counter 16908291: older, but counter-valid) at SECONDARY + 0. */
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = true, .deps = &test_deps};
    molt_boot_result_t r;
    sim_device_t d;
    swap_trial(&d, &cfg, &p20, &p23);
    CHECK_EQ(counter(&d), 8);
    CHECK_EQ(d.port.area[MOLT_AREA_SECONDARY].erase(d.port.area[MOLT_AREA_SECONDARY].ctx, 0, 17u * SEC), MOLT_OK);
    raw(&d, MOLT_AREA_SECONDARY, 0, p07.b, p07.n);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.revert_lost, "defect 1: the revert target is not the recorded image");
    CHECK(r.trial, "defect 1: the trial keeps running unconfirmed");
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p23), "defect 1: p07 was not installed");
    CHECK_EQ(counter(&d), 8); /* never advanced to p07's or p23's */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.trial && r.revert_lost, "defect 1: every reset says so");
    CHECK_EQ(counter(&d), 8);
    /* The application can still confirm its trial: then it is the confirmed image. */
    CHECK_EQ(molt_confirm(&d.port, &cfg), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(!r.trial && !r.revert_lost, "defect 1: confirmed after all");
    CHECK_EQ(counter(&d), 0xffffffffu);
    sim_device_free(&d);
}

static void defect2_damaged_revert_copy(void)
{
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &test_deps};
    molt_boot_result_t r;
    sim_device_t d;
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    swap_trial(&d, &cfg, &p24, &p03);
    /* one sector of the revert copy overwritten by the trial */
    CHECK_EQ(d.port.area[MOLT_AREA_SECONDARY].erase(d.port.area[MOLT_AREA_SECONDARY].ctx, 0, SEC), MOLT_OK);
    raw(&d, MOLT_AREA_SECONDARY, 0, junk, sizeof junk);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.revert_lost && r.trial, "defect 2: revert_lost, trial unconfirmed");
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK_EQ(counter(&d), 1);
    /* the same device configured for the secure state instead */
    molt_boot_cfg_t secure = cfg;
    secure.revert_lost = MOLT_REVERT_LOST_SECURE_STATE;
    uint32_t calls = d.no_image_calls;
    CHECK_EQ(molt_boot_go(&d.port, &secure, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_calls, calls + 1u);
    CHECK_EQ(d.no_image_why, MOLT_E_REVERT_LOST);
    CHECK_EQ(counter(&d), 1);
    sim_device_free(&d);
}

static void defect3_request_during_trial(void)
{
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &test_deps};
    molt_boot_result_t r;
    sim_device_t d;
    swap_trial(&d, &cfg, &p24, &p03);
    CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_E_STATE);
    /* boot_set_pending by hand: magic, then swap_info TEST */
    raw_magic(&d, MOLT_AREA_SECONDARY);
    raw_field(&d, MOLT_AREA_SECONDARY, 3, 0x02);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK(r.request_cleared, "defect 3: the trial's request was cleared");
    CHECK(!r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p24), "defect 3: the confirmed image is back");
    CHECK(holds(&d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&d.port, &cfg), &p03), "p03 staged again");
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE); /* the request does not come back */
    CHECK_EQ(counter(&d), 1);
    CHECK_EQ(d.flash.stats.violations, 0);
    sim_device_free(&d);
}

static void defect4_torn_magic(void)
{
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &test_deps};
    int ok = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        molt_boot_result_t r;
        sim_device_t d;
        dev_new(&d, true);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, SEC, p03.b, p03.n), MOLT_OK);
        sim_flash_arm_cut(&d.flash, SIM_CUT_TORN, 0, seed); /* the magic write */
        CHECK(molt_request_upgrade(&d.port, &cfg, false) != MOLT_OK, "cut");
        CHECK_EQ(sim_device_reboot(&d), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        ok += r.action == MOLT_ACT_UPGRADE_TEST && r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03);
        CHECK_EQ(d.flash.stats.violations, 0);
        sim_device_free(&d);
    }
    CHECK_EQ(ok, 16);
}

static molt_boot_cfg_t remap = {.mode = MOLT_MODE_REMAP, .deps = &test_deps};

static void defect5_stale_trailers(void)
{
    molt_boot_result_t r;
    sim_device_t d;
    dev_new(&d, true);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK_EQ(r.slot, 0);
    /* a downloader writes p03 into B's image sectors; B's trailer is left as
     * a confirmed one (magic + image_ok), as two earlier updates would */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p03.b, p03.n), MOLT_OK);
    raw_magic(&d, MOLT_AREA_SECONDARY);
    raw_field(&d, MOLT_AREA_SECONDARY, 1, 0x01);
    raw_field(&d, MOLT_AREA_SECONDARY, 2, 0x01);
    CHECK_EQ(molt_request_upgrade(&d.port, &remap, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK(r.slot == 1 && r.trial, "defect 5: a trial, not a permanent install");
    CHECK_EQ(counter(&d), 1);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK(r.action == MOLT_ACT_REVERT && r.slot == 0, "defect 5: reverted at the next reset");
    CHECK_EQ(counter(&d), 1);
    /* a stale REJECTED trailer (image_ok = 0) does not swallow a new request */
    raw_field(&d, MOLT_AREA_SECONDARY, 1, 0x00);
    CHECK_EQ(molt_request_upgrade(&d.port, &remap, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK(r.action == MOLT_ACT_UPGRADE_TEST && r.slot == 1 && r.trial, "defect 5: the request was honoured");
    CHECK_EQ(d.flash.stats.violations, 0);
    sim_device_free(&d);
}

static void defect6_remap_request_in_trial(void)
{
    molt_boot_result_t r;
    sim_device_t d;
    dev_new(&d, false);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK); /* factory, no trailer */
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p03.b, p03.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&d.port, &remap, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK(r.slot == 1 && r.trial, "trial from B");
    CHECK_EQ(molt_request_upgrade(&d.port, &remap, false), MOLT_E_STATE);
    CHECK_EQ(molt_request_upgrade(&d.port, &remap, true), MOLT_E_STATE);
    raw_magic(&d, MOLT_AREA_PRIMARY); /* raw request into A's blank trailer */
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
        CHECK(r.slot == 0 && !r.trial, "defect 6: A runs confirmed (reset %d)", k);
    }
    CHECK_EQ(counter(&d), 1);
    sim_device_free(&d);
}

static void defect7_newer_without_request(void)
{
    molt_boot_result_t r;
    sim_device_t d;
    dev_new(&d, false);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p03.b, p03.n), MOLT_OK); /* no request */
    CHECK_EQ(molt_boot_go(&d.port, &remap, &r), MOLT_OK);
    CHECK(r.slot == 0 && !r.trial && r.action == MOLT_ACT_NONE, "defect 7: the newer image does not run");
    CHECK_EQ(counter(&d), 1);
    sim_device_free(&d);
}

static molt_err_t image1_at_100(void *ctx, uint8_t id, const molt_version_t *min)
{
    const molt_version_t have = {1, 0, 0, 0};
    (void)ctx;
    return id == 1u && molt_version_cmp(&have, min) >= 0 ? MOLT_OK : MOLT_E_DEPENDENCY;
}

static void defect9_dependencies(void)
{
    static const molt_deps_t old1 = {image1_at_100, NULL};
    const molt_deps_t *cases[3] = {NULL, &old1, &test_deps};
    const molt_err_t want[3] = {MOLT_E_DEP_UNSUPPORTED, MOLT_E_DEPENDENCY, MOLT_OK};
    for (int m = 0; m < 2; m++) {
        for (int c = 0; c < 3; c++) {
            molt_boot_cfg_t cfg = {.mode = m == 0 ? MOLT_MODE_SWAP : MOLT_MODE_REMAP, .deps = cases[c]};
            molt_boot_result_t r;
            sim_device_t d;
            dev_new(&d, false);
            CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p03.b, p03.n), MOLT_OK);
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&d.port, &cfg), p20.b,
                                        p20.n),
                     MOLT_OK);
            CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK_EQ(r.staged_err, want[c]);
            CHECK_EQ(r.action, want[c] == MOLT_OK ? MOLT_ACT_UPGRADE_TEST : MOLT_ACT_REFUSED);
            CHECK(want[c] == MOLT_OK ? r.trial : (!r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03)),
                  "defect 9: mode %d case %d", m, c);
            sim_device_free(&d);
        }
    }
}

/* 10 (R-SECBOOT, R-ROLLBACK): the application tears an erase of the staging
 * slot's trailer sector (a power cut mid-erase, damage drawn from the seed):
 * (a) over a stale request magic, just before molt_boot_request_own (what
 * psa_fwu_install calls; it trusts a blank-reading trailer); (b) during a
 * trial, then a reset without confirm; (c) during a trial, then molt_confirm
 * (the boot-side step of an accept; the FWU layer's fresh_record is not
 * driven here). Per seed, the branch taken is checked exactly (a request gives
 * a trial of p03, a refused one leaves p24 confirmed; never NO_IMAGE; the
 * counter never moves for an unconfirmed image); over the 16 seeds the exact
 * expected outcome is that every tear is survived: all requests honoured, all
 * unconfirmed trials reverted, all confirmed trials kept. */
static void tear_trailer_erase(sim_device_t *d, uint64_t seed)
{
    const molt_area_t *a = &d->port.area[MOLT_AREA_SECONDARY];
    sim_flash_arm_cut(&d->flash, SIM_CUT_TORN, 0, seed);
    CHECK(a->erase(a->ctx, a->size - SEC, SEC) != MOLT_OK, "torn erase reports the cut");
    CHECK_EQ(sim_device_reboot(d), MOLT_OK);
}

static void defect10_torn_trailer_erase(void)
{
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &test_deps};
    int requested = 0, refused = 0, reverted = 0, confirmed = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        molt_boot_result_t r;
        sim_device_t d;
        molt_err_t e;
        /* (a) before the request */
        dev_new(&d, true);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&d.port, &cfg), p03.b, p03.n),
                 MOLT_OK);
        raw_magic(&d, MOLT_AREA_SECONDARY); /* a stale request magic, then the torn erase of it */
        tear_trailer_erase(&d, seed);
        e = molt_boot_request_own(&d.port, &cfg, false);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK); /* never NO_IMAGE */
        if (e == MOLT_OK) {
            requested++;
            CHECK(r.action == MOLT_ACT_UPGRADE_TEST && r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03),
                  "defect 10a seed %llu: the request gives a trial of p03", (unsigned long long)seed);
        } else {
            refused++;
            CHECK(r.action == MOLT_ACT_NONE && !r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p24),
                  "defect 10a seed %llu: a failed request leaves p24 confirmed", (unsigned long long)seed);
        }
        CHECK_EQ(counter(&d), 1);
        CHECK_EQ(d.flash.stats.violations, 0);
        sim_device_free(&d);

        /* (b) during a trial of p03: the tear, then no confirm: the revert */
        swap_trial(&d, &cfg, &p24, &p03);
        tear_trailer_erase(&d, seed);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK); /* never NO_IMAGE */
        if (r.action == MOLT_ACT_REVERT && !r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p24))
            reverted++;
        CHECK_EQ(counter(&d), 1); /* p03 never judged permanent */
        CHECK_EQ(d.flash.stats.violations, 0);
        sim_device_free(&d);

        /* (c) during a trial of p03: the tear, then the confirm (accept) */
        swap_trial(&d, &cfg, &p24, &p03);
        tear_trailer_erase(&d, seed);
        CHECK_EQ(molt_confirm(&d.port, &cfg), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        if (r.action == MOLT_ACT_NONE && !r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03))
            confirmed++;
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK); /* stays */
        CHECK(!r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "defect 10c seed %llu: p03 stays confirmed",
              (unsigned long long)seed);
        CHECK_EQ(d.flash.stats.violations, 0);
        sim_device_free(&d);
    }
    /* exact: every torn erase is survived -- the request is honoured, the
     * unconfirmed trial reverts, the confirmed one stays */
    CHECK_EQ(requested, 16);
    CHECK_EQ(refused, 0);
    CHECK_EQ(reverted, 16);
    CHECK_EQ(confirmed, 16);
}

/* 10, told apart (issue 13 item 3): the trailer units are seeded so that they
 * read blank on purpose while the cells are unfit to program -- the application
 * programs erase-value bytes there (on write-once flash such a unit is
 * programmed), then tears an erase of the sector, which leaves the units
 * outside the finished prefix still marked. A path that trusts a blank-reading
 * trailer programs into them (a write-once violation: on ECC flash, a double
 * program); a careful one erases first. Driven through molt_request_upgrade
 * (careful), psa_fwu_install (molt_boot_request_own: trusts a blank trailer
 * it erased itself at psa_fwu_start) and psa_fwu_accept (fresh_record: trusts
 * a blank record region), with the exact outcome of each asserted. */
static uint32_t unfit_units(sim_device_t *d, uint32_t area, uint32_t off, uint32_t len)
{
    uint32_t base = sim_device_area_base(d, area) + off, n = 0;
    for (uint32_t u = base / 8u; u < (base + len) / 8u; u++)
        n += (d->flash.programmed[u / 8u] >> (u % 8u)) & 1u;
    return n;
}

static bool reads_blank(sim_device_t *d, uint32_t area, uint32_t off, uint32_t len)
{
    const uint8_t *p = sim_flash_data(&d->flash) + sim_device_area_base(d, area) + off;
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != 0xff)
            return false;
    return true;
}

static void seed_blank_unfit(sim_device_t *d, uint32_t off, uint32_t len, uint64_t seed)
{
    uint8_t ff[SEC];
    memset(ff, 0xff, sizeof ff);
    raw(d, MOLT_AREA_SECONDARY, off, ff, len);
    tear_trailer_erase(d, seed);
}

static void fwu_download(sim_device_t *d, const img_t *im)
{
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    for (size_t off = 0; off < im->n; off += 512u)
        CHECK_EQ(psa_fwu_write(0, off, im->b + off, im->n - off < 512u ? im->n - off : 512u), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    (void)d;
}

static void defect10_blank_unfit(void)
{
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &test_deps};
    const uint32_t RES = 16u + 4u * 8u; /* the request units: magic + 4 field units (align 8) */
    int requested = 0, refused = 0, accepted = 0, head_refused = 0, unfit[3] = {0, 0, 0};
    for (uint64_t seed = 1; seed <= 16; seed++) {
        molt_boot_result_t r;
        sim_device_t d;
        molt_fwu_t f;
        psa_fwu_component_info_t info;
        uint32_t tsz, u;
        uint64_t v0;

        /* (a) molt_request_upgrade over the seeded trailer: careful, it erases first */
        dev_new(&d, true);
        tsz = d.port.area[MOLT_AREA_SECONDARY].size;
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&d.port, &cfg), p03.b, p03.n),
                 MOLT_OK);
        seed_blank_unfit(&d, tsz - SEC, SEC, seed);
        CHECK(reads_blank(&d, MOLT_AREA_SECONDARY, tsz - RES, RES), "10a seed %llu: reads blank",
              (unsigned long long)seed);
        unfit[0] += unfit_units(&d, MOLT_AREA_SECONDARY, tsz - RES, RES) > 0u;
        v0 = d.flash.stats.violations;
        CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
        CHECK_EQ(d.flash.stats.violations, v0); /* nothing programmed into an unfit unit */
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(r.action == MOLT_ACT_UPGRADE_TEST && r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03),
              "10a seed %llu: a trial of p03", (unsigned long long)seed);
        requested += r.trial;
        sim_device_free(&d);

        /* (b) psa_fwu_install: psa_fwu_start erased the sector, the application seeds
         * the request units and tears the erase, molt_boot_request_own trusts them */
        dev_new(&d, true);
        CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(molt_fwu_init(&f, &d.port, &cfg, &r), MOLT_OK);
        molt_fwu_bind(&f);
        fwu_download(&d, &p03);
        seed_blank_unfit(&d, tsz - RES, RES, seed);
        CHECK(reads_blank(&d, MOLT_AREA_SECONDARY, tsz - RES, RES), "10b seed %llu: reads blank",
              (unsigned long long)seed);
        u = unfit_units(&d, MOLT_AREA_SECONDARY, tsz - RES, RES);
        unfit[1] += u > 0u;
        v0 = d.flash.stats.violations;
        psa_status_t st = psa_fwu_install();
        if (u > 0u) {
            /* exact: the magic is programmed into an unfit unit, the flash refuses it */
            refused++;
            CHECK_EQ(st, PSA_ERROR_STORAGE_FAILURE);
            CHECK_EQ(d.flash.stats.violations, v0 + 1u);
            CHECK_EQ(psa_fwu_query(0, &info), PSA_SUCCESS);
            CHECK_EQ(info.state, PSA_FWU_CANDIDATE);
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK(r.action == MOLT_ACT_NONE && !r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p24),
                  "10b seed %llu: nothing requested, p24 stays confirmed", (unsigned long long)seed);
            CHECK_EQ(counter(&d), 1);
            /* the way out: a new download starts with an erase of the sector */
            CHECK_EQ(molt_fwu_init(&f, &d.port, &cfg, &r), MOLT_OK);
            molt_fwu_bind(&f);
            CHECK_EQ(psa_fwu_query(0, &info), PSA_SUCCESS);
            CHECK_EQ(info.state, PSA_FWU_READY); /* the tear took the candidate's record */
            fwu_download(&d, &p03);
            v0 = d.flash.stats.violations;
            st = psa_fwu_install();
        }
        CHECK_EQ(st, PSA_SUCCESS_REBOOT);
        CHECK_EQ(d.flash.stats.violations, v0);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(r.action == MOLT_ACT_UPGRADE_TEST && r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03),
              "10b seed %llu: a trial of p03", (unsigned long long)seed);

        /* (c) psa_fwu_accept in that trial: the record region seeded and torn the same way */
        CHECK_EQ(molt_fwu_init(&f, &d.port, &cfg, &r), MOLT_OK);
        molt_fwu_bind(&f);
        uint32_t ro = f.comp[0].rec_off;
        seed_blank_unfit(&d, ro, tsz - ro, seed);
        CHECK(reads_blank(&d, MOLT_AREA_SECONDARY, ro, tsz - ro), "10c seed %llu: reads blank",
              (unsigned long long)seed);
        u = unfit_units(&d, MOLT_AREA_SECONDARY, ro, tsz - ro);
        unfit[2] += u > 0u;
        bool head_unfit = unfit_units(&d, MOLT_AREA_SECONDARY, ro, 8u) > 0u; /* the record's head unit */
        head_refused += head_unfit;
        v0 = d.flash.stats.violations;
        st = psa_fwu_accept();
        /* exact: fresh_record trusts the blank region; the head written into an unfit
         * unit is refused -- after the confirm and the counter, so p03 stays */
        CHECK_EQ(st, head_unfit ? PSA_ERROR_STORAGE_FAILURE : PSA_SUCCESS);
        CHECK_EQ(d.flash.stats.violations, v0 + (head_unfit ? 1u : 0u));
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(!r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "10c seed %llu: p03 confirmed",
              (unsigned long long)seed);
        accepted += !r.trial && holds(&d, MOLT_AREA_PRIMARY, 0, &p03);
        molt_fwu_bind(NULL);
        sim_device_free(&d);
    }
    printf("defect 10, blank but unfit: molt_request_upgrade %d/16 requested (%d unfit); psa_fwu_install "
           "refused %d/16 (%d unfit); psa_fwu_accept: p03 confirmed %d/16 (%d unfit), the record refused %d\n",
           requested, unfit[0], refused, unfit[1], accepted, unfit[2], head_refused);
    /* exact over the seeds: the scenario occurs on every path; the careful call
     * requests every time; the trusting ones fail on every unfit unit they write */
    CHECK_EQ(unfit[0], 15);
    CHECK_EQ(unfit[1], 15);
    CHECK_EQ(unfit[2], 15);
    CHECK_EQ(requested, 16);
    CHECK_EQ(refused, 15);
    CHECK_EQ(accepted, 16);
    CHECK_EQ(head_refused, 1);
}

int main(void)
{
    size_t kl = 0;
    dir = getenv("VECTORS") ? getenv("VECTORS") : MOLT_VECTORS;
    uint8_t *k = slurp(dir, "keys/sign-ecdsa-p256.pub.der", &kl);
    CHECK(k != NULL, "key");
    g_key = (molt_key_t){k, kl};
    g_ring = (molt_keyring_t){&g_key, 1};
    p03 = load("images/p03_ecdsa_p256_seccnt.bin");
    p07 = load("images/p07_ecdsa_p256_large_seccnt_auto.bin");
    p20 = load("images/p20_ecdsa_p256_deps_bootrec_custom.bin");
    p23 = load("images/p23_ecdsa_p256_version_max.bin");
    p24 = load("images/p24_ecdsa_p256_rollback_low.bin");
    if (!p03.b || !p07.b || !p20.b || !p23.b || !p24.b)
        return check_done();
    defect1_trial_chooses_revert();
    defect2_damaged_revert_copy();
    defect3_request_during_trial();
    defect4_torn_magic();
    defect5_stale_trailers();
    defect6_remap_request_in_trial();
    defect7_newer_without_request();
    defect9_dependencies();
    defect10_torn_trailer_erase();
    defect10_blank_unfit();
    free(k);
    free(p03.b);
    free(p07.b);
    free(p20.b);
    free(p23.b);
    free(p24.b);
    return check_done();
}
