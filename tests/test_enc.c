/*
 * test_enc.c - encrypted images and per-device key envelopes in lib/ (molt/enc.h).
 *
 * R-CONF: every imgtool-encrypted vector (ECIES-P256, ECIES-X25519 with
 * HMAC-SHA256 and -SHA512, RSA-OAEP-2048, AES-128 and AES-256) verifies as an
 * upload through a device key store, its recovered content key equals MANIFEST.tsv's, and its
 * decrypted payload equals the payload that was signed (zero-padded to 16).
 * Wrong or missing device keys, every bit flip of the key TLV, unsupported
 * schemes and plaintext-where-encryption-is-required get their exact reasons.
 * R-ASSETS: the device keys (RSA-2048 included) live in a PSA key store that
 * refuses export; the RSA private-key operation is the key store's.
 * R-ONEPKG, R-CHANNEL: an envelope (built here from the format in
 * docs/encryption.md, independently of the CLI) opens on its device only, for
 * its image only, and lets a device whose key is not in the image's key TLV use
 * the shared package.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "molt/enc.h"
#include "molt/verify.h"
#include "envelope.h"
#include "harness.h"
#include "sim_keystore.h"
#include "slurp.h"

#define MAX_COLS 24

static const char *dir;
static molt_keyring_t ring;
static molt_key_t keys[4];

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    if (n > cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t)v;
    }
    return n;
}

static molt_err_t verify_img(const uint8_t *img, size_t len, const molt_decrypt_t *dec, molt_role_t role,
                             molt_verify_result_t *res)
{
    molt_policy_t pol;
    molt_source_t src;
    molt_mem_source_t mem;
    molt_policy_default(&pol);
    pol.role = role;
    pol.dec = dec;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    return molt_verify(&src, &ring, &pol, res);
}

/* ---- one encrypted vector ---- */
static int n_vectors;

