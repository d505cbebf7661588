/*
 * boot_remap.c - REMAP (A/B) mode: either slot executes; no copying at all.
 *
 * The slot that is not running is the application's staging area, trailer
 * included, and so is the confirmed slot while a trial runs from the other
 * one. The slot trailers therefore carry only requests (wishes); which slot is
 * confirmed, which one is in trial and what a revert goes back to is the boot
 * record's (bootrec.h), bound to the images' identities:
 *   GENESIS      no record yet (factory first boot, a documented policy):
 *                slot A runs if it verifies, else slot B; it is recorded as
 *                confirmed before any application code runs;
 *   REMAP_TRIAL  new_slot in trial, old_slot (old_id) confirmed. Marks:
 *                STARTED (both trailers cleared: no stale trailer survives an
 *                activation), then CONFIRMED or REJECTED at the next reset;
 *   REMAP_PERM   new_slot confirmed by a permanent request (STARTED as above).
 * A request is honoured only with no trial running, only from the slot that is
 * not confirmed, and only for an image newer than the confirmed one that
 * verifies now; an image without a request never runs.
 */
#include <string.h>

#include "boot_int.h"

static molt_err_t mark_done(const molt_port_t *port, const molt_bootrec_t *r, uint32_t k, bool *done)
{
    return molt_bootrec_mark_done(port, r, k, done);
}

static molt_err_t slot_confirm_flag(const molt_port_t *port, unsigned k, bool *set)
{
    molt_trailer_t t;
    molt_err_t err = molt_tr_read(&port->area[k], &t);
    *set = err == MOLT_OK && molt_tr_is_set(&t, t.image_ok);
    return err;
}

/* The slot the record says is confirmed, and its identity; -1 with no record.
 * A trial counts as confirmed once its flag is set, unless it was rejected. */
static int confirmed_slot(const molt_port_t *port, const molt_bootrec_t *r, const uint8_t **id)
{
    bool confirmed = false, rejected = false, started = false, flag = false;

    *id = NULL;
    if (!r->valid || r->new_slot >= MOLT_SLOT_COUNT)
        return -1;
    if (r->type == MOLT_REC_REMAP_TRIAL) {
        if (mark_done(port, r, MOLT_MARK_CONFIRMED, &confirmed) != MOLT_OK ||
            mark_done(port, r, MOLT_MARK_REJECTED, &rejected) != MOLT_OK ||
            mark_done(port, r, MOLT_MARK_STARTED, &started) != MOLT_OK ||
            slot_confirm_flag(port, r->new_slot, &flag) != MOLT_OK)
            return -1;
        if (!confirmed && (rejected || !started || !flag)) {
            *id = r->old_id;
            return r->old_slot < MOLT_SLOT_COUNT ? (int)r->old_slot : -1;
        }
    }
    *id = r->new_id;
    return (int)r->new_slot;
}

molt_err_t molt_remap_in_trial(const molt_port_t *port, bool *trial, unsigned *slot)
{
    molt_bootrec_t r;
    bool started, confirmed, rejected, flag;
    molt_err_t err = molt_bootrec_read(port, &r);

    *trial = false;
    *slot = 0;
    if (err != MOLT_OK || !r.valid || r.type != MOLT_REC_REMAP_TRIAL || r.new_slot >= MOLT_SLOT_COUNT)
        return err;
    if ((err = mark_done(port, &r, MOLT_MARK_STARTED, &started)) != MOLT_OK || !started ||
        (err = mark_done(port, &r, MOLT_MARK_CONFIRMED, &confirmed)) != MOLT_OK || confirmed ||
        (err = mark_done(port, &r, MOLT_MARK_REJECTED, &rejected)) != MOLT_OK || rejected ||
        (err = slot_confirm_flag(port, r.new_slot, &flag)) != MOLT_OK)
        return err;
    *trial = !flag;
    *slot = r.new_slot;
    return MOLT_OK;
}

int molt_remap_confirmed(const molt_port_t *port)
{
    molt_bootrec_t r;
    const uint8_t *id;
    return molt_bootrec_read(port, &r) == MOLT_OK ? confirmed_slot(port, &r, &id) : -1;
}

