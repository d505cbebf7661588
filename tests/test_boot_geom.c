/*
 * test_boot_geom.c - the boot code on non-uniform flash (ports/sim layouts of
 * small sectors followed by large ones, e.g. 4 KiB then 128 KiB, as on many
 * MCUs). R-SECBOOT, R-ATOMIC, R-FAILSAFE.
 *
 *  - swap: an image inside the small sectors swaps (its trailer lives in a
 *    128 KiB sector, erased twice per update); an image reaching the large
 *    sectors cannot be swapped sector for sector and is refused with LAYOUT
 *    before anything is moved (request cleared, old image runs);
 *  - overwrite: copies across the small/large boundary;
 *  - remap: boots the newer slot whatever its sectors.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "molt/boot.h"
#include "sim_port.h"
#include "slurp.h"

#define KIB 1024u

typedef struct img { uint8_t *b; size_t n; } img_t;

static molt_key_t g_key;
static molt_keyring_t g_ring;
static img_t p03, p07, p20, p23, p24;

static img_t load(const char *name)
{
    char path[512];
    img_t im = {NULL, 0};
    snprintf(path, sizeof path, "%s/%s", MOLT_VECTORS, name);
    im.b = slurp(NULL, path, &im.n);
    CHECK(im.b != NULL, "load %s", path);
    return im;
}

/* Each slot: 4 x 4 KiB then big_count x 128 KiB. */
static void dev_mixed(sim_device_t *d, uint32_t big_count)
{
    sim_layout_t l;
    CHECK_EQ(sim_layout_mixed(&l, 4 * KIB, 4, 128 * KIB, big_count, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(d, &l, &g_ring), MOLT_OK);
}

static bool holds(const sim_device_t *d, uint32_t area, uint32_t off, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, area) + off, im->b, im->n) == 0;
}

static void test_swap_mixed(void)
{
    sim_device_t d;
    molt_boot_result_t r;
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
    const molt_port_t *p = &d.port;

    dev_mixed(&d, 1);
    uint32_t stg = molt_boot_staging_offset(p, &cfg);
    CHECK_EQ(stg, 4 * KIB); /* one small sector */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.counter, 1);

    /* p03 ends in its second 4 KiB sector: N = 2, trailers in the 128 KiB sectors. */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, p03.b, p03.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    sim_flash_stats_reset(&d.flash);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    /* N + N data, one boot-record half, PRIMARY's and SECONDARY's trailers */
    CHECK_EQ(d.flash.stats.erases, 2u * 2u + 3u);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "p03 swapped in over mixed sectors");
    /* Not confirmed: revert, same cost. */
    sim_flash_stats_reset(&d.flash);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    /* N + N data and PRIMARY's trailer: the revert shares the record's half */
    CHECK_EQ(d.flash.stats.erases, 2u * 2u + 1u);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p24), "reverted to p24");
    sim_device_free(&d);

    /* p07 (66 KB) reaches the first 128 KiB sector: not sector-for-sector swappable. */
    dev_mixed(&d, 2);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, p07.b, p07.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    uint32_t wear[6];
    for (uint32_t i = 0; i < 6u; i++)
        wear[i] = sim_flash_wear(&d.flash, i);
    sim_flash_stats_reset(&d.flash);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_LAYOUT);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p24), "old image untouched");
    /* Nothing of PRIMARY (its 6 sectors) was erased: only SECONDARY's trailer and staged header. */
    for (uint32_t i = 0; i < 6u; i++)
        CHECK_EQ(sim_flash_wear(&d.flash, i), wear[i]);
    CHECK_EQ(d.flash.stats.erases, 2);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE); /* the request does not come back */
    sim_device_free(&d);
}

static void test_overwrite_mixed(void)
{
    sim_device_t d;
    molt_boot_result_t r;
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_OVERWRITE, .downgrade_prevention = false};
    const molt_port_t *p = &d.port;

    dev_mixed(&d, 2);
    CHECK_EQ(molt_boot_staging_offset(p, &cfg), 0);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p07.b, p07.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_PERM);
    CHECK_EQ(r.counter, 16908291u);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p07), "p07 copied across the 4 KiB / 128 KiB boundary");
    sim_device_free(&d);
}

static void test_remap_mixed(void)
{
    sim_device_t d;
    molt_boot_result_t r;
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_REMAP, .downgrade_prevention = false};
    const molt_port_t *p = &d.port;

    dev_mixed(&d, 2);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, p03.b, p03.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    /* p20 declares a DEPENDENCY on image 1: refused with its own reason on
     * this single-image device (issue 11, defect 9). */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p20.b, p20.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_DEP_UNSUPPORTED);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, 0, p23.b, p23.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    sim_flash_stats_reset(&d.flash);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.staged_err, MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.slot, MOLT_AREA_SECONDARY);
    /* no copying: one boot-record half and the request's trailer sector */
    CHECK_EQ(d.flash.stats.erases, 2);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    sim_device_free(&d);
}

int main(void)
{
    img_t key = load("keys/sign-ecdsa-p256.pub.der");
    g_key = (molt_key_t){key.b, key.n};
    g_ring = (molt_keyring_t){&g_key, 1};
    p03 = load("images/p03_ecdsa_p256_seccnt.bin");
    p07 = load("images/p07_ecdsa_p256_large_seccnt_auto.bin");
    p20 = load("images/p20_ecdsa_p256_deps_bootrec_custom.bin");
    p23 = load("images/p23_ecdsa_p256_version_max.bin");
    p24 = load("images/p24_ecdsa_p256_rollback_low.bin");
    test_swap_mixed();
    test_overwrite_mixed();
    test_remap_mixed();
    free(key.b);
    free(p03.b);
    free(p07.b);
    free(p20.b);
    free(p23.b);
    free(p24.b);
    return check_done();
}
