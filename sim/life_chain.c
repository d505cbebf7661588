/*
 * life_chain.c - the adversarial device-life proof over the boot chain (see
 * life_chain.h). Host code.
 *
 * The oracle's model is plain integers: which key each image is signed by,
 * each key's status (never added, in force, retired) after each key-update,
 * which image is confirmed. Key-updates are written here from the format in
 * molt/keyrot.h, images with the host signer (host/image_writer.c); neither is
 * libmolt. The only things read back from the device are its flash cells (the
 * bytes that run, compared with the signed images), the simulated hardware
 * counter, and what the device answers.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "life_chain.h"
#include "molt/boot.h"
#include "molt/keyrot.h"
#include "molt_host/image_writer.h"
#include "sim_port.h"
#include "sim_stage.h"
#include "rng.h"

/* --- keys ------------------------------------------------------------------ */

enum { NROOT = 3, THRESHOLD = 2 };
/* Application keys: F0, F1 (factory), N0..N3 (added by key-updates 1..4), X (never). */
enum { KF0, KF1, KN0, KN1, KN2, KN3, KX, NKEY };
enum { ST_NONE, ST_INFORCE, ST_RETIRED };
#define NKU 4

typedef struct key {
    sign_key_t sk;
    uint8_t der[128];
    size_t der_len;
    uint8_t id[32]; /* SHA-256 of der */
} key_t_;

static key_t_ g_root[NROOT], g_app[NKEY], g_s1;
static molt_key_t g_root_mk[NROOT], g_factory_mk[2], g_s1_mk[1];
static molt_keyring_t g_roots = {g_root_mk, NROOT}, g_factory = {g_factory_mk, 2}, g_s1_ring = {g_s1_mk, 1};

/* The chain of key-updates: update s (1..4) adds ku_add[s-1] and retires
 * ku_ret[s-1] (-1: none). */
static const int ku_add[NKU] = {KN0, KN1, KN2, KN3};
static const int ku_ret[NKU] = {-1, KF0, KN0, KF1};

static bool key_new(key_t_ *k)
{
    memset(k, 0, sizeof *k);
    k->sk.pkey = EVP_EC_gen("P-256");
    if (k->sk.pkey == NULL)
        return false;
    k->sk.type = sign_key_classify(k->sk.pkey);
    k->sk.is_private = true;
    unsigned char *p = k->der;
    int n = i2d_PUBKEY(k->sk.pkey, NULL);
    if (n <= 0 || (size_t)n > sizeof k->der || i2d_PUBKEY(k->sk.pkey, &p) != n)
        return false;
    k->der_len = (size_t)n;
    k->sk.pub_der = OPENSSL_memdup(k->der, k->der_len);
    k->sk.pub_len = k->der_len;
    unsigned int hl = 0;
    return k->sk.pub_der != NULL && EVP_Digest(k->der, k->der_len, k->id, &hl, EVP_sha256(), NULL) == 1 && hl == 32;
}

