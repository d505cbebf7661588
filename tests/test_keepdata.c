/*
 * test_keepdata.c - data-preserving upgrade (R-KEEPDATA; lib/keepdata.c over
 * lib/store.c, wired into lib/fwu.c) on the simulated device, with images
 * signed by `molt sign --data-schema` ($MOLT).
 *
 * The application (app 1) keeps six calibration records; schema 2 rewrites
 * each value as "v2:" + value and adds record 50. Application 2's two records
 * must never change. The oracle is computed here, from the record values, not
 * through the store.
 *
 *  - flows with exact data: install -> reboot: the trial sees migrated data,
 *    the snapshot is the old data; accept: consolidated (snapshot gone, schema
 *    2); reject, and a reset in the trial (revert): the old data byte for byte,
 *    schema 1; the revert of a second upgrade gives back schema-2 data;
 *  - refusals: an image that cannot migrate schema 1 (3:2) and one with no
 *    schema TLV are refused at psa_fwu_finish with NOT_PERMITTED and reason
 *    KEEP_SCHEMA, PRIMARY and the data area byte-identical; the application's
 *    writes are refused between save and reboot; a failed restore listener
 *    makes accept BAD_STATE, and the reject that follows restores;
 *  - power-fail proof over code + data: a torn cut at every flash operation of
 *    install (save + request) + activation + migration, of accept
 *    (+ consolidation), of reject + revert + restore, and of a reset in the
 *    trial (revert + restore), and of a permanent upgrade (save, activation,
 *    migration resumed on the new code, consolidation), two seeds each, plus a second cut at every
 *    operation of the recovery for a sample; after the final boot the code
 *    and the data must belong to the same side: "mismatch" counts old code
 *    with new data or the reverse, "lost" any other data (a record missing,
 *    altered, or another application's changed).
 */
#include <psa/crypto.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "molt/fwu.h"
#include "molt/keepdata.h"
#include "molt/store.h"
#include "psa/update.h"
#include "sim_port.h"
#include "slurp.h"
#include "trailer.h"

#define SEC 1024u
#define SLOT_SECS 16u
#define NREC 6u

typedef struct img { uint8_t *b; size_t n; } img_t;

static molt_key_t g_key;
static molt_keyring_t g_keys = {&g_key, 1};
static const molt_boot_cfg_t g_cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
static img_t im_old, im_new, im_bad, im_none, im_v3;
static char g_dir[256];

/* --- the application ------------------------------------------------------------- */

typedef struct appctx {
    unsigned saves, cleanups, restores, consolidates;
    bool fail_restore, fail_save;
    uint16_t prev, next;
} appctx_t;

static char old_val[NREC][32];
static const char *const app2_val[2] = {"pairing-key:0123456789abcdef", "counter:41"};

static molt_err_t app_save(void *ctx, const molt_store_app_t *h)
{
    (void)h;
    ((appctx_t *)ctx)->saves++;
    return ((appctx_t *)ctx)->fail_save ? MOLT_E_ARG : MOLT_OK;
}
static void app_cleanup(void *ctx) { ((appctx_t *)ctx)->cleanups++; }
static void app_consolidate(void *ctx) { ((appctx_t *)ctx)->consolidates++; }

/* Schema 1 -> 2: "v2:" + value, and record 50. Same schema: nothing. */
static molt_err_t app_restore(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next)
{
    appctx_t *a = ctx;
    uint16_t ids[32], id, len;
    uint32_t n = 0, cur = 0;
    bool more = true;
    molt_err_t err;

    a->restores++;
    a->prev = prev;
    a->next = next;
    if (a->fail_restore)
        return MOLT_E_ARG;
    if (prev == next)
        return MOLT_OK;
    while ((err = molt_store_app_next(h, &cur, &id, &len, &more)) == MOLT_OK && more && n < 32)
        ids[n++] = id;
    if (err != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t v[MOLT_STORE_VALUE_MAX];
        size_t vl = 0;
        if ((err = molt_store_get(h, ids[i], v + 3, sizeof v - 3, &vl)) != MOLT_OK)
            return err;
        memcpy(v, "v2:", 3);
        if ((err = molt_store_put(h, ids[i], v, vl + 3)) != MOLT_OK)
            return err;
    }
    return molt_store_put(h, 50, "migrated", 8);
}

static const molt_keep_ops_t g_ops_tpl = {app_save, app_cleanup, app_restore, app_consolidate, NULL};

/* --- the device ---------------------------------------------------------------------- */

