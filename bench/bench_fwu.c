/*
 * bench_fwu.c - flash cost of a download through the PSA Firmware Update API
 * (lib/fwu.c) on the simulated NOR flash: erases, program operations, bytes
 * programmed (image and progress record), bytes read by finish, and the
 * simulator's estimated busy time, beside a bare "erase + program" staging
 * of the same image. Prints figures; never passes or fails on them.
 *
 * usage: bench_fwu [IMAGE] [KEY.der]   (default: vector p07, 66,211 bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt/fwu.h"
#include "sim_port.h"
#include "slurp.h"

static const molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};

typedef struct fig {
    sim_flash_stats_t dl;     /* start + writes */
    sim_flash_stats_t finish; /* finish */
    uint32_t resumed;
} fig_t;

static int device(sim_device_t *d, const molt_keyring_t *keys)
{
    sim_layout_t l;
    if (sim_layout_uniform(&l, 4096, 20, 8, 0xff) != MOLT_OK || sim_device_init(d, &l, keys) != MOLT_OK)
        return -1;
    sim_flash_set_flags(&d->flash, SIM_FLASH_F_WRITE_ONCE);
    return 0;
}

/* Download img with writes of blk bytes; clean first if asked; reset at half if asked. */
static int run(const uint8_t *img, size_t n, const molt_keyring_t *keys, size_t blk, int clean, int reset, fig_t *f)
{
    sim_device_t d;
    molt_fwu_t fwu;
    molt_boot_result_t r;
    memset(f, 0, sizeof *f);
    if (device(&d, keys) != 0)
        return -1;
    memset(&r, 0, sizeof r);
    if (molt_fwu_init(&fwu, &d.port, &cfg, &r) != MOLT_OK)
        return -1;
    if (clean) { /* a cleaned slot, as after clean() of a previous update */
        if (molt_fwu_start(&fwu, 0, NULL, 0) != PSA_SUCCESS || molt_fwu_cancel(&fwu, 0) != PSA_SUCCESS ||
            molt_fwu_clean(&fwu, 0) != PSA_SUCCESS)
            return -1;
    }
    sim_flash_stats_reset(&d.flash);
    sim_flash_set_timing(&d.flash, NULL);
    sim_flash_timing_t t;
    sim_flash_timing_default(&t);
    sim_flash_set_timing(&d.flash, &t);
    if (molt_fwu_start(&fwu, 0, NULL, 0) != PSA_SUCCESS)
        return -1;
    for (size_t off = 0; off < n; off += blk) {
        if (reset && off >= n / 2) {
            sim_device_reboot(&d);
            if (molt_fwu_init(&fwu, &d.port, &cfg, &r) != MOLT_OK)
                return -1;
            psa_fwu_component_info_t i;
            molt_fwu_query(&fwu, 0, &i);
            f->resumed = i.impl.written;
            off = i.impl.written;
            reset = 0;
        }
        if (molt_fwu_write(&fwu, 0, off, img + off, n - off < blk ? n - off : blk) != PSA_SUCCESS)
            return -1;
    }
    f->dl = d.flash.stats;
    sim_flash_stats_reset(&d.flash);
    if (molt_fwu_finish(&fwu, 0) != PSA_SUCCESS)
        return -1;
    f->finish = d.flash.stats;
    sim_device_free(&d);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 0, kn = 0;
    uint8_t *img = argc > 1 ? slurp(NULL, argv[1], &n)
                            : slurp(MOLT_VECTORS, "images/p07_ecdsa_p256_large_seccnt_auto.bin", &n);
    uint8_t *key = argc > 2 ? slurp(NULL, argv[2], &kn) : slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &kn);
    if (img == NULL || key == NULL) {
        fprintf(stderr, "bench_fwu: cannot read the image or the key\n");
        return 2;
    }
    molt_key_t k = {key, kn};
    molt_keyring_t keys = {&k, 1};
    sim_device_t d;
    fig_t f;

    /* Baseline: erase the staging sectors and program the image in one go. */
    if (device(&d, &keys) != 0)
        return 1;
    sim_flash_stats_reset(&d.flash);
    if (sim_device_program(&d, MOLT_AREA_SECONDARY, 4096, img, n) != MOLT_OK)
        return 1;
    printf("image %zu bytes; 4 KiB sectors, 8-byte write units, default NOR timing\n", n);
    printf("%-44s %7s %9s %11s %12s %10s\n", "download", "erases", "programs", "bytes prog", "finish read", "busy ms");
    printf("%-44s %7llu %9llu %11llu %12s %10.1f\n", "bare erase + program (no API, no resume)",
           (unsigned long long)d.flash.stats.erases, (unsigned long long)d.flash.stats.programs,
           (unsigned long long)d.flash.stats.bytes_programmed, "-", (double)d.flash.stats.time_ns / 1e6);
    sim_device_free(&d);
    static const struct { size_t blk; int clean, reset; const char *what; } rows[] = {
        {1024, 0, 0, "FWU, 1024-byte writes"},
        {256, 0, 0, "FWU, 256-byte writes"},
        {100, 0, 0, "FWU, 100-byte writes (partial units in RAM)"},
        {1024, 1, 0, "FWU after clean (erases paid in clean)"},
        {1024, 0, 1, "FWU, reset at half, resumed"},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (run(img, n, &keys, rows[r].blk, rows[r].clean, rows[r].reset, &f) != 0) {
            fprintf(stderr, "bench_fwu: %s failed\n", rows[r].what);
            return 1;
        }
        printf("%-44s %7llu %9llu %11llu %12llu %10.1f\n", rows[r].what, (unsigned long long)f.dl.erases,
               (unsigned long long)f.dl.programs, (unsigned long long)f.dl.bytes_programmed,
               (unsigned long long)f.finish.bytes_read, (double)(f.dl.time_ns + f.finish.time_ns) / 1e6);
        if (rows[r].reset)
            printf("  (resumed at %u; finish re-read the image because the reset broke the streamed hash)\n",
                   f.resumed);
    }
    free(img);
    free(key);
    return 0;
}
