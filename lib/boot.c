/*
 * boot.c - decide what runs at reset and activate updates (molt/boot.h).
 *
 * One function per mode; all three end the same way for the image that will
 * run: verify it against the trusted keys and the stored security counter
 * (R-SECBOOT, R-ROLLBACK), and advance the counter only when it runs
 * confirmed. Nothing here keeps state between calls: flash is the only memory.
 */
#include <string.h>

#include "counter.h"
#include "crypto.h"
#include "keystore.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "molt/verify.h"
#include "swap.h"
#include "trailer.h"

#define SLOT_COUNT 2u

bool molt_port_can_decrypt(const molt_port_t *port)
{
    return port->enc_ecdh != NULL || port->enc_rsa_unwrap != NULL;
}

/* keystore.h: the key store, and the envelope the port holds for this image. */
void molt_port_decrypt(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                       size_t *dlen)
{
    molt_image_t img;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;

    *dec = (molt_decrypt_t){port->enc_ecdh, port->ctx, NULL, 0, port->enc_rsa_unwrap};
    *dlen = 0;
    if (port->enc_envelope == NULL || molt_image_parse(src, &img) != MOLT_OK)
        return;
    molt_tlv_iter_init(&it, src, &img);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more) {
        if (!t.prot && t.type >= MOLT_TLV_SHA256 && t.type <= MOLT_TLV_SHA512 && t.len <= 64 &&
            molt_tlv_read(src, &t, digest, 64) == MOLT_OK) {
            *dlen = t.len;
            break;
        }
    }
    if (*dlen > 0 && port->enc_envelope(port->ctx, digest, *dlen, &dec->envelope, &dec->envelope_len) != MOLT_OK) {
        dec->envelope = NULL;
        dec->envelope_len = 0;
    }
}

/* Verify the image at base of area id; it must end before the trailer sector. */
static molt_err_t verify_at(const molt_port_t *port, unsigned id, uint32_t base, molt_role_t role, uint32_t min_cnt,
                            const molt_version_t *min_ver, molt_image_t *img)
{
    const molt_area_t *a = &port->area[id];
    molt_area_src_t ctx;
    molt_source_t src;
    molt_policy_t pol;
    molt_verify_result_t vr;
    molt_sector_t tr;
    molt_err_t err;

    molt_decrypt_t dec;
    uint8_t digest[64];
    size_t dlen;
    molt_area_source(&src, &ctx, a, base);
    molt_port_decrypt(port, &src, &dec, digest, &dlen);
    molt_policy_default(&pol);
    pol.role = role;
    /* An encrypted upload is decrypted while it is hashed, through the port's key store (R-CONF). */
    if (molt_port_can_decrypt(port))
        pol.dec = &dec;
    pol.check_sec_cnt = true;
    pol.min_sec_cnt = min_cnt;
    if (min_ver != NULL) {
        pol.check_version = true;
        pol.min_version = *min_ver;
    }
    memset(&vr, 0, sizeof vr);
    if ((err = molt_verify(&src, &port->keys, &pol, &vr)) != MOLT_OK)
        return err;
    if ((err = molt_tr_sector(a, &tr)) != MOLT_OK)
        return err;
    if (tr.off < base || vr.image.end > tr.off - base)
        return MOLT_E_TOO_LARGE;
    if (img != NULL)
        *img = vr.image;
    return MOLT_OK;
}

/* Header facts only (no crypto): for sizes and versions of images we move. */
static molt_err_t parse_at(const molt_port_t *port, unsigned id, uint32_t base, molt_image_t *img)
{
    molt_area_src_t ctx;
    molt_source_t src;
    molt_area_source(&src, &ctx, &port->area[id], base);
    return molt_image_parse(&src, img);
}

static bool is_trial(const molt_trailer_t *t)
{
    return t->magic_good && molt_tr_is_unset(t, t->image_ok) && molt_tr_is_set(t, t->copy_done);
}