typedef struct dut {
    sim_device_t d;
    molt_fwu_t f;
    molt_boot_result_t r;
    molt_store_t st;
    molt_keep_t k;
    appctx_t app;
    molt_keep_action_t act;
    molt_err_t boot_err, keep_err;
} dut_t;

static sim_layout_t layout(void)
{
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, SEC, SLOT_SECS, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_layout_add_data(&l, 2), MOLT_OK);
    return l;
}

/* The application's objects over flash and this boot's result (no flash op). */
static molt_err_t attach(dut_t *u)
{
    molt_keep_ops_t ops = g_ops_tpl;
    molt_err_t err;
    ops.ctx = &u->app;
    if ((err = molt_fwu_init(&u->f, &u->d.port, &g_cfg, &u->r)) != MOLT_OK ||
        (err = molt_store_mount(&u->st, sim_device_data_area(&u->d))) != MOLT_OK ||
        (err = molt_keep_init(&u->k, &u->st, 1, &u->d.port, &g_cfg, &ops)) != MOLT_OK)
        return err;
    molt_keep_fwu_hooks(&u->k, &u->f);
    molt_fwu_bind(&u->f);
    return MOLT_OK;
}

#define NO_CUT UINT64_MAX

/* Power on (a cut armed at operation k of this boot unless NO_CUT: the
 * reboot itself disarms earlier ones): boot code, then the application's
 * start (keep_boot first). */
static molt_err_t app_start_cut(dut_t *u, uint64_t k, uint64_t seed)
{
    molt_err_t err;
    u->keep_err = u->boot_err = MOLT_E_STATE;
    if ((err = sim_device_reboot(&u->d)) != MOLT_OK)
        return err;
    if (k != NO_CUT)
        sim_flash_arm_cut(&u->d.flash, SIM_CUT_TORN, k, seed);
    memset(&u->r, 0, sizeof u->r);
    if ((u->boot_err = molt_boot_go(&u->d.port, &g_cfg, &u->r)) != MOLT_OK)
        return u->boot_err;
    if ((err = attach(u)) != MOLT_OK)
        return err;
    return u->keep_err = molt_keep_boot(&u->k, &u->r, &u->act);
}

static molt_err_t app_start(dut_t *u) { return app_start_cut(u, NO_CUT, 0); }

static dut_t *dut_new(void)
{
    dut_t *u = calloc(1, sizeof *u);
    sim_layout_t l = layout();
    CHECK_EQ(sim_device_init(&u->d, &l, &g_keys), MOLT_OK);
    sim_flash_set_flags(&u->d.flash, SIM_FLASH_F_WRITE_ONCE);
    return u;
}

static dut_t *dut_copy(const dut_t *src)
{
    dut_t *u = dut_new();
    CHECK_EQ(sim_device_copy(&u->d, &src->d), MOLT_OK);
    sim_flash_set_flags(&u->d.flash, SIM_FLASH_F_WRITE_ONCE);
    u->r = src->r;
    u->app = src->app;
    CHECK_EQ(attach(u), MOLT_OK);
    return u;
}

static void dut_free(dut_t *u)
{
    molt_fwu_bind(NULL);
    sim_device_free(&u->d);
    free(u);
}

static psa_status_t download(dut_t *u, const img_t *im)
{
    psa_status_t st;
    if ((st = psa_fwu_start(0, NULL, 0)) != PSA_SUCCESS)
        return st;
    for (size_t off = 0; off < im->n; off += 1000) {
        size_t n = im->n - off < 1000 ? im->n - off : 1000;
        if ((st = psa_fwu_write(0, off, im->b + off, n)) != PSA_SUCCESS)
            return st;
    }
    (void)u;
    return psa_fwu_finish(0);
}

/* A device running the old image with its data, the new image a candidate. */
static dut_t *dut_factory(void)
{
    dut_t *u = dut_new();
    molt_store_app_t a2;
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, im_old.b, im_old.n), MOLT_OK);
    CHECK_EQ(app_start(u), MOLT_OK);
    for (uint32_t i = 0; i < NREC; i++)
        CHECK_EQ(molt_store_put(&u->k.app, (uint16_t)i, old_val[i], strlen(old_val[i])), MOLT_OK);
    CHECK_EQ(molt_store_app_open(&a2, &u->st, 2), MOLT_OK);
    for (uint32_t i = 0; i < 2; i++)
        CHECK_EQ(molt_store_put(&a2, (uint16_t)(100 + i), app2_val[i], strlen(app2_val[i])), MOLT_OK);
    return u;
}

