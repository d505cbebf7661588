/*
 * fwu.c - the PSA Firmware Update API over the boot code (molt/fwu.h).
 *
 * Where the state lives (SWAP mode, one component = one port):
 *   TRIAL     PRIMARY's trailer says "copy done, not confirmed" (boot code);
 *   REJECTED  TRIAL plus a FAILED record (reject before the reboot);
 *   STAGED    SECONDARY's trailer holds MCUboot's request (install);
 *   WRITING, CANDIDATE, FAILED, UPDATED  the progress record below;
 *   READY     none of these. FAILED after a revert or a refused staged image
 *             comes from this boot's molt_boot_result_t and lives in RAM.
 * An A/B (REMAP) component (the stage-1 boot code, molt_fwu_add_remap) is the
 * same with "the download slot" for SECONDARY: the slot that is not confirmed
 * (the trial slot while a trial runs), found by its `where` hook from stage 0's
 * boot record (lib/fwu_remap.c); TRIAL comes from that record too, and the
 * running image is the trial or the confirmed slot's instead of PRIMARY's.
 *
 * The progress record sits at the start of SECONDARY's trailer sector (which
 * the boot code erases whenever it consumes or refuses a request, so record
 * and request disappear together), in units of U = max(8, write_align):
 *   unit 0    head: 0xF5, version << 4 | kind, 0, 0, CRC-32 of those 4 (LE);
 *   unit 1    FAILED: 0xFA, reason (LE32), low 24 bits of the CRC-32 of 0..4;
 *   unit 2    CANDIDATE: finish verified the image;
 *   unit 3+j  checkpoint j: image bytes [0, (j + 1) * chunk) are in flash.
 * Power-fail reasoning (R-BACKGROUND): every unit is written once, after the
 * data it vouches for is complete. A torn head fails its CRC: no record (the
 * head is written before any image byte). A torn FAILED / CANDIDATE /
 * checkpoint unit is partly programmed, so it counts as written - correct,
 * since what it vouches for was complete; a torn FAILED unit whose CRC fails
 * gives the reason MOLT_E_FWU_RECORD. A unit that reads fully erased counts as
 * not written and is written again (it is fit to program). Image sectors are
 * erased when the download enters them (unless clean() erased them since
 * the last reset), so a sector a cut left half-written or half-erased is
 * never programmed over. The record never lies ahead of the flash contents, so a
 * resume from the last checkpoint rebuilds exactly the signed image.
 */
#include <string.h>

/* psa/update.h first, <psa/crypto.h> (through crypto.h) after it: the two
 * define psa_status_t and the common status codes compatibly in either order
 * (tests/test_fwu.c includes them the other way round). */
#include "molt/fwu.h"

#include "counter.h"
#include "crc32.h"
#include "crypto.h"
#include "boot_int.h"
#include "judge.h"
#include "keystore.h"
#include "molt/keyrot.h" /* the key-set component: its struct only, calls go through pointers */
#include "molt/verify.h"
#include "trailer.h"
#include "fwu_int.h"

#define REC_HEAD 0u
#define REC_FAILED 1u
#define REC_CAND 2u
#define REC_CKPT 3u
#define HEAD_MAGIC 0xf5u
#define FAILED_MAGIC 0xfau
#define REC_VERSION 1u
#define KIND_DOWNLOAD 1u
#define KIND_UPDATED 2u
#define KIND_FAILED 3u
#define MAGIC_SZ 16u

static molt_fwu_t *g_fwu; /* the instance psa_fwu_* act on (molt_fwu_bind) */

_Static_assert(sizeof(molt_hash_ctx_t) <= sizeof(((molt_fwu_comp_t *)0)->hash_ctx),
               "MOLT_FWU_HASH_CTX_WORDS too small for this PSA Crypto build");

/* The streaming hash: SHA-256 of [0, unprotected TLV info) as it is written, so
 * finish need not read the image again (MCUboot's usual hash; an image with a
 * SHA-384/512 hash TLV, or a stream broken by a reset, is re-read). */
static molt_hash_ctx_t *hctx(molt_fwu_comp_t *c) { return (molt_hash_ctx_t *)(void *)c->hash_ctx; }

static void stop_hash(molt_fwu_comp_t *c)
{
    if (c->hashing)
        molt_hash_abort(hctx(c));
    c->hashing = false;
}

psa_status_t molt_fwu_status(molt_err_t err)
{
    switch (err) {
    case MOLT_OK: return PSA_SUCCESS;
    case MOLT_E_ROLLBACK:
    case MOLT_E_DOWNGRADE:
    case MOLT_E_ENC_REQUIRED:
    case MOLT_E_DEP_UNSUPPORTED:
    case MOLT_E_DEPENDENCY:
    case MOLT_E_KEEP_SCHEMA: return PSA_ERROR_NOT_PERMITTED; /* policy, not a forgery */
    case MOLT_E_TOO_LARGE:
    case MOLT_E_STORE_FULL: return PSA_ERROR_INSUFFICIENT_STORAGE;
    case MOLT_E_KEEP_PHASE: return PSA_ERROR_BAD_STATE;
    case MOLT_E_KEEP_SAVE:
    case MOLT_E_KEEP_RESTORE:
    case MOLT_E_KEEP_IMAGE: return PSA_ERROR_GENERIC_ERROR; /* the application's data listener */
    case MOLT_E_IO:
    case MOLT_E_FLASH:
    case MOLT_E_NV:
    case MOLT_E_LAYOUT: return PSA_ERROR_STORAGE_FAILURE;
    case MOLT_E_ARG:
    case MOLT_E_FWU_INCOMPLETE:
    case MOLT_E_FLAGS:
    case MOLT_E_ENC_NO_KEY:
    case MOLT_E_ENC_ALG: /* encrypted for a key this device does not have */
    case MOLT_E_ENC_TLV: return PSA_ERROR_INVALID_ARGUMENT;
    case MOLT_E_STATE: return PSA_ERROR_BAD_STATE;
    case MOLT_E_CRYPTO: return PSA_ERROR_GENERIC_ERROR;
    default: return PSA_ERROR_INVALID_SIGNATURE; /* structure, hash, signature, key */
    }
}

/* The area the download goes to: SECONDARY (SWAP), the slot that is not
 * confirmed or the trial slot (A/B, molt_fwu_ab_t.where). */
static const molt_area_t *sec_area(const molt_fwu_comp_t *c) { return &c->port->area[c->slot]; }

/* The area whose image runs: PRIMARY (SWAP); A/B: the trial slot in TRIAL /
 * REJECTED, else the confirmed one (the other slot than the download's). */
static const molt_area_t *run_area(const molt_fwu_comp_t *c)
{
    if (c->ab == NULL)
        return &c->port->area[MOLT_AREA_PRIMARY];
    bool trial = c->state == PSA_FWU_TRIAL || c->state == PSA_FWU_REJECTED;
    return &c->port->area[trial ? c->slot : 1u - c->slot];
}

static molt_fwu_comp_t *find(molt_fwu_t *fwu, psa_fwu_component_t id)
{
    if (fwu == NULL)
        return NULL;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++)
        if (fwu->comp[k].used && fwu->comp[k].id == id)
            return &fwu->comp[k];
    return NULL;
}

