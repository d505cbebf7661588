/*
 * test_boot.c - functional test of the boot code (lib/boot, lib/swap,
 * lib/counter) on the flash simulator with real signed vector images.
 *
 * Issue 3 "Done when": reset before confirm -> old image (bytes identical);
 * confirm -> counter advanced; lower security counter never boots; both slots
 * invalid -> secure state. Plus PERM, REMAP, OVERWRITE, the 2N + 3 erase cost
 * and a torn-cut sweep over one update and one revert. The port is built here
 * over sim_flash directly, so this test does not depend on ports/sim/sim_port.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deps.h"
#include "molt/boot.h"
#include "sim_flash.h"
#include "swap.h"
#include "trailer.h"
#include "sim_nvcnt.h"
#include "molt/awdt.h"

#define SEC 4096u
#define P_SECS 20u /* primary */
#define S_SECS 21u /* secondary: one more (swap-offset staging) */
#define ST_SECS 2u /* the two halves of the boot record */
#define NV_FIRST (P_SECS + S_SECS + ST_SECS)

typedef struct img { uint8_t *b; uint32_t n; } img_t;
typedef struct actx { sim_flash_t *f; uint32_t base, size; } actx_t;

typedef struct dev {
    sim_flash_t f;
    sim_nvcnt_t nv;
    actx_t ax[MOLT_AREA_COUNT];
    molt_port_t port;
    int no_image_calls;
} dev_t;

static molt_key_t g_key;

/* --- port over sim_flash ------------------------------------------------------ */

static molt_err_t a_read(void *c, uint32_t off, void *buf, size_t len)
{
    actx_t *a = c;
    if (off > a->size || len > a->size - off) return MOLT_E_IO;
    return sim_flash_read(a->f, a->base + off, buf, len);
}
static molt_err_t a_write(void *c, uint32_t off, const void *buf, size_t len)
{
    actx_t *a = c;
    if (off > a->size || len > a->size - off) return MOLT_E_FLASH;
    return sim_flash_write(a->f, a->base + off, buf, len) == MOLT_OK ? MOLT_OK : MOLT_E_FLASH;
}
static molt_err_t a_erase(void *c, uint32_t off, uint32_t len)
{
    actx_t *a = c;
    if (off > a->size || len > a->size - off) return MOLT_E_FLASH;
    return sim_flash_erase(a->f, a->base + off, len) == MOLT_OK ? MOLT_OK : MOLT_E_FLASH;
}
static molt_err_t a_sector(void *c, uint32_t off, molt_sector_t *sec)
{
    actx_t *a = c;
    sim_flash_sector_t s;
    if (off >= a->size || sim_flash_sector_at(a->f, a->base + off, &s) != MOLT_OK) return MOLT_E_ARG;
    sec->off = s.offset - a->base;
    sec->size = s.size;
    return MOLT_OK;
}
static molt_err_t nv_read(void *c, uint32_t id, uint32_t *v) { return sim_nvcnt_read(&((dev_t *)c)->nv, id, v); }
static molt_err_t nv_adv(void *c, uint32_t id, uint32_t v) { return sim_nvcnt_advance(&((dev_t *)c)->nv, id, v); }
static void on_no_image(void *c, molt_err_t why) { (void)why; ((dev_t *)c)->no_image_calls++; }

static void dev_wire(dev_t *d)
{
    const uint32_t first[MOLT_AREA_COUNT] = {0, P_SECS, P_SECS + S_SECS};
    const uint32_t count[MOLT_AREA_COUNT] = {P_SECS, S_SECS, ST_SECS};
    memset(&d->port, 0, sizeof d->port);
    for (unsigned k = 0; k < MOLT_AREA_COUNT; k++) {
        d->ax[k] = (actx_t){&d->f, first[k] * SEC, count[k] * SEC};
        d->port.area[k] = (molt_area_t){count[k] * SEC, 8, 0xff, a_read, a_write, a_erase, a_sector, &d->ax[k]};
    }
    d->port.nv_read = nv_read;
    d->port.nv_advance = nv_adv;
    d->port.keys = (molt_keyring_t){&g_key, 1};
    d->port.no_image = on_no_image;
    d->port.ctx = d;
}

