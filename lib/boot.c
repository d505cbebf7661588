/*
 * boot.c - what runs at reset (molt/boot.h): check the port, read the
 * counter, hand over to the activation mode's file, and the helpers they share.
 *
 *   boot_swap.c       SWAP: activation, trial, revert (PRIMARY executes)
 *   boot_remap.c      REMAP: A/B slots, trial and revert without copying
 *   boot_overwrite.c  OVERWRITE: copy for good, not revertible
 *   boot_request.c    the application's side: request, confirm, trial query
 *   counter.c         the one place the security counter moves
 *   judge.c           the one policy every image is judged by
 *   bootrec.c         the state only the boot code writes
 * Nothing here keeps state between calls: flash is the only memory.
 */
#include <string.h>

#include "boot_int.h"
#include "molt/awdt.h"
#include "counter.h"

molt_err_t molt_boot_judge(const molt_port_t *port, const molt_boot_cfg_t *cfg, unsigned id, uint32_t base,
                           molt_role_t role, uint32_t nv, const molt_version_t *min_ver, molt_verify_result_t *vr)
{
    molt_judge_in_t in = {role, nv, min_ver, false, cfg->deps, NULL, cfg->keyrot, cfg->stage};
    return molt_judge_slot(port, id, base, &in, vr);
}

void molt_boot_id(const molt_verify_result_t *vr, uint8_t id[MOLT_ID_LEN])
{
    memset(id, 0, MOLT_ID_LEN);
    memcpy(id, vr->hash, vr->hash_len < MOLT_ID_LEN ? vr->hash_len : MOLT_ID_LEN);
}

molt_err_t molt_boot_secure(const molt_port_t *port, molt_err_t why)
{
    if (port->no_image != NULL)
        port->no_image(port->ctx, why);
    return MOLT_E_NO_IMAGE;
}

molt_err_t molt_boot_run(const molt_port_t *port, unsigned id, const molt_verify_result_t *vr, bool trial,
                         molt_boot_result_t *res)
{
    molt_err_t err;

    res->slot = (uint8_t)id;
    res->image = vr->image;
    res->trial = trial;
    molt_boot_id(vr, res->id);
    if (!trial && (err = molt_counter_commit(port, &vr->image)) != MOLT_OK)
        return err;
    return molt_counter_get(port, &res->counter);
}

uint8_t molt_boot_request_of(const molt_trailer_t *t)
{
    if (!t->magic_good)
        return MOLT_SWAP_NONE;
    if (molt_tr_is_unset(t, t->image_ok))
        return MOLT_SWAP_TEST;
    return molt_tr_is_set(t, t->image_ok) ? MOLT_SWAP_PERM : MOLT_SWAP_NONE;
}

molt_err_t molt_boot_clear_request(const molt_area_t *a, bool *cleared)
{
    bool blank;
    molt_err_t err = molt_tr_blank(a, &blank);

    *cleared = false;
    if (err != MOLT_OK || blank)
        return err;
    *cleared = true;
    return molt_tr_erase(a);
}

bool molt_boot_cfg_ok(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    if (port == NULL || cfg == NULL || cfg->mode > MOLT_MODE_OVERWRITE)
        return false;
    for (unsigned k = 0; k < MOLT_AREA_COUNT; k++) {
        const molt_area_t *a = &port->area[k];
        if (k == MOLT_AREA_STATUS && cfg->mode == MOLT_MODE_OVERWRITE)
            continue;
        if (a->read == NULL || a->write == NULL || a->erase == NULL || a->sector == NULL)
            return false;
    }
    return true;
}

/* Every mode by cfg->mode: the one place that names all three (a boot stage
 * calling molt_boot_go_with() links only its own). */
molt_err_t molt_boot_go(const molt_port_t *port, const molt_boot_cfg_t *cfg, molt_boot_result_t *res)
{
    molt_boot_cfg_t c;

    if (cfg == NULL || cfg->activate != NULL)
        return molt_boot_go_with(port, cfg, res);
    c = *cfg;
    switch (cfg->mode) {
    case MOLT_MODE_SWAP: c.activate = molt_boot_swap; break;
    case MOLT_MODE_REMAP: c.activate = molt_boot_remap; break;
    case MOLT_MODE_OVERWRITE: c.activate = molt_boot_overwrite; break;
    default: return MOLT_E_ARG;
    }
    return molt_boot_go_with(port, &c, res);
}

molt_err_t molt_boot_go_with(const molt_port_t *port, const molt_boot_cfg_t *cfg, molt_boot_result_t *res)
{
    uint32_t nv;
    molt_err_t err;

    if (res == NULL || !molt_boot_cfg_ok(port, cfg) || cfg->activate == NULL)
        return MOLT_E_ARG;
    memset(res, 0, sizeof *res);
    if ((err = molt_counter_get(port, &nv)) != MOLT_OK)
        return err;
    err = cfg->activate(port, cfg, nv, res);
    /* The watchdog decides after the activation, on the image that will run;
     * it never changes which image that is, only whether the application may
     * start (docs/awdt.md). */
    if (err == MOLT_OK && cfg->awdt != NULL) {
        if (cfg->awdt->boot == NULL) {
            res->recovery = true;
            res->awdt_err = MOLT_E_ARG;
        } else {
            bool activated = res->action == MOLT_ACT_UPGRADE_TEST || res->action == MOLT_ACT_UPGRADE_PERM;
            unsigned how = (res->trial ? 0u : MOLT_AWDT_RUN_CONFIRMED) | (activated ? MOLT_AWDT_RUN_ACTIVATED : 0u);
            res->awdt_err = cfg->awdt->boot(cfg->awdt, &res->image, how, &res->recovery, &res->boots);
        }
    }
    return err;
}
