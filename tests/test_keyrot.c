/*
 * test_keyrot.c - rotation and revocation of the trusted image keys
 * (R-ALLUPDATABLE, R-AUTH; lib/keyrot.c, molt/keyrot.h, docs/keys.md).
 *
 * Key-updates and images are made here with PSA Crypto and keys of the test's
 * own, written from the formats in molt/keyrot.h and molt/image.h, never with
 * lib/. The oracle of the power-cut sweep is plain integers and byte arrays.
 *
 *  - a good key-update adds and retires keys; forged, altered, replayed,
 *    rolled-back, gapped, wrong-signer (an image key, one root below the
 *    threshold) and malformed updates are refused with their exact reason and
 *    leave the storage byte for byte as it was; randomised bit flips (fixed
 *    seed) likewise;
 *  - the judge refuses an image signed by a retired key with KEY_RETIRED,
 *    accepts one signed by an added key, and the boot code refuses a staged
 *    image by a retired key and never reverts to one;
 *  - a power cut (torn) at every flash operation of a sequence of key-updates:
 *    the set loaded afterwards is exactly the old or the new one, never older,
 *    and an image of a key retired by then is never accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "mkimage.h"
#include "area.h"
#include "judge.h"
#include "molt/boot.h"
#include "molt/fwu.h"
#include "molt/keyrot.h"
#include "sim_port.h"

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Roots R0..R2 (threshold 2), factory image keys F0, F1, keys to add N0..N5,
 * and an outsider X. */
enum { NROOT = 3, NF = 2, NN = 6 };
static signer_t g_root[NROOT], g_f[NF], g_n[NN], g_x;
static molt_key_t g_root_keys[NROOT], g_f_keys[NF];
static molt_keyring_t g_roots = {g_root_keys, NROOT}, g_factory = {g_f_keys, NF};

/* --- key-updates, from the format in molt/keyrot.h --- */

typedef struct ku_spec {
    uint32_t seq;
    const signer_t *add[4];
    int n_add;
    const uint8_t *retire[4]; /* 32-byte hashes */
    int n_retire;
    int sig_idx[4];           /* root indices; -1 ends; 100 + i signs with image key g_f[i] as index i */
} ku_spec_t;

static size_t make_ku(uint8_t *out, const ku_spec_t *k)
{
    size_t off = 12;
    memcpy(out, "MKU1", 4);
    put32(out + 4, k->seq);
    out[8] = (uint8_t)k->n_add;
    out[9] = (uint8_t)k->n_retire;
    out[10] = out[11] = 0;
    for (int i = 0; i < k->n_add; i++) {
        put16(out + off, sizeof k->add[i]->der);
        memcpy(out + off + 2, k->add[i]->der, sizeof k->add[i]->der);
        off += 2 + sizeof k->add[i]->der;
    }
    for (int i = 0; i < k->n_retire; i++) {
        memcpy(out + off, k->retire[i], 32);
        off += 32;
    }
    size_t body = off;
    int ns = 0;
    while (ns < 4 && k->sig_idx[ns] >= 0)
        ns++;
    out[off++] = (uint8_t)ns;
    for (int i = 0; i < ns; i++) {
        int ix = k->sig_idx[i];
        const signer_t *s = ix >= 100 ? &g_f[ix - 100] : &g_root[ix];
        out[off] = (uint8_t)(ix >= 100 ? ix - 100 : ix);
        sign_raw(s, out, body, out + off + 1);
        off += 65;
    }
    return off;
}

/* --- a NOR area for the key set: 2 halves of 2 x 2 KiB sectors; a write may
 * program only erased bytes; operation cut_at is torn (a random prefix lands)
 * and every operation after it fails, as after a power loss. --- */

#define NOR_SEC 2048u
#define NOR_SIZE (4u * NOR_SEC)
typedef struct nor {
    uint8_t mem[NOR_SIZE];
    int ops, cut_at;
    bool dead;
    bool whole; /* the cut comes just after operation cut_at completed */
    uint32_t rng;
} nor_t;

