/*
 * life.c - the adversarial device-life proof (see life.h). Host code.
 *
 * The oracle below knows the images (their bytes, versions and counters) and
 * what the simulated application did; it never asks libmolt what state it is
 * in. Its rules are the promises of docs/security-target.md (R-FAILSAFE,
 * R-ROLLBACK, R-ATOMIC), not a second implementation of the boot code.
 */
#include <stdlib.h>
#include <string.h>

#include "life.h"
#include "molt/fwu.h"
#include "molt/keepdata.h"
#include "molt/store.h"
#include "molt_host/image_writer.h"
#include "sim_port.h"
#include "rng.h"

#define NIMG 6
#define MAX_CUTS 3

typedef struct geo {
    uint32_t sector, align;
    uint8_t ev;
    bool wonce, mixed;
    uint32_t img_secs;
} geo_t;

static const geo_t geos[] = {
    {1024, 8, 0xff, true, false, 1},   {2048, 8, 0xff, false, false, 2}, {1024, 1, 0xff, false, false, 3},
    {2048, 32, 0x00, true, false, 2},  {4096, 256, 0xff, false, false, 1}, {4096, 256, 0x00, true, false, 3},
    {1024, 8, 0xff, true, true, 2},    {2048, 8, 0x00, false, true, 3},
};
#define NGEO (sizeof geos / sizeof geos[0])

/* The family: versions and counters up and down (index 0 is the factory image). */
static const molt_version_t vers[NIMG] = {{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 2, 0, 0},
                                          {0, 9, 0, 0}, {2, 0, 0, 0}, {1, 5, 0, 0}};
static const uint32_t cnts[NIMG] = {1, 2, 2, 3, 4, 1};

typedef struct img {
    uint8_t *b;
    size_t n;
} img_t;

static img_t fam[NGEO][NIMG];

/* The data variant's family: the same images, each declaring a data schema for
 * application 1 in the protected schema TLV (schema, oldest it migrates from):
 * migrations 1->2, 1->3, 2->3 and same-schema upgrades; image 2 cannot migrate
 * schema 1, image 5 neither 1 nor 2, image 3 not 2 or 3 (refused at finish). */
static img_t famd[NGEO][NIMG];
static const uint16_t sch[NIMG] = {1, 2, 2, 1, 3, 3};
static const uint16_t sch_from[NIMG] = {1, 1, 2, 1, 1, 3};
#define DAPP 1u  /* the application whose data is upgraded */
#define DAPP2 2u /* another application: its record must never change */


static bool make_family(const life_cfg_t *cfg)
{
    sign_key_t key;
    memset(&key, 0, sizeof key);
    if (!sign_key_load(cfg->key_pem, &key))
        return false;
    rng_t r = {0x9e3779b97f4a7c15ull};
    bool ok = true;
    for (unsigned g = 0; g < NGEO && ok; g++) {
        for (unsigned i = 0; i < NIMG && ok; i++) {
            sign_opts_t o;
            memset(&o, 0, sizeof o);
            o.key_path = cfg->key_pem;
            o.in_path = "life";
            o.version = vers[i];
            o.has_sec_cnt = true;
            o.sec_cnt = cnts[i];
            o.hdr_size = 32;
            o.pad_header = true;
            o.align = 8;
            o.sha = SIGN_SHA256;
            o.erased = 0xff;
            /* ends inside its img_secs-th sector, so it takes exactly that many */
            size_t len = (size_t)geos[g].sector * geos[g].img_secs - 420u - below(&r, 200);
            if (geos[g].img_secs > 1u && len < (size_t)geos[g].sector * (geos[g].img_secs - 1u) + 8u)
                len = (size_t)geos[g].sector * (geos[g].img_secs - 1u) + 8u;
            uint8_t *in = malloc(len);
            sbuf_t out = {0};
            if (in == NULL)
                return false;
            for (size_t k = 0; k < len; k++)
                in[k] = (uint8_t)rnd(&r);
            ok = sign_build_image(&o, &key, SIGN_SHA256, in, len, &out) && !out.oom;
            fam[g][i].b = out.p;
            fam[g][i].n = out.len;
            uint8_t tv[8] = {DAPP, 0, (uint8_t)sch[i], (uint8_t)(sch[i] >> 8), (uint8_t)sch_from[i],
                             (uint8_t)(sch_from[i] >> 8), 0, 0};
            sign_custom_tlv_t ct = {MOLT_TLV_DATA_SCHEMA, tv, sizeof tv};
            sbuf_t outd = {0};
            o.custom = &ct;
            o.ncustom = 1;
            ok = ok && sign_build_image(&o, &key, SIGN_SHA256, in, len, &outd) && !outd.oom;
            free(in);
            famd[g][i].b = outd.p;
            famd[g][i].n = outd.len;
        }
    }
    sign_key_free(&key);
    return ok;
}

/* --- one life ------------------------------------------------------------------- */

/* The data oracle's view of application 1's records: id -> payload (the
 * application's content, independent of schema). */
#define NID 5u   /* record ids 0..4; id 0 is the save listener's */
#define PAYMAX 20u
typedef struct dmap {
    bool has[NID];
    uint8_t len[NID];
    uint8_t v[NID][PAYMAX];
} dmap_t;

typedef struct life {
    const life_cfg_t *cfg;
    life_result_t *res;
    rng_t r;
    uint64_t seed;
    unsigned g;
    sim_device_t d;
    molt_boot_cfg_t bc;
    molt_boot_result_t br;
    molt_fwu_t fwu;
    bool fwu_ok;
    /* the oracle's state: only what the application did */
    int conf;            /* the confirmed image */
    int trial;           /* the image the last boot ran as a trial, or -1 */
    bool confirmed;      /* the application confirmed that trial since */
    bool damaged;        /* it wrote into the revert copy during that trial */
    bool perm;           /* a permanent request is pending in the staging trailer */
    int staged;          /* the image staged last, -1 none, -2 damaged */
    uint32_t nv;
    int running_slot;
    bool trace;
    bool maybe;     /* a confirm of that trial was cut: it may have landed */
    int pre_staged; /* the image in the staging area when the reset came */
    int R;          /* the image the last completed boot runs (-1: none) */
    /* the data variant: the application's store and listeners ... */
    molt_store_t st;
    molt_keep_t k;
    bool data_ready;    /* st and k attached for this boot */
    bool keep_ok;       /* molt_keep_boot() said OK: the application uses its records */
    bool saved_called;  /* the save listener ran in the current call */
    bool save_failed;   /* ... and failed */
    uint32_t saves_n;
    bool app2;          /* application 2's record was written (at the factory) */
    /* ... and the data oracle: what the application wrote, in which schema */
    dmap_t D;           /* the records as the application last wrote them */
    uint16_t ds;        /* the schema they are in */
    bool pend;          /* a put/del was cut: record pend_id is the old or the new value */
    uint8_t pend_id;
    bool pend_has;
    uint8_t pend_len, pend_v[PAYMAX];
    struct {
        bool on;    /* a data-preserving upgrade is under way */
        bool pre;   /* its new code has not run yet (the data is the old code's) */
        bool maybe; /* the save was cut before its listener: it may not have started */
        bool amb;   /* ... and the new code's schema is the data's: the boot could not tell */
        int O, N, Nalt; /* old and new image (Nalt: a session it may have replaced) */
        dmap_t snap;    /* the old data, for the revert */
        uint16_t snap_ds;
    } ses;
} life_t;

