/*
 * test_attest_keyset.c - attestation judges with the key set in force
 * (issue 18, R-ATTEST with R-ALLUPDATABLE; lib/attest.c, molt/keyrot.h).
 *
 * The device's factory keys are F0 and F1; a key-update (written here from
 * the format in molt/keyrot.h, signed by two of three roots) adds N and
 * retires F0. With the key set wired (molt_attest_req_t.boot.keyrot):
 *  - before the update, an image by N in the running slot is not measured
 *    (ATTEST_NO_MEASUREMENT), as the boot code would not run it;
 *  - after it, N's image is measured, with N's signer id (SHA-256 of its DER,
 *    the id of the key that verified -- not a factory-table index);
 *  - F0's image in the other slot is no longer measured (retired), F1's is,
 *    with F1's signer id;
 *  - the same device attested without the key set measures F0's image and
 *    not N's: the difference is the key set, nothing else.
 * Images and key-updates are made here (tests/mkimage.h), never with lib/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "mkimage.h"
#include "molt/attest.h"
#include "molt/boot.h"
#include "molt/keyrot.h"
#include "sim_port.h"
#include "sim_stage.h"

static signer_t g_root[3], g_f0, g_f1, g_n;
static molt_key_t g_root_keys[3], g_fac[2];
static molt_keyring_t g_roots = {g_root_keys, 3}, g_factory = {g_fac, 2};

/* Key-update seq 1: add N, retire F0; signed by roots 0 and 2. */
static size_t make_ku(uint8_t *out)
{
    size_t off = 12;
    memcpy(out, "MKU1", 4);
    mk_put32(out + 4, 1);
    out[8] = 1;
    out[9] = 1;
    out[10] = out[11] = 0;
    mk_put16(out + off, sizeof g_n.der);
    memcpy(out + off + 2, g_n.der, sizeof g_n.der);
    off += 2 + sizeof g_n.der;
    memcpy(out + off, g_f0.hash, 32);
    off += 32;
    size_t body = off;
    out[off++] = 2;
    const int idx[2] = {0, 2};
    for (int i = 0; i < 2; i++) {
        out[off] = (uint8_t)idx[i];
        sign_raw(&g_root[idx[i]], out, body, out + off + 1);
        off += 65;
    }
    return off;
}

static bool has(const uint8_t *tok, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(tok + i, needle, m) == 0)
            return true;
    return false;
}

static molt_err_t token(sim_device_t *d, const molt_boot_cfg_t *cfg, uint8_t *tok, size_t *len)
{
    static const uint8_t nonce[32] = {1, 2, 3};
    molt_attest_req_t req = {nonce, sizeof nonce, -1, MOLT_AREA_PRIMARY, *cfg};
    return molt_attest_get_token(&d->port, &req, tok, MOLT_ATTEST_TOKEN_MAX, len);
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

    static img_t by_n, by_f0, by_f1;
    const signer_t *sn[] = {&g_n}, *sf0[] = {&g_f0}, *sf1[] = {&g_f1};
    make_image(&by_n, sn, 1, 7, 1);
    make_image(&by_f0, sf0, 1, 3, 1);
    make_image(&by_f1, sf1, 1, 5, 1);
    static const char vn[] = "1.0.0+7", vf0[] = "1.0.0+3", vf1[] = "1.0.0+5";

    static sim_stage_t st;
    static sim_device_t d;
    sim_layout_t sl, al;
    CHECK_EQ(sim_stage_layout(&sl, 4096, 2, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_stage_init(&st, &sl, NULL, &g_roots, 2), MOLT_OK);
    CHECK_EQ(sim_layout_uniform(&al, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &al, &g_factory), MOLT_OK);
    const molt_boot_cfg_t factory_cfg = {.mode = MOLT_MODE_SWAP};
    const molt_boot_cfg_t cfg = sim_stage_app_cfg(&st, factory_cfg);
    uint8_t tok[MOLT_ATTEST_TOKEN_MAX];
    size_t len = 0;
    uint32_t stg = molt_boot_staging_offset(&d.port, &cfg);

    /* N's image runs... before N is trusted: nothing to measure. */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, by_n.b, by_n.n), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, by_f0.b, by_f0.n), MOLT_OK);
    CHECK_EQ(token(&d, &cfg, tok, &len), MOLT_E_ATTEST_NO_MEASUREMENT);

    /* The key-update: add N, retire F0 (N's image runs: not stranded). */
    uint8_t ku[1024];
    size_t kn = make_ku(ku);
    molt_mem_source_t mem;
    molt_source_t run;
    molt_source_from_mem(&run, &mem, by_n.b, by_n.n);
    CHECK_EQ(sim_stage_keyupdate(&st, &g_factory, ku, kn, &run), MOLT_OK);

    /* N's image measured with N's id; F0's (retired) in the other slot not. */
    CHECK_EQ(token(&d, &cfg, tok, &len), MOLT_OK);
    CHECK(has(tok, len, vn, strlen(vn)), "N's image is measured");
    CHECK(has(tok, len, g_n.hash, 32), "with N's signer id");
    CHECK(!has(tok, len, vf0, strlen(vf0)), "F0's image (retired key) is not measured");
    CHECK(!has(tok, len, g_f0.hash, 32), "F0's id appears nowhere");
    CHECK(!has(tok, len, g_f1.hash, 32), "nor F1's: the signer id is the key that verified");

    /* F1's image in the other slot: measured, with F1's id (index 0 of the
     * ring in force, index 1 of the factory table). */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, by_f1.b, by_f1.n), MOLT_OK);
    CHECK_EQ(token(&d, &cfg, tok, &len), MOLT_OK);
    CHECK(has(tok, len, vn, strlen(vn)) && has(tok, len, vf1, strlen(vf1)), "both images measured");
    CHECK(has(tok, len, g_n.hash, 32) && has(tok, len, g_f1.hash, 32), "each with its own signer id");

    /* Without the key set (the factory table): F0's image counts, N's not. */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, by_f0.b, by_f0.n), MOLT_OK);
    CHECK_EQ(token(&d, &factory_cfg, tok, &len), MOLT_E_ATTEST_NO_MEASUREMENT);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, by_f1.b, by_f1.n), MOLT_OK);
    CHECK_EQ(token(&d, &factory_cfg, tok, &len), MOLT_OK);
    CHECK(has(tok, len, vf0, strlen(vf0)) && has(tok, len, g_f0.hash, 32), "factory judging measures F0's image");
    CHECK_EQ(token(&d, &cfg, tok, &len), MOLT_OK);
    CHECK(!has(tok, len, vf0, strlen(vf0)), "the key set does not");

    sim_device_free(&d);
    sim_stage_free(&st);
    return check_done();
}
