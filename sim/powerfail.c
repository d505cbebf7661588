/*
 * powerfail.c - the power-fail proof engine (see powerfail.h): every
 * flash operation of every activation flow cut, torn, rebooted and checked.
 */
#include "powerfail.h"

#include <stdlib.h>
#include <string.h>

static const char *const flow_name[4] = {"update", "revert", "confirm", "perm"};

typedef struct pf {
    const sim_pf_cfg_t *cfg;
    sim_pf_result_t *res;
    molt_boot_cfg_t bcfg;
    uint32_t old_sc, new_sc;
    uint64_t violations_seen;
    const uint8_t *old_inst, *new_inst; /* installed forms */
    uint8_t *blocks;                    /* sorted 16-byte plaintext blocks of encrypted images */
    size_t nblocks;
} pf_t;

static void logf_(const pf_t *pf, const char *a, uint64_t k, uint64_t s, const char *what, long long x);

static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }

/* Collect the 16-byte blocks of an encrypted image's plaintext payload (its
 * installed form), skipping uniform blocks (padding) and blocks with fewer
 * than 8 bytes other than 0x00 and 0xff: flash marks, erased units and the
 * random bytes of a torn erase match those by chance (a "92 00 .. 00" block
 * carries one byte of evidence), so they prove nothing. */
static void add_blocks(pf_t *pf, const uint8_t *img, const uint8_t *plain, size_t len)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    if (plain == NULL || len > UINT32_MAX)
        return;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    if (molt_image_parse(&src, &im) != MOLT_OK || !(im.flags & MOLT_IMAGE_F_ENCRYPTED))
        return;
    for (uint32_t o = im.payload_off; o + 16u <= im.prot_off; o += 16u) {
        bool uniform = true;
        int telling = 0;
        for (int i = 1; i < 16; i++)
            uniform &= plain[o + i] == plain[o];
        for (int i = 0; i < 16; i++)
            telling += plain[o + i] != 0x00 && plain[o + i] != 0xff;
        uniform |= telling < 8;
        if (!uniform)
            memcpy(pf->blocks + 16 * pf->nblocks++, plain + o, 16);
    }
}

/* Any plaintext block anywhere in SECONDARY or STATUS (at any 16-byte boundary
 * of the area, and at any byte for STATUS)? */
static void scan_staging(pf_t *pf, sim_device_t *dev, int f, uint64_t k, uint64_t seed)
{
    static const uint32_t areas[2] = {MOLT_AREA_SECONDARY, MOLT_AREA_STATUS};
    if (pf->nblocks == 0)
        return;
    pf->res->scans++;
    for (int a = 0; a < 2; a++) {
        const uint8_t *base = sim_flash_data(&dev->flash) + sim_device_area_base(dev, areas[a]);
        uint32_t size = dev->port.area[areas[a]].size, step = areas[a] == MOLT_AREA_STATUS ? 1u : 16u;
        for (uint32_t o = 0; o + 16u <= size; o += step) {
            if (bsearch(base + o, pf->blocks, pf->nblocks, 16, cmp16) != NULL) {
                pf->res->plaintext++;
                logf_(pf, flow_name[f], k, seed, areas[a] == MOLT_AREA_STATUS ? "plaintext in STATUS at"
                                                                             : "plaintext in SECONDARY at",
                      (long long)o);
                return;
            }
        }
    }
}

/* One failure line: "flow: cut at K (seed S): what (x)". */
static void logf_(const pf_t *pf, const char *a, uint64_t k, uint64_t s, const char *what, long long x)
{
    if (pf->cfg->log != NULL)
        fprintf(pf->cfg->log, "%s: cut at %llu (seed %llu): %s (%lld)\n", a, (unsigned long long)k,
                (unsigned long long)s, what, x);
}

static uint32_t counter_of(sim_device_t *dev)
{
    uint32_t v = 0;
    if (dev->port.nv_read(dev->port.ctx, MOLT_NV_SECURITY_COUNTER, &v) != MOLT_OK)
        return UINT32_MAX;
    return v;
}