static void fail(life_t *l, uint64_t *what, const char *why, long long x)
{
    (*what)++;
    if (l->cfg->log)
        fprintf(l->cfg->log, "life seed %llu (geometry %u, mode %d): %s (%lld)\n", (unsigned long long)l->seed, l->g,
                (int)l->bc.mode, why, x);
}

static const img_t *img(life_t *l, int i) { return l->cfg->data ? &famd[l->g][i] : &fam[l->g][i]; }

static bool slot_is(life_t *l, unsigned area, uint32_t off, int i)
{
    const img_t *m = img(l, i);
    const uint8_t *p = sim_flash_data(&l->d.flash) + sim_device_area_base(&l->d, area) + off;
    return off + m->n <= l->d.port.area[area].size && memcmp(p, m->b, m->n) == 0;
}

static uint32_t nv_now(life_t *l)
{
    uint32_t v = 0;
    if (l->d.port.nv_read(l->d.port.ctx, MOLT_NV_SECURITY_COUNTER, &v) != MOLT_OK)
        return UINT32_MAX;
    return v;
}

/* The slot the application stages into: SWAP/OVERWRITE SECONDARY, REMAP the
 * one not running. */
static unsigned stage_area(life_t *l)
{
    return l->bc.mode == MOLT_MODE_REMAP ? 1u - (unsigned)l->running_slot : MOLT_AREA_SECONDARY;
}
static uint32_t stage_off(life_t *l) { return molt_boot_staging_offset(&l->d.port, &l->bc); }

/* A raw write or erase at off of the staging area: does it reach the revert copy of a trial? */
static void touch(life_t *l, unsigned area, uint32_t off)
{
    if (l->trial < 0 || area != stage_area(l))
        return;
    /* SWAP: SECONDARY [0, N sectors) holds it; REMAP: the whole other slot. */
    uint32_t end = l->bc.mode == MOLT_MODE_SWAP ? (geos[l->g].img_secs + 0u) * geos[l->g].sector : UINT32_MAX;
    if (off < end)
        l->damaged = true;
}

/* A molt call: count the NOR violations made inside it. */
#define MOLT_CALL(l, expr)                                                                                            \
    ({                                                                                                                \
        uint64_t v0_ = (l)->d.flash.stats.violations;                                                                 \
        __typeof__(expr) rc_ = (expr);                                                                                \
        if ((l)->d.flash.stats.violations != v0_)                                                                     \
            fail((l), &(l)->res->nor, "NOR violation inside molt", (long long)((l)->d.flash.stats.violations - v0_)); \
        rc_;                                                                                                          \
    })

/* Check one completed boot against the oracle and update it. */
static void judge(life_t *l, molt_err_t rc)
{
    life_result_t *res = l->res;
    molt_boot_result_t *r = &l->br;
    res->boots++;
    l->R = -1;
    if (l->trace)
        fprintf(stderr, "  boot rc %d slot %u trial %d action %d lost %d cleared %d err %d\n", rc, r->slot, r->trial,
                r->action, r->revert_lost, r->request_cleared, r->staged_err);

    if (rc != MOLT_OK) {
        fail(l, &res->bricked, "boot failed", rc);
        return;
    }
    unsigned area = l->bc.mode == MOLT_MODE_REMAP ? r->slot : MOLT_AREA_PRIMARY;
    int R = -1;
    for (int i = 0; i < NIMG && R < 0; i++)
        if (slot_is(l, area, 0, i))
            R = i;
    uint32_t nv = nv_now(l);
    if (R < 0) {
        fail(l, &res->mixed, "running bytes are no signed image", r->slot);
        return;
    }
    l->R = R;
    /* A trial the application confirmed is the confirmed image from then on;
     * one whose confirm was cut landed if the boot moved on to another trial. */
    if (l->trial >= 0 && (l->confirmed || (l->maybe && r->trial && R != l->trial))) {
        l->conf = l->trial;
        l->trial = -1;
        l->confirmed = false;
        l->maybe = false;
    }
    if (nv < l->nv || nv == UINT32_MAX || cnts[R] < nv)
        fail(l, &res->counter, "counter decreased or below the running image", nv);
    l->nv = nv;
    res->activations += r->action == MOLT_ACT_UPGRADE_TEST || r->action == MOLT_ACT_UPGRADE_PERM;
    res->reverts += r->action == MOLT_ACT_REVERT;
    res->refusals += r->action == MOLT_ACT_REFUSED;
    res->revert_lost += r->revert_lost;
    if (r->trial) {
        if (l->trial == R && !l->confirmed && !l->maybe && !(r->revert_lost && l->damaged))
            fail(l, &res->revert, "a trial still runs after a reset without a confirm", R);
        if (r->revert_lost && !l->damaged)
            fail(l, &res->lost, "revert lost though the revert copy was never touched", R);
        if (l->trial != R) {
            l->damaged = false;
            /* the confirmed image must be kept for the revert */
            bool kept = l->bc.mode == MOLT_MODE_SWAP ? slot_is(l, MOLT_AREA_SECONDARY, 0, l->conf)
                                                     : slot_is(l, 1u - r->slot, 0, l->conf);
            if (!kept)
                fail(l, &res->lost, "the confirmed image is not kept during a trial", l->conf);
        }
        if (nv > cnts[l->conf])
            fail(l, &res->counter, "counter above the confirmed image's during a trial", nv);
        if (l->trial != R)
            l->maybe = false;
        l->trial = R;
        l->confirmed = false;
    } else {
        bool legit = R == l->conf || (l->trial == R && (l->confirmed || l->maybe)) || (l->perm && l->pre_staged == R);
        if (!legit)
            fail(l, &res->unconf, "an image runs confirmed without a confirm or a permanent request (R, conf, staged, perm, action)", R * 10000 + l->conf * 1000 + (l->staged + 2) * 100 + l->perm * 10 + r->action);
        if (r->revert_lost)
            fail(l, &res->lost, "revert_lost outside a trial", R);
        l->conf = R;
        l->trial = -1;
        l->confirmed = false;
        l->maybe = false;
        l->damaged = false;
        if (nv > cnts[R])
            fail(l, &res->counter, "counter above the confirmed image's", nv);
    }
    l->running_slot = (int)area;
    /* a request is consumed (or cleared) when the boot acts on it */
    if (r->action != MOLT_ACT_NONE || r->request_cleared)
        l->perm = false;
}

/* --- the data variant: the application's side ------------------------------------ */

/* A record as the application stores it in schema sc: schema (LE16), id
 * (LE16), then the content scrambled by a schema-dependent key, so the same
 * content has other bytes in every schema. */
static uint32_t enc(uint16_t sc, uint8_t id, const uint8_t *p, uint32_t n, uint8_t *out)
{
    out[0] = (uint8_t)sc;
    out[1] = (uint8_t)(sc >> 8);
    out[2] = id;
    out[3] = 0;
    for (uint32_t i = 0; i < n; i++)
        out[4 + i] = (uint8_t)(p[i] ^ (uint8_t)(sc * 29u + id * 7u + i));
    return n + 4u;
}

