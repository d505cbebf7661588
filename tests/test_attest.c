/*
 * test_attest.c - lib/cbor (deterministic encoder) and lib/attest (the PSA
 * attestation token) on the simulator port.
 *
 * R-ATTEST: the encoder reproduces RFC 8949 Appendix A byte for byte; the token
 * is exactly the COSE_Sign1 layout of molt/attest.h (every payload byte is
 * rebuilt here from its parts and compared), its ES256 signature verifies over
 * the Sig_structure with the device's public key, the challenge sizes are
 * enforced, only valid images are measured, and the boot seed changes at a
 * reset. R-ASSETS: the IAK's private scalar is in no flash area, and libmolt
 * only reaches it through the port's attest_sign.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <psa/crypto.h>

#include "cbor.h"
#include "check.h"
#include "molt/attest.h"
#include "molt/boot.h"
#include "sim_port.h"
#include "slurp.h"

/* --- the encoder: RFC 8949 Appendix A --------------------------------------- */

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

#define ENC(expr_hex, ...)                                                                        \
    do {                                                                                          \
        uint8_t buf_[128], want_[128];                                                            \
        molt_cbor_t c_;                                                                           \
        size_t n_ = 0, w_ = unhex(expr_hex, want_);                                               \
        molt_cbor_init(&c_, buf_, sizeof buf_);                                                   \
        __VA_ARGS__;                                                                              \
        CHECK(molt_cbor_finish(&c_, &n_) == MOLT_OK && n_ == w_ && memcmp(buf_, want_, w_) == 0, \
              "encoding %s", expr_hex);                                                           \
    } while (0)

static void check_rfc8949_vectors(void)
{
    ENC("00", molt_cbor_uint(&c_, 0));
    ENC("01", molt_cbor_uint(&c_, 1));
    ENC("0a", molt_cbor_uint(&c_, 10));
    ENC("17", molt_cbor_uint(&c_, 23));
    ENC("1818", molt_cbor_uint(&c_, 24));
    ENC("1819", molt_cbor_uint(&c_, 25));
    ENC("1864", molt_cbor_uint(&c_, 100));
    ENC("1903e8", molt_cbor_uint(&c_, 1000));
    ENC("1a000f4240", molt_cbor_uint(&c_, 1000000));
    ENC("1b000000e8d4a51000", molt_cbor_uint(&c_, 1000000000000ull));
    ENC("1bffffffffffffffff", molt_cbor_uint(&c_, UINT64_MAX));
    ENC("20", molt_cbor_int(&c_, -1));
    ENC("29", molt_cbor_int(&c_, -10));
    ENC("3863", molt_cbor_int(&c_, -100));
    ENC("3903e7", molt_cbor_int(&c_, -1000));
    ENC("3b7fffffffffffffff", molt_cbor_int(&c_, INT64_MIN)); /* -2^63 */
    ENC("1903e8", molt_cbor_int(&c_, 1000));
    ENC("40", molt_cbor_bstr(&c_, "", 0));
    ENC("4401020304", molt_cbor_bstr(&c_, "\x01\x02\x03\x04", 4));
    ENC("60", molt_cbor_tstr_z(&c_, ""));
    ENC("6161", molt_cbor_tstr_z(&c_, "a"));
    ENC("6449455446", molt_cbor_tstr_z(&c_, "IETF"));
    ENC("62225c", molt_cbor_tstr_z(&c_, "\"\\"));
    ENC("62c3bc", molt_cbor_tstr_z(&c_, "\xc3\xbc"));         /* "ü" */
    ENC("63e6b0b4", molt_cbor_tstr_z(&c_, "\xe6\xb0\xb4"));   /* "水" */
    ENC("f4", molt_cbor_bool(&c_, false));
    ENC("f5", molt_cbor_bool(&c_, true));
    ENC("f6", molt_cbor_null(&c_));
    ENC("80", molt_cbor_array(&c_, 0));
    ENC("83010203", molt_cbor_array(&c_, 3); molt_cbor_uint(&c_, 1); molt_cbor_uint(&c_, 2); molt_cbor_uint(&c_, 3));
    ENC("8301820203820405", molt_cbor_array(&c_, 3); molt_cbor_uint(&c_, 1); molt_cbor_array(&c_, 2);
        molt_cbor_uint(&c_, 2); molt_cbor_uint(&c_, 3); molt_cbor_array(&c_, 2); molt_cbor_uint(&c_, 4);
        molt_cbor_uint(&c_, 5));
    ENC("98190102030405060708090a0b0c0d0e0f101112131415161718181819", molt_cbor_array(&c_, 25);
        for (unsigned i_ = 1; i_ <= 25; i_++) molt_cbor_uint(&c_, i_));
    ENC("a0", molt_cbor_map(&c_, 0));
    ENC("a201020304", molt_cbor_map(&c_, 2); molt_cbor_uint(&c_, 1); molt_cbor_uint(&c_, 2); molt_cbor_uint(&c_, 3);
        molt_cbor_uint(&c_, 4));
    ENC("a26161016162820203", molt_cbor_map(&c_, 2); molt_cbor_tstr_z(&c_, "a"); molt_cbor_uint(&c_, 1);
        molt_cbor_tstr_z(&c_, "b"); molt_cbor_array(&c_, 2); molt_cbor_uint(&c_, 2); molt_cbor_uint(&c_, 3));
    ENC("c074323031332d30332d32315432303a30343a30305a", molt_cbor_tag(&c_, 0);
        molt_cbor_tstr_z(&c_, "2013-03-21T20:04:00Z"));
    ENC("c11a514b67b0", molt_cbor_tag(&c_, 1); molt_cbor_uint(&c_, 1363896240));
    ENC("d74401020304", molt_cbor_tag(&c_, 23); molt_cbor_bstr(&c_, "\x01\x02\x03\x04", 4));
    ENC("d818456449455446", molt_cbor_tag(&c_, 24); molt_cbor_bstr(&c_, "\x64IETF", 5));
    ENC("d82076687474703a2f2f7777772e6578616d706c652e636f6d", molt_cbor_tag(&c_, 32);
        molt_cbor_tstr_z(&c_, "http://www.example.com"));
    /* COSE: the ES256 protected header of RFC 9052/9783 examples */
    ENC("a10126", molt_cbor_map(&c_, 1); molt_cbor_uint(&c_, 1); molt_cbor_int(&c_, -7));
    ENC("d2", molt_cbor_tag(&c_, 18));
    ENC("3a000128df", molt_cbor_int(&c_, MOLT_ATTEST_CLAIM_SECURITY_COUNTER));
}

