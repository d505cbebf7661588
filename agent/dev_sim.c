/*
 * dev_sim.c - the device adapter (device.h) on a simulated device: a `molt sim`
 * device file with its NOR flash, the FWU progress record, NV counters, the
 * attestation key, the key store (--enc-key) and the authenticated watchdog.
 *
 * A power-on is sim_device_reboot + molt_boot_go on the device file; the PSA
 * FWU API is set up over the boot result and bound (molt_fwu_bind), so the
 * psa_fwu_* calls below reach this device. The device file is the device's
 * memory: save() writes it back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "device.h"
#include "molt_host/encrypt.h"
#include "molt_host/version.h"
#include "molt/attest.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "sim_keystore.h"
#include "sim_port.h"
#include "sim_stage.h"

typedef struct dev_sim {
    const char *file;
    bool require_enc;
    bool has_ks;
    sim_device_t dev;
    sim_keystore_t ks;
    molt_boot_cfg_t cfg;
    molt_boot_result_t boot;
    molt_fwu_t fwu;
    psa_fwu_component_t comp; /* the FWU component the calls reach (select) */
    sim_stage_t *chain;       /* DEV.chain (molt sim chain): the key set in force; NULL: none */
    char chain_file[4200];
    const molt_keyring_t *factory;
    bool keyset;              /* rotation keys given: the key-set component exists */
    molt_fwu_keyset_t kset;
    uint8_t ku_buf[2457];     /* the key-update being written (RAM: a reset drops it) */
} dev_sim_t;

static dev_sim_t the_sim; /* large (the device): static, and one per process (molt_fwu_bind is global) */

static bool sim_save(void *ctx)
{
    dev_sim_t *s = ctx;
    if (sim_device_save(&s->dev, s->file) != MOLT_OK) {
        fprintf(stderr, "molt-agent: %s: cannot write the device file\n", s->file);
        return false;
    }
    if (s->chain && sim_stage_save(s->chain, s->chain_file) != MOLT_OK) {
        fprintf(stderr, "molt-agent: %s: cannot write the boot chain file\n", s->chain_file);
        return false;
    }
    return true;
}

static void sim_boot_out(const dev_sim_t *s, agent_boot_t *b)
{
    const molt_version_t *v = &s->boot.image.version;
    memset(b, 0, sizeof *b);
    host_format_version(v, b->running, sizeof b->running);
    b->slot = s->boot.slot;
    b->trial = s->boot.trial;
    b->resumed = s->boot.resumed;
    b->reverted = s->boot.action == MOLT_ACT_REVERT;
    b->recovery = s->boot.recovery;
    b->boots = (unsigned)s->boot.boots;
}

/* With a power cut armed, the boot is cut; the torn flash is saved and the
 * device stays off (DEV_CUT). */
static dev_power_t sim_power_on(void *ctx, long cut_at, agent_boot_t *b, char *why, size_t cap)
{
    dev_sim_t *s = ctx;
    if (sim_device_reboot(&s->dev) != MOLT_OK) {
        snprintf(why, cap, "%s: the device does not come back", s->file);
        return DEV_FAIL;
    }
    if (cut_at >= 0)
        sim_flash_arm_cut(&s->dev.flash, SIM_CUT_TORN, (uint64_t)cut_at, 1);
    memset(&s->boot, 0, sizeof s->boot);
    molt_err_t e = molt_boot_go(&s->dev.port, &s->cfg, &s->boot);
    if (cut_at >= 0 && !sim_flash_powered(&s->dev.flash)) {
        sim_flash_reboot(&s->dev.flash); /* the cells stay as the cut left them */
        if (!sim_save(s)) {
            snprintf(why, cap, "%s: the torn flash could not be saved", s->file);
            return DEV_FAIL;
        }
        snprintf(why, cap, "%s", molt_err_name(e));
        return DEV_CUT;
    }
    sim_flash_disarm(&s->dev.flash);
    if (e != MOLT_OK) {
        sim_save(s);
        snprintf(why, cap, "%s: no verified image (%s): the device stays in its secure state", s->file,
                 molt_err_str(e));
        return DEV_FAIL;
    }
    sim_device_set_boot_slot(&s->dev, s->boot.slot);
    sim_boot_out(s, b);
    if (molt_fwu_init(&s->fwu, &s->dev.port, &s->cfg, &s->boot) != MOLT_OK) {
        snprintf(why, cap, "%s: the FWU API cannot start on this device (swap mode is required)", s->file);
        return DEV_FAIL;
    }
    if (s->require_enc && molt_fwu_set_flags(&s->fwu, 0, PSA_FWU_FLAG_ENCRYPTION) != MOLT_OK) {
        snprintf(why, cap, "%s: PSA_FWU_FLAG_ENCRYPTION cannot be set on this device", s->file);
        return DEV_FAIL;
    }
    if (s->keyset && molt_fwu_add_keyset(&s->fwu, SIM_FWU_COMPONENT_KEYSET, &s->kset) != MOLT_OK) {
        snprintf(why, cap, "%s: the key-set component cannot be added", s->file);
        return DEV_FAIL;
    }
    s->comp = AGENT_COMP_IMAGE;
    molt_fwu_bind(&s->fwu);
    return DEV_ON;
}

