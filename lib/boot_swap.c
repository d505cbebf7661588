/*
 * boot_swap.c - SWAP mode: activate a staged image, run its trial, revert it.
 *
 * PRIMARY executes; the application stages in SECONDARY from its second sector
 * and can write every byte of SECONDARY, including its trailer and, while a
 * trial runs, the revert copy at SECONDARY + 0. So every decision is taken from
 * the boot record (bootrec.h), which only this code writes:
 *   activation   the staged image is judged now (counter, downgrade, key,
 *                dependencies); the record names it and the image it
 *                replaces, with their content-key checks, before a sector moves;
 *   trial        the record says "upgrade done, type TEST" and PRIMARY's
 *                image_ok is not set: a reset reverts, whatever any trailer
 *                in SECONDARY says (a request found then is ignored and
 *                cleared without touching the revert copy);
 *   revert       only the recorded image is installed back, judged again
 *                against the same counter floor; when it is missing or another
 *                one, cfg->revert_lost decides (run the trial unconfirmed, or
 *                the secure state) and the counter never moves for the trial;
 *   encryption   an image leaving PRIMARY is re-encrypted only under a key
 *                whose check value the record holds from when it was
 *                installed: an envelope anyone can make cannot choose it.
 */
#include <string.h>

#include "boot_int.h"
#include "crypto.h"
#include "enc_ops.h"
#include "keystore.h"
#include "molt/enc.h"
#include "swap.h"

static bool is_swap_rec(const molt_bootrec_t *r)
{
    return r->valid && (r->type == MOLT_REC_SWAP_TEST || r->type == MOLT_REC_SWAP_PERM);
}

static molt_err_t mark_done(const molt_port_t *port, const molt_bootrec_t *r, uint32_t k, bool *done)
{
    return molt_bootrec_mark_done(port, r, k, done);
}

/* PRIMARY's confirmation flag, the one trailer field the application writes there. */
static molt_err_t primary_confirmed(const molt_port_t *port, bool *yes)
{
    molt_trailer_t t;
    molt_err_t err = molt_tr_read(&port->area[MOLT_AREA_PRIMARY], &t);
    *yes = err == MOLT_OK && molt_tr_is_set(&t, t.image_ok);
    return err;
}

molt_err_t molt_swap_in_trial(const molt_port_t *port, bool *trial)
{
    molt_bootrec_t r;
    bool done, started, confirmed;
    molt_err_t err = molt_bootrec_read(port, &r);

    *trial = false;
    if (err != MOLT_OK || !r.valid || r.type != MOLT_REC_SWAP_TEST)
        return err;
    if ((err = mark_done(port, &r, MOLT_SWAP_UPG_DONE(r.n), &done)) != MOLT_OK || !done ||
        (err = mark_done(port, &r, MOLT_SWAP_REV_START(r.n), &started)) != MOLT_OK || started ||
        (err = primary_confirmed(port, &confirmed)) != MOLT_OK)
        return err;
    *trial = !confirmed;
    return MOLT_OK;
}

/* The image the record says PRIMARY holds once nothing is in progress. */
static void installed_of(const molt_port_t *port, const molt_bootrec_t *r, const uint8_t **id, const uint8_t **kcv)
{
    bool reverted = false;

    *id = *kcv = NULL;
    if (!r->valid)
        return;
    if (r->type == MOLT_REC_SWAP_TEST &&
        mark_done(port, r, MOLT_SWAP_REV_DONE(r->n), &reverted) == MOLT_OK && reverted) {
        *id = (r->flags & MOLT_RECF_OLD) ? r->old_id : NULL;
        *kcv = (r->flags & MOLT_RECF_OLD_KCV) ? r->old_kcv : NULL;
        return;
    }
    *id = r->new_id;
    *kcv = (r->flags & MOLT_RECF_NEW_KCV) ? r->new_kcv : NULL;
}

/* --- encrypted moves (R-CONF) -------------------------------------------------
 * Content keys are never stored: they are re-derived through the port's key
 * store, reading each image where the record's progress says it is, and must
 * match the check value the record holds for that image. */
typedef molt_swap_keys_t crypt_state_t;

/* The keys of a run from step k (lib/boot_swap_enc.c, through the port's
 * enc_ops): none on a device without decryption, which moves images as they
 * are (an encrypted upload never gets that far: judged, it is ENC_NO_KEY). */
static molt_err_t crypt_setup(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k,
                              const molt_bootrec_t *r, crypt_state_t *cs)
{
    memset(cs, 0, sizeof *cs);
    if (!molt_port_can_decrypt(port))
        return MOLT_OK;
    return port->enc_ops->swap_keys(port, plan, k, r, cs);
}

