/*
 * sim_stage.c - the two-stage boot chain and the key set on the simulator
 * (see sim_stage.h). Everything device-side is libmolt: stage 0 is
 * molt_boot_go() in REMAP mode over the stage-1 slots, the key set is
 * lib/keyrot.c over the stage device's data area.
 */
#include "sim_stage.h"

#include <string.h>

/* lib/boot_int.h (internal): REMAP's confirmed slot from the boot record, -1
 * with no record. Declared here so the port needs no private include path. */
int molt_remap_confirmed(const molt_port_t *port);

const molt_boot_cfg_t sim_stage0_cfg = {.mode = MOLT_MODE_REMAP, .stage = MOLT_STAGE_1};

#define KEYSET_HALF_MIN 4096u

molt_err_t sim_stage_layout(sim_layout_t *l, uint32_t sector_size, uint32_t slot_sectors, uint32_t write_align,
                            uint8_t erase_value)
{
    molt_err_t e;
    if (sector_size == 0)
        return MOLT_E_LAYOUT;
    if ((e = sim_layout_uniform(l, sector_size, slot_sectors, write_align, erase_value)) != MOLT_OK)
        return e;
    l->mode = MOLT_MODE_REMAP;
    uint32_t half = (KEYSET_HALF_MIN + sector_size - 1u) / sector_size;
    return sim_layout_add_data(l, 2u * half);
}

static void wire(sim_stage_t *st, const molt_keyring_t *roots, uint32_t threshold)
{
    memset(&st->keyrot, 0, sizeof st->keyrot);
    st->keyrot.area = sim_device_data_area(&st->dev);
    st->keyrot.roots = roots;
    st->keyrot.threshold = threshold;
    st->keyrot.ws = &st->ws;
    st->keyrot.ring = molt_keyrot_ring;
    st->keyrot.names_retired = molt_keyrot_names_retired;
}

molt_err_t sim_stage_init(sim_stage_t *st, const sim_layout_t *l, const molt_keyring_t *keys,
                          const molt_keyring_t *roots, uint32_t threshold)
{
    molt_err_t e;
    memset(st, 0, sizeof *st);
    if (l->data_count < 2u)
        return MOLT_E_LAYOUT;
    if ((e = sim_device_init(&st->dev, l, keys)) != MOLT_OK)
        return e;
    wire(st, roots, threshold);
    return MOLT_OK;
}

molt_err_t sim_stage_load(sim_stage_t *st, const char *path, const molt_keyring_t *keys,
                          const molt_keyring_t *roots, uint32_t threshold, sim_res_t *why)
{
    molt_err_t e;
    memset(st, 0, sizeof *st);
    if ((e = sim_device_load(&st->dev, path, keys, why)) != MOLT_OK)
        return e;
    if (sim_device_data_area(&st->dev) == NULL || st->dev.layout.mode != MOLT_MODE_REMAP) {
        sim_device_free(&st->dev);
        if (why != NULL)
            *why = SIM_E_FORMAT;
        return MOLT_E_LAYOUT;
    }
    wire(st, roots, threshold);
    return MOLT_OK;
}

molt_err_t sim_stage_save(const sim_stage_t *st, const char *path) { return sim_device_save(&st->dev, path); }

void sim_stage_free(sim_stage_t *st) { sim_device_free(&st->dev); }

molt_err_t sim_stage_reboot(sim_stage_t *st) { return sim_device_reboot(&st->dev); }

molt_err_t sim_stage_copy(sim_stage_t *dst, const sim_stage_t *src) { return sim_device_copy(&dst->dev, &src->dev); }

molt_err_t sim_stage_boot0(sim_stage_t *st, molt_boot_result_t *r)
{
    molt_err_t e;
    memset(r, 0, sizeof *r);
    e = molt_boot_go(&st->dev.port, &sim_stage0_cfg, r);
    if (e == MOLT_OK)
        sim_device_set_boot_slot(&st->dev, r->slot);
    return e;
}

molt_err_t sim_stage_factory(sim_stage_t *st, const uint8_t *img, size_t len)
{
    return sim_device_program(&st->dev, MOLT_AREA_PRIMARY, 0, img, len);
}

molt_err_t sim_stage_install(sim_stage_t *st, const uint8_t *img, size_t len, bool permanent, uint32_t *slot)
{
    molt_err_t e;
    int c = molt_remap_confirmed(&st->dev.port);
    if (c < 0)
        return MOLT_E_NO_IMAGE;
    uint32_t target = c == 0 ? MOLT_AREA_SECONDARY : MOLT_AREA_PRIMARY;
    if (slot != NULL)
        *slot = target;
    if ((e = sim_device_program(&st->dev, target, 0, img, len)) != MOLT_OK)
        return e;
    /* REMAP: the request goes to the slot that is not confirmed, i.e. target. */
    return molt_request_upgrade(&st->dev.port, &sim_stage0_cfg, permanent);
}

molt_err_t sim_stage_confirm(sim_stage_t *st) { return molt_confirm(&st->dev.port, &sim_stage0_cfg); }

molt_err_t sim_stage_keyupdate(sim_stage_t *st, const molt_keyring_t *factory, const uint8_t *ku, size_t len,
                               const molt_source_t *running)
{
    if (st->keyrot.roots == NULL || st->keyrot.threshold == 0)
        return MOLT_E_ARG;
    return molt_keyrot_apply(&st->keyrot, factory, ku, len, running);
}

molt_err_t sim_stage_keyset_seq(sim_stage_t *st, uint32_t *seq)
{
    molt_err_t e = molt_keyrot_load(&st->keyrot);
    if (e == MOLT_OK)
        *seq = st->ws.set.seq;
    return e;
}

molt_boot_cfg_t sim_stage_app_cfg(sim_stage_t *st, molt_boot_cfg_t base)
{
    base.keyrot = &st->keyrot;
    return base;
}
