/*
 * sim_port.c - the host port: molt_port_t areas and NV counters over the
 * flash simulator, standard layouts, and device files (see sim_port.h).
 *
 * Device file (little-endian), so `molt sim` can keep a device between commands:
 *   0  magic "MOLTSIMD"     8  version 2      12 mode
 *   16 first[4]             32 count[4]       48 length of the flash file
 *   52 CRC-32 of bytes 0..51
 *   56 a complete sim_flash_save() file (its own CRC covers it)
 *   then (version 2) the key store, KS_SIZE bytes:
 *   0  magic "MOLTKEYS"     8  flags (bit 0: IAK present)   12 boot slot (int32, -1 none)
 *   16 IAK private scalar (32)   48 IAK public point (65)   113 zero (3)
 *   116 boot seed (32)      148 CRC-32 of bytes 0..147
 *   then (version 3) the data area, DATA_SIZE bytes:
 *   0  magic "MOLTDATA"     8  first sector   12 sector count (0: none)
 *   16 CRC-32 of bytes 0..15
 *   then (version 4) the watchdog's isolated parts, SIM_AWDT_FILE_SIZE bytes
 *   (sim_awdt.c, its own magic and CRC).
 * Version 1 files (no key store) still load, without an IAK; versions 1 and 2
 * without a data area.
 */
#include "sim_port.h"
#include "sim_keystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <psa/crypto.h>

#include "molt/attest.h"

#define DEV_MAGIC   "MOLTSIMD"
#define DEV_VERSION 4u
#define DEV_VERSION_NO_AWDT 3u
#define DEV_VERSION_NO_DATA 2u
#define DEV_VERSION_NO_KEYS 1u
#define DEV_HDR     56u
#define KS_MAGIC    "MOLTKEYS"
#define KS_SIZE     152u
#define DATA_MAGIC  "MOLTDATA"
#define DATA_SIZE   20u

/* --- layouts --------------------------------------------------------------- */

static uint32_t nv_slot(uint32_t align)
{
    return (SIM_NVCNT_RECORD + align - 1u) / align * align;
}

/* Smallest sector able to hold the NV counters at this alignment. */
static uint32_t nv_min_sector(uint32_t align)
{
    return (SIM_NVCNT_COUNTERS + 2u) * nv_slot(align);
}

static molt_err_t layout_from_regions(sim_layout_t *l, uint32_t slot_regions)
{
    /* regions [0, slot_regions): PRIMARY; the same again: SECONDARY; then STATUS + NV. */
    uint32_t slot = 0;
    for (uint32_t i = 0; i < slot_regions; i++)
        slot += l->geom.regions[i].count;
    l->first[MOLT_AREA_PRIMARY] = 0;
    l->count[MOLT_AREA_PRIMARY] = slot;
    l->first[MOLT_AREA_SECONDARY] = slot;
    l->count[MOLT_AREA_SECONDARY] = slot;
    l->first[MOLT_AREA_STATUS] = 2 * slot;
    l->count[MOLT_AREA_STATUS] = SIM_STATUS_SECTORS;
    l->first[SIM_PART_NV] = 2 * slot + SIM_STATUS_SECTORS;
    l->count[SIM_PART_NV] = 2;
    return sim_layout_check(l);
}

/* Append the STATUS sector and the two NV sectors in sectors of size s (or a
 * separate region of larger sectors for NV when s is too small). */
static molt_err_t add_tail(sim_layout_t *l, uint32_t s)
{
    uint32_t n = l->geom.nregions;
    uint32_t need = nv_min_sector(l->geom.write_align);

    if (s >= need) {
        if (n >= SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        l->geom.regions[n] = (sim_flash_region_t){s, SIM_STATUS_SECTORS + 2};
        l->geom.nregions = n + 1;
    } else {
        if (n + 2 > SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        uint32_t big = (need + s - 1u) / s * s;
        l->geom.regions[n] = (sim_flash_region_t){s, SIM_STATUS_SECTORS};
        l->geom.regions[n + 1] = (sim_flash_region_t){big, 2};
        l->geom.nregions = n + 2;
    }
    return MOLT_OK;
}

static void merge_regions(sim_flash_geom_t *g)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < g->nregions; i++) {
        if (out > 0 && g->regions[out - 1].sector_size == g->regions[i].sector_size)
            g->regions[out - 1].count += g->regions[i].count;
        else
            g->regions[out++] = g->regions[i];
    }
    for (uint32_t i = out; i < g->nregions; i++)
        g->regions[i] = (sim_flash_region_t){0, 0};
    g->nregions = out;
}

