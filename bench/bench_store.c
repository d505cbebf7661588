/*
 * bench_store.c - flash cost of the record store and of one data-preserving
 * upgrade (lib/store.c, lib/keepdata.c) on the NOR flash simulator.
 *
 *   bench_store [OLD.bin NEW.bin]   (signed images; default: tests/vectors p02, p03)
 *
 * 1. Record writes: a data area of 2 (and 4) sectors of 4 KiB, write align 8,
 *    erase value 0xff, holding N live records of 32-byte values (N = 8, 32, 64);
 *    10000 updates of a random record with a new random value. Printed: sector
 *    erases and bytes programmed per write (the compactions included, so the
 *    write amplification), and the simulator's default timing model per write.
 * 2. One data-preserving upgrade of an application with N such records (plus
 *    one other application's 4 records kept alongside): save (snapshot +
 *    phase), the first boot of the new code (reset of LIVE to the snapshot,
 *    migration rewriting every record, phase), accept (consolidate): erases and
 *    bytes programmed of each step, in the data area only (the code's own
 *    activation is bench_activation's figure).
 * Figures only: the program fails only if a step does not succeed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt/keepdata.h"
#include "molt/store.h"
#include "sim_port.h"
#include "slurp.h"

#define SEC 4096u

static uint64_t g_rng = 0x5743u;
static uint32_t rnd(uint32_t n)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static int device(sim_device_t *d, uint32_t data_sectors)
{
    sim_layout_t l;
    if (sim_layout_uniform(&l, SEC, 8, 8, 0xff) != MOLT_OK || sim_layout_add_data(&l, data_sectors) != MOLT_OK ||
        sim_device_init(d, &l, NULL) != MOLT_OK)
        return -1;
    sim_flash_set_flags(&d->flash, SIM_FLASH_F_WRITE_ONCE);
    return 0;
}

typedef struct cost { uint64_t erases, bytes, time_ns; } cost_t;

static cost_t since(const sim_device_t *d, const sim_flash_stats_t *s0)
{
    const sim_flash_stats_t *s = &d->flash.stats;
    cost_t c = {s->erases - s0->erases, s->bytes_programmed - s0->bytes_programmed, s->time_ns - s0->time_ns};
    return c;
}

static int bench_writes(void)
{
    static const uint32_t ns[] = {8, 32, 64};
    enum { WRITES = 10000 };
    printf("== record writes (32-byte values, write align 8, 4 KiB sectors; %d updates) ==\n", WRITES);
    printf("%-8s %-8s %-14s %-18s %-14s %s\n", "sectors", "records", "erases/write", "bytes/write", "ms/write",
           "compactions");
    for (uint32_t secs = 2; secs <= 4; secs += 2) {
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            sim_device_t d;
            molt_store_t st;
            molt_store_app_t h;
            uint8_t v[32];
            if (device(&d, secs) != 0 || molt_store_mount(&st, sim_device_data_area(&d)) != MOLT_OK ||
                molt_store_app_open(&h, &st, 1) != MOLT_OK)
                return 1;
            for (uint32_t k = 0; k < ns[i]; k++) {
                memset(v, (int)k, sizeof v);
                if (molt_store_put(&h, (uint16_t)k, v, sizeof v) != MOLT_OK)
                    return 1;
            }
            sim_flash_stats_t s0 = d.flash.stats;
            uint32_t gc0 = st.gc_count;
            for (uint32_t w = 0; w < WRITES; w++) {
                for (size_t b = 0; b < sizeof v; b++)
                    v[b] = (uint8_t)rnd(256);
                if (molt_store_put(&h, (uint16_t)rnd(ns[i]), v, sizeof v) != MOLT_OK)
                    return 1;
            }
            cost_t c = since(&d, &s0);
            printf("%-8u %-8u %-14.4f %-18.1f %-14.3f %u\n", (unsigned)secs, (unsigned)ns[i],
                   (double)c.erases / WRITES, (double)c.bytes / WRITES, (double)c.time_ns / WRITES / 1e6,
                   (unsigned)(st.gc_count - gc0));
            sim_device_free(&d);
        }
    }
    return 0;
}

/* The migration: every record rewritten (a new layout of the same size + 4). */
static molt_err_t rewrite(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next)
{
    uint16_t ids[128], id, len;
    uint32_t n = 0, cur = 0;
    bool more = true;
    molt_err_t err;
    (void)ctx;
    (void)prev;
    (void)next;
    while ((err = molt_store_app_next(h, &cur, &id, &len, &more)) == MOLT_OK && more && n < 128)
        ids[n++] = id;
    for (uint32_t i = 0; i < n && err == MOLT_OK; i++) {
        uint8_t v[MOLT_STORE_VALUE_MAX];
        size_t vl = 0;
        if ((err = molt_store_get(h, ids[i], v + 4, sizeof v - 4, &vl)) == MOLT_OK) {
            memcpy(v, "v2:!", 4);
            err = molt_store_put(h, ids[i], v, vl + 4);
        }
    }
    return err;
}