/* The application writes (has) or deletes (!has) record id in schema sc; a cut
 * call leaves the oracle unsure which value the record holds until the boot. */
static molt_err_t app_write(life_t *l, uint8_t id, bool has, const uint8_t *p, uint8_t n, uint16_t sc)
{
    uint8_t b[4 + PAYMAX];
    uint64_t v0 = l->d.flash.stats.violations;
    molt_err_t e = has ? molt_store_put(&l->k.app, id, b, enc(sc, id, p, n, b)) : molt_store_del(&l->k.app, id);
    if (l->d.flash.stats.violations != v0)
        fail(l, &l->res->nor, "NOR violation inside the store", (long long)(l->d.flash.stats.violations - v0));
    if (!sim_flash_powered(&l->d.flash)) {
        l->pend = true;
        l->pend_id = id;
        l->pend_has = has;
        l->pend_len = n;
        memcpy(l->pend_v, p, n);
    } else if (e == MOLT_OK) {
        /* accepted: it must survive (also into the snapshot while the new code has not run) */
        l->res->rec_writes++;
        l->D.has[id] = has;
        l->D.len[id] = n;
        memcpy(l->D.v[id], p, n);
        if (l->ses.on && l->ses.pre) {
            l->ses.snap.has[id] = has;
            l->ses.snap.len[id] = n;
            memcpy(l->ses.snap.v[id], p, n);
        }
    }
    return e;
}

/* Save listener: flush the RAM state (the number of saves) into record 0. */
static molt_err_t ls_save(void *ctx, const molt_store_app_t *h)
{
    life_t *l = ctx;
    uint8_t p[4];
    (void)h;
    l->saved_called = true;
    l->res->saves++;
    l->saves_n++;
    memcpy(p, &l->saves_n, 4);
    molt_err_t e = app_write(l, 0, true, p, 4, l->ds);
    l->save_failed = e != MOLT_OK; /* (a save made while an earlier one froze the records) */
    return e;
}

/* Restore listener: rewrite every record from schema prev to next (LIVE holds
 * the saved records at each call). A record in another schema: refuse. */
static molt_err_t ls_restore(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next)
{
    (void)ctx;
    if (prev == next)
        return MOLT_OK;
    uint16_t ids[NID + 4], id, len;
    uint32_t n = 0, cur = 0;
    bool more = true;
    molt_err_t err;
    while ((err = molt_store_app_next(h, &cur, &id, &len, &more)) == MOLT_OK && more && n < NID + 4)
        ids[n++] = id;
    if (err != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t v[4 + PAYMAX], p[PAYMAX], w[4 + PAYMAX];
        size_t vl = 0;
        if ((err = molt_store_get(h, ids[i], v, sizeof v, &vl)) != MOLT_OK)
            return err;
        if (vl < 4u || (uint16_t)(v[0] | v[1] << 8) != prev || v[2] != ids[i])
            return MOLT_E_ARG;
        for (uint32_t j = 0; j < vl - 4u; j++)
            p[j] = (uint8_t)(v[4 + j] ^ (uint8_t)(prev * 29u + ids[i] * 7u + j));
        if ((err = molt_store_put(h, ids[i], w, enc(next, (uint8_t)ids[i], p, (uint32_t)vl - 4u, w))) != MOLT_OK)
            return err;
    }
    return MOLT_OK;
}

/* The application's start after a boot: its store and listeners (no flash op). */
static void data_attach(life_t *l)
{
    molt_keep_ops_t ops = {ls_save, NULL, ls_restore, NULL, l};
    l->data_ready = molt_store_mount(&l->st, sim_device_data_area(&l->d)) == MOLT_OK &&
                    molt_keep_init(&l->k, &l->st, DAPP, &l->d.port, &l->bc, &ops) == MOLT_OK;
}

static void fwu_setup(life_t *l)
{
    l->fwu_ok = l->bc.mode == MOLT_MODE_SWAP && molt_fwu_init(&l->fwu, &l->d.port, &l->bc, &l->br) == MOLT_OK;
    if (l->fwu_ok && l->cfg->data && l->data_ready)
        molt_keep_fwu_hooks(&l->k, &l->fwu);
    if (l->fwu_ok)
        molt_fwu_bind(&l->fwu);
}

/* --- the data oracle ---------------------------------------------------------------- */

static const uint8_t app2_rec[12] = {'p', 'a', 'i', 'r', 'i', 'n', 'g', '-', 'k', 'e', 'y', '2'};

/* Does application 1's LIVE space hold exactly E in schema es? The record cut
 * in flight (pend) may hold its new value; *took says it does. 0: yes; 1: the
 * content is there, in another schema (wrong side); 2: records lost. */
static int data_cmp(life_t *l, const dmap_t *E, uint16_t es, bool pend_ok, bool *took)
{
    uint8_t seen[NID] = {0}, v[MOLT_STORE_VALUE_MAX], w[4 + PAYMAX];
    uint32_t cur = 0;
    bool more = true, other_schema = false;
    molt_store_rec_t r;
    *took = false;
    while (molt_store_next(&l->st, &cur, &r, &more) == MOLT_OK && more) {
        if (r.space != MOLT_STORE_LIVE)
            continue;
        if (r.app == DAPP2) {
            if (r.id != 7 || r.len != sizeof app2_rec || molt_store_read_value(&l->st, &r, v, sizeof v) != MOLT_OK ||
                memcmp(v, app2_rec, sizeof app2_rec) != 0)
                return 2;
            seen[0] |= 2;
            continue;
        }
        if (r.app != DAPP || r.id >= NID || r.len > sizeof v || molt_store_read_value(&l->st, &r, v, sizeof v) != MOLT_OK)
            return 2;
        uint8_t id = (uint8_t)r.id;
        seen[id] |= 1;
        bool want = E->has[id];
        uint32_t n = want ? enc(es, id, E->v[id], E->len[id], w) : 0;
        if (want && r.len == n && memcmp(v, w, n) == 0)
            continue;
        if (pend_ok && l->pend && l->pend_id == id && l->pend_has) {
            n = enc(es, id, l->pend_v, l->pend_len, w);
            if (r.len == n && memcmp(v, w, n) == 0) {
                *took = true;
                continue;
            }
        }
        /* the right content in another schema? */
        uint16_t s2 = (uint16_t)(r.len >= 4 ? v[0] | v[1] << 8 : 0);
        if (want && s2 != es && r.len == 4u + E->len[id] && enc(s2, id, E->v[id], E->len[id], w) == r.len &&
            memcmp(v, w, r.len) == 0) {
            other_schema = true;
            continue;
        }
        return 2;
    }
    if (l->app2 && !(seen[0] & 2))
        return 2;
    for (uint8_t id = 0; id < NID; id++) {
        if ((seen[id] & 1) || !E->has[id])
            continue;
        if (pend_ok && l->pend && l->pend_id == id && !l->pend_has) {
            *took = true; /* the cut delete landed */
            continue;
        }
        return 2;
    }
    return other_schema ? 1 : 0;
}