/* Sizing pass and overflow: exact length with no buffer; nothing written past cap. */
static void check_encoder_bounds(void)
{
    uint8_t buf[16];
    molt_cbor_t c;
    size_t n = 0;

    molt_cbor_init(&c, NULL, 0);
    molt_cbor_bstr(&c, "0123456789abcdefghij", 20); /* 1 + 20 */
    molt_cbor_uint(&c, 70000);                      /* 5 */
    CHECK_EQ(molt_cbor_finish(&c, &n), MOLT_E_BUFFER);
    CHECK_EQ(n, 26);

    memset(buf, 0xee, sizeof buf);
    molt_cbor_init(&c, buf, 8);
    molt_cbor_bstr(&c, "0123456789", 10); /* does not fit in 8 */
    molt_cbor_uint(&c, 1);                /* would fit, but overflow is sticky */
    CHECK_EQ(molt_cbor_finish(&c, &n), MOLT_E_BUFFER);
    CHECK_EQ(n, 12);
    CHECK(buf[8] == 0xee && buf[15] == 0xee, "wrote past cap");
    CHECK(buf[0] == 0x4a, "head written while it fitted");

    molt_cbor_init(&c, buf, 12);
    molt_cbor_bstr(&c, "0123456789", 10);
    molt_cbor_uint(&c, 1);
    CHECK_EQ(molt_cbor_finish(&c, &n), MOLT_OK);
    CHECK_EQ(n, 12);
}

/* --- the token on a simulated device ------------------------------------- */

/* First occurrence of needle in hay, or NULL (memmem is not POSIX). */
static const void *find(const void *hay, size_t n, const void *needle, size_t m)
{
    const uint8_t *h = hay;
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(h + i, needle, m) == 0)
            return h + i;
    return NULL;
}

static molt_key_t g_key;
static uint8_t *g_old, *g_new;
static size_t g_old_len, g_new_len;

static void sha256(const void *p, size_t n, uint8_t out[32])
{
    size_t len = 0;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, p, n, out, 32, &len) == PSA_SUCCESS && len == 32, "sha256");
}

static void put_image(sim_device_t *d, uint32_t slot, uint32_t off, const uint8_t *img, size_t len)
{
    CHECK_EQ(sim_device_program(d, slot, off, img, len), MOLT_OK);
}

/* The hash molt_verify computes, via the library itself (what the verifier sees). */
static void image_hash(const uint8_t *img, size_t len, uint8_t out[32]);

