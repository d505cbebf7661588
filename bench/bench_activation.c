/*
 * bench_activation.c - flash cost of one activation (molt_boot_go) per mode.
 *
 *   bench_activation KEY.der OLD NEW [OLD NEW ...]
 *
 * Each OLD/NEW pair is two signed images (versions 1.0.0 and 2.0.0) signed with
 * KEY; N is the number of 4 KiB sectors the larger one occupies. For each pair
 * and each mode (swap, remap, overwrite) the program builds a fresh simulated
 * device (4 KiB sectors, write align 8, erase value 0xff; each slot N + 2
 * sectors: N for the image, 1 staging sector for swap-offset, 1 trailer sector;
 * STATUS two halves of the boot record, each as many sectors as 112 + 8 (4N + 1)
 * bytes need: one sector each up to N = 124), installs and confirms OLD,
 * downloads NEW (sim_device_program + molt_request_upgrade(test)), then counts
 * with the simulator's accounting:
 *   update: the molt_boot_go() that activates NEW (a trial; overwrite: for good);
 *   revert: the next molt_boot_go() with no confirmation (swap: swap back;
 *           remap: the trial is rejected; overwrite: not revertible, no row).
 * The download is printed once, for remap, so "no erases beyond the download"
 * is visible. Time is sim_flash's default timing model (sim_flash_timing_default:
 * 0 us per sector + 8000 us per KiB erased, i.e. 32 ms per 4 KiB sector, and
 * 4000 ns per byte programmed; reads free). Figures, not a pass/fail test: the
 * program fails only if a flow does not run the image it should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt/boot.h"
#include "molt/image.h"
#include "sim_port.h"
#include "slurp.h"

#define SEC 4096u
#define ALIGN 8u
/* lib/bootrec.c: a half holds the 112-byte header and 4N + 1 marks; STATUS is two halves */
#define HALF_BYTES(n) (112u + ALIGN * (4u * (n) + 1u))

typedef struct img { uint8_t *b; size_t n; } img_t;

typedef struct cost {
    uint64_t erases, programs, bytes, time_ns;
    uint32_t max_wear;
} cost_t;

static const char *const mode_name[3] = {"swap", "remap", "overwrite"};

/* The device: slots of slot_secs sectors, st_secs STATUS sectors, 2 NV sectors. */
static int dev_make(sim_device_t *d, uint32_t slot_secs, uint32_t st_secs, const molt_keyring_t *keys)
{
    sim_layout_t l;
    memset(&l, 0, sizeof l);
    l.geom.regions[0] = (sim_flash_region_t){SEC, 2u * slot_secs + st_secs + 2u};
    l.geom.nregions = 1;
    l.geom.write_align = ALIGN;
    l.geom.erase_value = 0xff;
    l.first[MOLT_AREA_PRIMARY] = 0;
    l.count[MOLT_AREA_PRIMARY] = slot_secs;
    l.first[MOLT_AREA_SECONDARY] = slot_secs;
    l.count[MOLT_AREA_SECONDARY] = slot_secs;
    l.first[MOLT_AREA_STATUS] = 2u * slot_secs;
    l.count[MOLT_AREA_STATUS] = st_secs;
    l.first[SIM_PART_NV] = 2u * slot_secs + st_secs;
    l.count[SIM_PART_NV] = 2u;
    return sim_layout_check(&l) == MOLT_OK && sim_device_init(d, &l, keys) == MOLT_OK ? 0 : -1;
}

static void begin(sim_device_t *d, uint32_t *wear)
{
    sim_flash_stats_reset(&d->flash);
    for (uint32_t i = 0; i < d->flash.nsectors; i++)
        wear[i] = sim_flash_wear(&d->flash, i);
}

static cost_t end(const sim_device_t *d, const uint32_t *wear)
{
    cost_t c = {d->flash.stats.erases, d->flash.stats.programs, d->flash.stats.bytes_programmed,
                d->flash.stats.time_ns, 0};
    for (uint32_t i = 0; i < d->flash.nsectors; i++) {
        uint32_t w = sim_flash_wear(&d->flash, i) - wear[i];
        if (w > c.max_wear)
            c.max_wear = w;
    }
    return c;
}

static int holds(const sim_device_t *d, uint32_t slot, uint32_t off, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, slot) + off, im->b, im->n) == 0;
}

static void row(const char *mode, uint32_t n, uint32_t st, const char *flow, const cost_t *c, int swap)
{
    char ref[16] = "-";
    if (swap)
        snprintf(ref, sizeof ref, "%u", 2u * n + 3u);
    printf("%-9s %4u %3u  %-8s %7llu %6s %9u %11llu %9llu %12.1f\n", mode, n, st, flow,
           (unsigned long long)c->erases, ref, c->max_wear, (unsigned long long)c->bytes,
           (unsigned long long)c->programs, (double)c->time_ns / 1e6);
}

/* Where the running image lives after a boot. */
static uint32_t run_off(const sim_device_t *d, const molt_boot_cfg_t *cfg, const molt_boot_result_t *r)
{
    return r->slot == MOLT_AREA_SECONDARY ? molt_boot_staging_offset(&d->port, cfg) : 0u;
}

static int fail(const char *mode, uint32_t n, const char *what, molt_err_t e)
{
    fprintf(stderr, "bench_activation: %s N=%u: %s (%s)\n", mode, n, what, molt_err_str(e));
    return -1;
}