/* --- the oracle --------------------------------------------------------------------- */

enum side { OLD_DATA = 1, NEW_DATA = 2, OTHER_DATA = 3 };

/* Does space sp of app 1 hold exactly the old (or the migrated) records? */
static bool holds(dut_t *u, uint8_t sp, bool migrated)
{
    uint8_t v[MOLT_STORE_VALUE_MAX];
    char want[40];
    size_t n = 0;
    uint32_t count = 0, cur = 0;
    bool more = true;
    molt_store_rec_t r;

    for (uint32_t i = 0; i < NREC; i++) {
        snprintf(want, sizeof want, "%s%.31s", migrated ? "v2:" : "", old_val[i]);
        if (molt_store_get_raw(&u->st, sp, 1, (uint16_t)i, v, sizeof v, &n) != MOLT_OK || n != strlen(want) ||
            memcmp(v, want, n) != 0)
            return false;
    }
    molt_err_t e = molt_store_get_raw(&u->st, sp, 1, 50, v, sizeof v, &n);
    if (migrated ? e != MOLT_OK || n != 8 || memcmp(v, "migrated", 8) != 0 : e != MOLT_E_STORE_NOT_FOUND)
        return false;
    while (molt_store_next(&u->st, &cur, &r, &more) == MOLT_OK && more)
        count += r.space == sp && r.app == 1;
    return count == NREC + (migrated ? 1u : 0u);
}

static bool app2_intact(dut_t *u)
{
    uint8_t v[64];
    size_t n = 0;
    for (uint32_t i = 0; i < 2; i++)
        if (molt_store_get_raw(&u->st, MOLT_STORE_LIVE, 2, (uint16_t)(100 + i), v, sizeof v, &n) != MOLT_OK ||
            n != strlen(app2_val[i]) || memcmp(v, app2_val[i], n) != 0)
            return false;
    return true;
}

static uint32_t saved_count(dut_t *u, uint16_t app)
{
    uint32_t cur = 0, c = 0;
    bool more = true;
    molt_store_rec_t r;
    while (molt_store_next(&u->st, &cur, &r, &more) == MOLT_OK && more)
        c += r.space == MOLT_STORE_SAVED && r.app == app;
    return c;
}

static uint16_t schema_of(dut_t *u)
{
    molt_keep_state_t s;
    uint16_t sc = 0xffff;
    CHECK_EQ(molt_keep_status(&u->k, &s, &sc), MOLT_OK);
    return sc;
}

static uint8_t phase_of(dut_t *u)
{
    molt_keep_state_t s;
    uint16_t sc = 0;
    CHECK_EQ(molt_keep_status(&u->k, &s, &sc), MOLT_OK);
    return s.phase;
}

/* Which image PRIMARY holds, compared byte for byte (independent of keepdata). */
static int code_side(dut_t *u)
{
    const uint8_t *p = sim_flash_data(&u->d.flash) + sim_device_area_base(&u->d, MOLT_AREA_PRIMARY);
    if (memcmp(p, im_old.b, im_old.n) == 0)
        return OLD_DATA;
    if (memcmp(p, im_new.b, im_new.n) == 0)
        return NEW_DATA;
    return OTHER_DATA;
}

static int data_side(dut_t *u)
{
    if (holds(u, MOLT_STORE_LIVE, false))
        return OLD_DATA;
    if (holds(u, MOLT_STORE_LIVE, true))
        return NEW_DATA;
    return OTHER_DATA;
}

/* --- images ------------------------------------------------------------------------- */