static uint32_t nor_rand(nor_t *f)
{
    f->rng = f->rng * 1664525u + 1013904223u;
    return f->rng >> 8;
}

static molt_err_t nor_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    nor_t *f = ctx;
    if (off > NOR_SIZE || len > NOR_SIZE - off)
        return MOLT_E_FLASH;
    memcpy(buf, f->mem + off, len);
    return MOLT_OK;
}

static molt_err_t nor_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    nor_t *f = ctx;
    if (f->dead || off % 8 || len % 8 || off > NOR_SIZE || len > NOR_SIZE - off)
        return MOLT_E_FLASH;
    for (size_t i = 0; i < len; i++)
        if (f->mem[off + i] != 0xff)
            return MOLT_E_FLASH; /* programming bytes not erased */
    size_t n = len;
    if (f->ops++ == f->cut_at) {
        n = f->whole ? len : nor_rand(f) % len;
        f->dead = true;
    }
    memcpy(f->mem + off, buf, n);
    return f->dead ? MOLT_E_FLASH : MOLT_OK;
}

static molt_err_t nor_erase(void *ctx, uint32_t off, uint32_t len)
{
    nor_t *f = ctx;
    if (f->dead || off % NOR_SEC || len % NOR_SEC || off > NOR_SIZE || len > NOR_SIZE - off)
        return MOLT_E_FLASH;
    uint32_t n = len;
    if (f->ops++ == f->cut_at) {
        n = f->whole ? len : nor_rand(f) % len;
        f->dead = true;
    }
    memset(f->mem + off, 0xff, n);
    return f->dead ? MOLT_E_FLASH : MOLT_OK;
}

static molt_err_t nor_sector(void *ctx, uint32_t off, molt_sector_t *sec)
{
    (void)ctx;
    if (off >= NOR_SIZE)
        return MOLT_E_ARG;
    sec->off = off - off % NOR_SEC;
    sec->size = NOR_SEC;
    return MOLT_OK;
}

static void nor_fresh(nor_t *f)
{
    memset(f, 0, sizeof *f);
    memset(f->mem, 0xff, sizeof f->mem);
    f->cut_at = -1;
}

static nor_t g_nor;
static molt_area_t g_area = {NOR_SIZE, 8, 0xff, nor_read, nor_write, nor_erase, nor_sector, &g_nor};
static molt_keyrot_ws_t g_ws;
static molt_keyrot_cfg_t g_kr = {&g_area, &g_roots, 2, &g_ws, molt_keyrot_ring, molt_keyrot_names_retired};

static img_t g_img_f0, g_img_f1, g_img_n[NN], g_img_x, g_img_f1n0;

/* The judge over a port with the factory keys, with or without rotation. */
static molt_port_t g_port;
static molt_err_t judge(const img_t *im, const molt_keyrot_cfg_t *kr)
{
    molt_mem_source_t mem;
    molt_source_t src;
    molt_verify_result_t vr;
    molt_source_from_mem(&src, &mem, im->b, im->n);
    molt_judge_in_t in = {MOLT_ROLE_UPLOAD, 0, NULL, false, NULL, NULL, kr, MOLT_STAGE_APP};
    return molt_judge(&g_port, &src, &in, &vr);
}

/* Apply and expect want; on a refusal the storage must be byte-identical. */
static void apply_expect(const uint8_t *ku, size_t len, molt_err_t want, const char *what)
{
    static uint8_t before[NOR_SIZE];
    memcpy(before, g_nor.mem, NOR_SIZE);
    molt_err_t e = molt_keyrot_apply(&g_kr, &g_factory, ku, len, NULL);
    CHECK(e == want, "%s: got %s, expected %s", what, molt_err_name(e), molt_err_name(want));
    if (want != MOLT_OK)
        CHECK(memcmp(before, g_nor.mem, NOR_SIZE) == 0, "%s: storage untouched", what);
}

