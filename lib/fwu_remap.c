/*
 * fwu_remap.c - the update API's A/B (REMAP) component: the stage-1 boot code
 * behind stage 0 (molt/fwu.h, molt_fwu_ab_t; docs/boot-chain.md).
 *
 * Only where the download goes is A/B-specific; lib/fwu.c does the rest
 * through this one hook, so a build that never calls molt_fwu_add_remap()
 * links none of it. Which slot is confirmed and whether a trial runs come
 * from stage 0's boot record (lib/boot_remap.c), state only the boot code
 * writes; this file only reads flash.
 */
#include "boot_int.h"
#include "fwu_int.h"

static molt_err_t ab_where(molt_fwu_comp_t *c, bool *trial)
{
    unsigned ts;
    int cs;
    molt_err_t err = molt_remap_in_trial(c->port, trial, &ts);

    if (err != MOLT_OK)
        return err;
    if (*trial) {
        c->slot = (uint8_t)ts;
        return MOLT_OK;
    }
    cs = molt_remap_confirmed(c->port);
    if (cs < 0 || cs >= (int)MOLT_SLOT_COUNT)
        return MOLT_E_NO_IMAGE;
    c->slot = (uint8_t)(1 - cs);
    return MOLT_OK;
}

static const molt_fwu_ab_t ab_hooks = {ab_where};

molt_err_t molt_fwu_add_remap(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                              const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot)
{
    return molt_fwu_add_ab(fwu, id, port, cfg, boot, &ab_hooks);
}
