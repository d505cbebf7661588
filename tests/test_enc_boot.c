/*
 * test_enc_boot.c - encrypted images through the boot code on the simulator.
 *
 * R-CONF: a device holding the ECIES keys in its key store (R-ASSETS) activates
 * imgtool's encrypted p14 over an installed p13 (both X25519, AES-256): PRIMARY
 * then holds p14's plaintext, and SECONDARY holds p13 re-encrypted — byte for
 * byte p13's original ciphertext (AES-CTR depends only on key and position).
 * An unconfirmed trial reverts: PRIMARY = p13's plaintext, SECONDARY = p14's
 * original ciphertext. OVERWRITE decrypts into PRIMARY and leaves the ciphertext
 * staged. A device without a key store refuses the staged image (ENC_NO_KEY) and
 * keeps running the old one; REMAP (execute in place) refuses encrypted images.
 * R-ONEPKG, R-CHANNEL: a device whose key is in neither image's key TLV runs the
 * same activation and revert (p13 -> p12) from its per-device envelopes (found by
 * the port by image hash); without its envelope, or with another device's, the staged image
 * is refused with the exact reason.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "envelope.h"
#include "harness.h"
#include "sim_keystore.h"
#include "sim_port.h"
#include "slurp.h"

static const char *dir;

/* The image's hash TLV value (32 bytes for these SHA-256 images) and content key. */
static size_t facts(const uint8_t *img, size_t len, sim_keystore_t *ks, uint8_t digest[64], uint8_t key[32])
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    size_t klen = 0, dlen = 0;
    return harness_content_key(img, len, &dec, key, &klen, digest, &dlen) == MOLT_OK ? klen : 0;
}

