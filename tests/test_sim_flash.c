/*
 * test_sim_flash.c - the NOR flash simulator and the NV counters built on it.
 *
 * The simulator is the bench every power-fail proof stands on, so its own rules
 * are pinned exactly here: geometry, NOR and alignment refusals, accounting to the
 * byte and nanosecond, the shape of torn writes and erases, determinism, reboot,
 * persistence, and an exhaustive power-cut sweep (torn and clean, single and
 * double cuts) over sim_nvcnt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sim_flash.h"
#include "sim_nvcnt.h"

#define KIB 1024u

/* 4 x 4 KiB, 2 x 128 KiB, 1 x 16 KiB: the shape of an STM32F4 bank, shrunk. */
static const sim_flash_geom_t mixed = {
    .regions = {{4 * KIB, 4}, {128 * KIB, 2}, {16 * KIB, 1}},
    .nregions = 3, .write_align = 8, .erase_value = 0xFF};

static void expect_res(sim_flash_t *f, molt_err_t got, molt_err_t want, sim_res_t why, const char *what)
{
    CHECK(got == want && sim_flash_last(f) == why, "%s: got %d/%s, want %d/%s", what, (int)got,
          sim_res_str(sim_flash_last(f)), (int)want, sim_res_str(why));
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* --- geometry ------------------------------------------------------------ */

static void check_sector(sim_flash_t *f, uint32_t addr, uint32_t idx, uint32_t off, uint32_t size)
{
    sim_flash_sector_t s = {0, 0, 0}, t = {0, 0, 0};
    CHECK_EQ(sim_flash_sector_at(f, addr, &s), MOLT_OK);
    CHECK(s.index == idx && s.offset == off && s.size == size, "addr %u: sector %u@%u+%u", addr,
          s.index, s.offset, s.size);
    CHECK_EQ(sim_flash_sector_info(f, idx, &t), MOLT_OK);
    CHECK(t.index == idx && t.offset == off && t.size == size, "index %u: %u@%u+%u", idx, t.index,
          t.offset, t.size);
}

static void test_geometry(void)
{
    sim_flash_t f;
    sim_flash_sector_t s;

    CHECK_EQ(sim_flash_init(&f, &mixed), MOLT_OK);
    CHECK_EQ(sim_flash_size(&f), 16 * KIB + 256 * KIB + 16 * KIB);
    CHECK_EQ(sim_flash_sector_count(&f), 7);
    CHECK_EQ(sim_flash_write_align(&f), 8);
    CHECK_EQ(sim_flash_erase_value(&f), 0xFF);
    check_sector(&f, 0, 0, 0, 4 * KIB);
    check_sector(&f, 4 * KIB - 1, 0, 0, 4 * KIB);
    check_sector(&f, 4 * KIB, 1, 4 * KIB, 4 * KIB);
    check_sector(&f, 16 * KIB - 1, 3, 12 * KIB, 4 * KIB);
    check_sector(&f, 16 * KIB, 4, 16 * KIB, 128 * KIB);
    check_sector(&f, 144 * KIB + 5, 5, 144 * KIB, 128 * KIB);
    check_sector(&f, 272 * KIB, 6, 272 * KIB, 16 * KIB);
    check_sector(&f, 288 * KIB - 1, 6, 272 * KIB, 16 * KIB);
    expect_res(&f, sim_flash_sector_at(&f, 288 * KIB, &s), MOLT_E_ARG, SIM_E_RANGE, "addr = size");
    expect_res(&f, sim_flash_sector_info(&f, 7, &s), MOLT_E_ARG, SIM_E_RANGE, "index = count");
    CHECK(all_bytes(sim_flash_data(&f), sim_flash_size(&f), 0xFF), "fresh device is erased");
    CHECK_EQ(sim_flash_powered(&f), 1);
    sim_flash_free(&f);

    /* Every malformed description is refused, for one stated reason. */
    static const struct { const char *why; sim_flash_geom_t g; } bad[] = {
        {"no regions", {.nregions = 0, .write_align = 8, .erase_value = 0xFF}},
        {"too many regions", {.regions = {{8, 1}}, .nregions = SIM_FLASH_MAX_REGIONS + 1, .write_align = 8, .erase_value = 0xFF}},
        {"align 3", {.regions = {{4096, 1}}, .nregions = 1, .write_align = 3, .erase_value = 0xFF}},
        {"align 0", {.regions = {{4096, 1}}, .nregions = 1, .write_align = 0, .erase_value = 0xFF}},
        {"align 512", {.regions = {{4096, 1}}, .nregions = 1, .write_align = 512, .erase_value = 0xFF}},
        {"erase value 0x7f", {.regions = {{4096, 1}}, .nregions = 1, .write_align = 8, .erase_value = 0x7F}},
        {"sector not multiple of align", {.regions = {{4100, 1}}, .nregions = 1, .write_align = 8, .erase_value = 0xFF}},
        {"zero count", {.regions = {{4096, 0}}, .nregions = 1, .write_align = 8, .erase_value = 0xFF}},
        {"zero sector", {.regions = {{0, 4}}, .nregions = 1, .write_align = 8, .erase_value = 0xFF}},
        {"over 1 GiB", {.regions = {{128 * KIB, 8193}}, .nregions = 1, .write_align = 8, .erase_value = 0xFF}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sim_res_t why = SIM_OK;
        CHECK(sim_flash_geom_check(&bad[i].g, &why) == MOLT_E_ARG && why == SIM_E_GEOMETRY,
              "%s accepted", bad[i].why);
        CHECK(sim_flash_init(&f, &bad[i].g) == MOLT_E_ARG && f.last == SIM_E_GEOMETRY && f.mem == NULL,
              "init with %s", bad[i].why);
    }
    sim_flash_geom_t edge = {.regions = {{256, 2}}, .nregions = 1, .write_align = 256, .erase_value = 0x00};
    CHECK_EQ(sim_flash_init(&f, &edge), MOLT_OK);
    CHECK(all_bytes(sim_flash_data(&f), 512, 0x00), "erase value 0x00 device starts at 0x00");
    sim_flash_free(&f);
}

/* --- NOR rules and alignment --------------------------------------------- */

static void test_nor_rules(void)
{
    sim_flash_t f;
    uint8_t a[8], b[8], got[8];

    CHECK_EQ(sim_flash_init(&f, &mixed), MOLT_OK);
    memset(a, 0xF0, 8);
    memset(b, 0x0F, 8);
    expect_res(&f, sim_flash_write(&f, 64, a, 8), MOLT_OK, SIM_OK, "first program");
    expect_res(&f, sim_flash_write(&f, 64, b, 8), MOLT_E_IO, SIM_E_NOR, "0 -> 1 refused");
    CHECK(all_bytes(sim_flash_data(&f) + 64, 8, 0xF0), "refused write changed nothing");
    CHECK_EQ(f.stats.violations, 1);
    CHECK_EQ(f.stats.programs, 1);
    CHECK_EQ(sim_flash_ops(&f), 1);
    memset(b, 0x30, 8); /* clears more bits only: legal on NOR */
    expect_res(&f, sim_flash_write(&f, 64, b, 8), MOLT_OK, SIM_OK, "1 -> 0 over programmed");
    CHECK(all_bytes(sim_flash_data(&f) + 64, 8, 0x30), "second program applied");

    /* AND mode: counted as a violation, bits ANDed like silicon. */
    sim_flash_set_flags(&f, SIM_FLASH_F_AND);
    memset(b, 0x1C, 8);
    expect_res(&f, sim_flash_write(&f, 64, b, 8), MOLT_OK, SIM_OK, "AND mode write");
    CHECK(all_bytes(sim_flash_data(&f) + 64, 8, 0x10), "0x30 & 0x1C = 0x10");
    CHECK_EQ(f.stats.violations, 2);

    /* Write-once (ECC flash): even a NOR-legal second program is refused. */
    sim_flash_set_flags(&f, SIM_FLASH_F_WRITE_ONCE);
    memset(b, 0x00, 8);
    expect_res(&f, sim_flash_write(&f, 64, b, 8), MOLT_E_IO, SIM_E_REWRITE, "write-once");
    CHECK_EQ(f.stats.violations, 3);
    memset(a, 0xFF, 8);
    expect_res(&f, sim_flash_write(&f, 128, a, 8), MOLT_OK, SIM_OK, "program of erase value");
    expect_res(&f, sim_flash_write(&f, 128, b, 8), MOLT_E_IO, SIM_E_REWRITE,
               "unit programmed with 0xFF counts as programmed");
    CHECK_EQ(sim_flash_erase_sector(&f, 0), MOLT_OK);
    expect_res(&f, sim_flash_write(&f, 128, b, 8), MOLT_OK, SIM_OK, "after erase it is writable");

    /* Alignment, range, erase boundaries. */
    sim_flash_set_flags(&f, 0);
    uint64_t ops = sim_flash_ops(&f);
    expect_res(&f, sim_flash_write(&f, 4, b, 8), MOLT_E_ARG, SIM_E_ALIGN, "address 4 with align 8");
    expect_res(&f, sim_flash_write(&f, 256, b, 4), MOLT_E_ARG, SIM_E_ALIGN, "length 4 with align 8");
    expect_res(&f, sim_flash_write(&f, sim_flash_size(&f) - 8, b, 16), MOLT_E_ARG, SIM_E_RANGE, "past end");
    expect_res(&f, sim_flash_write(&f, 0xFFFFFFF8u, b, 8), MOLT_E_ARG, SIM_E_RANGE, "wrapping");
    expect_res(&f, sim_flash_write(&f, 256, b, 0), MOLT_OK, SIM_OK, "empty write");
    expect_res(&f, sim_flash_read(&f, sim_flash_size(&f) - 4, got, 8), MOLT_E_ARG, SIM_E_RANGE, "read past end");
    expect_res(&f, sim_flash_erase(&f, 4 * KIB, 2 * KIB), MOLT_E_ARG, SIM_E_SECTOR, "half sector");
    expect_res(&f, sim_flash_erase(&f, 2 * KIB, 4 * KIB), MOLT_E_ARG, SIM_E_SECTOR, "misaligned start");
    expect_res(&f, sim_flash_erase(&f, 0, 16 * KIB + 4 * KIB), MOLT_E_ARG, SIM_E_SECTOR,
               "ends inside the 128 KiB sector");
    expect_res(&f, sim_flash_erase(&f, 0, 0), MOLT_E_ARG, SIM_E_ARG, "empty erase");
    expect_res(&f, sim_flash_erase_sector(&f, 7), MOLT_E_ARG, SIM_E_RANGE, "no sector 7");
    CHECK_EQ(sim_flash_ops(&f), ops);
    CHECK_EQ(sim_flash_wear(&f, 1) + sim_flash_wear(&f, 2) + sim_flash_wear(&f, 4), 0);
    sim_flash_free(&f);

    /* Erase value 0x00: programming sets bits; clearing one is the violation. */
    sim_flash_geom_t g0 = mixed;
    g0.erase_value = 0x00;
    CHECK_EQ(sim_flash_init(&f, &g0), MOLT_OK);
    memset(a, 0x0F, 8);
    memset(b, 0x03, 8);
    expect_res(&f, sim_flash_write(&f, 0, a, 8), MOLT_OK, SIM_OK, "0x00 device: set bits");
    expect_res(&f, sim_flash_write(&f, 0, b, 8), MOLT_E_IO, SIM_E_NOR, "0x00 device: 1 -> 0 refused");
    sim_flash_set_flags(&f, SIM_FLASH_F_AND);
    memset(b, 0x30, 8);
    expect_res(&f, sim_flash_write(&f, 0, b, 8), MOLT_OK, SIM_OK, "0x00 device AND mode");
    CHECK(all_bytes(sim_flash_data(&f), 8, 0x3F), "0x00 device ORs: 0x0F | 0x30");
    CHECK_EQ(sim_flash_erase_sector(&f, 0), MOLT_OK);
    CHECK(all_bytes(sim_flash_data(&f), 4 * KIB, 0x00), "0x00 device erases to 0x00");
    sim_flash_free(&f);
}

/* --- accounting ---------------------------------------------------------- */

static void test_accounting(void)
{
    sim_flash_t f;
    uint8_t buf[64];

    CHECK_EQ(sim_flash_init(&f, &mixed), MOLT_OK);
    fill(buf, sizeof buf, 7);
    for (uint32_t i = 0; i < 10; i++)
        CHECK_EQ(sim_flash_write(&f, 16 * KIB + i * 64, buf, 64), MOLT_OK);
    CHECK_EQ(f.stats.programs, 10);
    CHECK_EQ(f.stats.bytes_programmed, 640);
    CHECK_EQ(f.stats.time_ns, 640ull * 4000);
    CHECK(memcmp(sim_flash_data(&f) + 16 * KIB + 9 * 64, buf, 64) == 0, "tenth write landed");

    for (int i = 0; i < 3; i++)
        CHECK_EQ(sim_flash_erase_sector(&f, 0), MOLT_OK);
    CHECK_EQ(sim_flash_erase(&f, 16 * KIB, 128 * KIB), MOLT_OK);
    CHECK_EQ(sim_flash_erase(&f, 4 * KIB, 12 * KIB + 128 * KIB), MOLT_OK); /* sectors 1..4 */
    static const uint32_t wear[7] = {3, 1, 1, 1, 2, 0, 0};
    for (uint32_t i = 0; i < 7; i++)
        CHECK(sim_flash_wear(&f, i) == wear[i], "wear[%u] = %u, want %u", i, sim_flash_wear(&f, i), wear[i]);
    CHECK_EQ(sim_flash_wear(&f, 7), 0);
    CHECK_EQ(f.stats.erases, 8);
    /* 6 x 4 KiB at 32 ms and 2 x 128 KiB at 1.024 s, plus the programs. */
    CHECK_EQ(f.stats.time_ns, 640ull * 4000 + 6ull * 32000000 + 2ull * 1024000000);
    CHECK_EQ(sim_flash_ops(&f), 18);
    CHECK(all_bytes(sim_flash_data(&f) + 16 * KIB, 128 * KIB, 0xFF), "erased sector reads erased");

    CHECK_EQ(sim_flash_read(&f, 0, buf, 64), MOLT_OK);
    CHECK_EQ(sim_flash_read(&f, 100, buf, 36), MOLT_OK);
    CHECK_EQ(f.stats.reads, 2);
    CHECK_EQ(f.stats.bytes_read, 100);

    /* Custom timing, then none. */
    sim_flash_timing_t t = {.erase_us_per_sector = 500, .erase_us_per_kib = 0, .program_ns_per_byte = 10};
    sim_flash_stats_reset(&f);
    sim_flash_set_timing(&f, &t);
    CHECK_EQ(sim_flash_erase_sector(&f, 6), MOLT_OK);
    CHECK_EQ(sim_flash_write(&f, 0, buf, 64), MOLT_OK);
    CHECK_EQ(f.stats.time_ns, 500000 + 640);
    sim_flash_set_timing(&f, NULL);
    CHECK_EQ(sim_flash_erase_sector(&f, 6), MOLT_OK);
    CHECK_EQ(f.stats.time_ns, 500000 + 640);
    CHECK_EQ(f.stats.erases, 2);
    CHECK_EQ(sim_flash_wear(&f, 0), 3); /* wear survives a stats reset */
    CHECK_EQ(sim_flash_wear(&f, 6), 2);
    CHECK_EQ(sim_flash_ops(&f), 21);
    sim_flash_free(&f);
}

/* --- faults: cut before, torn write, torn erase -------------------------- */

static void test_cut_before(void)
{
    sim_flash_t f;
    uint8_t a[16], got[16];

    CHECK_EQ(sim_flash_init(&f, &mixed), MOLT_OK);
    memset(a, 0x5A, sizeof a);
    sim_flash_arm_cut(&f, SIM_CUT_BEFORE, 2, 1);
    CHECK_EQ(sim_flash_write(&f, 0, a, 16), MOLT_OK);
    CHECK_EQ(sim_flash_read(&f, 0, got, 16), MOLT_OK); /* reads are not operations */
    CHECK_EQ(sim_flash_erase_sector(&f, 1), MOLT_OK);
    expect_res(&f, sim_flash_write(&f, 16, a, 16), MOLT_E_IO, SIM_E_POWER, "third op is cut");
    CHECK(all_bytes(sim_flash_data(&f) + 16, 16, 0xFF), "cut-before leaves the target untouched");
    CHECK_EQ(sim_flash_ops(&f), 2);
    CHECK_EQ(f.stats.programs, 1);
    CHECK_EQ(f.stats.cuts, 1);
    CHECK_EQ(sim_flash_powered(&f), 0);
    expect_res(&f, sim_flash_read(&f, 0, got, 16), MOLT_E_IO, SIM_E_POWER, "read after cut");
    expect_res(&f, sim_flash_write(&f, 32, a, 16), MOLT_E_IO, SIM_E_POWER, "write after cut");
    expect_res(&f, sim_flash_erase_sector(&f, 2), MOLT_E_IO, SIM_E_POWER, "erase after cut");
    expect_res(&f, sim_flash_erase(&f, 0, 4 * KIB), MOLT_E_IO, SIM_E_POWER, "range erase after cut");
    CHECK_EQ(sim_flash_wear(&f, 2), 0);

    sim_flash_reboot(&f);
    CHECK_EQ(sim_flash_powered(&f), 1);
    CHECK_EQ(sim_flash_read(&f, 0, got, 16), MOLT_OK);
    CHECK(memcmp(got, a, 16) == 0, "contents survive reboot");
    CHECK_EQ(sim_flash_write(&f, 16, a, 16), MOLT_OK); /* the cut is not re-armed */
    CHECK_EQ(sim_flash_ops(&f), 3);

    /* A range erase cut in the middle: first sector done, the rest untouched. */
    CHECK_EQ(sim_flash_write(&f, 8 * KIB, a, 16), MOLT_OK);
    sim_flash_arm_cut(&f, SIM_CUT_BEFORE, 1, 1);
    expect_res(&f, sim_flash_erase(&f, 0, 12 * KIB), MOLT_E_IO, SIM_E_POWER, "range erase cut");
    CHECK(all_bytes(sim_flash_data(&f), 4 * KIB, 0xFF), "sector 0 erased");
    CHECK(memcmp(sim_flash_data(&f) + 8 * KIB, a, 16) == 0, "sector 2 untouched");
    CHECK(sim_flash_wear(&f, 0) == 1 && sim_flash_wear(&f, 1) == 1 && sim_flash_wear(&f, 2) == 0,
          "wear %u %u %u", sim_flash_wear(&f, 0), sim_flash_wear(&f, 1), sim_flash_wear(&f, 2));
    sim_flash_free(&f);
}

/* One torn write of new over old at seed; returns the bytes found after reboot. */
static void torn_write_once(const sim_flash_geom_t *g, const uint8_t *old, const uint8_t *new_,
                            size_t len, uint64_t seed, uint8_t *out)
{
    sim_flash_t f;
    CHECK_EQ(sim_flash_init(&f, g), MOLT_OK);
    CHECK_EQ(sim_flash_write(&f, 0, old, len), MOLT_OK);
    sim_flash_arm_cut(&f, SIM_CUT_TORN, 0, seed);
    CHECK_EQ(sim_flash_write(&f, 0, new_, len), MOLT_E_IO);
    CHECK_EQ(sim_flash_last(&f), SIM_E_POWER);
    CHECK_EQ(sim_flash_ops(&f), 2);
    CHECK_EQ(f.stats.programs, 2);
    sim_flash_reboot(&f);
    CHECK_EQ(sim_flash_read(&f, 0, out, len), MOLT_OK);
    CHECK_EQ(f.stats.violations, 0);
    sim_flash_free(&f);
}

static void test_torn_write(uint8_t ev)
{
    enum { LEN = 64, SEEDS = 300 };
    sim_flash_geom_t g = mixed;
    uint8_t old[LEN], new_[LEN], got[LEN], m = (uint8_t)(ev ^ 0xFF);
    int prefix_zero = 0, prefix_long = 0, kept_old = 0, mixed_byte = 0, all_new = 0, bad = 0;

    g.erase_value = ev;
    /* Normalised (erase value = 0xFF) old and new with new's bits a subset of old's. */
    fill(old, LEN, 11);
    fill(new_, LEN, 12);
    for (size_t i = 0; i < LEN; i++) {
        old[i] |= 0x81;           /* leaves something to clear in every byte */
        new_[i] &= old[i] & 0x7E;
        old[i] ^= m;
        new_[i] ^= m;
    }
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        size_t p = 0;
        int full = 1;
        torn_write_once(&g, old, new_, LEN, seed, got);
        while (p < LEN && got[p] == new_[p])
            p++;
        for (size_t i = 0; i < LEN; i++) {
            uint8_t o = old[i] ^ m, n = new_[i] ^ m, b = got[i] ^ m;
            if ((b & ~o) != 0 || (n & ~b) != 0)
                bad++; /* must lie between old and new: no bit outside, none restored */
            if (i > p && b == o)
                kept_old++;
            if (i > p && b != o && b != n)
                mixed_byte++;
            full &= got[i] == new_[i];
        }
        prefix_zero += p == 0;
        prefix_long += p >= LEN / 2 && p < LEN;
        all_new += full;
    }
    CHECK(bad == 0, "erase value %#x: %d bytes outside [new, old]", ev, bad);
    CHECK(prefix_zero > 0 && prefix_long > 0, "prefix lengths vary: %d empty, %d long", prefix_zero, prefix_long);
    CHECK(kept_old > 0 && mixed_byte > 0, "remainder: %d bytes kept old, %d mixed", kept_old, mixed_byte);
    CHECK(all_new < SEEDS / 10, "a torn write is rarely complete: %d of %d", all_new, SEEDS);
}

static void test_torn_erase(void)
{
    enum { SEEDS = 200 };
    uint8_t old[4 * KIB], got[4 * KIB];
    int bad = 0, untouched = 0, erased = 0, partial = 0, prefix_then_old = 0;

    fill(old, sizeof old, 99);
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        sim_flash_t f;
        size_t ne = 0, nold = 0;
        CHECK_EQ(sim_flash_init(&f, &mixed), MOLT_OK);
        CHECK_EQ(sim_flash_write(&f, 4 * KIB, old, sizeof old), MOLT_OK);
        CHECK_EQ(sim_flash_write(&f, 8 * KIB, old, 64), MOLT_OK);
        sim_flash_arm_cut(&f, SIM_CUT_TORN, 0, seed);
        CHECK_EQ(sim_flash_erase(&f, 4 * KIB, 8 * KIB), MOLT_E_IO);
        CHECK_EQ(sim_flash_last(&f), SIM_E_POWER);
        CHECK_EQ(sim_flash_wear(&f, 1), 1);
        CHECK_EQ(sim_flash_wear(&f, 2), 0);
        sim_flash_reboot(&f);
        CHECK_EQ(sim_flash_read(&f, 4 * KIB, got, sizeof got), MOLT_OK);
        CHECK(memcmp(sim_flash_data(&f) + 8 * KIB, old, 64) == 0, "seed %llu: next sector untouched",
              (unsigned long long)seed);
        for (size_t i = 0; i < sizeof got; i++) {
            bad += (old[i] & ~got[i]) != 0; /* an erase only sets bits */
            ne += got[i] == 0xFF;
            nold += got[i] == old[i];
        }
        untouched += nold == sizeof got;
        erased += ne == sizeof got;
        partial += nold != sizeof got && ne != sizeof got;
        if (got[0] == 0xFF && nold > sizeof got / 8 && memcmp(got + sizeof got - 64, old + sizeof got - 64, 64) == 0)
            prefix_then_old++;
        sim_flash_free(&f);
    }
    CHECK(bad == 0, "%d bytes lost a bit in a torn erase", bad);
    CHECK(untouched > 0 && erased > 0 && partial > 0, "outcomes: %d untouched, %d erased, %d partial",
          untouched, erased, partial);
    CHECK(prefix_then_old > 0, "an erased prefix before old data occurs (%d)", prefix_then_old);
}

