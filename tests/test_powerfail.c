/*
 * test_powerfail.c - the CI-sized power-fail proof (ports/sim/sim_powerfail):
 * every flash operation of update, revert, confirm and permanent activation
 * cut (torn, four seeds; clean cuts too), rebooted and recovered, a sample cut
 * again during recovery; in SWAP, REMAP and OVERWRITE modes. Must report
 * bricked 0, mixed 0, counter violations 0, and a non-zero number of cuts.
 * Images: vectors p03 (v1.2.3+4, counter 5) -> p20 (v1.5.0+2, counter 8).
 * R-CONF: the same proof with encrypted images on a device holding the ECIES keys
 * in its key store (SWAP and OVERWRITE): imgtool's p13 installed -> p14 staged
 * (X25519, AES-256), and the --clear factory image p22 (P-256) -> p14, which is
 * re-encrypted on its way to staging. Besides the checks above: no 16-byte block
 * of either plaintext payload ever appears in SECONDARY or STATUS, after any cut
 * or any boot ("plaintext in staging: 0"). R-ONEPKG: once more with a device
 * whose key is in neither image's key TLV, using its per-device envelopes
 * (p13 -> p12).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deps.h"
#include "envelope.h"
#include "harness.h"
#include "molt/enc.h"
#include "sim_keystore.h"
#include "powerfail.h"
#include "slurp.h"

static uint8_t *load(const char *name, size_t *len) { return slurp(MOLT_VECTORS, name, len); }

static void *g_key_store;
static uint32_t g_seeds = 4;
static const uint8_t *g_old_plain, *g_new_plain;

static void sweep(const char *what, molt_boot_mode_t mode, const sim_layout_t *l, const uint8_t *o,
                  size_t olen, const uint8_t *n, size_t nlen, const molt_keyring_t *keys, bool clean)
{
    sim_pf_cfg_t cfg;
    sim_pf_result_t res;
    char line[160];

    memset(&cfg, 0, sizeof cfg);
    cfg.layout = *l;
    cfg.mode = mode;
    cfg.deps = &test_deps; /* p20 depends on image 1 >= 1.2.3 */
    cfg.old_img = o;
    cfg.old_len = olen;
    cfg.new_img = n;
    cfg.new_len = nlen;
    cfg.keys = *keys;
    cfg.seeds = g_seeds;
    cfg.clean = clean;
    cfg.double_cuts = 8;
    cfg.log = stderr;
    cfg.key_store = g_key_store;
    cfg.old_plain = g_old_plain;
    cfg.new_plain = g_new_plain;
    CHECK_EQ(sim_powerfail_run(&cfg, &res), MOLT_OK);
    sim_powerfail_line(&res, line, sizeof line);
    printf("%s: %s\n", what, line);
    CHECK(res.cuts > 0, "%s: no cut injected", what);
    CHECK_EQ(res.bricked, 0);
    CHECK_EQ(res.mixed, 0);
    CHECK_EQ(res.counter, 0);
    CHECK_EQ(res.lost, 0);
    CHECK_EQ(res.violations, 0);
    CHECK_EQ(res.plaintext, 0);
    if (g_key_store)
        CHECK(res.scans > 0, "%s: staging never scanned", what);
    CHECK(sim_powerfail_ok(&res), "%s", what);
}

/* An envelope of img's content key (recovered with ks) for device key dev_key. */
static size_t envelope_for(const uint8_t *img, size_t len, sim_keystore_t *ks, uint32_t dev_key, uint8_t *env,
                           uint8_t key[32])
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    uint8_t digest[64];
    size_t klen = 0, dlen = 0;
    if (harness_content_key(img, len, &dec, key, &klen, digest, &dlen) != MOLT_OK || dlen == 0)
        return 0;
    return make_envelope(MOLT_TLV_ENC_X25519, dev_key, key, klen, MOLT_TLV_SHA256, digest, dlen, env);
}

