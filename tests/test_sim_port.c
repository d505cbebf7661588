/*
 * test_sim_port.c - the host port (ports/sim/sim_port): layouts, area mapping,
 * out-of-area refusals, NV counters across reboots and cuts, device files
 * (sim_devfile.c): every earlier format still loads, and every bit flip and
 * truncation of a file is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sim_port.h"

#define KIB 1024u

static void check_layouts(void)
{
    sim_layout_t l;

    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 8, 8, 0xFF), MOLT_OK);
    CHECK_EQ(l.geom.nregions, 1);
    CHECK_EQ(l.geom.regions[0].count, 8 + 8 + 2 + 2); /* slots, STATUS (two record halves), NV */
    CHECK_EQ(l.first[MOLT_AREA_SECONDARY], 8);
    CHECK_EQ(l.first[MOLT_AREA_STATUS], 16);
    CHECK_EQ(l.count[MOLT_AREA_STATUS], 2);
    CHECK_EQ(l.first[SIM_PART_NV], 18);

    /* 256-byte units: 10 slots of 256 do not fit a 1 KiB sector, so NV gets its own region. */
    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 4, 256, 0x00), MOLT_OK);
    CHECK_EQ(l.geom.nregions, 2);
    CHECK_EQ(l.geom.regions[1].count, 2);
    CHECK(l.geom.regions[1].sector_size >= 10 * 256, "nv sector %u", l.geom.regions[1].sector_size);

    CHECK_EQ(sim_layout_mixed(&l, 4 * KIB, 4, 128 * KIB, 1, 8, 0xFF), MOLT_OK);
    CHECK_EQ(l.count[MOLT_AREA_PRIMARY], 5);
    CHECK_EQ(l.first[MOLT_AREA_SECONDARY], 5);
    CHECK_EQ(l.first[SIM_PART_NV], 12);

    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 0, 8, 0xFF), MOLT_E_LAYOUT);
    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 4, 3, 0xFF), MOLT_E_LAYOUT); /* align not a power of 2 */
    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 4, 8, 0xFF), MOLT_OK);
    l.first[MOLT_AREA_STATUS] = 3; /* overlaps PRIMARY */
    CHECK_EQ(sim_layout_check(&l), MOLT_E_LAYOUT);
}

