/*
 * test_stage0.c - the updatable boot stage (R-ALLUPDATABLE; docs/boot-chain.md).
 *
 * Stage 0 is molt_boot_go() in REMAP mode over the two stage-1 slots with
 * cfg.stage = MOLT_STAGE_1: no copying; the newest valid stage 1 runs once as a
 * trial and is reverted unless confirmed; a counter of its own. Images are made
 * here from the format (tests/mkimage.h), never with lib/.
 *
 *  - only images marked for stage 1 (MOLT_TLV_BOOT_STAGE = 1, protected) are
 *    taken as stage 1: an application image staged there is refused with
 *    BOOT_STAGE; a stage-1 image is refused by the application's boot the
 *    same way (no confusion between the two chains);
 *  - a stage-1 update: trial, revert when not confirmed, kept when confirmed,
 *    its counter advances only when confirmed; an older stage 1 is refused
 *    (ROLLBACK); a stage 1 by an untrusted key is refused;
 *  - a power cut (torn, several seeds, and clean) at every flash operation of a
 *    stage-1 update, revert, confirm and permanent update (ports/sim's
 *    power-fail proof): 0 bricked, 0 mixed, 0 counter violations, 0 lost.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "judge.h"
#include "mkimage.h"
#include "molt/boot.h"
#include "sim_port.h"
#include "powerfail.h"

static signer_t g_vendor, g_other;
static molt_key_t g_keys[1];
static molt_keyring_t g_ring = {g_keys, 1};

static bool holds(const sim_device_t *d, uint32_t area, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, area), im->b, im->n) == 0;
}

/* Stage the image in slot id with a trial (or permanent) request. */
static void stage_into(sim_device_t *d, const molt_boot_cfg_t *cfg, uint32_t id, const img_t *im, bool perm)
{
    CHECK_EQ(sim_device_program(d, id, 0, im->b, im->n), MOLT_OK);
    /* REMAP: the request goes to the slot that is not confirmed, i.e. id. */
    CHECK_EQ(molt_request_upgrade(&d->port, cfg, perm), MOLT_OK);
}

static void test_stage1_flow(void)
{
    sim_device_t d;
    sim_layout_t l;
    molt_boot_result_t r;
    const molt_boot_cfg_t s0 = {.mode = MOLT_MODE_REMAP, .stage = MOLT_STAGE_1};
    const signer_t *v[] = {&g_vendor}, *o[] = {&g_other};
    img_t s1v1, s1v2, s1v3, app, s1old, s1x;

    make_image_stage(&s1v1, v, 1, 1, 1, MOLT_STAGE_1);
    make_image_stage(&s1v2, v, 1, 2, 2, MOLT_STAGE_1);
    make_image_stage(&s1v3, v, 1, 3, 3, MOLT_STAGE_1);
    make_image_stage(&app, v, 1, 9, 2, MOLT_STAGE_APP);
    make_image_stage(&s1old, v, 1, 0, 0, MOLT_STAGE_1);
    make_image_stage(&s1x, o, 1, 4, 4, MOLT_STAGE_1);

    CHECK_EQ(sim_layout_uniform(&l, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &l, &g_ring), MOLT_OK);
    const molt_port_t *p = &d.port;

    /* Factory: stage 1 v1 in slot A; stage 0 picks it and records it confirmed. */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, s1v1.b, s1v1.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.image.version.build, 1);
    CHECK_EQ(r.counter, 1);

    /* An application image offered as stage 1 is refused; nothing changes. */
    stage_into(&d, &s0, MOLT_AREA_SECONDARY, &app, false);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_BOOT_STAGE);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);

    /* A stage 1 by a key stage 0 does not trust. */
    stage_into(&d, &s0, MOLT_AREA_SECONDARY, &s1x, false);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_KEY_UNTRUSTED);

    /* Stage 1 v2 in slot B: a trial, no copying (slot A untouched). */
    stage_into(&d, &s0, MOLT_AREA_SECONDARY, &s1v2, false);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(r.counter, 1); /* never for a trial */
    CHECK(holds(&d, MOLT_AREA_PRIMARY, &s1v1), "slot A still holds stage 1 v1");
    CHECK(holds(&d, MOLT_AREA_SECONDARY, &s1v2), "slot B holds stage 1 v2");

    /* Not confirmed by the next reset: back to v1. */
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.image.version.build, 1);
    CHECK_EQ(r.counter, 1);

    /* Again, and confirmed: v2 stays, its counter is committed. */
    stage_into(&d, &s0, MOLT_AREA_SECONDARY, &s1v2, false);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(molt_confirm(p, &s0), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 2);

    /* An older stage 1 (counter 0) into slot A: refused, v2 keeps running. */
    stage_into(&d, &s0, MOLT_AREA_PRIMARY, &s1old, false);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK(r.staged_err == MOLT_E_ROLLBACK || r.staged_err == MOLT_E_DOWNGRADE, "old stage 1: %s",
          molt_err_name(r.staged_err));
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);

    /* v3 into slot A, permanent: runs confirmed at once. */
    stage_into(&d, &s0, MOLT_AREA_PRIMARY, &s1v3, true);
    CHECK_EQ(molt_boot_go(p, &s0, &r), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.image.version.build, 3);
    CHECK_EQ(r.counter, 3);
    sim_device_free(&d);

    /* The application's boot (stage APP) never runs a stage-1 image. */
    const molt_boot_cfg_t app_cfg = {.mode = MOLT_MODE_SWAP};
    CHECK_EQ(sim_device_init(&d, &l, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, s1v1.b, s1v1.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &app_cfg, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_why, MOLT_E_BOOT_STAGE);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, app.b, app.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &app_cfg, &r), MOLT_OK);
    CHECK_EQ(r.image.version.build, 9);
    sim_device_free(&d);
}