static molt_err_t no_image(const molt_port_t *port, molt_err_t why)
{
    if (port->no_image != NULL)
        port->no_image(port->ctx, why);
    return MOLT_E_NO_IMAGE;
}

/* The image in slot id runs: fill res; a confirmed image advances the counter
 * to its own value (R-ROLLBACK: never for a trial). */
static molt_err_t boot_slot(const molt_port_t *port, unsigned id, const molt_image_t *img, bool trial,
                            molt_boot_result_t *res)
{
    molt_err_t err;

    res->slot = (uint8_t)id;
    res->image = *img;
    res->trial = trial;
    if (!trial && img->has_sec_cnt && (err = molt_counter_advance(port, img->sec_cnt)) != MOLT_OK)
        return err;
    return molt_counter_get(port, &res->counter);
}

/* SWAP and OVERWRITE: PRIMARY executes; verify it and boot it. */
static molt_err_t boot_primary(const molt_port_t *port, uint32_t nv, molt_boot_result_t *res)
{
    molt_trailer_t t;
    molt_image_t img;
    molt_err_t err = verify_at(port, MOLT_AREA_PRIMARY, 0, MOLT_ROLE_INSTALLED, nv, NULL, &img);

    if (err != MOLT_OK)
        return no_image(port, err);
    if ((err = molt_tr_read(&port->area[MOLT_AREA_PRIMARY], &t)) != MOLT_OK)
        return err;
    return boot_slot(port, MOLT_AREA_PRIMARY, &img, is_trial(&t), res);
}

/* The staged image is refused: erase its header sector and the request so it
 * is not retried at every reset. */
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

/* Verify the staged image at off of SECONDARY as an upload (R-SECBOOT,
 * R-ROLLBACK, optional downgrade check against PRIMARY's version). */
static molt_err_t check_staged(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t off, uint32_t nv,
                               molt_image_t *img)
{
    molt_image_t cur;
    const molt_version_t *min_ver = NULL;

    if (cfg->downgrade_prevention && parse_at(port, MOLT_AREA_PRIMARY, 0, &cur) == MOLT_OK)
        min_ver = &cur.version;
    return verify_at(port, MOLT_AREA_SECONDARY, off, MOLT_ROLE_UPLOAD, nv, min_ver, img);
}

/* --- encrypted activation (R-CONF) -------------------------------------------
 * Content keys are never stored: they are re-derived from the key TLVs through
 * the port's key store, reading each image where the journal says it is. */
typedef struct crypt_state {
    molt_ctr_t out, in;
    molt_swap_crypt_t cx;
} crypt_state_t;

static void crypt_end(crypt_state_t *cs)
{
    molt_ctr_end(&cs->out);
    molt_ctr_end(&cs->in);
}

/* The keystream for one side, or none when that image is not encrypted. A
 * flagged image whose key cannot be recovered cannot move without plaintext
 * reaching the staging slot (or ciphertext the execution slot): refused. */
static molt_err_t crypt_side(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, bool out,
                             molt_ctr_t *ctr, molt_ctr_t **use, uint32_t *start, uint32_t *end)
{
    molt_swap_view_t v;
    molt_source_t src;
    molt_image_t img;
    molt_decrypt_t dec;
    uint8_t key[MOLT_ENC_KEY_MAX], digest[64];
    size_t klen = 0, dlen;
    molt_err_t err;

    *use = NULL;
    if (!molt_port_can_decrypt(port))
        return MOLT_OK; /* a device without decryption moves images as they are */
    molt_swap_view_source(&src, &v, port, plan, k, out);
    if (molt_image_parse(&src, &img) != MOLT_OK || !(img.flags & MOLT_IMAGE_F_ENCRYPTED))
        return MOLT_OK; /* nothing there (e.g. no previous image), or plaintext */
    molt_port_decrypt(port, &src, &dec, digest, &dlen);
    err = molt_enc_content_key(&src, &img, &dec, digest, dlen, key, &klen);
    if (err == MOLT_OK)
        err = molt_ctr_start(ctr, key, klen);
    molt_wipe(key, sizeof key);
    if (err != MOLT_OK)
        return err;
    *use = ctr;
    *start = img.payload_off;
    *end = img.prot_off;
    return MOLT_OK;
}