static void check_vector(const char *file, const char *payload, const char *key_hex, const molt_decrypt_t *dec)
{
    size_t len = 0, plen = 0, klen = 0, dlen = 0;
    uint8_t *img = slurp(dir, file, &len), want_key[32], key[32], digest[64];
    char pname[256];
    snprintf(pname, sizeof pname, "payloads/%s", payload);
    uint8_t *pl = slurp(dir, pname, &plen);
    CHECK(img && pl, "%s: cannot read image or payload", file);
    if (!img || !pl) {
        free(img);
        free(pl);
        return;
    }
    n_vectors++;
    molt_verify_result_t res;
    molt_err_t err = verify_img(img, len, dec, MOLT_ROLE_UPLOAD, &res);
    CHECK(err == MOLT_OK, "%s: upload with the device key: %s", file, molt_err_name(err));
    CHECK(res.decrypted && res.signed_ok, "%s: decrypted %d signed %d", file, res.decrypted, res.signed_ok);
    /* The same bytes hashed as stored (installed role, no decryption) do not match. */
    CHECK_EQ(verify_img(img, len, NULL, MOLT_ROLE_INSTALLED, NULL), MOLT_E_HASH_MISMATCH);
    /* No key store: the old verdict stays. */
    CHECK_EQ(verify_img(img, len, NULL, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_NO_KEY);

    /* The recovered content key is MANIFEST's. */
    size_t wlen = unhex(key_hex, want_key, sizeof want_key);
    err = harness_content_key(img, len, dec, key, &klen, digest, &dlen);
    CHECK(err == MOLT_OK && klen == wlen && wlen > 0 && !memcmp(key, want_key, wlen), "%s: content key (%s, %zu bytes)",
          file, molt_err_name(err), klen);

    /* The decrypted payload is the signed payload, zero-padded to 16 bytes, and
     * the keystream is the same whatever the pieces' offsets. */
    uint32_t off = res.image.payload_off, n = res.image.img_size;
    CHECK_EQ(n, (plen + 15) / 16 * 16);
    uint8_t *buf = malloc(n ? n : 1);
    molt_ctr_t c;
    if (buf && err == MOLT_OK && molt_ctr_start(&c, key, klen) == MOLT_OK) {
        memcpy(buf, img + off, n);
        static const uint32_t pieces[] = {7, 9, 16, 300, 1, 4096};
        uint32_t pos = 0;
        for (unsigned i = 0; pos < n; i = (i + 1) % 6) {
            uint32_t k = pieces[i] < n - pos ? pieces[i] : n - pos;
            CHECK_EQ(molt_ctr_xor(&c, pos, buf + pos, k), MOLT_OK);
            pos += k;
        }
        molt_ctr_end(&c);
        bool pad_zero = true;
        for (uint32_t i = (uint32_t)plen; i < n; i++)
            pad_zero &= buf[i] == 0;
        CHECK(!memcmp(buf, pl, plen) && pad_zero, "%s: decrypted payload differs from %s", file, payload);
    } else {
        CHECK(0, "%s: cannot decrypt", file);
    }
    free(buf);
    free(img);
    free(pl);
}

static void test_envelopes(const molt_decrypt_t *dev_a_fleet)
{
    (void)dev_a_fleet;
    size_t len = 0, len13 = 0, klen = 0, dlen = 0, d13len = 0;
    uint8_t *img = slurp(dir, "images/p12_ed25519_enc_x25519_aes128.bin", &len);
    uint8_t *img13 = slurp(dir, "images/p16_ecdsa_p256_enc_ec256_aes256.bin", &len13);
    uint8_t key[32], digest[64], d13[64], env[MOLT_ENV_MAX], envb[MOLT_ENV_MAX], got[32];
    sim_keystore_t fleet = {0};
    CHECK(img && img13 && harness_add_pem(&fleet, dir, "keys/enc-x25519.pem"), "envelope setup");
    if (!img || !img13) {
        free(img);
        free(img13);
        return;
    }
    molt_decrypt_t fdec = {sim_keystore_ecdh, &fleet, NULL, 0, sim_keystore_rsa_unwrap};
    CHECK_EQ(harness_content_key(img, len, &fdec, key, &klen, digest, &dlen), MOLT_OK);
    uint8_t k13[32];
    size_t k13len = 0;
    sim_keystore_t fleet_ec = {0};
    CHECK(harness_add_pem(&fleet_ec, dir, "keys/enc-ecdsa-p256.pem"), "p256 key");
    molt_decrypt_t fdec_ec = {sim_keystore_ecdh, &fleet_ec, NULL, 0, sim_keystore_rsa_unwrap};
    CHECK_EQ(harness_content_key(img13, len13, &fdec_ec, k13, &k13len, d13, &d13len), MOLT_OK);

    /* Two devices whose keys are NOT the one the image's key TLV was made for. */
    sim_keystore_t a = {0}, b = {0}, aec = {0};
    a.x25519 = fresh_key(false);
    b.x25519 = fresh_key(false);
    aec.p256 = fresh_key(true);
    CHECK(a.x25519 && b.x25519 && aec.p256, "fresh device keys");
    molt_decrypt_t deva = {sim_keystore_ecdh, &a, NULL, 0, sim_keystore_rsa_unwrap}, devb = {sim_keystore_ecdh, &b, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t devaec = {sim_keystore_ecdh, &aec, NULL, 0, sim_keystore_rsa_unwrap};

    /* Without an envelope, neither device can use the package. */
    CHECK_EQ(verify_img(img, len, &deva, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_UNWRAP);

    size_t elen = make_envelope(MOLT_TLV_ENC_X25519, a.x25519, key, klen, MOLT_TLV_SHA256, digest, dlen, env);
    CHECK_EQ(elen, molt_envelope_size(MOLT_TLV_ENC_X25519, 16, 32));
    deva.envelope = devb.envelope = env;
    deva.envelope_len = devb.envelope_len = elen;
    molt_verify_result_t res;
    CHECK_EQ(verify_img(img, len, &deva, MOLT_ROLE_UPLOAD, &res), MOLT_OK);
    CHECK(res.decrypted, "decrypted through the envelope");
    /* Device B, given A's envelope: refused. */
    CHECK_EQ(verify_img(img, len, &devb, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENV_AUTH);
    /* A's envelope used with another image: refused. */
    CHECK_EQ(verify_img(img13, len13, &deva, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENV_IMAGE);
    /* Rebinding by rewriting the digest field breaks the tag. */
    {
        uint8_t moved[MOLT_ENV_MAX];
        memcpy(moved, env, elen);
        moved[7] = MOLT_TLV_SHA256;
        memcpy(moved + 8, d13, 32);
        CHECK_EQ(molt_envelope_open(&deva, moved, elen, MOLT_TLV_SHA256, d13, 32, got, &klen), MOLT_E_ENV_AUTH);
    }
    /* Every single-bit flip of the envelope is refused, each with its reason. */
    int flips = 0, flips_ok = 0;
    for (size_t i = 0; i < elen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t e2[MOLT_ENV_MAX];
            memcpy(e2, env, elen);
            e2[i] ^= (uint8_t)(1u << bit);
            size_t gl = 0;
            molt_err_t err = molt_envelope_open(&deva, e2, elen, MOLT_TLV_SHA256, digest, dlen, got, &gl);
            /* header (magic, version, scheme, key length, hash type): malformed;
             * digest: another image; ephemeral key, encrypted key, tag: does not open */
            molt_err_t want = i < 8 ? MOLT_E_ENV_FORMAT : i < 8 + 32 ? MOLT_E_ENV_IMAGE : MOLT_E_ENV_AUTH;
            if (err != want)
                fprintf(stderr, "envelope flip byte %zu bit %d: %s\n", i, bit, molt_err_name(err));
            flips++;
            flips_ok += err == want;
        }
    }
    CHECK_EQ(flips_ok, flips);
    printf("envelope bit flips refused with the expected reason: %d/%d\n", flips_ok, flips);
    /* Truncated or extended: malformed. */
    CHECK_EQ(molt_envelope_open(&deva, env, elen - 1, MOLT_TLV_SHA256, digest, dlen, got, &klen), MOLT_E_ENV_FORMAT);
    CHECK_EQ(molt_envelope_open(&deva, env, 3, MOLT_TLV_SHA256, digest, dlen, got, &klen), MOLT_E_ENV_FORMAT);

    /* B's own envelope opens on B, with the same package bytes. */
    size_t eblen = make_envelope(MOLT_TLV_ENC_X25519, b.x25519, key, klen, MOLT_TLV_SHA256, digest, dlen, envb);
    devb.envelope = envb;
    devb.envelope_len = eblen;
    CHECK_EQ(verify_img(img, len, &devb, MOLT_ROLE_UPLOAD, NULL), MOLT_OK);
    CHECK(memcmp(env, envb, elen) != 0, "envelopes differ per device");
    deva.envelope = envb; /* and B's on A: refused */
    CHECK_EQ(verify_img(img, len, &deva, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENV_AUTH);

    /* P-256 envelope, AES-256 image. */
    elen = make_envelope(MOLT_TLV_ENC_EC256, aec.p256, k13, k13len, MOLT_TLV_SHA256, d13, d13len, env);
    CHECK_EQ(elen, molt_envelope_size(MOLT_TLV_ENC_EC256, 32, 32));
    devaec.envelope = env;
    devaec.envelope_len = elen;
    CHECK_EQ(verify_img(img13, len13, &devaec, MOLT_ROLE_UPLOAD, NULL), MOLT_OK);
    /* A P-256 envelope on an X25519-only device: no key for that curve. */
    deva.envelope = env;
    deva.envelope_len = elen;
    CHECK_EQ(verify_img(img13, len13, &deva, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG);
    /* An envelope carrying a wrong content key (right device, right image): the
     * plaintext hash catches it. */
    k13[0] ^= 1;
    elen = make_envelope(MOLT_TLV_ENC_EC256, aec.p256, k13, k13len, MOLT_TLV_SHA256, d13, d13len, env);
    CHECK_EQ(verify_img(img13, len13, &devaec, MOLT_ROLE_UPLOAD, NULL), MOLT_E_HASH_MISMATCH);

    sim_keystore_free(&a);
    sim_keystore_free(&b);
    sim_keystore_free(&aec);
    sim_keystore_free(&fleet);
    sim_keystore_free(&fleet_ec);
    free(img);
    free(img13);
}

/* RSA-OAEP (ENC_RSA2048, p18): keys of the wrong kind, another RSA key, no key
 * store, and bit flips of the wrapped key, each with its exact reason. */
static void test_rsa(const sim_keystore_t *ks)
{
    size_t len = 0;
    uint8_t *p18 = slurp(dir, "images/p18_rsa2048_enc_rsa2048.bin", &len);
    size_t len12 = 0;
    uint8_t *p12 = slurp(dir, "images/p12_ed25519_enc_x25519_aes128.bin", &len12);
    CHECK(p18 && p12, "p18, p12");
    if (!p18 || !p12) {
        free(p18);
        free(p12);
        return;
    }
    sim_keystore_t only_ecc = {0}, only_rsa = {0}, other = {0};
    only_ecc.x25519 = ks->x25519;
    only_ecc.p256 = ks->p256;
    only_rsa.rsa = ks->rsa;
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    psa_set_key_type(&a, PSA_KEY_TYPE_RSA_KEY_PAIR);
    psa_set_key_bits(&a, 2048);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DECRYPT);
    psa_set_key_algorithm(&a, PSA_ALG_RSA_OAEP(PSA_ALG_SHA_256));
    CHECK_EQ(psa_generate_key(&a, &id), PSA_SUCCESS);
    other.rsa = id;
    molt_decrypt_t full = {sim_keystore_ecdh, (void *)ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t d_ecc = {sim_keystore_ecdh, &only_ecc, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t d_rsa = {sim_keystore_ecdh, &only_rsa, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t d_other = {sim_keystore_ecdh, &other, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t ecdh_only = {sim_keystore_ecdh, (void *)ks, NULL, 0, NULL};
    molt_decrypt_t rsa_only = {NULL, (void *)ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_decrypt_t none = {NULL, NULL, NULL, 0, NULL};

    CHECK_EQ(verify_img(p18, len, &full, MOLT_ROLE_UPLOAD, NULL), MOLT_OK);
    CHECK_EQ(verify_img(p18, len, &d_rsa, MOLT_ROLE_UPLOAD, NULL), MOLT_OK);
    CHECK_EQ(verify_img(p18, len, &rsa_only, MOLT_ROLE_UPLOAD, NULL), MOLT_OK);
    CHECK_EQ(verify_img(p18, len, &d_ecc, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG);     /* store has no RSA key */
    CHECK_EQ(verify_img(p18, len, &ecdh_only, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG); /* port has no RSA hook */
    CHECK_EQ(verify_img(p18, len, &d_other, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_UNWRAP);
    CHECK_EQ(verify_img(p18, len, &none, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_NO_KEY);
    /* and the other way round: an RSA-only device and an ECIES image */
    CHECK_EQ(verify_img(p12, len12, &d_rsa, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG);
    CHECK_EQ(verify_img(p12, len12, &rsa_only, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG);

    /* One bit flip in each byte of the 256-byte OAEP block (bit = byte mod 8):
     * OAEP's integrity check refuses every one. */
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    uint32_t toff = 0, tlen = 0;
    molt_source_from_mem(&src, &mem, p18, (uint32_t)len);
    CHECK_EQ(molt_image_parse(&src, &im), MOLT_OK);
    molt_tlv_iter_init(&it, &src, &im);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more)
        if (t.type == MOLT_TLV_ENC_RSA2048) {
            toff = t.off;
            tlen = t.len;
        }
    CHECK(toff != 0 && tlen == 256, "ENC_RSA2048 TLV of 256 bytes");
    int flips = 0, unwrap = 0;
    for (uint32_t i = 0; toff && i < tlen; i++) {
        uint8_t m = (uint8_t)(1u << (i % 8));
        p18[toff + i] ^= m;
        molt_err_t err = verify_img(p18, len, &full, MOLT_ROLE_UPLOAD, NULL);
        p18[toff + i] ^= m;
        flips++;
        unwrap += err == MOLT_E_ENC_UNWRAP;
        if (err != MOLT_E_ENC_UNWRAP)
            fprintf(stderr, "RSA key TLV flip byte %u: %s\n", i, molt_err_name(err));
    }
    CHECK_EQ(unwrap, flips);
    CHECK_EQ(flips, 256);
    printf("RSA-OAEP: p18 with the RSA key OK; ECC-only ENC_ALG, another RSA key ENC_UNWRAP, none ENC_NO_KEY; "
           "wrapped-key bit flips ENC_UNWRAP %d/%d\n", unwrap, flips);
    sim_keystore_free(&other);
    free(p18);
    free(p12);
}

int main(void)
{
    static const char *trusted[] = {"sign-ecdsa-p256", "sign-ed25519", "sign-rsa-2048", "sign-ecdsa-p384"};
    uint8_t *der[4];
    char name[256], line[8192], *c[MAX_COLS], *h[MAX_COLS], header[8192];
    dir = getenv("VECTORS") ? getenv("VECTORS") : MOLT_VECTORS;
    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        snprintf(name, sizeof name, "keys/%s.pub.der", trusted[i]);
        der[i] = slurp(dir, name, &len);
        CHECK(der[i] != NULL, "missing %s", name);
        if (!der[i])
            return check_done();
        keys[i] = (molt_key_t){der[i], len};
    }
    ring = (molt_keyring_t){keys, 4};

    /* The device: both ECIES keys and the RSA-OAEP key in a key store that
     * refuses export (R-ASSETS). */
    sim_keystore_t ks = {0};
    CHECK(harness_add_pem(&ks, dir, "keys/enc-x25519.pem"), "load enc-x25519");
    CHECK(harness_add_pem(&ks, dir, "keys/enc-ecdsa-p256.pem"), "load enc-ecdsa-p256");
    CHECK(harness_add_pem(&ks, dir, "keys/enc-rsa-2048.pem"), "load enc-rsa-2048");
    {
        uint8_t out[2048];
        size_t olen = 0;
        CHECK(psa_export_key((psa_key_id_t)ks.x25519, out, sizeof out, &olen) == PSA_ERROR_NOT_PERMITTED &&
                  psa_export_key((psa_key_id_t)ks.p256, out, sizeof out, &olen) == PSA_ERROR_NOT_PERMITTED &&
                  psa_export_key((psa_key_id_t)ks.rsa, out, sizeof out, &olen) == PSA_ERROR_NOT_PERMITTED,
              "device private keys must not be exportable");
        /* The RSA key store key is for OAEP decryption only: no PKCS#1 v1.5, no signing. */
        uint8_t ct[256] = {0}, pt[256];
        CHECK(psa_asymmetric_decrypt((psa_key_id_t)ks.rsa, PSA_ALG_RSA_PKCS1V15_CRYPT, ct, sizeof ct, NULL, 0, pt,
                                     sizeof pt, &olen) == PSA_ERROR_NOT_PERMITTED,
              "the RSA key is bound to RSA-OAEP-SHA-256");
    }
    molt_decrypt_t dec = {sim_keystore_ecdh, &ks, NULL, 0, sim_keystore_rsa_unwrap};

    /* Every encrypted positive of MANIFEST (except --clear), RSA-OAEP included. */
    snprintf(name, sizeof name, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(name, "r");
    CHECK(f != NULL, "MANIFEST.tsv");
    if (!f)
        return check_done();
    int hn = fgets(header, sizeof header, f) ? harness_split(header, h, MAX_COLS) : 0;
    int ci_file = -1, ci_cat = -1, ci_enc = -1, ci_pl = -1, ci_key = -1, ci_role = -1;
    for (int i = 0; i < hn; i++) {
        if (!strcmp(h[i], "file")) ci_file = i;
        if (!strcmp(h[i], "category")) ci_cat = i;
        if (!strcmp(h[i], "enc_key")) ci_enc = i;
        if (!strcmp(h[i], "payload")) ci_pl = i;
        if (!strcmp(h[i], "aes_content_key")) ci_key = i;
        if (!strcmp(h[i], "slot_role")) ci_role = i;
    }
    int ecies = 0, rsa = 0;
    while (fgets(line, sizeof line, f)) {
        int n = harness_split(line, c, MAX_COLS);
        if (n <= ci_key || ci_file < 0 || ci_cat < 0 || ci_enc < 0 || ci_pl < 0 || ci_role < 0)
            continue;
        if (strcmp(c[ci_cat], "positive") || !strcmp(c[ci_enc], "-") || strstr(c[ci_role], "primary only"))
            continue;
        if (!strcmp(c[ci_enc], "enc-rsa-2048"))
            rsa++;
        else
            ecies++;
        check_vector(c[ci_file], c[ci_pl], c[ci_key], &dec);
    }
    fclose(f);
    CHECK_EQ(ecies, 5);
    CHECK_EQ(rsa, 1);
    printf("encrypted vectors decrypted exactly: %d (content key, payload, hash, signature)\n", n_vectors);

    /* Device keys of the wrong curve, or the wrong key of the right curve. */
    size_t len = 0;
    uint8_t *p12 = slurp(dir, "images/p12_ed25519_enc_x25519_aes128.bin", &len);
    size_t len15 = 0;
    uint8_t *p15 = slurp(dir, "images/p15_ecdsa_p256_enc_ec256_aes128_pad.bin", &len15);
    size_t len2 = 0;
    uint8_t *p02 = slurp(dir, "images/p02_ecdsa_p256.bin", &len2);
    CHECK(p12 && p15 && p02, "vectors");
    if (p12 && p15 && p02) {
        sim_keystore_t only_ec = {0}, other = {0};
        only_ec.p256 = ks.p256;
        other.x25519 = fresh_key(false);
        molt_decrypt_t d1 = {sim_keystore_ecdh, &only_ec, NULL, 0, sim_keystore_rsa_unwrap}, d2 = {sim_keystore_ecdh, &other, NULL, 0, sim_keystore_rsa_unwrap};
        molt_decrypt_t none = {NULL, NULL, NULL, 0, NULL};
        CHECK_EQ(verify_img(p12, len, &d1, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_ALG);
        CHECK_EQ(verify_img(p12, len, &d2, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_UNWRAP);
        CHECK_EQ(verify_img(p12, len, &none, MOLT_ROLE_UPLOAD, NULL), MOLT_E_ENC_NO_KEY);
        sim_keystore_free(&other);

        /* Every single-bit flip of the key TLV: the content key does not unwrap. */
        int flips = 0, unwrap = 0;
        struct { uint8_t *img; size_t len; size_t tlv_len; } v[2] = {{p12, len, 80}, {p15, len15, 113}};
        for (int k = 0; k < 2; k++) {
            molt_source_t src;
            molt_mem_source_t mem;
            molt_image_t im;
            molt_tlv_iter_t it;
            molt_tlv_t t;
            bool more;
            uint32_t toff = 0;
            molt_source_from_mem(&src, &mem, v[k].img, (uint32_t)v[k].len);
            CHECK_EQ(molt_image_parse(&src, &im), MOLT_OK);
            molt_tlv_iter_init(&it, &src, &im);
            while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more)
                if (t.type == MOLT_TLV_ENC_X25519 || t.type == MOLT_TLV_ENC_EC256)
                    toff = t.off;
            CHECK(toff != 0, "key TLV found");
            for (size_t i = 0; toff && i < v[k].tlv_len; i++) {
                for (int bit = 0; bit < 8; bit++) {
                    v[k].img[toff + i] ^= (uint8_t)(1u << bit);
                    molt_err_t err = verify_img(v[k].img, v[k].len, &dec, MOLT_ROLE_UPLOAD, NULL);
                    v[k].img[toff + i] ^= (uint8_t)(1u << bit);
                    /* X25519 ignores the top bit of a u-coordinate (RFC 7748 §5): that
                     * one flip yields the same shared secret, key and plaintext. */
                    molt_err_t want = (k == 0 && i == 31 && bit == 7) ? MOLT_OK : MOLT_E_ENC_UNWRAP;
                    flips++;
                    unwrap += err == want;
                    if (err != want)
                        fprintf(stderr, "key TLV flip %d byte %zu bit %d: %s\n", k, i, bit, molt_err_name(err));
                }
            }
        }
        CHECK_EQ(unwrap, flips);
        printf("key-TLV bit flips with the exact verdict (ENC_UNWRAP; OK for the X25519 u-coordinate top bit): %d/%d\n", unwrap, flips);

        /* PSA_FWU_FLAG_ENCRYPTION: plaintext refused, encrypted accepted. */
        molt_policy_t pol;
        molt_source_t src;
        molt_mem_source_t mem;
        molt_policy_default(&pol);
        pol.require_encryption = true;
        pol.dec = &dec;
        molt_source_from_mem(&src, &mem, p02, (uint32_t)len2);
        CHECK_EQ(molt_verify(&src, &ring, &pol, NULL), MOLT_E_ENC_REQUIRED);
        molt_source_from_mem(&src, &mem, p12, (uint32_t)len);
        CHECK_EQ(molt_verify(&src, &ring, &pol, NULL), MOLT_OK);
    }
    free(p12);
    free(p15);
    free(p02);

    test_rsa(&ks);
    test_envelopes(&dec);
    sim_keystore_free(&ks);
    for (int i = 0; i < 4; i++)
        free(der[i]);
    return check_done();
}