/* ECDSA P-256 over SHA-256 of msg, raw r || s. */
static bool sign_raw64(const key_t_ *k, const uint8_t *msg, size_t len, uint8_t out[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sizeof der;
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->sk.pkey) == 1 &&
              EVP_DigestSign(md, der, &dl, msg, len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return false;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    if (sig == NULL)
        return false;
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok;
}

/* --- key-updates (molt/keyrot.h's format) ----------------------------------- */

typedef struct ku {
    uint8_t b[1024];
    size_t n;
} ku_t;

static ku_t g_ku[NKU];      /* the chain, signed by roots 0 and 1 */
static ku_t g_ku_forged[NKU]; /* root 0 and "root 1" signed by F0 */
static ku_t g_ku_one[NKU];  /* root 2 only: below the threshold */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* signers: up to 2 entries of {index byte, key}. */
static bool make_ku(ku_t *out, int s, const int idx[], const key_t_ *const signers[], int nsig)
{
    uint8_t *b = out->b;
    size_t off = 12;
    int nret = ku_ret[s] >= 0 ? 1 : 0;
    memcpy(b, "MKU1", 4);
    put32(b + 4, (uint32_t)s + 1u);
    b[8] = 1;
    b[9] = (uint8_t)nret;
    b[10] = b[11] = 0;
    const key_t_ *add = &g_app[ku_add[s]];
    put16(b + off, (uint32_t)add->der_len);
    memcpy(b + off + 2, add->der, add->der_len);
    off += 2 + add->der_len;
    if (nret) {
        memcpy(b + off, g_app[ku_ret[s]].id, 32);
        off += 32;
    }
    size_t body = off;
    b[off++] = (uint8_t)nsig;
    for (int i = 0; i < nsig; i++) {
        b[off] = (uint8_t)idx[i];
        if (!sign_raw64(signers[i], b, body, b + off + 1))
            return false;
        off += 65;
    }
    out->n = off;
    return true;
}

/* --- images ----------------------------------------------------------------- */

typedef struct img {
    uint8_t *b;
    size_t n;
    int key;      /* application images: the signer (K*) */
    uint32_t ver; /* stage-1 images: version = counter */
} img_t;

#define NAPP (NKEY * 2)
#define NS1 8
static img_t g_appimg[NAPP];  /* image 2k + j is signed by key k */
static img_t g_s1img[NS1 + 1]; /* [v] for v = 1..NS1, stage-1 images by the stage-1 key */
static img_t g_s1_untrusted, g_s1_unmarked;


static bool make_img(img_t *im, const key_t_ *k, uint32_t build, uint32_t cnt, bool stage1, rng_t *r)
{
    sign_opts_t o;
    uint8_t in[1200], mark = 1;
    sign_custom_tlv_t ct = {MOLT_TLV_BOOT_STAGE, &mark, 1};
    sbuf_t out = {0};

    memset(&o, 0, sizeof o);
    o.in_path = "chain";
    o.version = (molt_version_t){1, 0, 0, build};
    o.has_sec_cnt = true;
    o.sec_cnt = cnt;
    o.hdr_size = 32;
    o.pad_header = true;
    o.align = 8;
    o.sha = SIGN_SHA256;
    o.erased = 0xff;
    if (stage1) {
        o.custom = &ct;
        o.ncustom = 1;
    }
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)rnd(r);
    if (!sign_build_image(&o, &k->sk, SIGN_SHA256, in, sizeof in, &out) || out.oom)
        return false;
    im->b = out.p;
    im->n = out.len;
    im->ver = build;
    return true;
}

static bool g_ready;

static bool setup(void)
{
    rng_t r = {0x5eed5eed1234ull};
    if (g_ready)
        return true;
    for (int i = 0; i < NROOT; i++) {
        if (!key_new(&g_root[i]))
            return false;
        g_root_mk[i] = (molt_key_t){g_root[i].der, g_root[i].der_len};
    }
    for (int i = 0; i < NKEY; i++)
        if (!key_new(&g_app[i]))
            return false;
    if (!key_new(&g_s1))
        return false;
    g_factory_mk[0] = (molt_key_t){g_app[KF0].der, g_app[KF0].der_len};
    g_factory_mk[1] = (molt_key_t){g_app[KF1].der, g_app[KF1].der_len};
    g_s1_mk[0] = (molt_key_t){g_s1.der, g_s1.der_len};
    for (int s = 0; s < NKU; s++) {
        const int i01[2] = {0, 1}, i2[1] = {2};
        const key_t_ *const good[2] = {&g_root[0], &g_root[1]};
        const key_t_ *const forged[2] = {&g_root[0], &g_app[KF0]};
        const key_t_ *const one[1] = {&g_root[2]};
        if (!make_ku(&g_ku[s], s, i01, good, 2) || !make_ku(&g_ku_forged[s], s, i01, forged, 2) ||
            !make_ku(&g_ku_one[s], s, i2, one, 1))
            return false;
    }
    for (int k = 0; k < NKEY; k++)
        for (int j = 0; j < 2; j++) {
            img_t *im = &g_appimg[2 * k + j];
            if (!make_img(im, &g_app[k], (uint32_t)(10 * k + j + 1), 1, false, &r))
                return false;
            im->key = k;
        }
    for (uint32_t v = 1; v <= NS1; v++)
        if (!make_img(&g_s1img[v], &g_s1, v, v, true, &r))
            return false;
    if (!make_img(&g_s1_untrusted, &g_app[KF0], NS1 + 1, NS1 + 1, true, &r) ||
        !make_img(&g_s1_unmarked, &g_s1, NS1 + 1, NS1 + 1, false, &r))
        return false;
    g_ready = true;
    return true;
}