static molt_err_t crypt_setup(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, crypt_state_t *cs)
{
    memset(cs, 0, sizeof *cs);
    molt_err_t err = crypt_side(port, plan, k, true, &cs->out, &cs->cx.out, &cs->cx.out_start, &cs->cx.out_end);
    if (err == MOLT_OK)
        err = crypt_side(port, plan, k, false, &cs->in, &cs->cx.in, &cs->cx.in_start, &cs->cx.in_end);
    if (err != MOLT_OK)
        crypt_end(cs);
    return err;
}

static molt_err_t swap_upgrade(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint8_t type, uint32_t nv,
                               molt_boot_result_t *res)
{
    uint32_t off = molt_boot_staging_offset(port, cfg);
    molt_image_t img, old;
    molt_swap_plan_t plan;
    molt_err_t err = check_staged(port, cfg, off, nv, &img);

    crypt_state_t cs;
    if (err == MOLT_OK)
        err = molt_swap_plan(port, type, parse_at(port, MOLT_AREA_PRIMARY, 0, &old) == MOLT_OK ? old.end : 0u,
                             img.end, &plan);
    if (err == MOLT_OK)
        err = crypt_setup(port, &plan, 0, &cs);
    if (err != MOLT_OK)
        return refuse_staged(port, off, err, res);
    res->action = type == MOLT_SWAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_UPGRADE_TEST;
    err = molt_swap_run(port, &plan, &cs.cx);
    crypt_end(&cs);
    return err;
}

/* A trial was not confirmed: restore the previous image from SECONDARY offset 0.
 * If that image does not verify there is nothing to go back to: the trial keeps
 * running unconfirmed (the counter stays put) rather than restoring garbage. */
static molt_err_t swap_revert(const molt_port_t *port, uint32_t nv, molt_boot_result_t *res)
{
    molt_image_t old, cur;
    molt_swap_plan_t plan;
    crypt_state_t cs;
    /* The previous image went back to staging re-encrypted if it was encrypted:
     * judged as an upload then (decrypted while hashed). */
    molt_err_t err = verify_at(port, MOLT_AREA_SECONDARY, 0,
                               molt_port_can_decrypt(port) ? MOLT_ROLE_UPLOAD : MOLT_ROLE_INSTALLED, nv, NULL, &old);

    if (err != MOLT_OK)
        return MOLT_OK;
    err = molt_swap_plan(port, MOLT_SWAP_REVERT, parse_at(port, MOLT_AREA_PRIMARY, 0, &cur) == MOLT_OK ? cur.end : 0u,
                         old.end, &plan);
    if (err != MOLT_OK || crypt_setup(port, &plan, 0, &cs) != MOLT_OK)
        return MOLT_OK;
    res->action = MOLT_ACT_REVERT;
    err = molt_swap_run(port, &plan, &cs.cx);
    crypt_end(&cs);
    return err;
}

static molt_boot_action_t action_of(uint8_t type)
{
    return type == MOLT_SWAP_TEST ? MOLT_ACT_UPGRADE_TEST
           : type == MOLT_SWAP_PERM ? MOLT_ACT_UPGRADE_PERM : MOLT_ACT_REVERT;
}