/* --- the oracle: which of the test's keys are in force, as plain arrays --- */

typedef struct model {
    uint32_t seq;
    bool active[NF + NN];  /* F0, F1, N0..N5 */
    bool retired[NF + NN];
} model_t;

static const signer_t *key_of(int i) { return i < NF ? &g_f[i] : &g_n[i - NF]; }

static void model_genesis(model_t *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < NF; i++)
        m->active[i] = true;
}

/* Compare what lib/ loads with the model: the keyring's DERs as a set, the
 * retired hashes, the sequence number. */
static bool state_is(const model_t *m)
{
    molt_keyring_t ring;
    if (molt_keyrot_ring(&g_kr, &g_factory, &ring) != MOLT_OK || g_ws.set.seq != m->seq)
        return false;
    size_t want = 0, nret = 0;
    for (int i = 0; i < NF + NN; i++) {
        want += m->active[i];
        nret += m->retired[i];
        bool in_ring = false, in_ret = false;
        for (size_t j = 0; j < ring.count; j++)
            in_ring |= ring.keys[j].der_len == 91 && memcmp(ring.keys[j].der, key_of(i)->der, 91) == 0;
        for (uint32_t j = 0; j < g_ws.set.n_retired; j++)
            in_ret |= memcmp(g_ws.set.retired[j], key_of(i)->hash, 32) == 0;
        if (in_ring != m->active[i] || in_ret != m->retired[i])
            return false;
    }
    return ring.count == want && g_ws.set.n_retired == nret;
}

/* The scenario of the sweep: six updates. */
static size_t g_seq_len[6];
static uint8_t g_seq_ku[6][1024];
static void model_step(model_t *m, int i)
{
    /* mirrors the specs built in build_sequence */
    static const int add[6][2] = {{2, -1}, {3, 4}, {-1, -1}, {5, -1}, {6, 7}, {-1, -1}};
    static const int ret[6][2] = {{-1, -1}, {1, -1}, {2, -1}, {-1, -1}, {0, 3}, {5, -1}};
    for (int j = 0; j < 2; j++) {
        if (add[i][j] >= 0)
            m->active[add[i][j]] = true;
        if (ret[i][j] >= 0) {
            m->active[ret[i][j]] = false;
            m->retired[ret[i][j]] = true;
        }
    }
    m->seq = (uint32_t)i + 1;
}

static void build_sequence(void)
{
    ku_spec_t s[6] = {
        {1, {&g_n[0]}, 1, {0}, 0, {0, 1, -1}},
        {2, {&g_n[1], &g_n[2]}, 2, {g_f[1].hash}, 1, {1, 2, -1}},
        {3, {0}, 0, {g_n[0].hash}, 1, {2, 0, -1}},
        {4, {&g_n[3]}, 1, {0}, 0, {0, 1, 2, -1}},
        {5, {&g_n[4], &g_n[5]}, 2, {g_f[0].hash, g_n[1].hash}, 2, {0, 2, -1}},
        {6, {0}, 0, {g_n[3].hash}, 1, {1, 0, -1}},
    };
    for (int i = 0; i < 6; i++)
        g_seq_len[i] = make_ku(g_seq_ku[i], &s[i]);
}

/* Every key the model says is retired: its image is refused as retired; every
 * key in force: its image is accepted. */
static bool images_agree(const model_t *m)
{
    bool ok = true;
    for (int i = 0; i < NF + NN; i++) {
        const img_t *im = i == 0 ? &g_img_f0 : i == 1 ? &g_img_f1 : &g_img_n[i - NF];
        molt_err_t e = judge(im, &g_kr);
        molt_err_t want = m->active[i] ? MOLT_OK : m->retired[i] ? MOLT_E_KEY_RETIRED : MOLT_E_KEY_UNTRUSTED;
        if (e != want) {
            fprintf(stderr, "key %d: judged %s, expected %s\n", i, molt_err_name(e), molt_err_name(want));
            ok = false;
        }
    }
    return ok;
}

