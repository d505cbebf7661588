/*
 * test_fwu_stage1.c - a stage-1 (boot code) update through the PSA FWU API
 * (molt_fwu_add_remap; R-ALLUPDATABLE; docs/boot-chain.md).
 *
 * Stage 0 is molt_boot_go() in REMAP mode over the two stage-1 slots with
 * cfg.stage = MOLT_STAGE_1; the update service drives component 1 on stage 0's
 * port. Images are made here from the format (tests/mkimage.h), never with lib/.
 *
 *  - upload into the slot that is not confirmed; finish refuses, each exactly:
 *    an application image (BOOT_STAGE), an older counter (ROLLBACK), an
 *    untrusted key (KEY_UNTRUSTED), a version not newer than the confirmed one
 *    (DOWNGRADE); a bad header is refused at write;
 *  - install -> STAGED; stage 0 runs the new stage 1 as a trial at the next
 *    chain boot (TRIAL); reject -> REJECTED, reverted at the next boot
 *    (FAILED with the reason given); accept -> UPDATED, the stage-1 counter
 *    advanced at once, confirmed at the next boot; the next download goes to
 *    the other slot; accept followed at once (before stage 0 records the
 *    confirmation) by the next update: into the old slot, and its revert goes
 *    back to v2, never v1;
 *  - a torn cut (3 seeds) and a clean cut at every flash operation of start ..
 *    install (writes in random blocks, fixed seed), the trial boot, accept (or
 *    reject) and the boot after it, each from the
 *    same snapshot. The oracle is the list of signed images and the order of
 *    the calls: after every cut stage 0 runs a stage 1 (0 bricked) that is
 *    byte for byte v1 or v2 (0 mixed), v1 while the cut was before install,
 *    v2 confirmed once accept had returned, v1 and FAILED with the reason
 *    once reject had returned, the stage-1 counter 2 only with v2 confirmed
 *    (1 throughout the reject flow); then the update is retried through the API alone and must
 *    end with v2 confirmed and the counter at 2 (a clean retry);
 *  - random lives (fixed seeds): random uploads (good, foreign, older,
 *    bit-flipped, truncated), install, accept, reject, cancel, clean and
 *    resets with random torn cuts, against the same kind of oracle.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "molt/fwu.h"
#include "check.h"
#include "mkimage.h"
#include "molt/boot.h"
#include "sim_port.h"

#define COMP 1u

static signer_t g_vendor, g_other;
static molt_key_t g_keys[1];
static molt_keyring_t g_ring = {g_keys, 1};
static const molt_boot_cfg_t g_s0 = {.mode = MOLT_MODE_REMAP, .stage = MOLT_STAGE_1};
static img_t g_v1, g_v2, g_v3, g_app, g_old, g_untrusted, g_same;

static bool holds(const sim_device_t *d, uint32_t area, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, area), im->b, im->n) == 0;
}

static uint32_t counter(sim_device_t *d)
{
    uint32_t v = 0xffffffffu;
    CHECK_EQ(d->port.nv_read(d->port.ctx, 0, &v), MOLT_OK);
    return v;
}

/* Stage 0 at reset, then the update service's view of component 1. */
static molt_err_t chain_boot(sim_device_t *d, molt_boot_result_t *r, molt_fwu_t *f)
{
    memset(r, 0, sizeof *r);
    molt_err_t e = molt_boot_go(&d->port, &g_s0, r);
    if (e != MOLT_OK)
        return e;
    memset(f, 0, sizeof *f);
    return molt_fwu_add_remap(f, COMP, &d->port, &g_s0, r);
}

static psa_fwu_component_info_t query(molt_fwu_t *f)
{
    psa_fwu_component_info_t i;
    CHECK_EQ(molt_fwu_query(f, COMP, &i), PSA_SUCCESS);
    return i;
}

static uint64_t g_rng = 18100u; /* block sizes of the uploads (fixed seed) */

static uint32_t rnd(uint32_t n)
{
    g_rng += 0x9e3779b97f4a7c15ull;
    uint64_t z = g_rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) % n);
}