/* Judge slot k as installed, with its identity checked against id if given. */
static molt_err_t judge_slot(const molt_port_t *port, const molt_boot_cfg_t *cfg, unsigned k, uint32_t nv,
                             const uint8_t *id, molt_verify_result_t *vr)
{
    uint8_t got[MOLT_ID_LEN];
    molt_err_t err = molt_boot_judge(port, cfg, k, 0, MOLT_ROLE_INSTALLED, nv, NULL, vr);

    if (err != MOLT_OK)
        return err;
    molt_boot_id(vr, got);
    return id == NULL || memcmp(got, id, MOLT_ID_LEN) == 0 ? MOLT_OK : MOLT_E_REVERT_LOST;
}

/* Both trailers cleared, then STARTED: the activation's requests are consumed. */
static molt_err_t start(const molt_port_t *port, const molt_bootrec_t *r)
{
    bool started, cleared;
    molt_err_t err = mark_done(port, r, MOLT_MARK_STARTED, &started);

    if (err != MOLT_OK || started)
        return err;
    for (unsigned k = 0; k < MOLT_SLOT_COUNT; k++)
        if ((err = molt_boot_clear_request(&port->area[k], &cleared)) != MOLT_OK)
            return err;
    return molt_bootrec_mark(port, r, MOLT_MARK_STARTED);
}

/* A trial found at reset: confirmed by its flag, or rejected (reverted). */
static molt_err_t settle_trial(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *r,
                               uint32_t nv, bool *lost, molt_boot_result_t *res)
{
    molt_verify_result_t vr;
    bool flag, cleared;
    molt_err_t err = slot_confirm_flag(port, r->new_slot, &flag);

    if (err != MOLT_OK)
        return err;
    if (flag)
        return molt_bootrec_mark(port, r, MOLT_MARK_CONFIRMED);
    /* Not confirmed at reset: revert to the recorded image, and only to it. */
    if (r->old_slot >= MOLT_SLOT_COUNT || judge_slot(port, cfg, r->old_slot, nv, r->old_id, &vr) != MOLT_OK) {
        *lost = true;
        return MOLT_OK;
    }
    if ((err = molt_boot_clear_request(&port->area[r->old_slot], &cleared)) != MOLT_OK)
        return err;
    res->request_cleared = cleared;
    res->action = MOLT_ACT_REVERT;
    return molt_bootrec_mark(port, r, MOLT_MARK_REJECTED);
}

/* No record: the factory image (slot A if it verifies, else slot B) becomes
 * the confirmed one before any application code runs. */
static molt_err_t genesis(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *cur,
                          uint32_t nv)
{
    molt_verify_result_t vr;
    molt_bootrec_t g;

    for (unsigned k = 0; k < MOLT_SLOT_COUNT; k++) {
        if (judge_slot(port, cfg, k, nv, NULL, &vr) != MOLT_OK)
            continue;
        memset(&g, 0, sizeof g);
        g.type = MOLT_REC_GENESIS;
        g.new_slot = (uint8_t)k;
        g.old_slot = (uint8_t)(1u - k);
        molt_boot_id(&vr, g.new_id);
        return molt_bootrec_begin(port, cur, &g);
    }
    return MOLT_OK;
}

/* A request in the slot that is not confirmed: judged now, then recorded. */
static molt_err_t remap_request(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *cur,
                                unsigned cs, const molt_verify_result_t *cvr, uint32_t nv, molt_boot_result_t *res)
{
    unsigned o = 1u - cs;
    molt_verify_result_t vr;
    molt_trailer_t t;
    molt_bootrec_t next;
    bool cleared;
    molt_err_t err = molt_tr_read(&port->area[o], &t);
    uint8_t type = molt_boot_request_of(&t);

    if (err != MOLT_OK || (type != MOLT_SWAP_TEST && type != MOLT_SWAP_PERM))
        return err;
    err = judge_slot(port, cfg, o, nv, NULL, &vr);
    /* REMAP boots only forward: the new image must be newer than the confirmed one. */
    if (err == MOLT_OK && molt_version_cmp(&vr.image.version, &cvr->image.version) <= 0)
        err = MOLT_E_DOWNGRADE;
    if (err != MOLT_OK) {
        res->action = MOLT_ACT_REFUSED;
        res->staged_err = err;
        return molt_boot_clear_request(&port->area[o], &cleared);
    }
    memset(&next, 0, sizeof next);
    next.type = type == MOLT_SWAP_PERM ? MOLT_REC_REMAP_PERM : MOLT_REC_REMAP_TRIAL;
    next.new_slot = (uint8_t)o;
    next.old_slot = (uint8_t)cs;
    next.flags = MOLT_RECF_OLD;
    molt_boot_id(&vr, next.new_id);
    molt_boot_id(cvr, next.old_id);
    res->action = type == MOLT_SWAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_UPGRADE_TEST;
    if ((err = molt_bootrec_begin(port, cur, &next)) != MOLT_OK)
        return err;
    return start(port, &next);
}