/* --- the record ------------------------------------------------------------------ */

static molt_err_t unit_read(const molt_fwu_comp_t *c, uint32_t k, uint8_t *buf)
{
    const molt_area_t *a = sec_area(c);
    return a->read(a->ctx, c->rec_off + k * c->unit, buf, c->unit);
}

static bool blank(const uint8_t *p, uint32_t n, uint8_t ev)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != ev)
            return false;
    return true;
}

/* Write unit k: payload bytes first, the rest at the erase value; payload NULL
 * writes a "present" mark (every byte programmed). */
static molt_err_t unit_write(const molt_fwu_comp_t *c, uint32_t k, const uint8_t *payload, uint32_t n)
{
    const molt_area_t *a = sec_area(c);
    uint8_t buf[MOLT_FWU_UNIT_MAX];

    memset(buf, payload != NULL ? a->erase_value : (uint8_t)~a->erase_value, c->unit);
    if (payload != NULL)
        memcpy(buf, payload, n);
    return a->write(a->ctx, c->rec_off + k * c->unit, buf, c->unit);
}

static molt_err_t write_head(const molt_fwu_comp_t *c, uint8_t kind)
{
    uint8_t h[8] = {HEAD_MAGIC, (uint8_t)(REC_VERSION << 4 | kind), 0, 0, 0, 0, 0, 0};
    molt_put_le32(h + 4, molt_crc32(h, 4));
    return unit_write(c, REC_HEAD, h, sizeof h);
}

static molt_err_t write_failed(const molt_fwu_comp_t *c, psa_status_t why)
{
    uint8_t u[8] = {FAILED_MAGIC, 0, 0, 0, 0, 0, 0, 0};
    molt_put_le32(u + 1, (uint32_t)why);
    uint32_t crc = molt_crc32(u, 5);
    u[5] = (uint8_t)crc;
    u[6] = (uint8_t)(crc >> 8);
    u[7] = (uint8_t)(crc >> 16);
    return unit_write(c, REC_FAILED, u, sizeof u);
}

typedef struct rec {
    bool head;          /* a valid head */
    uint8_t kind;
    bool failed;        /* FAILED unit present */
    psa_status_t error;
    bool cand;
    uint32_t ckpts;     /* leading checkpoint units present */
    bool cleaned;       /* CLEAN unit: clean() discarded this record's image */
} rec_t;

static molt_err_t rec_read(const molt_fwu_comp_t *c, rec_t *r)
{
    uint8_t u[MOLT_FWU_UNIT_MAX];
    uint8_t ev = sec_area(c)->erase_value;
    molt_err_t err;

    memset(r, 0, sizeof *r);
    if ((err = unit_read(c, c->rec_units, u)) != MOLT_OK)
        return err;
    r->cleaned = !blank(u, c->unit, ev);
    if ((err = unit_read(c, REC_HEAD, u)) != MOLT_OK)
        return err;
    if (u[0] != HEAD_MAGIC || u[1] >> 4 != REC_VERSION || molt_le32(u + 4) != molt_crc32(u, 4))
        return MOLT_OK;
    r->head = true;
    r->kind = u[1] & 0x0fu;
    if ((err = unit_read(c, REC_FAILED, u)) != MOLT_OK)
        return err;
    if (!blank(u, c->unit, ev)) {
        uint32_t crc = molt_crc32(u, 5) & 0xffffffu;
        r->failed = true;
        r->error = (u[0] == FAILED_MAGIC && crc == ((uint32_t)u[5] | (uint32_t)u[6] << 8 | (uint32_t)u[7] << 16))
                       ? (psa_status_t)molt_le32(u + 1)
                       : (psa_status_t)MOLT_E_FWU_RECORD;
    }
    if ((err = unit_read(c, REC_CAND, u)) != MOLT_OK)
        return err;
    r->cand = !blank(u, c->unit, ev);
    for (uint32_t k = REC_CKPT; k < c->rec_units; k++) {
        if ((err = unit_read(c, k, u)) != MOLT_OK)
            return err;
        if (blank(u, c->unit, ev))
            break;
        r->ckpts++;
    }
    return MOLT_OK;
}

static molt_err_t erase_record(const molt_fwu_comp_t *c) { return molt_tr_erase(sec_area(c)); }

/* A fresh record for a trial's outcome: the boot code erased the whole sector
 * when it consumed the request (its DONE mark vouches for that), so it is
 * erased again only if something was written there since. */
static molt_err_t fresh_record(const molt_fwu_comp_t *c)
{
    const molt_area_t *a = sec_area(c);
    bool b;
    molt_err_t err = molt_area_blank(a, c->rec_off, a->size - c->rec_off, &b);
    return err != MOLT_OK || b ? err : erase_record(c);
}

/* --- image checks at write time ---------------------------------------------------- */

/* The 32-byte header: magic, header size, and the image must fit. */
static molt_err_t check_header(const molt_fwu_comp_t *c, const uint8_t *h, uint32_t *unprot)
{
    uint16_t hdr_size = molt_le16(h + 8), prot = molt_le16(h + 10);
    uint64_t end;

    if (molt_le32(h) != MOLT_IMAGE_MAGIC)
        return MOLT_E_MAGIC;
    if (hdr_size < MOLT_IMAGE_HEADER_SIZE)
        return MOLT_E_HDR_SIZE;
    end = (uint64_t)hdr_size + molt_le32(h + 12) + prot;
    if (end + MOLT_TLV_INFO_SIZE > c->max_size)
        return MOLT_E_TOO_LARGE;
    *unprot = (uint32_t)end;
    return MOLT_OK;
}

/* The unprotected TLV info: magic and the declared total size. */
static molt_err_t check_info(const molt_fwu_comp_t *c, const uint8_t *info, uint32_t unprot, uint32_t *declared)
{
    uint16_t tot = molt_le16(info + 2);

    if (molt_le16(info) != MOLT_TLV_INFO_MAGIC || tot < MOLT_TLV_INFO_SIZE)
        return MOLT_E_TLV_INFO;
    if ((uint64_t)unprot + tot > c->max_size)
        return MOLT_E_TOO_LARGE;
    *declared = unprot + tot;
    return MOLT_OK;
}

/* --- state changes ------------------------------------------------------------------- */

/* -> FAILED with a reason, recorded (best effort: a flash failure keeps it in RAM). */
static molt_err_t to_failed(molt_fwu_comp_t *c, psa_status_t why)
{
    c->state = PSA_FWU_FAILED;
    c->error = why;
    c->img_clean = false;
    c->pend_len = 0;
    stop_hash(c);
    return write_failed(c, why);
}

/* Program n bytes (a multiple of the unit) at the programmed offset: erase each
 * staging sector as the download enters it, checkpoint each completed chunk. */
static molt_err_t program(molt_fwu_comp_t *c, const uint8_t *data, uint32_t n)
{
    const molt_area_t *a = sec_area(c);
    molt_err_t err;

    while (n > 0u) {
        uint32_t pos = c->stg + c->programmed, in = c->programmed % c->sector;
        if (in == 0u && !c->img_clean && (err = a->erase(a->ctx, pos, c->sector)) != MOLT_OK)
            return err;
        uint32_t m = c->sector - in < n ? c->sector - in : n;
        if ((err = a->write(a->ctx, pos, data, m)) != MOLT_OK)
            return err;
        c->programmed += m;
        data += m;
        n -= m;
        if (c->programmed % c->chunk == 0u &&
            (err = unit_write(c, REC_CKPT + c->programmed / c->chunk - 1u, NULL, 0)) != MOLT_OK)
            return err;
    }
    return MOLT_OK;
}

