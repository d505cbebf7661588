/*
 * test_fwu_keyset.c - a key-update delivered through the PSA Firmware Update
 * API as a component of its own (issue 18; molt/fwu.h molt_fwu_keyset_t,
 * docs/keys.md "Delivery").
 *
 * The device: the application (component 0, SWAP, factory keys F0 and F1)
 * and the key set (component 2) over the simulator's key-set area. Key-updates
 * (written here from the format in molt/keyrot.h, never with lib/) go through
 * start / write / finish / install / clean, the calls an agent makes for an
 * image, and the global psa_fwu_* functions reach the same component:
 *  - key-update 1 (add N): CANDIDATE after finish, UPDATED after install with
 *    PSA_SUCCESS (no reboot), query's version.build = the key set (0 -> 1);
 *  - before it, an upload of N's image fails finish (INVALID_SIGNATURE,
 *    KEY_UNTRUSTED); after it, N's image installs and runs;
 *  - a replay (NOT_PERMITTED, KU_REPLAY), one root below the threshold
 *    (INVALID_SIGNATURE, KU_SIG), a malformed one (INVALID_ARGUMENT,
 *    KU_FORMAT): FAILED with the reason, the key set unchanged;
 *  - key-update 2 (retire F0) while F0's image runs: refused at install
 *    (NOT_PERMITTED, KU_STRANDS), nothing applied; once N's image runs, it
 *    applies, and an upload of F0's image then fails finish with KEY_RETIRED;
 *  - writes out of order, past the buffer, or in a wrong state are refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "molt/fwu.h"
#include "check.h"
#include "mkimage.h"
#include "molt/boot.h"
#include "molt/keyrot.h"
#include "sim_port.h"
#include "sim_stage.h"

static signer_t g_root[3], g_f0, g_f1, g_n;
static molt_key_t g_root_keys[3], g_fac[2];
static molt_keyring_t g_roots = {g_root_keys, 3}, g_factory = {g_fac, 2};

/* seq, add (may be NULL), retire hash (may be NULL), signing roots. */
static size_t make_ku(uint8_t *out, uint32_t seq, const signer_t *add, const uint8_t *retire, const int *roots, int nr)
{
    size_t off = 12;
    memcpy(out, "MKU1", 4);
    mk_put32(out + 4, seq);
    out[8] = add ? 1 : 0;
    out[9] = retire ? 1 : 0;
    out[10] = out[11] = 0;
    if (add) {
        mk_put16(out + off, sizeof add->der);
        memcpy(out + off + 2, add->der, sizeof add->der);
        off += 2 + sizeof add->der;
    }
    if (retire) {
        memcpy(out + off, retire, 32);
        off += 32;
    }
    size_t body = off;
    out[off++] = (uint8_t)nr;
    for (int i = 0; i < nr; i++) {
        out[off] = (uint8_t)roots[i];
        sign_raw(&g_root[roots[i]], out, body, out + off + 1);
        off += 65;
    }
    return off;
}

static psa_status_t upload(molt_fwu_t *f, psa_fwu_component_t id, const uint8_t *b, size_t n)
{
    psa_status_t st = molt_fwu_start(f, id, NULL, 0);
    for (size_t off = 0; st == PSA_SUCCESS && off < n; off += 200)
        st = molt_fwu_write(f, id, off, b + off, n - off < 200 ? n - off : 200);
    return st == PSA_SUCCESS ? molt_fwu_finish(f, id) : st;
}