static bool holds(sim_device_t *dev, uint32_t area, uint32_t off, const uint8_t *img, size_t len)
{
    return memcmp(sim_flash_data(&dev->flash) + sim_device_area_base(dev, area) + off, img, len) == 0;
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
    CHECK(memcmp(i13, p13, l13) != 0 && memcmp(i14, p14, l14) != 0, "plaintext differs from ciphertext");
    molt_key_t key = {k, lk};
    molt_keyring_t keys = {&key, 1};
    sim_layout_t l;
    sim_device_t dev;
    molt_boot_result_t r;
    CHECK_EQ(sim_layout_uniform(&l, 1024, 8, 8, 0xFF), MOLT_OK);

    /* SWAP: activate, then revert. */
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
    CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
    sim_device_set_keystore(&dev, &ks);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_confirm(&dev.port, &cfg), MOLT_OK);
    uint32_t off = molt_boot_staging_offset(&dev.port, &cfg);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p14, l14), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK(r.trial, "a trial");
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i14, l14), "PRIMARY holds p14's plaintext");
    CHECK(holds(&dev, MOLT_AREA_SECONDARY, 0, p13, l13), "SECONDARY holds p13 re-encrypted = its ciphertext");
    /* not confirmed: the next reset reverts */
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REVERT);
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "PRIMARY holds p13's plaintext again");
    CHECK(holds(&dev, MOLT_AREA_SECONDARY, off, p14, l14), "SECONDARY holds p14's ciphertext again");
    sim_device_free(&dev);

    /* Issue 11, defect 8: an envelope anyone can make (ECIES to the device's
     * public key) must not choose the key that re-encrypts the image leaving
     * PRIMARY. The attacker places an envelope for p13's hash carrying a key
     * of its own; the boot code recorded p13's key check at its first boot, so
     * the activation is refused before a sector moves (ENV_IMAGE) and no
     * ciphertext under the attacker's key ever reaches staging. */
    {
        sim_keystore_t ka = {0};
        CHECK(harness_add_pem(&ka, dir, "keys/enc-x25519.pem"), "device key");
        uint8_t d13a[64], c13a[32], katt[32], eatt[MOLT_ENV_MAX];
        size_t n13a = facts(p13, l13, &ka, d13a, c13a);
        for (int b = 0; b < 32; b++)
            katt[b] = (uint8_t)(0xa5 ^ (b * 7));
        CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
        sim_device_set_keystore(&dev, &ka);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        size_t ela = make_envelope(MOLT_TLV_ENC_X25519, ka.x25519, katt, n13a, MOLT_TLV_SHA256, d13a, 32, eatt);
        CHECK(n13a == 32 && ela > 0, "attacker's envelope built");
        CHECK_EQ(sim_keystore_add_envelope(&ka, eatt, ela), MOLT_OK);
        /* p12: another image (p14 is p13's plaintext, so it shares p13's hash
         * and the attacker's envelope would fail its hash check first) */
        size_t l12a = 0;
        uint8_t *p12a = slurp(dir, "images/p12_ed25519_enc_x25519_aes128.bin", &l12a);
        CHECK(p12a != NULL, "p12");
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p12a, l12a), MOLT_OK);
        free(p12a);
        CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, false), MOLT_OK);
        uint64_t erases = dev.flash.stats.erases;
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.action, MOLT_ACT_REFUSED);
        CHECK_EQ(r.staged_err, MOLT_E_ENV_IMAGE);
        CHECK(!r.trial, "the confirmed image runs");
        CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "p13 stays in PRIMARY");
        CHECK_EQ(dev.flash.stats.erases - erases, 2); /* only the request and the staged header */
        sim_device_free(&dev);
    }

    /* No key store: the encrypted staged image is refused, the old one runs. */
    CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p14, l14), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, true), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_ENC_NO_KEY);
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "old image kept");
    sim_device_free(&dev);

    /* OVERWRITE: decrypted into PRIMARY, ciphertext left in staging. */
    molt_boot_cfg_t ow = {.mode = MOLT_MODE_OVERWRITE, .downgrade_prevention = false};
    CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
    sim_device_set_keystore(&dev, &ks);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &ow, &r), MOLT_OK);
    uint32_t ooff = molt_boot_staging_offset(&dev.port, &ow);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, ooff, p14, l14), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&dev.port, &ow, true), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &ow, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_PERM);
    CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i14, l14), "PRIMARY holds p14's plaintext");
    /* the header sector of the staging slot is erased after the copy; the rest is ciphertext */
    uint32_t s0 = 1024;
    CHECK(holds(&dev, MOLT_AREA_SECONDARY, ooff + s0, p14 + s0, l14 - s0), "staging keeps ciphertext");
    sim_device_free(&dev);

    /* REMAP executes in place: an encrypted image can never run there. */
    molt_boot_cfg_t rm = {.mode = MOLT_MODE_REMAP, .downgrade_prevention = false};
    CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
    sim_device_set_keystore(&dev, &ks);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &rm, &r), MOLT_OK);
    CHECK_EQ(molt_confirm(&dev.port, &rm), MOLT_OK);
    CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&dev.port, &rm), p14, l14), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(&dev.port, &rm, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &rm, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_HASH_MISMATCH);
    CHECK_EQ(r.slot, MOLT_AREA_PRIMARY);
    sim_device_free(&dev);

    /* Envelopes: device E's key is in neither image's key TLV. New image p12
     * (p13 and p14 are the same plaintext image, so they share their hash). */
    size_t l12 = 0;
    uint8_t *p12 = slurp(dir, "images/p12_ed25519_enc_x25519_aes128.bin", &l12);
    uint8_t *i12 = p12 ? harness_installed(p12, l12, &ks) : NULL;
    CHECK(i12 != NULL, "p12");
    if (i12) {
        uint8_t d13[64], d14[64], c13[32], c14[32], e13[MOLT_ENV_MAX], e14[MOLT_ENV_MAX], eother[MOLT_ENV_MAX];
        size_t n13 = facts(p13, l13, &ks, d13, c13), n14 = facts(p12, l12, &ks, d14, c14);
        sim_keystore_t ke = {0}, kother = {0};
        ke.x25519 = fresh_key(false);
        kother.x25519 = fresh_key(false);
        size_t el13 = make_envelope(MOLT_TLV_ENC_X25519, ke.x25519, c13, n13, MOLT_TLV_SHA256, d13, 32, e13);
        size_t el14 = make_envelope(MOLT_TLV_ENC_X25519, ke.x25519, c14, n14, MOLT_TLV_SHA256, d14, 32, e14);
        size_t elo = make_envelope(MOLT_TLV_ENC_X25519, kother.x25519, c14, n14, MOLT_TLV_SHA256, d14, 32, eother);
        CHECK(n13 == 32 && n14 == 16 && el13 && el14 && elo, "envelopes built");
        CHECK_EQ(sim_keystore_add_envelope(&ke, e13, el13), MOLT_OK);

        /* only p13's envelope: p12 cannot be opened by this device */
        CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
        sim_device_set_keystore(&dev, &ke);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(molt_confirm(&dev.port, &cfg), MOLT_OK);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p12, l12), MOLT_OK);
        CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, false), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.action, MOLT_ACT_REFUSED);
        CHECK_EQ(r.staged_err, MOLT_E_ENC_UNWRAP);
        /* another device's envelope for p12: refused */
        CHECK_EQ(sim_keystore_add_envelope(&ke, eother, elo), MOLT_OK);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p12, l12), MOLT_OK);
        CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, false), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.action, MOLT_ACT_REFUSED);
        CHECK_EQ(r.staged_err, MOLT_E_ENV_AUTH);
        sim_device_free(&dev);

        /* its own envelopes: activation and revert, exact slot contents */
        ke.nenv = 0;
        CHECK_EQ(sim_keystore_add_envelope(&ke, e13, el13), MOLT_OK);
        CHECK_EQ(sim_keystore_add_envelope(&ke, e14, el14), MOLT_OK);
        CHECK_EQ(sim_device_init(&dev, &l, &keys), MOLT_OK);
        sim_device_set_keystore(&dev, &ke);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(molt_confirm(&dev.port, &cfg), MOLT_OK);
        CHECK_EQ(sim_device_program(&dev, MOLT_AREA_SECONDARY, off, p12, l12), MOLT_OK);
        CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, false), MOLT_OK);
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
        CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i12, l12), "envelope device: PRIMARY holds p12's plaintext");
        CHECK(holds(&dev, MOLT_AREA_SECONDARY, 0, p13, l13), "envelope device: SECONDARY holds p13's ciphertext");
        CHECK_EQ(molt_boot_go(&dev.port, &cfg, &r), MOLT_OK);
        CHECK_EQ(r.action, MOLT_ACT_REVERT);
        CHECK(holds(&dev, MOLT_AREA_PRIMARY, 0, i13, l13), "envelope device: reverted to p13's plaintext");
        CHECK(holds(&dev, MOLT_AREA_SECONDARY, off, p12, l12), "envelope device: p12's ciphertext staged again");
        sim_device_free(&dev);
        sim_keystore_free(&ke);
        sim_keystore_free(&kother);
    }
    free(i12);
    free(p12);

    sim_keystore_free(&ks);
    free(i13);
    free(i14);
    free(p13);
    free(p14);
    free(k);
    return check_done();
}