static img_t sign(const char *name, const char *ver, const char *schema)
{
    const char *molt = getenv("MOLT");
    char cmd[2048];
    img_t im = {NULL, 0};
    CHECK(molt != NULL, "MOLT (the molt CLI) must be set; ctest sets it");
    if (molt == NULL)
        return im;
    snprintf(cmd, sizeof cmd,
             "'%s' sign -k '%s/keys/sign-ecdsa-p256.pem' -v %s -H 32 --pad-header -S %u %s%s '%s/payload' "
             "'%s/%s' >/dev/null",
             molt, MOLT_VECTORS, ver, SLOT_SECS * SEC, schema ? "--data-schema " : "", schema ? schema : "", g_dir,
             g_dir, name);
    CHECK_EQ(system(cmd), 0);
    im.b = slurp(g_dir, name, &im.n);
    CHECK(im.b != NULL, "signed %s", name);
    return im;
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    uint8_t pl[4000];
    snprintf(g_dir, sizeof g_dir, "%s/molt_keep_XXXXXX", tmp);
    CHECK(mkdtemp(g_dir) != NULL, "temp dir");
    for (size_t i = 0; i < sizeof pl; i++)
        pl[i] = (uint8_t)(i * 7u + 3u);
    char path[300];
    snprintf(path, sizeof path, "%s/payload", g_dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(pl, 1, sizeof pl, f) == sizeof pl, "payload");
    if (f)
        fclose(f);
    im_old = sign("old.bin", "1.0.0", "1:1");
    im_new = sign("new.bin", "1.1.0", "1:2:1");
    im_bad = sign("bad.bin", "1.2.0", "1:3:2");
    im_none = sign("none.bin", "1.3.0", NULL);
    im_v3 = sign("v3.bin", "1.4.0", "1:2:2");
    g_key.der = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &g_key.der_len);
    CHECK(g_key.der != NULL, "key");
    for (uint32_t i = 0; i < NREC; i++)
        snprintf(old_val[i], sizeof old_val[i], "cal[%u]=%u.%03u", (unsigned)i, (unsigned)(i * 13u + 1u),
                 (unsigned)(i * 271u % 1000u));
}

static void cleanup_dir(void)
{
    static const char *const names[] = {"payload", "old.bin", "new.bin", "bad.bin", "none.bin", "v3.bin"};
    char path[300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        remove(path);
    }
    rmdir(g_dir);
}

/* --- flows with exact outcomes ---------------------------------------------------------- */

static void test_flows(void)
{
    psa_fwu_component_info_t info;

    /* install -> trial sees migrated data, the snapshot is the old data */
    dut_t *u = dut_factory();
    CHECK_EQ(schema_of(u), 1);
    CHECK_EQ(download(u, &im_new), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(u->app.saves, 1);
    CHECK_EQ(u->app.cleanups, 1);
    CHECK_EQ(phase_of(u), MOLT_KEEP_SAVED);
    CHECK_EQ(molt_store_put(&u->k.app, 0, "late", 4), MOLT_E_KEEP_PHASE); /* frozen until the reboot */
    CHECK(holds(u, MOLT_STORE_SAVED, false), "snapshot taken");
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_MIGRATED);
    CHECK(u->app.restores == 1 && u->app.prev == 1 && u->app.next == 2, "restore(1, 2) once");
    CHECK_EQ(phase_of(u), MOLT_KEEP_TRIAL);
    CHECK(holds(u, MOLT_STORE_LIVE, true), "trial sees migrated data");
    CHECK(holds(u, MOLT_STORE_SAVED, false), "snapshot kept for a revert");
    CHECK(app2_intact(u), "app 2 untouched");
    dut_t *trial = dut_copy(u);
    molt_fwu_bind(&u->f); /* the copy bound itself */

    /* accept -> consolidated */
    CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(u->app.consolidates, 1);
    CHECK_EQ(phase_of(u), MOLT_KEEP_DONE);
    CHECK_EQ(schema_of(u), 2);
    CHECK_EQ(saved_count(u, 1), 0);
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_NONE);
    CHECK(holds(u, MOLT_STORE_LIVE, true) && app2_intact(u), "accepted: migrated data stays");

    /* the revert of another upgrade (schema 2 -> 2) gives back the schema-2 data */
    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    CHECK_EQ(download(u, &im_v3), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_MIGRATED);
    CHECK(u->app.prev == 2 && u->app.next == 2, "restore(2, 2)");
    CHECK_EQ(molt_store_put(&u->k.app, 0, "written by v1.4", 15), MOLT_OK);
    CHECK_EQ(app_start(u), MOLT_OK); /* reset in the trial */
    CHECK_EQ(u->r.action, MOLT_ACT_REVERT);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_RESTORED);
    CHECK(holds(u, MOLT_STORE_LIVE, true) && app2_intact(u), "reverted: the schema-2 data byte for byte");
    CHECK_EQ(schema_of(u), 2);
    CHECK_EQ(phase_of(u), MOLT_KEEP_RECOVERED);
    CHECK_EQ(saved_count(u, 1), 0);
    dut_free(u);

    /* reject -> old data byte for byte */
    u = dut_copy(trial);
    CHECK_EQ(molt_store_put(&u->k.app, 3, "written by the trial", 20), MOLT_OK);
    CHECK_EQ(psa_fwu_reject(0), PSA_SUCCESS_REBOOT);
    CHECK(holds(u, MOLT_STORE_SAVED, false), "reject leaves the snapshot for the reboot");
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->r.action, MOLT_ACT_REVERT);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_RESTORED);
    CHECK_EQ(code_side(u), OLD_DATA);
    CHECK(holds(u, MOLT_STORE_LIVE, false) && app2_intact(u), "rejected: the old data byte for byte");
    CHECK_EQ(schema_of(u), 1);
    CHECK_EQ(saved_count(u, 1), 0);
    CHECK_EQ(psa_fwu_query(0, &info), PSA_SUCCESS);
    CHECK_EQ(info.state, PSA_FWU_FAILED);
    dut_free(u);

    /* a failed restore: accept refused, the reject restores */
    u = dut_factory();
    u->app.fail_restore = true;
    CHECK_EQ(download(u, &im_new), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(app_start(u), MOLT_E_KEEP_RESTORE);
    CHECK_EQ(phase_of(u), MOLT_KEEP_RESTORING);
    CHECK_EQ(psa_fwu_accept(), PSA_ERROR_BAD_STATE);
    CHECK_EQ(psa_fwu_query(0, &info), PSA_SUCCESS);
    CHECK_EQ(info.state, PSA_FWU_TRIAL);
    CHECK_EQ(psa_fwu_reject(0), PSA_SUCCESS_REBOOT);
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_RESTORED);
    CHECK(code_side(u) == OLD_DATA && holds(u, MOLT_STORE_LIVE, false), "old code, old data");
    dut_free(u);

    /* a staged image rejected before the reboot: the session is dropped, writes work */
    u = dut_factory();
    CHECK_EQ(download(u, &im_new), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(psa_fwu_reject(0), PSA_SUCCESS);
    CHECK_EQ(phase_of(u), MOLT_KEEP_NONE);
    CHECK_EQ(saved_count(u, 1), 0);
    CHECK(holds(u, MOLT_STORE_LIVE, false), "old data");
    CHECK_EQ(molt_store_put(&u->k.app, 7, "x", 1), MOLT_OK);
    dut_free(u);
    dut_free(trial);
}

