/*
 * boot_swap_enc.c - SWAP mode's encrypted moves (R-CONF), reached only through
 * molt_port_t.enc_ops (lib/enc_ops.h), so a boot stage without decryption does
 * not link it.
 *
 * Content keys are never stored: they are re-derived through the port's key
 * store, reading each image where the record's progress says it is, and must
 * match the check value the record holds for that image. An image leaving
 * PRIMARY is re-encrypted only under that key: an envelope anyone can make
 * cannot choose it.
 */
#include <string.h>

#include "crypto.h"
#include "enc_ops.h"
#include "keystore.h"
#include "trailer.h"

/* The keystream for one side, or none when that image is not encrypted. want:
 * the key check the key must have; NULL: none known, so an encrypted image
 * cannot move (its plaintext would reach staging, or an unproven key would
 * re-encrypt it). */
static molt_err_t crypt_side(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, bool out,
                             const uint8_t *want, molt_ctr_t *ctr, molt_ctr_t **use, uint32_t *start, uint32_t *end)
{
    molt_swap_view_t v;
    molt_source_t src;
    molt_image_t img;
    molt_decrypt_t dec;
    uint8_t key[MOLT_ENC_KEY_MAX], digest[64], kcv[MOLT_ENC_KCV_LEN];
    size_t klen = 0, dlen;
    molt_err_t err;

    *use = NULL;
    molt_swap_view_source(&src, &v, port, plan, k, out);
    if (molt_image_parse(&src, &img) != MOLT_OK || !(img.flags & MOLT_IMAGE_F_ENCRYPTED))
        return MOLT_OK; /* nothing there (e.g. no previous image), or plaintext */
    if (want == NULL)
        return MOLT_E_ENC_NO_KEY;
    molt_port_decrypt(port, &src, &dec, digest, &dlen);
    err = molt_decrypt_key(port->enc_ops, &src, &img, &dec, digest, dlen, key, &klen, kcv);
    if (err == MOLT_OK && !molt_ct_equal(kcv, want, MOLT_ENC_KCV_LEN))
        err = MOLT_E_ENV_IMAGE; /* not the key this image was installed with */
    if (err == MOLT_OK)
        err = port->enc_ops->ctr_start(ctr, key, klen);
    molt_wipe(key, sizeof key);
    if (err != MOLT_OK)
        return err;
    *use = ctr;
    *start = img.payload_off;
    *end = img.prot_off;
    return MOLT_OK;
}

void molt_swap_keys_end(molt_swap_keys_t *ks)
{
    if (ks->cx.ops != NULL) {
        ks->cx.ops->ctr_end(&ks->out);
        ks->cx.ops->ctr_end(&ks->in);
    }
}

molt_err_t molt_swap_keys(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, const molt_bootrec_t *r,
                          molt_swap_keys_t *ks)
{
    /* Upgrade: the old image leaves, the new one enters; revert: the reverse. */
    bool rev = plan->type == MOLT_SWAP_REVERT;
    const uint8_t *newk = (r->flags & MOLT_RECF_NEW_KCV) ? r->new_kcv : NULL;
    const uint8_t *oldk = (r->flags & MOLT_RECF_OLD_KCV) ? r->old_kcv : NULL;
    molt_err_t err;

    memset(ks, 0, sizeof *ks);
    if (!molt_port_can_decrypt(port))
        return MOLT_OK; /* a device without decryption moves images as they are */
    ks->cx.ops = port->enc_ops;
    err = crypt_side(port, plan, k, true, rev ? newk : oldk, &ks->out, &ks->cx.out, &ks->cx.out_start,
                     &ks->cx.out_end);
    if (err == MOLT_OK)
        err = crypt_side(port, plan, k, false, rev ? oldk : newk, &ks->in, &ks->cx.in, &ks->cx.in_start,
                         &ks->cx.in_end);
    if (err != MOLT_OK)
        molt_swap_keys_end(ks);
    return err;
}
