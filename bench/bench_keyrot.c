/*
 * bench_keyrot.c - figures for trusted-key rotation (molt/keyrot.h,
 * docs/keys.md): what a key-update costs to apply (flash operations, bytes
 * written, time), what the key set in force costs every image judgement (the
 * set is read from flash and the factory keys hashed at each call), and the
 * RAM the port gives the module. Prints figures; never passes or fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <psa/crypto.h>

#include "molt/keyrot.h"
#include "molt_host/keyupdate.h"
#include "molt/verify.h"

static const uint8_t k_spki[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                   0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
typedef struct key {
    psa_key_id_t id;
    uint8_t der[91], hash[32];
} key_t_;

static int key_new(key_t_ *k)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    size_t n = 0;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    memcpy(k->der, k_spki, sizeof k_spki);
    return psa_generate_key(&at, &k->id) == PSA_SUCCESS &&
                   psa_export_public_key(k->id, k->der + 26, 65, &n) == PSA_SUCCESS &&
                   psa_hash_compute(PSA_ALG_SHA_256, k->der, 91, k->hash, 32, &n) == PSA_SUCCESS
               ? 0
               : -1;
}

#define SEC 4096u
static uint8_t g_mem[4 * SEC];
static unsigned g_writes, g_erases, g_bytes;
static molt_err_t rd(void *c, uint32_t off, void *b, size_t n) { (void)c; memcpy(b, g_mem + off, n); return MOLT_OK; }
static molt_err_t wr(void *c, uint32_t off, const void *b, size_t n)
{
    (void)c;
    memcpy(g_mem + off, b, n);
    g_writes++;
    g_bytes += (unsigned)n;
    return MOLT_OK;
}
static molt_err_t er(void *c, uint32_t off, uint32_t n) { (void)c; memset(g_mem + off, 0xff, n); g_erases++; return MOLT_OK; }
static molt_err_t sc(void *c, uint32_t off, molt_sector_t *s) { (void)c; s->off = off - off % SEC; s->size = SEC; return MOLT_OK; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A key-update adding `add` (may be NULL) and retiring `ret` (may be NULL),
 * signed by roots 0 and 1. */
static size_t make_ku(uint8_t *o, uint32_t seq, const key_t_ *add, const key_t_ *ret, const key_t_ *roots)
{
    size_t off = 12, n = 0;
    memcpy(o, "MKU1", 4);
    for (int i = 0; i < 4; i++)
        o[4 + i] = (uint8_t)(seq >> (8 * i));
    o[8] = add != NULL;
    o[9] = ret != NULL;
    o[10] = o[11] = 0;
    if (add) {
        o[off] = 91;
        o[off + 1] = 0;
        memcpy(o + off + 2, add->der, 91);
        off += 93;
    }
    if (ret) {
        memcpy(o + off, ret->hash, 32);
        off += 32;
    }
    size_t body = off;
    uint8_t h[32];
    psa_hash_compute(PSA_ALG_SHA_256, o, body, h, 32, &n);
    o[off++] = 2;
    for (int r = 0; r < 2; r++) {
        o[off] = (uint8_t)r;
        psa_sign_hash(roots[r].id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, 32, o + off + 1, 64, &n);
        off += 65;
    }
    return off;
}

int main(void)
{
    enum { NF = 4, RUNS = 200 };
    key_t_ roots[2], fac[NF], add[8];
    molt_key_t rk[2], fk[NF];
    if (psa_crypto_init() != PSA_SUCCESS)
        return 2;
    for (int i = 0; i < 2; i++) {
        if (key_new(&roots[i]))
            return 2;
        rk[i] = (molt_key_t){roots[i].der, 91};
    }
    for (int i = 0; i < NF; i++) {
        if (key_new(&fac[i]))
            return 2;
        fk[i] = (molt_key_t){fac[i].der, 91};
    }
    for (int i = 0; i < 8; i++)
        if (key_new(&add[i]))
            return 2;
    molt_keyring_t rootring = {rk, 2}, factory = {fk, NF};
    molt_area_t area = {sizeof g_mem, 8, 0xff, rd, wr, er, sc, NULL};
    static molt_keyrot_ws_t ws;
    molt_keyrot_cfg_t c = {&area, &rootring, 2, &ws, molt_keyrot_ring, molt_keyrot_names_retired};

    printf("== key rotation (ECDSA P-256 rotation keys, threshold 2; %d factory keys; host) ==\n", NF);
    printf("RAM workspace the port provides (molt_keyrot_ws_t): %zu bytes\n", sizeof ws);
    memset(g_mem, 0xff, sizeof g_mem);
    static uint8_t ku_all[8][1024];
    size_t ku_len[8];
    uint8_t *ku;
    double t_apply = 0;
    unsigned ops = 0, bytes = 0;
    for (uint32_t s = 1; s <= 8; s++) {
        ku = ku_all[s - 1];
        size_t n = make_ku(ku, s, &add[s - 1], s >= 2 ? &add[s - 2] : NULL, roots);
        ku_len[s - 1] = n;
        g_writes = g_erases = g_bytes = 0;
        double t0 = now();
        if (molt_keyrot_apply(&c, &factory, ku, n, NULL) != MOLT_OK)
            return 2;
        t_apply += now() - t0;
        ops += g_writes + g_erases;
        bytes += g_bytes;
        if (s == 1)
            printf("key-update adding one key: %zu bytes; applying it: %u erase + %u write (%u bytes)\n", n, g_erases,
                   g_writes, g_bytes);
    }
    printf("apply (check 2 signatures + store), mean of 8: %.3f ms, %.1f flash operations, %.0f bytes written\n",
           t_apply / 8 * 1e3, ops / 8.0, bytes / 8.0);

    /* The per-judgement cost: load the set and build the ring. */
    molt_keyring_t ring;
    double t0 = now();
    for (int i = 0; i < RUNS; i++)
        if (molt_keyrot_ring(&c, &factory, &ring) != MOLT_OK)
            return 2;
    double t_ring = (now() - t0) / RUNS;
    printf("key set in force (%u retired, %u added): molt_keyrot_ring per judgement: %.1f us\n", ws.set.n_retired,
           ws.set.n_added, t_ring * 1e6);

    /* moltd's check (host/keyupdate.c): a class's key set rebuilt from its n stored
     * key-updates on every key-update upload and every image upload of a rotated class. */
    static host_keyset_t hk;
    const uint8_t *kus[8];
    for (int i = 0; i < 8; i++)
        kus[i] = ku_all[i];
    for (size_t n = 1; n <= 8; n *= 2) {
        t0 = now();
        for (int i = 0; i < 5; i++)
            if (!host_keyupdate_replay(&rootring, 2, &factory, kus, ku_len, n, NULL, 0, &hk) || hk.err != MOLT_OK)
                return 2;
        printf("moltd: the class's key set rebuilt from %zu stored key-update%s: %.2f ms\n", n, n == 1 ? "" : "s",
               (now() - t0) / 5 * 1e3);
    }
    return 0;
}