static void test_refusals(void)
{
    const img_t *bad[2] = {&im_bad, &im_none};
    for (int i = 0; i < 2; i++) {
        dut_t *u = dut_factory();
        psa_fwu_component_info_t info;
        const molt_area_t *da = sim_device_data_area(&u->d);
        uint32_t dbase = sim_device_area_base(&u->d, MOLT_AREA_PRIMARY);
        size_t psize = u->d.port.area[MOLT_AREA_PRIMARY].size;
        uint8_t *pri = malloc(psize), *dat = malloc(da->size);
        uint32_t data_off = ((const sim_area_ctx_t *)da->ctx)->base;
        memcpy(pri, sim_flash_data(&u->d.flash) + dbase, psize);
        memcpy(dat, sim_flash_data(&u->d.flash) + data_off, da->size);
        CHECK_EQ(download(u, bad[i]), PSA_ERROR_NOT_PERMITTED);
        CHECK_EQ(psa_fwu_query(0, &info), PSA_SUCCESS);
        CHECK_EQ(info.state, PSA_FWU_FAILED);
        CHECK_EQ(info.error, MOLT_E_KEEP_SCHEMA);
        CHECK(memcmp(pri, sim_flash_data(&u->d.flash) + dbase, psize) == 0, "PRIMARY unchanged");
        CHECK(memcmp(dat, sim_flash_data(&u->d.flash) + data_off, da->size) == 0, "data area unchanged");
        CHECK_EQ(psa_fwu_install(), PSA_ERROR_BAD_STATE);
        CHECK_EQ(app_start(u), MOLT_OK);
        CHECK(code_side(u) == OLD_DATA && holds(u, MOLT_STORE_LIVE, false), "nothing changed");
        free(pri);
        free(dat);
        dut_free(u);
    }
    /* a third image running (programmed behind the update's back) before the new code ran: the
     * session is void (dropped, LIVE untouched); v3 declares schema 2 for data of schema 1: refused */
    {
        dut_t *u = dut_factory();
        CHECK_EQ(download(u, &im_new), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
        const molt_area_t *sa = &u->d.port.area[MOLT_AREA_SECONDARY];
        CHECK_EQ(sa->erase(sa->ctx, sa->size - SEC, SEC), MOLT_OK); /* the request dropped */
        CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, im_v3.b, im_v3.n), MOLT_OK);
        CHECK_EQ(app_start(u), MOLT_E_KEEP_SCHEMA);
        CHECK_EQ(u->act, MOLT_KEEP_ACT_DROPPED);
        CHECK_EQ(phase_of(u), MOLT_KEEP_NONE);
        CHECK(holds(u, MOLT_STORE_LIVE, false) && saved_count(u, 1) == 0 && app2_intact(u), "LIVE untouched");
        CHECK_EQ(schema_of(u), 1);
        dut_free(u);
    }
    /* molt_keep_check on its own: schema within [from, schema] */
    dut_t *u = dut_factory();
    molt_source_t src;
    molt_mem_source_t mem;
    molt_source_from_mem(&src, &mem, im_new.b, (uint32_t)im_new.n);
    CHECK_EQ(molt_keep_check(&u->k, &src), MOLT_OK);
    molt_source_from_mem(&src, &mem, im_bad.b, (uint32_t)im_bad.n);
    CHECK_EQ(molt_keep_check(&u->k, &src), MOLT_E_KEEP_SCHEMA);
    uint16_t sc = 0, from = 0;
    CHECK_EQ(molt_keep_image_schema(&src, 1, &sc, &from), MOLT_OK);
    CHECK(sc == 3 && from == 2, "bad.bin declares 3 from 2");
    CHECK_EQ(molt_keep_image_schema(&src, 2, &sc, &from), MOLT_E_STORE_NOT_FOUND);
    dut_free(u);
}