static void crypt_end(crypt_state_t *cs)
{
    if (cs->cx.ops != NULL)
        cs->cx.ops->swap_keys_end(cs);
}

/* --- finalize ----------------------------------------------------------------- */

/* PRIMARY's trailer for the new state (MCUboot's view for the application):
 * a trial is "copy done, not confirmed"; a permanent install or a completed
 * revert runs confirmed. Magic last: the trailer reads valid once complete. */
static molt_err_t write_primary_trailer(const molt_port_t *port, bool confirmed)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY];
    molt_err_t err;

    if ((err = molt_tr_erase(pa)) != MOLT_OK)
        return err;
    if (confirmed && (err = molt_tr_write_field(pa, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    if ((err = molt_tr_write_field(pa, MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    return molt_tr_write_magic(pa);
}

/* Run plan from step k with keys from r, then finalize and mark it done. */
static molt_err_t run_plan(const molt_port_t *port, const molt_bootrec_t *r, const molt_swap_plan_t *plan,
                           uint32_t k)
{
    crypt_state_t cs;
    bool rev = plan->type == MOLT_SWAP_REVERT;
    molt_err_t err;

    if ((err = crypt_setup(port, plan, k, r, &cs)) != MOLT_OK)
        return err;
    err = molt_swap_steps(port, r, plan, k, &cs.cx);
    crypt_end(&cs);
    if (err != MOLT_OK)
        return err;
    if ((err = write_primary_trailer(port, rev || plan->type == MOLT_SWAP_PERM)) != MOLT_OK)
        return err;
    /* The request is consumed with the activation; a revert leaves SECONDARY's
     * trailer sector alone (any request there was cleared before it started). */
    if (!rev && (err = molt_tr_erase(&port->area[MOLT_AREA_SECONDARY])) != MOLT_OK)
        return err;
    return molt_bootrec_mark(port, r, rev ? MOLT_SWAP_REV_DONE(plan->n) : MOLT_SWAP_UPG_DONE(plan->n));
}

static molt_err_t plan_of(const molt_port_t *port, const molt_bootrec_t *r, uint8_t type, molt_swap_plan_t *plan)
{
    const molt_area_t *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_sector_t s0;
    molt_err_t err = sa->sector(sa->ctx, 0, &s0);

    if (err != MOLT_OK)
        return err;
    if (r->n == 0u || s0.size == 0u)
        return MOLT_E_LAYOUT;
    /* The same sectors the activation recorded: a multiple of the first one. */
    return molt_swap_plan(port, type, r->n * s0.size, r->n * s0.size, plan);
}

static molt_err_t resume(const molt_port_t *port, const molt_bootrec_t *r, bool revert)
{
    molt_swap_plan_t plan;
    uint32_t k;
    molt_err_t err = plan_of(port, r, revert ? MOLT_SWAP_REVERT : (r->type == MOLT_REC_SWAP_PERM ? MOLT_SWAP_PERM
                                                                                                : MOLT_SWAP_TEST),
                             &plan);

    if (err == MOLT_OK)
        err = molt_swap_progress(port, r, &plan, &k);
    return err != MOLT_OK ? err : run_plan(port, r, &plan, k);
}

/* --- activation --------------------------------------------------------------- */

/* The staged image is refused: erase its header sector and the request so it
 * is not retried at every reset. Only ever called with no trial running: the
 * sectors it erases hold no revert copy then. */
static molt_err_t refuse_staged(const molt_port_t *port, uint32_t off, molt_err_t why, molt_boot_result_t *res)
{
    const molt_area_t *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_err_t err;

    res->action = MOLT_ACT_REFUSED;
    res->staged_err = why;
    if ((err = molt_tr_erase(sa)) != MOLT_OK)
        return err;
    return molt_area_erase_range(sa, off, 1);
}

static molt_err_t swap_upgrade(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *cur,
                               uint8_t type, uint32_t nv, molt_boot_result_t *res)
{
    uint32_t off = molt_boot_staging_offset(port, cfg);
    molt_verify_result_t ovr, nvr;
    molt_bootrec_t next;
    molt_swap_plan_t plan;
    crypt_state_t cs;
    const uint8_t *inst_id, *inst_kcv;
    bool have_old = molt_boot_judge(port, cfg, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &ovr) == MOLT_OK;
    molt_err_t err = molt_boot_judge(port, cfg, MOLT_AREA_SECONDARY, off, MOLT_ROLE_UPLOAD, nv,
                                     cfg->downgrade_prevention && have_old ? &ovr.image.version : NULL, &nvr);

    if (err == MOLT_OK)
        err = molt_swap_plan(port, type, have_old ? ovr.image.end : 0u, nvr.image.end, &plan);
    memset(&next, 0, sizeof next);
    next.type = type == MOLT_SWAP_PERM ? MOLT_REC_SWAP_PERM : MOLT_REC_SWAP_TEST;
    next.n = plan.n;
    molt_boot_id(&nvr, next.new_id);
    if (nvr.decrypted) {
        memcpy(next.new_kcv, nvr.kcv, MOLT_KCV_LEN);
        next.flags |= MOLT_RECF_NEW_KCV;
    }
    if (have_old) {
        molt_boot_id(&ovr, next.old_id);
        next.flags |= MOLT_RECF_OLD;
        installed_of(port, cur, &inst_id, &inst_kcv);
        if (inst_id != NULL && inst_kcv != NULL && memcmp(inst_id, next.old_id, MOLT_ID_LEN) == 0) {
            memcpy(next.old_kcv, inst_kcv, MOLT_KCV_LEN);
            next.flags |= MOLT_RECF_OLD_KCV;
        }
    }
    /* Both keys proven before anything moves: the entering one by the hash it
     * just gave, the leaving one by the record. */
    if (err == MOLT_OK && (err = crypt_setup(port, &plan, 0, &next, &cs)) == MOLT_OK)
        crypt_end(&cs);
    if (err != MOLT_OK)
        return refuse_staged(port, off, err, res);
    res->action = type == MOLT_SWAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_UPGRADE_TEST;
    if ((err = molt_bootrec_begin(port, cur, &next)) != MOLT_OK)
        return err;
    return run_plan(port, &next, &plan, 0);
}

/* First boot with no record: the image in PRIMARY was programmed before any
 * application ran (factory): record it as confirmed, with the check value of
 * its content key as the key store (and the envelope provisioned with it)
 * gives it now -- trust on first boot, before any application code could have
 * placed an envelope. From then on only the record decides. */
static molt_err_t genesis(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *cur,
                          uint32_t nv)
{
    molt_verify_result_t vr;
    molt_bootrec_t g;
    molt_area_src_t ctx;
    molt_source_t src;
    molt_decrypt_t dec;
    uint8_t key[MOLT_ENC_KEY_MAX];
    size_t klen = 0;

    if (molt_boot_judge(port, cfg, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &vr) != MOLT_OK)
        return MOLT_OK; /* nothing to record; the boot below ends in the secure state */
    memset(&g, 0, sizeof g);
    g.type = MOLT_REC_GENESIS;
    molt_boot_id(&vr, g.new_id);
    if ((vr.image.flags & MOLT_IMAGE_F_ENCRYPTED) && molt_port_can_decrypt(port)) {
        molt_area_source(&src, &ctx, &port->area[MOLT_AREA_PRIMARY], 0);
        uint8_t digest[64];
        size_t dlen;
        port->enc_ops->port_decrypt(port, &src, &dec, digest, &dlen);
        if (port->enc_ops->decrypt_key(port->enc_ops, &src, &vr.image, &dec, digest, dlen, key, &klen, g.new_kcv) ==
            MOLT_OK)
            g.flags |= MOLT_RECF_NEW_KCV;
        molt_wipe(key, sizeof key);
    }
    return molt_bootrec_begin(port, cur, &g);
}

/* --- revert ------------------------------------------------------------------- */

/* A trial was not confirmed: install back the recorded image. *lost when it is
 * not there (missing, damaged, another image, another key). */
static molt_err_t swap_revert(const molt_port_t *port, const molt_boot_cfg_t *cfg, const molt_bootrec_t *r,
                              uint32_t nv, bool *lost, molt_boot_result_t *res)
{
    molt_verify_result_t vr;
    molt_swap_plan_t plan;
    crypt_state_t cs;
    uint8_t id[MOLT_ID_LEN];
    /* The previous image went back to staging re-encrypted if it was encrypted:
     * judged as an upload then (decrypted while hashed). */
    molt_role_t role = molt_port_can_decrypt(port) ? MOLT_ROLE_UPLOAD : MOLT_ROLE_INSTALLED;
    molt_err_t err;

    *lost = true;
    if (!(r->flags & MOLT_RECF_OLD) ||
        molt_boot_judge(port, cfg, MOLT_AREA_SECONDARY, 0, role, nv, NULL, &vr) != MOLT_OK)
        return MOLT_OK;
    molt_boot_id(&vr, id);
    if (memcmp(id, r->old_id, MOLT_ID_LEN) != 0)
        return MOLT_OK; /* another image, however valid: never installed by a revert */
    if (vr.decrypted &&
        (!(r->flags & MOLT_RECF_OLD_KCV) || !molt_ct_equal(vr.kcv, r->old_kcv, MOLT_KCV_LEN)))
        return MOLT_OK;
    if (plan_of(port, r, MOLT_SWAP_REVERT, &plan) != MOLT_OK || crypt_setup(port, &plan, 0, r, &cs) != MOLT_OK)
        return MOLT_OK;
    crypt_end(&cs);
    *lost = false;
    res->action = MOLT_ACT_REVERT;
    if ((err = molt_bootrec_mark(port, r, MOLT_SWAP_REV_START(r->n))) != MOLT_OK)
        return err;
    return run_plan(port, r, &plan, 0);
}

/* --- the boot ------------------------------------------------------------------ */

/* Finish what the record says is under way; revert a trial not confirmed. */
static molt_err_t settle(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, bool *lost,
                         molt_boot_result_t *res)
{
    molt_bootrec_t r;
    bool done, started, confirmed, cleared;
    molt_err_t err = molt_bootrec_read(port, &r);

    *lost = false;
    if (err != MOLT_OK || !is_swap_rec(&r))
        return err;
    if ((err = mark_done(port, &r, MOLT_SWAP_UPG_DONE(r.n), &done)) != MOLT_OK)
        return err;
    if (!done) {
        res->resumed = true;
        res->action = r.type == MOLT_REC_SWAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_UPGRADE_TEST;
        return resume(port, &r, false);
    }
    if (r.type != MOLT_REC_SWAP_TEST)
        return MOLT_OK;
    if ((err = mark_done(port, &r, MOLT_SWAP_REV_START(r.n), &started)) != MOLT_OK)
        return err;
    if (started) {
        if ((err = mark_done(port, &r, MOLT_SWAP_REV_DONE(r.n), &done)) != MOLT_OK || done)
            return err;
        res->resumed = true;
        res->action = MOLT_ACT_REVERT;
        return resume(port, &r, true);
    }
    if ((err = primary_confirmed(port, &confirmed)) != MOLT_OK || confirmed)
        return err;
    /* A trial still unconfirmed at reset failed (R-FAILSAFE). The revert takes
     * precedence over any request: one found now is the trial's, cleared
     * without touching the revert copy. */
    if ((err = molt_boot_clear_request(&port->area[MOLT_AREA_SECONDARY], &cleared)) != MOLT_OK)
        return err;
    res->request_cleared = cleared;
    return swap_revert(port, cfg, &r, nv, lost, res);
}

molt_err_t molt_boot_swap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res)
{
    molt_verify_result_t vr;
    molt_bootrec_t r;
    molt_trailer_t st;
    bool lost, trial;
    molt_err_t err;

    if (cfg->mode != MOLT_MODE_SWAP)
        return MOLT_E_ARG; /* cfg.activate names another mode's entry */
    err = settle(port, cfg, nv, &lost, res);

    if (err != MOLT_OK)
        return err;
    if (lost) {
        res->revert_lost = true;
        if (cfg->revert_lost == MOLT_REVERT_LOST_SECURE_STATE)
            return molt_boot_secure(port, MOLT_E_REVERT_LOST);
    }
    if ((err = molt_swap_in_trial(port, &trial)) != MOLT_OK)
        return err;
    if (!trial && !res->resumed && res->action == MOLT_ACT_NONE) {
        if ((err = molt_bootrec_read(port, &r)) != MOLT_OK)
            return err;
        if (!r.valid) {
            if ((err = genesis(port, cfg, &r, nv)) != MOLT_OK || (err = molt_bootrec_read(port, &r)) != MOLT_OK)
                return err;
        }
        if ((err = molt_tr_read(&port->area[MOLT_AREA_SECONDARY], &st)) != MOLT_OK)
            return err;
        uint8_t type = molt_boot_request_of(&st);
        if (type == MOLT_SWAP_TEST || type == MOLT_SWAP_PERM) {
            if ((err = swap_upgrade(port, cfg, &r, type, nv, res)) != MOLT_OK)
                return err;
            if ((err = molt_swap_in_trial(port, &trial)) != MOLT_OK)
                return err;
        }
    }
    if ((err = molt_boot_judge(port, cfg, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &vr)) != MOLT_OK)
        return molt_boot_secure(port, err);
    return molt_boot_run(port, MOLT_AREA_PRIMARY, &vr, trial, res);
}
