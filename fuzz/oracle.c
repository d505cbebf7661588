/*
 * oracle.c - the false-accept oracle (oracle.h): OpenSSL only, no lib/ code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "oracle.h"
#include "slurp.h"
#include "pem.h"
#include "sim_keystore.h"

static const char *const key_names[] = {"sign-ecdsa-p256", "sign-ed25519", "sign-rsa-2048", "sign-ecdsa-p384"};
#define NKEYS (sizeof key_names / sizeof key_names[0])

static molt_key_t g_keys[NKEYS];
static molt_keyring_t g_ring;
static EVP_PKEY *g_evp[NKEYS];

uint8_t *fuzz_slurp(const char *path, size_t *len) { return slurp(NULL, path, len); }

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "fuzz oracle: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    abort();
}

void fuzz_keys_load(void)
{
    if (g_ring.keys)
        return;
    char path[1024];
    for (size_t i = 0; i < NKEYS; i++) {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/keys/%s.pub.der", MOLT_VECTORS, key_names[i]);
        uint8_t *der = fuzz_slurp(path, &n);
        if (!der)
            die("cannot read %s", path);
        g_keys[i] = (molt_key_t){der, n};
        snprintf(path, sizeof path, "%s/keys/%s.pub.pem", MOLT_VECTORS, key_names[i]);
        FILE *f = fopen(path, "r");
        g_evp[i] = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        if (!g_evp[i])
            die("cannot load %s", path);
    }
    g_ring = (molt_keyring_t){g_keys, NKEYS};
}

const molt_keyring_t *fuzz_keyring(void)
{
    fuzz_keys_load();
    return &g_ring;
}

static sim_keystore_t g_ks;
static molt_decrypt_t g_dec;

const molt_decrypt_t *fuzz_decrypt(void)
{
    static const char *const enc[] = {"enc-x25519", "enc-ecdsa-p256", "enc-rsa-2048"};
    if (g_dec.ecdh)
        return &g_dec;
    char path[1024];
    for (size_t i = 0; i < 3; i++) {
        size_t n = 0, dlen = 0;
        snprintf(path, sizeof path, "%s/keys/%s.pem", MOLT_VECTORS, enc[i]);
        uint8_t *pem = fuzz_slurp(path, &n);
        char *z = pem ? realloc(pem, n + 1) : NULL;
        if (!z)
            die("cannot read %s", path);
        z[n] = '\0';
        uint8_t *der = pem_to_der(z, &dlen);
        if (!der || sim_keystore_add_pkcs8(&g_ks, der, dlen) != MOLT_OK)
            die("cannot load %s into the key store", path);
        free(der);
        free(z);
    }
    g_dec = (molt_decrypt_t){sim_keystore_ecdh, &g_ks, NULL, 0, sim_keystore_rsa_unwrap};
    return &g_dec;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

bool oracle_layout(const uint8_t *img, size_t len, uint32_t *unprot_off, uint32_t *end)
{
    if (len < 32 || le32(img) != 0x96f3b83du)
        return false;
    uint64_t hdr = le16(img + 8), prot = le16(img + 10), isz = le32(img + 12);
    uint64_t off = hdr + isz;
    if (hdr < 32 || off > len)
        return false;
    if (prot) {
        if (off + 4 > len || le16(img + off) != 0x6908 || le16(img + off + 2) != prot)
            return false;
        off += prot;
    }
    if (off + 4 > len || le16(img + off) != 0x6907)
        return false;
    uint64_t e = off + le16(img + off + 2);
    if (e > len || e < off + 4)
        return false;
    *unprot_off = (uint32_t)off;
    *end = (uint32_t)e;
    return true;
}

/* The TLVs of an area [from, to): calls f for each; false if they do not tile it. */
typedef struct tlv { uint16_t type, len; const uint8_t *v; bool prot; } tlv_t;
static size_t tlvs(const uint8_t *img, uint32_t from, uint32_t to, bool prot, tlv_t *out, size_t cap, size_t n)
{
    uint32_t p = from;
    while (p + 4 <= to && n < cap) {
        tlv_t t = {le16(img + p), le16(img + p + 2), img + p + 4, prot};
        if ((uint64_t)p + 4 + t.len > to)
            break;
        out[n++] = t;
        p += 4u + t.len;
    }
    return n;
}