/* --- dependencies between components ------------------------------------------------ */

/* The version component id will run after this install: its candidate's if it
 * has one (installed together, all or nothing), else the installed one's. */
static molt_err_t fwu_dep_check(void *ctx, uint8_t image_id, const molt_version_t *min)
{
    molt_fwu_t *fwu = ctx;
    molt_fwu_comp_t *d = find(fwu, image_id);
    molt_area_src_t sctx;
    molt_source_t src;
    molt_image_t img;

    if (d == NULL || d->keyset != NULL)
        return MOLT_E_DEPENDENCY;
    bool cand = d->state == PSA_FWU_CANDIDATE || d->state == PSA_FWU_STAGED;
    molt_area_source(&src, &sctx, cand ? sec_area(d) : run_area(d), cand ? d->stg : 0u);
    if (molt_image_parse(&src, &img) != MOLT_OK || molt_version_cmp(&img.version, min) < 0)
        return MOLT_E_DEPENDENCY;
    return MOLT_OK;
}

/* One component on its own: the port's own view (NULL: a single image). */
static const molt_deps_t *comp_deps(const molt_fwu_comp_t *c)
{
    unsigned n = 0;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++)
        n += c->fwu->comp[k].used;
    return n > 1u ? &c->fwu->deps : c->cfg.deps;
}

/* --- init ------------------------------------------------------------------------ */

static molt_err_t geometry(molt_fwu_comp_t *c)
{
    const molt_port_t *port = c->port;
    const molt_area_t *pa = &port->area[MOLT_AREA_PRIMARY], *sa = &port->area[MOLT_AREA_SECONDARY];
    const molt_area_t *st = &port->area[MOLT_AREA_STATUS];
    molt_sector_t ptr, str, s1;
    molt_err_t err;

    uint32_t n;

    if (c->ab != NULL) {
        /* A/B: the image at the start of either slot, below its trailer
         * sector; both slots alike (the download goes to either). */
        if ((err = molt_tr_sector(pa, &ptr)) != MOLT_OK || (err = molt_tr_sector(sa, &str)) != MOLT_OK ||
            (err = sa->sector(sa->ctx, 0, &s1)) != MOLT_OK)
            return err;
        c->stg = 0;
        c->sector = s1.size;
        c->unit = molt_tr_align(sa);
        if (ptr.off != str.off || ptr.size != str.size || pa->size != sa->size || molt_tr_align(pa) != c->unit ||
            pa->erase_value != sa->erase_value || c->sector == 0u || str.off % c->sector != 0u ||
            c->unit > MOLT_FWU_UNIT_MAX || c->sector % c->unit != 0u || c->sector < MOLT_IMAGE_HEADER_SIZE)
            return MOLT_E_LAYOUT;
        n = str.off / c->sector;
    } else {
        c->stg = molt_boot_staging_offset(port, &c->cfg);
        if (c->stg == 0u)
            return MOLT_E_LAYOUT;
        if ((err = molt_tr_sector(pa, &ptr)) != MOLT_OK || (err = molt_tr_sector(sa, &str)) != MOLT_OK ||
            (err = sa->sector(sa->ctx, c->stg, &s1)) != MOLT_OK)
            return err;
        c->sector = c->stg;
        c->unit = molt_tr_align(sa);
        if (s1.size != c->sector || c->unit > MOLT_FWU_UNIT_MAX || c->sector % c->unit != 0u ||
            c->sector < MOLT_IMAGE_HEADER_SIZE)
            return MOLT_E_LAYOUT;
        /* The swap's limits: N sectors below PRIMARY's trailer, N + 1 below
         * SECONDARY's, a 2N-unit journal in STATUS (lib/swap.c). */
        uint32_t ns = str.off / c->sector, nj = st->size / (2u * molt_tr_align(st));
        n = ptr.off / c->sector;
        if (ns > 0u)
            ns--;
        if (ns < n)
            n = ns;
        if (nj < n)
            n = nj;
    }
    if (n > 0xffffu)
        n = 0xffffu;
    if (n == 0u)
        return MOLT_E_LAYOUT;
    c->max_size = n * c->sector;
    /* The record: from the trailer sector's start up to MCUboot's trailer
     * (magic unit + image_ok, copy_done, swap_info, swap_size units). */
    uint32_t reserve = molt_roundup(MAGIC_SZ, c->unit) + 4u * c->unit;
    if (str.size <= reserve || (str.size - reserve) / c->unit < REC_CKPT + 2u)
        return MOLT_E_LAYOUT;
    c->rec_off = str.off;
    /* The last unit before MCUboot's trailer is the CLEAN mark. */
    c->rec_units = (str.size - reserve) / c->unit - 1u;
    uint32_t slots = c->rec_units - REC_CKPT, g = (n + slots - 1u) / slots;
    c->chunk = g * c->sector;
    return MOLT_OK;
}

/* Resume a download: the header and TLV info come back from flash. */
static molt_err_t resume(molt_fwu_comp_t *c, uint32_t ckpts)
{
    const molt_area_t *a = sec_area(c);
    molt_err_t err;

    c->written = c->programmed = ckpts * c->chunk;
    if (c->written > c->max_size)
        return MOLT_E_FWU_RECORD;
    if (c->written < MOLT_IMAGE_HEADER_SIZE)
        return MOLT_OK;
    if ((err = a->read(a->ctx, c->stg, c->hdr, sizeof c->hdr)) != MOLT_OK ||
        (err = check_header(c, c->hdr, &c->unprot_off)) != MOLT_OK)
        return err;
    c->hdr_known = true;
    if (c->unprot_off < c->written && c->written < c->unprot_off + MOLT_TLV_INFO_SIZE) {
        /* The checkpoint splits the TLV info: its first bytes come from flash. */
        if ((err = a->read(a->ctx, c->stg + c->unprot_off, c->info, c->written - c->unprot_off)) != MOLT_OK)
            return err;
    } else if (c->unprot_off + MOLT_TLV_INFO_SIZE <= c->written) {
        if ((err = a->read(a->ctx, c->stg + c->unprot_off, c->info, sizeof c->info)) != MOLT_OK ||
            (err = check_info(c, c->info, c->unprot_off, &c->declared)) != MOLT_OK)
            return err;
        /* finish pads the last unit, which may complete a checkpoint past the
         * declared end: the image is then entirely in flash. */
        if (c->declared < c->written) {
            if (c->written - c->declared >= c->unit)
                return MOLT_E_FWU_RECORD;
            c->written = c->declared;
        }
    }
    return MOLT_OK;
}