static uint8_t state(molt_fwu_t *f, psa_fwu_component_t id, psa_status_t *err, uint32_t *build)
{
    psa_fwu_component_info_t info;
    CHECK_EQ(molt_fwu_query(f, id, &info), PSA_SUCCESS);
    if (err)
        *err = info.error;
    if (build)
        *build = info.version.build;
    return info.state;
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    for (int i = 0; i < 3; i++) {
        signer_new(&g_root[i]);
        g_root_keys[i] = g_root[i].key;
    }
    signer_new(&g_f0);
    signer_new(&g_f1);
    signer_new(&g_n);
    g_fac[0] = g_f0.key;
    g_fac[1] = g_f1.key;
    static img_t by_f0, by_n, by_f0_new;
    const signer_t *sf0[] = {&g_f0}, *sn[] = {&g_n};
    make_image(&by_f0, sf0, 1, 1, 1);
    make_image(&by_n, sn, 1, 2, 1);
    make_image(&by_f0_new, sf0, 1, 3, 1);
    const int r01[] = {0, 1}, r2[] = {2};
    static uint8_t ku1[1024], ku2[1024], ku_one[1024], ku_bad[1024];
    size_t n1 = make_ku(ku1, 1, &g_n, NULL, r01, 2);
    size_t n2 = make_ku(ku2, 2, NULL, g_f0.hash, r01, 2);
    size_t n_one = make_ku(ku_one, 2, NULL, g_f0.hash, r2, 1);
    memcpy(ku_bad, ku1, n1);
    ku_bad[10] = 1; /* a reserved byte */

    static sim_stage_t st;
    static sim_device_t d;
    sim_layout_t sl, al;
    CHECK_EQ(sim_stage_layout(&sl, 4096, 2, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_stage_init(&st, &sl, NULL, &g_roots, 2), MOLT_OK);
    CHECK_EQ(sim_layout_uniform(&al, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &al, &g_factory), MOLT_OK);
    const molt_boot_cfg_t base = {.mode = MOLT_MODE_SWAP};
    const molt_boot_cfg_t cfg = sim_stage_app_cfg(&st, base);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, by_f0.b, by_f0.n), MOLT_OK);

    static uint8_t buf[2457];
    const molt_fwu_keyset_t ks = {&st.keyrot, &g_factory, buf, sizeof buf, 0,
                                  molt_keyrot_check, molt_keyrot_apply, molt_keyrot_load};
    static molt_fwu_t fwu;
    molt_boot_result_t r;
    psa_status_t err;
    uint32_t build;

    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_init(&fwu, &d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_add_keyset(&fwu, 0, &ks), MOLT_E_ARG); /* id taken */
    const molt_fwu_keyset_t no_running = {&st.keyrot, &g_factory, buf, sizeof buf, 7,
                                          molt_keyrot_check, molt_keyrot_apply, molt_keyrot_load};
    CHECK_EQ(molt_fwu_add_keyset(&fwu, 2, &no_running), MOLT_E_ARG); /* no component 7 */
    CHECK_EQ(molt_fwu_add_keyset(&fwu, 2, &ks), MOLT_OK);
    psa_fwu_component_info_t info;
    CHECK_EQ(molt_fwu_query(&fwu, 2, &info), PSA_SUCCESS);
    CHECK_EQ(info.state, PSA_FWU_READY);
    CHECK_EQ(info.flags, PSA_FWU_FLAG_VOLATILE_STAGING);
    CHECK_EQ(info.max_size, sizeof buf);
    CHECK_EQ(info.version.build, 0);

    /* Before the rotation N's image is not trusted. */
    CHECK_EQ(upload(&fwu, 0, by_n.b, by_n.n), PSA_ERROR_INVALID_SIGNATURE);
    CHECK_EQ(state(&fwu, 0, &err, NULL), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KEY_UNTRUSTED);
    CHECK_EQ(molt_fwu_clean(&fwu, 0), PSA_SUCCESS);

    /* Wrong calls on the key-set component. */
    CHECK_EQ(molt_fwu_write(&fwu, 2, 0, ku1, 10), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_finish(&fwu, 2), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_start(&fwu, 2, ku1, 4), PSA_ERROR_INVALID_ARGUMENT); /* no detached manifest */
    CHECK_EQ(molt_fwu_start(&fwu, 2, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_start(&fwu, 2, NULL, 0), PSA_ERROR_BAD_STATE);
    CHECK_EQ(molt_fwu_write(&fwu, 2, 5, ku1, 10), PSA_ERROR_INVALID_ARGUMENT); /* out of order */
    static uint8_t big[1000];
    CHECK_EQ(molt_fwu_write(&fwu, 2, 0, big, 1000), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_write(&fwu, 2, 1000, big, 1000), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_write(&fwu, 2, 2000, big, 1000), PSA_ERROR_INSUFFICIENT_STORAGE); /* past the buffer */
    CHECK_EQ(state(&fwu, 2, NULL, NULL), PSA_FWU_WRITING);                            /* nothing kept */
    CHECK_EQ(molt_fwu_finish(&fwu, 2), PSA_ERROR_INVALID_ARGUMENT);                   /* zeros: KU_FORMAT */
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_start(&fwu, 2, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_cancel(&fwu, 2), PSA_SUCCESS);
    CHECK_EQ(state(&fwu, 2, &err, NULL), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_FWU_CANCELLED);
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);

    /* Key-update 1 through the global API (what the agent calls). */
    molt_fwu_bind(&fwu);
    CHECK_EQ(psa_fwu_start(2, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_write(2, 0, ku1, 100), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_write(2, 100, ku1 + 100, n1 - 100), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(2), PSA_SUCCESS);
    CHECK_EQ(state(&fwu, 2, NULL, &build), PSA_FWU_CANDIDATE);
    CHECK_EQ(build, 0); /* checked, not applied */
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS);
    CHECK_EQ(state(&fwu, 2, NULL, &build), PSA_FWU_UPDATED);
    CHECK_EQ(build, 1);
    CHECK_EQ(psa_fwu_accept(), PSA_ERROR_BAD_STATE); /* nothing to accept: no trial */
    CHECK_EQ(psa_fwu_clean(2), PSA_SUCCESS);
    CHECK_EQ(state(&fwu, 2, NULL, NULL), PSA_FWU_READY);
    molt_fwu_bind(NULL);

    /* Refused key-updates: FAILED with the reason, the set unchanged. */
    CHECK_EQ(upload(&fwu, 2, ku1, n1), PSA_ERROR_NOT_PERMITTED);
    CHECK_EQ(state(&fwu, 2, &err, &build), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KU_REPLAY);
    CHECK_EQ(build, 1);
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);
    CHECK_EQ(upload(&fwu, 2, ku_one, n_one), PSA_ERROR_INVALID_SIGNATURE);
    CHECK_EQ(state(&fwu, 2, &err, NULL), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KU_SIG);
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);
    CHECK_EQ(upload(&fwu, 2, ku_bad, n1), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(state(&fwu, 2, &err, NULL), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KU_FORMAT);
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);

    /* Key-update 2 retires F0, whose image runs: checked at finish, refused at install. */
    CHECK_EQ(upload(&fwu, 2, ku2, n2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&fwu), PSA_ERROR_NOT_PERMITTED);
    CHECK_EQ(state(&fwu, 2, &err, &build), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KU_STRANDS);
    CHECK_EQ(build, 1);
    CHECK_EQ(molt_fwu_clean(&fwu, 2), PSA_SUCCESS);

    /* N's image now uploads, installs, runs as a trial and is accepted. */
    CHECK_EQ(upload(&fwu, 0, by_n.b, by_n.n), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&fwu), PSA_SUCCESS_REBOOT);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.image.version.build, 2);
    CHECK_EQ(molt_fwu_init(&fwu, &d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_add_keyset(&fwu, 2, &ks), MOLT_OK);
    CHECK_EQ(state(&fwu, 0, NULL, NULL), PSA_FWU_TRIAL);
    CHECK_EQ(molt_fwu_accept(&fwu), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_clean(&fwu, 0), PSA_SUCCESS);

    /* Now key-update 2 applies; F0's images are refused from then on. */
    CHECK_EQ(upload(&fwu, 2, ku2, n2), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_install(&fwu), PSA_SUCCESS);
    CHECK_EQ(state(&fwu, 2, NULL, &build), PSA_FWU_UPDATED);
    CHECK_EQ(build, 2);
    CHECK_EQ(upload(&fwu, 0, by_f0_new.b, by_f0_new.n), PSA_ERROR_INVALID_SIGNATURE);
    CHECK_EQ(state(&fwu, 0, &err, NULL), PSA_FWU_FAILED);
    CHECK_EQ(err, (psa_status_t)MOLT_E_KEY_RETIRED);
    /* The set survives a reset (a fresh FWU instance reads it back). */
    CHECK_EQ(sim_device_reboot(&d), MOLT_OK);
    CHECK_EQ(sim_stage_reboot(&st), MOLT_OK);
    CHECK_EQ(molt_boot_go(&d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_init(&fwu, &d.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_add_keyset(&fwu, 2, &ks), MOLT_OK);
    CHECK_EQ(state(&fwu, 2, NULL, &build), PSA_FWU_READY);
    CHECK_EQ(build, 2);

    sim_device_free(&d);
    sim_stage_free(&st);
    return check_done();
}