/* write [from, end) in blocks of 1..97 bytes, then finish. */
static psa_status_t write_rest(molt_fwu_t *f, const img_t *im, size_t from)
{
    psa_status_t s = PSA_SUCCESS;
    for (size_t off = from; off < im->n && s == PSA_SUCCESS; ) {
        size_t n = 1u + rnd(97);
        if (n > im->n - off)
            n = im->n - off;
        s = molt_fwu_write(f, COMP, off, im->b + off, n);
        off += n;
    }
    return s == PSA_SUCCESS ? molt_fwu_finish(f, COMP) : s;
}

/* start + write + finish. */
static psa_status_t upload(molt_fwu_t *f, const img_t *im)
{
    psa_status_t s = molt_fwu_start(f, COMP, NULL, 0);
    return s == PSA_SUCCESS ? write_rest(f, im, 0) : s;
}

static void fresh_device(sim_device_t *d)
{
    sim_layout_t l;
    molt_boot_result_t r;
    CHECK_EQ(sim_layout_uniform(&l, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(d, &l, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(d, MOLT_AREA_PRIMARY, 0, g_v1.b, g_v1.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d->port, &g_s0, &r), MOLT_OK); /* genesis: v1 confirmed */
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.counter, 1);
}

static void refused(molt_fwu_t *f, const img_t *im, psa_status_t want, molt_err_t why, const char *what)
{
    psa_status_t s = upload(f, im);
    CHECK(s == want, "%s: finish %d, want %d", what, (int)s, (int)want);
    psa_fwu_component_info_t i = query(f);
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)why, "%s: state %u error %d, want FAILED %d", what,
          i.state, (int)i.error, (int)why);
    CHECK_EQ(i.version.build, 1); /* v1 still runs */
    CHECK_EQ(molt_fwu_clean(f, COMP), PSA_SUCCESS);
    CHECK_EQ(query(f).state, PSA_FWU_READY);
}

/* Before stage 0 has recorded any stage 1 as confirmed (the factory image
 * never booted): READY, but start is refused and nothing is written. */
static void test_unconfirmed(void)
{
    sim_device_t d;
    sim_layout_t l;
    molt_fwu_t f;
    CHECK_EQ(sim_layout_uniform(&l, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &l, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, g_v1.b, g_v1.n), MOLT_OK);
    memset(&f, 0, sizeof f);
    CHECK_EQ(molt_fwu_add_remap(&f, COMP, &d.port, &g_s0, NULL), MOLT_OK);
    CHECK_EQ(query(&f).state, PSA_FWU_READY);
    uint64_t ops = sim_flash_ops(&d.flash);
    CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_install(&f), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_accept(&f), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_reject(&f, 1), PSA_ERROR_BAD_STATE);
    CHECK_EQ(sim_flash_ops(&d.flash), ops); /* nothing written */
    sim_device_free(&d);
}