static void dev_init(dev_t *d)
{
    sim_flash_geom_t g = {.regions = {{SEC, NV_FIRST + 2u}}, .nregions = 1, .write_align = 8, .erase_value = 0xff};
    memset(d, 0, sizeof *d);
    CHECK(sim_flash_init(&d->f, &g) == MOLT_OK, "init");
    sim_flash_set_flags(&d->f, SIM_FLASH_F_WRITE_ONCE);
    CHECK(sim_nvcnt_mount(&d->nv, &d->f, NV_FIRST) == MOLT_OK, "mount");
    dev_wire(d);
}

/* Power back: flash keeps its contents, RAM (the counter cache) does not. */
static void dev_reboot(dev_t *d)
{
    sim_flash_reboot(&d->f);
    CHECK(sim_nvcnt_mount(&d->nv, &d->f, NV_FIRST) == MOLT_OK, "remount");
}

/* --- helpers ------------------------------------------------------------------- */

static img_t load(const char *name)
{
    char path[512];
    img_t im = {0, 0};
    snprintf(path, sizeof path, "%s/%s", MOLT_VECTORS, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) { CHECK(0, "open %s", path); return im; }
    fseek(fp, 0, SEEK_END);
    im.n = (uint32_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    im.b = malloc(im.n + 8u);
    CHECK(fread(im.b, 1, im.n, fp) == im.n, "read %s", path);
    fclose(fp);
    return im;
}

/* Erase the sectors under [off, off + n) of an area and write the image (the
 * downloader's job, done here directly). */
static void put(dev_t *d, unsigned area, uint32_t off, const img_t *im)
{
    uint32_t len = (im->n + 7u) & ~7u, base = d->ax[area].base + off;
    uint8_t *buf = malloc(len);
    memset(buf, 0xff, len);
    memcpy(buf, im->b, im->n);
    CHECK(sim_flash_erase(&d->f, base, (len + SEC - 1u) / SEC * SEC) == MOLT_OK, "erase for put");
    CHECK(sim_flash_write(&d->f, base, buf, len) == MOLT_OK, "write for put");
    free(buf);
}

static bool holds(dev_t *d, unsigned area, uint32_t off, const img_t *im)
{
    return memcmp(sim_flash_data(&d->f) + d->ax[area].base + off, im->b, im->n) == 0;
}

static uint8_t byte_at_end(dev_t *d, unsigned area, uint32_t back)
{
    return sim_flash_data(&d->f)[d->ax[area].base + d->ax[area].size - back];
}

/* p20 declares a DEPENDENCY on image 1 >= 1.2.3: this device has one (deps.h). */
static const molt_deps_t *const g_deps_p = &test_deps;
#define g_deps (*g_deps_p)

static molt_err_t boot(dev_t *d, molt_boot_mode_t mode, molt_boot_result_t *r)
{
    molt_boot_cfg_t cfg = {.mode = mode, .downgrade_prevention = false, .deps = &g_deps};
    return molt_boot_go(&d->port, &cfg, r);
}
static molt_err_t request(dev_t *d, molt_boot_mode_t mode, bool perm)
{
    molt_boot_cfg_t cfg = {.mode = mode, .downgrade_prevention = false, .deps = &g_deps};
    return molt_request_upgrade(&d->port, &cfg, perm);
}
static molt_err_t confirm(dev_t *d, molt_boot_mode_t mode)
{
    molt_boot_cfg_t cfg = {.mode = mode, .downgrade_prevention = false, .deps = &g_deps};
    return molt_confirm(&d->port, &cfg);
}

static uint32_t max_wear_delta(dev_t *d, const uint32_t *before)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < sim_flash_sector_count(&d->f); i++)
        if (sim_flash_wear(&d->f, i) - before[i] > m) m = sim_flash_wear(&d->f, i) - before[i];
    return m;
}
static void wear_snap(dev_t *d, uint32_t *w)
{
    for (uint32_t i = 0; i < sim_flash_sector_count(&d->f); i++) w[i] = sim_flash_wear(&d->f, i);
}

static img_t p02, p03, p07, p20, p24, p26, n01;

/* --- SWAP ---------------------------------------------------------------------- */