static bool sim_select(void *ctx, unsigned comp)
{
    dev_sim_t *s = ctx;
    if (comp != AGENT_COMP_IMAGE && !(comp == AGENT_COMP_KEYSET && s->keyset))
        return false;
    s->comp = (psa_fwu_component_t)comp;
    return true;
}
static psa_status_t sim_query(void *ctx, psa_fwu_component_info_t *i)
{
    return psa_fwu_query(((dev_sim_t *)ctx)->comp, i);
}
static psa_status_t sim_start(void *ctx) { return psa_fwu_start(((dev_sim_t *)ctx)->comp, NULL, 0); }
static psa_status_t sim_write(void *ctx, size_t off, const void *d, size_t n)
{
    return psa_fwu_write(((dev_sim_t *)ctx)->comp, off, d, n);
}
static psa_status_t sim_finish(void *ctx) { return psa_fwu_finish(((dev_sim_t *)ctx)->comp); }
static psa_status_t sim_install(void *ctx) { (void)ctx; return psa_fwu_install(); }
static psa_status_t sim_accept(void *ctx) { (void)ctx; return psa_fwu_accept(); }
static psa_status_t sim_reject(void *ctx) { (void)ctx; return psa_fwu_reject(0); }
static psa_status_t sim_cancel(void *ctx) { (void)ctx; return psa_fwu_cancel(0); }
static psa_status_t sim_clean(void *ctx) { return psa_fwu_clean(((dev_sim_t *)ctx)->comp); }

static bool sim_counter(void *ctx, uint32_t *out)
{
    dev_sim_t *s = ctx;
    *out = 0;
    return s->dev.port.nv_read(s->dev.port.ctx, MOLT_NV_SECURITY_COUNTER, out) == MOLT_OK;
}

static molt_err_t sim_attest(void *ctx, const uint8_t *nonce, size_t nlen, uint8_t *tok, size_t cap, size_t *len)
{
    dev_sim_t *s = ctx;
    molt_attest_req_t req = {nonce, nlen, -1, s->boot.slot, s->cfg};
    return molt_attest_get_token(&s->dev.port, &req, tok, cap, len);
}

static bool sim_slot_digest(void *ctx, uint32_t slot, uint8_t *d, size_t *dlen)
{
    dev_sim_t *s = ctx;
    const molt_area_t *ar = &s->dev.port.area[slot];
    molt_source_t src = {ar->read, ar->ctx, ar->size};
    molt_image_t im;
    uint16_t type;
    *dlen = 0;
    return molt_image_parse(&src, &im) == MOLT_OK && enc_image_digest(&src, &im, &type, d, dlen);
}

static void sim_set_envelopes(void *ctx, const uint8_t *const *env, const size_t *len, unsigned n)
{
    dev_sim_t *s = ctx;
    for (unsigned i = 0; i < n && i < SIM_KEYSTORE_ENVELOPES; i++) {
        s->ks.env[i] = env[i];
        s->ks.env_len[i] = len[i];
    }
    s->ks.nenv = n < SIM_KEYSTORE_ENVELOPES ? n : SIM_KEYSTORE_ENVELOPES;
}

static molt_err_t sim_awdt_nonce_op(void *ctx, uint8_t nonce[MOLT_AWDT_NONCE_LEN])
{
    dev_sim_t *s = ctx;
    molt_err_t e = sim_awdt_nonce(&s->dev.aw, nonce);
    if (e == MOLT_OK)
        sim_save(s); /* the outstanding nonce is the update service's RAM; saved for the CLI */
    return e;
}

static molt_err_t sim_awdt_ticket_op(void *ctx, const uint8_t *t, size_t len, agent_awdt_t *st)
{
    dev_sim_t *s = ctx;
    molt_err_t e = sim_awdt_ticket(&s->dev.aw, t, len);
    if (e != MOLT_OK)
        return e;
    molt_awdt_state_t w;
    uint32_t boots = 0;
    (void)sim_awdt_status(&s->dev.aw, &w, &boots);
    st->deadline = w.deadline;
    st->clock = s->dev.aw.clock;
    st->boot_limit = w.boot_limit;
    return MOLT_OK;
}