static void test_updates(void)
{
    uint8_t ku[1024];
    size_t n;
    nor_fresh(&g_nor);

    /* Genesis: the factory keys. */
    CHECK_EQ(judge(&g_img_f0, &g_kr), MOLT_OK);
    CHECK_EQ(judge(&g_img_f1, &g_kr), MOLT_OK);
    CHECK_EQ(judge(&g_img_n[0], &g_kr), MOLT_E_KEY_UNTRUSTED);
    CHECK_EQ(judge(&g_img_x, NULL), MOLT_E_KEY_UNTRUSTED);

    /* Malformed, each signed where signing is possible. */
    ku_spec_t good1 = {1, {&g_n[0]}, 1, {g_f[1].hash}, 1, {0, 1, -1}};
    n = make_ku(ku, &good1);
    apply_expect(ku, n - 1, MOLT_E_KU_FORMAT, "one byte short");
    apply_expect(ku, 0, MOLT_E_KU_FORMAT, "empty");
    apply_expect(ku, 12, MOLT_E_KU_FORMAT, "header only");
    {
        uint8_t t[1100];
        memcpy(t, ku, n);
        t[n] = 0;
        apply_expect(t, n + 1, MOLT_E_KU_FORMAT, "a byte after the last signature");
        t[0] = 'X';
        apply_expect(t, n, MOLT_E_KU_FORMAT, "wrong magic");
    }
    ku_spec_t none = {1, {0}, 0, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &none);
    apply_expect(ku, n, MOLT_E_KU_FORMAT, "adds and retires nothing");
    n = make_ku(ku, &good1);
    ku[10] = 1; /* reserved (the signature no longer matches either; format first) */
    apply_expect(ku, n, MOLT_E_KU_FORMAT, "reserved byte set");
    ku_spec_t twice = {1, {&g_n[0], &g_n[0]}, 2, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &twice);
    apply_expect(ku, n, MOLT_E_KU_FORMAT, "adds one key twice");
    ku_spec_t ret2 = {1, {0}, 0, {g_f[1].hash, g_f[1].hash}, 2, {0, 1, -1}};
    n = make_ku(ku, &ret2);
    apply_expect(ku, n, MOLT_E_KU_FORMAT, "retires one key twice");
    ku_spec_t dupsig = {1, {&g_n[0]}, 1, {0}, 0, {0, 0, -1}};
    n = make_ku(ku, &dupsig);
    apply_expect(ku, n, MOLT_E_KU_FORMAT, "one root signs twice");
    {
        /* A signed update whose key is not a key. */
        signer_t junk = g_n[0];
        junk.der[0] = 0x31; /* not a SEQUENCE */
        ku_spec_t bad = {1, {&junk}, 1, {0}, 0, {0, 1, -1}};
        n = make_ku(ku, &bad);
        apply_expect(ku, n, MOLT_E_KU_FORMAT, "added key DER does not parse");
    }

    /* Forged and wrong signers. */
    n = make_ku(ku, &good1);
    ku[n - 5] ^= 0x40;
    apply_expect(ku, n, MOLT_E_KU_SIG, "a signature altered");
    n = make_ku(ku, &good1);
    ku[12 + 2 + 40] ^= 1; /* the added key, after signing */
    apply_expect(ku, n, MOLT_E_KU_SIG, "body altered after signing");
    ku_spec_t by_image = {1, {&g_n[0]}, 1, {0}, 0, {100, 101, -1}};
    n = make_ku(ku, &by_image);
    apply_expect(ku, n, MOLT_E_KU_SIG, "signed by the image keys");
    ku_spec_t one_root = {1, {&g_n[0]}, 1, {0}, 0, {2, -1}};
    n = make_ku(ku, &one_root);
    apply_expect(ku, n, MOLT_E_KU_SIG, "one root below the threshold");
    ku_spec_t mixed = {1, {&g_n[0]}, 1, {0}, 0, {2, 100, -1}};
    n = make_ku(ku, &mixed);
    apply_expect(ku, n, MOLT_E_KU_SIG, "a root and an image key");
    {
        ku_spec_t idx = {1, {&g_n[0]}, 1, {0}, 0, {0, 1, -1}};
        n = make_ku(ku, &idx);
        ku[n - 65] = 7; /* a root index the device does not have */
        apply_expect(ku, n, MOLT_E_KU_SIG, "root index out of range");
    }

    /* Inconsistent with the set in force. */
    ku_spec_t add_f = {1, {&g_f[0]}, 1, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &add_f);
    apply_expect(ku, n, MOLT_E_KU_KEY, "adds a factory key in force");
    ku_spec_t ret_x = {1, {0}, 0, {g_x.hash}, 1, {0, 1, -1}};
    n = make_ku(ku, &ret_x);
    apply_expect(ku, n, MOLT_E_KU_KEY, "retires a key not in force");
    ku_spec_t all = {1, {0}, 0, {g_f[0].hash, g_f[1].hash}, 2, {0, 1, -1}};
    n = make_ku(ku, &all);
    apply_expect(ku, n, MOLT_E_KU_LOCKOUT, "retires every key");
    ku_spec_t gap = {2, {&g_n[0]}, 1, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &gap);
    apply_expect(ku, n, MOLT_E_KU_GAP, "skips seq 1");
    ku_spec_t zero = {0, {&g_n[0]}, 1, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &zero);
    apply_expect(ku, n, MOLT_E_KU_REPLAY, "seq 0 is the genesis");
    CHECK(g_nor.mem[0] == 0xff && g_nor.mem[NOR_SIZE / 2] == 0xff, "nothing written so far");

    /* Randomised (fixed seed): any change to a good update is refused and
     * leaves the storage untouched; the good one is then accepted. */
    n = make_ku(ku, &good1);
    srand(20261207);
    unsigned refused = 0;
    for (int round = 0; round < 200; round++) {
        uint8_t bad[1024];
        memcpy(bad, ku, n);
        int flips = 1 + rand() % 3;
        for (int f = 0; f < flips; f++)
            bad[rand() % n] ^= (uint8_t)(1u << (rand() % 8));
        if (memcmp(bad, ku, n) == 0)
            continue;
        molt_err_t e = molt_keyrot_apply(&g_kr, &g_factory, bad, n, NULL);
        CHECK(e != MOLT_OK, "round %d: altered key-update refused", round);
        refused += e != MOLT_OK;
        CHECK(g_nor.mem[0] == 0xff && g_nor.mem[NOR_SIZE / 2] == 0xff, "round %d: nothing written", round);
    }
    CHECK(refused >= 190, "flips refused: %u", refused);

    /* The good one: N0 added, F1 retired. */
    apply_expect(ku, n, MOLT_OK, "good update 1");
    CHECK_EQ(judge(&g_img_f0, &g_kr), MOLT_OK);
    CHECK_EQ(judge(&g_img_f1, &g_kr), MOLT_E_KEY_RETIRED);
    CHECK_EQ(judge(&g_img_f1, NULL), MOLT_OK); /* a port without rotation: the factory table */
    CHECK_EQ(judge(&g_img_n[0], &g_kr), MOLT_OK);
    CHECK_EQ(judge(&g_img_f1n0, &g_kr), MOLT_OK); /* also signed by a key in force */
    CHECK_EQ(judge(&g_img_x, &g_kr), MOLT_E_KEY_UNTRUSTED);
    apply_expect(ku, n, MOLT_E_KU_REPLAY, "update 1 replayed");

    /* A retired key stays retired; the next update moves on. */
    ku_spec_t readd = {2, {&g_f[1]}, 1, {0}, 0, {0, 2, -1}};
    n = make_ku(ku, &readd);
    apply_expect(ku, n, MOLT_E_KU_KEY, "re-adds a retired key");
    ku_spec_t u2 = {2, {&g_n[1]}, 1, {g_n[0].hash}, 1, {2, 1, -1}};
    n = make_ku(ku, &u2);
    apply_expect(ku, n, MOLT_OK, "good update 2 (retires an added key)");
    CHECK_EQ(judge(&g_img_n[0], &g_kr), MOLT_E_KEY_RETIRED);
    CHECK_EQ(judge(&g_img_n[1], &g_kr), MOLT_OK);
    n = make_ku(ku, &good1);
    apply_expect(ku, n, MOLT_E_KU_ROLLBACK, "update 1 after update 2");

    /* Limits: at most MOLT_KEYROT_MAX_ADDED added keys in force. */
    ku_spec_t many = {3, {&g_n[2], &g_n[3], &g_n[4], &g_n[5]}, 4, {0}, 0, {0, 1, -1}};
    n = make_ku(ku, &many);
    apply_expect(ku, n, MOLT_E_KU_FULL, "five added keys");
    CHECK_EQ(molt_keyrot_check(&g_kr, &g_factory, ku, n), MOLT_E_KU_FULL);
}