static molt_err_t mem_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    memcpy(buf, (const uint8_t *)ctx + off, len);
    return MOLT_OK;
}

static void image_hash(const uint8_t *img, size_t len, uint8_t out[32])
{
    molt_source_t src = {mem_read, (void *)img, (uint32_t)len};
    molt_policy_t pol;
    molt_verify_result_t r;
    molt_keyring_t ring = {&g_key, 1};
    molt_policy_default(&pol);
    CHECK_EQ(molt_verify(&src, &ring, &pol, &r), MOLT_OK);
    CHECK_EQ(r.hash_len, 32);
    memcpy(out, r.hash, 32);
}

/* Append the CBOR of one piece to an expected-bytes buffer. */
typedef struct exp_buf { uint8_t b[MOLT_ATTEST_TOKEN_MAX]; molt_cbor_t c; } exp_buf_t;

static void expect_component(molt_cbor_t *c, const char *type, const uint8_t hash[32], const char *ver,
                             const uint8_t keyhash[32])
{
    /* written with literal heads, not the encoder's helpers: a5 01 <type> 02 58 20 ... */
    uint8_t h[2];
    molt_cbor_raw(c, "\xa5\x01", 2);
    h[0] = (uint8_t)(0x60 + strlen(type));
    molt_cbor_raw(c, h, 1);
    molt_cbor_raw(c, type, strlen(type));
    molt_cbor_raw(c, "\x02\x58\x20", 3);
    molt_cbor_raw(c, hash, 32);
    molt_cbor_raw(c, "\x04", 1);
    h[0] = (uint8_t)(0x60 + strlen(ver));
    molt_cbor_raw(c, h, 1);
    molt_cbor_raw(c, ver, strlen(ver));
    molt_cbor_raw(c, "\x05\x58\x20", 3);
    molt_cbor_raw(c, keyhash, 32);
    molt_cbor_raw(c, "\x06\x67sha-256", 9);
}