static void take_pend(life_t *l, dmap_t *E)
{
    E->has[l->pend_id] = l->pend_has;
    E->len[l->pend_id] = l->pend_len;
    memcpy(E->v[l->pend_id], l->pend_v, l->pend_len);
}

typedef enum { J_KEEP, J_MIGRATE, J_RESTORE } judge_t;

static void trace_data(life_t *l, molt_err_t kr, int j, int c, uint16_t es)
{
    molt_keep_state_t ks;
    uint16_t ksc = 0;
    (void)molt_keep_status(&l->k, &ks, &ksc);
    fprintf(stderr, "  data: keep %d R %d judge %d cmp %d ses %d pre %d O %d N %d ds %u es %u | phase 0x%02x schema %u\n",
            kr, l->R, j, c, l->ses.on, l->ses.pre, l->ses.O, l->ses.N, l->ds, es, ks.phase, ksc);
}

/* After a failed data check: the oracle takes what the store holds (es: the
 * schema it expected, kept when the store holds none of the records). */
static void resync(life_t *l, uint16_t es)
{
    dmap_t E;
    uint32_t cur = 0;
    bool more = true;
    molt_store_rec_t r;
    uint8_t v[MOLT_STORE_VALUE_MAX];

    memset(&E, 0, sizeof E);
    while (molt_store_next(&l->st, &cur, &r, &more) == MOLT_OK && more)
        if (r.space == MOLT_STORE_LIVE && r.app == DAPP && r.id < NID && r.len >= 4 && r.len <= 4 + PAYMAX &&
            molt_store_read_value(&l->st, &r, v, sizeof v) == MOLT_OK) {
            es = (uint16_t)(v[0] | v[1] << 8);
            E.has[r.id] = true;
            E.len[r.id] = (uint8_t)(r.len - 4);
            for (uint32_t i = 0; i < r.len - 4u; i++)
                E.v[r.id][i] = (uint8_t)(v[4 + i] ^ (uint8_t)(es * 29u + r.id * 7u + i));
        }
    l->D = E;
    l->ds = es;
}

/* After a data check that passed: where the data-preserving upgrade stands now
 * that image l->R ran (j: what the check expected of it). */
static void ses_after_boot(life_t *l, judge_t j, bool trial)
{
    life_result_t *res = l->res;
    int R = l->R;
    if (j == J_MIGRATE) {
        res->migrations++;
        l->ses.pre = false;
        l->ses.maybe = false;
        l->ses.N = R;
    } else if (j == J_RESTORE) {
        res->restores += !l->ses.pre;
        res->drops += l->ses.pre;
        l->ses.on = false;
    } else if (l->ses.on && l->ses.maybe && (R == l->ses.N || R == l->ses.Nalt)) {
        l->ses.on = false; /* the cut save never started: the new code runs unprotected */
    }
    /* the new code confirmed: the upgrade is over (consolidated) */
    if (l->ses.on && !l->ses.pre && R == l->ses.N && !trial)
        l->ses.on = false;
}

/* The new code's first boot: the old data migrated to its schema (or, when
 * the save was cut, maybe untouched). The comparison's result; *E, *es, *j:
 * what the oracle expects from now on. */
static int judge_first_boot(life_t *l, molt_err_t kr, dmap_t *E, uint16_t *es, judge_t *j, bool *took)
{
    int R = l->R;
    *E = l->ses.snap;
    *es = sch[R];
    *j = J_MIGRATE;
    int c = data_cmp(l, E, *es, true, took);
    if (c != 0 && l->ses.maybe) {
        /* the cut save may never have started: the data untouched */
        int c2 = data_cmp(l, &l->D, l->ds, true, took);
        if (c2 == 0 && (kr != MOLT_OK || sch[R] == l->ds)) {
            c = 0;
            *j = J_KEEP;
            *E = l->D;
            *es = l->ds;
        }
    }
    if (c == 0 && *j == J_MIGRATE && kr != MOLT_OK)
        fail(l, &l->res->dmismatch, "the new code runs without its migrated data (keep error)", kr);
    /* same schema: migrated and untouched data are the same bytes, so whether
     * the cut save had begun shows only at the revert (restored or kept) */
    l->ses.amb = c == 0 && *j == J_MIGRATE && l->ses.maybe && sch[R] == l->ds;
    return c;
}

/* After a completed boot (the code oracle found image R running) and the
 * application's molt_keep_boot() (kr): code and data on the same side, nothing
 * lost, a revert gives back the old data byte for byte. */
static void judge_data(life_t *l, molt_err_t kr)
{
    life_result_t *res = l->res;
    int R = l->R;
    bool trial = l->br.trial, took = false, pend_ok = true;
    dmap_t E = l->D;
    uint16_t es = l->ds;
    int c = -1;
    judge_t j = J_KEEP;

    if (R < 0)
        return;
    if (kr == MOLT_E_KEEP_SCHEMA || kr == MOLT_E_KEEP_IMAGE)
        res->keep_refused++;
    if (l->ses.on && (R == l->ses.N || (l->ses.maybe && R == l->ses.Nalt)) && R != l->ses.O) {
        if (l->ses.pre) {
            c = judge_first_boot(l, kr, &E, &es, &j, &took);
        } else {
            c = data_cmp(l, &E, es, true, &took);
            if (kr != MOLT_OK)
                fail(l, &res->dmismatch, "the new code is refused its migrated data (keep error)", kr);
        }
    } else if (l->ses.on && R == l->ses.O) {
        /* the old code again: its own data, byte for byte */
        E = l->ses.snap;
        es = l->ses.snap_ds;
        pend_ok = l->ses.pre; /* a record written by the new code is gone with it */
        j = J_RESTORE;
        c = data_cmp(l, &E, es, pend_ok, &took);
        if (c != 0 && l->ses.amb && data_cmp(l, &l->D, l->ds, true, &took) == 0) {
            c = 0; /* the cut save had not begun: the unprotected trial's records stay */
            E = l->D;
            es = l->ds;
        }
        if (kr == MOLT_OK && sch[R] != es)
            fail(l, &res->dmismatch, "old code that runs unmigrated data is given it, keep said OK", R * 100 + es);
        else if (kr != MOLT_OK && sch[R] == es)
            fail(l, &res->dmismatch, "the old code is refused its own data (keep error)", kr);
    } else {
        /* no upgrade of the data concerns this image: nothing may change. A
         * saved upgrade whose new code has not run is void once other code runs. */
        if (l->ses.on && l->ses.pre)
            l->ses.on = false;
        c = data_cmp(l, &E, es, true, &took);
        if (kr == MOLT_OK && sch[R] != es)
            fail(l, &res->dmismatch, "code runs with data of another schema, keep said OK", R * 100 + es);
        else if (kr != MOLT_OK && sch[R] == es && !l->ses.on)
            fail(l, &res->dmismatch, "code is refused data of its own schema (keep error)", kr);
    }
    if (c == 1)
        fail(l, &res->dmismatch, "the records are in the other side's schema", R);
    else if (c == 2)
        fail(l, &res->dlost, j == J_RESTORE ? "the old data is not given back byte for byte" : "records lost", R);
    if (l->trace)
        trace_data(l, kr, (int)j, c, es);
    /* the oracle moves on with what it found legitimate */
    if (took)
        take_pend(l, &E);
    if (took && j == J_MIGRATE)
        take_pend(l, &l->ses.snap); /* the write cut before the save landed in the snapshot too */
    l->pend = false;
    if (c != 0) {
        l->keep_ok = false;
        l->ses.on = false;
        resync(l, es); /* to go on judging the rest of the life */
        return;
    }
    l->D = E;
    l->ds = es;
    ses_after_boot(l, j, trial);
    l->keep_ok = kr == MOLT_OK;
}