static molt_err_t derive(molt_fwu_comp_t *c, const molt_boot_result_t *boot)
{
    molt_trailer_t st;
    bool trial;
    rec_t r;
    molt_err_t err;

    /* TRIAL comes from the boot record (state only the boot code writes); an
     * A/B component also learns there which slot it downloads to. */
    err = c->ab != NULL ? c->ab->where(c, &trial) : molt_boot_in_trial(c->port, &c->cfg, &trial);
    if (err == MOLT_E_NO_IMAGE)
        err = MOLT_OK; /* no stage 1 confirmed yet: READY, start refuses */
    if (err != MOLT_OK || (err = molt_tr_read(sec_area(c), &st)) != MOLT_OK || (err = rec_read(c, &r)) != MOLT_OK)
        return err;
    c->state = PSA_FWU_READY;
    c->error = PSA_SUCCESS;
    if (trial) {
        if (r.head && r.kind == KIND_FAILED) {
            c->state = PSA_FWU_REJECTED;
            c->error = r.failed ? r.error : (psa_status_t)MOLT_E_FWU_RECORD;
        } else {
            c->state = PSA_FWU_TRIAL;
        }
    } else if (st.magic_good) {
        c->state = PSA_FWU_STAGED;
    } else if (r.cleaned) {
        c->state = PSA_FWU_READY; /* clean() discarded the record's image */
    } else if (r.head && r.kind == KIND_UPDATED) {
        c->state = PSA_FWU_UPDATED;
    } else if (r.head && (r.kind == KIND_FAILED || r.failed)) {
        c->state = PSA_FWU_FAILED;
        c->error = r.failed ? r.error : (psa_status_t)MOLT_E_FWU_RECORD;
        /* a trial rejected without a reason of its own, then reverted */
        if (c->error == PSA_SUCCESS && boot != NULL && boot->action == MOLT_ACT_REVERT)
            c->error = (psa_status_t)MOLT_E_FWU_REVERTED;
    } else if (r.head && r.kind == KIND_DOWNLOAD) {
        if (r.cand) {
            c->state = PSA_FWU_CANDIDATE;
        } else {
            c->state = PSA_FWU_WRITING;
            if ((err = resume(c, r.ckpts)) != MOLT_OK) {
                /* Cannot happen unless the flash was altered behind our back. */
                c->state = PSA_FWU_FAILED;
                c->error = (psa_status_t)err;
            }
        }
    } else if (boot != NULL && boot->action == MOLT_ACT_REVERT) {
        c->state = PSA_FWU_FAILED;
        c->error = (psa_status_t)MOLT_E_FWU_REVERTED;
    } else if (boot != NULL && boot->action == MOLT_ACT_REFUSED) {
        c->state = PSA_FWU_FAILED;
        c->error = (psa_status_t)boot->staged_err;
    }
    return MOLT_OK;
}

/* A free component slot, cleared and named id, or NULL when all are used. */
static molt_fwu_comp_t *claim(molt_fwu_t *fwu, psa_fwu_component_t id)
{
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        if (!c->used) {
            memset(c, 0, sizeof *c);
            c->id = id;
            return c;
        }
    }
    return NULL;
}

molt_err_t molt_fwu_add_ab(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                           const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot, const molt_fwu_ab_t *ab)
{
    molt_fwu_comp_t *c = NULL;
    molt_err_t err;

    if (fwu == NULL || port == NULL || cfg == NULL || find(fwu, id) != NULL ||
        cfg->mode != (ab != NULL ? MOLT_MODE_REMAP : MOLT_MODE_SWAP) || (ab != NULL && ab->where == NULL))
        return MOLT_E_ARG;
    for (unsigned k = 0; k < MOLT_AREA_COUNT; k++) {
        const molt_area_t *a = &port->area[k];
        if (a->read == NULL || a->write == NULL || a->erase == NULL || a->sector == NULL)
            return MOLT_E_ARG;
    }
    if ((c = claim(fwu, id)) == NULL)
        return MOLT_E_ARG;
    c->port = port;
    c->cfg = *cfg;
    c->fwu = fwu;
    c->ab = ab;
    c->slot = MOLT_AREA_SECONDARY;
    fwu->deps.check = fwu_dep_check;
    fwu->deps.ctx = fwu;
    if ((err = geometry(c)) != MOLT_OK || (err = derive(c, boot)) != MOLT_OK) {
        memset(c, 0, sizeof *c);
        return err;
    }
    c->used = true;
    return MOLT_OK;
}

molt_err_t molt_fwu_add(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                        const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot)
{
    return molt_fwu_add_ab(fwu, id, port, cfg, boot, NULL);
}

molt_err_t molt_fwu_init(molt_fwu_t *fwu, const molt_port_t *port, const molt_boot_cfg_t *cfg,
                         const molt_boot_result_t *boot)
{
    if (fwu == NULL)
        return MOLT_E_ARG;
    memset(fwu, 0, sizeof *fwu);
    return molt_fwu_add(fwu, 0, port, cfg, boot);
}

void molt_fwu_set_reboot(molt_fwu_t *fwu, void (*reboot)(void *ctx), void *ctx)
{
    if (fwu != NULL) {
        fwu->reboot = reboot;
        fwu->reboot_ctx = ctx;
    }
}

molt_err_t molt_fwu_set_flags(molt_fwu_t *fwu, psa_fwu_component_t id, uint32_t flags)
{
    molt_fwu_comp_t *c = find(fwu, id);

    if (c == NULL || (flags & ~(uint32_t)PSA_FWU_FLAG_ENCRYPTION) != 0u)
        return MOLT_E_ARG; /* staging is non-volatile: VOLATILE_STAGING cannot be set */
    if ((flags & PSA_FWU_FLAG_ENCRYPTION) && !molt_port_can_decrypt(c->port))
        return MOLT_E_ARG; /* it could never take an image */
    c->flags = flags;
    return MOLT_OK;
}

void molt_fwu_set_keep(molt_fwu_t *fwu, const molt_fwu_keep_hooks_t *hooks)
{
    if (fwu != NULL)
        fwu->keep = hooks;
}

/* --- R-KEEPDATA: the optional data-preserving upgrade hooks (molt/keepdata.h) ------
 * Each is called from one marked line of the flow below; unset, they do nothing. */

/* The hooks for component c (component 0 only). */
static const molt_fwu_keep_hooks_t *keep_of(const molt_fwu_t *fwu, const molt_fwu_comp_t *c)
{
    return fwu != NULL && fwu->keep != NULL && c != NULL && c->used && c->id == 0u ? fwu->keep : NULL;
}

/* finish, after verification: may the staged image take over the data (schema)? */
static molt_err_t keep_check(const molt_fwu_t *fwu, const molt_fwu_comp_t *c, const molt_source_t *staged)
{
    const molt_fwu_keep_hooks_t *kh = keep_of(fwu, c);
    return kh != NULL && kh->check != NULL ? kh->check(kh->ctx, staged) : MOLT_OK;
}

/* install, before any request: save the data of component 0's candidate. */
static molt_err_t keep_save(const molt_fwu_t *fwu)
{
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        const molt_fwu_comp_t *c = &fwu->comp[k];
        const molt_fwu_keep_hooks_t *kh = keep_of(fwu, c);
        if (kh != NULL && kh->save != NULL && c->state == PSA_FWU_CANDIDATE) {
            molt_area_src_t sctx;
            molt_source_t src;
            molt_area_source(&src, &sctx, sec_area(c), c->stg);
            src.size = c->max_size;
            return kh->save(kh->ctx, &src);
        }
    }
    return MOLT_OK;
}