/* --- the model -------------------------------------------------------------- */

typedef struct model {
    int seq;        /* key set in force */
    int app_c;      /* confirmed application image */
    uint32_t s1_c;  /* confirmed stage-1 version (= its counter) */
} model_t;

static int key_status(int seq, int k)
{
    int st = k == KF0 || k == KF1 ? ST_INFORCE : ST_NONE;
    for (int s = 0; s < seq; s++) {
        if (ku_add[s] == k)
            st = ST_INFORCE;
        if (ku_ret[s] == k)
            st = ST_RETIRED;
    }
    return st;
}

/* --- one device --------------------------------------------------------------- */

typedef struct dev {
    sim_stage_t st;
    sim_device_t app;
} dev_t_;

static const molt_boot_cfg_t app_base = {.mode = MOLT_MODE_SWAP};

typedef struct life {
    const chain_cfg_t *cfg;
    chain_result_t *res;
    uint64_t seed;
    int step;
    dev_t_ *d, *snap;
    model_t m;
    rng_t r;
} life_t;

#define VIOL(L, counter, ...)                                                                                   \
    do {                                                                                                       \
        (L)->res->counter++;                                                                                   \
        if ((L)->cfg->log) {                                                                                   \
            fprintf((L)->cfg->log, "chain life seed %llu step %d: " #counter ": ", (unsigned long long)(L)->seed, \
                    (L)->step);                                                                                \
            fprintf((L)->cfg->log, __VA_ARGS__);                                                               \
            fputc('\n', (L)->cfg->log);                                                                        \
        }                                                                                                      \
    } while (0)

static bool slot_holds(const sim_device_t *d, uint32_t area, uint32_t base, const img_t *im)
{
    return memcmp(sim_flash_data(&d->flash) + sim_device_area_base(d, area) + base, im->b, im->n) == 0;
}

/* What a boot of the whole chain showed. */
typedef struct seen {
    bool ok;
    molt_boot_result_t r0, ra;
    uint32_t s1v; /* running stage-1 version, 0: none of the images */
    int app;      /* running application image, -1: none */
    uint32_t s1cnt; /* the stage-1 hardware counter after the boot */
} seen_t;

static bool g_sabotage; /* chain_cfg_t.sabotage of the run in progress */

static molt_err_t app_boot(dev_t_ *d, molt_boot_result_t *ra)
{
    molt_boot_cfg_t cfg = g_sabotage ? app_base : sim_stage_app_cfg(&d->st, app_base);
    memset(ra, 0, sizeof *ra);
    return molt_boot_go(&d->app.port, &cfg, ra);
}

/* Boot stage 0, then the stage 1 it picked boots the application; the oracle's
 * checks that hold after any boot. */
static seen_t chain_boot(life_t *L)
{
    dev_t_ *d = L->d;
    seen_t s;
    memset(&s, 0, sizeof s);
    s.app = -1;
    L->res->boots++;
    uint32_t before = 0;
    (void)d->st.dev.port.nv_read(d->st.dev.port.ctx, 0, &before);
    molt_err_t e = sim_stage_boot0(&d->st, &s.r0);
    if (e != MOLT_OK) {
        VIOL(L, bricked, "stage 0 found no stage 1: %s", molt_err_name(e));
        return s;
    }
    for (uint32_t v = 1; v <= NS1; v++)
        if (slot_holds(&d->st.dev, s.r0.slot, 0, &g_s1img[v]))
            s.s1v = v;
    if (s.s1v == 0 || s.r0.image.version.build != s.s1v)
        VIOL(L, mixed, "the running stage 1 (slot %u) is none of the signed stage-1 images", (unsigned)s.r0.slot);
    (void)d->st.dev.port.nv_read(d->st.dev.port.ctx, 0, &s.s1cnt);
    if (s.s1cnt < before || s.s1cnt < L->m.s1_c || (s.s1v != 0 && s.s1v < s.s1cnt))
        VIOL(L, s1counter, "stage-1 counter %u (was %u, model %u) with stage 1 v%u running", (unsigned)s.s1cnt,
             (unsigned)before, (unsigned)L->m.s1_c, (unsigned)s.s1v);
    if ((e = app_boot(d, &s.ra)) != MOLT_OK) {
        VIOL(L, bricked, "stage 1 found no application: %s", molt_err_name(e));
        return s;
    }
    for (int i = 0; i < NAPP; i++)
        if (slot_holds(&d->app, MOLT_AREA_PRIMARY, 0, &g_appimg[i]))
            s.app = i;
    if (s.app < 0)
        VIOL(L, mixed, "the running application is none of the signed images");
    else if (key_status(L->m.seq, g_appimg[s.app].key) != ST_INFORCE)
        VIOL(L, retired, "the running application is signed by key %d (status %d under key set %d)",
             g_appimg[s.app].key, key_status(L->m.seq, g_appimg[s.app].key), L->m.seq);
    s.ok = s.s1v != 0 && s.app >= 0;
    return s;
}