molt_err_t sim_layout_uniform(sim_layout_t *l, uint32_t sector_size, uint32_t slot_sectors,
                              uint32_t write_align, uint8_t erase_value)
{
    memset(l, 0, sizeof *l);
    if (sector_size == 0 || slot_sectors == 0 || slot_sectors > SIM_FLASH_MAX_SIZE / 2 / sector_size)
        return MOLT_E_LAYOUT;
    l->geom.write_align = write_align;
    l->geom.erase_value = erase_value;
    l->geom.regions[0] = (sim_flash_region_t){sector_size, 2 * slot_sectors};
    l->geom.nregions = 1;
    if (add_tail(l, sector_size) != MOLT_OK)
        return MOLT_E_LAYOUT;
    merge_regions(&l->geom);
    /* Sector indices do not depend on region merging. */
    l->first[MOLT_AREA_PRIMARY] = 0;
    l->count[MOLT_AREA_PRIMARY] = slot_sectors;
    l->first[MOLT_AREA_SECONDARY] = slot_sectors;
    l->count[MOLT_AREA_SECONDARY] = slot_sectors;
    l->first[MOLT_AREA_STATUS] = 2 * slot_sectors;
    l->count[MOLT_AREA_STATUS] = SIM_STATUS_SECTORS;
    l->first[SIM_PART_NV] = 2 * slot_sectors + SIM_STATUS_SECTORS;
    l->count[SIM_PART_NV] = 2;
    return sim_layout_check(l);
}

molt_err_t sim_layout_mixed(sim_layout_t *l, uint32_t small_size, uint32_t small_count,
                            uint32_t big_size, uint32_t big_count, uint32_t write_align,
                            uint8_t erase_value)
{
    memset(l, 0, sizeof *l);
    if (small_size == 0 || big_size == 0 || small_count == 0 || big_count == 0)
        return MOLT_E_LAYOUT;
    l->geom.write_align = write_align;
    l->geom.erase_value = erase_value;
    l->geom.regions[0] = (sim_flash_region_t){small_size, small_count};
    l->geom.regions[1] = (sim_flash_region_t){big_size, big_count};
    l->geom.regions[2] = (sim_flash_region_t){small_size, small_count};
    l->geom.regions[3] = (sim_flash_region_t){big_size, big_count};
    l->geom.nregions = 4;
    if (add_tail(l, small_size) != MOLT_OK)
        return MOLT_E_LAYOUT;
    return layout_from_regions(l, 2);
}

molt_err_t sim_layout_add_data(sim_layout_t *l, uint32_t count)
{
    uint32_t n = l->geom.nregions, total = 0, s = l->geom.regions[0].sector_size;

    if (count < 2u || n == 0u)
        return MOLT_E_LAYOUT;
    for (uint32_t i = 0; i < n; i++)
        total += l->geom.regions[i].count;
    if (l->geom.regions[n - 1].sector_size == s) {
        l->geom.regions[n - 1].count += count;
    } else {
        if (n >= SIM_FLASH_MAX_REGIONS)
            return MOLT_E_LAYOUT;
        l->geom.regions[n] = (sim_flash_region_t){s, count};
        l->geom.nregions = n + 1;
    }
    l->data_first = total;
    l->data_count = count;
    return sim_layout_check(l);
}