static void check_areas(void)
{
    sim_layout_t l;
    sim_device_t dev;
    uint8_t buf[64], back[64];

    CHECK_EQ(sim_layout_mixed(&l, 4 * KIB, 2, 16 * KIB, 1, 8, 0xFF), MOLT_OK);
    CHECK_EQ(sim_device_init(&dev, &l, NULL), MOLT_OK);
    const molt_port_t *p = &dev.port;
    uint32_t slot = 2 * 4 * KIB + 16 * KIB;
    CHECK_EQ(p->area[MOLT_AREA_PRIMARY].size, slot);
    CHECK_EQ(p->area[MOLT_AREA_SECONDARY].size, slot);
    CHECK_EQ(p->area[MOLT_AREA_STATUS].size, 8 * KIB);
    CHECK_EQ(sim_device_area_base(&dev, MOLT_AREA_SECONDARY), slot);
    CHECK_EQ(sim_device_area_base(&dev, MOLT_AREA_STATUS), 2 * slot);
    CHECK_EQ(p->area[MOLT_AREA_PRIMARY].write_align, 8);
    CHECK_EQ(p->area[MOLT_AREA_PRIMARY].erase_value, 0xFF);

    /* sector(): area-relative, non-uniform */
    molt_sector_t s;
    const molt_area_t *sec = &p->area[MOLT_AREA_SECONDARY];
    CHECK_EQ(sec->sector(sec->ctx, 5000, &s), MOLT_OK);
    CHECK(s.off == 4 * KIB && s.size == 4 * KIB, "sector %u+%u", s.off, s.size);
    CHECK_EQ(sec->sector(sec->ctx, slot - 1, &s), MOLT_OK);
    CHECK(s.off == 8 * KIB && s.size == 16 * KIB, "sector %u+%u", s.off, s.size);
    CHECK_EQ(sec->sector(sec->ctx, slot, &s), MOLT_E_ARG);

    /* write lands at the device offset of the area */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    CHECK_EQ(sec->write(sec->ctx, 4 * KIB + 16, buf, sizeof buf), MOLT_OK);
    CHECK(memcmp(sim_flash_data(&dev.flash) + slot + 4 * KIB + 16, buf, sizeof buf) == 0, "mapped");
    CHECK_EQ(sec->read(sec->ctx, 4 * KIB + 16, back, sizeof back), MOLT_OK);
    CHECK(memcmp(back, buf, sizeof buf) == 0, "read back");
    /* PRIMARY untouched */
    const molt_area_t *pri = &p->area[MOLT_AREA_PRIMARY];
    CHECK_EQ(pri->read(pri->ctx, 4 * KIB + 16, back, sizeof back), MOLT_OK);
    CHECK(back[0] == 0xFF && back[63] == 0xFF, "primary erased");

    /* out-of-area: refused, nothing happens, no operation counted */
    uint64_t ops = sim_flash_ops(&dev.flash);
    CHECK_EQ(pri->write(pri->ctx, slot - 32, buf, sizeof buf), MOLT_E_ARG);
    CHECK_EQ(pri->write(pri->ctx, UINT32_MAX - 7, buf, 16), MOLT_E_ARG);
    CHECK_EQ(pri->read(pri->ctx, slot, back, 1), MOLT_E_ARG);
    CHECK_EQ(pri->erase(pri->ctx, 8 * KIB, 32 * KIB), MOLT_E_ARG);
    const molt_area_t *st = &p->area[MOLT_AREA_STATUS];
    CHECK_EQ(st->erase(st->ctx, 0, 12 * KIB), MOLT_E_ARG); /* would reach the NV sectors */
    CHECK_EQ(sim_flash_ops(&dev.flash), ops);
    CHECK(sim_flash_data(&dev.flash)[slot] == 0xFF, "secondary start untouched");

    /* erase: whole sectors only, area-relative */
    CHECK_EQ(sec->erase(sec->ctx, 4 * KIB, 2 * KIB), MOLT_E_ARG);
    CHECK_EQ(sec->erase(sec->ctx, 4 * KIB, 4 * KIB), MOLT_OK);
    CHECK_EQ(sim_flash_wear(&dev.flash, 3 + 1), 1); /* secondary's 2nd sector is device sector 4 */
    CHECK_EQ(sec->read(sec->ctx, 4 * KIB + 16, back, sizeof back), MOLT_OK);
    CHECK(back[0] == 0xFF, "erased");

    /* power loss shows as MOLT_E_FLASH on write/erase */
    sim_flash_arm_cut(&dev.flash, SIM_CUT_BEFORE, 0, 1);
    CHECK_EQ(sec->write(sec->ctx, 0, buf, 8), MOLT_E_FLASH);
    CHECK_EQ(sec->erase(sec->ctx, 0, 4 * KIB), MOLT_E_FLASH);
    CHECK_EQ(sim_device_reboot(&dev), MOLT_OK);

    /* no_image hook records */
    p->no_image(p->ctx, MOLT_E_NO_IMAGE);
    CHECK_EQ(dev.no_image_calls, 1);
    CHECK_EQ(dev.no_image_why, MOLT_E_NO_IMAGE);
    sim_device_free(&dev);
}