static void test_flow(void)
{
    sim_device_t d;
    molt_boot_result_t r;
    molt_fwu_t f;
    psa_fwu_component_info_t i;

    fresh_device(&d);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    i = query(&f);
    CHECK_EQ(i.state, PSA_FWU_READY);
    CHECK_EQ(i.version.build, 1);
    CHECK_EQ(i.impl.checkpoint, 4096);
    CHECK_EQ(i.max_size, 3u * 4096u); /* the slot below its trailer sector */

    /* Not an A/B component on a SWAP configuration, nor the reverse. */
    {
        molt_fwu_t g;
        const molt_boot_cfg_t swap = {.mode = MOLT_MODE_SWAP, .stage = MOLT_STAGE_1};
        memset(&g, 0, sizeof g);
        CHECK_EQ(molt_fwu_add_remap(&g, COMP, &d.port, &swap, NULL), MOLT_E_ARG);
        CHECK_EQ(molt_fwu_add(&g, COMP, &d.port, &g_s0, NULL), MOLT_E_ARG);
        CHECK_EQ(molt_fwu_add_remap(&f, COMP, &d.port, &g_s0, NULL), MOLT_E_ARG); /* id taken */
    }

    /* A bad header is refused at the write that completes it. */
    {
        img_t bad = g_v2;
        bad.b[0] ^= 1u;
        CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_SUCCESS);
        CHECK_EQ(molt_fwu_write(&f, COMP, 0, bad.b, 100), PSA_ERROR_INVALID_SIGNATURE);
        i = query(&f);
        CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_MAGIC, "bad magic: FAILED MAGIC");
        CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    }
    /* A header declaring more than the slot holds below its trailer sector. */
    {
        img_t big = g_v2;
        mk_put32(big.b + 12, 3u * 4096u); /* payload alone fills the slot */
        CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_SUCCESS);
        CHECK_EQ(molt_fwu_write(&f, COMP, 0, big.b, 64), PSA_ERROR_INSUFFICIENT_STORAGE);
        i = query(&f);
        CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_TOO_LARGE, "too large: FAILED TOO_LARGE");
        CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    }
    refused(&f, &g_app, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_BOOT_STAGE, "application image as stage 1");
    refused(&f, &g_old, PSA_ERROR_NOT_PERMITTED, MOLT_E_ROLLBACK, "older counter");
    refused(&f, &g_untrusted, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_KEY_UNTRUSTED, "untrusted key");
    refused(&f, &g_same, PSA_ERROR_NOT_PERMITTED, MOLT_E_DOWNGRADE, "not newer than the confirmed stage 1");
    CHECK(holds(&d, MOLT_AREA_PRIMARY, &g_v1), "slot A untouched by the refused uploads");

    /* v2: into slot B (A is confirmed), install -> STAGED. */
    CHECK_EQ(upload(&f, &g_v2), PSA_SUCCESS);
    i = query(&f);
    CHECK_EQ(i.state, PSA_FWU_CANDIDATE);
    CHECK_EQ(i.impl.image_size, g_v2.n);
    CHECK(holds(&d, MOLT_AREA_SECONDARY, &g_v2), "v2 written into slot B");
    CHECK_EQ(molt_fwu_accept(&f), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(query(&f).state, PSA_FWU_STAGED);
    CHECK_EQ(molt_fwu_install(&f), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_ERROR_BAD_STATE);

    /* Next chain boot: stage 0 runs v2 as a trial; reject -> reverted. */
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    CHECK_EQ(r.trial, true);
    i = query(&f);
    CHECK_EQ(i.state, PSA_FWU_TRIAL);
    CHECK_EQ(i.version.build, 2);
    CHECK_EQ(counter(&d), 1);
    CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_reject(&f, (psa_status_t)77), PSA_SUCCESS_REBOOT);
    i = query(&f);
    CHECK(i.state == PSA_FWU_REJECTED && i.error == 77, "reject: REJECTED 77 (got %u %d)", i.state, (int)i.error);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.trial, false);
    i = query(&f);
    CHECK(i.state == PSA_FWU_FAILED && i.error == 77, "after the revert: FAILED 77 (got %u %d)", i.state,
          (int)i.error);
    CHECK_EQ(i.version.build, 1);
    CHECK_EQ(counter(&d), 1);

    /* A reset in TRIAL without accept: reverted, FAILED with FWU_REVERTED. */
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    CHECK_EQ(upload(&f, &g_v2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(query(&f).state, PSA_FWU_TRIAL);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    i = query(&f);
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_FWU_REVERTED, "reset in trial: REVERTED");

    /* Reject while STAGED: the request is withdrawn, v1 keeps running. */
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    CHECK_EQ(upload(&f, &g_v2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(molt_fwu_reject(&f, (psa_status_t)5), PSA_SUCCESS);
    CHECK_EQ(query(&f).state, PSA_FWU_FAILED);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    i = query(&f);
    CHECK(i.state == PSA_FWU_FAILED && i.error == 5, "staged reject: FAILED 5 (got %u %d)", i.state, (int)i.error);

    /* Accept: UPDATED, the counter at once; stage 0 keeps v2 from then on. */
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    CHECK_EQ(upload(&f, &g_v2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(query(&f).state, PSA_FWU_TRIAL);
    CHECK_EQ(molt_fwu_accept(&f), PSA_SUCCESS);
    i = query(&f);
    CHECK_EQ(i.state, PSA_FWU_UPDATED);
    CHECK_EQ(i.version.build, 2);
    CHECK_EQ(counter(&d), 2);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 2);
    i = query(&f);
    CHECK_EQ(i.state, PSA_FWU_UPDATED);
    CHECK_EQ(i.version.build, 2);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, &g_v1), "slot A still v1 (no copying)");

    /* v1 (counter 1) is now a rollback; v3 goes into slot A. */
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    psa_status_t s = upload(&f, &g_v1);
    CHECK(s == PSA_ERROR_NOT_PERMITTED, "v1 after v2: NOT_PERMITTED (got %d)", (int)s);
    CHECK_EQ(query(&f).error, (psa_status_t)MOLT_E_ROLLBACK);
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    CHECK_EQ(upload(&f, &g_v3), PSA_SUCCESS);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, &g_v3), "v3 written into slot A");
    CHECK(holds(&d, MOLT_AREA_SECONDARY, &g_v2), "slot B still v2");
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(molt_fwu_accept(&f), PSA_SUCCESS);
    CHECK_EQ(counter(&d), 3);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(query(&f).version.build, 3);
    sim_device_free(&d);
}