static bool sim_awdt_advance_op(void *ctx, uint32_t sec)
{
    dev_sim_t *s = ctx;
    return sim_awdt_advance(&s->dev.aw, sec);
}

static uint32_t sim_awdt_clock(void *ctx)
{
    return ((dev_sim_t *)ctx)->dev.aw.clock;
}

/* The key store: the device's private encryption keys (imported into PSA,
 * never exportable: R-ASSETS) and the envelopes it has received. */
static int sim_keys(dev_sim_t *s, const dev_sim_opts_t *o)
{
    for (int i = 0; i < o->nenc; i++) {
        uint8_t *der = NULL;
        size_t n = 0;
        if (!enc_key_pkcs8(o->enc_keys[i], &der, &n))
            return 2;
        molt_err_t e = sim_keystore_add_pkcs8(&s->ks, der, n);
        OPENSSL_clear_free(der, n);
        if (e != MOLT_OK) {
            fprintf(stderr, "molt-agent: %s: not a P-256, X25519 or RSA-2048 private key\n", o->enc_keys[i]);
            return 2;
        }
        s->has_ks = true;
    }
    if (s->has_ks)
        sim_device_set_keystore(&s->dev, &s->ks);
    return 0;
}

/* DEV.chain, when the device has one (molt sim chain): the key set in force,
 * which every boot and upload judge images against (cfg.keyrot); with the
 * rotation keys, the key-set FWU component as well. */
static int sim_chain(dev_sim_t *s, const dev_sim_opts_t *o)
{
    snprintf(s->chain_file, sizeof s->chain_file, "%s.chain", o->file);
    if (access(s->chain_file, F_OK) != 0) {
        if (o->roots && o->roots->count)
            return fprintf(stderr, "molt-agent: %s: no boot chain file (molt sim chain): no key set to update\n",
                           s->chain_file), 2;
        return 0;
    }
    sim_res_t why = SIM_OK;
    s->chain = calloc(1, sizeof *s->chain);
    if (!s->chain || sim_stage_load(s->chain, s->chain_file, NULL, o->roots, o->threshold, &why) != MOLT_OK) {
        fprintf(stderr, "molt-agent: %s: %s\n", s->chain_file, why == SIM_OK ? "not a boot chain" : sim_res_str(why));
        free(s->chain);
        s->chain = NULL;
        return 2;
    }
    s->cfg.keyrot = &s->chain->keyrot;
    s->factory = o->ring;
    s->keyset = o->roots && o->roots->count && o->threshold;
    s->kset = (molt_fwu_keyset_t){&s->chain->keyrot, s->factory, s->ku_buf, sizeof s->ku_buf, AGENT_COMP_IMAGE,
                                molt_keyrot_check, molt_keyrot_apply, molt_keyrot_load};
    return 0;
}

int dev_sim_open(agent_device_t *dev, const dev_sim_opts_t *o)
{
    dev_sim_t *s = &the_sim;
    sim_res_t why;
    s->file = o->file;
    s->require_enc = o->require_enc;
    if (sim_device_load(&s->dev, o->file, o->ring, &why) != MOLT_OK) {
        fprintf(stderr, "molt-agent: %s: %s\n", o->file, sim_res_str(why));
        return 2;
    }
    int rc = sim_keys(s, o);
    if (rc)
        return rc;
    s->cfg.mode = (molt_boot_mode_t)s->dev.layout.mode;
    s->cfg.downgrade_prevention = false;
    s->cfg.awdt = sim_awdt_cfg(&s->dev.aw); /* NULL: no watchdog provisioned */
    if ((rc = sim_chain(s, o)) != 0)
        return rc;
    *dev = (agent_device_t){.ctx = s, .power_on = sim_power_on, .save = sim_save, .select = sim_select,
                            .query = sim_query,
                            .start = sim_start, .write = sim_write, .finish = sim_finish, .install = sim_install,
                            .accept = sim_accept, .reject = sim_reject, .cancel = sim_cancel, .clean = sim_clean,
                            .security_counter = sim_counter, .attest = sim_attest, .slot_digest = sim_slot_digest};
    if (s->has_ks)
        dev->set_envelopes = sim_set_envelopes;
    if (s->cfg.awdt) {
        dev->awdt_nonce = sim_awdt_nonce_op;
        dev->awdt_ticket = sim_awdt_ticket_op;
        dev->awdt_advance = sim_awdt_advance_op;
        dev->awdt_clock = sim_awdt_clock;
    }
    return 0;
}

void dev_sim_close(agent_device_t *dev)
{
    dev_sim_t *s = dev->ctx;
    sim_device_free(&s->dev);
    sim_keystore_free(&s->ks);
    if (s->chain) {
        sim_stage_free(s->chain);
        free(s->chain);
        s->chain = NULL;
    }
}