static molt_err_t img_counter(const uint8_t *img, size_t len, uint32_t *sc)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_err_t e;

    if (len > UINT32_MAX)
        return MOLT_E_ARG;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    if ((e = molt_image_parse(&src, &im)) != MOLT_OK)
        return e;
    *sc = im.has_sec_cnt ? im.sec_cnt : 0;
    return MOLT_OK;
}

static bool slot_holds(sim_device_t *dev, uint32_t slot, uint32_t off, const uint8_t *img, size_t len)
{
    const molt_area_t *a = &dev->port.area[slot];
    if (off > a->size || len > a->size - off)
        return false;
    return memcmp(sim_flash_data(&dev->flash) + sim_device_area_base(dev, slot) + off, img, len) == 0;
}

/* Build the start state of flow f (0..3) in dev (initialised, fresh). */
static molt_err_t build_start(pf_t *pf, sim_device_t *dev, int f)
{
    const sim_pf_cfg_t *c = pf->cfg;
    const molt_port_t *p = &dev->port;
    molt_boot_result_t r;
    molt_err_t e;

    if ((e = sim_device_program(dev, MOLT_AREA_PRIMARY, 0, pf->old_inst, c->old_len)) != MOLT_OK ||
        (e = molt_boot_go(p, &pf->bcfg, &r)) != MOLT_OK ||
        (e = molt_confirm(p, &pf->bcfg)) != MOLT_OK || (e = molt_boot_go(p, &pf->bcfg, &r)) != MOLT_OK)
        return e;
    uint32_t off = molt_boot_staging_offset(p, &pf->bcfg);
    if ((e = sim_device_program(dev, MOLT_AREA_SECONDARY, off, c->new_img, c->new_len)) != MOLT_OK ||
        (e = molt_request_upgrade(p, &pf->bcfg, f == 3)) != MOLT_OK)
        return e;
    if (f == 1 || f == 2) {
        if ((e = molt_boot_go(p, &pf->bcfg, &r)) != MOLT_OK)
            return e;
        if (f == 2 && (e = molt_confirm(p, &pf->bcfg)) != MOLT_OK)
            return e;
    }
    return MOLT_OK;
}

/* Check the outcome of the final (uncut) boot. c_floor: the counter before. */
static void check_final(pf_t *pf, sim_device_t *dev, int f, molt_err_t rc, const molt_boot_result_t *r,
                        uint32_t c_floor, uint64_t k, uint64_t seed)
{
    const sim_pf_cfg_t *c = pf->cfg;
    sim_pf_result_t *res = pf->res;

    res->runs++;
    if (rc != MOLT_OK) {
        res->bricked++;
        logf_(pf, flow_name[f], k, seed, "bricked", (long long)rc);
        return;
    }
    uint32_t off = r->slot == MOLT_AREA_SECONDARY ? molt_boot_staging_offset(&dev->port, &pf->bcfg) : 0;
    bool is_old = slot_holds(dev, r->slot, off, pf->old_inst, c->old_len);
    bool is_new = slot_holds(dev, r->slot, off, pf->new_inst, c->new_len);
    scan_staging(pf, dev, f, k, seed);
    if (!is_old && !is_new) {
        res->mixed++;
        logf_(pf, flow_name[f], k, seed, "mixed image in slot", (long long)r->slot);
    }
    uint32_t cnt = counter_of(dev);
    bool bad = cnt == UINT32_MAX || cnt < c_floor || cnt > pf->new_sc ||
               ((is_old || r->trial) && cnt > pf->old_sc) ||
               (f == 2 && is_new && !r->trial && cnt != pf->new_sc);
    if (bad) {
        res->counter++;
        logf_(pf, flow_name[f], k, seed, "counter", (long long)cnt);
    }
    bool lost = (f == 1 && !(is_old && !r->trial)) || (f == 2 && !(is_new && !r->trial));
    if (lost) {
        res->lost++;
        logf_(pf, flow_name[f], k, seed, "confirmed image lost; booted slot", (long long)r->slot);
    }
}

/* Boot dev with a cut armed at operation k; reboot. Returns whether it fired.
 * Counts a decrease of the counter below c_floor. */