static molt_err_t boot_swap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res)
{
    molt_trailer_t pt, st;
    molt_swap_plan_t plan;
    bool active;
    molt_err_t err = molt_swap_journal(port, &active, &plan);

    if (err != MOLT_OK)
        return err;
    if (active) {
        crypt_state_t cs;
        uint32_t k;
        res->resumed = true;
        res->action = action_of(plan.type);
        if ((err = molt_swap_progress(port, &plan, &k)) != MOLT_OK || (err = crypt_setup(port, &plan, k, &cs)) != MOLT_OK)
            return err;
        err = molt_swap_resume(port, &plan, &cs.cx);
        crypt_end(&cs);
    } else {
        if ((err = molt_tr_read(&port->area[MOLT_AREA_PRIMARY], &pt)) != MOLT_OK ||
            (err = molt_tr_read(&port->area[MOLT_AREA_SECONDARY], &st)) != MOLT_OK)
            return err;
        uint8_t type = molt_tr_swap_type(&pt, &st);
        if (type == MOLT_SWAP_TEST || type == MOLT_SWAP_PERM)
            err = swap_upgrade(port, cfg, type, nv, res);
        else if (type == MOLT_SWAP_REVERT)
            err = swap_revert(port, nv, res);
    }
    return err != MOLT_OK ? err : boot_primary(port, nv, res);
}

/* Copy the staged image into PRIMARY, decrypting an encrypted payload on the way
 * (the staging slot keeps the ciphertext; R-CONF). */
static molt_err_t overwrite_copy(const molt_port_t *port, const molt_image_t *img, uint32_t len)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_decrypt_t dec;
    molt_area_src_t ctx;
    molt_source_t src;
    molt_ctr_t ctr = {0};
    uint8_t key[MOLT_ENC_KEY_MAX], digest[64];
    size_t klen = 0, dlen;
    molt_err_t err;

    if (!molt_port_can_decrypt(port) || !(img->flags & MOLT_IMAGE_F_ENCRYPTED))
        return molt_area_copy(pa, 0, sa, 0, len);
    molt_area_source(&src, &ctx, sa, 0);
    molt_port_decrypt(port, &src, &dec, digest, &dlen);
    err = molt_enc_content_key(&src, img, &dec, digest, dlen, key, &klen);
    if (err == MOLT_OK)
        err = molt_ctr_start(&ctr, key, klen);
    molt_wipe(key, sizeof key);
    if (err == MOLT_OK)
        err = molt_area_copy_ctr(pa, 0, sa, 0, len, &ctr, 0, img->payload_off, img->prot_off);
    molt_ctr_end(&ctr);
    return err;
}

/* OVERWRITE: copy a requested, verified SECONDARY over PRIMARY. Not revertible:
 * the old image is gone once the first PRIMARY sector is erased. SECONDARY is
 * untouched until the copy and the PRIMARY trailer are complete, so a cut
 * before that redoes the whole copy (R-FAILSAFE). */