molt_err_t sim_layout_check(const sim_layout_t *l)
{
    uint32_t nsectors = 0;

    if (sim_flash_geom_check(&l->geom, NULL) != MOLT_OK)
        return MOLT_E_LAYOUT;
    for (uint32_t i = 0; i < l->geom.nregions; i++) {
        nsectors += l->geom.regions[i].count;
    }
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        if (l->count[p] == 0 || l->first[p] >= nsectors || l->count[p] > nsectors - l->first[p])
            return MOLT_E_LAYOUT;
        for (uint32_t q = 0; q < p; q++)
            if (l->first[p] < l->first[q] + l->count[q] && l->first[q] < l->first[p] + l->count[p])
                return MOLT_E_LAYOUT;
    }
    if (l->count[SIM_PART_NV] != 2)
        return MOLT_E_LAYOUT;
    if (l->data_count != 0) {
        if (l->data_count < 2 || l->data_first >= nsectors || l->data_count > nsectors - l->data_first)
            return MOLT_E_LAYOUT;
        for (uint32_t q = 0; q < SIM_PART_COUNT; q++)
            if (l->data_first < l->first[q] + l->count[q] && l->first[q] < l->data_first + l->data_count)
                return MOLT_E_LAYOUT;
    }
    /* Both NV sectors must hold the counters. */
    uint32_t idx = 0;
    for (uint32_t i = 0; i < l->geom.nregions; i++) {
        for (uint32_t k = 0; k < l->geom.regions[i].count; k++, idx++) {
            if ((idx == l->first[SIM_PART_NV] || idx == l->first[SIM_PART_NV] + 1) &&
                l->geom.regions[i].sector_size < nv_min_sector(l->geom.write_align))
                return MOLT_E_LAYOUT;
        }
    }
    return MOLT_OK;
}

/* --- areas ---------------------------------------------------------------- */

static bool in_area(const sim_area_ctx_t *a, uint32_t off, size_t len)
{
    return off <= a->size && len <= (size_t)(a->size - off);
}

static molt_err_t area_refuse(sim_area_ctx_t *a)
{
    a->dev->flash.last = SIM_E_RANGE;
    return MOLT_E_ARG;
}

/* Device failures of write/erase are MOLT_E_FLASH; caller mistakes stay MOLT_E_ARG. */
static molt_err_t flash_err(const sim_area_ctx_t *a, molt_err_t e)
{
    return e == MOLT_E_IO ? (a->dev->flash.last == SIM_E_NOMEM ? MOLT_E_IO : MOLT_E_FLASH) : e;
}

static molt_err_t area_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    sim_area_ctx_t *a = ctx;
    if (!in_area(a, off, len))
        return area_refuse(a);
    return sim_flash_read(&a->dev->flash, a->base + off, buf, len);
}

static molt_err_t area_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    sim_area_ctx_t *a = ctx;
    if (!in_area(a, off, len))
        return area_refuse(a);
    return flash_err(a, sim_flash_write(&a->dev->flash, a->base + off, buf, len));
}

static molt_err_t area_erase(void *ctx, uint32_t off, uint32_t len)
{
    sim_area_ctx_t *a = ctx;
    if (!in_area(a, off, len))
        return area_refuse(a);
    return flash_err(a, sim_flash_erase(&a->dev->flash, a->base + off, len));
}

static molt_err_t area_sector(void *ctx, uint32_t off, molt_sector_t *sec)
{
    sim_area_ctx_t *a = ctx;
    sim_flash_sector_t s;
    molt_err_t e;

    if (off >= a->size)
        return area_refuse(a);
    if ((e = sim_flash_sector_at(&a->dev->flash, a->base + off, &s)) != MOLT_OK)
        return e;
    sec->off = s.offset - a->base;
    sec->size = s.size;
    return MOLT_OK;
}

/* --- NV counters, random, no_image ---------------------------------------- */

static molt_err_t dev_nv_read(void *ctx, uint32_t id, uint32_t *value)
{
    sim_device_t *dev = ctx;
    if (!dev->nv.mounted && sim_device_remount(dev) != MOLT_OK)
        return MOLT_E_NV;
    return sim_nvcnt_read(&dev->nv, id, value) == MOLT_OK ? MOLT_OK : MOLT_E_NV;
}