static bool cut_boot(pf_t *pf, sim_device_t *dev, sim_cut_t kind, uint64_t k, uint64_t seed,
                     uint32_t c_floor, int f, uint32_t *c_after)
{
    molt_boot_result_t r;
    sim_flash_arm_cut(&dev->flash, kind, k, seed);
    (void)molt_boot_go(&dev->port, &pf->bcfg, &r);
    bool fired = !sim_flash_powered(&dev->flash);
    sim_flash_disarm(&dev->flash);
    if (fired)
        pf->res->cuts++;
    (void)sim_device_reboot(dev);
    scan_staging(pf, dev, f, k, seed); /* the state a cut left: no plaintext at rest */
    *c_after = counter_of(dev);
    if (*c_after == UINT32_MAX || *c_after < c_floor) {
        pf->res->counter++;
        logf_(pf, flow_name[f], k, seed,
              "counter decreased or unreadable after reboot", (long long)*c_after);
        *c_after = c_floor;
    }
    return fired;
}

static molt_err_t run_flow(pf_t *pf, int f, const sim_device_t *fresh, sim_device_t *start,
                           sim_device_t *work, sim_device_t *mid)
{
    const sim_pf_cfg_t *c = pf->cfg;
    molt_boot_result_t r;
    molt_err_t e;

    if ((e = sim_device_copy(start, fresh)) != MOLT_OK)
        return e;
    if ((e = build_start(pf, start, f)) != MOLT_OK) {
        if (c->log)
            fprintf(c->log, "%s: cannot build the start state: %s\n", flow_name[f], molt_err_str(e));
        return e;
    }
    uint32_t c0 = counter_of(start);

    /* uncut run: T */
    if ((e = sim_device_copy(work, start)) != MOLT_OK)
        return e;
    uint64_t ops0 = sim_flash_ops(&work->flash);
    e = molt_boot_go(&work->port, &pf->bcfg, &r);
    uint64_t T = sim_flash_ops(&work->flash) - ops0;
    pf->res->flow_ops[f] = T;
    if (e != MOLT_OK) {
        if (c->log)
            fprintf(c->log, "%s: the uncut boot fails: %s\n", flow_name[f], molt_err_str(e));
        return e;
    }
    /* The uncut flow must do what it is for, or the sweep proves nothing. */
    uint32_t soff = r.slot == MOLT_AREA_SECONDARY ? molt_boot_staging_offset(&work->port, &pf->bcfg) : 0;
    bool want_new = f != 1;
    if (!slot_holds(work, r.slot, soff, want_new ? pf->new_inst : pf->old_inst,
                    want_new ? c->new_len : c->old_len)) {
        if (c->log)
            fprintf(c->log, "%s: the uncut boot does not run the %s image (action %d, staged: %s)\n",
                    flow_name[f], want_new ? "new" : "old", (int)r.action, molt_err_str(r.staged_err));
        return MOLT_E_STATE;
    }
    check_final(pf, work, f, e, &r, c0, UINT64_MAX, 0);

    uint32_t nvar = c->seeds + (c->clean ? 1u : 0u);
    uint32_t M = c->double_cuts;
    for (uint64_t k = 0; k < T; k++) {
        bool sample = false;
        for (uint32_t i = 0; i < M && !sample; i++)
            sample = (uint64_t)i * T / M == k;
        for (uint32_t v = 0; v < nvar; v++) {
            sim_cut_t kind = v < c->seeds ? SIM_CUT_TORN : SIM_CUT_BEFORE;
            uint64_t seed = v + 1 + k * 7919u;
            uint32_t c1;
            if ((e = sim_device_copy(work, start)) != MOLT_OK)
                return e;
            cut_boot(pf, work, kind, k, seed, c0, f, &c1);
            if (!(sample && kind == SIM_CUT_TORN)) {
                e = molt_boot_go(&work->port, &pf->bcfg, &r);
                check_final(pf, work, f, e, &r, c1, k, seed);
                continue;
            }
            /* double cuts: every operation of the recovery */
            if ((e = sim_device_copy(mid, work)) != MOLT_OK)
                return e;
            uint64_t r0 = sim_flash_ops(&work->flash);
            e = molt_boot_go(&work->port, &pf->bcfg, &r);
            uint64_t T2 = sim_flash_ops(&work->flash) - r0;
            check_final(pf, work, f, e, &r, c1, k, seed);
            for (uint64_t j = 0; j < T2; j++) {
                uint32_t c2;
                if ((e = sim_device_copy(work, mid)) != MOLT_OK)
                    return e;
                cut_boot(pf, work, SIM_CUT_TORN, j, seed * 131u + j, c1, f, &c2);
                e = molt_boot_go(&work->port, &pf->bcfg, &r);
                check_final(pf, work, f, e, &r, c2, k, seed);
            }
        }
    }
    return MOLT_OK;
}