static int bench_upgrade(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len)
{
    static const uint32_t ns[] = {8, 16, 32};
    static const molt_keep_ops_t ops = {NULL, NULL, rewrite, NULL, NULL};
    const molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
    printf("\n== one data-preserving upgrade (data area 2 x 4 KiB; N records of 32 bytes + 4 of another application) ==\n");
    printf("%-8s %-22s %-22s %-22s %-22s\n", "records", "save (erases, bytes)", "migrate (erases, bytes)",
           "accept (erases, bytes)", "total (erases, bytes)");
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        sim_device_t d;
        molt_store_t st;
        molt_store_app_t h, other;
        molt_keep_t k;
        molt_keep_action_t act;
        molt_source_t src;
        molt_mem_source_t mem;
        uint8_t v[32];
        cost_t c[3];
        if (device(&d, 2) != 0 || sim_device_program(&d, MOLT_AREA_PRIMARY, 0, old_img, old_len) != MOLT_OK ||
            molt_store_mount(&st, sim_device_data_area(&d)) != MOLT_OK || molt_store_app_open(&h, &st, 1) != MOLT_OK ||
            molt_store_app_open(&other, &st, 2) != MOLT_OK || molt_keep_init(&k, &st, 1, &d.port, &cfg, &ops) != MOLT_OK)
            return 1;
        for (uint32_t r = 0; r < ns[i]; r++) {
            memset(v, (int)r, sizeof v);
            if (molt_store_put(&h, (uint16_t)r, v, sizeof v) != MOLT_OK)
                return 1;
        }
        for (uint32_t r = 0; r < 4; r++)
            if (molt_store_put(&other, (uint16_t)r, v, sizeof v) != MOLT_OK)
                return 1;
        molt_source_from_mem(&src, &mem, new_img, (uint32_t)new_len);
        sim_flash_stats_t s0 = d.flash.stats;
        if (molt_keep_save(&k, &src) != MOLT_OK)
            return 1;
        c[0] = since(&d, &s0);
        /* The code's activation (not counted here): the new image runs, a trial. */
        if (sim_device_program(&d, MOLT_AREA_PRIMARY, 0, new_img, new_len) != MOLT_OK)
            return 1;
        molt_boot_result_t boot;
        memset(&boot, 0, sizeof boot);
        boot.slot = MOLT_AREA_PRIMARY;
        boot.trial = true;
        s0 = d.flash.stats;
        if (molt_keep_boot(&k, &boot, &act) != MOLT_OK || act != MOLT_KEEP_ACT_MIGRATED)
            return 1;
        c[1] = since(&d, &s0);
        s0 = d.flash.stats;
        if (molt_keep_accept_check(&k) != MOLT_OK || molt_keep_consolidate(&k) != MOLT_OK)
            return 1;
        c[2] = since(&d, &s0);
        char cell[4][32];
        for (int j = 0; j < 3; j++)
            snprintf(cell[j], sizeof cell[j], "%llu, %llu", (unsigned long long)c[j].erases,
                     (unsigned long long)c[j].bytes);
        snprintf(cell[3], sizeof cell[3], "%llu, %llu", (unsigned long long)(c[0].erases + c[1].erases + c[2].erases),
                 (unsigned long long)(c[0].bytes + c[1].bytes + c[2].bytes));
        printf("%-8u %-22s %-22s %-22s %-22s\n", (unsigned)ns[i], cell[0], cell[1], cell[2], cell[3]);
        sim_device_free(&d);
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t ol = 0, nl = 0;
    uint8_t *o = argc > 2 ? slurp(NULL, argv[1], &ol) : slurp(MOLT_VECTORS, "images/p02_ecdsa_p256.bin", &ol);
    uint8_t *n = argc > 2 ? slurp(NULL, argv[2], &nl) : slurp(MOLT_VECTORS, "images/p03_ecdsa_p256_seccnt.bin", &nl);
    int rc = 1;
    if (o == NULL || n == NULL) {
        fprintf(stderr, "bench_store: cannot read the images\n");
    } else if ((rc = bench_writes()) == 0 && (rc = bench_upgrade(o, ol, n, nl)) != 0) {
        fprintf(stderr, "bench_store: an upgrade step failed\n");
    } else if (rc != 0) {
        fprintf(stderr, "bench_store: a record write failed\n");
    }
    free(o);
    free(n);
    return rc;
}
