/*
 * boot_overwrite.c - OVERWRITE mode: copy a requested, verified SECONDARY over
 * PRIMARY, for good. Not revertible: the old image is gone once the first
 * PRIMARY sector is erased. A request here is always permanent (a TEST request
 * is taken as one: there is nothing to revert to). SECONDARY is untouched
 * until the copy and PRIMARY's trailer are complete, so a cut before that
 * redoes the whole copy (R-FAILSAFE); the staged image is judged again each
 * time, so the request decides nothing but "now".
 */
#include <string.h>

#include "boot_int.h"
#include "counter.h"
#include "crypto.h"
#include "enc_ops.h"
#include "keystore.h"
#include "molt/enc.h"
#include "swap.h"

/* Copy the staged image into PRIMARY, decrypting an encrypted payload on the way
 * (the staging slot keeps the ciphertext; R-CONF). */
static molt_err_t overwrite_copy(const molt_port_t *port, const molt_image_t *img, uint32_t len)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_decrypt_t dec;
    molt_area_src_t ctx;
    molt_source_t src;
    molt_ctr_t ctr = {0};
    uint8_t key[MOLT_ENC_KEY_MAX], digest[64], kcv[MOLT_ENC_KCV_LEN];
    size_t klen = 0, dlen;
    molt_err_t err;

    if (!molt_port_can_decrypt(port) || !(img->flags & MOLT_IMAGE_F_ENCRYPTED))
        return molt_area_copy(pa, 0, sa, 0, len);
    const molt_enc_ops_t *ops = port->enc_ops; /* every decryption step through the port's table */
    molt_area_source(&src, &ctx, sa, 0);
    ops->port_decrypt(port, &src, &dec, digest, &dlen);
    err = ops->decrypt_key(ops, &src, img, &dec, digest, dlen, key, &klen, kcv);
    if (err == MOLT_OK)
        err = ops->ctr_start(&ctr, key, klen);
    molt_wipe(key, sizeof key);
    if (err == MOLT_OK)
        err = ops->copy_ctr(pa, 0, sa, 0, len, ops, &ctr, 0, img->payload_off, img->prot_off);
    ops->ctr_end(&ctr);
    return err;
}

static molt_err_t boot_installed(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv,
                                 molt_boot_result_t *res)
{
    molt_verify_result_t vr;
    molt_err_t err = molt_boot_judge(port, cfg, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &vr);
    if (err != MOLT_OK)
        return molt_boot_secure(port, err);
    return molt_boot_run(port, MOLT_AREA_PRIMARY, &vr, false, res);
}

molt_err_t molt_boot_overwrite(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv,
                               molt_boot_result_t *res)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_verify_result_t cur, vr;
    molt_trailer_t st;
    molt_sector_t ptr;
    molt_err_t err;

    if (cfg->mode != MOLT_MODE_OVERWRITE)
        return MOLT_E_ARG; /* cfg.activate names another mode's entry */
    if ((err = molt_tr_read(sa, &st)) != MOLT_OK)
        return err;
    if (molt_boot_request_of(&st) == MOLT_SWAP_NONE)
        return boot_installed(port, cfg, nv, res);
    bool have_cur = molt_boot_judge(port, cfg, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &cur) == MOLT_OK;
    err = molt_boot_judge(port, cfg, MOLT_AREA_SECONDARY, 0, MOLT_ROLE_UPLOAD, nv,
                          cfg->downgrade_prevention && have_cur ? &cur.image.version : NULL, &vr);
    if (err == MOLT_OK && (err = molt_tr_sector(pa, &ptr)) == MOLT_OK && vr.image.end > ptr.off)
        err = MOLT_E_TOO_LARGE;
    if (err != MOLT_OK) {
        res->action = MOLT_ACT_REFUSED;
        res->staged_err = err;
        if ((err = molt_tr_erase(sa)) != MOLT_OK || (err = molt_area_erase_range(sa, 0, 1)) != MOLT_OK)
            return err;
        return boot_installed(port, cfg, nv, res);
    }
    uint32_t align = pa->write_align > sa->write_align ? pa->write_align : sa->write_align;
    uint32_t len = molt_roundup(vr.image.end, align);
    res->action = MOLT_ACT_UPGRADE_PERM;
    if ((err = molt_area_erase_range(pa, 0, vr.image.end)) != MOLT_OK || (err = molt_tr_erase(pa)) != MOLT_OK ||
        (err = overwrite_copy(port, &vr.image, len)) != MOLT_OK ||
        (err = molt_tr_write_field(pa, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK ||
        (err = molt_tr_write_field(pa, MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK ||
        (err = molt_tr_write_magic(pa)) != MOLT_OK)
        return err;
    /* The copy is permanent: commit before the staged copy disappears (R-ROLLBACK). */
    if ((err = molt_counter_commit(port, &vr.image)) != MOLT_OK)
        return err;
    if ((err = molt_tr_erase(sa)) != MOLT_OK || (err = molt_area_erase_range(sa, 0, 1)) != MOLT_OK ||
        (err = molt_counter_get(port, &nv)) != MOLT_OK)
        return err;
    return boot_installed(port, cfg, nv, res);
}