/* Found by the data variant of the life proof (sim/life.c), directed here:
 *  - new code activated without a save (a request outside the update API) used
 *    to run on unmigrated data with molt_keep_boot() saying OK: now KEEP_SCHEMA,
 *    nothing touched, and the old code gets its data back after the revert;
 *  - a save made during the unconfirmed trial of a third image bound the session
 *    to that image: after its revert the old code found KEEP_IMAGE forever (its
 *    data stranded). Now the session is void once other code runs (dropped),
 *    and the old code has its data, byte for byte;
 *  - a second save whose listener failed set the phase to none, cancelling the
 *    first saved upgrade whose request stood. */
static void test_unprotected(void)
{
    dut_t *u = dut_factory();
    uint32_t stg = molt_boot_staging_offset(&u->d.port, &g_cfg);
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_SECONDARY, stg, im_new.b, im_new.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&u->d.port, &g_cfg, false), MOLT_OK); /* no save */
    CHECK_EQ(app_start(u), MOLT_E_KEEP_SCHEMA);
    CHECK(u->r.action == MOLT_ACT_UPGRADE_TEST && code_side(u) == NEW_DATA, "schema-2 code in a trial");
    CHECK_EQ(u->act, MOLT_KEEP_ACT_NONE);
    CHECK(holds(u, MOLT_STORE_LIVE, false) && app2_intact(u), "unmigrated data untouched");
    CHECK_EQ(phase_of(u), MOLT_KEEP_NONE);
    CHECK_EQ(schema_of(u), 1);
    CHECK_EQ(app_start(u), MOLT_OK); /* no confirm: the revert */
    CHECK(u->r.action == MOLT_ACT_REVERT && code_side(u) == OLD_DATA, "old code back");
    CHECK(holds(u, MOLT_STORE_LIVE, false) && app2_intact(u), "old code, old data");
    dut_free(u);

    /* a save during the trial of a third image (no schema TLV), then its revert */
    u = dut_factory();
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_SECONDARY, stg, im_none.b, im_none.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&u->d.port, &g_cfg, false), MOLT_OK);
    CHECK_EQ(app_start(u), MOLT_E_KEEP_SCHEMA); /* declares no schema for data of schema 1 */
    molt_mem_source_t mem;
    molt_source_t src;
    molt_source_from_mem(&src, &mem, im_new.b, (uint32_t)im_new.n);
    CHECK_EQ(molt_keep_save(&u->k, &src), MOLT_OK);
    CHECK_EQ(phase_of(u), MOLT_KEEP_SAVED);
    CHECK_EQ(app_start(u), MOLT_OK); /* the revert: the old code, which the session does not name */
    CHECK(u->r.action == MOLT_ACT_REVERT && code_side(u) == OLD_DATA, "old code back");
    CHECK_EQ(u->act, MOLT_KEEP_ACT_DROPPED);
    CHECK_EQ(phase_of(u), MOLT_KEEP_NONE);
    CHECK_EQ(saved_count(u, 1), 0);
    CHECK(holds(u, MOLT_STORE_LIVE, false) && app2_intact(u), "the old data byte for byte");
    CHECK_EQ(molt_store_put(&u->k.app, 7, "x", 1), MOLT_OK); /* usable again */
    dut_free(u);

    /* a second save that fails (its listener) leaves the first upgrade saved: its
     * request stands, and the new code must find its data migrated */
    u = dut_factory();
    CHECK_EQ(download(u, &im_new), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(phase_of(u), MOLT_KEEP_SAVED);
    u->app.fail_save = true;
    molt_source_from_mem(&src, &mem, im_new.b, (uint32_t)im_new.n);
    CHECK_EQ(molt_keep_save(&u->k, &src), MOLT_E_KEEP_SAVE);
    CHECK_EQ(phase_of(u), MOLT_KEEP_SAVED);
    u->app.fail_save = false;
    CHECK_EQ(app_start(u), MOLT_OK);
    CHECK_EQ(u->act, MOLT_KEEP_ACT_MIGRATED);
    CHECK(u->r.trial && code_side(u) == NEW_DATA && holds(u, MOLT_STORE_LIVE, true), "new code, migrated data");
    dut_free(u);
}