static bool powered(const dev_t_ *d) { return sim_flash_powered(&d->st.dev.flash) && sim_flash_powered(&d->app.flash); }

static void power_back(dev_t_ *d)
{
    sim_flash_disarm(&d->st.dev.flash);
    sim_flash_disarm(&d->app.flash);
    (void)sim_stage_reboot(&d->st);
    (void)sim_device_reboot(&d->app);
}

static bool snap_take(life_t *L) { return sim_stage_copy(&L->snap->st, &L->d->st) == MOLT_OK && sim_device_copy(&L->snap->app, &L->d->app) == MOLT_OK; }
static bool snap_back(life_t *L) { return sim_stage_copy(&L->d->st, &L->snap->st) == MOLT_OK && sim_device_copy(&L->d->app, &L->snap->app) == MOLT_OK; }

/* --- steps -------------------------------------------------------------------- */

/* A stage-1 update: install, stage 0's trial, optionally the confirmation and
 * the boot that records it. Stops at a power cut. *confirmed: the confirm call
 * returned OK. */
static void s1_flow(life_t *L, const img_t *cand, bool confirm, bool *confirmed, seen_t *first, seen_t *last)
{
    dev_t_ *d = L->d;
    *confirmed = false;
    memset(first, 0, sizeof *first);
    memset(last, 0, sizeof *last);
    if (sim_stage_install(&d->st, cand->b, cand->n, false, NULL) != MOLT_OK || !powered(d))
        return;
    if (sim_stage_boot0(&d->st, &first->r0) != MOLT_OK || !powered(d))
        return;
    if (app_boot(d, &first->ra) != MOLT_OK || !powered(d))
        return;
    if (confirm && first->r0.action == MOLT_ACT_UPGRADE_TEST) {
        if (sim_stage_confirm(&d->st) != MOLT_OK || !powered(d))
            return;
        *confirmed = true;
    }
    (void)sim_stage_boot0(&d->st, &last->r0);
}