/* accept, before confirming: only a trial whose data is migrated may be accepted. */
static molt_err_t keep_accept_check(const molt_fwu_t *fwu)
{
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        const molt_fwu_keep_hooks_t *kh = keep_of(fwu, &fwu->comp[k]);
        if (kh != NULL && kh->accept_check != NULL && fwu->comp[k].state == PSA_FWU_TRIAL)
            return kh->accept_check(kh->ctx);
    }
    return MOLT_OK;
}

/* accept, after c is confirmed: consolidate (a failure is finished by the next boot). */
static void keep_accepted(const molt_fwu_t *fwu, const molt_fwu_comp_t *c)
{
    const molt_fwu_keep_hooks_t *kh = keep_of(fwu, c);
    if (kh != NULL && kh->accepted != NULL)
        (void)kh->accepted(kh->ctx);
}

/* A staged request withdrawn (reject, or a failed install): drop the session. */
static molt_err_t keep_unstaged(const molt_fwu_t *fwu)
{
    const molt_fwu_keep_hooks_t *kh = keep_of(fwu, &fwu->comp[0]);
    return kh != NULL && kh->unstaged != NULL ? kh->unstaged(kh->ctx) : MOLT_OK;
}

void molt_fwu_bind(molt_fwu_t *fwu) { g_fwu = fwu; }

/* --- the key-set component (molt_fwu_keyset_t): a key-update in RAM ------------------ */

molt_err_t molt_fwu_add_keyset(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_fwu_keyset_t *ks)
{
    molt_fwu_comp_t *c = NULL;
    if (fwu == NULL || ks == NULL || ks->keyrot == NULL || ks->factory == NULL || ks->buf == NULL || ks->cap == 0u ||
        ks->check == NULL || ks->apply == NULL || ks->load == NULL || find(fwu, id) != NULL ||
        find(fwu, ks->running) == NULL || find(fwu, ks->running)->keyset != NULL)
        return MOLT_E_ARG;
    if ((c = claim(fwu, id)) == NULL)
        return MOLT_E_ARG;
    c->fwu = fwu;
    c->keyset = ks;
    c->state = PSA_FWU_READY;
    c->max_size = ks->cap;
    c->flags = PSA_FWU_FLAG_VOLATILE_STAGING;
    c->used = true;
    return MOLT_OK;
}

static psa_status_t ks_failed(molt_fwu_comp_t *c, molt_err_t err)
{
    c->state = PSA_FWU_FAILED;
    c->error = (psa_status_t)err;
    switch (err) {
    case MOLT_E_KU_SIG: return PSA_ERROR_INVALID_SIGNATURE;
    case MOLT_E_KU_REPLAY:
    case MOLT_E_KU_ROLLBACK:
    case MOLT_E_KU_GAP:
    case MOLT_E_KU_KEY:
    case MOLT_E_KU_LOCKOUT:
    case MOLT_E_KU_STRANDS: return PSA_ERROR_NOT_PERMITTED;
    case MOLT_E_KU_FORMAT:
    case MOLT_E_KU_FULL: return PSA_ERROR_INVALID_ARGUMENT;
    default: return molt_fwu_status(err);
    }
}

static psa_status_t ks_query(molt_fwu_comp_t *c, psa_fwu_component_info_t *info)
{
    const molt_fwu_keyset_t *ks = c->keyset;
    memset(info, 0, sizeof *info);
    info->state = c->state;
    if (c->state == PSA_FWU_FAILED)
        info->error = c->error;
    if (ks->load(ks->keyrot) == MOLT_OK)
        info->version.build = ks->keyrot->ws->set.seq;
    info->max_size = c->max_size;
    info->flags = c->flags;
    if (c->state == PSA_FWU_WRITING)
        info->impl.written = c->written;
    if (c->state == PSA_FWU_CANDIDATE)
        info->impl.image_size = c->written;
    return PSA_SUCCESS;
}

static psa_status_t ks_write(molt_fwu_comp_t *c, size_t off, const void *block, size_t n)
{
    if (c->state != PSA_FWU_WRITING)
        return PSA_ERROR_BAD_STATE;
    if (block == NULL || n == 0u || n > PSA_FWU_MAX_WRITE_SIZE || off != c->written)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (n > c->keyset->cap - c->written)
        return PSA_ERROR_INSUFFICIENT_STORAGE; /* no key-update is this long: nothing kept */
    memcpy(c->keyset->buf + c->written, block, n);
    c->written += (uint32_t)n;
    return PSA_SUCCESS;
}

static psa_status_t ks_finish(molt_fwu_comp_t *c)
{
    const molt_fwu_keyset_t *ks = c->keyset;
    molt_err_t err;
    if (c->state != PSA_FWU_WRITING)
        return PSA_ERROR_BAD_STATE;
    if ((err = ks->check(ks->keyrot, ks->factory, ks->buf, c->written)) != MOLT_OK)
        return ks_failed(c, err);
    c->state = PSA_FWU_CANDIDATE;
    return PSA_SUCCESS;
}

/* install: apply the checked key-update, with the running image for the strand check. */
static molt_err_t ks_install(molt_fwu_comp_t *c)
{
    const molt_fwu_keyset_t *ks = c->keyset;
    const molt_fwu_comp_t *run = find(c->fwu, ks->running);
    molt_area_src_t ctx;
    molt_source_t src;
    molt_err_t err;
    if (run == NULL)
        return MOLT_E_ARG;
    molt_area_source(&src, &ctx, run_area(run), 0);
    if ((err = ks->apply(ks->keyrot, ks->factory, ks->buf, c->written, &src)) != MOLT_OK)
        return err;
    c->state = PSA_FWU_UPDATED;
    return MOLT_OK;
}

/* --- per-component calls ---------------------------------------------------------- */

psa_status_t molt_fwu_query(molt_fwu_t *fwu, psa_fwu_component_t id, psa_fwu_component_info_t *info)
{
    molt_fwu_comp_t *c = find(fwu, id);
    molt_area_src_t ctx;
    molt_source_t src;
    molt_image_t img;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (info == NULL)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (c->keyset != NULL)
        return ks_query(c, info);
    memset(info, 0, sizeof *info);
    info->state = c->state;
    if (c->state == PSA_FWU_FAILED || c->state == PSA_FWU_REJECTED)
        info->error = c->error;
    molt_area_source(&src, &ctx, run_area(c), 0);
    if (molt_image_parse(&src, &img) == MOLT_OK) {
        info->version.major = img.version.major;
        info->version.minor = img.version.minor;
        info->version.patch = img.version.revision;
        info->version.build = img.version.build;
    }
    info->max_size = c->max_size;
    info->flags = c->flags; /* non-volatile staging; PSA_FWU_FLAG_ENCRYPTION if configured */
    info->location = 0;
    if (c->state == PSA_FWU_WRITING)
        info->impl.written = c->written;
    if (c->state == PSA_FWU_WRITING || c->state == PSA_FWU_CANDIDATE)
        info->impl.image_size = c->declared;
    info->impl.checkpoint = c->chunk;
    return PSA_SUCCESS;
}