/* A power cut at every flash operation of six key-updates, torn twice (a
 * random prefix of the operation lands) and once just after the operation
 * completed (it still reports the failure): the set loaded afterwards is the model's before or after the step,
 * never older, and the images agree with it; then the rest applies. */
static void test_powercut(void)
{
    model_t m;
    nor_fresh(&g_nor);
    model_genesis(&m);
    CHECK(state_is(&m), "genesis");
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[i], g_seq_len[i], NULL), MOLT_OK);
        model_step(&m, i);
        CHECK(state_is(&m), "uncut step %d", i);
    }
    CHECK(images_agree(&m), "uncut: images");
    int total = g_nor.ops;
    CHECK(total >= 6 * 3, "the scenario takes %d flash operations", total);

    unsigned cuts = 0, before = 0, after = 0, other = 0, image_bad = 0;
    for (int k = 0; k < total; k++)
        for (uint32_t seed = 1; seed <= 3; seed++) {
            nor_fresh(&g_nor);
            g_nor.rng = seed * 7919u + (uint32_t)k;
            g_nor.whole = seed == 3;
            g_nor.cut_at = k;
            model_t pre, post;
            model_genesis(&pre);
            post = pre;
            int i = 0;
            for (; i < 6; i++) {
                post = pre;
                model_step(&post, i);
                if (molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[i], g_seq_len[i], NULL) != MOLT_OK)
                    break;
                pre = post;
            }
            CHECK(g_nor.dead, "cut %d happened", k);
            g_nor.dead = false; /* power back */
            g_nor.cut_at = -1;
            bool is_pre = state_is(&pre), is_post = state_is(&post);
            CHECK(is_pre || is_post, "cut %d seed %u step %d: neither the old nor the new key set", k, seed, i);
            before += is_pre;
            after += is_post;
            other += !is_pre && !is_post;
            if (!images_agree(is_post ? &post : &pre))
                image_bad++;
            cuts++;
            /* Go on from what was loaded: the interrupted update again (unless
             * it landed, then it is a replay), then the rest. */
            model_t cont = is_post ? post : pre;
            molt_err_t e = molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[i], g_seq_len[i], NULL);
            CHECK_EQ(e, is_post ? MOLT_E_KU_REPLAY : MOLT_OK);
            cont = post;
            for (int j = i + 1; j < 6; j++) {
                CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[j], g_seq_len[j], NULL), MOLT_OK);
                model_step(&cont, j);
            }
            CHECK(state_is(&cont), "cut %d seed %u: after the rest", k, seed);
            /* And the old updates can never be brought back. */
            if (i > 0)
                CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[i - 1], g_seq_len[i - 1], NULL), MOLT_E_KU_ROLLBACK);
        }
    printf("key set: %u cuts over %d flash operations: %u left the old set, %u the new, %u other; "
           "%u with an image judged against another set\n",
           cuts, total, before, after, other, image_bad);
    CHECK_EQ(other, 0);
    CHECK_EQ(image_bad, 0);
    CHECK(before > 0 && after > 0, "cuts land on both sides of an update");
}