static void encrypted_sweeps(void)
{
    size_t l13 = 0, l14 = 0, l22 = 0, lk1 = 0, lk2 = 0;
    uint8_t *p13 = load("images/p13_ed25519_enc_x25519_aes256.bin", &l13);
    uint8_t *p14 = load("images/p14_ed25519_enc_x25519_hmacsha512_aes256.bin", &l14);
    uint8_t *p22 = load("images/p22_ecdsa_p256_enc_ec256_clear.bin", &l22);
    uint8_t *k1 = load("keys/sign-ed25519.pub.der", &lk1), *k2 = load("keys/sign-ecdsa-p256.pub.der", &lk2);
    sim_keystore_t ks = {0};
    CHECK(p13 && p14 && p22 && k1 && k2 && harness_add_pem(&ks, MOLT_VECTORS, "keys/enc-x25519.pem") &&
              harness_add_pem(&ks, MOLT_VECTORS, "keys/enc-ecdsa-p256.pem"),
          "encrypted vectors and device keys");
    uint8_t *i13 = p13 ? harness_installed(p13, l13, &ks) : NULL, *i14 = p14 ? harness_installed(p14, l14, &ks) : NULL;
    CHECK(i13 && i14, "installed forms");
    if (i13 && i14 && p22 && k1 && k2) {
        molt_key_t kk[2] = {{k1, lk1}, {k2, lk2}};
        molt_keyring_t keys = {kk, 2};
        sim_layout_t l;
        g_key_store = &ks;
        g_seeds = 2; /* two torn seeds per operation (plus clean cuts where asked) */
        CHECK_EQ(sim_layout_uniform(&l, 1024, 8, 8, 0xFF), MOLT_OK);
        g_old_plain = i13;
        g_new_plain = i14;
        sweep("encrypted swap 8x1KiB align 8", MOLT_MODE_SWAP, &l, p13, l13, p14, l14, &keys, true);
        sweep("encrypted overwrite 8x1KiB align 8", MOLT_MODE_OVERWRITE, &l, p13, l13, p14, l14, &keys, true);
        /* a --clear factory image (plaintext, flagged) leaves re-encrypted */
        g_old_plain = p22;
        sweep("clear factory -> encrypted swap 8x1KiB", MOLT_MODE_SWAP, &l, p22, l22, p14, l14, &keys, false);
        CHECK_EQ(sim_layout_uniform(&l, 2048, 5, 32, 0x00), MOLT_OK);
        g_old_plain = i13;
        sweep("encrypted swap 5x2KiB align 32 erase 0x00", MOLT_MODE_SWAP, &l, p13, l13, p14, l14, &keys, false);
        /* a device that only has envelopes (its key is in no key TLV) */
        size_t l12 = 0;
        uint8_t *p12 = load("images/p12_ed25519_enc_x25519_aes128.bin", &l12);
        uint8_t *i12 = p12 ? harness_installed(p12, l12, &ks) : NULL;
        CHECK(i12 != NULL, "p12");
        if (i12) {
            uint8_t e13[MOLT_ENV_MAX], e12[MOLT_ENV_MAX], key[32];
            sim_keystore_t ke = {0};
            ke.x25519 = fresh_key(false);
            size_t el13 = envelope_for(p13, l13, &ks, ke.x25519, e13, key);
            size_t el12 = envelope_for(p12, l12, &ks, ke.x25519, e12, key);
            CHECK(el13 && el12 && sim_keystore_add_envelope(&ke, e13, el13) == MOLT_OK &&
                      sim_keystore_add_envelope(&ke, e12, el12) == MOLT_OK,
                  "envelopes");
            g_key_store = &ke;
            g_old_plain = i13;
            g_new_plain = i12;
            CHECK_EQ(sim_layout_uniform(&l, 1024, 8, 8, 0xFF), MOLT_OK);
            sweep("envelope device swap 8x1KiB align 8", MOLT_MODE_SWAP, &l, p13, l13, p12, l12, &keys, false);
            sim_keystore_free(&ke);
        }
        free(i12);
        free(p12);
        g_key_store = NULL;
        g_old_plain = g_new_plain = NULL;
        g_seeds = 4;
    }
    sim_keystore_free(&ks);
    free(i13);
    free(i14);
    free(p13);
    free(p14);
    free(p22);
    free(k1);
    free(k2);
}

int main(void)
{
    size_t olen = 0, nlen = 0, klen = 0;
    uint8_t *o = load("images/p03_ecdsa_p256_seccnt.bin", &olen);
    uint8_t *n = load("images/p20_ecdsa_p256_deps_bootrec_custom.bin", &nlen);
    uint8_t *k = load("keys/sign-ecdsa-p256.pub.der", &klen);
    CHECK(o && n && k, "vectors");
    if (!o || !n || !k)
        return check_done();
    molt_key_t key = {k, klen};
    molt_keyring_t keys = {&key, 1};
    sim_layout_t l;

    /* 8 x 1 KiB sectors per slot, 8-byte units, 0xFF */
    CHECK_EQ(sim_layout_uniform(&l, 1024, 8, 8, 0xFF), MOLT_OK);
    sweep("swap 8x1KiB align 8", MOLT_MODE_SWAP, &l, o, olen, n, nlen, &keys, true);
    sweep("remap 8x1KiB align 8", MOLT_MODE_REMAP, &l, o, olen, n, nlen, &keys, true);
    sweep("overwrite 8x1KiB align 8", MOLT_MODE_OVERWRITE, &l, o, olen, n, nlen, &keys, true);
    /* 0x00 erase value, 32-byte units */
    CHECK_EQ(sim_layout_uniform(&l, 2048, 5, 32, 0x00), MOLT_OK);
    sweep("swap 5x2KiB align 32 erase 0x00", MOLT_MODE_SWAP, &l, o, olen, n, nlen, &keys, false);
    encrypted_sweeps();
    free(o);
    free(n);
    free(k);
    return check_done();
}
