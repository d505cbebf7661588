/*
 * sim_devfile.c - the simulated device in a file, so `molt sim` can keep a
 * device between commands (sim_device_save / sim_device_load, sim_port.h).
 *
 * Device file (little-endian):
 *   0  magic "MOLTSIMD"     8  version 4      12 mode
 *   16 first[4]             32 count[4]       48 length of the flash file
 *   52 CRC-32 of bytes 0..51
 *   56 a complete sim_flash_save() file (its own CRC covers it)
 *   then (version 2) the attestation key store, KS_SIZE bytes:
 *   0  magic "MOLTKEYS"     8  flags (bit 0: IAK present)   12 boot slot (int32, -1 none)
 *   16 IAK private scalar (32)   48 IAK public point (65)   113 zero (3)
 *   116 boot seed (32)      148 CRC-32 of bytes 0..147
 *   then (version 3) the data area, DATA_SIZE bytes:
 *   0  magic "MOLTDATA"     8  first sector   12 sector count (0: none)
 *   16 CRC-32 of bytes 0..15
 *   then (version 4) the watchdog's isolated parts, SIM_AWDT_FILE_SIZE bytes
 *   (sim_awdt.c, its own magic and CRC).
 * Version 1 files (no key store) still load, without an IAK; versions 1 and 2
 * without a data area; versions 1 to 3 without a watchdog.
 */
#include "sim_port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEV_MAGIC   "MOLTSIMD"
#define DEV_VERSION 4u
#define DEV_HDR     56u
#define KS_MAGIC    "MOLTKEYS"
#define KS_SIZE     152u
#define DATA_MAGIC  "MOLTDATA"
#define DATA_SIZE   20u
#define TAIL_SIZE   (KS_SIZE + DATA_SIZE + SIM_AWDT_FILE_SIZE) /* what follows the flash (version 4) */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* --- host files ------------------------------------------------------------- */

static char *path_plus(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (s != NULL) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b + 1);
    }
    return s;
}

/* The whole file, with room for extra more bytes after it (malloc'd). */
static uint8_t *slurp(const char *path, size_t *len, size_t extra)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (unsigned long)n <= 2ul * SIM_FLASH_MAX_SIZE && (buf = malloc((size_t)n + extra + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, fp) == (size_t)n) {
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(fp);
    return buf;
}

static bool spill(const char *path, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    FILE *fp = fopen(path, "wb");
    bool good;

    if (fp == NULL)
        return false;
    good = fwrite(a, 1, alen, fp) == alen && (blen == 0 || fwrite(b, 1, blen, fp) == blen) &&
           fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    return fclose(fp) == 0 && good;
}

/* --- blocks ------------------------------------------------------------------- */

static void pack_keys(const sim_attest_store_t *ks, uint8_t out[KS_SIZE])
{
    memset(out, 0, KS_SIZE);
    memcpy(out, KS_MAGIC, 8);
    put32(out + 8, ks->has_iak ? 1u : 0u);
    put32(out + 12, (uint32_t)ks->boot_slot);
    memcpy(out + 16, ks->iak_priv, 32);
    memcpy(out + 48, ks->iak_pub, 65);
    memcpy(out + 116, ks->boot_seed, 32);
    put32(out + 148, sim_crc32(0, out, 148));
}

static bool unpack_keys(sim_attest_store_t *ks, const uint8_t *in)
{
    if (memcmp(in, KS_MAGIC, 8) != 0 || get32(in + 148) != sim_crc32(0, in, 148) || get32(in + 8) > 1u)
        return false;
    ks->has_iak = get32(in + 8) == 1u;
    ks->boot_slot = (int32_t)get32(in + 12);
    memcpy(ks->iak_priv, in + 16, 32);
    memcpy(ks->iak_pub, in + 48, 65);
    memcpy(ks->boot_seed, in + 116, 32);
    return ks->boot_slot >= -1 && ks->boot_slot <= 1 && (!ks->has_iak || ks->iak_pub[0] == 0x04);
}

static void pack_data(const sim_layout_t *l, uint8_t out[DATA_SIZE])
{
    memcpy(out, DATA_MAGIC, 8);
    put32(out + 8, l->data_first);
    put32(out + 12, l->data_count);
    put32(out + 16, sim_crc32(0, out, 16));
}

static bool unpack_data(sim_layout_t *l, const uint8_t *in)
{
    if (memcmp(in, DATA_MAGIC, 8) != 0 || get32(in + 16) != sim_crc32(0, in, 16))
        return false;
    l->data_first = get32(in + 8);
    l->data_count = get32(in + 12);
    return true;
}

static void pack_header(const sim_layout_t *l, uint32_t flash_len, uint8_t out[DEV_HDR])
{
    memcpy(out, DEV_MAGIC, 8);
    put32(out + 8, DEV_VERSION);
    put32(out + 12, l->mode);
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        put32(out + 16 + 4 * p, l->first[p]);
        put32(out + 32 + 4 * p, l->count[p]);
    }
    put32(out + 48, flash_len);
    put32(out + 52, sim_crc32(0, out, 52));
}

/* --- save ---------------------------------------------------------------------- */