/* An install (FWU) or save + request (the other paths) of image N was called:
 * did it start a data-preserving upgrade? ok: the call succeeded. */
static void ses_begin(life_t *l, int N, bool ok, bool save_ok)
{
    bool cut = !sim_flash_powered(&l->d.flash);
    /* a save that succeeded for code other than the running one must have saved */
    if (save_ok && !cut && !l->saved_called && N >= 0 && N != l->R)
        fail(l, &l->res->dmismatch, "the save of another image said OK without saving", N);
    if (l->trace)
        fprintf(stderr, "  save of %d: listener %d, cut %d, ok %d\n", N, l->saved_called, cut, ok);
    /* the save listener ran: the phase "saving" is recorded; cut before it: the
     * phase may or may not have been written (a maybe-upgrade) */
    bool maybe = !l->saved_called && cut && N != l->R && !(l->ses.on && !l->ses.pre);
    /* the listener failed without a cut: the phase found before is back (an upgrade saved before stands) */
    bool save_fail = l->saved_called && l->save_failed;
    bool restored = save_fail && !cut;
    if (!restored && (l->saved_called || maybe)) {
        int prevN = l->ses.on && l->ses.pre ? l->ses.N : -1;
        l->ses.on = maybe || cut || ok;
        l->ses.pre = true;
        l->ses.maybe = maybe || (save_fail && cut); /* a cut failing save: the phase before may be back */
        l->ses.amb = false;
        l->ses.O = l->R;
        l->ses.N = N;
        l->ses.Nalt = prevN;
        l->ses.snap = l->D;
        l->ses.snap_ds = l->ds;
    }
    l->saved_called = false;
    l->save_failed = false;
}

/* Which image the staging area holds (-1: none of the family). An upgrade is
 * bound to the identity of its new image, its hash TLV (docs/store.md): bytes
 * whose TLV area is image i's claim to be image i, even with a damaged payload
 * (the boot code refuses those; image i itself, staged later, is the code the
 * data was saved for). */
static int staged_now(life_t *l)
{
    unsigned a = l->bc.mode == MOLT_MODE_REMAP ? 1u - (unsigned)l->running_slot : MOLT_AREA_SECONDARY;
    uint32_t off = molt_boot_staging_offset(&l->d.port, &l->bc);
    const uint8_t *p = sim_flash_data(&l->d.flash) + sim_device_area_base(&l->d, a) + off;
    for (int i = 0; i < NIMG; i++)
        if (slot_is(l, a, off, i))
            return i;
    for (int i = 0; i < NIMG; i++) {
        const img_t *m = img(l, i);
        uint32_t t = (uint32_t)(m->b[8] | m->b[9] << 8) + (uint32_t)(m->b[12] | m->b[13] << 8 | m->b[14] << 16);
        if (off + m->n <= l->d.port.area[a].size && t < m->n && memcmp(p + t, m->b + t, m->n - t) == 0)
            return i;
    }
    return -1;
}

/* Reset: boot, with up to MAX_CUTS nested cuts in recovery. */
static void reset(life_t *l, int depth)
{
    l->pre_staged = -1;
    for (int i = 0; i < NIMG && l->pre_staged < 0; i++)
        if (slot_is(l, stage_area(l), stage_off(l), i))
            l->pre_staged = i;
    for (int c = depth; c <= MAX_CUTS; c++) {
        sim_device_reboot(&l->d);
        l->data_ready = false;
        l->keep_ok = false;
        bool armed = c < MAX_CUTS && chance(&l->r, c == 0 ? 20 : 35);
        if (armed)
            sim_flash_arm_cut(&l->d.flash, chance(&l->r, 70) ? SIM_CUT_TORN : SIM_CUT_BEFORE, below(&l->r, 60),
                              rnd(&l->r));
        molt_err_t rc = MOLT_CALL(l, molt_boot_go(&l->d.port, &l->bc, &l->br)), kr = MOLT_OK;
        /* the application's start: resume or recover its data first (a cut may land there too) */
        if (l->cfg->data && rc == MOLT_OK && sim_flash_powered(&l->d.flash)) {
            data_attach(l);
            kr = l->data_ready ? MOLT_CALL(l, molt_keep_boot(&l->k, &l->br, NULL)) : MOLT_E_IO;
        }
        if (armed && !sim_flash_powered(&l->d.flash)) {
            l->res->cuts++;
            l->res->recovery_cuts += c > 0;
            continue;
        }
        sim_flash_disarm(&l->d.flash);
        judge(l, rc);
        if (l->cfg->data && rc == MOLT_OK)
            judge_data(l, kr);
        fwu_setup(l);
        return;
    }
}

/* Arm a cut for the action that follows (sometimes); after it, a cut that
 * fired means power comes back: a reset. */
static void maybe_arm(life_t *l)
{
    if (chance(&l->r, 12))
        sim_flash_arm_cut(&l->d.flash, chance(&l->r, 70) ? SIM_CUT_TORN : SIM_CUT_BEFORE, below(&l->r, 30),
                          rnd(&l->r));
}
static bool after_action(life_t *l)
{
    if (!sim_flash_powered(&l->d.flash)) {
        l->res->cuts++;
        reset(l, 1);
        return true;
    }
    sim_flash_disarm(&l->d.flash);
    return false;
}

static molt_err_t raw_write(life_t *l, unsigned area, uint32_t off, const uint8_t *b, uint32_t n)
{
    const molt_area_t *a = &l->d.port.area[area];
    uint32_t al = geos[l->g].align, m = (n + al - 1u) / al * al;
    uint8_t buf[4096 + 256];
    if (m > sizeof buf || off % al != 0u || off + m > a->size)
        return MOLT_E_ARG;
    memset(buf, a->erase_value, m);
    memcpy(buf, b, n);
    touch(l, area, off);
    uint64_t v0 = l->d.flash.stats.violations;
    molt_err_t e = a->write(a->ctx, off, buf, m);
    l->d.flash.stats.violations = v0; /* the application's own refused writes are not molt's */
    /* Whatever the write was meant to be, if it left image_ok = 0x01 in the
     * staging trailer the application has asked for a permanent install. */
    uint32_t u = geos[l->g].align > 8u ? geos[l->g].align : 8u, mu = (16u + u - 1u) / u * u;
    const uint8_t *ok = sim_flash_data(&l->d.flash) + sim_device_area_base(&l->d, area) + a->size - mu - u;
    if (area == stage_area(l) && *ok == 0x01)
        l->perm = true;
    return e;
}