static molt_err_t dev_nv_advance(void *ctx, uint32_t id, uint32_t value)
{
    sim_device_t *dev = ctx;
    if (!dev->nv.mounted && sim_device_remount(dev) != MOLT_OK)
        return MOLT_E_NV;
    if (sim_nvcnt_advance(&dev->nv, id, value) != MOLT_OK)
        return MOLT_E_NV;
    if (id < SIM_NVCNT_COUNTERS && value > dev->nv_advanced[id])
        dev->nv_advanced[id] = value;
    return MOLT_OK;
}

static molt_err_t dev_random(void *ctx, void *buf, size_t len)
{
    sim_device_t *dev = ctx;
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (dev->rng += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        p[i] = (uint8_t)(z ^ (z >> 31));
    }
    return MOLT_OK;
}

static void dev_no_image(void *ctx, molt_err_t why)
{
    sim_device_t *dev = ctx;
    dev->no_image_calls++;
    dev->no_image_why = why;
}

/* --- key store: IAK, boot seed, boot record (R-ATTEST, R-ASSETS) ----------- */

#define IAK_ALG PSA_ALG_ECDSA(PSA_ALG_SHA_256)

static molt_err_t ks_init_psa(void)
{
    return psa_crypto_init() == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

/* The signing door libmolt gets: the private scalar is imported into a
 * volatile PSA key for one signature and destroyed. */
static molt_err_t dev_attest_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
    sim_device_t *dev = ctx;
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key = 0;
    size_t n = 0;
    psa_status_t st;

    if (!dev->ks.has_iak || ks_init_psa() != MOLT_OK)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, IAK_ALG);
    if (psa_import_key(&at, dev->ks.iak_priv, sizeof dev->ks.iak_priv, &key) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    st = psa_sign_hash(key, IAK_ALG, digest, 32, sig, 64, &n);
    psa_destroy_key(key);
    return st == PSA_SUCCESS && n == 64 ? MOLT_OK : MOLT_E_CRYPTO;
}

/* Point the port's attestation members at the key store (or clear them). */
static void wire_attest(sim_device_t *dev)
{
    molt_port_t *p = &dev->port;
    bool on = dev->ks.has_iak;
    p->attest_sign = on ? dev_attest_sign : NULL;
    p->attest_pub = on ? dev->ks.iak_pub : NULL;
    p->attest_impl_id = on ? dev->ks.impl_id : NULL;
    p->attest_boot_seed = on ? dev->ks.boot_seed : NULL;
    p->attest_lifecycle = MOLT_LIFECYCLE_SECURED;
}

static molt_err_t ks_impl_id(sim_device_t *dev)
{
    static const char name[] = "molt sim port";
    size_t n = 0;
    if (ks_init_psa() != MOLT_OK ||
        psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)name, sizeof name - 1u, dev->ks.impl_id,
                         sizeof dev->ks.impl_id, &n) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}

/* Provision a fresh IAK for this device. */
static molt_err_t ks_provision(sim_device_t *dev)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key = 0;
    size_t n = 0, m = 0;
    molt_err_t e = MOLT_E_CRYPTO;

    if (ks_init_psa() != MOLT_OK)
        return MOLT_E_CRYPTO;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_EXPORT);
    psa_set_key_algorithm(&at, IAK_ALG);
    if (psa_generate_key(&at, &key) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    if (psa_export_key(key, dev->ks.iak_priv, sizeof dev->ks.iak_priv, &n) == PSA_SUCCESS && n == 32 &&
        psa_export_public_key(key, dev->ks.iak_pub, sizeof dev->ks.iak_pub, &m) == PSA_SUCCESS && m == 65) {
        dev->ks.has_iak = true;
        e = MOLT_OK;
    }
    psa_destroy_key(key);
    return e;
}