psa_status_t molt_fwu_start(molt_fwu_t *fwu, psa_fwu_component_t id, const void *manifest, size_t manifest_size)
{
    molt_fwu_comp_t *c = find(fwu, id);
    molt_err_t err;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (c->state != PSA_FWU_READY)
        return PSA_ERROR_BAD_STATE;
    /* The manifest is bundled with the image (MCUboot TLVs): a detached one is unexpected. */
    if (manifest != NULL || manifest_size != 0u)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (c->keyset != NULL) {
        c->state = PSA_FWU_WRITING;
        c->error = PSA_SUCCESS;
        c->written = 0;
        return PSA_SUCCESS;
    }
    if (c->ab != NULL) {
        /* The slot stage 0 would activate: the one not confirmed (reads only). */
        bool trial;
        uint8_t was = c->slot;
        if ((err = c->ab->where(c, &trial)) != MOLT_OK)
            return err == MOLT_E_NO_IMAGE ? PSA_ERROR_BAD_STATE : molt_fwu_status(err);
        if (trial)
            return PSA_ERROR_BAD_STATE;
        if (c->slot != was)
            c->rec_clean = c->img_clean = false;
    }
    if (!c->rec_clean && (err = erase_record(c)) != MOLT_OK)
        return molt_fwu_status(err);
    c->rec_clean = false;
    if ((err = write_head(c, KIND_DOWNLOAD)) != MOLT_OK)
        return molt_fwu_status(err);
    c->state = PSA_FWU_WRITING;
    c->error = PSA_SUCCESS;
    c->written = c->programmed = c->declared = c->unprot_off = 0;
    c->hdr_known = false;
    c->pend_len = 0;
    stop_hash(c);
    c->hashing = molt_crypto_init() == MOLT_OK && molt_hash_start(hctx(c), MOLT_HASH_SHA256) == MOLT_OK;
    return PSA_SUCCESS;
}

psa_status_t molt_fwu_write(molt_fwu_t *fwu, psa_fwu_component_t id, size_t image_offset, const void *block,
                            size_t block_size)
{
    molt_fwu_comp_t *c = find(fwu, id);
    const uint8_t *b = block;
    uint8_t hdr[MOLT_IMAGE_HEADER_SIZE], info[MOLT_TLV_INFO_SIZE];
    uint32_t unprot, declared, limit, end, p = 0, len;
    bool hk;
    molt_err_t err = MOLT_OK;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (c->keyset != NULL)
        return ks_write(c, image_offset, block, block_size);
    if (c->state != PSA_FWU_WRITING)
        return PSA_ERROR_BAD_STATE;
    if (block == NULL || block_size == 0u || block_size > PSA_FWU_MAX_WRITE_SIZE || image_offset != c->written)
        return PSA_ERROR_INVALID_ARGUMENT;
    len = (uint32_t)block_size;
    end = c->written + len;
    /* Checks on what this block would complete, before anything is written. */
    hk = c->hdr_known;
    unprot = c->unprot_off;
    declared = c->declared;
    if (!hk && end >= MOLT_IMAGE_HEADER_SIZE) {
        memcpy(hdr, c->hdr, c->written);
        memcpy(hdr + c->written, b, MOLT_IMAGE_HEADER_SIZE - c->written);
        if ((err = check_header(c, hdr, &unprot)) == MOLT_OK)
            hk = true;
    }
    if (err == MOLT_OK && hk && declared == 0u && end >= unprot + MOLT_TLV_INFO_SIZE) {
        for (uint32_t i = 0; i < MOLT_TLV_INFO_SIZE; i++) {
            uint32_t pos = unprot + i;
            info[i] = pos < c->written ? c->info[i] : b[pos - c->written];
        }
        err = check_info(c, info, unprot, &declared);
    }
    if (err != MOLT_OK) {
        /* An image the device would refuse: stop here (verify early, R-AUTH). */
        (void)to_failed(c, (psa_status_t)err);
        return molt_fwu_status(err);
    }
    limit = declared != 0u ? declared : c->max_size;
    if (end > limit)
        return PSA_ERROR_INVALID_ARGUMENT; /* past the declared image: nothing written */
    /* Commit. */
    for (uint32_t i = 0; i < len; i++) {
        uint32_t pos = c->written + i;
        if (pos < MOLT_IMAGE_HEADER_SIZE)
            c->hdr[pos] = b[i];
        else if (hk && pos >= unprot && pos < unprot + MOLT_TLV_INFO_SIZE)
            c->info[pos - unprot] = b[i];
    }
    c->hdr_known = hk;
    c->unprot_off = unprot;
    c->declared = declared;
    while (p < len && err == MOLT_OK) {
        if (c->pend_len > 0u || len - p < c->unit) {
            uint32_t n = c->unit - c->pend_len < len - p ? c->unit - c->pend_len : len - p;
            memcpy(c->pend + c->pend_len, b + p, n);
            c->pend_len += n;
            p += n;
            if (c->pend_len == c->unit) {
                err = program(c, c->pend, c->unit);
                c->pend_len = 0;
            }
        } else {
            uint32_t n = (len - p) / c->unit * c->unit;
            err = program(c, b + p, n);
            p += n;
        }
    }
    if (err != MOLT_OK) {
        c->state = PSA_FWU_FAILED; /* the flash failed: RAM only, the record says WRITING */
        c->error = (psa_status_t)err;
        stop_hash(c);
        return molt_fwu_status(err);
    }
    if (c->hashing) {
        uint32_t feed_end = hk && unprot < end ? unprot : end;
        if (c->written < feed_end && molt_hash_update(hctx(c), b, feed_end - c->written) != MOLT_OK)
            stop_hash(c);
    }
    c->written = end;
    return PSA_SUCCESS;
}

