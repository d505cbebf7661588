/*
 * test_store.c - the record store (lib/store.c, molt/store.h) on the simulated
 * flash (ports/sim data area), R-KEEPDATA, R-ASSETS.
 *
 *  - exact results of get/put/del: values byte for byte, NOT_FOUND, BUFFER
 *    with the size, ARG for an oversized value and application 0, a rewrite of
 *    the same value costs no flash operation;
 *  - one application's handle neither reads nor writes another's records, nor
 *    the SYSTEM or SAVED spaces (R-ASSETS);
 *  - garbage collection keeps every live record; a store whose live records
 *    cannot fit one sector answers STORE_FULL and changes nothing;
 *  - randomized (fixed seeds) against an independent model (an array of
 *    keys), over write alignments 1..32, erase values 0xff/0x00, 2 and 3
 *    sectors, remounting as it goes;
 *  - power-fail sweep: a torn cut at every flash operation of a random
 *    sequence; after the reboot the store holds exactly the model before or
 *    after the interrupted call, every other record intact, it keeps working,
 *    and the simulator saw no NOR or write-once violation.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "molt/store.h"
#include "sim_port.h"

#define NKEYS 16u

typedef struct model {
    bool have[NKEYS];
    uint16_t len[NKEYS];
    uint8_t val[NKEYS][MOLT_STORE_VALUE_MAX];
} model_t;

static uint64_t g_rng;
static uint32_t rnd(uint32_t n)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static uint16_t key_app(uint32_t k) { return (uint16_t)(1u + k / 8u); }
static uint16_t key_id(uint32_t k) { return (uint16_t)(k % 8u); }

static sim_device_t *dev_new(uint32_t align, uint8_t ev, uint32_t data_sectors)
{
    sim_device_t *d = calloc(1, sizeof *d);
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, 1024, 2, align, ev), MOLT_OK);
    CHECK_EQ(sim_layout_add_data(&l, data_sectors), MOLT_OK);
    CHECK_EQ(sim_device_init(d, &l, NULL), MOLT_OK);
    sim_flash_set_flags(&d->flash, SIM_FLASH_F_WRITE_ONCE);
    return d;
}

static void dev_free(sim_device_t *d)
{
    sim_device_free(d);
    free(d);
}

/* Does the store hold exactly the model (LIVE space)? */
static bool matches(molt_store_t *st, const model_t *m)
{
    uint8_t buf[MOLT_STORE_VALUE_MAX];
    for (uint32_t k = 0; k < NKEYS; k++) {
        size_t n = 0;
        molt_err_t e = molt_store_get_raw(st, MOLT_STORE_LIVE, key_app(k), key_id(k), buf, sizeof buf, &n);
        if (!m->have[k] ? e != MOLT_E_STORE_NOT_FOUND
                        : e != MOLT_OK || n != m->len[k] || memcmp(buf, m->val[k], n) != 0)
            return false;
    }
    /* and nothing else: the iterator sees exactly the model's keys */
    uint32_t cur = 0, seen = 0, want = 0;
    bool more = true;
    molt_store_rec_t r;
    while (molt_store_next(st, &cur, &r, &more) == MOLT_OK && more)
        seen++;
    for (uint32_t k = 0; k < NKEYS; k++)
        want += m->have[k];
    return seen == want;
}

/* One random call, applied to the store and (if it succeeded) to *after. */
static molt_err_t random_op(molt_store_t *st, const model_t *before, model_t *after)
{
    uint32_t k = rnd(NKEYS);
    *after = *before;
    if (rnd(5) == 0) {
        after->have[k] = false;
        return molt_store_del_raw(st, MOLT_STORE_LIVE, key_app(k), key_id(k));
    }
    uint16_t len = (uint16_t)rnd(rnd(4) == 0 ? MOLT_STORE_VALUE_MAX + 1u : 40u);
    for (uint32_t i = 0; i < len; i++)
        after->val[k][i] = (uint8_t)rnd(256);
    after->have[k] = true;
    after->len[k] = len;
    return molt_store_put_raw(st, MOLT_STORE_LIVE, key_app(k), key_id(k), after->val[k], len);
}