static int bench_mode(molt_boot_mode_t mode, const img_t *old, const img_t *neu, uint32_t n,
                      const molt_keyring_t *keys)
{
    const char *mn = mode_name[mode];
    molt_boot_cfg_t cfg = {.mode = mode, .downgrade_prevention = false};
    uint32_t st = 2u * ((HALF_BYTES(n) + SEC - 1u) / SEC);
    sim_device_t d;
    molt_boot_result_t r;
    molt_err_t e;
    cost_t c;
    int rc = -1;

    if (dev_make(&d, n + 2u, st, keys) != 0)
        return fail(mn, n, "layout", MOLT_E_LAYOUT);
    uint32_t *wear = calloc(d.flash.nsectors, sizeof *wear);
    const molt_port_t *p = &d.port;
    if (wear == NULL)
        goto out;

    /* Factory state: OLD installed and confirmed. */
    if ((e = sim_device_program(&d, MOLT_AREA_PRIMARY, 0, old->b, old->n)) != MOLT_OK ||
        (e = molt_boot_go(p, &cfg, &r)) != MOLT_OK || (e = molt_confirm(p, &cfg)) != MOLT_OK ||
        (e = molt_boot_go(p, &cfg, &r)) != MOLT_OK) {
        fail(mn, n, "install the old image", e);
        goto out;
    }

    /* Download: what the update client writes before the reset. */
    begin(&d, wear);
    uint32_t off = molt_boot_staging_offset(p, &cfg);
    if ((e = sim_device_program(&d, MOLT_AREA_SECONDARY, off, neu->b, neu->n)) != MOLT_OK ||
        (e = molt_request_upgrade(p, &cfg, false)) != MOLT_OK) {
        fail(mn, n, "download", e);
        goto out;
    }
    c = end(&d, wear);
    if (mode == MOLT_MODE_REMAP)
        row(mn, n, st, "download", &c, 0);

    /* Update: the activation. */
    begin(&d, wear);
    e = molt_boot_go(p, &cfg, &r);
    c = end(&d, wear);
    if (e != MOLT_OK || !holds(&d, r.slot, run_off(&d, &cfg, &r), neu)) {
        fail(mn, n, "update does not run the new image", e);
        goto out;
    }
    row(mn, n, st, "update", &c, mode == MOLT_MODE_SWAP);

    /* Revert: reset with the trial unconfirmed. */
    if (mode != MOLT_MODE_OVERWRITE) {
        begin(&d, wear);
        e = molt_boot_go(p, &cfg, &r);
        c = end(&d, wear);
        if (e != MOLT_OK || r.action != MOLT_ACT_REVERT || !holds(&d, r.slot, run_off(&d, &cfg, &r), old)) {
            fail(mn, n, "revert does not run the old image", e);
            goto out;
        }
        row(mn, n, st, "revert", &c, mode == MOLT_MODE_SWAP);
    }
    rc = 0;
out:
    free(wear);
    sim_device_free(&d);
    return rc;
}

/* Sectors from the slot start to the image end (header + payload + TLVs). */
static int image_sectors(const img_t *im, uint32_t *n)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t h;
    if (im->n > UINT32_MAX)
        return -1;
    molt_source_from_mem(&src, &mem, im->b, (uint32_t)im->n);
    if (molt_image_parse(&src, &h) != MOLT_OK)
        return -1;
    *n = (h.end + SEC - 1u) / SEC;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc % 2 != 0) {
        fprintf(stderr, "usage: bench_activation KEY.der OLD NEW [OLD NEW ...]\n");
        return 2;
    }
    size_t klen;
    uint8_t *der = slurp(NULL, argv[1], &klen);
    if (der == NULL) {
        fprintf(stderr, "bench_activation: cannot read %s\n", argv[1]);
        return 2;
    }
    molt_key_t key = {der, klen};
    molt_keyring_t ring = {&key, 1};
    sim_flash_timing_t t;
    sim_flash_timing_default(&t);

    printf("4 KiB sectors, write align %u, erase 0xff; slots N+2 sectors; STATUS (st) sectors hold the\n"
           "boot record (two halves of 112 + 8 x (4N + 1) bytes). Time model: %u us/sector + %u us/KiB erase, %u ns/byte program.\n",
           ALIGN, t.erase_us_per_sector, t.erase_us_per_kib, t.program_ns_per_byte);
    printf("%-9s %4s %3s  %-8s %7s %6s %9s %11s %9s %12s\n", "mode", "N", "st", "flow", "erases", "2N+3",
           "max/sect", "bytes_prog", "programs", "est_ms");
    int rc = 0;
    for (int i = 2; i + 1 < argc && rc == 0; i += 2) {
        img_t old = {NULL, 0}, neu = {NULL, 0};
        uint32_t no, nn;
        old.b = slurp(NULL, argv[i], &old.n);
        neu.b = slurp(NULL, argv[i + 1], &neu.n);
        if (!old.b || !neu.b || image_sectors(&old, &no) != 0 || image_sectors(&neu, &nn) != 0) {
            fprintf(stderr, "bench_activation: cannot read or parse %s / %s\n", argv[i], argv[i + 1]);
            rc = 2;
        }
        for (int m = 0; m < 3 && rc == 0; m++)
            if (bench_mode((molt_boot_mode_t)m, &old, &neu, no > nn ? no : nn, &ring) != 0)
                rc = 1;
        free(old.b);
        free(neu.b);
    }
    free(der);
    return rc;
}