static void check_token(void)
{
    sim_layout_t l;
    sim_device_t dev;
    molt_keyring_t ring = {&g_key, 1};
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
    molt_boot_result_t br;
    uint8_t nonce[64], tok[MOLT_ATTEST_TOKEN_MAX], tok2[MOLT_ATTEST_TOKEN_MAX], kid[32], impl[32];
    uint8_t h_old[32], h_new[32], keyhash[32];
    size_t len = 0, len2 = 0, kh_len = 0;

    for (unsigned i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(0xa0 + i);
    uint8_t *kh = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.keyhash-sha256.bin", &kh_len);
    CHECK(kh != NULL && kh_len == 32, "keyhash vector");
    if (kh == NULL || kh_len != 32)
        return;
    memcpy(keyhash, kh, 32);
    free(kh);
    image_hash(g_old, g_old_len, h_old);
    image_hash(g_new, g_new_len, h_new);
    sha256("molt sim port", 13, impl);

    CHECK_EQ(sim_layout_uniform(&l, 4096, 8, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&dev, &l, &ring), MOLT_OK);
    CHECK(dev.port.attest_sign != NULL && dev.port.attest_pub != NULL && dev.port.attest_pub[0] == 0x04,
          "the sim port provisions an IAK");
    sha256(dev.port.attest_pub, 65, kid);

    molt_attest_req_t req = {nonce, 32, -1, MOLT_AREA_PRIMARY, cfg};
    /* nothing valid in the running slot: refused, nothing written */
    memset(tok, 0x5a, sizeof tok);
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok, sizeof tok, &len), MOLT_E_ATTEST_NO_MEASUREMENT);
    CHECK(len == 0 && tok[0] == 0x5a, "no output on refusal");

    put_image(&dev, MOLT_AREA_PRIMARY, 0, g_old, g_old_len);
    memset(&br, 0, sizeof br);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &br), MOLT_OK);
    req.running_slot = br.slot;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok, sizeof tok, &len), MOLT_OK);

    /* Expected bytes, assembled from the parts (molt/attest.h layout). */
    exp_buf_t *p = calloc(1, sizeof *p), *t = calloc(1, sizeof *t);
    molt_cbor_init(&p->c, p->b, sizeof p->b);
    molt_cbor_raw(&p->c, "\xa9\x0a\x58\x20", 4);
    molt_cbor_raw(&p->c, nonce, 32);
    molt_cbor_raw(&p->c, "\x19\x01\x00\x58\x21\x01", 6);
    molt_cbor_raw(&p->c, kid, 32);
    molt_cbor_raw(&p->c, "\x19\x01\x09\x78\x21tag:psacertified.org,2023:psa#tfm", 5 + 33);
    molt_cbor_raw(&p->c, "\x19\x01\x0c\x58\x20", 5);
    molt_cbor_raw(&p->c, dev.port.attest_boot_seed, 32);
    molt_cbor_raw(&p->c, "\x19\x09\x5a\x20", 4);             /* client id -1 */
    molt_cbor_raw(&p->c, "\x19\x09\x5b\x19\x30\x00", 6);     /* lifecycle 0x3000 */
    molt_cbor_raw(&p->c, "\x19\x09\x5c\x58\x20", 5);
    molt_cbor_raw(&p->c, impl, 32);
    molt_cbor_raw(&p->c, "\x19\x09\x5f\x81", 4);             /* one component */
    expect_component(&p->c, "App", h_old, "0.9.0+0", keyhash);
    molt_cbor_raw(&p->c, "\x3a\x00\x01\x28\xdf\x01", 6);     /* -76000: counter 1 */
    size_t plen = p->c.len;
    CHECK(plen > 255 && plen < 65536, "payload size %zu", plen);
    molt_cbor_init(&t->c, t->b, sizeof t->b);
    molt_cbor_raw(&t->c, "\xd2\x84\x43\xa1\x01\x26\xa1\x04\x58\x20", 10);
    molt_cbor_raw(&t->c, kid, 32);
    uint8_t ph[3] = {0x59, (uint8_t)(plen >> 8), (uint8_t)plen};
    molt_cbor_raw(&t->c, ph, 3);
    molt_cbor_raw(&t->c, p->b, plen);
    molt_cbor_raw(&t->c, "\x58\x40", 2);
    CHECK_EQ(len, t->c.len + 64);
    CHECK(len == t->c.len + 64 && memcmp(tok, t->b, t->c.len) == 0, "token bytes differ from the layout");

    /* The signature: ES256 over SHA-256(["Signature1", h'A10126', h'', payload]). */
    uint8_t *sig_structure = malloc(17 + 3 + plen), digest[32];
    memcpy(sig_structure, "\x84\x6aSignature1\x43\xa1\x01\x26\x40", 17);
    memcpy(sig_structure + 17, ph, 3);
    memcpy(sig_structure + 20, p->b, plen);
    sha256(sig_structure, 20 + plen, digest);
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t pub = 0;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_VERIFY_HASH);
    psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_import_key(&at, dev.port.attest_pub, 65, &pub) == PSA_SUCCESS, "import IAK public key");
    CHECK(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), digest, 32, tok + len - 64, 64) == PSA_SUCCESS,
          "token signature verifies");
    tok[len - 1] ^= 1;
    CHECK(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), digest, 32, tok + len - 64, 64) ==
              PSA_ERROR_INVALID_SIGNATURE, "a changed signature does not");
    tok[len - 1] ^= 1;
    psa_destroy_key(pub);
    free(sig_structure);

    /* Deterministic: the same request gives the same bytes up to the signature. */
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK(len2 == len && memcmp(tok, tok2, len - 64) == 0, "payload not deterministic");

    /* Buffer sizing: too small -> BUFFER with the size needed; exact -> OK. */
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, len - 1, &len2), MOLT_E_BUFFER);
    CHECK_EQ(len2, len);
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, NULL, 0, &len2), MOLT_E_BUFFER);
    CHECK_EQ(len2, len);
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, len, &len2), MOLT_OK);

    /* Challenge sizes: only 32, 48, 64. */
    static const size_t sizes[] = {0, 1, 16, 31, 33, 47, 49, 63, 65};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        req.challenge_len = sizes[i];
        CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_E_ATTEST_CHALLENGE);
    }
    req.challenge_len = 48;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK_EQ(len2, len + 16);
    req.challenge_len = 64;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK_EQ(len2, len + 32);
    req.challenge = NULL;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_E_ATTEST_CHALLENGE);
    req.challenge = nonce;
    req.challenge_len = 32;
    req.client_id = 0;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_E_ARG);
    req.client_id = 7; /* SPE caller: 07 */
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK(find(tok2, len2, "\x19\x09\x5a\x07\x19\x09\x5b", 7) != NULL, "client id 7 encoded");
    req.client_id = -1;

    /* A staged image: a second component, "App-inactive", after the running one. */
    put_image(&dev, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&dev.port, &cfg), g_new, g_new_len);
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK(find(tok2, len2, "\x19\x09\x5f\x82\xa5\x01\x63" "App\x02\x58\x20", 12) != NULL, "two components");
    {
        molt_cbor_t c;
        uint8_t comp[200];
        molt_cbor_init(&c, comp, sizeof comp);
        expect_component(&c, "App-inactive", h_new, "1.2.3+4", keyhash);
        CHECK(find(tok2, len2, comp, c.len) != NULL, "staged component bytes");
    }

    /* A reset draws a new boot seed; the IAK stays. */
    uint8_t seed[32], pub_before[65];
    memcpy(seed, dev.port.attest_boot_seed, 32);
    memcpy(pub_before, dev.port.attest_pub, 65);
    CHECK_EQ(sim_device_reboot(&dev), MOLT_OK);
    CHECK(memcmp(seed, dev.port.attest_boot_seed, 32) != 0, "boot seed fresh after a reset");
    CHECK(memcmp(pub_before, dev.port.attest_pub, 65) == 0, "IAK survives a reset");

    /* R-ASSETS: the private scalar is in none of the flash areas (nor the NV sectors). */
    CHECK(find(sim_flash_data(&dev.flash), sim_flash_size(&dev.flash), dev.ks.iak_priv, 32) == NULL,
          "IAK private key found in flash");

    /* Save and load keep the key; another device has another key. */
    char path[] = "test_attest_dev_XXXXXX"; /* in the test's working directory */
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        sim_device_t back;
        close(fd);
        CHECK_EQ(sim_device_save(&dev, path), MOLT_OK);
        CHECK_EQ(sim_device_load(&back, path, &ring, NULL), MOLT_OK);
        CHECK(memcmp(back.port.attest_pub, pub_before, 65) == 0 && back.port.attest_sign != NULL, "IAK saved");
        sim_device_free(&back);
        remove(path);
    }
    sim_device_t other;
    CHECK_EQ(sim_device_init(&other, &l, &ring), MOLT_OK);
    CHECK(memcmp(other.port.attest_pub, pub_before, 65) != 0, "two devices, two IAKs");
    sim_device_free(&other);

    /* A port without attestation, and a key store that fails to sign. */
    molt_port_t bare = dev.port;
    bare.attest_sign = NULL;
    CHECK_EQ(molt_attest_get_token(&bare, &req, tok2, sizeof tok2, &len2), MOLT_E_ATTEST_KEY);
    bare = dev.port;
    bare.attest_pub = NULL;
    CHECK_EQ(molt_attest_get_token(&bare, &req, tok2, sizeof tok2, &len2), MOLT_E_ATTEST_KEY);
    dev.ks.has_iak = false; /* the sim's sign hook then refuses */
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_E_ATTEST_SIGN);
    dev.ks.has_iak = true;

    /* An image below the stored counter is not reported: confirm the new image
     * (counter 5), then the old one (counter 1) in SECONDARY is not measured. */
    CHECK_EQ(molt_request_upgrade(&dev.port, &cfg, true), MOLT_OK);
    CHECK_EQ(molt_boot_go(&dev.port, &cfg, &br), MOLT_OK);
    CHECK_EQ(br.counter, 5);
    req.running_slot = br.slot;
    CHECK_EQ(molt_attest_get_token(&dev.port, &req, tok2, sizeof tok2, &len2), MOLT_OK);
    CHECK(find(tok2, len2, "\x19\x09\x5f\x81", 4) != NULL, "only the running image after the counter moved");
    CHECK(find(tok2, len2, "\x3a\x00\x01\x28\xdf\x05", 6) != NULL, "security counter 5");
    CHECK(find(tok2, len2, h_new, 32) != NULL && find(tok2, len2, h_old, 32) == NULL, "measures the new image");

    free(p);
    free(t);
    sim_device_free(&dev);
}

int main(void)
{
    size_t n = 0;
    uint8_t *der;

    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    check_rfc8949_vectors();
    check_encoder_bounds();
    der = slurp(MOLT_VECTORS, "keys/sign-ecdsa-p256.pub.der", &n);
    g_old = slurp(MOLT_VECTORS, "images/p24_ecdsa_p256_rollback_low.bin", &g_old_len); /* 0.9.0+0, counter 1 */
    g_new = slurp(MOLT_VECTORS, "images/p03_ecdsa_p256_seccnt.bin", &g_new_len);       /* 1.2.3+4, counter 5 */
    CHECK(der && g_old && g_new, "vectors");
    if (der && g_old && g_new) {
        g_key = (molt_key_t){der, n};
        check_token();
    }
    free(der);
    free(g_old);
    free(g_new);
    return check_done();
}