/* R-COMPLETE, R-FAILSAFE, R-ROLLBACK: trial, revert, confirm, refuse, PERM. */
static void test_swap_flow(void)
{
    dev_t d;
    molt_boot_result_t r;
    uint32_t w[64];
    dev_init(&d);
    uint32_t stg = molt_boot_staging_offset(&d.port, &(molt_boot_cfg_t){.mode = MOLT_MODE_SWAP, .downgrade_prevention = false});
    CHECK_EQ(stg, SEC);

    put(&d, MOLT_AREA_PRIMARY, 0, &p24); /* factory 0.9.0, counter 1, no trailer */
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 1);

    /* Test upgrade to p03 (1.2.3+4, counter 5): runs as a trial, counter stays. */
    put(&d, MOLT_AREA_SECONDARY, stg, &p03);
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, false), MOLT_OK);
    sim_flash_stats_reset(&d.f);
    wear_snap(&d, w);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    uint32_t n = 2; /* both images end inside their second sector */
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(r.image.version.major, 1);
    CHECK_EQ(r.counter, 1);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "primary holds the new image");
    /* N + N data, one boot-record half, PRIMARY's and SECONDARY's trailers */
    CHECK_EQ(d.f.stats.erases, 2u * n + 3u);
    CHECK(max_wear_delta(&d, w) <= 1u, "no sector erased more than once by the activation");
    printf("swap update N=%u: erases %llu (2N+3 = %u), max wear %u\n", n, (unsigned long long)d.f.stats.erases,
           2u * n + 3u, max_wear_delta(&d, w));

    /* Reset before confirm -> old image, bytes identical; counter unchanged. */
    sim_flash_stats_reset(&d.f);
    wear_snap(&d, w);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 1);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p24), "revert restores the old image");
    CHECK(holds(&d, MOLT_AREA_SECONDARY, stg, &p03), "new image back at the staging offset");
    /* N + N data and PRIMARY's trailer: the revert shares the record's half */
    CHECK_EQ(d.f.stats.erases, 2u * n + 1u);
    CHECK(max_wear_delta(&d, w) <= 1u, "revert: no sector erased more than once");
    printf("swap revert N=%u: erases %llu, max wear %u\n", n, (unsigned long long)d.f.stats.erases,
           max_wear_delta(&d, w));
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);

    /* Again, and confirm: the counter advances at the next boot (R-ROLLBACK). */
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, false), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, false), MOLT_E_STATE); /* no new request during a trial */
    CHECK_EQ(confirm(&d, MOLT_MODE_SWAP), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 5);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "confirmed image stays");

    /* Lower security counter: never activated, never booted. */
    put(&d, MOLT_AREA_SECONDARY, stg, &p24);
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, true), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_ROLLBACK);
    CHECK_EQ(r.counter, 5);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "old image kept");
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE); /* the request was cleared */

    /* Permanent upgrade: confirmed at once, counter advanced in the same boot. */
    put(&d, MOLT_AREA_SECONDARY, stg, &p20);
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, true), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_PERM);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 8);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p20), "perm image stays");

    /* A 17-sector image: the cost scales as 2N + 3. */
    put(&d, MOLT_AREA_SECONDARY, stg, &p07);
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, false), MOLT_OK);
    sim_flash_stats_reset(&d.f);
    wear_snap(&d, w);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_OK);
    n = (p07.n + SEC - 1u) / SEC;
    CHECK_EQ(n, 17);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(d.f.stats.erases, 2u * n + 3u);
    CHECK(max_wear_delta(&d, w) <= 2u, "N=17: max wear");
    printf("swap update N=%u: erases %llu (2N+3 = %u), max wear %u\n", n, (unsigned long long)d.f.stats.erases,
           2u * n + 3u, max_wear_delta(&d, w));
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p07), "large image in primary");
    sim_flash_free(&d.f);
}

/* Both slots invalid -> secure state: hook called, nothing booted (R-SECBOOT). */
static void test_no_image(void)
{
    dev_t d;
    molt_boot_result_t r;
    dev_init(&d);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_calls, 1);
    put(&d, MOLT_AREA_PRIMARY, 0, &n01); /* hash mismatch */
    put(&d, MOLT_AREA_SECONDARY, SEC, &p26); /* untrusted key */
    CHECK_EQ(request(&d, MOLT_MODE_SWAP, false), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_SWAP, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_calls, 2);
    CHECK_EQ(r.staged_err, MOLT_E_KEY_UNTRUSTED);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &n01), "invalid primary left as is");
    put(&d, MOLT_AREA_SECONDARY, 0, &p26); /* REMAP: A corrupt, B untrusted */
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_calls, 3);
    put(&d, MOLT_AREA_SECONDARY, 0, &p02); /* a valid image without trailer is the last resort */
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 1);
    CHECK_EQ(d.no_image_calls, 3);
    sim_flash_free(&d.f);
}