molt_err_t sim_device_new_boot(sim_device_t *dev)
{
    dev->ks.boot_slot = -1;
    sim_awdt_reset(&dev->aw);
    if (ks_init_psa() != MOLT_OK ||
        psa_generate_random(dev->ks.boot_seed, sizeof dev->ks.boot_seed) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    return MOLT_OK;
}

void sim_device_set_boot_slot(sim_device_t *dev, uint32_t slot)
{
    dev->ks.boot_slot = slot < 2u ? (int32_t)slot : -1;
}

/* --- device ---------------------------------------------------------------- */

const molt_area_t *sim_device_data_area(const sim_device_t *dev)
{
    return dev->layout.data_count != 0 ? &dev->data : NULL;
}

uint32_t sim_device_area_base(const sim_device_t *dev, uint32_t id)
{
    return id < MOLT_AREA_COUNT ? dev->actx[id].base : 0;
}

static molt_err_t dev_enc_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer, size_t len, uint8_t shared[32])
{
    sim_device_t *dev = ctx;
    return dev->key_store ? sim_keystore_ecdh(dev->key_store, tlv_type, peer, len, shared) : MOLT_E_ENC_NO_KEY;
}

static molt_err_t dev_enc_envelope(void *ctx, const uint8_t *digest, size_t len, const uint8_t **env, size_t *env_len)
{
    sim_device_t *dev = ctx;
    return dev->key_store ? sim_keystore_envelope(dev->key_store, digest, len, env, env_len) : MOLT_E_ENC_NO_KEY;
}

static molt_err_t dev_enc_rsa_unwrap(void *ctx, const uint8_t *wrapped, size_t len, uint8_t *key, size_t key_max,
                                     size_t *key_len)
{
    sim_device_t *dev = ctx;
    return dev->key_store ? sim_keystore_rsa_unwrap(dev->key_store, wrapped, len, key, key_max, key_len)
                          : MOLT_E_ENC_NO_KEY;
}

void sim_device_set_keystore(sim_device_t *dev, void *key_store)
{
    dev->key_store = key_store;
    dev->port.enc_ecdh = key_store ? dev_enc_ecdh : NULL;
    dev->port.enc_envelope = key_store ? dev_enc_envelope : NULL;
    dev->port.enc_rsa_unwrap = key_store ? dev_enc_rsa_unwrap : NULL;
    dev->port.enc_ops = key_store ? &molt_enc_ops : NULL; /* lib/enc.c's decryption */
}

/* Wire the port to an initialised flash and a checked layout. */
static molt_err_t attach(sim_device_t *dev, const molt_keyring_t *keys)
{
    molt_port_t *p = &dev->port;

    memset(p, 0, sizeof *p);
    for (uint32_t id = 0; id < MOLT_AREA_COUNT; id++) {
        sim_flash_sector_t first, last;
        uint32_t end = dev->layout.first[id] + dev->layout.count[id] - 1;
        if (sim_flash_sector_info(&dev->flash, dev->layout.first[id], &first) != MOLT_OK ||
            sim_flash_sector_info(&dev->flash, end, &last) != MOLT_OK)
            return MOLT_E_LAYOUT;
        dev->actx[id] = (sim_area_ctx_t){dev, first.offset, last.offset + last.size - first.offset};
        p->area[id] = (molt_area_t){
            .size = dev->actx[id].size,
            .write_align = dev->layout.geom.write_align,
            .erase_value = dev->layout.geom.erase_value,
            .read = area_read,
            .write = area_write,
            .erase = area_erase,
            .sector = area_sector,
            .ctx = &dev->actx[id],
        };
    }
    memset(&dev->data, 0, sizeof dev->data);
    if (dev->layout.data_count != 0) {
        sim_flash_sector_t first, last;
        if (sim_flash_sector_info(&dev->flash, dev->layout.data_first, &first) != MOLT_OK ||
            sim_flash_sector_info(&dev->flash, dev->layout.data_first + dev->layout.data_count - 1, &last) != MOLT_OK)
            return MOLT_E_LAYOUT;
        dev->data_ctx = (sim_area_ctx_t){dev, first.offset, last.offset + last.size - first.offset};
        dev->data = (molt_area_t){
            .size = dev->data_ctx.size,
            .write_align = dev->layout.geom.write_align,
            .erase_value = dev->layout.geom.erase_value,
            .read = area_read,
            .write = area_write,
            .erase = area_erase,
            .sector = area_sector,
            .ctx = &dev->data_ctx,
        };
    }
    p->nv_read = dev_nv_read;
    p->nv_advance = dev_nv_advance;
    if (keys != NULL)
        p->keys = *keys;
    p->random = dev_random;
    p->no_image = dev_no_image;
    p->ctx = dev;
    dev->rng = 0x6d6f6c74u;
    if (ks_impl_id(dev) != MOLT_OK)
        return MOLT_E_CRYPTO;
    wire_attest(dev);
    return sim_device_remount(dev);
}