static void step_stage1(life_t *L)
{
    uint32_t u = below(&L->r, 100), v;
    const img_t *cand;
    molt_err_t want = MOLT_OK;
    bool confirm = chance(&L->r, 70);
    if (u < 65) {
        if (L->m.s1_c >= NS1)
            return; /* every version is out */
        v = L->m.s1_c + 1;
        cand = &g_s1img[v];
    } else if (u < 80) {
        if (L->m.s1_c <= 1)
            return;
        v = L->m.s1_c - 1;
        cand = &g_s1img[v];
        want = MOLT_E_ROLLBACK;
    } else if (u < 90) {
        v = NS1 + 1;
        cand = &g_s1_untrusted;
        want = MOLT_E_KEY_UNTRUSTED;
    } else {
        v = NS1 + 1;
        cand = &g_s1_unmarked;
        want = MOLT_E_BOOT_STAGE;
    }
    L->res->s1_updates++;

    /* Count the flow's flash operations (stage device only: the application's
     * flash is not touched by a stage-1 update), then cut at each one. */
    if (!snap_take(L))
        return;
    uint64_t ops0 = L->d->st.dev.flash.ops;
    bool confirmed;
    seen_t f, l;
    s1_flow(L, cand, confirm, &confirmed, &f, &l);
    uint64_t T = L->d->st.dev.flash.ops - ops0;
    for (uint64_t k = 0; k < T; k++) {
        (void)snap_back(L);
        sim_flash_arm_cut(&L->d->st.dev.flash, SIM_CUT_TORN, k, L->seed * 1000003u + (uint64_t)L->step * 101u + k);
        s1_flow(L, cand, confirm, &confirmed, &f, &l);
        if (powered(L->d))
            continue; /* this path did fewer operations */
        L->res->cuts++;
        L->res->s1_cuts++;
        power_back(L->d);
        seen_t s = chain_boot(L);
        if (!s.ok)
            continue;
        if (s.s1v == v && want == MOLT_OK) {
            L->res->s1_new++;
        } else if (s.s1v == L->m.s1_c) {
            L->res->s1_old++;
            if (confirmed)
                VIOL(L, s1counter, "stage 1 v%u was confirmed before the cut at op %llu, v%u runs", (unsigned)v,
                     (unsigned long long)k, (unsigned)s.s1v);
        } else {
            VIOL(L, mixed, "after a cut at op %llu of a stage-1 update to v%u, v%u runs (confirmed v%u)",
                 (unsigned long long)k, (unsigned)v, (unsigned)s.s1v, (unsigned)L->m.s1_c);
        }
        if (s.app != L->m.app_c)
            VIOL(L, wrong, "a stage-1 update changed the application (%d, model %d)", s.app, L->m.app_c);
    }
    /* The real timeline, uncut, with exact outcomes. */
    (void)snap_back(L);
    s1_flow(L, cand, confirm, &confirmed, &f, &l);
    if (want == MOLT_OK) {
        if (f.r0.action != MOLT_ACT_UPGRADE_TEST || f.r0.image.version.build != v || !f.r0.trial)
            VIOL(L, wrong, "stage 1 v%u: first boot action %d build %u", (unsigned)v, (int)f.r0.action,
                 (unsigned)f.r0.image.version.build);
        if (confirm) {
            if (!confirmed || l.r0.image.version.build != v || l.r0.trial || l.r0.counter != v)
                VIOL(L, wrong, "stage 1 v%u confirmed: second boot build %u trial %d counter %u", (unsigned)v,
                     (unsigned)l.r0.image.version.build, l.r0.trial, (unsigned)l.r0.counter);
            L->m.s1_c = v;
        } else if (l.r0.action != MOLT_ACT_REVERT || l.r0.image.version.build != L->m.s1_c) {
            VIOL(L, wrong, "stage 1 v%u not confirmed: no revert to v%u", (unsigned)v, (unsigned)L->m.s1_c);
        }
    } else {
        L->res->s1_refused++;
        bool reason = f.r0.staged_err == want || (want == MOLT_E_ROLLBACK && f.r0.staged_err == MOLT_E_DOWNGRADE);
        if (f.r0.action != MOLT_ACT_REFUSED || !reason || f.r0.image.version.build != L->m.s1_c)
            VIOL(L, wrong, "stage-1 candidate refused as %s, got action %d %s", molt_err_name(want), (int)f.r0.action,
                 molt_err_name(f.r0.staged_err));
    }
    seen_t s = chain_boot(L);
    if (s.ok && (s.s1v != L->m.s1_c || s.r0.trial || s.app != L->m.app_c))
        VIOL(L, wrong, "after the stage-1 step: v%u (model v%u), app %d (model %d)", (unsigned)s.s1v,
             (unsigned)L->m.s1_c, s.app, L->m.app_c);
}

static molt_err_t ku_apply(life_t *L, const ku_t *ku)
{
    dev_t_ *d = L->d;
    molt_mem_source_t mem;
    molt_source_t src;
    const img_t *run = &g_appimg[L->m.app_c];
    /* the running image, as the update service reads it from its slot */
    molt_source_from_mem(&src, &mem, sim_flash_data(&d->app.flash) + sim_device_area_base(&d->app, MOLT_AREA_PRIMARY),
                         (uint32_t)run->n);
    return sim_stage_keyupdate(&d->st, &g_factory, ku->b, ku->n, &src);
}