/* accept, then at once (before stage 0 has recorded the confirmation) the next
 * update: it goes into the old slot, and a revert of it goes back to v2, never v1. */
static void test_accept_then_next(void)
{
    sim_device_t d;
    molt_boot_result_t r;
    molt_fwu_t f;

    fresh_device(&d);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(upload(&f, &g_v2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK);
    CHECK_EQ(molt_fwu_accept(&f), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_start(&f, COMP, NULL, 0), PSA_ERROR_BAD_STATE); /* UPDATED: clean first */
    CHECK_EQ(molt_fwu_clean(&f, COMP), PSA_SUCCESS);
    CHECK_EQ(upload(&f, &g_v3), PSA_SUCCESS);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, &g_v3), "v3 into slot A, over v1");
    CHECK(holds(&d, MOLT_AREA_SECONDARY, &g_v2), "v2 untouched");
    CHECK_EQ(molt_fwu_install(&f), PSA_SUCCESS_REBOOT);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK); /* records v2 confirmed, then v3's trial */
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(r.image.version.build, 3);
    CHECK_EQ(query(&f).state, PSA_FWU_TRIAL);
    CHECK_EQ(counter(&d), 2);
    CHECK_EQ(chain_boot(&d, &r, &f), MOLT_OK); /* not accepted: back to v2 */
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    CHECK_EQ(r.image.version.build, 2);
    psa_fwu_component_info_t i = query(&f);
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_FWU_REVERTED && i.version.build == 2,
          "v3 reverted to v2: FAILED REVERTED (got %u %d build %u)", i.state, (int)i.error, (unsigned)i.version.build);
    sim_device_free(&d);
}

/* --- power cuts ------------------------------------------------------------------- */

/* The reference flow, phase by phase; returns the phase reached (5: done).
 * reject: the trial is rejected (77) and the last boot reverts it. */
enum { PH_UPLOAD, PH_INSTALL, PH_TRIALBOOT, PH_ACCEPT, PH_CONFIRMBOOT, PH_DONE };