/* Cut (torn) at every operation of an update, then of a revert: the next boot
 * boots entirely the old or the new image (R-ATOMIC, R-FAILSAFE). */
static void sweep(bool revert)
{
    uint64_t total = 0;
    int bad = 0, cuts = 0;
    for (uint64_t at = 0;; at++) {
        dev_t d;
        molt_boot_result_t r;
        dev_init(&d);
        put(&d, MOLT_AREA_PRIMARY, 0, &p24);
        boot(&d, MOLT_MODE_SWAP, &r); /* factory boot: counter 1 */
        put(&d, MOLT_AREA_SECONDARY, SEC, &p03);
        request(&d, MOLT_MODE_SWAP, false);
        if (revert) boot(&d, MOLT_MODE_SWAP, &r);
        uint64_t start = sim_flash_ops(&d.f);
        sim_flash_arm_cut(&d.f, SIM_CUT_TORN, at, 0x5eed + at);
        molt_err_t e = boot(&d, MOLT_MODE_SWAP, &r);
        if (e == MOLT_OK) { total = sim_flash_ops(&d.f) - start; sim_flash_free(&d.f); break; }
        cuts++;
        dev_reboot(&d);
        e = boot(&d, MOLT_MODE_SWAP, &r);
        bool is_old = holds(&d, MOLT_AREA_PRIMARY, 0, revert ? &p03 : &p24);
        bool is_new = holds(&d, MOLT_AREA_PRIMARY, 0, revert ? &p24 : &p03);
        if (e != MOLT_OK || !(is_old || is_new) || r.counter != 1 || d.f.stats.violations) {
            bad++;
            fprintf(stderr, "cut at %llu: err %d old %d new %d counter %u\n", (unsigned long long)at, e, is_old,
                    is_new, r.counter);
        }
        sim_flash_free(&d.f);
    }
    CHECK(cuts > 20, "sweep ran");
    CHECK_EQ(bad, 0);
    printf("%s sweep: %d torn cuts over %llu ops, bad %d\n", revert ? "revert" : "update", cuts,
           (unsigned long long)total, bad);
}

/* --- REMAP and OVERWRITE ---------------------------------------------------- */

static void test_remap(void)
{
    dev_t d;
    molt_boot_result_t r;
    dev_init(&d);
    put(&d, MOLT_AREA_PRIMARY, 0, &p24);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 0);
    CHECK_EQ(r.counter, 1);

    put(&d, MOLT_AREA_SECONDARY, 0, &p03);
    CHECK_EQ(request(&d, MOLT_MODE_REMAP, false), MOLT_OK);
    sim_flash_stats_reset(&d.f);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 1);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.counter, 1);
    /* reset without confirm: rejected, slot A again */
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 0);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK_EQ(byte_at_end(&d, MOLT_AREA_SECONDARY, 16), 0xff); /* the request was consumed */
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 0);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    /* remap copies nothing: one boot-record half and the request's trailer */
    CHECK_EQ(d.f.stats.erases, 2);

    /* new download into B, trial, confirm -> counter advanced */
    CHECK(sim_flash_erase(&d.f, d.ax[1].base, d.ax[1].size) == MOLT_OK, "erase B");
    put(&d, MOLT_AREA_SECONDARY, 0, &p20);
    CHECK_EQ(request(&d, MOLT_MODE_REMAP, false), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 1);
    CHECK_EQ(r.trial, true);
    CHECK_EQ(confirm(&d, MOLT_MODE_REMAP), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 1);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(r.counter, 8);

    /* an image below the counter into A: refused, never boots */
    CHECK(sim_flash_erase(&d.f, d.ax[0].base, d.ax[0].size) == MOLT_OK, "erase A");
    put(&d, MOLT_AREA_PRIMARY, 0, &p03);
    CHECK_EQ(request(&d, MOLT_MODE_REMAP, true), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.slot, 1);
    CHECK_EQ(r.counter, 8);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED); /* a PERM request below the counter fails verification */
    CHECK_EQ(r.staged_err, MOLT_E_ROLLBACK);
    CHECK_EQ(boot(&d, MOLT_MODE_REMAP, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE); /* and is cleared, not retried */
    sim_flash_free(&d.f);
}