psa_status_t molt_fwu_finish(molt_fwu_t *fwu, psa_fwu_component_t id)
{
    molt_fwu_comp_t *c = find(fwu, id);
    molt_area_src_t ctx, pctx;
    molt_source_t src, psrc;
    molt_verify_result_t vr;
    molt_image_t cur;
    uint8_t digest[MOLT_HASH_MAX_SIZE];
    size_t dlen = 0;
    uint32_t nv;
    molt_err_t err;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (c->keyset != NULL)
        return ks_finish(c);
    if (c->state != PSA_FWU_WRITING)
        return PSA_ERROR_BAD_STATE;
    if (c->declared == 0u || c->written != c->declared)
        return molt_fwu_status(MOLT_E_FWU_INCOMPLETE); /* resume first; nothing changes */
    if (c->hashing && molt_hash_finish(hctx(c), digest, sizeof digest, &dlen) != MOLT_OK)
        dlen = 0;
    c->hashing = false;
    if (c->pend_len > 0u) {
        memset(c->pend + c->pend_len, sec_area(c)->erase_value, c->unit - c->pend_len);
        err = program(c, c->pend, c->unit);
        c->pend_len = 0;
        if (err != MOLT_OK) {
            c->state = PSA_FWU_FAILED;
            c->error = (psa_status_t)err;
            return molt_fwu_status(err);
        }
    }
    /* The staged bytes, exactly the declared image, judged by the one policy
     * the boot code uses (R-AUTH, R-ROLLBACK; judge.h). With the streamed digest
     * only the header and TLVs are read; otherwise (a reset broke the stream, a
     * SHA-384/512 image, pure Ed25519, an encrypted image whose digest covers
     * the plaintext) the image is read once more. */
    molt_area_source(&src, &ctx, sec_area(c), c->stg);
    src.size = c->declared;
    if ((err = molt_counter_get(c->port, &nv)) != MOLT_OK) {
        c->state = PSA_FWU_FAILED;
        c->error = (psa_status_t)err;
        return molt_fwu_status(err);
    }
    molt_area_source(&psrc, &pctx, run_area(c), 0);
    bool running = molt_image_parse(&psrc, &cur) == MOLT_OK;
    bool floor = c->cfg.downgrade_prevention && running;
    molt_judge_in_t in = {MOLT_ROLE_UPLOAD, nv, floor ? &cur.version : NULL, (c->flags & PSA_FWU_FLAG_ENCRYPTION) != 0u,
                          comp_deps(c), dlen == molt_hash_size(MOLT_HASH_SHA256) ? digest : NULL, c->cfg.keyrot,
                          c->cfg.stage};
    err = molt_judge(c->port, &src, &in, &vr);

    if (err == MOLT_OK && vr.image.end != c->declared)
        err = MOLT_E_BOUNDS;
    /* A/B boots only forward: stage 0 refuses what is not newer than the confirmed image. */
    if (err == MOLT_OK && c->ab != NULL && (!running || molt_version_cmp(&vr.image.version, &cur.version) <= 0))
        err = MOLT_E_DOWNGRADE;
    if (err == MOLT_OK)
        err = keep_check(fwu, c, &src); /* R-KEEPDATA */
    c->img_clean = false;
    if (err != MOLT_OK) {
        (void)to_failed(c, (psa_status_t)err);
        return molt_fwu_status(err);
    }
    if ((err = unit_write(c, REC_CAND, NULL, 0)) != MOLT_OK) {
        c->state = PSA_FWU_FAILED;
        c->error = (psa_status_t)err;
        return molt_fwu_status(err);
    }
    c->state = PSA_FWU_CANDIDATE;
    return PSA_SUCCESS;
}

psa_status_t molt_fwu_cancel(molt_fwu_t *fwu, psa_fwu_component_t id)
{
    molt_fwu_comp_t *c = find(fwu, id);
    molt_err_t err;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (c->state != PSA_FWU_WRITING && c->state != PSA_FWU_CANDIDATE)
        return PSA_ERROR_BAD_STATE;
    if (c->keyset != NULL) {
        c->state = PSA_FWU_FAILED;
        c->error = (psa_status_t)MOLT_E_FWU_CANCELLED;
        return PSA_SUCCESS;
    }
    err = to_failed(c, (psa_status_t)MOLT_E_FWU_CANCELLED);
    return molt_fwu_status(err);
}

psa_status_t molt_fwu_clean(molt_fwu_t *fwu, psa_fwu_component_t id)
{
    molt_fwu_comp_t *c = find(fwu, id);
    molt_err_t err;

    if (c == NULL)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (c->state != PSA_FWU_FAILED && c->state != PSA_FWU_UPDATED)
        return PSA_ERROR_BAD_STATE;
    if (c->keyset != NULL) {
        c->state = PSA_FWU_READY;
        c->error = PSA_SUCCESS;
        c->written = 0;
        return PSA_SUCCESS;
    }
    /* One CLEAN mark: the image can never be installed from this record again,
     * and the staging sectors are erased once, when the next download enters
     * them (wear: docs/bench.md). */
    uint8_t u[MOLT_FWU_UNIT_MAX];
    if ((err = unit_read(c, c->rec_units, u)) != MOLT_OK ||
        (blank(u, c->unit, sec_area(c)->erase_value) && (err = unit_write(c, c->rec_units, NULL, 0)) != MOLT_OK))
        return molt_fwu_status(err);
    c->state = PSA_FWU_READY;
    c->error = PSA_SUCCESS;
    c->img_clean = c->rec_clean = false;
    c->written = c->programmed = c->declared = 0;
    return PSA_SUCCESS;
}

/* --- calls acting on every component ------------------------------------------------- */

/* Undo an install of c (another component failed): drop the request with the
 * trailer sector, then write the record back as CANDIDATE. */
static molt_err_t unrequest(molt_fwu_comp_t *c)
{
    molt_err_t err;
    if ((err = erase_record(c)) != MOLT_OK || (err = write_head(c, KIND_DOWNLOAD)) != MOLT_OK ||
        (err = unit_write(c, REC_CAND, NULL, 0)) != MOLT_OK)
        return err;
    return MOLT_OK;
}

/* Request a trial of c's candidate. A power cut inside an earlier request may
 * have left a partly written trailer unit that cannot be programmed again:
 * then the sector is erased and the record rewritten first. */
static molt_err_t request(molt_fwu_comp_t *c)
{
    const molt_area_t *a = sec_area(c);
    uint32_t reserve = molt_roundup(MAGIC_SZ, c->unit) + 4u * c->unit;
    uint8_t buf[MOLT_FWU_UNIT_MAX];
    bool dirty = false;
    molt_err_t err;

    for (uint32_t off = a->size - reserve; off < a->size && !dirty; off += c->unit) {
        if ((err = a->read(a->ctx, off, buf, c->unit)) != MOLT_OK)
            return err;
        dirty = !blank(buf, c->unit, a->erase_value);
    }
    if (dirty && (err = unrequest(c)) != MOLT_OK)
        return err;
    return molt_boot_request_own(c->port, &c->cfg, false);
}

psa_status_t molt_fwu_install(molt_fwu_t *fwu)
{
    unsigned cand = 0, images = 0;
    molt_err_t err;

    if (fwu == NULL)
        return PSA_ERROR_BAD_STATE;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        const molt_fwu_comp_t *c = &fwu->comp[k];
        if (!c->used)
            continue;
        if (c->state == PSA_FWU_STAGED || c->state == PSA_FWU_TRIAL || c->state == PSA_FWU_REJECTED)
            return PSA_ERROR_BAD_STATE;
        cand += c->state == PSA_FWU_CANDIDATE;
        images += c->state == PSA_FWU_CANDIDATE && c->keyset == NULL;
    }
    if (cand == 0u)
        return PSA_ERROR_BAD_STATE;
    /* All or nothing with the dependencies: each candidate's DEPENDENCY TLVs
     * against what this install leaves (a candidate judged at finish may
     * depend on another that was cancelled since). Nothing is written yet. */
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        molt_area_src_t sctx;
        molt_source_t src;
        molt_image_t img;
        if (!c->used || c->state != PSA_FWU_CANDIDATE || c->keyset != NULL)
            continue;
        molt_area_source(&src, &sctx, sec_area(c), c->stg); /* finish verified it: it parses */
        if ((err = molt_image_parse(&src, &img)) != MOLT_OK || (err = molt_judge_deps(&src, &img, comp_deps(c))) != MOLT_OK)
            return molt_fwu_status(err);
    }
    /* Key sets first (docs/keys.md "Delivery"): applied at once, not taken back. */
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        if (c->used && c->state == PSA_FWU_CANDIDATE && c->keyset != NULL && (err = ks_install(c)) != MOLT_OK)
            return ks_failed(c, err);
    }
    if (images == 0u)
        return PSA_SUCCESS;
    if ((err = keep_save(fwu)) != MOLT_OK) /* R-KEEPDATA */
        return molt_fwu_status(err);
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        if (!c->used || c->state != PSA_FWU_CANDIDATE || c->keyset != NULL)
            continue;
        if ((err = request(c)) != MOLT_OK) {
            (void)keep_unstaged(fwu); /* R-KEEPDATA */
            /* All or nothing: take back the requests already written. */
            for (unsigned j = 0; j < k; j++) {
                molt_fwu_comp_t *d = &fwu->comp[j];
                if (d->used && d->state == PSA_FWU_STAGED && unrequest(d) == MOLT_OK)
                    d->state = PSA_FWU_CANDIDATE;
            }
            return molt_fwu_status(err);
        }
        c->state = PSA_FWU_STAGED;
    }
    return PSA_SUCCESS_REBOOT;
}