static int run_flow(sim_device_t *d, uint64_t ends[PH_DONE], bool reject)
{
    molt_boot_result_t r;
    molt_fwu_t f;
    if (chain_boot(d, &r, &f) != MOLT_OK)
        return -1;
    if (upload(&f, &g_v2) != PSA_SUCCESS)
        return PH_UPLOAD;
    ends[PH_UPLOAD] = sim_flash_ops(&d->flash);
    if (molt_fwu_install(&f) != PSA_SUCCESS_REBOOT)
        return PH_INSTALL;
    ends[PH_INSTALL] = sim_flash_ops(&d->flash);
    if (chain_boot(d, &r, &f) != MOLT_OK)
        return PH_TRIALBOOT;
    ends[PH_TRIALBOOT] = sim_flash_ops(&d->flash);
    if ((reject ? molt_fwu_reject(&f, 77) : molt_fwu_accept(&f)) != (reject ? PSA_SUCCESS_REBOOT : PSA_SUCCESS))
        return PH_ACCEPT;
    ends[PH_ACCEPT] = sim_flash_ops(&d->flash);
    if (chain_boot(d, &r, &f) != MOLT_OK)
        return PH_CONFIRMBOOT;
    if (reject && (r.action != MOLT_ACT_REVERT || query(&f).state != PSA_FWU_FAILED))
        return PH_CONFIRMBOOT;
    ends[PH_CONFIRMBOOT] = sim_flash_ops(&d->flash);
    return PH_DONE;
}

/* After a cut: drive the update to its end through the API alone. */
static bool retry(sim_device_t *d, char *why, size_t wn)
{
    molt_boot_result_t r;
    molt_fwu_t f;
    for (int step = 0; step < 12; step++) {
        if (chain_boot(d, &r, &f) != MOLT_OK) {
            snprintf(why, wn, "retry: chain boot failed");
            return false;
        }
        psa_fwu_component_info_t i = query(&f);
        if (i.state == PSA_FWU_UPDATED || (i.state == PSA_FWU_READY && i.version.build == 2 && !r.trial))
            return r.slot < 2u && holds(d, r.slot, &g_v2) && !r.trial && counter(d) == 2;
        switch (i.state) {
        case PSA_FWU_READY:
            if (upload(&f, &g_v2) != PSA_SUCCESS || molt_fwu_install(&f) != PSA_SUCCESS_REBOOT) {
                snprintf(why, wn, "retry from READY refused");
                return false;
            }
            break;
        case PSA_FWU_WRITING: /* resume from the last checkpoint */
            if (write_rest(&f, &g_v2, i.impl.written) != PSA_SUCCESS || molt_fwu_install(&f) != PSA_SUCCESS_REBOOT) {
                snprintf(why, wn, "resume from %u failed", (unsigned)i.impl.written);
                return false;
            }
            break;
        case PSA_FWU_CANDIDATE:
            if (molt_fwu_install(&f) != PSA_SUCCESS_REBOOT) {
                snprintf(why, wn, "install of CANDIDATE failed");
                return false;
            }
            break;
        case PSA_FWU_STAGED: break; /* the next boot acts on it */
        case PSA_FWU_TRIAL:
            if (molt_fwu_accept(&f) != PSA_SUCCESS) {
                snprintf(why, wn, "accept failed");
                return false;
            }
            break;
        case PSA_FWU_FAILED:
            if (molt_fwu_clean(&f, COMP) != PSA_SUCCESS) {
                snprintf(why, wn, "clean FAILED failed");
                return false;
            }
            break;
        default:
            snprintf(why, wn, "retry: unexpected state %u", i.state);
            return false;
        }
    }
    snprintf(why, wn, "retry did not converge");
    return false;
}