molt_err_t sim_device_init(sim_device_t *dev, const sim_layout_t *l, const molt_keyring_t *keys)
{
    molt_err_t e;

    memset(dev, 0, sizeof *dev);
    if (sim_layout_check(l) != MOLT_OK)
        return MOLT_E_LAYOUT;
    dev->layout = *l;
    sim_awdt_wire(&dev->aw);
    if ((e = sim_flash_init(&dev->flash, &l->geom)) != MOLT_OK)
        return e;
    if ((e = ks_provision(dev)) != MOLT_OK || (e = sim_device_new_boot(dev)) != MOLT_OK ||
        (e = attach(dev, keys)) != MOLT_OK)
        sim_device_free(dev);
    return e;
}

void sim_device_free(sim_device_t *dev)
{
    sim_flash_free(&dev->flash);
    dev->nv.mounted = false;
}

molt_err_t sim_device_remount(sim_device_t *dev)
{
    return sim_nvcnt_mount(&dev->nv, &dev->flash, dev->layout.first[SIM_PART_NV]) == MOLT_OK
               ? MOLT_OK
               : MOLT_E_NV;
}

molt_err_t sim_device_reboot(sim_device_t *dev)
{
    sim_flash_reboot(&dev->flash);
    if (sim_device_new_boot(dev) != MOLT_OK)
        return MOLT_E_CRYPTO;
    return sim_device_remount(dev);
}

molt_err_t sim_device_copy(sim_device_t *dst, const sim_device_t *src)
{
    const sim_flash_t *s = &src->flash;
    sim_flash_t *d = &dst->flash;

    if (s->size != d->size || s->nsectors != d->nsectors ||
        s->geom.write_align != d->geom.write_align ||
        memcmp(src->layout.first, dst->layout.first, sizeof src->layout.first) != 0 ||
        memcmp(src->layout.count, dst->layout.count, sizeof src->layout.count) != 0 ||
        src->layout.data_first != dst->layout.data_first || src->layout.data_count != dst->layout.data_count)
        return MOLT_E_ARG;
    memcpy(d->mem, s->mem, s->size);
    memcpy(d->wear, s->wear, s->nsectors * sizeof *s->wear);
    memcpy(d->programmed, s->programmed, ((size_t)(s->size / s->geom.write_align) + 7u) / 8u);
    d->flags = s->flags;
    memcpy(dst->nv_advanced, src->nv_advanced, sizeof dst->nv_advanced);
    dst->ks = src->ks; /* the same device: the same IAK */
    dst->aw = src->aw;
    sim_awdt_wire(&dst->aw);
    wire_attest(dst);
    dst->no_image_calls = 0;
    dst->no_image_why = MOLT_OK;
    return sim_device_reboot(dst);
}