static void raw_erase_sector(life_t *l, unsigned area, uint32_t off)
{
    const molt_area_t *a = &l->d.port.area[area];
    molt_sector_t s;
    if (a->sector(a->ctx, off, &s) != MOLT_OK)
        return;
    touch(l, area, s.off);
    (void)a->erase(a->ctx, s.off, s.size);
}

/* Stage image i by raw writes (erase what it covers, write it). */
static void stage_raw(life_t *l, int i)
{
    unsigned area = stage_area(l);
    uint32_t off = stage_off(l);
    const img_t *m = img(l, i);
    bool done = true;
    l->staged = -2;
    for (uint32_t o = off; o < off + m->n; o += geos[l->g].sector)
        raw_erase_sector(l, area, o);
    for (uint32_t o = 0; o < m->n && done; o += 1024u) {
        uint32_t n = m->n - o < 1024u ? (uint32_t)(m->n - o) : 1024u;
        done = raw_write(l, area, off + o, m->b + o, n) == MOLT_OK && sim_flash_powered(&l->d.flash);
    }
    if (done && slot_is(l, area, off, i))
        l->staged = i;
}

static const uint8_t magic8[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                   0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

/* Raw trailer writes in the staging slot's trailer (MCUboot's layout). */
static void raw_trailer(life_t *l, unsigned area, int field, uint8_t v)
{
    const molt_area_t *a = &l->d.port.area[area];
    uint32_t m = geos[l->g].align > 8u ? geos[l->g].align : 8u, mu = (16u + m - 1u) / m * m;
    uint8_t b[256];
    memset(b, a->erase_value, sizeof b);
    if (field == 0) { /* magic, right-aligned; the standard one for M = 8 */
        if (m == 8u)
            memcpy(b + mu - 16u, magic8, 16);
        else {
            b[mu - 16u] = (uint8_t)m;
            b[mu - 15u] = (uint8_t)(m >> 8);
            static const uint8_t tail[14] = {0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
                                             0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};
            memcpy(b + mu - 14u, tail, 14);
        }
        (void)raw_write(l, area, a->size - mu, b, mu);
        return;
    }
    b[0] = v;
    if (field == 1 && v == 0x01 && area == stage_area(l))
        l->perm = true; /* asked for, whether or not the unit took it */
    (void)raw_write(l, area, a->size - mu - (uint32_t)field * m, b, m);
}

static void act_stage_fwu(life_t *l, int i)
{
    const img_t *m = img(l, i);
    psa_fwu_component_info_t info;
    if (!l->fwu_ok || psa_fwu_query(0, &info) != PSA_SUCCESS)
        return;
    if (info.state == PSA_FWU_FAILED || info.state == PSA_FWU_UPDATED)
        (void)MOLT_CALL(l, psa_fwu_clean(0));
    maybe_arm(l);
    if (MOLT_CALL(l, psa_fwu_start(0, NULL, 0)) == PSA_SUCCESS) {
        l->perm = false; /* start erased the trailer sector */
        l->staged = -2;
        touch(l, MOLT_AREA_SECONDARY, stage_off(l));
        size_t off = 0;
        while (off < m->n && sim_flash_powered(&l->d.flash)) {
            size_t n = 1 + below(&l->r, 700);
            if (n > m->n - off)
                n = m->n - off;
            if (MOLT_CALL(l, psa_fwu_write(0, off, m->b + off, n)) != PSA_SUCCESS)
                break;
            off += n;
        }
        psa_status_t fs = off == m->n ? MOLT_CALL(l, psa_fwu_finish(0)) : PSA_ERROR_BAD_STATE;
        if (fs == PSA_SUCCESS) {
            l->staged = i;
            l->saved_called = false;
            psa_status_t is = MOLT_CALL(l, psa_fwu_install());
            if (is == PSA_SUCCESS_REBOOT)
                l->res->fwu_installs++;
            if (l->cfg->data)
                ses_begin(l, i, is == PSA_SUCCESS_REBOOT, is == PSA_SUCCESS_REBOOT);
        } else if (l->cfg->data && fs == PSA_ERROR_NOT_PERMITTED && sim_flash_powered(&l->d.flash) &&
                   psa_fwu_query(0, &info) == PSA_SUCCESS && info.error == MOLT_E_KEEP_SCHEMA) {
            l->res->schema_refusals++;
        }
    }
    after_action(l);
}

/* The application writes or deletes one of its records. */
static void act_records(life_t *l)
{
    uint8_t id = (uint8_t)(1u + below(&l->r, NID - 1u)), n = (uint8_t)(1u + below(&l->r, PAYMAX)), p[PAYMAX];
    bool del = chance(&l->r, 15);
    for (uint32_t k = 0; k < n; k++)
        p[k] = (uint8_t)rnd(&l->r);
    if (!l->keep_ok || l->R < 0)
        return; /* molt_keep_boot() refused: a careful application leaves its records alone */
    maybe_arm(l);
    (void)app_write(l, id, !del, p, n, sch[l->R]);
    after_action(l);
}

/* A request through the API (with data: save, then request). */
static void act_request(life_t *l, unsigned sa)
{
    bool perm = chance(&l->r, 30);
    maybe_arm(l);
    /* the application asked: a cut call may still have written it */
    if (perm || l->bc.mode == MOLT_MODE_OVERWRITE)
        l->perm = true;
    if (l->cfg->data && l->data_ready) {
        /* a data-preserving upgrade outside the update API: save, then request */
        molt_mem_source_t mem;
        molt_source_t src;
        int N = staged_now(l);
        molt_source_from_mem(&src, &mem, sim_flash_data(&l->d.flash) + sim_device_area_base(&l->d, sa) + stage_off(l),
                             l->d.port.area[sa].size - stage_off(l));
        l->saved_called = false;
        molt_err_t se = MOLT_CALL(l, molt_keep_save(&l->k, &src));
        bool ok = se == MOLT_OK && sim_flash_powered(&l->d.flash) &&
                  MOLT_CALL(l, molt_request_upgrade(&l->d.port, &l->bc, perm)) == MOLT_OK;
        bool aborted = false;
        if (se == MOLT_OK && !ok && sim_flash_powered(&l->d.flash)) {
            /* no request: withdraw the save, as the update API does */
            (void)MOLT_CALL(l, molt_keep_abort(&l->k));
            aborted = true;
        }
        if (se == MOLT_E_KEEP_SCHEMA)
            l->res->schema_refusals++;
        ses_begin(l, N, ok, se == MOLT_OK);
        if (aborted && l->ses.on)
            l->ses.maybe = true; /* the withdrawal was cut: the save may stand */
    } else {
        (void)MOLT_CALL(l, molt_request_upgrade(&l->d.port, &l->bc, perm));
    }
    after_action(l);
}

/* Any 16 bytes of the staging slot (its sector erased first, sometimes). */
static void act_junk(life_t *l, unsigned sa)
{
    maybe_arm(l);
    const molt_area_t *ar = &l->d.port.area[sa];
    uint32_t off = below(&l->r, ar->size) / geos[l->g].align * geos[l->g].align;
    uint8_t junk[16];
    for (int k = 0; k < 16; k++)
        junk[k] = (uint8_t)rnd(&l->r);
    if (chance(&l->r, 40))
        raw_erase_sector(l, sa, off);
    (void)raw_write(l, sa, off, junk, 16u);
    if (l->staged >= 0 && !slot_is(l, sa, stage_off(l), l->staged))
        l->staged = -2;
    after_action(l);
}

/* Confirm: the API, or image_ok by hand in the running slot. */
static void act_confirm(life_t *l)
{
    maybe_arm(l);
    bool ok;
    if (chance(&l->r, 60)) {
        ok = MOLT_CALL(l, molt_confirm(&l->d.port, &l->bc)) == MOLT_OK;
    } else {
        const molt_area_t *ra = &l->d.port.area[l->running_slot];
        uint32_t m = geos[l->g].align > 8u ? geos[l->g].align : 8u, mu = (16u + m - 1u) / m * m;
        uint8_t b[256];
        memset(b, ra->erase_value, m);
        b[0] = 0x01;
        uint64_t v0 = l->d.flash.stats.violations;
        ok = ra->write(ra->ctx, ra->size - mu - m, b, m) == MOLT_OK;
        l->d.flash.stats.violations = v0;
    }
    /* a confirm cut halfway may or may not have landed: both are fine */
    if (l->trial >= 0 && ok && sim_flash_powered(&l->d.flash))
        l->confirmed = true;
    else if (l->trial >= 0 && !sim_flash_powered(&l->d.flash))
        l->maybe = true;
    after_action(l);
}

/* The update API's other calls: accept, reject, cancel, clean. */
static void act_fwu_other(life_t *l)
{
    if (l->fwu_ok) {
        maybe_arm(l);
        uint32_t w = below(&l->r, 4);
        psa_status_t s = w == 0   ? MOLT_CALL(l, psa_fwu_accept())
                         : w == 1 ? MOLT_CALL(l, psa_fwu_reject(-1234))
                         : w == 2 ? MOLT_CALL(l, psa_fwu_cancel(0))
                                  : MOLT_CALL(l, psa_fwu_clean(0));
        if (l->trace)
            fprintf(stderr, "  fwu call %u: %d\n", w, (int)s);
        if (w == 1 && s == PSA_SUCCESS && sim_flash_powered(&l->d.flash) && l->ses.on && l->ses.pre)
            l->ses.on = false; /* a staged request withdrawn: the data stays the old code's */
        if (w == 0 && l->trial >= 0 && s == PSA_SUCCESS && sim_flash_powered(&l->d.flash))
            l->confirmed = true;
        else if (w == 0 && l->trial >= 0 && !sim_flash_powered(&l->d.flash))
            l->maybe = true;
        after_action(l);
    }
}

static void step(life_t *l)
{
    unsigned sa = stage_area(l);
    uint32_t a = below(&l->r, 100);
    int i = (int)below(&l->r, NIMG);
    l->res->steps++;
    if (l->trace)
        fprintf(stderr, "  step %u img %d | conf %d trial %d confd %d staged %d perm %d run %d\n", a, i, l->conf,
                l->trial, l->confirmed, l->staged, l->perm, l->running_slot);
    if (l->cfg->data && chance(&l->r, 30)) { /* the application writes its records */
        act_records(l);
        return;
    }
    if (a < 16) { /* stage by raw writes */
        maybe_arm(l);
        stage_raw(l, i);
        after_action(l);
    } else if (a < 28) { /* stage through the update API (SWAP) */
        if (l->bc.mode == MOLT_MODE_SWAP)
            act_stage_fwu(l, i);
    } else if (a < 40) { /* request through the API */
        act_request(l, sa);
    } else if (a < 52) { /* raw trailer fields in the staging slot */
        maybe_arm(l);
        int f = (int)below(&l->r, 4);
        uint8_t v = chance(&l->r, 50) ? 0x01 : (uint8_t)rnd(&l->r);
        if (f == 0 && l->bc.mode == MOLT_MODE_OVERWRITE)
            l->perm = true; /* OVERWRITE: any request is permanent */
        raw_trailer(l, sa, f, v);
        after_action(l);
    } else if (a < 58) { /* any byte of the staging slot */
        act_junk(l, sa);
    } else if (a < 68) { /* confirm */
        act_confirm(l);
    } else if (a < 76) { /* the update API's other calls */
        act_fwu_other(l);
    } else { /* reset */
        reset(l, 0);
    }
}

static void one_life(const life_cfg_t *cfg, life_result_t *res, uint64_t seed)
{
    life_t *l = calloc(1, sizeof *l);
    sim_layout_t lay;
    molt_key_t key;
    molt_keyring_t ring;
    static uint8_t *der;
    static size_t der_len;
    if (l == NULL)
        return;
    if (der == NULL) {
        FILE *f = fopen(cfg->key_der, "rb");
        der = malloc(4096);
        der_len = f && der ? fread(der, 1, 4096, f) : 0;
        if (f)
            fclose(f);
    }
    key = (molt_key_t){der, der_len};
    ring = (molt_keyring_t){&key, 1};
    l->cfg = cfg;
    l->res = res;
    l->seed = seed;
    l->trace = getenv("MOLT_LIFE_TRACE") != NULL && strtoull(getenv("MOLT_LIFE_TRACE"), NULL, 10) == seed;
    l->r.s = seed * 0x9e3779b97f4a7c15ull + 1u;
    l->g = below(&l->r, NGEO);
    const geo_t *g = &geos[l->g];
    uint32_t slot = g->img_secs + 2u;
    molt_err_t e = g->mixed ? sim_layout_mixed(&lay, g->sector, g->img_secs + 1u, 4u * g->sector, 1, g->align, g->ev)
                            : sim_layout_uniform(&lay, g->sector, slot, g->align, g->ev);
    if (e == MOLT_OK && cfg->data)
        e = sim_layout_add_data(&lay, 2);
    if (e != MOLT_OK || sim_device_init(&l->d, &lay, &ring) != MOLT_OK) {
        fail(l, &res->bricked, "geometry", e);
        free(l);
        return;
    }
    if (g->wonce)
        sim_flash_set_flags(&l->d.flash, SIM_FLASH_F_WRITE_ONCE);
    l->bc.mode = cfg->mode;
    l->bc.downgrade_prevention = chance(&l->r, 50);
    l->conf = 0;
    l->trial = -1;
    l->staged = -1;
    l->running_slot = MOLT_AREA_PRIMARY;
    l->nv = 0;
    if (sim_device_program(&l->d, MOLT_AREA_PRIMARY, 0, img(l, 0)->b, img(l, 0)->n) != MOLT_OK) {
        fail(l, &res->bricked, "factory programming", 0);
    } else {
        if (cfg->data)
            l->ds = sch[0];
        reset(l, MAX_CUTS); /* the factory boot, uncut */
        if (cfg->data && l->keep_ok) {
            /* the factory's records: application 1's calibration, application 2's key */
            molt_store_app_t a2;
            for (uint8_t id = 1; id < 4; id++) {
                uint8_t p[8] = {'c', 'a', 'l', (uint8_t)('0' + id), id, 0x5a, 0xa5, (uint8_t)(id * 3u)};
                (void)app_write(l, id, true, p, sizeof p, sch[0]);
            }
            if (molt_store_app_open(&a2, &l->st, DAPP2) != MOLT_OK ||
                molt_store_put(&a2, 7, app2_rec, sizeof app2_rec) != MOLT_OK)
                fail(l, &res->dlost, "factory records", 0);
            l->app2 = true;
        }
        for (uint32_t s = 0; s < cfg->steps; s++)
            step(l);
        reset(l, 0);
    }
    res->lives++;
    sim_device_free(&l->d);
    free(l);
}

bool life_run(const life_cfg_t *cfg, life_result_t *res)
{
    static bool made;
    memset(res, 0, sizeof *res);
    if (!made && !make_family(cfg)) {
        fprintf(stderr, "life: cannot sign the image family with %s\n", cfg->key_pem);
        return false;
    }
    made = true;
    for (uint32_t i = 0; i < cfg->lives; i++)
        one_life(cfg, res, cfg->seed + i);
    return true;
}

bool life_ok(const life_result_t *r)
{
    return r->boots > 0 && r->bricked == 0 && r->mixed == 0 && r->unconf == 0 && r->revert == 0 && r->lost == 0 &&
           r->counter == 0 && r->nor == 0 && r->dmismatch == 0 && r->dlost == 0;
}

void life_line(const life_result_t *r, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "lives %llu, steps %llu, boots %llu, cuts %llu (%llu in recovery), activations %llu, reverts %llu, "
             "refusals %llu, revert_lost %llu, fwu installs %llu; violations: bricked %llu, mixed %llu, "
             "unconfirmed %llu, not reverted %llu, lost %llu, counter %llu, nor %llu",
             (unsigned long long)r->lives, (unsigned long long)r->steps, (unsigned long long)r->boots,
             (unsigned long long)r->cuts, (unsigned long long)r->recovery_cuts, (unsigned long long)r->activations,
             (unsigned long long)r->reverts, (unsigned long long)r->refusals, (unsigned long long)r->revert_lost,
             (unsigned long long)r->fwu_installs, (unsigned long long)r->bricked, (unsigned long long)r->mixed,
             (unsigned long long)r->unconf, (unsigned long long)r->revert, (unsigned long long)r->lost,
             (unsigned long long)r->counter, (unsigned long long)r->nor);
    size_t n = strlen(buf);
    if (r->saves > 0 || r->rec_writes > 0)
        snprintf(buf + n, cap > n ? cap - n : 0,
                 "; data: record writes %llu, saves %llu, migrations %llu, restores %llu, drops %llu, schema "
                 "refusals %llu, keep refusals %llu; data mismatches %llu, lost records %llu",
                 (unsigned long long)r->rec_writes, (unsigned long long)r->saves, (unsigned long long)r->migrations,
                 (unsigned long long)r->restores, (unsigned long long)r->drops,
                 (unsigned long long)r->schema_refusals, (unsigned long long)r->keep_refused,
                 (unsigned long long)r->dmismatch, (unsigned long long)r->dlost);
}