static void check_counters(void)
{
    sim_layout_t l;
    sim_device_t dev;
    uint32_t v = 99;

    CHECK_EQ(sim_layout_uniform(&l, 512, 4, 16, 0x00), MOLT_OK);
    CHECK_EQ(sim_device_init(&dev, &l, NULL), MOLT_OK);
    const molt_port_t *p = &dev.port;
    CHECK_EQ(p->nv_read(p->ctx, MOLT_NV_SECURITY_COUNTER, &v), MOLT_OK);
    CHECK_EQ(v, 0);
    for (uint32_t i = 1; i <= 40; i++) /* several sector moves */
        CHECK_EQ(p->nv_advance(p->ctx, MOLT_NV_SECURITY_COUNTER, i * 3), MOLT_OK);
    CHECK_EQ(p->nv_advance(p->ctx, MOLT_NV_SECURITY_COUNTER, 5), MOLT_E_NV); /* never decreases */
    CHECK_EQ(dev.nv_advanced[0], 120);
    sim_flash_reboot(&dev.flash);
    dev.nv.mounted = false; /* RAM lost: the port remounts by itself */
    CHECK_EQ(p->nv_read(p->ctx, MOLT_NV_SECURITY_COUNTER, &v), MOLT_OK);
    CHECK_EQ(v, 120);

    /* a torn advance: old or new value after reboot, never anything else */
    sim_flash_arm_cut(&dev.flash, SIM_CUT_TORN, 0, 7);
    CHECK(p->nv_advance(p->ctx, MOLT_NV_SECURITY_COUNTER, 200) != MOLT_OK, "cut");
    CHECK_EQ(sim_device_reboot(&dev), MOLT_OK);
    CHECK_EQ(p->nv_read(p->ctx, MOLT_NV_SECURITY_COUNTER, &v), MOLT_OK);
    CHECK(v == 120 || v == 200, "counter %u", v);

    /* persists through a device file, with the layout and mode */
    char path[] = "/tmp/molt-simport-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    const molt_area_t *pri = &p->area[MOLT_AREA_PRIMARY];
    uint8_t data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CHECK_EQ(pri->write(pri->ctx, 512, data, sizeof data), MOLT_OK);
    dev.layout.mode = 2;
    CHECK_EQ(sim_device_save(&dev, path), MOLT_OK);

    sim_device_t d2;
    sim_res_t why = SIM_E_ARG;
    uint32_t v2 = 0;
    CHECK_EQ(sim_device_load(&d2, path, NULL, &why), MOLT_OK);
    CHECK_EQ(why, SIM_OK);
    CHECK_EQ(d2.layout.mode, 2);
    CHECK(memcmp(&d2.layout.geom, &dev.layout.geom, sizeof d2.layout.geom) == 0, "geometry");
    CHECK(memcmp(d2.layout.first, dev.layout.first, sizeof d2.layout.first) == 0, "first");
    CHECK_EQ(d2.port.nv_read(d2.port.ctx, 0, &v2), MOLT_OK);
    CHECK_EQ(v2, v);
    uint8_t back[16];
    CHECK_EQ(d2.port.area[0].read(d2.port.area[0].ctx, 512, back, sizeof back), MOLT_OK);
    CHECK(memcmp(back, data, sizeof back) == 0, "contents");
    CHECK_EQ(sim_flash_wear(&d2.flash, l.first[SIM_PART_NV]), sim_flash_wear(&dev.flash, l.first[SIM_PART_NV]));

    /* snapshot copy */
    sim_device_t d3;
    CHECK_EQ(sim_device_init(&d3, &l, NULL), MOLT_OK);
    CHECK_EQ(sim_device_copy(&d3, &d2), MOLT_OK);
    CHECK_EQ(d3.port.nv_read(d3.port.ctx, 0, &v2), MOLT_OK);
    CHECK_EQ(v2, v);
    CHECK(memcmp(sim_flash_data(&d3.flash), sim_flash_data(&d2.flash), d2.flash.size) == 0, "copy");
    sim_device_free(&d3);
    sim_device_free(&d2);

    /* a corrupt file is refused */
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL, "open");
    if (fp) {
        fseek(fp, 20, SEEK_SET);
        fputc(0x55, fp);
        fclose(fp);
    }
    CHECK_EQ(sim_device_load(&d2, path, NULL, &why), MOLT_E_IO);
    CHECK_EQ(why, SIM_E_FORMAT);
    remove(path);
    CHECK_EQ(sim_device_load(&d2, path, NULL, &why), MOLT_E_IO);
    CHECK_EQ(why, SIM_E_FILE);
    sim_device_free(&dev);
}

/* --- device files: formats 1-4, and an attacker's bytes ------------------------ */

/* CRC-32 (IEEE, reflected), written here so the file checks do not trust sim_crc32. */
static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *b = malloc(1u << 20);
    *len = fp && b ? fread(b, 1, 1u << 20, fp) : 0;
    if (fp)
        fclose(fp);
    return b;
}

static void write_all(const char *path, const uint8_t *b, size_t len)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL && fwrite(b, 1, len, fp) == len, "write %s", path);
    if (fp)
        fclose(fp);
}

/* The file of format `version` made from a format-4 file by the documented
 * layout (docs/sim.md): header 56, flash f, key store 152, data area 20, watchdog. */
static size_t older_format(const uint8_t *v4, size_t len, uint32_t version, uint8_t *out)
{
    size_t f = (size_t)v4[48] | (size_t)v4[49] << 8 | (size_t)v4[50] << 16 | (size_t)v4[51] << 24;
    size_t n = 56 + f + (version >= 2 ? 152 : 0) + (version >= 3 ? 20 : 0) + (version >= 4 ? SIM_AWDT_FILE_SIZE : 0);
    CHECK(n <= len, "format %u: %zu of %zu bytes", version, n, len);
    memcpy(out, v4, n);
    put_le32(out + 8, version);
    put_le32(out + 52, crc32_ref(out, 52));
    return n;
}