static void test_overwrite(void)
{
    dev_t d;
    molt_boot_result_t r;
    dev_init(&d);
    put(&d, MOLT_AREA_PRIMARY, 0, &p24);
    CHECK_EQ(boot(&d, MOLT_MODE_OVERWRITE, &r), MOLT_OK);
    CHECK_EQ(r.counter, 1);
    put(&d, MOLT_AREA_SECONDARY, 0, &p03);
    CHECK_EQ(request(&d, MOLT_MODE_OVERWRITE, false), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_OVERWRITE, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_PERM);
    CHECK_EQ(r.counter, 5);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "copied");
    CHECK_EQ(boot(&d, MOLT_MODE_OVERWRITE, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    put(&d, MOLT_AREA_SECONDARY, 0, &p24);
    CHECK_EQ(request(&d, MOLT_MODE_OVERWRITE, false), MOLT_OK);
    CHECK_EQ(boot(&d, MOLT_MODE_OVERWRITE, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_ROLLBACK);
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p03), "kept");
    sim_flash_free(&d.f);
}

/* Optional downgrade prevention (R-ROLLBACK, R-DEPLOY-VERSION): with the
 * policy on, a staged image whose version is below the running one is refused
 * with DOWNGRADE even when its security counter would allow it, and nothing
 * moves; with the policy off the same request activates (the counter alone
 * decides). p02 is 1.2.3+4 without a counter (stored counter stays 0); p24 is
 * 0.9.0 with counter 1, so the counter allows it and only the version refuses. */
static void test_downgrade(void)
{
    for (int on = 0; on <= 1; on++) {
        dev_t d;
        molt_boot_result_t r;
        molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = on != 0};
        dev_init(&d);
        uint32_t stg = molt_boot_staging_offset(&d.port, &cfg);
        put(&d, MOLT_AREA_PRIMARY, 0, &p02);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.counter, 0);
        put(&d, MOLT_AREA_SECONDARY, stg, &p24);
        CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
        sim_flash_stats_reset(&d.f);
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        if (on) {
            CHECK_EQ(r.action, MOLT_ACT_REFUSED);
            CHECK_EQ(r.staged_err, MOLT_E_DOWNGRADE);
            CHECK_EQ(r.image.version.major, 1);
            CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p02), "downgrade refused: primary untouched");
            CHECK_EQ(d.f.stats.erases, 2); /* the staged trailer and header sector: the request is gone */
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK_EQ(r.action, MOLT_ACT_NONE);
            CHECK_EQ(r.staged_err, MOLT_OK); /* the refused request is gone, not retried */
        } else {
            CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
            CHECK_EQ(r.image.version.major, 0);
            CHECK_EQ(r.image.version.minor, 9);
            CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p24), "without the policy the lower version runs as a trial");
        }
        sim_flash_free(&d.f);
    }
}

/* The journal lives in one half of the boot record: a 112-byte header, then
 * 4N + 1 marks (upgrade and revert, swap.h), in units of max(8, align). With
 * 64-byte units a 4 KiB half holds 64 units: 2 for the header, 62 marks, so
 * N = 15 fits (61 marks) and N = 16 (65) does not. */