/* The same seed gives the same bytes; another seed gives other bytes. */
static void torn_flow(uint64_t seed, uint64_t at, sim_flash_t *f)
{
    uint8_t buf[512];
    CHECK_EQ(sim_flash_init(f, &mixed), MOLT_OK);
    fill(buf, sizeof buf, 5);
    sim_flash_arm_cut(f, SIM_CUT_TORN, at, seed);
    for (uint32_t i = 0; i < 8 && sim_flash_powered(f); i++) {
        sim_flash_write(f, i * 512, buf, 512);
        if (i == 3)
            sim_flash_erase_sector(f, 0);
    }
}

static void test_determinism(void)
{
    for (uint64_t at = 0; at < 9; at++) {
        sim_flash_t a, b, c;
        torn_flow(42, at, &a);
        torn_flow(42, at, &b);
        torn_flow(43, at, &c);
        CHECK(memcmp(sim_flash_data(&a), sim_flash_data(&b), sim_flash_size(&a)) == 0,
              "cut at %llu: same seed, different bytes", (unsigned long long)at);
        /* Op 4 is an erase, whose tearing may be "nothing" or "all" for both seeds. */
        CHECK(at == 4 || memcmp(sim_flash_data(&a), sim_flash_data(&c), sim_flash_size(&a)) != 0,
              "cut at %llu: seeds 42 and 43 tear identically", (unsigned long long)at);
        CHECK_EQ(sim_flash_powered(&a), 0);
        sim_flash_free(&a);
        sim_flash_free(&b);
        sim_flash_free(&c);
    }
}