static void test_powerfail(bool reject)
{
    sim_device_t snap, d;
    uint64_t ends[PH_DONE] = {0};
    uint64_t cuts = 0, bricked = 0, mixed = 0, order = 0, counter_bad = 0, stuck = 0, byphase[PH_DONE] = {0};
    const uint64_t seed = reject ? 18200u : 18100u;

    fresh_device(&snap);
    CHECK_EQ(sim_device_init(&d, &snap.layout, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_copy(&d, &snap), MOLT_OK);
    uint64_t base = sim_flash_ops(&d.flash);
    g_rng = seed;
    CHECK_EQ(run_flow(&d, ends, reject), PH_DONE);
    if (reject)
        CHECK(holds(&d, MOLT_AREA_PRIMARY, &g_v1) && counter(&d) == 1, "reference flow: v1 kept");
    else
        CHECK(holds(&d, MOLT_AREA_SECONDARY, &g_v2) && counter(&d) == 2, "reference flow: v2 confirmed");
    uint64_t total = ends[PH_CONFIRMBOOT] - base;
    CHECK(total > 10, "the flow has flash operations (%llu)", (unsigned long long)total);

    for (int mode = 0; mode < 4; mode++) { /* torn x3 seeds, clean */
        for (uint64_t k = 0; k < total; k++) {
            CHECK_EQ(sim_device_copy(&d, &snap), MOLT_OK);
            sim_flash_arm_cut(&d.flash, mode < 3 ? SIM_CUT_TORN : SIM_CUT_BEFORE, k, seed + (uint64_t)mode * 1000u + k);
            uint64_t dummy[PH_DONE] = {0};
            g_rng = seed; /* the same blocks as the reference: the same operations */
            int ph = run_flow(&d, dummy, reject);
            if (ph == PH_DONE)
                continue; /* the cut did not fire on this path */
            cuts++;
            /* the phase of the reference flow the cut fell in */
            int cp = 0;
            while (cp < PH_CONFIRMBOOT && base + k >= ends[cp])
                cp++;
            byphase[cp]++;
            CHECK_EQ(sim_device_reboot(&d), MOLT_OK);
            molt_boot_result_t r;
            molt_fwu_t f;
            if (chain_boot(&d, &r, &f) != MOLT_OK || r.slot >= 2u) {
                bricked++;
                continue;
            }
            bool v1 = holds(&d, r.slot, &g_v1), v2 = holds(&d, r.slot, &g_v2);
            if (!(v1 && r.image.version.build == 1) && !(v2 && r.image.version.build == 2)) {
                mixed++;
                continue;
            }
            /* Before install completed no trial was requested in full: v1. Once
             * accept returned: v2 confirmed; once reject returned: v1 again,
             * FAILED with the reason given. A rejected trial never confirms. */
            psa_fwu_component_info_t i = query(&f);
            if ((cp <= PH_UPLOAD && (!v1 || r.trial)) || (!reject && cp >= PH_CONFIRMBOOT && (!v2 || r.trial)) ||
                (reject && cp >= PH_CONFIRMBOOT && (!v1 || r.trial || i.state != PSA_FWU_FAILED || i.error != 77)) ||
                (reject && v2 && !r.trial))
                order++;
            uint32_t nv = counter(&d);
            if (nv < 1 || nv > 2 || (nv == 2 && !(v2 && !r.trial)) || (reject && nv != 1))
                counter_bad++;
            char why[96] = "";
            if (!retry(&d, why, sizeof why)) {
                stuck++;
                if (stuck <= 5)
                    fprintf(stderr, "cut %llu (mode %d, phase %d): %s\n", (unsigned long long)k, mode, cp, why);
            }
        }
    }
    printf("stage-1 update through FWU, %s: operations per flow %llu (upload %llu, install %llu, trial boot %llu, "
           "%s %llu, last boot %llu); power cuts injected: %llu (by phase %llu/%llu/%llu/%llu/%llu), "
           "bricked: %llu, mixed: %llu, order: %llu, counter: %llu, retry failed: %llu\n",
           reject ? "rejected" : "accepted", (unsigned long long)total, (unsigned long long)(ends[0] - base),
           (unsigned long long)(ends[1] - ends[0]), (unsigned long long)(ends[2] - ends[1]),
           reject ? "reject" : "accept", (unsigned long long)(ends[3] - ends[2]),
           (unsigned long long)(ends[4] - ends[3]), (unsigned long long)cuts, (unsigned long long)byphase[0],
           (unsigned long long)byphase[1], (unsigned long long)byphase[2], (unsigned long long)byphase[3],
           (unsigned long long)byphase[4], (unsigned long long)bricked, (unsigned long long)mixed,
           (unsigned long long)order, (unsigned long long)counter_bad, (unsigned long long)stuck);
    CHECK(cuts >= 4u * total - 4u, "a cut fired at (nearly) every operation: %llu of %llu", (unsigned long long)cuts,
          (unsigned long long)(4u * total));
    CHECK_EQ(bricked, 0);
    CHECK_EQ(mixed, 0);
    CHECK_EQ(order, 0);
    CHECK_EQ(counter_bad, 0);
    CHECK_EQ(stuck, 0);
    sim_device_free(&d);
    sim_device_free(&snap);
}

/* --- random lives (attacker-style, fixed seeds) ------------------------------------ */

#define NGOOD 6
static img_t g_good[NGOOD + 1]; /* g_good[k]: build k, counter k, stage 1, vendor key; 1..NGOOD */

/* Random calls on component 1 -- uploads of good, foreign, older, forged,
 * truncated and bit-flipped images, install, accept, reject, cancel, clean,
 * resets -- with a torn cut at a random operation before one call in four.
 * The oracle is the list of signed images and what the API answered, not the
 * code: after every chain boot a good stage 1 runs byte for byte (never a
 * refused, forged or mixed one), never older than the last accepted one, the
 * counter never goes down and never above the running stage 1's (below it
 * while a trial runs), and an upload is accepted at finish only if it is good
 * and newer than the stage 1 running. */
static void test_random_lives(void)
{
    uint64_t lives = 24, steps = 40, boots = 0, cuts = 0, finished = 0, refused = 0, accepted = 0, bad = 0;
    for (uint64_t life = 0; life < lives; life++) {
        sim_device_t d;
        molt_boot_result_t r;
        molt_fwu_t f;
        uint32_t maxacc = 1, lastnv = 1;
        g_rng = 18300u + life;
        fresh_device(&d);
        bool up = chain_boot(&d, &r, &f) == MOLT_OK;
        CHECK(up, "life %llu: first boot", (unsigned long long)life);
        for (uint64_t st = 0; st < steps && up; st++) {
            bool armed = rnd(4) == 0;
            if (armed)
                sim_flash_arm_cut(&d.flash, SIM_CUT_TORN, rnd(12), 18300u * 7u + life * 131u + st);
            bool reboot = armed;
            uint32_t a = rnd(10), running = r.image.version.build;
            if (rnd(10) < 6) { /* mostly the next step of an update, else anything */
                switch (query(&f).state) {
                case PSA_FWU_CANDIDATE: a = 4; break;
                case PSA_FWU_TRIAL: a = rnd(3) == 0 ? 7 : 6; break;
                case PSA_FWU_WRITING: a = 8; break;
                case PSA_FWU_STAGED:
                case PSA_FWU_REJECTED: a = 9; break;
                default: a = 0; break;
                }
            }
            if (a < 4) { /* an upload */
                uint32_t kind = rnd(6), k = 1u + rnd(NGOOD);
                img_t im = g_good[k];
                bool good = kind < 3;
                if (kind == 3)
                    im = rnd(2) ? g_app : g_untrusted;
                else if (kind == 4)
                    im.b[32u + rnd(200)] ^= (uint8_t)(1u + rnd(255)); /* payload flip: hash mismatch */
                else if (kind == 5)
                    im.n = 32u + rnd((uint32_t)im.n - 32u); /* truncated, then a reset */
                psa_fwu_component_info_t i = query(&f);
                if (i.state == PSA_FWU_FAILED || i.state == PSA_FWU_UPDATED)
                    (void)molt_fwu_clean(&f, COMP);
                bool ready = query(&f).state == PSA_FWU_READY;
                psa_status_t s = upload(&f, &im);
                if (s == PSA_SUCCESS) {
                    finished++;
                    if (!good || k <= running) {
                        bad++;
                        fprintf(stderr, "life %llu step %llu: finish took kind %u build %u over %u\n",
                                (unsigned long long)life, (unsigned long long)st, kind, k, running);
                    }
                } else if (sim_flash_powered(&d.flash)) {
                    refused++;
                    if (good && k > running && ready) {
                        bad++;
                        fprintf(stderr, "life %llu step %llu: a good newer upload (build %u over %u) refused: %d\n",
                                (unsigned long long)life, (unsigned long long)st, k, running, (int)s);
                    }
                }
                reboot |= kind == 5;
            } else if (a < 6) {
                (void)molt_fwu_install(&f);
            } else if (a < 7) {
                if (molt_fwu_accept(&f) == PSA_SUCCESS) {
                    accepted++;
                    if (r.image.version.build > maxacc)
                        maxacc = r.image.version.build;
                }
            } else if (a < 8) {
                (void)molt_fwu_reject(&f, 9);
            } else if (a < 9) {
                (void)molt_fwu_cancel(&f, COMP);
                (void)molt_fwu_clean(&f, COMP);
            } else {
                reboot = true;
            }
            if (!reboot && sim_flash_powered(&d.flash))
                continue;
            if (!sim_flash_powered(&d.flash))
                cuts++;
            sim_flash_disarm(&d.flash);
            CHECK_EQ(sim_device_reboot(&d), MOLT_OK);
            up = chain_boot(&d, &r, &f) == MOLT_OK && r.slot < 2u;
            boots++;
            if (!up) {
                bad++;
                fprintf(stderr, "life %llu step %llu: bricked\n", (unsigned long long)life, (unsigned long long)st);
                break;
            }
            uint32_t b = r.image.version.build, nv = counter(&d);
            bool exact = b >= 1u && b <= NGOOD && holds(&d, r.slot, &g_good[b]);
            if (!exact || b < maxacc || nv < lastnv || nv > b || (r.trial && nv >= b)) {
                bad++;
                fprintf(stderr, "life %llu step %llu: build %u exact %d trial %d counter %u (last %u) accepted %u\n",
                        (unsigned long long)life, (unsigned long long)st, b, exact, r.trial, nv, lastnv, maxacc);
            }
            lastnv = nv;
        }
        sim_device_free(&d);
    }
    printf("random lives: %llu lives of %llu steps (seeds 18300..%llu): boots %llu, power cuts %llu, uploads "
           "finished %llu, not taken %llu, accepted %llu; violations %llu\n",
           (unsigned long long)lives, (unsigned long long)steps, (unsigned long long)(18300u + lives - 1u),
           (unsigned long long)boots, (unsigned long long)cuts, (unsigned long long)finished,
           (unsigned long long)refused, (unsigned long long)accepted, (unsigned long long)bad);
    CHECK_EQ(bad, 0);
    CHECK(finished > 0 && refused > 0 && accepted > 0 && cuts > 0, "every kind of event happened");
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    signer_new(&g_vendor);
    signer_new(&g_other);
    g_keys[0] = g_vendor.key;
    const signer_t *v[] = {&g_vendor}, *o[] = {&g_other};
    make_image_stage(&g_v1, v, 1, 1, 1, MOLT_STAGE_1);
    make_image_stage(&g_v2, v, 1, 2, 2, MOLT_STAGE_1);
    make_image_stage(&g_v3, v, 1, 3, 3, MOLT_STAGE_1);
    make_image_stage(&g_app, v, 1, 9, 2, MOLT_STAGE_APP);
    make_image_stage(&g_old, v, 1, 5, 0, MOLT_STAGE_1);
    make_image_stage(&g_untrusted, o, 1, 4, 4, MOLT_STAGE_1);
    make_image_stage(&g_same, v, 1, 1, 1, MOLT_STAGE_1);
    test_unconfirmed();
    test_flow();
    test_accept_then_next();
    test_powerfail(false);
    test_powerfail(true);
    g_good[1] = g_v1; /* the factory stage 1 of fresh_device() */
    for (uint32_t k = 2; k <= NGOOD; k++)
        make_image_stage(&g_good[k], v, 1, k, k, MOLT_STAGE_1);
    test_random_lives();
    return check_done();
}
