/*
 * boot_request.c - the application's side of the boot code (MCUboot
 * semantics, so MCUboot-style tools drive molt): where to stage, how to ask
 * for an activation, how to confirm, and whether a trial runs.
 *
 * A request is only a wish: the boot code judges the image staged when it
 * acts on it, and records its decision where the application cannot write.
 * So a request is written from an erased trailer unless the trailer already
 * holds exactly this request: a stale trailer (confirmed, rejected, a torn
 * magic) can neither turn the request into something else nor swallow it,
 * and a partly programmed unit is never programmed again (write-once flash).
 */
#include <string.h>

#include "boot_int.h"

uint32_t molt_boot_staging_offset(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    const molt_area_t *sa;
    molt_sector_t s0;

    if (port == NULL || cfg == NULL || cfg->mode != MOLT_MODE_SWAP)
        return 0;
    sa = &port->area[MOLT_AREA_SECONDARY];
    return sa->sector != NULL && sa->sector(sa->ctx, 0, &s0) == MOLT_OK ? s0.size : 0u;
}

molt_err_t molt_boot_in_trial(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool *trial)
{
    unsigned slot;

    if (trial == NULL || !molt_boot_cfg_ok(port, cfg))
        return MOLT_E_ARG;
    *trial = false;
    if (cfg->mode == MOLT_MODE_SWAP)
        return molt_swap_in_trial(port, trial);
    if (cfg->mode == MOLT_MODE_REMAP)
        return molt_remap_in_trial(port, trial, &slot);
    return MOLT_OK;
}

static bool is_exactly(const molt_trailer_t *t, bool permanent)
{
    uint8_t want = (uint8_t)(permanent ? MOLT_SWAP_PERM : MOLT_SWAP_TEST);
    return t->magic_good && molt_tr_is_unset(t, t->copy_done) && t->swap_info == want &&
           (permanent ? molt_tr_is_set(t, t->image_ok) : molt_tr_is_unset(t, t->image_ok));
}

/* trust_blank: the caller erased the trailer sector itself and wrote nothing
 * there but its own units (the update API). Otherwise a trailer that reads
 * erased may still be a sector the application's torn erase left unfit to
 * program, so it is erased as well. */
static molt_err_t write_request(const molt_area_t *a, bool permanent, bool trust_blank)
{
    molt_trailer_t t;
    bool blank;
    molt_err_t err;

    if ((err = molt_tr_read(a, &t)) != MOLT_OK || (err = molt_tr_blank(a, &blank)) != MOLT_OK)
        return err;
    if (is_exactly(&t, permanent))
        return MOLT_OK;
    /* Anything else there -- another request, flags, a torn unit -- goes first. */
    if ((!blank || !trust_blank) && (err = molt_tr_erase(a)) != MOLT_OK)
        return err;
    /* MCUboot's boot_set_pending order: magic, image_ok, swap_info. */
    if ((err = molt_tr_write_magic(a)) != MOLT_OK)
        return err;
    if (permanent && (err = molt_tr_write_field(a, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    return molt_tr_write_field(a, MOLT_TR_SWAP_INFO, (uint8_t)(permanent ? MOLT_SWAP_PERM : MOLT_SWAP_TEST));
}

static molt_err_t request(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent, bool trust_blank)
{
    bool trial;
    molt_err_t err;

    if (!molt_boot_cfg_ok(port, cfg))
        return MOLT_E_ARG;
    /* While a trial runs, the revert that is due takes precedence (every mode). */
    if ((err = molt_boot_in_trial(port, cfg, &trial)) != MOLT_OK)
        return err;
    if (trial)
        return MOLT_E_STATE;
    if (cfg->mode == MOLT_MODE_REMAP) {
        int cs = molt_remap_confirmed(port);
        return write_request(&port->area[cs == (int)MOLT_AREA_SECONDARY ? MOLT_AREA_PRIMARY : MOLT_AREA_SECONDARY],
                             permanent, trust_blank);
    }
    return write_request(&port->area[MOLT_AREA_SECONDARY], permanent, trust_blank);
}

molt_err_t molt_request_upgrade(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent)
{
    return request(port, cfg, permanent, false);
}

molt_err_t molt_boot_request_own(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent)
{
    return request(port, cfg, permanent, true);
}

/* Set image_ok in a running slot's trailer; a unit the application spoiled is
 * rewritten with the rest of the trailer (the sector holds no code). */
static molt_err_t set_image_ok(const molt_area_t *a)
{
    molt_trailer_t t;
    molt_err_t err = molt_tr_read(a, &t);

    if (err != MOLT_OK || molt_tr_is_set(&t, t.image_ok))
        return err;
    if (molt_tr_is_unset(&t, t.image_ok))
        return molt_tr_write_field(a, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET);
    if ((err = molt_tr_erase(a)) != MOLT_OK || (err = molt_tr_write_field(a, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK ||
        (err = molt_tr_write_field(a, MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    return molt_tr_write_magic(a);
}

molt_err_t molt_confirm(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    bool trial = false;
    unsigned slot = MOLT_AREA_PRIMARY;
    molt_err_t err;

    if (!molt_boot_cfg_ok(port, cfg))
        return MOLT_E_ARG;
    if (cfg->mode == MOLT_MODE_SWAP)
        err = molt_swap_in_trial(port, &trial);
    else if (cfg->mode == MOLT_MODE_REMAP)
        err = molt_remap_in_trial(port, &trial, &slot);
    else
        err = MOLT_OK;
    if (err != MOLT_OK || !trial)
        return err; /* already confirmed */
    return set_image_ok(&port->area[slot]);
}