static void test_journal_capacity(void)
{
    dev_t d;
    molt_swap_plan_t plan;
    dev_init(&d);
    d.port.area[MOLT_AREA_STATUS].write_align = 64u;
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 1000u, 15u * SEC - 100u, &plan), MOLT_OK);
    CHECK_EQ(plan.n, 15u);
    CHECK_EQ(plan.sector_size, SEC);
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 1000u, 16u * SEC - 100u, &plan), MOLT_E_LAYOUT);
    /* 128-byte units: 32 per half, 1 header, 31 marks: N = 7 fits, 8 does not. */
    d.port.area[MOLT_AREA_STATUS].write_align = 128u;
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 1000u, 7u * SEC, &plan), MOLT_OK);
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 1000u, 7u * SEC + 1u, &plan), MOLT_E_LAYOUT);
    /* A STATUS area that cannot be cut into two halves holds no record. */
    d.port.area[MOLT_AREA_STATUS].write_align = 8u;
    d.port.area[MOLT_AREA_STATUS].size = SEC;
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 1000u, 2u * SEC, &plan), MOLT_E_LAYOUT);
    d.port.area[MOLT_AREA_STATUS].size = 2u * SEC;
    /* An image reaching the PRIMARY trailer sector cannot be swapped. */
    d.port.area[MOLT_AREA_STATUS].write_align = 8u;
    d.port.area[MOLT_AREA_STATUS].size = SEC;
    CHECK_EQ(molt_swap_plan(&d.port, MOLT_SWAP_TEST, 0u, (P_SECS - 1u) * SEC + 1u, &plan), MOLT_E_TOO_LARGE);
    sim_flash_free(&d.f);
}


/* --- the authenticated watchdog at boot (R-AVAIL, molt/awdt.h) ------------------ */

static uint32_t g_now, g_armed, g_arms;
static uint32_t fake_now(void *ctx) { (void)ctx; return g_now; }
static void fake_arm(void *ctx, uint32_t secs) { (void)ctx; g_armed = secs; g_arms++; }

static void test_awdt_boot(void)
{
    dev_t d;
    dev_init(&d);
    put(&d, MOLT_AREA_PRIMARY, 0, &p02);
    sim_flash_t wf;
    sim_flash_geom_t g = {.regions = {{SEC, 2}}, .nregions = 1, .write_align = 8, .erase_value = 0xff};
    CHECK(sim_flash_init(&wf, &g) == MOLT_OK, "watchdog flash");
    actx_t wx = {&wf, 0, 2 * SEC};
    molt_area_t wa = {2 * SEC, 8, 0xff, a_read, a_write, a_erase, a_sector, &wx};
    molt_awdt_cfg_t aw = {.area = &wa, .now = fake_now, .arm = fake_arm, .ctx = NULL, .boot = molt_awdt_boot};
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &g_deps, .awdt = &aw};
    molt_boot_result_t r;

    /* Not provisioned: the device cannot prove a deadline, so it goes to the updater. */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.recovery, "unprovisioned watchdog: recovery");
    CHECK_EQ(r.awdt_err, MOLT_E_STATE);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);

    CHECK_EQ(molt_awdt_provision(&wa, 100, 3), MOLT_OK);
    g_now = 10;
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(!r.recovery && r.awdt_err == MOLT_OK && r.boots == 1, "boot 1: normal (recovery %d, boots %u)", r.recovery,
          (unsigned)r.boots);
    CHECK_EQ(g_armed, 90); /* the hardware watchdog gets the seconds left */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(!r.recovery && r.boots == 2, "boot 2: normal");
    /* The boot limit: the third boot is a recovery boot, watchdog armed to 0. */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.recovery && r.boots == 3, "boot 3: recovery at the boot limit");
    CHECK_EQ(g_armed, 0);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY); /* what runs is unchanged: only whether the application may */
    CHECK(holds(&d, MOLT_AREA_PRIMARY, 0, &p02), "image untouched");
    /* Every later boot stays in recovery until the state is extended. */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.recovery && r.boots == 4, "boot 4: still recovery");
    molt_awdt_state_t st = {.deadline = 100, .boot_limit = 20};
    CHECK_EQ(molt_awdt_store(&wa, &st), MOLT_OK); /* what an accepted ticket does */
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(!r.recovery && r.boots == 5, "boot 5: normal again after the extension");
    /* The deadline in device time. */
    g_now = 100;
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.recovery && r.boots == 6, "deadline passed: recovery");
    /* A port that forgets the boot step does not get a normal boot. */
    aw.boot = NULL;
    g_now = 10;
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK(r.recovery && r.awdt_err == MOLT_E_ARG, "no boot step: recovery");
    sim_flash_free(&wf);
    sim_flash_free(&d.f);
}

/* Leaving recovery (R-AVAIL): latched at entry with the version that ran; only a
 * confirmed image above that version, activated after entry, leaves it; an image
 * the application staged before expiry does not. */