/* --- the power-fail proof ------------------------------------------------------------- */

enum flow { F_INSTALL, F_ACCEPT, F_REJECT, F_REVERT, F_PERM, F_COUNT };
static const char *const flow_name[F_COUNT] = {"install+activate+migrate", "accept+consolidate",
                                               "reject+revert+restore", "reset-in-trial+revert+restore",
                                               "save+permanent+migrate+consolidate"};

/* The flow's steps, a torn cut at its operation k (NO_CUT: none); *ops1 gets
 * the operations of the step before the reboot. Stops when the power is gone. */
static void run_flow(dut_t *u, int f, uint64_t k, uint64_t seed, uint64_t ops1, uint64_t *ops1_out)
{
    uint64_t t0 = sim_flash_ops(&u->d.flash);
    if (k != NO_CUT && k < ops1)
        sim_flash_arm_cut(&u->d.flash, SIM_CUT_TORN, k, seed);
    if (f == F_INSTALL)
        (void)psa_fwu_install();
    else if (f == F_ACCEPT)
        (void)psa_fwu_accept();
    else if (f == F_REJECT)
        (void)psa_fwu_reject(0);
    else if (f == F_PERM) {
        /* A permanent upgrade (no trial): a reset during the migration resumes
         * it on the new code, from the snapshot. */
        molt_area_src_t ctx;
        molt_source_t src;
        molt_area_source(&src, &ctx, &u->d.port.area[MOLT_AREA_SECONDARY],
                         molt_boot_staging_offset(&u->d.port, &g_cfg));
        if (molt_keep_save(&u->k, &src) == MOLT_OK)
            (void)molt_request_upgrade(&u->d.port, &g_cfg, true);
    }
    if (ops1_out != NULL)
        *ops1_out = sim_flash_ops(&u->d.flash) - t0;
    if (!sim_flash_powered(&u->d.flash))
        return;
    (void)app_start_cut(u, k != NO_CUT && k >= ops1 ? k - ops1 : NO_CUT, seed);
}

typedef struct pf { uint64_t cuts, runs, mismatch, lost, bricked, keep_err, violations; } pf_t;

/* After the final boot: code and data on the same side, nothing lost. */
static void judge(dut_t *u, pf_t *r, int f, uint64_t k, const char *what)
{
    r->runs++;
    if (u->boot_err != MOLT_OK) {
        r->bricked++;
        CHECK(false, "%s cut %llu (%s): boot %s", flow_name[f], (unsigned long long)k, what,
              molt_err_name(u->boot_err));
        return;
    }
    if (u->keep_err != MOLT_OK) {
        r->keep_err++;
        CHECK(false, "%s cut %llu (%s): keep_boot %s", flow_name[f], (unsigned long long)k, what,
              molt_err_name(u->keep_err));
    }
    int cs = code_side(u), ds = data_side(u);
    bool extra_ok = app2_intact(u);
    if (cs == NEW_DATA && ds == NEW_DATA)
        extra_ok = extra_ok && (u->r.trial ? holds(u, MOLT_STORE_SAVED, false) : saved_count(u, 1) == 0);
    else if (cs == OLD_DATA && ds == OLD_DATA)
        extra_ok = extra_ok && saved_count(u, 1) == 0;
    if (ds == OTHER_DATA || cs == OTHER_DATA || !extra_ok) {
        r->lost++;
        CHECK(false, "%s cut %llu (%s): records lost (code %d, data %d)", flow_name[f], (unsigned long long)k, what,
              cs, ds);
    } else if (cs != ds) {
        r->mismatch++;
        CHECK(false, "%s cut %llu (%s): code side %d runs with data side %d", flow_name[f], (unsigned long long)k,
              what, cs, ds);
    }
    r->violations += u->d.flash.stats.violations;
}