molt_err_t molt_boot_remap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res)
{
    molt_verify_result_t vr;
    molt_bootrec_t r;
    const uint8_t *cid;
    bool lost = false, trial, started, confirmed, rejected;
    unsigned ts;
    int cs;
    molt_err_t err;

    if (cfg->mode != MOLT_MODE_REMAP)
        return MOLT_E_ARG; /* cfg.activate names another mode's entry */
    if ((err = molt_bootrec_read(port, &r)) != MOLT_OK)
        return err;
    if (r.valid && (r.type == MOLT_REC_REMAP_TRIAL || r.type == MOLT_REC_REMAP_PERM)) {
        if ((err = mark_done(port, &r, MOLT_MARK_STARTED, &started)) != MOLT_OK)
            return err;
        if (!started) {
            /* an activation a reset interrupted: consume its requests */
            res->resumed = true;
            res->action = r.type == MOLT_REC_REMAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_UPGRADE_TEST;
            if ((err = start(port, &r)) != MOLT_OK)
                return err;
        } else if (r.type == MOLT_REC_REMAP_TRIAL) {
            /* a trial found at reset: confirmed by its flag, or reverted */
            if ((err = mark_done(port, &r, MOLT_MARK_CONFIRMED, &confirmed)) != MOLT_OK ||
                (err = mark_done(port, &r, MOLT_MARK_REJECTED, &rejected)) != MOLT_OK)
                return err;
            if (!confirmed && !rejected && (err = settle_trial(port, cfg, &r, nv, &lost, res)) != MOLT_OK)
                return err;
        }
    }
    if (lost) {
        res->revert_lost = true;
        if (cfg->revert_lost == MOLT_REVERT_LOST_SECURE_STATE)
            return molt_boot_secure(port, MOLT_E_REVERT_LOST);
        if ((err = judge_slot(port, cfg, r.new_slot, nv, r.new_id, &vr)) != MOLT_OK)
            return molt_boot_secure(port, err);
        return molt_boot_run(port, r.new_slot, &vr, true, res);
    }
    if (!r.valid) {
        if ((err = genesis(port, cfg, &r, nv)) != MOLT_OK || (err = molt_bootrec_read(port, &r)) != MOLT_OK)
            return err;
        if (!r.valid)
            return molt_boot_secure(port, MOLT_E_NO_IMAGE);
    }
    cs = confirmed_slot(port, &r, &cid);
    if (cs < 0 || (err = judge_slot(port, cfg, (unsigned)cs, nv, cid, &vr)) != MOLT_OK)
        return molt_boot_secure(port, cs < 0 ? MOLT_E_NO_IMAGE : err);
    /* Requests only with no trial running, and not in a boot that settled one. */
    if ((err = molt_remap_in_trial(port, &trial, &ts)) != MOLT_OK)
        return err;
    if (!trial && res->action == MOLT_ACT_NONE) {
        if ((err = remap_request(port, cfg, &r, (unsigned)cs, &vr, nv, res)) != MOLT_OK)
            return err;
        if ((err = molt_remap_in_trial(port, &trial, &ts)) != MOLT_OK)
            return err;
        if (res->action == MOLT_ACT_UPGRADE_PERM) {
            if ((err = molt_bootrec_read(port, &r)) != MOLT_OK)
                return err;
            cs = confirmed_slot(port, &r, &cid);
            if (cs < 0 || (err = judge_slot(port, cfg, (unsigned)cs, nv, cid, &vr)) != MOLT_OK)
                return molt_boot_secure(port, cs < 0 ? MOLT_E_NO_IMAGE : err);
        }
    }
    if (trial) {
        if ((err = molt_bootrec_read(port, &r)) != MOLT_OK)
            return err;
        if ((err = judge_slot(port, cfg, ts, nv, r.new_id, &vr)) != MOLT_OK)
            return molt_boot_secure(port, err);
        return molt_boot_run(port, ts, &vr, true, res);
    }
    return molt_boot_run(port, (unsigned)cs, &vr, false, res);
}