psa_status_t molt_fwu_request_reboot(molt_fwu_t *fwu)
{
    if (fwu == NULL || fwu->reboot == NULL)
        return PSA_ERROR_NOT_SUPPORTED;
    fwu->reboot(fwu->reboot_ctx);
    return PSA_SUCCESS;
}

/* Record c as FAILED for why in a fresh record sector. */
static molt_err_t record_failed(molt_fwu_comp_t *c, psa_status_t why)
{
    molt_err_t err;
    if ((err = (c->state == PSA_FWU_TRIAL ? fresh_record(c) : erase_record(c))) != MOLT_OK ||
        (err = write_head(c, KIND_FAILED)) != MOLT_OK)
        return err;
    return write_failed(c, why);
}

psa_status_t molt_fwu_reject(molt_fwu_t *fwu, psa_status_t error)
{
    psa_status_t rc = PSA_SUCCESS;
    unsigned n = 0;
    molt_err_t err;

    if (fwu == NULL)
        return PSA_ERROR_BAD_STATE;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++)
        n += fwu->comp[k].used && (fwu->comp[k].state == PSA_FWU_STAGED || fwu->comp[k].state == PSA_FWU_TRIAL);
    if (n == 0u)
        return PSA_ERROR_BAD_STATE;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        if (!c->used)
            continue;
        if (c->state == PSA_FWU_STAGED) {
            /* The staged header sector first: from then on the boot code would
             * refuse the image even if the request survived a cut. */
            if ((err = sec_area(c)->erase(sec_area(c)->ctx, c->stg, c->sector)) != MOLT_OK ||
                (err = record_failed(c, error)) != MOLT_OK)
                return molt_fwu_status(err);
            c->state = PSA_FWU_FAILED;
            c->error = error;
            if (c->id == 0u && (err = keep_unstaged(fwu)) != MOLT_OK) /* R-KEEPDATA */
                return molt_fwu_status(err);
        } else if (c->state == PSA_FWU_TRIAL) {
            /* The boot code reverts an unconfirmed trial at the next reset. */
            if ((err = record_failed(c, error)) != MOLT_OK)
                return molt_fwu_status(err);
            c->state = PSA_FWU_REJECTED;
            c->error = error;
            rc = PSA_SUCCESS_REBOOT;
        }
    }
    return rc;
}

psa_status_t molt_fwu_accept(molt_fwu_t *fwu)
{
    unsigned n = 0;
    molt_err_t err;

    if (fwu == NULL)
        return PSA_ERROR_BAD_STATE;
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++)
        n += fwu->comp[k].used && fwu->comp[k].state == PSA_FWU_TRIAL;
    if (n == 0u)
        return PSA_ERROR_BAD_STATE;
    if ((err = keep_accept_check(fwu)) != MOLT_OK) /* R-KEEPDATA */
        return molt_fwu_status(err);
    for (unsigned k = 0; k < MOLT_FWU_MAX_COMPONENTS; k++) {
        molt_fwu_comp_t *c = &fwu->comp[k];
        molt_area_src_t ctx;
        molt_source_t src;
        molt_image_t img;
        if (!c->used || c->state != PSA_FWU_TRIAL)
            continue;
        /* Confirm, then raise the counter to the running image's at once
         * (R-ROLLBACK): no older image can be staged before the next reset.
         * A cut in between is harmless: the boot code advances the counter of
         * a confirmed image itself. */
        molt_area_source(&src, &ctx, run_area(c), 0);
        if ((err = molt_confirm(c->port, &c->cfg)) != MOLT_OK ||
            (err = molt_image_parse(&src, &img)) != MOLT_OK ||
            (err = molt_counter_commit(c->port, &img)) != MOLT_OK)
            return molt_fwu_status(err);
        /* A/B: the trial slot now holds the confirmation flag; the record (and
         * the next download) moves to the other slot, the one not confirmed. */
        uint8_t trial_slot = c->slot;
        if (c->ab != NULL)
            c->slot = (uint8_t)(1u - c->slot);
        if ((err = fresh_record(c)) != MOLT_OK || (err = write_head(c, KIND_UPDATED)) != MOLT_OK) {
            c->slot = trial_slot; /* still TRIAL in RAM: a retry finds it confirmed */
            return molt_fwu_status(err);
        }
        c->state = PSA_FWU_UPDATED;
        keep_accepted(fwu, c); /* R-KEEPDATA */
    }
    return PSA_SUCCESS;
}

/* --- the global PSA functions ------------------------------------------------------- */

psa_status_t psa_fwu_query(psa_fwu_component_t component, psa_fwu_component_info_t *info)
{
    return molt_fwu_query(g_fwu, component, info);
}

psa_status_t psa_fwu_start(psa_fwu_component_t component, const void *manifest, size_t manifest_size)
{
    return g_fwu == NULL ? PSA_ERROR_BAD_STATE : molt_fwu_start(g_fwu, component, manifest, manifest_size);
}

psa_status_t psa_fwu_write(psa_fwu_component_t component, size_t image_offset, const void *block,
                           size_t block_size)
{
    return g_fwu == NULL ? PSA_ERROR_BAD_STATE : molt_fwu_write(g_fwu, component, image_offset, block, block_size);
}

psa_status_t psa_fwu_finish(psa_fwu_component_t component)
{
    return g_fwu == NULL ? PSA_ERROR_BAD_STATE : molt_fwu_finish(g_fwu, component);
}

psa_status_t psa_fwu_cancel(psa_fwu_component_t component)
{
    return g_fwu == NULL ? PSA_ERROR_BAD_STATE : molt_fwu_cancel(g_fwu, component);
}

psa_status_t psa_fwu_clean(psa_fwu_component_t component)
{
    return g_fwu == NULL ? PSA_ERROR_BAD_STATE : molt_fwu_clean(g_fwu, component);
}

psa_status_t psa_fwu_install(void) { return molt_fwu_install(g_fwu); }
psa_status_t psa_fwu_request_reboot(void) { return molt_fwu_request_reboot(g_fwu); }
psa_status_t psa_fwu_reject(psa_status_t error) { return molt_fwu_reject(g_fwu, error); }
psa_status_t psa_fwu_accept(void) { return molt_fwu_accept(g_fwu); }