static void step_keyrot(life_t *L)
{
    uint32_t u = below(&L->r, 100);
    const ku_t *ku;
    molt_err_t want;
    int next = L->m.seq; /* index of the next update in g_ku */
    if (u < 60 && next < NKU) {
        ku = &g_ku[next];
        int ret = ku_ret[next];
        want = ret >= 0 && ret == g_appimg[L->m.app_c].key ? MOLT_E_KU_STRANDS : MOLT_OK;
    } else if (u < 75 && L->m.seq >= 1) {
        ku = &g_ku[L->m.seq - 1];
        want = MOLT_E_KU_REPLAY;
    } else if (u < 85 && L->m.seq >= 2) {
        ku = &g_ku[below(&L->r, (uint32_t)L->m.seq - 1u)];
        want = MOLT_E_KU_ROLLBACK;
    } else {
        int s = next < NKU ? next : NKU - 1;
        ku = chance(&L->r, 50) ? &g_ku_forged[s] : &g_ku_one[s];
        want = MOLT_E_KU_SIG;
    }
    if (want != MOLT_OK) {
        molt_err_t e = ku_apply(L, ku);
        L->res->ku_refused++;
        if (e != want && e == MOLT_OK)
            VIOL(L, rollback, "key-update expected %s, got OK", molt_err_name(want));
        else if (e != want)
            VIOL(L, wrong, "key-update expected %s, got %s", molt_err_name(want), molt_err_name(e));
        if (e == MOLT_OK)
            L->m.seq = -1000; /* the model no longer knows the set: end this life */
        return;
    }
    L->res->ku_applied++;
    if (!snap_take(L))
        return;
    uint64_t ops0 = L->d->st.dev.flash.ops;
    molt_err_t e = ku_apply(L, ku);
    uint64_t T = L->d->st.dev.flash.ops - ops0;
    if (e != MOLT_OK) {
        VIOL(L, wrong, "key-update %d refused: %s", next + 1, molt_err_name(e));
        (void)snap_back(L);
        return;
    }
    /* k < T: operation k is torn; k == T: the cut comes just after the last
     * operation completed (before the device says so). */
    for (uint64_t k = 0; k <= T; k++) {
        (void)snap_back(L);
        if (k < T)
            sim_flash_arm_cut(&L->d->st.dev.flash, SIM_CUT_TORN, k, L->seed * 7919u + (uint64_t)L->step * 31u + k);
        (void)ku_apply(L, ku);
        if (k < T && powered(L->d))
            continue;
        L->res->cuts++;
        L->res->ku_cuts++;
        power_back(L->d);
        /* The boot after the cut: the set in force is the old or the new one;
         * the application (signed by a key in force in both) runs. */
        seen_t s = chain_boot(L);
        if (s.ok && s.app != L->m.app_c)
            VIOL(L, wrong, "a key-update changed the application (%d, model %d)", s.app, L->m.app_c);
        /* The deliverer retries: the update applies (it had not landed) or is
         * a replay (it had). Either way the new set is in force from here. */
        molt_err_t again = ku_apply(L, ku);
        if (again == MOLT_OK)
            L->res->ku_not_landed++;
        else if (again == MOLT_E_KU_REPLAY)
            L->res->ku_landed++;
        else
            VIOL(L, rollback, "retry of key-update %d after a cut at op %llu: %s", next + 1, (unsigned long long)k,
                 molt_err_name(again));
        /* and the previous update can never come back */
        if (next >= 1 && (again = ku_apply(L, &g_ku[next - 1])) != MOLT_E_KU_ROLLBACK)
            VIOL(L, rollback, "key-update %d after %d landed: %s", next, next + 1, molt_err_name(again));
    }
    (void)snap_back(L);
    if ((e = ku_apply(L, ku)) != MOLT_OK)
        VIOL(L, wrong, "key-update %d refused on the real timeline: %s", next + 1, molt_err_name(e));
    L->m.seq = next + 1;
}