molt_err_t sim_device_program(sim_device_t *dev, uint32_t id, uint32_t off, const void *data,
                              size_t len)
{
    if (id >= MOLT_AREA_COUNT || len == 0)
        return MOLT_E_ARG;
    const molt_area_t *a = &dev->port.area[id];
    uint32_t al = a->write_align;
    if (off % al != 0 || off > a->size)
        return MOLT_E_ARG;
    if (len > a->size - off)
        return MOLT_E_TOO_LARGE;
    size_t padded = (len + al - 1u) / al * al;
    if (padded > a->size - off)
        return MOLT_E_TOO_LARGE;
    /* erase [first sector start, last sector end) */
    molt_sector_t s0, s1;
    molt_err_t e;
    if ((e = a->sector(a->ctx, off, &s0)) != MOLT_OK ||
        (e = a->sector(a->ctx, off + (uint32_t)padded - 1u, &s1)) != MOLT_OK ||
        (e = a->erase(a->ctx, s0.off, s1.off + s1.size - s0.off)) != MOLT_OK)
        return e;
    uint8_t *buf = malloc(padded);
    if (buf == NULL)
        return MOLT_E_IO;
    memset(buf, a->erase_value, padded);
    memcpy(buf, data, len);
    e = a->write(a->ctx, off, buf, padded);
    free(buf);
    return e;
}

