/*
 * sim_port.c - the host port: the molt_port_t of a simulated device over its
 * flash, NV counters, key stores and watchdog (see sim_port.h; layouts are
 * sim_layout.c, the attestation key store sim_attest.c, the device file
 * sim_devfile.c).
 */
#include "sim_port.h"
#include "sim_keystore.h"

#include <stdlib.h>
#include <string.h>

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

/* --- attestation (sim_attest.c) -------------------------------------------- */

static molt_err_t dev_attest_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
    const sim_device_t *dev = ctx;
    return sim_attest_sign(&dev->ks, digest, sig);
}

molt_err_t sim_device_new_boot(sim_device_t *dev)
{
    sim_awdt_reset(&dev->aw);
    return sim_attest_new_boot(&dev->ks);
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

/* One area over sectors [first, first + count) of the flash. */
static molt_err_t map_area(sim_device_t *dev, uint32_t first, uint32_t count, sim_area_ctx_t *ctx,
                           molt_area_t *area)
{
    sim_flash_sector_t s0, s1;

    if (sim_flash_sector_info(&dev->flash, first, &s0) != MOLT_OK ||
        sim_flash_sector_info(&dev->flash, first + count - 1u, &s1) != MOLT_OK)
        return MOLT_E_LAYOUT;
    *ctx = (sim_area_ctx_t){dev, s0.offset, s1.offset + s1.size - s0.offset};
    *area = (molt_area_t){
        .size = ctx->size,
        .write_align = dev->layout.geom.write_align,
        .erase_value = dev->layout.geom.erase_value,
        .read = area_read,
        .write = area_write,
        .erase = area_erase,
        .sector = area_sector,
        .ctx = ctx,
    };
    return MOLT_OK;
}

molt_err_t sim_device_attach(sim_device_t *dev, const molt_keyring_t *keys)
{
    molt_port_t *p = &dev->port;

    memset(p, 0, sizeof *p);
    for (uint32_t id = 0; id < MOLT_AREA_COUNT; id++)
        if (map_area(dev, dev->layout.first[id], dev->layout.count[id], &dev->actx[id], &p->area[id]) != MOLT_OK)
            return MOLT_E_LAYOUT;
    memset(&dev->data, 0, sizeof dev->data);
    if (dev->layout.data_count != 0 &&
        map_area(dev, dev->layout.data_first, dev->layout.data_count, &dev->data_ctx, &dev->data) != MOLT_OK)
        return MOLT_E_LAYOUT;
    p->nv_read = dev_nv_read;
    p->nv_advance = dev_nv_advance;
    if (keys != NULL)
        p->keys = *keys;
    p->random = dev_random;
    p->no_image = dev_no_image;
    p->ctx = dev;
    dev->rng = 0x6d6f6c74u;
    if (sim_attest_impl_id(&dev->ks) != MOLT_OK)
        return MOLT_E_CRYPTO;
    sim_attest_wire(p, &dev->ks, dev_attest_sign);
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
    if ((e = sim_attest_provision(&dev->ks)) != MOLT_OK || (e = sim_device_new_boot(dev)) != MOLT_OK ||
        (e = sim_device_attach(dev, keys)) != MOLT_OK)
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
    sim_attest_wire(&dst->port, &dst->ks, dev_attest_sign);
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
