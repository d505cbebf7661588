/*
 * judge.c - the one policy every image is judged by (see judge.h).
 */
#include <string.h>

#include "area.h"
#include "enc_ops.h"
#include "judge.h"
#include "keystore.h"
#include "molt/keyrot.h"
#include "trailer.h"

#define DEP_LEN 12u /* MCUboot's image_dependency: id, 3 pad bytes, image_version */

molt_err_t molt_judge_deps(const molt_source_t *src, const molt_image_t *img, const molt_deps_t *deps)
{
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    uint8_t v[DEP_LEN];
    molt_err_t err;

    molt_tlv_iter_init(&it, src, img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (!t.prot || t.type != MOLT_TLV_DEPENDENCY)
            continue;
        if (t.len != DEP_LEN)
            return MOLT_E_TLV_LENGTH;
        if (deps == NULL || deps->check == NULL)
            return MOLT_E_DEP_UNSUPPORTED;
        if ((err = molt_tlv_read(src, &t, v, sizeof v)) != MOLT_OK)
            return err;
        molt_version_t min = {v[4], v[5], molt_le16(v + 6), molt_le32(v + 8)};
        if ((err = deps->check(deps->ctx, v[0], &min)) != MOLT_OK)
            return err == MOLT_E_DEPENDENCY ? err : MOLT_E_DEPENDENCY;
    }
    return err;
}

molt_err_t molt_judge_stage(const molt_source_t *src, const molt_image_t *img, uint8_t stage)
{
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more, seen = false;
    uint8_t v = 0;
    molt_err_t err;

    molt_tlv_iter_init(&it, src, img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (!t.prot || t.type != MOLT_TLV_BOOT_STAGE)
            continue;
        if (seen)
            return MOLT_E_TLV_DUPLICATE;
        if (t.len != 1u)
            return MOLT_E_TLV_LENGTH;
        if ((err = molt_tlv_read(src, &t, &v, 1)) != MOLT_OK)
            return err;
        seen = true;
    }
    if (err != MOLT_OK)
        return err;
    return v == stage ? MOLT_OK : MOLT_E_BOOT_STAGE;
}

molt_err_t molt_judge(const molt_port_t *port, const molt_source_t *src, const molt_judge_in_t *in,
                      molt_verify_result_t *vr)
{
    molt_policy_t pol;
    molt_decrypt_t dec;
    uint8_t digest[64];
    size_t dlen;
    molt_err_t err;

    molt_policy_default(&pol);
    pol.role = in->role;
    pol.check_sec_cnt = true;
    pol.min_sec_cnt = in->min_cnt;
    if (in->min_ver != NULL) {
        pol.check_version = true;
        pol.min_version = *in->min_ver;
    }
    pol.require_encryption = in->require_encryption;
    /* An encrypted upload is decrypted while it is hashed, through the port's
     * key store and its envelope for this image (R-CONF): a wrong key cannot
     * give the signed hash, so a key that passes here is the image's own. */
    if (molt_port_can_decrypt(port)) {
        port->enc_ops->port_decrypt(port, src, &dec, digest, &dlen);
        pol.dec = &dec;
    }
    if (in->digest != NULL) {
        pol.digest = in->digest;
        pol.digest_alg = MOLT_HASH_SHA256;
    }
    /* Key rotation (molt/keyrot.h): the keys in force instead of the factory
     * table; through the port's pointers, so that it links only when wired. */
    const molt_keyrot_cfg_t *kr = in->keyrot;
    const molt_keyring_t *ring = &port->keys;
    molt_keyring_t inforce;
    if (kr != NULL) {
        if (kr->ring == NULL || kr->names_retired == NULL)
            return MOLT_E_ARG;
        if ((err = kr->ring(kr, &port->keys, &inforce)) != MOLT_OK)
            return err;
        ring = &inforce;
    }
    memset(vr, 0, sizeof *vr);
    if ((err = molt_verify_with(src, ring, &pol, molt_port_can_decrypt(port) ? port->enc_ops : NULL, vr)) != MOLT_OK) {
        bool retired = false;
        if (err == MOLT_E_KEY_UNTRUSTED && kr != NULL && kr->names_retired(kr, &port->keys, src, &retired) == MOLT_OK &&
            retired)
            return MOLT_E_KEY_RETIRED;
        return err;
    }
    if ((err = molt_judge_stage(src, &vr->image, in->stage)) != MOLT_OK)
        return err;
    return molt_judge_deps(src, &vr->image, in->deps);
}

molt_err_t molt_judge_slot(const molt_port_t *port, unsigned id, uint32_t base, const molt_judge_in_t *in,
                           molt_verify_result_t *vr)
{
    const molt_area_t *a = &port->area[id];
    molt_area_src_t ctx;
    molt_source_t src;
    molt_sector_t tr;
    molt_err_t err;

    molt_area_source(&src, &ctx, a, base);
    if ((err = molt_judge(port, &src, in, vr)) != MOLT_OK)
        return err;
    if ((err = molt_tr_sector(a, &tr)) != MOLT_OK)
        return err;
    if (tr.off < base || vr->image.end > tr.off - base)
        return MOLT_E_TOO_LARGE;
    return MOLT_OK;
}