bool life_wear(const life_cfg_t *cfg, uint32_t cycles, life_wear_t *w)
{
    life_result_t dummy;
    life_t *l = calloc(1, sizeof *l);
    sim_layout_t lay;
    static uint8_t der[4096];
    size_t der_len = 0;
    FILE *f = fopen(cfg->key_der, "rb");
    if (f) {
        der_len = fread(der, 1, sizeof der, f);
        fclose(f);
    }
    molt_key_t key = {der, der_len};
    molt_keyring_t ring = {&key, 1};
    if (l == NULL || !life_run(&(life_cfg_t){MOLT_MODE_SWAP, 1, 0, 0, cfg->key_pem, cfg->key_der, NULL, false}, &dummy))
        return false;
    memset(w, 0, sizeof *w);
    l->res = &dummy;
    l->cfg = cfg;
    l->g = 1; /* 2 KiB sectors, 2-sector images */
    if (sim_layout_uniform(&lay, 2048, 4, 8, 0xff) != MOLT_OK || sim_device_init(&l->d, &lay, &ring) != MOLT_OK)
        return false;
    l->bc.mode = MOLT_MODE_SWAP;
    sim_device_program(&l->d, MOLT_AREA_PRIMARY, 0, img(l, 0)->b, img(l, 0)->n);
    molt_boot_go(&l->d.port, &l->bc, &l->br);
    uint32_t n = sim_flash_sector_count(&l->d.flash), *w0 = calloc(n, sizeof *w0);
    for (uint32_t s = 0; s < n; s++)
        w0[s] = sim_flash_wear(&l->d.flash, s);
    bool ok = true;
    for (uint32_t c = 0; c < cycles && ok; c++) {
        const img_t *m = img(l, c % 2u ? 1 : 2);
        ok = molt_fwu_init(&l->fwu, &l->d.port, &l->bc, &l->br) == MOLT_OK;
        molt_fwu_bind(&l->fwu);
        ok = ok && psa_fwu_start(0, NULL, 0) == PSA_SUCCESS;
        for (size_t off = 0; ok && off < m->n; off += 512u)
            ok = psa_fwu_write(0, off, m->b + off, m->n - off < 512u ? m->n - off : 512u) == PSA_SUCCESS;
        ok = ok && psa_fwu_finish(0) == PSA_SUCCESS && psa_fwu_install() == PSA_SUCCESS_REBOOT;
        ok = ok && molt_boot_go(&l->d.port, &l->bc, &l->br) == MOLT_OK && l->br.trial;
        ok = ok && molt_fwu_init(&l->fwu, &l->d.port, &l->bc, &l->br) == MOLT_OK;
        molt_fwu_bind(&l->fwu);
        ok = ok && psa_fwu_accept() == PSA_SUCCESS && psa_fwu_clean(0) == PSA_SUCCESS;
        ok = ok && molt_boot_go(&l->d.port, &l->bc, &l->br) == MOLT_OK && !l->br.trial;
    }
    uint32_t mx = 0, str = 0, stat = 0, ptr = 0;
    uint32_t sec_tr = lay.first[MOLT_AREA_SECONDARY] + lay.count[MOLT_AREA_SECONDARY] - 1u;
    uint32_t pri_tr = lay.first[MOLT_AREA_PRIMARY] + lay.count[MOLT_AREA_PRIMARY] - 1u;
    for (uint32_t s = 0; s < n; s++) {
        uint32_t d = sim_flash_wear(&l->d.flash, s) - w0[s];
        if (s >= lay.first[SIM_PART_NV])
            continue; /* the NV counters have their own wear levelling */
        if (d > mx)
            mx = d;
        if (s == sec_tr)
            str = d;
        if (s == pri_tr)
            ptr = d;
        if (s >= lay.first[MOLT_AREA_STATUS] && s < lay.first[MOLT_AREA_STATUS] + lay.count[MOLT_AREA_STATUS] && d > stat)
            stat = d;
    }
    w->cycles = cycles;
    w->max_per_update = (double)mx / cycles;
    w->staging_trailer_per_update = (double)str / cycles;
    w->status_per_update = (double)stat / cycles;
    w->primary_trailer_per_update = (double)ptr / cycles;
    free(w0);
    sim_device_free(&l->d);
    free(l);
    return ok;
}