static void step_app(life_t *L)
{
    dev_t_ *d = L->d;
    int cand = (int)below(&L->r, NAPP);
    if (chance(&L->r, 35)) /* often a retired key's image, when there is one */
        for (int i = 0, start = (int)below(&L->r, NAPP); i < NAPP; i++)
            if (key_status(L->m.seq, g_appimg[(start + i) % NAPP].key) == ST_RETIRED) {
                cand = (start + i) % NAPP;
                break;
            }
    int key = g_appimg[cand].key, st = key_status(L->m.seq, key);
    bool cut = chance(&L->r, 40), confirm = chance(&L->r, 60);
    molt_boot_cfg_t cfg = sim_stage_app_cfg(&d->st, app_base);
    uint32_t stg = molt_boot_staging_offset(&d->app.port, &cfg);

    L->res->app_updates++;
    if (sim_device_program(&d->app, MOLT_AREA_SECONDARY, stg, g_appimg[cand].b, g_appimg[cand].n) != MOLT_OK ||
        molt_request_upgrade(&d->app.port, &cfg, false) != MOLT_OK) {
        VIOL(L, wrong, "could not stage application image %d", cand);
        return;
    }
    if (cut) {
        sim_flash_arm_cut(&d->app.flash, SIM_CUT_TORN, below(&L->r, 24), L->seed * 131u + (uint64_t)L->step);
        molt_boot_result_t r0, ra;
        if (sim_stage_boot0(&d->st, &r0) == MOLT_OK)
            (void)app_boot(d, &ra);
        if (!powered(d)) {
            L->res->cuts++;
            L->res->app_cuts++;
        }
        power_back(d);
    }
    seen_t s = chain_boot(L);
    if (!s.ok)
        return;
    if (st == ST_INFORCE) {
        if (s.app == cand && s.ra.trial) {
            L->res->app_accepted++;
            if (confirm) {
                if (molt_confirm(&d->app.port, &cfg) != MOLT_OK)
                    VIOL(L, wrong, "confirm of application %d refused", cand);
                else
                    L->m.app_c = cand;
            }
        } else if (!(cut && s.app == L->m.app_c)) {
            VIOL(L, wrong, "application %d by key %d in force: running %d trial %d, action %d %s", cand, key, s.app,
                 s.ra.trial, (int)s.ra.action, molt_err_name(s.ra.staged_err));
        }
    } else {
        if (s.app != L->m.app_c)
            VIOL(L, retired, "application %d by key %d (status %d) accepted", cand, key, st);
        molt_err_t want = st == ST_RETIRED ? MOLT_E_KEY_RETIRED : MOLT_E_KEY_UNTRUSTED;
        if (!cut && (s.ra.action != MOLT_ACT_REFUSED || s.ra.staged_err != want)) {
            if (st == ST_RETIRED)
                VIOL(L, retired, "application %d by retired key %d: action %d %s", cand, key, (int)s.ra.action,
                     molt_err_name(s.ra.staged_err));
            else
                VIOL(L, wrong, "application %d by key %d: action %d %s, want %s", cand, key, (int)s.ra.action,
                     molt_err_name(s.ra.staged_err), molt_err_name(want));
        }
        if (st == ST_RETIRED)
            L->res->app_refused_retired++;
        else
            L->res->app_refused_untrusted++;
    }
    /* End the step with no trial pending: the next boot reverts an unconfirmed one. */
    s = chain_boot(L);
    if (s.ok && (s.app != L->m.app_c || s.ra.trial))
        VIOL(L, wrong, "after the application step: running %d trial %d, model %d", s.app, s.ra.trial, L->m.app_c);
}

static void step_reset(life_t *L)
{
    seen_t s = chain_boot(L);
    if (s.ok && (s.s1v != L->m.s1_c || s.app != L->m.app_c || s.r0.trial || s.ra.trial))
        VIOL(L, wrong, "a plain reset: stage 1 v%u app %d (model v%u, %d)", (unsigned)s.s1v, s.app,
             (unsigned)L->m.s1_c, L->m.app_c);
}

static bool dev_init(dev_t_ *d)
{
    sim_layout_t sl, al;
    if (sim_stage_layout(&sl, 1024, 4, 8, 0xff) != MOLT_OK || sim_layout_uniform(&al, 1024, 5, 8, 0xff) != MOLT_OK)
        return false;
    if (sim_stage_init(&d->st, &sl, &g_s1_ring, &g_roots, THRESHOLD) != MOLT_OK)
        return false;
    if (sim_device_init(&d->app, &al, &g_factory) != MOLT_OK) {
        sim_stage_free(&d->st);
        return false;
    }
    return true;
}