/* The flash as sim_flash_save() writes it, followed by room for the tail. */
static uint8_t *flash_image(const sim_device_t *dev, const char *path, size_t *flen)
{
    char *fpath = path_plus(path, ".flash");
    uint8_t *flash = NULL;

    if (fpath != NULL && sim_flash_save(&dev->flash, fpath) == MOLT_OK) {
        flash = slurp(fpath, flen, TAIL_SIZE);
        remove(fpath);
    }
    free(fpath);
    if (flash != NULL && *flen > UINT32_MAX - TAIL_SIZE) {
        free(flash);
        flash = NULL;
    }
    return flash;
}

molt_err_t sim_device_save(const sim_device_t *dev, const char *path)
{
    char *tmp = path_plus(path, ".tmp");
    uint8_t hdr[DEV_HDR], *flash = NULL;
    size_t flen = 0;
    molt_err_t e = MOLT_E_IO;

    if (tmp == NULL || (flash = flash_image(dev, path, &flen)) == NULL)
        goto out;
    pack_keys(&dev->ks, flash + flen);
    pack_data(&dev->layout, flash + flen + KS_SIZE);
    sim_awdt_serialize(&dev->aw, flash + flen + KS_SIZE + DATA_SIZE);
    pack_header(&dev->layout, (uint32_t)flen, hdr);
    if (spill(tmp, hdr, sizeof hdr, flash, flen + TAIL_SIZE) && rename(tmp, path) == 0)
        e = MOLT_OK;
    else
        remove(tmp);
out:
    free(flash);
    free(tmp);
    return e;
}

/* --- load ---------------------------------------------------------------------- */

/* Sizes of the blocks after the flash file, by file version; false if unknown. */
static bool tail_sizes(uint32_t version, size_t *kslen, size_t *dtlen, size_t *awlen)
{
    if (version < 1u || version > DEV_VERSION)
        return false;
    *kslen = version >= 2u ? KS_SIZE : 0;
    *dtlen = version >= 3u ? DATA_SIZE : 0;
    *awlen = version >= 4u ? SIM_AWDT_FILE_SIZE : 0;
    return true;
}

/* Header, key store, data area and watchdog of buf into dev; *flen: the
 * length of the embedded flash file. False if anything is malformed. */
static bool parse_file(sim_device_t *dev, const uint8_t *buf, size_t len, size_t *flen)
{
    size_t kslen, dtlen, awlen;

    if (len < DEV_HDR || memcmp(buf, DEV_MAGIC, 8) != 0 || get32(buf + 52) != sim_crc32(0, buf, 52) ||
        !tail_sizes(get32(buf + 8), &kslen, &dtlen, &awlen))
        return false;
    if (len - DEV_HDR < kslen + dtlen + awlen || get32(buf + 48) != len - DEV_HDR - kslen - dtlen - awlen)
        return false;
    *flen = len - DEV_HDR - kslen - dtlen - awlen;
    const uint8_t *ks = buf + DEV_HDR + *flen, *dt = ks + kslen, *aw = dt + dtlen;
    if (awlen == 0)
        sim_awdt_wire(&dev->aw);
    else if (!sim_awdt_deserialize(&dev->aw, aw))
        return false;
    if (dtlen != 0 && !unpack_data(&dev->layout, dt))
        return false;
    dev->ks.boot_slot = -1;
    if (kslen != 0 && !unpack_keys(&dev->ks, ks))
        return false;
    dev->layout.mode = get32(buf + 12);
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        dev->layout.first[p] = get32(buf + 16 + 4 * p);
        dev->layout.count[p] = get32(buf + 32 + 4 * p);
    }
    return true;
}

/* The embedded flash file through sim_flash_load (it reads files). */
static molt_err_t load_flash(sim_device_t *dev, const char *path, const uint8_t *flash, size_t flen,
                             sim_res_t *why)
{
    char *fpath = path_plus(path, ".flash");
    molt_err_t e = MOLT_E_IO;

    *why = SIM_E_FILE;
    if (fpath != NULL && spill(fpath, flash, flen, NULL, 0))
        e = sim_flash_load(&dev->flash, fpath, NULL, why);
    if (fpath != NULL)
        remove(fpath);
    free(fpath);
    return e;
}

molt_err_t sim_device_load(sim_device_t *dev, const char *path, const molt_keyring_t *keys,
                           sim_res_t *why)
{
    sim_res_t dummy;
    size_t len = 0, flen = 0;
    uint8_t *buf;
    molt_err_t e = MOLT_E_IO;

    if (why == NULL)
        why = &dummy;
    memset(dev, 0, sizeof *dev);
    *why = SIM_E_FILE;
    if ((buf = slurp(path, &len, 0)) == NULL)
        return MOLT_E_IO;
    *why = SIM_E_FORMAT;
    if (!parse_file(dev, buf, len, &flen))
        goto out;
    if ((e = load_flash(dev, path, buf + DEV_HDR, flen, why)) != MOLT_OK)
        goto out;
    dev->layout.geom = dev->flash.geom;
    *why = SIM_E_FORMAT;
    e = MOLT_E_IO;
    if (sim_layout_check(&dev->layout) != MOLT_OK || sim_device_attach(dev, keys) != MOLT_OK) {
        sim_device_free(dev);
        goto out;
    }
    *why = SIM_OK;
    e = MOLT_OK;
out:
    free(buf);
    return e;
}