static void test_basics(void)
{
    sim_device_t *d = dev_new(8, 0xff, 2);
    molt_store_t st;
    molt_store_app_t a1, a2;
    uint8_t buf[300];
    size_t n = 0;

    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
    CHECK_EQ(st.active, -1);
    CHECK_EQ(molt_store_app_open(&a1, &st, 0), MOLT_E_ARG);
    CHECK_EQ(molt_store_app_open(&a1, &st, 1), MOLT_OK);
    CHECK_EQ(molt_store_app_open(&a2, &st, 2), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    CHECK_EQ(molt_store_put(&a1, 7, "calibration=12", 14), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_OK);
    CHECK(n == 14 && memcmp(buf, "calibration=12", 14) == 0, "value back");
    CHECK_EQ(molt_store_get(&a1, 7, buf, 3, &n), MOLT_E_BUFFER);
    CHECK_EQ(n, 14);
    /* isolation: the same id of another application, SAVED and SYSTEM are apart */
    CHECK_EQ(molt_store_get(&a2, 7, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    CHECK_EQ(molt_store_get_saved(&a1, 7, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    CHECK_EQ(molt_store_put(&a2, 7, "other", 5), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_OK);
    CHECK(n == 14 && memcmp(buf, "calibration=12", 14) == 0, "a2's write left a1's record alone");
    CHECK_EQ(molt_store_put_raw(&st, MOLT_STORE_SYSTEM, 1, 7, "sys", 3), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_OK);
    CHECK_EQ(n, 14);
    uint32_t cur = 0;
    uint16_t id = 0, len = 0;
    bool more = false;
    CHECK_EQ(molt_store_app_next(&a2, &cur, &id, &len, &more), MOLT_OK);
    CHECK(more && id == 7 && len == 5, "a2 iterates its one record");
    CHECK_EQ(molt_store_app_next(&a2, &cur, &id, &len, &more), MOLT_OK);
    CHECK(!more, "and no other");
    /* oversized, rewrite of the same value, delete */
    memset(buf, 0x42, sizeof buf);
    CHECK_EQ(molt_store_put(&a1, 1, buf, MOLT_STORE_VALUE_MAX + 1), MOLT_E_ARG);
    CHECK_EQ(molt_store_put(&a1, 1, buf, MOLT_STORE_VALUE_MAX), MOLT_OK);
    uint64_t ops = sim_flash_ops(&d->flash);
    CHECK_EQ(molt_store_put(&a1, 1, buf, MOLT_STORE_VALUE_MAX), MOLT_OK);
    CHECK_EQ(sim_flash_ops(&d->flash), ops);
    CHECK_EQ(molt_store_del(&a1, 9), MOLT_OK);
    CHECK_EQ(sim_flash_ops(&d->flash), ops);
    CHECK_EQ(molt_store_del(&a1, 7), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    CHECK_EQ(molt_store_get(&a2, 7, buf, sizeof buf, &n), MOLT_OK);
    /* survives a remount */
    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
    CHECK_EQ(molt_store_get(&a1, 7, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    CHECK_EQ(molt_store_get(&a1, 1, buf, sizeof buf, &n), MOLT_OK);
    CHECK_EQ(n, MOLT_STORE_VALUE_MAX);
    CHECK_EQ(molt_store_get_raw(&st, MOLT_STORE_SYSTEM, 1, 7, buf, sizeof buf, &n), MOLT_OK);
    CHECK_EQ(n, 3);
    /* a one-sector area is refused */
    molt_area_t one = *sim_device_data_area(d);
    one.size = 1024;
    CHECK_EQ(molt_store_mount(&st, &one), MOLT_E_LAYOUT);
    dev_free(d);
}

static void test_gc_and_full(void)
{
    sim_device_t *d = dev_new(8, 0xff, 2);
    molt_store_t st;
    molt_store_app_t a;
    uint8_t v[200], buf[MOLT_STORE_VALUE_MAX];
    size_t n = 0;

    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
    CHECK_EQ(molt_store_app_open(&a, &st, 3), MOLT_OK);
    for (uint32_t i = 0; i < 100; i++) {
        memset(v, (int)i, sizeof v);
        CHECK_EQ(molt_store_put(&a, (uint16_t)(i % 3), v, 100), MOLT_OK);
    }
    CHECK(st.gc_count >= 10, "collections happened (%u)", (unsigned)st.gc_count);
    for (uint32_t id = 0; id < 3; id++) {
        CHECK_EQ(molt_store_get(&a, (uint16_t)id, buf, sizeof buf, &n), MOLT_OK);
        uint32_t last = 99 - (99 - id) % 3;
        memset(v, (int)last, 100);
        CHECK(n == 100 && memcmp(buf, v, 100) == 0, "id %u holds the last write (%u)", (unsigned)id, (unsigned)last);
    }
    /* fill until full: the refused write changes nothing */
    uint16_t id = 10;
    molt_err_t e;
    while ((e = molt_store_put(&a, id, v, 200)) == MOLT_OK)
        id++;
    CHECK_EQ(e, MOLT_E_STORE_FULL);
    uint32_t used, cap;
    CHECK_EQ(molt_store_usage(&st, &used, &cap), MOLT_OK);
    CHECK(used <= cap && used + 216 > cap, "full: %u of %u", (unsigned)used, (unsigned)cap);
    const uint8_t *fl = sim_flash_data(&d->flash);
    uint8_t *copy = malloc(sim_flash_size(&d->flash));
    memcpy(copy, fl, sim_flash_size(&d->flash));
    CHECK_EQ(molt_store_put(&a, id, v, 200), MOLT_E_STORE_FULL);
    CHECK(memcmp(copy, sim_flash_data(&d->flash), sim_flash_size(&d->flash)) == 0, "a refused write changes no byte");
    free(copy);
    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
    CHECK_EQ(molt_store_get(&a, (uint16_t)(id - 1), buf, sizeof buf, &n), MOLT_OK);
    CHECK_EQ(molt_store_get(&a, id, buf, sizeof buf, &n), MOLT_E_STORE_NOT_FOUND);
    dev_free(d);
}

static void test_random(void)
{
    static const uint32_t aligns[] = {1, 8, 16, 32};
    model_t *m = calloc(2, sizeof *m);
    for (uint32_t g = 0; g < 16; g++) {
        uint32_t align = aligns[g % 4];
        uint8_t ev = (g / 4) % 2 ? 0x00 : 0xff;
        uint32_t secs = 2 + (g / 8);
        sim_device_t *d = dev_new(align, ev, secs);
        molt_store_t st;
        bool ok = true;
        g_rng = 0x5eed0000u + g;
        memset(m, 0, 2 * sizeof *m);
        CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
        for (uint32_t i = 0; i < 400 && ok; i++) {
            molt_err_t e = random_op(&st, &m[0], &m[1]);
            if (e == MOLT_E_STORE_FULL)
                continue; /* the model is unchanged */
            ok = e == MOLT_OK;
            CHECK(ok, "geometry %u op %u: %s", (unsigned)g, (unsigned)i, molt_err_name(e));
            m[0] = m[1];
            if (rnd(16) == 0 && ok)
                ok = molt_store_mount(&st, sim_device_data_area(d)) == MOLT_OK;
            if (i % 37 == 0 && ok) {
                ok = matches(&st, &m[0]);
                CHECK(ok, "geometry %u op %u: store differs from the model", (unsigned)g, (unsigned)i);
            }
        }
        CHECK(matches(&st, &m[0]), "geometry %u: final state", (unsigned)g);
        CHECK_EQ(d->flash.stats.violations, 0);
        dev_free(d);
    }
    free(m);
}

/* Torn cut at every flash operation of a random call sequence. */
static void test_powerfail(void)
{
    enum { OPS = 60 };
    model_t *m = calloc(OPS + 1, sizeof *m), *after = calloc(1, sizeof *after);
    uint64_t cuts = 0, bad = 0, violations = 0;

    for (uint32_t g = 0; g < 4; g++) {
        uint32_t align = g % 2 ? 16 : 4;
        uint8_t ev = g / 2 ? 0x00 : 0xff;
        /* uncut run: the model after each call and the operation count */
        sim_device_t *d = dev_new(align, ev, 2);
        molt_store_t st;
        g_rng = 0xfa11u + g;
        memset(m, 0, sizeof *m);
        CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
        uint64_t t0 = sim_flash_ops(&d->flash);
        for (uint32_t i = 0; i < OPS; i++) {
            molt_err_t e = random_op(&st, &m[i], &m[i + 1]);
            if (e == MOLT_E_STORE_FULL)
                m[i + 1] = m[i];
            else
                CHECK_EQ(e, MOLT_OK);
        }
        uint64_t total = sim_flash_ops(&d->flash) - t0;
        dev_free(d);
        for (uint64_t k = 0; k < total; k++) {
            for (uint32_t seed = 0; seed < 2; seed++) {
                d = dev_new(align, ev, 2);
                g_rng = 0xfa11u + g;
                CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
                sim_flash_arm_cut(&d->flash, SIM_CUT_TORN, k, k * 31u + seed);
                uint32_t i = 0;
                for (; i < OPS; i++)
                    if (random_op(&st, &m[i], after) != MOLT_OK && !sim_flash_powered(&d->flash))
                        break;
                CHECK(i < OPS, "cut %llu fired", (unsigned long long)k);
                cuts++;
                CHECK_EQ(sim_device_reboot(d), MOLT_OK);
                CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
                bool okb = matches(&st, &m[i]), oka = matches(&st, &m[i + 1]);
                if (!okb && !oka) {
                    bad++;
                    CHECK(false, "geometry %u cut %llu seed %u in call %u: neither before nor after", (unsigned)g,
                          (unsigned long long)k, (unsigned)seed, (unsigned)i);
                }
                /* it keeps working: a few more calls, then a remount */
                model_t cur = oka ? m[i + 1] : m[i];
                for (uint32_t j = 0; j < 6; j++) {
                    molt_err_t e = random_op(&st, &cur, after);
                    if (e == MOLT_OK)
                        cur = *after;
                    else
                        CHECK_EQ(e, MOLT_E_STORE_FULL);
                }
                CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
                if (!matches(&st, &cur)) {
                    bad++;
                    CHECK(false, "geometry %u cut %llu: wrong after recovery", (unsigned)g, (unsigned long long)k);
                }
                violations += d->flash.stats.violations;
                dev_free(d);
            }
        }
    }
    printf("store power-fail sweep: %llu torn cuts, %llu bad states, %llu NOR/write-once violations\n",
           (unsigned long long)cuts, (unsigned long long)bad, (unsigned long long)violations);
    CHECK(cuts > 500, "enough cuts (%llu)", (unsigned long long)cuts);
    CHECK_EQ(violations, 0);
    free(m);
    free(after);
}

/* The data area and its records survive a device file round trip (format 3). */
static void test_device_file(void)
{
    sim_device_t *d = dev_new(8, 0xff, 3), back;
    molt_store_t st;
    uint8_t buf[32];
    size_t n = 0;
    char path[256];
    snprintf(path, sizeof path, "%s/molt_store_%ld.sim", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(d)), MOLT_OK);
    CHECK_EQ(molt_store_put_raw(&st, MOLT_STORE_LIVE, 9, 3, "kept", 4), MOLT_OK);
    CHECK_EQ(sim_device_save(d, path), MOLT_OK);
    CHECK_EQ(sim_device_load(&back, path, NULL, NULL), MOLT_OK);
    CHECK_EQ(back.layout.data_first, d->layout.data_first);
    CHECK_EQ(back.layout.data_count, 3);
    CHECK(sim_device_data_area(&back) != NULL && sim_device_data_area(&back)->size == 3 * 1024u, "data area back");
    CHECK_EQ(molt_store_mount(&st, sim_device_data_area(&back)), MOLT_OK);
    CHECK_EQ(molt_store_get_raw(&st, MOLT_STORE_LIVE, 9, 3, buf, sizeof buf, &n), MOLT_OK);
    CHECK(n == 4 && memcmp(buf, "kept", 4) == 0, "record back");
    sim_device_free(&back);
    remove(path);
    dev_free(d);
    /* a device without one has none */
    sim_layout_t l;
    sim_device_t plain;
    CHECK_EQ(sim_layout_uniform(&l, 1024, 2, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&plain, &l, NULL), MOLT_OK);
    CHECK(sim_device_data_area(&plain) == NULL, "no data area");
    CHECK_EQ(sim_layout_add_data(&l, 1), MOLT_E_LAYOUT);
    sim_device_free(&plain);
}

int main(void)
{
    test_device_file();
    test_basics();
    test_gc_and_full();
    test_random();
    test_powerfail();
    return check_done();
}