/* --- persistence --------------------------------------------------------- */

static char tmp_path[256];

static void write_raw(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL, "cannot create %s", path);
    if (fp != NULL) {
        CHECK_EQ(fwrite(p, 1, n, fp), n);
        fclose(fp);
    }
}

static uint8_t *read_raw(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *p;
    long len;
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    p = malloc((size_t)len);
    *n = fread(p, 1, (size_t)len, fp);
    fclose(fp);
    return p;
}

static void expect_load(const char *path, const sim_flash_geom_t *expect, sim_res_t want, const char *what)
{
    sim_flash_t f;
    sim_res_t why = SIM_OK;
    molt_err_t e = sim_flash_load(&f, path, expect, &why);
    CHECK(why == want && e == sim_res_err(want), "%s: load gave %s, want %s", what, sim_res_str(why),
          sim_res_str(want));
    if (e == MOLT_OK)
        sim_flash_free(&f);
}

static void test_persistence(void)
{
    sim_flash_geom_t g = {.regions = {{4 * KIB, 3}, {16 * KIB, 2}}, .nregions = 2,
                          .write_align = 16, .erase_value = 0x00};
    sim_flash_t f, h;
    sim_res_t why = SIM_E_ARG;
    uint8_t buf[256];
    size_t n = 0;

    snprintf(tmp_path, sizeof tmp_path, "%s/molt-test-sim-%ld.flash",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    CHECK_EQ(sim_flash_init(&f, &g), MOLT_OK);
    sim_flash_set_flags(&f, SIM_FLASH_F_WRITE_ONCE);
    fill(buf, sizeof buf, 3);
    CHECK_EQ(sim_flash_write(&f, 4 * KIB + 32, buf, 256), MOLT_OK);
    CHECK_EQ(sim_flash_write(&f, 12 * KIB, buf, 128), MOLT_OK);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(sim_flash_erase_sector(&f, 3), MOLT_OK);
    CHECK_EQ(sim_flash_write(&f, 12 * KIB + 4096, buf, 64), MOLT_OK);
    CHECK_EQ(sim_flash_save(&f, tmp_path), MOLT_OK);

    CHECK_EQ(sim_flash_load(&h, tmp_path, &g, &why), MOLT_OK);
    CHECK_EQ(why, SIM_OK);
    CHECK(h.geom.nregions == 2 && h.geom.regions[1].sector_size == 16 * KIB && h.geom.regions[1].count == 2 &&
          h.geom.write_align == 16 && h.geom.erase_value == 0x00, "geometry restored");
    CHECK_EQ(sim_flash_size(&h), sim_flash_size(&f));
    CHECK(memcmp(sim_flash_data(&h), sim_flash_data(&f), sim_flash_size(&f)) == 0, "contents restored");
    for (uint32_t i = 0; i < 5; i++)
        CHECK_EQ(sim_flash_wear(&h, i), sim_flash_wear(&f, i));
    CHECK_EQ(sim_flash_wear(&h, 3), 5);
    CHECK_EQ(h.flags, SIM_FLASH_F_WRITE_ONCE);
    /* The programmed-unit map came back too: write-once still bites. */
    expect_res(&h, sim_flash_write(&h, 4 * KIB + 32, buf, 16), MOLT_E_IO, SIM_E_REWRITE, "after load");
    CHECK_EQ(sim_flash_write(&h, 4 * KIB + 288, buf, 16), MOLT_OK);
    sim_flash_free(&h);
    CHECK_EQ(sim_flash_load(&h, tmp_path, NULL, NULL), MOLT_OK); /* no expectation */
    sim_flash_free(&h);

    /* Refusals. */
    sim_flash_geom_t other = g;
    other.regions[1].count = 3;
    expect_load(tmp_path, &other, SIM_E_GEOMETRY, "other geometry");
    other = g;
    other.erase_value = 0xFF;
    expect_load(tmp_path, &other, SIM_E_GEOMETRY, "other erase value");

    uint8_t *img = read_raw(tmp_path, &n);
    CHECK(img != NULL && n == 28 + 16 + 44 * KIB + 20 + 44 * KIB / 16 / 8 + 4, "file size %zu", n);
    char bad_path[300];
    snprintf(bad_path, sizeof bad_path, "%s.bad", tmp_path);
    if (img != NULL) {
        img[100] ^= 0x01; /* one bit of the contents */
        write_raw(bad_path, img, n);
        expect_load(bad_path, NULL, SIM_E_FORMAT, "one flipped bit");
        img[100] ^= 0x01;
        write_raw(bad_path, img, n - 1);
        expect_load(bad_path, NULL, SIM_E_FORMAT, "truncated");
        write_raw(bad_path, img, 10);
        expect_load(bad_path, NULL, SIM_E_FORMAT, "header only");
        img[8] = 2; /* version 2 */
        write_raw(bad_path, img, n);
        expect_load(bad_path, NULL, SIM_E_FORMAT, "unknown version");
        img[8] = 1;
        img[0] = 'X';
        write_raw(bad_path, img, n);
        expect_load(bad_path, NULL, SIM_E_FORMAT, "bad magic");
        img[0] = 'M';
        write_raw(bad_path, img, n);
        expect_load(bad_path, &g, SIM_OK, "restored copy loads");
        free(img);
    }
    remove(bad_path);
    remove(tmp_path);
    expect_load(tmp_path, NULL, SIM_E_FILE, "missing file");
    sim_flash_free(&f);
}

/* --- NV counters --------------------------------------------------------- */

/* Where the counters live for one sweep. */
struct nv_cfg {
    const char *name;
    sim_flash_geom_t geom;
    uint32_t flags;
    uint32_t first; /* first of the two counter sectors */
};

/* Sectors 1 and 2 (256 bytes: 10 slots each) inside a larger device, ... */
static const struct nv_cfg nv_a = {
    "0xff/align 8", {.regions = {{4 * KIB, 1}, {256, 2}, {4 * KIB, 1}}, .nregions = 3, .write_align = 8,
                     .erase_value = 0xFF}, 0, 1};
/* ... and the same protocol on a 0x00-erased, 32-byte-unit, write-once device. */
static const struct nv_cfg nv_b = {
    "0x00/align 32/write-once", {.regions = {{384, 2}, {4 * KIB, 1}}, .nregions = 2, .write_align = 32,
                                 .erase_value = 0x00}, SIM_FLASH_F_WRITE_ONCE, 0};

static void test_nvcnt_basic(void)
{
    sim_flash_t f;
    sim_nvcnt_t nv;
    uint32_t v = 99;

    CHECK_EQ(sim_flash_init(&f, &nv_a.geom), MOLT_OK);
    CHECK_EQ(sim_nvcnt_mount(&nv, &f, 1), MOLT_OK);
    CHECK_EQ(sim_nvcnt_read(&nv, 0, &v), MOLT_OK);
    CHECK_EQ(v, 0);
    CHECK_EQ(f.stats.programs + f.stats.erases, 0); /* mount never writes */
    CHECK_EQ(sim_nvcnt_advance(&nv, 0, 5), MOLT_OK); /* format: erase + seal + one record */
    CHECK_EQ(f.stats.erases, 1);
    CHECK_EQ(f.stats.programs, 2);
    CHECK_EQ(sim_nvcnt_advance(&nv, 2, 7), MOLT_OK); /* append: one program */
    CHECK_EQ(f.stats.programs, 3);
    CHECK_EQ(sim_nvcnt_advance(&nv, 0, 5), MOLT_OK); /* equal: nothing written */
    CHECK_EQ(f.stats.programs, 3);
    CHECK(sim_nvcnt_advance(&nv, 0, 4) == MOLT_E_ARG && nv.last == SIM_E_DECREASE, "decrease refused");
    CHECK(sim_nvcnt_advance(&nv, SIM_NVCNT_COUNTERS, 1) == MOLT_E_ARG && nv.last == SIM_E_ARG, "bad id");
    CHECK(sim_nvcnt_read(&nv, SIM_NVCNT_COUNTERS, &v) == MOLT_E_ARG && nv.last == SIM_E_ARG, "bad id read");
    CHECK_EQ(sim_nvcnt_read(&nv, 0, &v), MOLT_OK);
    CHECK_EQ(v, 5);

    /* 10 slots per sector: seal + 9. Fill, then cross over several times. */
    for (uint32_t i = 1; i <= 40; i++)
        CHECK_EQ(sim_nvcnt_advance(&nv, i % 3, 100 * i), MOLT_OK);
    CHECK_EQ(sim_nvcnt_mount(&nv, &f, 1), MOLT_OK);
    for (uint32_t id = 0; id < 3; id++) {
        CHECK_EQ(sim_nvcnt_read(&nv, id, &v), MOLT_OK);
        CHECK_EQ(v, id == 0 ? 3900 : id == 1 ? 4000 : 3800);
    }
    CHECK_EQ(sim_nvcnt_read(&nv, 7, &v), MOLT_OK);
    CHECK_EQ(v, 0);
    CHECK(sim_flash_wear(&f, 1) >= 3 && sim_flash_wear(&f, 2) >= 3 && sim_flash_wear(&f, 0) == 0 &&
          sim_flash_wear(&f, 3) == 0, "wear spread over the region only: %u %u",
          sim_flash_wear(&f, 1), sim_flash_wear(&f, 2));
    CHECK_EQ(f.stats.violations, 0);
    CHECK_EQ(sim_nvcnt_advance(&nv, 1, UINT32_MAX), MOLT_OK);
    CHECK_EQ(sim_nvcnt_mount(&nv, &f, 1), MOLT_OK);
    CHECK_EQ(sim_nvcnt_read(&nv, 1, &v), MOLT_OK);
    CHECK_EQ(v, UINT32_MAX);

    /* Geometry refusals. */
    CHECK(sim_nvcnt_mount(&nv, &f, 3) == MOLT_E_ARG && nv.last == SIM_E_RANGE, "no second sector");
    sim_flash_free(&f);
    sim_flash_geom_t small = {.regions = {{128, 2}}, .nregions = 1, .write_align = 8, .erase_value = 0xFF};
    CHECK_EQ(sim_flash_init(&f, &small), MOLT_OK);
    CHECK(sim_nvcnt_mount(&nv, &f, 0) == MOLT_E_ARG && nv.last == SIM_E_GEOMETRY, "sector too small");
    CHECK(sim_nvcnt_advance(&nv, 0, 1) == MOLT_E_ARG && nv.last == SIM_E_UNMOUNTED, "unmounted");
    sim_flash_free(&f);
}

/* The advance sequence of the sweep, and the expected values before each step. */
enum { STEPS = 36, NCNT = 3 };
static uint32_t step_id[STEPS], step_val[STEPS], exp_before[STEPS + 1][NCNT];

static void sweep_setup(void)
{
    uint32_t cur[NCNT] = {0, 0, 0};
    for (uint32_t i = 0; i < STEPS; i++) {
        static const uint8_t ids[12] = {0, 0, 1, 2, 0, 1, 1, 2, 0, 2, 2, 1};
        uint32_t id = ids[i % 12];
        memcpy(exp_before[i], cur, sizeof cur);
        step_id[i] = id;
        step_val[i] = i == STEPS - 1 ? 0xFFFFFFF0u : cur[id] + 1 + (i * 7919u) % 3000u;
        cur[id] = step_val[i];
    }
    memcpy(exp_before[STEPS], cur, sizeof cur);
}

/* Run steps from `from`; returns the index of the step that lost power, or STEPS. */
static uint32_t run_steps(sim_nvcnt_t *nv, uint32_t from)
{
    for (uint32_t i = from; i < STEPS; i++) {
        molt_err_t e = sim_nvcnt_advance(nv, step_id[i], step_val[i]);
        if (e != MOLT_OK) {
            CHECK(nv->last == SIM_E_POWER, "step %u failed with %s", i, sim_res_str(nv->last));
            return i;
        }
    }
    return STEPS;
}

/* After a cut in step k: every counter is its value before k, except the one k
 * advances, which may also be its new value; none is below floor. */
static int state_ok(sim_nvcnt_t *nv, uint32_t k, const uint32_t *floor, uint32_t *now)
{
    int good = 1;
    for (uint32_t id = 0; id < NCNT; id++) {
        uint32_t before = exp_before[k][id];
        if (sim_nvcnt_read(nv, id, &now[id]) != MOLT_OK)
            return 0;
        if (now[id] != before && !(k < STEPS && id == step_id[k] && now[id] == step_val[k]))
            good = 0;
        if (now[id] < floor[id])
            good = 0;
    }
    return good;
}

struct sweep_tally { long runs, bad, decreased, nested; };

/* Reboot after a cut in step k, mount, check, and return what was read. */
static int reboot_check(const struct nv_cfg *c, sim_flash_t *f, sim_nvcnt_t *nv, uint32_t k,
                        const uint32_t *floor, uint32_t *now, struct sweep_tally *t)
{
    sim_flash_reboot(f);
    if (sim_nvcnt_mount(nv, f, c->first) != MOLT_OK) {
        t->bad++;
        return 0;
    }
    if (!state_ok(nv, k, floor, now)) {
        t->bad++;
        for (uint32_t id = 0; id < NCNT; id++)
            if (now[id] < floor[id])
                t->decreased++;
        return 0;
    }
    return 1;
}

/* One run: cut at op n1 (then, if nested, again at op n2 of the recovery),
 * reboot, and finish the sequence. Returns 0 if cut n1 never fired. */
static int sweep_run(const struct nv_cfg *c, sim_cut_t mode, uint64_t seed, uint64_t n1, int64_t n2,
                     struct sweep_tally *t)
{
    sim_flash_t f;
    sim_nvcnt_t nv;
    uint32_t zero[NCNT] = {0, 0, 0}, r1[NCNT], r2[NCNT], k, k2;
    int fired = 1;

    CHECK_EQ(sim_flash_init(&f, &c->geom), MOLT_OK);
    sim_flash_set_flags(&f, c->flags);
    CHECK_EQ(sim_nvcnt_mount(&nv, &f, c->first), MOLT_OK);
    sim_flash_arm_cut(&f, mode, n1, seed);
    k = run_steps(&nv, 0);
    t->runs++;
    if (k == STEPS) {
        fired = 0;
    } else if (reboot_check(c, &f, &nv, k, zero, r1, t)) {
        if (n2 >= 0)
            sim_flash_arm_cut(&f, mode, (uint64_t)n2, seed ^ 0x5555);
        k2 = run_steps(&nv, k);
        if (k2 < STEPS) {
            t->nested++;
            if (reboot_check(c, &f, &nv, k2, r1, r2, t))
                k2 = run_steps(&nv, k2);
        }
        if (k2 == STEPS && !state_ok(&nv, STEPS, exp_before[STEPS], r2))
            t->bad++;
    }
    if (f.stats.violations != 0)
        t->bad++;
    sim_flash_free(&f);
    return fired;
}

static uint64_t sweep_ops(const struct nv_cfg *c)
{
    sim_flash_t f;
    sim_nvcnt_t nv;
    uint32_t now[NCNT];
    uint64_t ops;

    CHECK_EQ(sim_flash_init(&f, &c->geom), MOLT_OK);
    sim_flash_set_flags(&f, c->flags);
    CHECK_EQ(sim_nvcnt_mount(&nv, &f, c->first), MOLT_OK);
    CHECK_EQ(run_steps(&nv, 0), STEPS);
    CHECK(state_ok(&nv, STEPS, exp_before[STEPS], now), "uninterrupted sequence ends at the expected values");
    ops = sim_flash_ops(&f);
    sim_flash_free(&f);
    return ops;
}

static void test_nvcnt_sweep(const struct nv_cfg *c)
{
    struct sweep_tally t = {0, 0, 0, 0};
    const char *name = c->name;
    uint64_t T = sweep_ops(c);
    long unfired = 0;

    CHECK(T > STEPS + 8, "%s: sequence of %u advances takes %llu operations (crossovers included)", name,
          STEPS, (unsigned long long)T);
    for (uint64_t n = 0; n < T; n++) {
        unfired += !sweep_run(c, SIM_CUT_BEFORE, 0, n, -1, &t);
        for (uint64_t seed = 1; seed <= 8; seed++)
            unfired += !sweep_run(c, SIM_CUT_TORN, seed * 0x9E3779B9u + n, n, -1, &t);
    }
    unfired += sweep_run(c, SIM_CUT_TORN, 1, T, -1, &t); /* one past the end: never fires */
    /* Double cuts: torn at every n1, then torn again at every op of the recovery. */
    for (uint64_t n1 = 0; n1 < T; n1++)
        for (int64_t n2 = 0; n2 < (int64_t)T; n2++)
            sweep_run(c, SIM_CUT_TORN, 1000 + n1, n1, n2, &t);
    printf("nvcnt sweep %s: %llu ops, %ld runs, %ld double cuts, bad %ld, decreased %ld\n", name,
           (unsigned long long)T, t.runs, t.nested, t.bad, t.decreased);
    CHECK(unfired == 0, "%s: %ld cuts inside the sequence did not fire (or the one past it did)", name, unfired);
    CHECK(t.bad == 0 && t.decreased == 0, "%s: %ld bad states, %ld decreases", name, t.bad, t.decreased);
    CHECK((uint64_t)t.nested > T, "%s: double cuts exercised (%ld)", name, t.nested);
}

int main(void)
{
    test_geometry();
    test_nor_rules();
    test_accounting();
    test_cut_before();
    test_torn_write(0xFF);
    test_torn_write(0x00);
    test_torn_erase();
    test_determinism();
    test_persistence();
    test_nvcnt_basic();
    sweep_setup();
    test_nvcnt_sweep(&nv_a);
    test_nvcnt_sweep(&nv_b);
    return check_done();
}