static molt_err_t boot_overwrite(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv,
                                 molt_boot_result_t *res)
{
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    molt_trailer_t st;
    molt_sector_t ptr;
    molt_image_t img;
    molt_err_t err = molt_tr_read(sa, &st);

    if (err != MOLT_OK)
        return err;
    if (st.magic_good) {
        if ((err = check_staged(port, cfg, 0, nv, &img)) == MOLT_OK && (err = molt_tr_sector(pa, &ptr)) == MOLT_OK &&
            img.end > ptr.off)
            err = MOLT_E_TOO_LARGE;
        if (err != MOLT_OK) {
            if ((err = refuse_staged(port, 0, err, res)) != MOLT_OK)
                return err;
            return boot_primary(port, nv, res);
        }
        uint32_t align = pa->write_align > sa->write_align ? pa->write_align : sa->write_align;
        uint32_t len = molt_roundup(img.end, align);
        res->action = MOLT_ACT_UPGRADE_PERM;
        if ((err = molt_area_erase_range(pa, 0, img.end)) != MOLT_OK || (err = molt_tr_erase(pa)) != MOLT_OK ||
            (err = overwrite_copy(port, &img, len)) != MOLT_OK ||
            (err = molt_tr_write_field(pa, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK ||
            (err = molt_tr_write_field(pa, MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK ||
            (err = molt_tr_write_magic(pa)) != MOLT_OK)
            return err;
        /* The copy is an implicit permanent request: advance before the
         * staged copy disappears (R-ROLLBACK). */
        if (img.has_sec_cnt && (err = molt_counter_advance(port, img.sec_cnt)) != MOLT_OK)
            return err;
        if ((err = molt_tr_erase(sa)) != MOLT_OK || (err = molt_area_erase_range(sa, 0, 1)) != MOLT_OK)
            return err;
        if ((err = molt_counter_get(port, &nv)) != MOLT_OK)
            return err;
    }
    return boot_primary(port, nv, res);
}

/* --- REMAP (A/B) ------------------------------------------------------------ */

typedef enum slot_state {
    ST_BLANK = 0,  /* no magic: factory image or never requested */
    ST_PENDING,    /* test request, trial not started */
    ST_TRIAL,      /* trial started (copy_done) and not confirmed */
    ST_CONFIRMED,  /* image_ok set: confirmed, or a permanent request */
    ST_REJECTED    /* image_ok = ~erase value: a failed trial or refused image */
} slot_state_t;

typedef struct slot_info {
    molt_trailer_t t;
    slot_state_t state;
    molt_err_t verr; /* verification verdict */
    molt_image_t img;
} slot_info_t;

/* REMAP marks a slot rejected with image_ok = ~erase value (0x00 on 0xff flash):
 * one more write into an erased unit, no erase needed. */
static uint8_t rejected_value(const molt_area_t *a) { return (uint8_t)~a->erase_value; }

static slot_state_t state_of(const molt_area_t *a, const molt_trailer_t *t)
{
    if (t->image_ok == rejected_value(a))
        return ST_REJECTED;
    if (!t->magic_good)
        return ST_BLANK;
    if (molt_tr_is_set(t, t->image_ok))
        return ST_CONFIRMED;
    if (!molt_tr_is_unset(t, t->image_ok))
        return ST_REJECTED; /* a "bad" image_ok value is never booted */
    return molt_tr_is_set(t, t->copy_done) ? ST_TRIAL : ST_PENDING;
}

static molt_err_t remap_scan(const molt_port_t *port, uint32_t nv, slot_info_t s[SLOT_COUNT])
{
    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        molt_err_t err = molt_tr_read(&port->area[k], &s[k].t);
        if (err != MOLT_OK)
            return err;
        s[k].state = state_of(&port->area[k], &s[k].t);
        s[k].verr = verify_at(port, k, 0, MOLT_ROLE_INSTALLED, nv, NULL, &s[k].img);
    }
    return MOLT_OK;
}

/* Highest-version verified slot in state st, or -1. */
static int best_in(const slot_info_t s[SLOT_COUNT], slot_state_t st)
{
    int best = -1;
    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        if (s[k].state != st || s[k].verr != MOLT_OK)
            continue;
        if (best < 0 || molt_version_cmp(&s[k].img.version, &s[best].img.version) > 0)
            best = (int)k;
    }
    return best;
}

static molt_err_t reject(const molt_port_t *port, unsigned k, slot_info_t *s)
{
    s->state = ST_REJECTED;
    return molt_tr_write_field(&port->area[k], MOLT_TR_IMAGE_OK, rejected_value(&port->area[k]));
}

/* A pending slot starts its trial if it verifies and is newer than base. */
static molt_err_t remap_pending(const molt_port_t *port, const molt_boot_cfg_t *cfg, slot_info_t s[SLOT_COUNT],
                                int base, int *run, molt_boot_result_t *res)
{
    (void)cfg; /* REMAP always requires a newer version: it boots the newest */
    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        if (s[k].state != ST_PENDING)
            continue;
        molt_err_t why = s[k].verr;
        if (why == MOLT_OK && base >= 0 && molt_version_cmp(&s[k].img.version, &s[base].img.version) <= 0)
            why = MOLT_E_DOWNGRADE;
        if (why != MOLT_OK) {
            res->action = MOLT_ACT_REFUSED;
            res->staged_err = why;
            molt_err_t err = reject(port, k, &s[k]);
            if (err != MOLT_OK)
                return err;
            continue;
        }
        res->action = MOLT_ACT_UPGRADE_TEST;
        *run = (int)k;
        return molt_tr_write_field(&port->area[k], MOLT_TR_COPY_DONE, MOLT_FLAG_SET);
    }
    return MOLT_OK;
}

static molt_err_t boot_remap(const molt_port_t *port, const molt_boot_cfg_t *cfg, uint32_t nv, molt_boot_result_t *res)
{
    slot_info_t s[SLOT_COUNT];
    int run = -1, base;
    molt_err_t err = remap_scan(port, nv, s);

    if (err != MOLT_OK)
        return err;
    /* A trial still unconfirmed at reset failed: reject it (R-FAILSAFE). */
    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        if (s[k].state == ST_TRIAL) {
            res->action = MOLT_ACT_REVERT;
            if ((err = reject(port, k, &s[k])) != MOLT_OK)
                return err;
        }
    }
    base = best_in(s, ST_CONFIRMED);
    if (base < 0)
        base = best_in(s, ST_BLANK); /* factory image, no trailer: runs as confirmed */
    if ((err = remap_pending(port, cfg, s, base, &run, res)) != MOLT_OK)
        return err;
    if (run >= 0)
        return boot_slot(port, (unsigned)run, &s[run].img, true, res);
    if (base < 0)
        return no_image(port, s[0].verr != MOLT_OK ? s[0].verr : s[1].verr);
    if (s[base].state == ST_CONFIRMED && !molt_tr_is_set(&s[base].t, s[base].t.copy_done)) {
        /* First boot after a permanent request: mark it selected. */
        res->action = MOLT_ACT_UPGRADE_PERM;
        if ((err = molt_tr_write_field(&port->area[base], MOLT_TR_COPY_DONE, MOLT_FLAG_SET)) != MOLT_OK)
            return err;
    }
    return boot_slot(port, (unsigned)base, &s[base].img, false, res);
}