/* A mark for a stage this device does not have (2): never run as stage 1 nor
 * as an application. */
static void test_bad_mark(void)
{
    sim_device_t d;
    sim_layout_t l;
    molt_boot_result_t r;
    const molt_boot_cfg_t s0 = {.mode = MOLT_MODE_REMAP, .stage = MOLT_STAGE_1};
    const signer_t *v[] = {&g_vendor};
    img_t im;
    make_image_stage(&im, v, 1, 1, 1, 2); /* a stage this device does not have */
    CHECK_EQ(sim_layout_uniform(&l, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &l, &g_ring), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, im.b, im.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &s0, &r), MOLT_E_NO_IMAGE); /* REMAP's first boot: no valid slot */
    molt_judge_in_t in = {MOLT_ROLE_INSTALLED, 0, NULL, false, NULL, NULL, NULL, MOLT_STAGE_1};
    molt_verify_result_t vr;
    CHECK_EQ(molt_judge_slot(&d.port, MOLT_AREA_PRIMARY, 0, &in, &vr), MOLT_E_BOOT_STAGE);
    in.stage = MOLT_STAGE_APP;
    CHECK_EQ(molt_judge_slot(&d.port, MOLT_AREA_PRIMARY, 0, &in, &vr), MOLT_E_BOOT_STAGE);
    in.stage = 2;
    CHECK_EQ(molt_judge_slot(&d.port, MOLT_AREA_PRIMARY, 0, &in, &vr), MOLT_OK);
    sim_device_free(&d);
}

/* The power-fail proof of ports/sim over stage-1 updates. */
static void test_powerfail(void)
{
    const signer_t *v[] = {&g_vendor};
    static img_t o, n;
    make_image_stage(&o, v, 1, 1, 1, MOLT_STAGE_1);
    make_image_stage(&n, v, 1, 2, 2, MOLT_STAGE_1);
    sim_pf_cfg_t cfg;
    sim_pf_result_t res;
    memset(&cfg, 0, sizeof cfg);
    CHECK_EQ(sim_layout_uniform(&cfg.layout, 4096, 4, 8, 0xff), MOLT_OK);
    cfg.mode = MOLT_MODE_REMAP;
    cfg.stage = MOLT_STAGE_1;
    cfg.old_img = o.b;
    cfg.old_len = o.n;
    cfg.new_img = n.b;
    cfg.new_len = n.n;
    cfg.keys = g_ring;
    cfg.seeds = 3;
    cfg.clean = true;
    cfg.double_cuts = 4;
    cfg.log = stderr;
    CHECK_EQ(sim_powerfail_run(&cfg, &res), MOLT_OK);
    char line[256];
    sim_powerfail_line(&res, line, sizeof line);
    printf("stage-1 updates (REMAP, stage 0): %s, lost: %llu, violations: %llu; operations per flow: "
           "update %llu, revert %llu, confirm %llu, perm %llu\n",
           line, (unsigned long long)res.lost, (unsigned long long)res.violations,
           (unsigned long long)res.flow_ops[0], (unsigned long long)res.flow_ops[1],
           (unsigned long long)res.flow_ops[2], (unsigned long long)res.flow_ops[3]);
    CHECK(sim_powerfail_ok(&res), "power-fail proof: %s", line);
    CHECK(res.cuts > 0 && res.flow_ops[0] > 0 && res.flow_ops[1] > 0, "cuts fired in every flow");
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    signer_new(&g_vendor);
    signer_new(&g_other);
    g_keys[0] = g_vendor.key;
    test_stage1_flow();
    test_bad_mark();
    test_powerfail();
    return check_done();
}
