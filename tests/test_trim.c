/*
 * test_trim.c - the link-time choices of a boot stage keep every trust decision
 * (issue 17; R-CONF, R-SECBOOT).
 *
 * A boot stage chooses its activation mode with molt_boot_cfg_t.activate
 * (molt_boot_go_with) and its decryption with molt_port_t.enc_ops. Here, on the
 * simulator with imgtool's encrypted vectors (p13, p14: X25519, AES-256):
 *   - key-store hooks but no enc_ops (the decryption code not linked): an
 *     encrypted staged image is refused with ENC_NO_KEY, its header erased, the
 *     installed image keeps running byte for byte; ciphertext placed in PRIMARY
 *     never runs (secure state);
 *   - with enc_ops, molt_boot_go_with(activate = molt_boot_swap) activates and
 *     reverts exactly as molt_boot_go does (plaintext in, ciphertext out);
 *   - an activate that is not mode's entry, or none, is MOLT_E_ARG before any
 *     flash operation (the flash is byte-identical afterwards);
 *   - molt_verify_with(ops = NULL) refuses an encrypted upload even with a
 *     decryption key in the policy, and judges installed images as stored.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "molt/verify.h"
#include "sim_keystore.h"
#include "sim_port.h"
#include "slurp.h"

static const char *dir;

static bool holds(sim_device_t *dev, uint32_t area, uint32_t off, const uint8_t *img, size_t len)
{
    return memcmp(sim_flash_data(&dev->flash) + sim_device_area_base(dev, area) + off, img, len) == 0;
}

static bool erased(sim_device_t *dev, uint32_t area, uint32_t off, size_t len)
{
    const uint8_t *p = sim_flash_data(&dev->flash) + sim_device_area_base(dev, area) + off;
    for (size_t i = 0; i < len; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

/* A device with i13 installed and confirmed, p14 staged and requested as a trial. */
static void staged(sim_device_t *dev, const sim_layout_t *l, const molt_keyring_t *keys, sim_keystore_t *ks,
                   bool with_ops, const uint8_t *i13, size_t l13, const uint8_t *p14, size_t l14,
                   const molt_boot_cfg_t *cfg)
{
    molt_boot_result_t r;
    CHECK_EQ(sim_device_init(dev, l, keys), MOLT_OK);
    sim_device_set_keystore(dev, ks);
    if (!with_ops)
        dev->port.enc_ops = NULL; /* the hooks, but not the decryption code */
    CHECK_EQ(sim_device_program(dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
    CHECK_EQ(molt_boot_go_with(&dev->port, cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK_EQ(molt_confirm(&dev->port, cfg), MOLT_OK);
    uint32_t off = molt_boot_staging_offset(&dev->port, cfg);
    CHECK_EQ(sim_device_program(dev, MOLT_AREA_SECONDARY, off, p14, l14), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&dev->port, cfg, false), MOLT_OK);
}

static molt_err_t verify_mem(const uint8_t *img, size_t len, const molt_keyring_t *keys, molt_role_t role,
                             const molt_decrypt_t *dec, const molt_enc_ops_t *ops)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_policy_t pol;
    molt_policy_default(&pol);
    pol.role = role;
    pol.dec = dec;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    return molt_verify_with(&src, keys, &pol, ops, NULL);
}

int main(void)
{
    size_t l13 = 0, l14 = 0, lk = 0;
    dir = getenv("VECTORS") ? getenv("VECTORS") : MOLT_VECTORS;
    uint8_t *p13 = slurp(dir, "images/p13_ed25519_enc_x25519_aes256.bin", &l13);
    uint8_t *p14 = slurp(dir, "images/p14_ed25519_enc_x25519_hmacsha512_aes256.bin", &l14);
    uint8_t *k = slurp(dir, "keys/sign-ed25519.pub.der", &lk);
    sim_keystore_t ks = {0};
    CHECK(p13 && p14 && k && harness_add_pem(&ks, dir, "keys/enc-x25519.pem"), "vectors and device key");
    uint8_t *i13 = p13 ? harness_installed(p13, l13, &ks) : NULL, *i14 = p14 ? harness_installed(p14, l14, &ks) : NULL;
    CHECK(i13 && i14, "installed forms");
    if (!i13 || !i14 || !k)
        return check_done();
    molt_key_t key = {k, lk};
    molt_keyring_t keys = {&key, 1};
    sim_layout_t l;
    sim_device_t dev;
    molt_boot_result_t r;
    CHECK_EQ(sim_layout_uniform(&l, 1024, 8, 8, 0xFF), MOLT_OK);
    const molt_boot_cfg_t swap = {.mode = MOLT_MODE_SWAP, .activate = molt_boot_swap};

    /* 1. Hooks without enc_ops: the staged ciphertext is refused, never taken as plaintext. */
    staged(&dev, &l, &keys, &ks, false, i13, l13, p14, l14, &swap);
    uint32_t off = molt_boot_staging_offset(&dev.port, &swap);
    CHECK_EQ(molt_boot_go_with(&dev.port, &swap, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_ENC_NO_KEY);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    CHECK(!r.trial, "no trial");
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "PRIMARY still holds p13's plaintext");
    CHECK(erased(&dev, MOLT_AREA_SECONDARY, off, 32), "the refused header is erased");
    CHECK_EQ(molt_boot_go_with(&dev.port, &swap, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE); /* not retried */
    sim_device_free(&dev);

    /* ... and ciphertext in PRIMARY is hashed as stored: it never runs. */
    CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
    sim_device_set_keystore(&dev, &ks);
    dev.port.enc_ops = NULL;
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, p14, l14), MOLT_OK);
    CHECK_EQ(molt_boot_go_with(&dev.port, &swap, &r), MOLT_E_NO_IMAGE);
    sim_device_free(&dev);

    /* 2. With enc_ops, molt_boot_go_with(swap) activates and reverts like molt_boot_go. */
    staged(&dev, &l, &keys, &ks, true, i13, l13, p14, l14, &swap);
    CHECK_EQ(molt_boot_go_with(&dev.port, &swap, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK(r.trial, "a trial");
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i14, l14), "PRIMARY holds p14's plaintext");
    CHECK(holds(&dev, MOLT_AREA_SECONDARY, 0, p13, l13), "SECONDARY holds p13's ciphertext");
    CHECK_EQ(molt_boot_go_with(&dev.port, &swap, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "PRIMARY holds p13's plaintext again");
    CHECK(holds(&dev, MOLT_AREA_SECONDARY, off, p14, l14), "SECONDARY holds p14's ciphertext again");

    /* 3. activate must be mode's entry: MOLT_E_ARG, and not one flash byte changes. */
    uint32_t fsz = sim_flash_size(&dev.flash);
    uint8_t *before = malloc(fsz);
    CHECK(before != NULL, "snapshot");
    if (before) {
        memcpy(before, sim_flash_data(&dev.flash), fsz);
        const molt_boot_cfg_t bad[] = {
            {.mode = MOLT_MODE_SWAP, .activate = molt_boot_remap},
            {.mode = MOLT_MODE_SWAP, .activate = molt_boot_overwrite},
            {.mode = MOLT_MODE_REMAP, .activate = molt_boot_swap},
            {.mode = MOLT_MODE_OVERWRITE, .activate = molt_boot_swap},
            {.mode = MOLT_MODE_SWAP, .activate = NULL},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK_EQ(molt_boot_go_with(&dev.port, &bad[i], &r), MOLT_E_ARG);
        CHECK(memcmp(before, sim_flash_data(&dev.flash), fsz) == 0, "flash untouched by refused configurations");
        free(before);
    }
    /* molt_boot_go with activate NULL still picks the mode (every existing port). */
    const molt_boot_cfg_t plain = {.mode = MOLT_MODE_SWAP};
    CHECK_EQ(molt_boot_go(&dev.port, &plain, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "p13 runs");
    sim_device_free(&dev);

    /* 4. molt_verify_with without the decryption code. */
    molt_decrypt_t dec = {sim_keystore_ecdh, &ks, NULL, 0, sim_keystore_rsa_unwrap};
    CHECK_EQ(verify_mem(p14, l14, &keys, MOLT_ROLE_UPLOAD, &dec, NULL), MOLT_E_ENC_NO_KEY);
    CHECK_EQ(verify_mem(p14, l14, &keys, MOLT_ROLE_UPLOAD, &dec, &molt_enc_ops), MOLT_OK);
    CHECK_EQ(verify_mem(p14, l14, &keys, MOLT_ROLE_UPLOAD, NULL, &molt_enc_ops), MOLT_E_ENC_NO_KEY);
    CHECK_EQ(verify_mem(i14, l14, &keys, MOLT_ROLE_INSTALLED, NULL, NULL), MOLT_OK);
    CHECK_EQ(verify_mem(p14, l14, &keys, MOLT_ROLE_INSTALLED, NULL, NULL), MOLT_E_HASH_MISMATCH);

    free(p13);
    free(p14);
    free(i13);
    free(i14);
    free(k);
    sim_keystore_free(&ks);
    return check_done();
}