static bool verify_one(EVP_PKEY *k, uint16_t type, const uint8_t *sig, size_t slen, const uint8_t *digest, size_t dlen,
                       const uint8_t *region, size_t rlen, bool pure)
{
    bool ok = false;
    int id = EVP_PKEY_get_base_id(k);
    if (type == 0x24 && id == EVP_PKEY_ED25519) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        const uint8_t *msg = pure ? region : digest;
        size_t mlen = pure ? rlen : dlen;
        ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 && EVP_DigestVerify(md, sig, slen, msg, mlen) == 1;
        EVP_MD_CTX_free(md);
        return ok;
    }
    if (pure)
        return false;
    const EVP_MD *h = dlen == 32 ? EVP_sha256() : dlen == 48 ? EVP_sha384() : dlen == 64 ? EVP_sha512() : NULL;
    if (!h)
        return false;
    bool ec = type == 0x22 && id == EVP_PKEY_EC, rsa = (type == 0x20 || type == 0x23) && id == EVP_PKEY_RSA;
    if (!ec && !rsa)
        return false;
    if (rsa && ((type == 0x20) != (EVP_PKEY_get_bits(k) == 2048) || dlen != 32))
        return false;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    ok = c && EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, h) == 1;
    if (ok && rsa)
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32) == 1;
    ok = ok && EVP_PKEY_verify(c, sig, slen, digest, dlen) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

void oracle_accepted(const uint8_t *img, size_t len, const oracle_policy_t *pol, const molt_verify_result_t *res)
{
    uint32_t uoff, end;
    if (!oracle_layout(img, len, &uoff, &end))
        die("%s: accepted, but the layout is not well formed", "image");
    if (pol->require_signature && pol->no_keys)
        die("%s: accepted a signed image with no trusted key", "image");
    uint32_t hdr = le16(img + 8), prot = le16(img + 10), isz = le32(img + 12), flags = le32(img + 16);
    tlv_t t[256];
    size_t n = 0;
    if (prot)
        n = tlvs(img, hdr + isz + 4, uoff, true, t, 256, 0);
    n = tlvs(img, uoff + 4, end, false, t, 256, n);

    /* Exactly one hash TLV; its value is what the hash must be. */
    const tlv_t *ht = NULL;
    int nh = 0;
    bool pure = false;
    for (size_t i = 0; i < n; i++) {
        if (t[i].type >= 0x10 && t[i].type <= 0x12) {
            ht = &t[i];
            nh++;
        }
        if (t[i].type == 0x25 && !t[i].prot)
            pure = true;
    }
    if (nh != 1)
        die("%s: accepted without exactly one hash TLV", "image");
    const EVP_MD *md = ht->type == 0x10 ? EVP_sha256() : ht->type == 0x11 ? EVP_sha384() : EVP_sha512();
    if ((size_t)EVP_MD_get_size(md) != ht->len)
        die("%s: accepted with a hash TLV of the wrong length", "image");
    if (res && (res->hash_len != ht->len || memcmp(res->hash, ht->v, ht->len) != 0))
        die("%s: accepted, but libmolt's computed hash is not the hash TLV", "image");
    bool encrypted = (flags & 0xcu) != 0;
    if (!res || !res->decrypted) {
        uint8_t h[64];
        unsigned hl = 0;
        if (!EVP_Digest(img, uoff, h, &hl, md, NULL) || hl != ht->len || memcmp(h, ht->v, hl) != 0)
            die("%s: accepted, but the hashed region does not hash (OpenSSL) to the hash TLV", "image");
    } else if (!encrypted) {
        die("%s: reported decrypted, but no encryption flag is set", "image");
    }

    if (pol->require_signature) {
        bool good = false;
        for (size_t i = 0; i < n && !good; i++) {
            if (t[i].prot || !(t[i].type == 0x20 || t[i].type == 0x22 || t[i].type == 0x23 || t[i].type == 0x24))
                continue;
            for (size_t k = 0; k < NKEYS && !good; k++)
                good = verify_one(g_evp[k], t[i].type, t[i].v, t[i].len, ht->v, ht->len, img, uoff,
                                  pure && t[i].type == 0x24);
        }
        if (!good)
            die("%s: accepted, but no signature TLV verifies (OpenSSL) under a trusted key", "image");
        if (res && !res->signed_ok)
            die("%s: accepted as signed, but the result says signed_ok = false", "image");
    }

    uint32_t sec = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].prot && t[i].type == 0x50 && t[i].len == 4)
            sec = le32(t[i].v);
    if (pol->check_sec_cnt && sec < pol->min_sec_cnt)
        die("%s: accepted below the security counter floor", "image");
    if (pol->check_version) {
        const uint8_t *v = img + 20;
        uint64_t have = (uint64_t)v[0] << 56 | (uint64_t)v[1] << 48 | (uint64_t)le16(v + 2) << 32 | le32(v + 4);
        const molt_version_t *m = &pol->min_version;
        uint64_t want = (uint64_t)m->major << 56 | (uint64_t)m->minor << 48 | (uint64_t)m->revision << 32 | m->build;
        if (have < want)
            die("%s: accepted below the version floor (downgrade)", "image");
    }
}