static void test_powerfail(void)
{
    pf_t r = {0};
    dut_t *start[F_COUNT];
    uint64_t ops[F_COUNT];

    start[F_INSTALL] = dut_factory();
    CHECK_EQ(download(start[F_INSTALL], &im_new), PSA_SUCCESS);
    dut_t *t = dut_copy(start[F_INSTALL]);
    run_flow(t, F_INSTALL, NO_CUT, 0, 0, NULL);
    CHECK(t->r.trial && t->act == MOLT_KEEP_ACT_MIGRATED, "uncut install ends in a migrated trial");
    start[F_ACCEPT] = start[F_REJECT] = start[F_REVERT] = t;
    start[F_PERM] = start[F_INSTALL];
    for (int f = 0; f < F_COUNT; f++) {
        dut_t *u = dut_copy(start[f]);
        uint64_t t0 = sim_flash_ops(&u->d.flash), ops1 = 0;
        run_flow(u, f, NO_CUT, 0, 0, &ops1);
        ops[f] = sim_flash_ops(&u->d.flash) - t0;
        judge(u, &r, f, 0, "uncut");
        dut_free(u);
        for (uint64_t k = 0; k < ops[f]; k++) {
            for (uint32_t seed = 0; seed < 2; seed++) {
                u = dut_copy(start[f]);
                run_flow(u, f, k, 0x6b65u + k * 7u + seed, ops1, NULL);
                CHECK(!sim_flash_powered(&u->d.flash), "%s: cut %llu fired", flow_name[f], (unsigned long long)k);
                r.cuts++;
                dut_t *v = NULL;
                if (seed == 0 && k % 9u == 4u)
                    v = dut_copy(u); /* for the double cut below */
                (void)app_start(u);
                judge(u, &r, f, k, "recovery");
                dut_free(u);
                if (v == NULL)
                    continue;
                /* a second cut at every operation of the recovery boot */
                dut_t *w = dut_copy(v);
                uint64_t t1 = sim_flash_ops(&w->d.flash);
                (void)app_start(w);
                uint64_t rec_ops = sim_flash_ops(&w->d.flash) - t1;
                dut_free(w);
                for (uint64_t j = 0; j < rec_ops; j++) {
                    w = dut_copy(v);
                    (void)app_start_cut(w, j, 0x777u + j);
                    CHECK(!sim_flash_powered(&w->d.flash), "%s: second cut %llu fired", flow_name[f],
                          (unsigned long long)j);
                    r.cuts++;
                    (void)app_start(w);
                    judge(w, &r, f, k, "double cut");
                    dut_free(w);
                }
                dut_free(v);
            }
        }
        printf("flow %-30s %llu flash operations\n", flow_name[f], (unsigned long long)ops[f]);
    }
    printf("code+data power-fail proof: power cuts injected: %llu, final boots checked: %llu, bricked: %llu, "
           "code/data mismatches: %llu, records lost: %llu, keep errors: %llu, NOR violations: %llu\n",
           (unsigned long long)r.cuts, (unsigned long long)r.runs, (unsigned long long)r.bricked,
           (unsigned long long)r.mismatch, (unsigned long long)r.lost, (unsigned long long)r.keep_err,
           (unsigned long long)r.violations);
    CHECK(r.cuts > 400, "enough cuts (%llu)", (unsigned long long)r.cuts);
    CHECK_EQ(r.mismatch + r.lost + r.bricked + r.keep_err + r.violations, 0);
    dut_free(start[F_INSTALL]);
    dut_free(t);
}

int main(void)
{
    CHECK_EQ(psa_crypto_init(), PSA_SUCCESS);
    setup();
    if (im_old.b && im_new.b && im_bad.b && im_none.b && im_v3.b && g_key.der) {
        test_flows();
        test_refusals();
        test_unprotected();
        test_powerfail();
    }
    cleanup_dir();
    free(im_old.b);
    free(im_new.b);
    free(im_bad.b);
    free(im_none.b);
    free(im_v3.b);
    free((void *)g_key.der);
    return check_done();
}