static void test_awdt_recovery_exit(void)
{
    for (int staged_before = 0; staged_before < 2; staged_before++) {
        dev_t d;
        dev_init(&d);
        uint32_t stg = molt_boot_staging_offset(&d.port, &(molt_boot_cfg_t){.mode = MOLT_MODE_SWAP});
        put(&d, MOLT_AREA_PRIMARY, 0, &p24); /* factory 0.9.0 */
        sim_flash_t wf;
        sim_flash_geom_t g = {.regions = {{SEC, 2}}, .nregions = 1, .write_align = 8, .erase_value = 0xff};
        CHECK(sim_flash_init(&wf, &g) == MOLT_OK, "watchdog flash");
        actx_t wx = {&wf, 0, 2 * SEC};
        molt_area_t wa = {2 * SEC, 8, 0xff, a_read, a_write, a_erase, a_sector, &wx};
        molt_awdt_cfg_t aw = {.area = &wa, .now = fake_now, .arm = fake_arm, .boot = molt_awdt_boot,
                              .exit_seconds = 500, .exit_boots = 7};
        molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .deps = &g_deps, .awdt = &aw};
        molt_boot_result_t r;
        molt_awdt_state_t st;
        uint32_t boots;
        CHECK_EQ(molt_awdt_provision(&wa, 100, 5), MOLT_OK);
        g_now = 10;
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(!r.recovery, "normal before the deadline");
        if (staged_before) { /* the application stages the new image just before expiry */
            put(&d, MOLT_AREA_SECONDARY, stg, &p03);
            CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
        }
        g_now = 150;
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(r.recovery && r.awdt_err == MOLT_OK, "deadline passed: recovery");
        CHECK_EQ(molt_awdt_load(&wa, &st, &boots), MOLT_OK);
        CHECK(st.recovery, "recovery latched");
        CHECK_EQ(st.entry.major, staged_before ? 1 : 0);
        CHECK_EQ(st.entry.minor, staged_before ? 2 : 9);
        if (!staged_before) { /* the updater path installs 1.2.3 in recovery: a trial first */
            put(&d, MOLT_AREA_SECONDARY, stg, &p03);
            CHECK_EQ(molt_request_upgrade(&d.port, &cfg, false), MOLT_OK);
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK(r.trial && r.recovery, "a trial does not leave recovery");
        } else {
            CHECK(r.trial, "the staged image runs its trial in recovery");
        }
        CHECK_EQ(molt_confirm(&d.port, &cfg), MOLT_OK);
        g_now = 160;
        CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
        CHECK(!r.trial && r.image.version.major == 1, "1.2.3 confirmed");
        CHECK_EQ(molt_awdt_load(&wa, &st, &boots), MOLT_OK);
        if (staged_before) {
            CHECK(r.recovery && st.recovery, "an image staged before expiry does not leave recovery");
            CHECK_EQ(st.deadline, 100);
        } else {
            CHECK(!r.recovery && !st.recovery, "an approved image installed in recovery leaves it");
            CHECK_EQ(st.deadline, 160 + 500);
            CHECK_EQ(st.boot_limit, boots + 7);
            CHECK_EQ(g_armed, 500);
            CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
            CHECK(!r.recovery, "and stays out");
        }
        sim_flash_free(&wf);
        sim_flash_free(&d.f);
    }
}

int main(void)
{
    img_t key = load("keys/sign-ecdsa-p256.pub.der");
    g_key = (molt_key_t){key.b, key.n};
    p02 = load("images/p02_ecdsa_p256.bin");
    p03 = load("images/p03_ecdsa_p256_seccnt.bin");
    p07 = load("images/p07_ecdsa_p256_large_seccnt_auto.bin");
    p20 = load("images/p20_ecdsa_p256_deps_bootrec_custom.bin");
    p24 = load("images/p24_ecdsa_p256_rollback_low.bin");
    p26 = load("images/p26_untrusted_ecdsa_p256.bin");
    n01 = load("negative/n01_payload_bitflip_ecdsa.bin");
    test_swap_flow();
    test_no_image();
    test_remap();
    test_overwrite();
    test_journal_capacity();
    test_downgrade();
    test_awdt_boot();
    test_awdt_recovery_exit();
    sweep(false);
    sweep(true);
    return check_done();
}