/* Damage that no power cut can make is never read as the genesis. */
static void test_damage(void)
{
    model_t m;
    nor_fresh(&g_nor);
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[0], g_seq_len[0], NULL), MOLT_OK);
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, g_seq_ku[1], g_seq_len[1], NULL), MOLT_OK);
    model_genesis(&m);
    model_step(&m, 0);
    model_step(&m, 1);
    CHECK(state_is(&m), "two updates");
    g_nor.mem[NOR_SIZE / 2 + 20] ^= 1; /* half 1 (update 2) damaged: update 1 in force */
    model_genesis(&m);
    model_step(&m, 0);
    CHECK(state_is(&m), "the other half");
    g_nor.mem[20] ^= 1; /* both damaged */
    molt_keyring_t ring;
    CHECK_EQ(molt_keyrot_ring(&g_kr, &g_factory, &ring), MOLT_E_NV);
    CHECK_EQ(judge(&g_img_f0, &g_kr), MOLT_E_NV);
}

/* The boot code: a staged image by a retired key is refused; a revert never
 * installs one; an image by an added key is activated. SWAP mode on the sim. */
static void test_boot(void)
{
    sim_device_t d;
    sim_layout_t l;
    molt_boot_result_t r;
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .keyrot = &g_kr};
    const molt_port_t *p = &d.port;
    img_t a, b, c;
    const signer_t *f0[] = {&g_f[0]}, *f1[] = {&g_f[1]}, *n0[] = {&g_n[0]};

    nor_fresh(&g_nor);
    CHECK_EQ(sim_layout_uniform(&l, 4096, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&d, &l, &g_factory), MOLT_OK);
    uint32_t stg = molt_boot_staging_offset(p, &cfg);
    make_image(&a, f0, 1, 1, 1);
    make_image(&b, f1, 1, 2, 1);
    make_image(&c, n0, 1, 3, 1);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_PRIMARY, 0, a.b, a.n), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_NONE);

    /* An update retiring F0, the running image's only signer, is refused when
     * the running image is given, and nothing is stored ... */
    ku_spec_t u0 = {1, {&g_n[0]}, 1, {g_f[0].hash}, 1, {0, 1, -1}};
    uint8_t ku0[1024];
    size_t n0len = make_ku(ku0, &u0);
    molt_area_src_t pctx;
    molt_source_t prim;
    molt_area_source(&prim, &pctx, &p->area[MOLT_AREA_PRIMARY], 0);
    static uint8_t snap[NOR_SIZE];
    memcpy(snap, g_nor.mem, NOR_SIZE);
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, ku0, n0len, &prim), MOLT_E_KU_STRANDS);
    CHECK(memcmp(snap, g_nor.mem, NOR_SIZE) == 0, "stranding update: storage untouched");
    /* ... because without that check the next boot refuses the device's own
     * image: secure state. */
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, ku0, n0len, NULL), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_E_NO_IMAGE);
    CHECK_EQ(d.no_image_why, MOLT_E_KEY_RETIRED);
    memcpy(g_nor.mem, snap, NOR_SIZE); /* (the test undoes it) */
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.image.version.build, 1);

    /* Update 1 retires F1 and adds N0: F1's staged image is refused. */
    ku_spec_t u1 = {1, {&g_n[0]}, 1, {g_f[1].hash}, 1, {0, 1, -1}};
    uint8_t ku[1024];
    size_t n = make_ku(ku, &u1);
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, ku, n, &prim), MOLT_OK);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, b.b, b.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_KEY_RETIRED);
    CHECK_EQ(r.image.version.build, 1);

    /* N0's image is activated for a trial. */
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, c.b, c.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(r.image.version.build, 3);

    /* During the trial, update 2 retires F0 (the image a revert would restore).
     * The trial is not confirmed: the revert must not install F0's image. */
    ku_spec_t u2 = {2, {0}, 0, {g_f[0].hash}, 1, {1, 2, -1}};
    n = make_ku(ku, &u2);
    CHECK_EQ(molt_keyrot_apply(&g_kr, &g_factory, ku, n, &prim), MOLT_OK); /* N0's image runs */
    /* The default policy (MOLT_REVERT_LOST_RUN_TRIAL): the trial keeps running,
     * unconfirmed, and says the revert was lost. */
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.image.version.build, 3);
    CHECK_EQ(r.revert_lost, true);
    CHECK_EQ(r.trial, true);
    CHECK(memcmp(sim_flash_data(&d.flash) + sim_device_area_base(&d, MOLT_AREA_PRIMARY), c.b, c.n) == 0,
          "N0's image still in PRIMARY");
    /* Confirmed, N0's image runs; F0's image staged again is refused. */
    CHECK_EQ(molt_confirm(p, &cfg), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.image.version.build, 3);
    CHECK_EQ(r.trial, false);
    CHECK_EQ(sim_device_program(&d, MOLT_AREA_SECONDARY, stg, a.b, a.n), MOLT_OK);
    CHECK_EQ(molt_request_upgrade(p, &cfg, false), MOLT_OK);
    CHECK_EQ(molt_boot_go(p, &cfg, &r), MOLT_OK);
    CHECK_EQ(r.action, MOLT_ACT_REFUSED);
    CHECK_EQ(r.staged_err, MOLT_E_KEY_RETIRED);
    CHECK_EQ(r.image.version.build, 3);

    /* The update API judges with the same key set: an upload by a retired key
     * fails at finish with KEY_RETIRED. */
    static molt_fwu_t fwu;
    psa_fwu_component_info_t info;
    CHECK_EQ(molt_fwu_init(&fwu, p, &cfg, &r), MOLT_OK);
    CHECK_EQ(molt_fwu_query(&fwu, 0, &info), PSA_SUCCESS);
    if (info.state != PSA_FWU_READY) /* the refused staging leftovers */
        CHECK_EQ(molt_fwu_clean(&fwu, 0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_start(&fwu, 0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_write(&fwu, 0, 0, b.b, b.n), PSA_SUCCESS);
    CHECK(molt_fwu_finish(&fwu, 0) != PSA_SUCCESS, "finish refuses F1's upload");
    CHECK_EQ(molt_fwu_query(&fwu, 0, &info), PSA_SUCCESS);
    CHECK_EQ(info.state, PSA_FWU_FAILED);
    CHECK_EQ(info.error, MOLT_E_KEY_RETIRED);
    sim_device_free(&d);
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    for (int i = 0; i < NROOT; i++) {
        signer_new(&g_root[i]);
        g_root_keys[i] = g_root[i].key;
    }
    for (int i = 0; i < NF; i++) {
        signer_new(&g_f[i]);
        g_f_keys[i] = g_f[i].key;
    }
    for (int i = 0; i < NN; i++)
        signer_new(&g_n[i]);
    signer_new(&g_x);
    memset(&g_port, 0, sizeof g_port);
    g_port.keys = g_factory;

    const signer_t *s1[1], *s2[2];
    s1[0] = &g_f[0];
    make_image(&g_img_f0, s1, 1, 100, 0);
    s1[0] = &g_f[1];
    make_image(&g_img_f1, s1, 1, 101, 0);
    for (int i = 0; i < NN; i++) {
        s1[0] = &g_n[i];
        make_image(&g_img_n[i], s1, 1, 110 + (uint32_t)i, 0);
    }
    s1[0] = &g_x;
    make_image(&g_img_x, s1, 1, 120, 0);
    s2[0] = &g_f[1];
    s2[1] = &g_n[0];
    make_image(&g_img_f1n0, s2, 2, 121, 0);
    build_sequence();

    test_updates();
    test_powercut();
    test_damage();
    test_boot();
    return check_done();
}