/* --- files ----------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

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

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (unsigned long)n <= 2ul * SIM_FLASH_MAX_SIZE && (buf = malloc((size_t)n + 1)) != NULL) {
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

molt_err_t sim_device_save(const sim_device_t *dev, const char *path)
{
    char *fpath = path_plus(path, ".flash"), *tmp = path_plus(path, ".tmp");
    uint8_t hdr[DEV_HDR], *flash = NULL;
    size_t flen = 0;
    molt_err_t e = MOLT_E_IO;
    uint8_t ks[KS_SIZE];

    memset(ks, 0, sizeof ks);
    memcpy(ks, KS_MAGIC, 8);
    put32(ks + 8, dev->ks.has_iak ? 1u : 0u);
    put32(ks + 12, (uint32_t)dev->ks.boot_slot);
    memcpy(ks + 16, dev->ks.iak_priv, 32);
    memcpy(ks + 48, dev->ks.iak_pub, 65);
    memcpy(ks + 116, dev->ks.boot_seed, 32);
    put32(ks + 148, sim_crc32(0, ks, 148));
    uint8_t dt[DATA_SIZE];
    memcpy(dt, DATA_MAGIC, 8);
    put32(dt + 8, dev->layout.data_first);
    put32(dt + 12, dev->layout.data_count);
    put32(dt + 16, sim_crc32(0, dt, 16));
    if (fpath == NULL || tmp == NULL)
        goto out;
    if (sim_flash_save(&dev->flash, fpath) != MOLT_OK)
        goto out;
    flash = slurp(fpath, &flen);
    remove(fpath);
    if (flash == NULL || flen > UINT32_MAX - KS_SIZE - DATA_SIZE - SIM_AWDT_FILE_SIZE)
        goto out;
    {
        uint8_t *all = realloc(flash, flen + KS_SIZE + DATA_SIZE + SIM_AWDT_FILE_SIZE);
        if (all == NULL)
            goto out;
        flash = all;
        memcpy(flash + flen, ks, KS_SIZE);
        memcpy(flash + flen + KS_SIZE, dt, DATA_SIZE);
        sim_awdt_serialize(&dev->aw, flash + flen + KS_SIZE + DATA_SIZE);
    }
    memcpy(hdr, DEV_MAGIC, 8);
    put32(hdr + 8, DEV_VERSION);
    put32(hdr + 12, dev->layout.mode);
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        put32(hdr + 16 + 4 * p, dev->layout.first[p]);
        put32(hdr + 32 + 4 * p, dev->layout.count[p]);
    }
    put32(hdr + 48, (uint32_t)flen);
    put32(hdr + 52, sim_crc32(0, hdr, 52));
    if (spill(tmp, hdr, sizeof hdr, flash, flen + KS_SIZE + DATA_SIZE + SIM_AWDT_FILE_SIZE) && rename(tmp, path) == 0)
        e = MOLT_OK;
    else
        remove(tmp);
out:
    free(flash);
    free(fpath);
    free(tmp);
    return e;
}

molt_err_t sim_device_load(sim_device_t *dev, const char *path, const molt_keyring_t *keys,
                           sim_res_t *why)
{
    sim_res_t dummy;
    size_t len = 0;
    uint8_t *buf;
    char *fpath = NULL;
    molt_err_t e = MOLT_E_IO;

    if (why == NULL)
        why = &dummy;
    memset(dev, 0, sizeof *dev);
    *why = SIM_E_FILE;
    if ((buf = slurp(path, &len)) == NULL)
        return MOLT_E_IO;
    *why = SIM_E_FORMAT;
    if (len < DEV_HDR || memcmp(buf, DEV_MAGIC, 8) != 0 || get32(buf + 52) != sim_crc32(0, buf, 52))
        goto out;
    uint32_t version = get32(buf + 8);
    size_t awlen = version == DEV_VERSION ? SIM_AWDT_FILE_SIZE : 0;
    size_t dtlen = version == DEV_VERSION || version == DEV_VERSION_NO_AWDT ? DATA_SIZE : 0;
    size_t kslen = version == DEV_VERSION || version == DEV_VERSION_NO_AWDT || version == DEV_VERSION_NO_DATA ? KS_SIZE : 0;
    if ((version != DEV_VERSION && version != DEV_VERSION_NO_AWDT && version != DEV_VERSION_NO_DATA &&
         version != DEV_VERSION_NO_KEYS) ||
        len - DEV_HDR < kslen + dtlen + awlen || get32(buf + 48) != len - DEV_HDR - kslen - dtlen - awlen)
        goto out;
    const uint8_t *ks = buf + len - awlen - dtlen - kslen, *dt = buf + len - awlen - dtlen, *aw = buf + len - awlen;
    if (awlen != 0 && !sim_awdt_deserialize(&dev->aw, aw))
        goto out;
    if (awlen == 0)
        sim_awdt_wire(&dev->aw);
    if (dtlen != 0) {
        if (memcmp(dt, DATA_MAGIC, 8) != 0 || get32(dt + 16) != sim_crc32(0, dt, 16))
            goto out;
        dev->layout.data_first = get32(dt + 8);
        dev->layout.data_count = get32(dt + 12);
    }
    kslen += dtlen + awlen; /* the flash file ends before all three */
    dev->ks.boot_slot = -1;
    if (kslen != 0) {
        if (memcmp(ks, KS_MAGIC, 8) != 0 || get32(ks + 148) != sim_crc32(0, ks, 148) || get32(ks + 8) > 1u)
            goto out;
        dev->ks.has_iak = get32(ks + 8) == 1u;
        dev->ks.boot_slot = (int32_t)get32(ks + 12);
        memcpy(dev->ks.iak_priv, ks + 16, 32);
        memcpy(dev->ks.iak_pub, ks + 48, 65);
        memcpy(dev->ks.boot_seed, ks + 116, 32);
        if (dev->ks.boot_slot < -1 || dev->ks.boot_slot > 1 || (dev->ks.has_iak && dev->ks.iak_pub[0] != 0x04))
            goto out;
    }
    dev->layout.mode = get32(buf + 12);
    for (uint32_t p = 0; p < SIM_PART_COUNT; p++) {
        dev->layout.first[p] = get32(buf + 16 + 4 * p);
        dev->layout.count[p] = get32(buf + 32 + 4 * p);
    }
    *why = SIM_E_FILE;
    if ((fpath = path_plus(path, ".flash")) == NULL || !spill(fpath, buf + DEV_HDR, len - DEV_HDR - kslen, NULL, 0))
        goto out;
    e = sim_flash_load(&dev->flash, fpath, NULL, why);
    remove(fpath);
    if (e != MOLT_OK)
        goto out;
    dev->layout.geom = dev->flash.geom;
    *why = SIM_E_FORMAT;
    e = MOLT_E_IO;
    if (sim_layout_check(&dev->layout) != MOLT_OK || attach(dev, keys) != MOLT_OK) {
        sim_device_free(dev);
        goto out;
    }
    *why = SIM_OK;
    e = MOLT_OK;
out:
    free(fpath);
    free(buf);
    return e;
}