static void check_devfile_formats(void)
{
    sim_layout_t l;
    sim_device_t dev, back;
    sim_res_t why;
    char path[] = "/tmp/molt-simfile-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);

    CHECK_EQ(sim_layout_uniform(&l, 1 * KIB, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_layout_add_data(&l, 2), MOLT_OK);
    l.mode = 1;
    CHECK_EQ(sim_device_init(&dev, &l, NULL), MOLT_OK);
    sim_device_set_boot_slot(&dev, 1);
    dev.aw.clock = 4242; /* device time, saved in the watchdog block */
    const uint8_t img[5] = {'m', 'o', 'l', 't', '!'};
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, 0, img, sizeof img), MOLT_OK);
    CHECK_EQ(sim_device_save(&dev, path), MOLT_OK);
    size_t len = 0;
    uint8_t *v4 = read_all(path, &len), *b = malloc(len);
    CHECK(v4 != NULL && b != NULL && len > 56 + 152 + 20 + SIM_AWDT_FILE_SIZE, "file of %zu bytes", len);
    if (v4 == NULL || b == NULL) {
        free(v4);
        free(b);
        return;
    }
    for (uint32_t version = 4; version >= 1; version--) {
        size_t n = older_format(v4, len, version, b);
        CHECK_EQ(n == len, version == 4);
        write_all(path, b, n);
        CHECK_EQ(sim_device_load(&back, path, NULL, &why), MOLT_OK);
        CHECK_EQ(why, SIM_OK);
        CHECK_EQ(back.layout.mode, 1);
        CHECK_EQ(back.ks.has_iak, version >= 2);
        CHECK_EQ(back.ks.boot_slot, version >= 2 ? 1 : -1);
        CHECK_EQ(back.layout.data_count, version >= 3 ? 2u : 0u);
        CHECK_EQ(back.aw.clock, version >= 4 ? 4242u : 0u);
        CHECK_EQ(sim_device_data_area(&back) != NULL, version >= 3);
        CHECK(version < 2 || memcmp(back.ks.iak_pub, dev.ks.iak_pub, sizeof dev.ks.iak_pub) == 0, "IAK, format %u", version);
        CHECK_EQ(back.port.attest_sign != NULL, version >= 2);
        uint8_t got[sizeof img];
        CHECK_EQ(back.port.area[MOLT_AREA_SECONDARY].read(back.port.area[MOLT_AREA_SECONDARY].ctx, 0, got, sizeof got), MOLT_OK);
        CHECK(memcmp(got, img, sizeof img) == 0, "slot bytes, format %u", version);
        sim_device_free(&back);
    }
    /* formats 0 and 5 do not exist */
    for (uint32_t version = 0; version <= 5; version += 5) {
        memcpy(b, v4, len);
        put_le32(b + 8, version);
        put_le32(b + 52, crc32_ref(b, 52));
        write_all(path, b, len);
        CHECK_EQ(sim_device_load(&back, path, NULL, &why), MOLT_E_IO);
        CHECK_EQ(why, SIM_E_FORMAT);
    }

    /* An attacker's bytes: 400 single-bit flips anywhere (fixed seed) and 200
     * truncations are each refused, the reason a format (or geometry) error. */
    uint64_t x = 0x5eed0f11e5ull;
    unsigned flips = 0, truncs = 0, accepted = 0;
    for (int round = 0; round < 600; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = len;
        memcpy(b, v4, len);
        if (round < 400) {
            size_t at = (size_t)(x % len);
            b[at] ^= (uint8_t)(1u << ((x >> 32) % 8u));
            flips++;
        } else {
            n = (size_t)(x % len);
            truncs++;
        }
        write_all(path, b, n);
        why = SIM_OK;
        molt_err_t e = sim_device_load(&back, path, NULL, &why);
        if (e == MOLT_OK) {
            accepted++;
            sim_device_free(&back);
        } else {
            CHECK(e == MOLT_E_IO && (why == SIM_E_FORMAT || why == SIM_E_GEOMETRY), "round %d: %d, %d", round, e, why);
        }
    }
    CHECK_EQ(accepted, 0u);
    printf("device file of %zu bytes: formats 1-4 load, %u bit flips and %u truncations refused\n", len, flips, truncs);
    remove(path);
    free(v4);
    free(b);
    sim_device_free(&dev);
}

int main(void)
{
    check_layouts();
    check_areas();
    check_counters();
    check_devfile_formats();
    return check_done();
}