/* --- public API ---------------------------------------------------------------- */

static bool port_ok(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    if (port == NULL || cfg == NULL)
        return false;
    for (unsigned k = 0; k < MOLT_AREA_COUNT; k++) {
        const molt_area_t *a = &port->area[k];
        if (k == MOLT_AREA_STATUS && cfg->mode != MOLT_MODE_SWAP)
            continue;
        if (a->read == NULL || a->write == NULL || a->erase == NULL || a->sector == NULL)
            return false;
    }
    return true;
}

molt_err_t molt_boot_go(const molt_port_t *port, const molt_boot_cfg_t *cfg, molt_boot_result_t *res)
{
    uint32_t nv;
    molt_err_t err;

    if (res == NULL || !port_ok(port, cfg))
        return MOLT_E_ARG;
    memset(res, 0, sizeof *res);
    if ((err = molt_counter_get(port, &nv)) != MOLT_OK)
        return err;
    switch (cfg->mode) {
    case MOLT_MODE_SWAP: return boot_swap(port, cfg, nv, res);
    case MOLT_MODE_REMAP: return boot_remap(port, cfg, nv, res);
    case MOLT_MODE_OVERWRITE: return boot_overwrite(port, cfg, nv, res);
    default: return MOLT_E_ARG;
    }
}

uint32_t molt_boot_staging_offset(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    const molt_area_t *sa;
    molt_sector_t s0;

    if (port == NULL || cfg == NULL || cfg->mode != MOLT_MODE_SWAP)
        return 0;
    sa = &port->area[MOLT_AREA_SECONDARY];
    return sa->sector != NULL && sa->sector(sa->ctx, 0, &s0) == MOLT_OK ? s0.size : 0u;
}

/* REMAP: the slot to request is the one not running: not confirmed or in
 * trial; if both qualify (factory slot A without trailer), the newer image. */
