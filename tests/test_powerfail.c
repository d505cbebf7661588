/*
 * test_powerfail.c - the CI-sized power-fail proof (ports/sim/sim_powerfail):
 * every flash operation of update, revert, confirm and permanent activation
 * cut (torn, two seeds; clean cuts too), rebooted and recovered, a sample cut
 * again during recovery; in SWAP, REMAP and OVERWRITE modes. Must report
 * bricked 0, mixed 0, counter violations 0, and a non-zero number of cuts.
 * Images: vectors p03 (v1.2.3+4, counter 5) -> p20 (v1.5.0+2, counter 8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sim_powerfail.h"

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", MOLT_VECTORS, name);
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    } else if (buf != NULL) {
        *len = (size_t)n;
    }
    fclose(fp);
    return buf;
}

static void sweep(const char *what, molt_boot_mode_t mode, const sim_layout_t *l, const uint8_t *o,
                  size_t olen, const uint8_t *n, size_t nlen, const molt_keyring_t *keys, bool clean)
{
    sim_pf_cfg_t cfg;
    sim_pf_result_t res;
    char line[160];

    memset(&cfg, 0, sizeof cfg);
    cfg.layout = *l;
    cfg.mode = mode;
    cfg.old_img = o;
    cfg.old_len = olen;
    cfg.new_img = n;
    cfg.new_len = nlen;
    cfg.keys = *keys;
    cfg.seeds = 4;
    cfg.clean = clean;
    cfg.double_cuts = 8;
    cfg.log = stderr;
    CHECK_EQ(sim_powerfail_run(&cfg, &res), MOLT_OK);
    sim_powerfail_line(&res, line, sizeof line);
    printf("%s: %s\n", what, line);
    CHECK(res.cuts > 0, "%s: no cut injected", what);
    CHECK_EQ(res.bricked, 0);
    CHECK_EQ(res.mixed, 0);
    CHECK_EQ(res.counter, 0);
    CHECK_EQ(res.lost, 0);
    CHECK_EQ(res.violations, 0);
    CHECK(sim_powerfail_ok(&res), "%s", what);
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
    free(o);
    free(n);
    free(k);
    return check_done();
}