molt_err_t sim_powerfail_run(const sim_pf_cfg_t *cfg, sim_pf_result_t *res)
{
    pf_t pf;
    sim_device_t *dev = calloc(4, sizeof *dev);
    molt_err_t e;

    memset(res, 0, sizeof *res);
    if (dev == NULL)
        return MOLT_E_IO;
    memset(&pf, 0, sizeof pf);
    pf.cfg = cfg;
    pf.res = res;
    pf.bcfg.mode = cfg->mode;
    pf.bcfg.deps = cfg->deps;
    pf.bcfg.stage = cfg->stage;
    pf.old_inst = cfg->old_plain ? cfg->old_plain : cfg->old_img;
    pf.new_inst = cfg->new_plain ? cfg->new_plain : cfg->new_img;
    pf.blocks = malloc((cfg->old_len + cfg->new_len) / 16 + 1 > 0 ? ((cfg->old_len + cfg->new_len) / 16 + 1) * 16 : 16);
    if (pf.blocks == NULL) {
        free(dev);
        return MOLT_E_IO;
    }
    add_blocks(&pf, cfg->old_img, cfg->old_plain, cfg->old_len);
    add_blocks(&pf, cfg->new_img, cfg->new_plain, cfg->new_len);
    qsort(pf.blocks, pf.nblocks, 16, cmp16);
    if (cfg->seeds == 0 || (e = img_counter(cfg->old_img, cfg->old_len, &pf.old_sc)) != MOLT_OK ||
        (e = img_counter(cfg->new_img, cfg->new_len, &pf.new_sc)) != MOLT_OK) {
        free(dev);
        free(pf.blocks);
        return MOLT_E_ARG;
    }
    int n = 0;
    for (; n < 4; n++) {
        if ((e = sim_device_init(&dev[n], &cfg->layout, &cfg->keys)) != MOLT_OK)
            goto out;
        sim_device_set_keystore(&dev[n], cfg->key_store);
    }
    uint32_t flows = cfg->flows ? cfg->flows : SIM_PF_ALL;
    if (cfg->mode == MOLT_MODE_OVERWRITE)
        flows &= ~SIM_PF_REVERT;
    for (int f = 0; f < 4 && e == MOLT_OK; f++) {
        if (!(flows & (1u << f)))
            continue;
        /* dev[3] stays fresh: the template every start state is built from */
        e = run_flow(&pf, f, &dev[3], &dev[0], &dev[1], &dev[2]);
    }
out:
    for (int i = 0; i < n; i++) {
        res->violations += dev[i].flash.stats.violations;
        sim_device_free(&dev[i]);
    }
    free(dev);
    free(pf.blocks);
    return e;
}

const char *sim_powerfail_flow_name(int f) { return f >= 0 && f < 4 ? flow_name[f] : "?"; }

bool sim_powerfail_ok(const sim_pf_result_t *res)
{
    return res->cuts > 0 && res->bricked == 0 && res->mixed == 0 && res->counter == 0 &&
           res->lost == 0 && res->violations == 0 && res->plaintext == 0;
}

void sim_powerfail_line(const sim_pf_result_t *res, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "power cuts injected: %llu, bricked: %llu, mixed: %llu, counter violations: %llu",
                     (unsigned long long)res->cuts, (unsigned long long)res->bricked,
                     (unsigned long long)res->mixed, (unsigned long long)res->counter);
    if (res->scans > 0 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, ", plaintext in staging: %llu (%llu scans)",
                 (unsigned long long)res->plaintext, (unsigned long long)res->scans);
}