static void dev_free(dev_t_ *d)
{
    sim_stage_free(&d->st);
    sim_device_free(&d->app);
}

static bool one_life(const chain_cfg_t *cfg, chain_result_t *res, uint64_t seed, dev_t_ *d, dev_t_ *snap)
{
    const int factory_img = 2 * KF1;
    life_t L = {cfg, res, seed, -1, d, snap, {0, factory_img, 1}, {seed * 0x9e3779b97f4a7c15ull + 1u}};
    /* Factory: stage 1 v1 in S1A, an application image by F1 in PRIMARY, the genesis key set. */
    if (sim_stage_factory(&d->st, g_s1img[1].b, g_s1img[1].n) != MOLT_OK ||
        sim_device_program(&d->app, MOLT_AREA_PRIMARY, 0, g_appimg[factory_img].b, g_appimg[factory_img].n) != MOLT_OK)
        return false;
    step_reset(&L);
    for (L.step = 0; L.step < (int)cfg->steps && L.m.seq >= 0; L.step++) {
        uint32_t u = below(&L.r, 100);
        res->steps++;
        if (u < 35)
            step_app(&L);
        else if (u < 55)
            step_stage1(&L);
        else if (u < 92)
            step_keyrot(&L);
        else
            step_reset(&L);
    }
    return true;
}

bool chain_run(const chain_cfg_t *cfg, chain_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!setup()) {
        fprintf(stderr, "chain life: cannot make the keys, images and key-updates\n");
        return false;
    }
    static dev_t_ d, snap;
    g_sabotage = cfg->sabotage;
    for (uint32_t i = 0; i < cfg->lives; i++) {
        if (!dev_init(&d) || !dev_init(&snap)) {
            fprintf(stderr, "chain life: cannot create the devices\n");
            return false;
        }
        bool ok = one_life(cfg, res, cfg->seed + i, &d, &snap);
        dev_free(&d);
        dev_free(&snap);
        if (!ok) {
            fprintf(stderr, "chain life %llu: set-up failed\n", (unsigned long long)(cfg->seed + i));
            return false;
        }
        res->lives++;
    }
    return true;
}

bool chain_ok(const chain_result_t *res)
{
    return res->boots > 0 && res->bricked == 0 && res->mixed == 0 && res->retired == 0 && res->rollback == 0 &&
           res->s1counter == 0 && res->wrong == 0;
}

void chain_line(const chain_result_t *res, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "lives %llu, steps %llu, boots %llu, power cuts %llu; stage-1 updates %llu (cuts %llu: new %llu, old %llu; "
             "refused %llu); key-updates applied %llu (cuts %llu: landed %llu, not landed %llu; refused %llu); "
             "application updates %llu (cuts %llu, accepted %llu, refused retired %llu, untrusted %llu); "
             "bricked %llu, mixed %llu, retired-key images accepted %llu, key set rollbacks %llu, "
             "stage-1 counter %llu, other %llu",
             (unsigned long long)res->lives, (unsigned long long)res->steps, (unsigned long long)res->boots,
             (unsigned long long)res->cuts, (unsigned long long)res->s1_updates, (unsigned long long)res->s1_cuts,
             (unsigned long long)res->s1_new, (unsigned long long)res->s1_old, (unsigned long long)res->s1_refused,
             (unsigned long long)res->ku_applied, (unsigned long long)res->ku_cuts, (unsigned long long)res->ku_landed,
             (unsigned long long)res->ku_not_landed, (unsigned long long)res->ku_refused,
             (unsigned long long)res->app_updates, (unsigned long long)res->app_cuts,
             (unsigned long long)res->app_accepted, (unsigned long long)res->app_refused_retired,
             (unsigned long long)res->app_refused_untrusted, (unsigned long long)res->bricked,
             (unsigned long long)res->mixed, (unsigned long long)res->retired, (unsigned long long)res->rollback,
             (unsigned long long)res->s1counter, (unsigned long long)res->wrong);
}