static unsigned remap_target(const molt_port_t *port)
{
    molt_trailer_t t[SLOT_COUNT];
    molt_image_t img[SLOT_COUNT];
    bool free_[SLOT_COUNT], ok[SLOT_COUNT];

    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        slot_state_t st = molt_tr_read(&port->area[k], &t[k]) == MOLT_OK ? state_of(&port->area[k], &t[k]) : ST_BLANK;
        free_[k] = st != ST_CONFIRMED && st != ST_TRIAL;
        ok[k] = parse_at(port, k, 0, &img[k]) == MOLT_OK;
    }
    if (free_[0] != free_[1])
        return free_[0] ? 0u : 1u;
    if (ok[0] && ok[1])
        return molt_version_cmp(&img[0].version, &img[1].version) > 0 ? 0u : 1u;
    return ok[0] ? 0u : 1u;
}

static molt_err_t write_request(const molt_area_t *a, bool permanent)
{
    molt_trailer_t t;
    molt_err_t err = molt_tr_read(a, &t);

    if (err != MOLT_OK)
        return err;
    if (t.magic_good) {
        /* Already requested (MCUboot returns success); upgrade a test to permanent. */
        if (permanent && molt_tr_is_unset(&t, t.image_ok))
            return molt_tr_write_field(a, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET);
        return MOLT_OK;
    }
    /* Leftovers of an old trailer: start from an erased one. */
    if (!molt_tr_is_unset(&t, t.image_ok) || !molt_tr_is_unset(&t, t.copy_done) || !molt_tr_is_unset(&t, t.swap_info))
        if ((err = molt_tr_erase(a)) != MOLT_OK)
            return err;
    /* MCUboot's boot_set_pending order: magic, image_ok, swap_info. */
    if ((err = molt_tr_write_magic(a)) != MOLT_OK)
        return err;
    if (permanent && (err = molt_tr_write_field(a, MOLT_TR_IMAGE_OK, MOLT_FLAG_SET)) != MOLT_OK)
        return err;
    return molt_tr_write_field(a, MOLT_TR_SWAP_INFO, (uint8_t)(permanent ? MOLT_SWAP_PERM : MOLT_SWAP_TEST));
}

molt_err_t molt_request_upgrade(const molt_port_t *port, const molt_boot_cfg_t *cfg, bool permanent)
{
    molt_trailer_t pt;
    molt_err_t err;

    if (!port_ok(port, cfg))
        return MOLT_E_ARG;
    if (cfg->mode == MOLT_MODE_REMAP)
        return write_request(&port->area[remap_target(port)], permanent);
    /* SWAP: while a trial runs, SECONDARY holds the only confirmed image. */
    if (cfg->mode == MOLT_MODE_SWAP) {
        if ((err = molt_tr_read(&port->area[MOLT_AREA_PRIMARY], &pt)) != MOLT_OK)
            return err;
        if (is_trial(&pt))
            return MOLT_E_STATE;
    }
    return write_request(&port->area[MOLT_AREA_SECONDARY], permanent);
}

molt_err_t molt_confirm(const molt_port_t *port, const molt_boot_cfg_t *cfg)
{
    molt_trailer_t t;
    molt_err_t err;

    if (!port_ok(port, cfg))
        return MOLT_E_ARG;
    /* The running unconfirmed image: PRIMARY, or in REMAP the slot in trial
     * (a trial slot found at reset is rejected, so one in trial now runs). */
    for (unsigned k = 0; k < SLOT_COUNT; k++) {
        if (k != MOLT_AREA_PRIMARY && cfg->mode != MOLT_MODE_REMAP)
            break;
        if ((err = molt_tr_read(&port->area[k], &t)) != MOLT_OK)
            return err;
        bool want = cfg->mode == MOLT_MODE_REMAP ? is_trial(&t) : (t.magic_good && molt_tr_is_unset(&t, t.image_ok));
        if (want)
            return molt_tr_write_field(&port->area[k], MOLT_TR_IMAGE_OK, MOLT_FLAG_SET);
    }
    return MOLT_OK; /* already confirmed */
}
