/*
 * test_awdt.c - deferral tickets (R-AVAIL, lib/awdt.c): a good ticket extends
 * the deadline from its nonce's issue and is single use; forged, altered,
 * replayed, expired, other-device, over-long and malformed tickets are refused
 * with their own reason and leave the state as it was. The tickets are made
 * here with PSA Crypto and a key of the test's own, independently of lib/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "molt/awdt.h"

static const uint8_t k_spki_p256[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

typedef struct signer {
    psa_key_id_t id;
    uint8_t der[91];
    molt_key_t key;
} signer_t;

static void signer_new(signer_t *s)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_generate_key(&at, &s->id) == PSA_SUCCESS, "generate a ticket key");
    size_t n = 0;
    memcpy(s->der, k_spki_p256, sizeof k_spki_p256);
    CHECK(psa_export_public_key(s->id, s->der + 26, 65, &n) == PSA_SUCCESS && n == 65, "export it");
    s->key.der = s->der;
    s->key.der_len = sizeof s->der;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The deployer's side, written from the format in molt/awdt.h. */
static void make_ticket(uint8_t t[MOLT_AWDT_TICKET_LEN], const signer_t *s, const uint8_t *dev, const uint8_t *nonce,
                        uint32_t secs, uint32_t boots)
{
    memcpy(t, "MDT1", 4);
    memcpy(t + 4, dev, 32);
    memcpy(t + 36, nonce, 16);
    put32(t + 52, secs);
    put32(t + 56, boots);
    uint8_t h[32];
    size_t n = 0;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, t, 60, h, 32, &n) == PSA_SUCCESS, "hash");
    CHECK(psa_sign_hash(s->id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, 32, t + 60, 64, &n) == PSA_SUCCESS && n == 64,
          "sign");
}

static uint32_t g_rng = 12345u;
static molt_err_t test_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        g_rng = g_rng * 1103515245u + 12345u;
        ((uint8_t *)buf)[i] = (uint8_t)(g_rng >> 16);
    }
    return MOLT_OK;
}

static signer_t g_deployer, g_other;
static molt_awdt_policy_t g_pol;

/* A fresh state: deadline 1000 s / boot 10, nonce issued at t = 500, boot 3. */
static void fresh(molt_awdt_state_t *st)
{
    memset(st, 0, sizeof *st);
    st->deadline = 1000;
    st->boot_limit = 10;
    CHECK_EQ(molt_awdt_nonce(st, test_random, NULL, 500, 3), MOLT_OK);
}

/* Refused with want, state untouched. */
static void refused(const uint8_t *t, size_t len, uint32_t now, molt_awdt_state_t *st, molt_err_t want,
                    const char *what)
{
    molt_awdt_state_t before = *st;
    molt_err_t e = molt_awdt_ticket_check(&g_pol, st, t, len, now);
    CHECK(e == want, "%s: got %s, expected %s", what, molt_err_name(e), molt_err_name(want));
    CHECK(memcmp(&before, st, sizeof before) == 0, "%s: state untouched", what);
}


/* --- the persistent state under power cuts ---
 * A NOR area of two 256-byte sectors: a write may program only erased bytes;
 * operation number cut_at is torn (a random prefix of it lands) and every
 * operation after it fails, as after a power loss. */
typedef struct nor {
    uint8_t mem[512];
    int ops, cut_at;
    bool dead;
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
    if (off + len > sizeof f->mem)
        return MOLT_E_FLASH;
    memcpy(buf, f->mem + off, len);
    return MOLT_OK;
}

static molt_err_t nor_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    nor_t *f = ctx;
    if (f->dead || off % 8 || len % 8 || off + len > sizeof f->mem)
        return MOLT_E_FLASH;
    for (size_t i = 0; i < len; i++)
        if (f->mem[off + i] != 0xff)
            return MOLT_E_FLASH; /* programming a unit not erased */
    size_t n = len;
    if (f->ops++ == f->cut_at) {
        n = nor_rand(f) % len;
        f->dead = true;
    }
    memcpy(f->mem + off, buf, n);
    return f->dead ? MOLT_E_FLASH : MOLT_OK;
}

static molt_err_t nor_erase(void *ctx, uint32_t off, uint32_t len)
{
    nor_t *f = ctx;
    if (f->dead || off % 256 || len % 256 || off + len > sizeof f->mem)
        return MOLT_E_FLASH;
    uint32_t n = len;
    if (f->ops++ == f->cut_at) {
        n = nor_rand(f) % len;
        f->dead = true;
    }
    memset(f->mem + off, 0xff, n);
    return f->dead ? MOLT_E_FLASH : MOLT_OK;
}

static molt_err_t nor_sector(void *ctx, uint32_t off, molt_sector_t *sec)
{
    (void)ctx;
    sec->off = off - off % 256;
    sec->size = 256;
    return MOLT_OK;
}

static molt_area_t nor_area(nor_t *f)
{
    molt_area_t a = {sizeof f->mem, 8, 0xff, nor_read, nor_write, nor_erase, nor_sector, f};
    return a;
}

/* The model: what the state must be, kept apart from lib/. */
typedef struct model {
    uint32_t boots, deadline, limit;
} model_t;

/* Step i of the fixed scenario (seeded): mostly boots, some stores, some of
 * them trying to lower the deadline (which must not happen). *m becomes the
 * state the step means to reach, even when a cut stops it. */
static molt_err_t step(const molt_area_t *a, unsigned i, model_t *m)
{
    uint32_t r = (i * 2654435761u) >> 7;
    if (r % 5 != 0) {
        uint32_t b = 0;
        molt_err_t e = molt_awdt_count_boot(a, &b);
        m->boots++; /* what the step means to do, whether or not a cut stops it */
        if (e == MOLT_OK)
            CHECK_EQ(b, m->boots);
        return e;
    }
    molt_awdt_state_t st = {0};
    st.deadline = (r % 3 == 0) ? m->deadline - 7 : m->deadline + 100 + r % 1000;
    st.boot_limit = (r % 7 == 0) ? m->limit - 1 : m->limit + 1 + r % 9;
    molt_err_t e = molt_awdt_store(a, &st);
    m->deadline = st.deadline > m->deadline ? st.deadline : m->deadline;
    m->limit = st.boot_limit > m->limit ? st.boot_limit : m->limit;
    return e;
}

static void powercut_sweep(void)
{
    enum { STEPS = 120 };
    /* How many flash operations the whole scenario takes, uncut. */
    nor_t f;
    memset(&f, 0, sizeof f);
    memset(f.mem, 0xff, sizeof f.mem);
    f.cut_at = -1;
    molt_area_t a = nor_area(&f);
    molt_awdt_state_t st;
    uint32_t boots = 99;
    CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_E_STATE);
    CHECK_EQ(molt_awdt_provision(&a, 1000, 10), MOLT_OK);
    CHECK_EQ(molt_awdt_provision(&a, 5, 5), MOLT_E_STATE); /* provisioned once, never reset */
    model_t m = {0, 1000, 10};
    int base_ops = f.ops;
    for (unsigned i = 0; i < STEPS; i++)
        CHECK_EQ(step(&a, i, &m), MOLT_OK);
    CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
    CHECK_EQ(boots, m.boots);
    CHECK_EQ(st.deadline, m.deadline);
    CHECK_EQ(st.boot_limit, m.limit);
    int total = f.ops - base_ops;
    CHECK(m.boots > 60 && total > (int)m.boots, "the scenario crosses halves (%u boots, %d operations)", m.boots, total);

    /* A cut at every flash operation, each torn three ways (seeds): afterwards the
     * state is the one before the interrupted step or the one after it, never
     * older; and the device goes on counting from there. */
    unsigned cuts = 0, before = 0, after = 0, same = 0, other = 0;
    for (int k = 0; k < total; k++)
        for (uint32_t seed = 1; seed <= 3; seed++) {
            memset(&f, 0, sizeof f);
            memset(f.mem, 0xff, sizeof f.mem);
            f.cut_at = -1;
            f.rng = seed * 7919u + (uint32_t)k;
            CHECK_EQ(molt_awdt_provision(&a, 1000, 10), MOLT_OK);
            f.ops = 0;
            f.cut_at = k;
            model_t pre = {0, 1000, 10}, post;
            unsigned i = 0;
            for (; i < STEPS; i++) {
                post = pre;
                if (step(&a, i, &post) != MOLT_OK)
                    break;
                pre = post;
            }
            CHECK(f.dead, "cut %d happened", k);
            f.dead = false; /* power back: a reboot */
            f.cut_at = -1;
            CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
            bool is_pre = boots == pre.boots && st.deadline == pre.deadline && st.boot_limit == pre.limit;
            bool is_post = boots == post.boots && st.deadline == post.deadline && st.boot_limit == post.limit;
            CHECK(is_pre || is_post, "cut %d seed %u step %u: boots %u deadline %u limit %u, expected %u/%u/%u or %u/%u/%u",
                  k, seed, i, boots, st.deadline, st.boot_limit, pre.boots, pre.deadline, pre.limit, post.boots,
                  post.deadline, post.limit);
            before += is_pre && !is_post;
            after += is_post && !is_pre;
            same += is_pre && is_post; /* a step that changes nothing (a store that tries to lower) */
            other += !is_pre && !is_post;
            cuts++;
            /* Go on from what was loaded: the next boot counts exactly one more. */
            model_t cont = {boots, st.deadline, st.boot_limit};
            uint32_t b2 = 0;
            CHECK_EQ(molt_awdt_count_boot(&a, &b2), MOLT_OK);
            CHECK_EQ(b2, cont.boots + 1);
            cont.boots++;
            for (unsigned j = i + 1; j < STEPS; j++)
                CHECK_EQ(step(&a, j, &cont), MOLT_OK);
            CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
            CHECK(boots == cont.boots && st.deadline == cont.deadline && st.boot_limit == cont.limit,
                  "cut %d seed %u: after the rest of the scenario", k, seed);
        }
    printf("awdt state: %u cuts over %d flash operations: %u left the state before the step, %u after, "
           "%u in a step that changes nothing, %u other\n",
           cuts, total, before, after, same, other);
    CHECK_EQ(other, 0);
    CHECK(before > 0 && after > 0, "cuts land on both sides of a step");
}

/* --- the recovery path under power cuts (R-AVAIL) ---
 * A scripted device life (fixed seed): boots through molt_awdt_boot with the
 * running image's version and whether it is confirmed, device time moving on,
 * an updater that installs newer images (a trial, then confirmed, sometimes
 * reverted), and tickets accepted. The model below is plain integers and the
 * rule as docs/awdt.md states it, kept apart from lib/awdt.c. */
typedef struct rmodel {
    uint32_t boots, deadline, limit, entry;
    bool rec, pending;
} rmodel_t;

typedef struct rstep {
    int kind;           /* 0 boot, 1 ticket */
    uint32_t now;
    uint32_t ver;       /* boot: running major version */
    bool confirmed;     /* boot: runs confirmed */
    bool activated;     /* boot: this boot activated the image (the updater's install) */
    uint32_t secs, nb;  /* ticket */
} rstep_t;

enum { R_STEPS = 160, R_EXIT_S = 400, R_EXIT_B = 6 };
static rstep_t g_script[R_STEPS];

static void make_script(uint32_t seed)
{
    uint32_t now = 0, ver = 1, x = seed;
    bool trial = false;
    for (int i = 0; i < R_STEPS; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t r = x >> 8;
        rstep_t *st = &g_script[i];
        memset(st, 0, sizeof *st);
        now += r % 150;
        st->now = now;
        if (r % 11 == 0) { /* a ticket, when the deployer gives one */
            st->kind = 1;
            st->secs = 100 + r % 900;
            st->nb = 1 + r % 12;
            continue;
        }
        if (trial) { /* the trial is confirmed (3 in 4) or reverted */
            if (r % 4 != 0)
                trial = false;
            else {
                ver--;
                trial = false;
            }
        } else if (r % 6 == 0) { /* the updater installs the next version */
            ver++;
            trial = true;
            st->activated = true;
        } else if (r % 17 == 0) { /* ... or, rarely, installs it for good */
            ver++;
            st->activated = true;
        }
        st->ver = ver;
        st->confirmed = !trial;
    }
}

static void rmodel_step(rmodel_t *m, const rstep_t *st)
{
    if (st->kind == 1) {
        /* the nonce is issued at this boot count and time: counted from there */
        uint32_t dl = st->now + st->secs, bl = m->boots + st->nb;
        m->deadline = dl > m->deadline ? dl : m->deadline;
        m->limit = bl > m->limit ? bl : m->limit;
        m->rec = false;
        m->pending = false;
        return;
    }
    m->boots++;
    if (!(st->now >= m->deadline || m->boots >= m->limit))
        return;
    bool above = st->ver > m->entry;
    if (!m->rec) { /* entry: the application's image, whatever it is */
        m->rec = true;
        m->entry = st->ver;
        m->pending = false;
    } else if (!st->confirmed) { /* a trial the updater's install activated, above entry: pending */
        m->pending = m->pending || (st->activated && above);
    } else if (above && (st->activated || m->pending)) { /* approved: leave */
        uint32_t dl = st->now + R_EXIT_S, bl = m->boots + R_EXIT_B;
        m->deadline = dl > m->deadline ? dl : m->deadline;
        m->limit = bl > m->limit ? bl : m->limit;
        m->rec = false;
        m->pending = false;
    } else { /* confirmed without approval (a revert's target): entry rises to it */
        m->pending = false;
        if (above)
            m->entry = st->ver;
    }
}

static bool rmodel_recovery(const rmodel_t *m, uint32_t now) { return now >= m->deadline || m->boots >= m->limit; }

static uint32_t g_rnow;
static uint32_t r_now(void *ctx) { (void)ctx; return g_rnow; }

/* Run step i on the device; MOLT_OK or the flash error of a cut. */
static molt_err_t rdevice_step(const molt_area_t *a, const rstep_t *st, const rmodel_t *expect_after)
{
    molt_awdt_cfg_t c = {.area = a, .now = r_now, .boot = molt_awdt_boot, .exit_seconds = R_EXIT_S,
                         .exit_boots = R_EXIT_B};
    g_rnow = st->now;
    if (st->kind == 1) {
        molt_awdt_state_t ds;
        uint32_t boots = 0;
        molt_err_t e = molt_awdt_load(a, &ds, &boots);
        if (e != MOLT_OK)
            return e;
        CHECK_EQ(molt_awdt_nonce(&ds, test_random, NULL, st->now, boots), MOLT_OK);
        uint8_t t[MOLT_AWDT_TICKET_LEN];
        make_ticket(t, &g_deployer, g_pol.device_id, ds.nonce, st->secs, st->nb);
        return molt_awdt_accept(a, &g_pol, &ds, t, sizeof t, st->now);
    }
    molt_image_t run;
    memset(&run, 0, sizeof run);
    run.version.major = (uint8_t)st->ver;
    bool rec = false;
    uint32_t boots = 0;
    unsigned how = (st->confirmed ? MOLT_AWDT_RUN_CONFIRMED : 0u) | (st->activated ? MOLT_AWDT_RUN_ACTIVATED : 0u);
    molt_err_t e = molt_awdt_boot(&c, &run, how, &rec, &boots);
    if (e == MOLT_OK && expect_after != NULL) {
        CHECK_EQ(boots, expect_after->boots);
        CHECK(rec == rmodel_recovery(expect_after, st->now), "boot %u: recovery %d, model %d", boots, rec,
              rmodel_recovery(expect_after, st->now));
    }
    return e;
}

static bool rsame(const molt_awdt_state_t *st, uint32_t boots, const rmodel_t *m)
{
    return boots == m->boots && st->deadline == m->deadline && st->boot_limit == m->limit && st->recovery == m->rec &&
           (!m->rec || (st->entry.major == m->entry && st->pending == m->pending));
}

static void recovery_sweep(void)
{
    nor_t f;
    molt_area_t a = nor_area(&f);
    molt_awdt_state_t st;
    uint32_t boots;
    unsigned cuts = 0, pre_n = 0, post_n = 0, mid_n = 0, other = 0, entries = 0, exits = 0, tickets = 0;
    unsigned rec_boots = 0, max_ops = 0;
    g_pol.nonce_ttl = 600;
    for (uint32_t seed = 1; seed <= 4; seed++) {
        make_script(seed * 977u);
        /* Uncut: the device follows the model at every step. */
        memset(&f, 0, sizeof f);
        memset(f.mem, 0xff, sizeof f.mem);
        f.cut_at = -1;
        CHECK_EQ(molt_awdt_provision(&a, 600, 8), MOLT_OK);
        int base_ops = f.ops;
        rmodel_t m = {0, 600, 8, 0, false, false};
        for (int i = 0; i < R_STEPS; i++) {
            rmodel_t n = m;
            rmodel_step(&n, &g_script[i]);
            entries += !m.rec && n.rec;
            exits += m.rec && !n.rec && g_script[i].kind == 0;
            tickets += g_script[i].kind == 1;
            rec_boots += g_script[i].kind == 0 && rmodel_recovery(&n, g_script[i].now);
            CHECK_EQ(rdevice_step(&a, &g_script[i], &n), MOLT_OK);
            m = n;
            CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
            CHECK(rsame(&st, boots, &m), "seed %u step %d: device and model agree", seed, i);
        }
        int total = f.ops - base_ops;
        max_ops = (unsigned)total > max_ops ? (unsigned)total : max_ops;
        /* A torn cut at every flash operation. */
        for (int k = 0; k < total; k++) {
            memset(&f, 0, sizeof f);
            memset(f.mem, 0xff, sizeof f.mem);
            f.cut_at = -1;
            f.rng = seed * 7919u + (uint32_t)k;
            CHECK_EQ(molt_awdt_provision(&a, 600, 8), MOLT_OK);
            f.ops = 0;
            f.cut_at = k;
            rmodel_t pre = {0, 600, 8, 0, false, false}, post = pre;
            int i = 0;
            for (; i < R_STEPS; i++) {
                post = pre;
                rmodel_step(&post, &g_script[i]);
                if (rdevice_step(&a, &g_script[i], &post) != MOLT_OK)
                    break;
                pre = post;
            }
            CHECK(f.dead && i < R_STEPS, "seed %u cut %d happened", seed, k);
            f.dead = false;
            f.cut_at = -1;
            CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
            /* A boot whose mark landed but whose latch or exit did not: counted, unchanged otherwise. */
            rmodel_t mid = pre;
            mid.boots = pre.boots + 1u;
            bool is_pre = rsame(&st, boots, &pre), is_post = rsame(&st, boots, &post);
            bool is_mid = g_script[i].kind == 0 && rsame(&st, boots, &mid);
            CHECK(is_pre || is_post || is_mid,
                  "seed %u cut %d step %d: boots %u deadline %u limit %u rec %d; pre %u/%u/%u/%d post %u/%u/%u/%d", seed,
                  k, i, boots, st.deadline, st.boot_limit, st.recovery, pre.boots, pre.deadline, pre.limit, pre.rec,
                  post.boots, post.deadline, post.limit, post.rec);
            CHECK(st.deadline >= pre.deadline && st.boot_limit >= pre.limit && boots >= pre.boots,
                  "seed %u cut %d: never rewound", seed, k);
            pre_n += is_pre;
            post_n += is_post && !is_pre;
            mid_n += is_mid && !is_pre && !is_post;
            other += !is_pre && !is_post && !is_mid;
            cuts++;
            /* Power back: the rest of the life from what was loaded ends where the model says. */
            rmodel_t cont = {boots, st.deadline, st.boot_limit, st.entry.major, st.recovery, st.pending};
            for (int j = i + 1; j < R_STEPS; j++) {
                rmodel_t n = cont;
                rmodel_step(&n, &g_script[j]);
                CHECK_EQ(rdevice_step(&a, &g_script[j], &n), MOLT_OK);
                cont = n;
            }
            CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
            CHECK(rsame(&st, boots, &cont), "seed %u cut %d: the rest of the life as the model says", seed, k);
        }
    }
    printf("awdt recovery path: 4 lives of %d steps (%u entries into recovery, %u exits through an approved image, "
           "%u tickets, %u recovery boots); %u torn cuts (up to %u flash operations a life): %u left the state before "
           "the step, %u after, %u a counted boot not yet latched, %u other\n",
           R_STEPS, entries, exits, tickets, rec_boots, cuts, max_ops, pre_n, post_n, mid_n, other);
    CHECK_EQ(other, 0);
    CHECK(entries > 4 && exits > 0 && pre_n > 0 && post_n > 0, "the lives enter and leave recovery, cuts on both sides");
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    signer_new(&g_deployer);
    signer_new(&g_other);
    molt_keyring_t ring = {&g_deployer.key, 1};
    memset(&g_pol, 0, sizeof g_pol);
    g_pol.keys = &ring;
    memset(g_pol.device_id, 0xd1, 32);
    g_pol.max_seconds = 7 * 24 * 3600;
    g_pol.max_boots = 100;
    g_pol.nonce_ttl = 600;
    uint8_t other_dev[32];
    memset(other_dev, 0xd2, 32);

    molt_awdt_state_t st;
    uint8_t t[MOLT_AWDT_TICKET_LEN];

    /* A good ticket: counted from the nonce's issue (t = 500, boot 3), single use. */
    fresh(&st);
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 86400, 20);
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 700), MOLT_OK);
    CHECK_EQ(st.deadline, 500 + 86400);
    CHECK_EQ(st.boot_limit, 3 + 20);
    CHECK(!st.nonce_out, "nonce consumed");
    CHECK(!molt_awdt_expired(&st, 86899, 22), "not expired before the deadline");
    CHECK(molt_awdt_expired(&st, 86900, 22), "expired at the deadline");
    CHECK(molt_awdt_expired(&st, 1000, 23), "expired at the boot limit");
    refused(t, sizeof t, 701, &st, MOLT_E_AWDT_NONCE, "replayed");

    /* A new nonce replaces the outstanding one: a ticket for the old one is refused. */
    fresh(&st);
    uint8_t old_nonce[16];
    memcpy(old_nonce, st.nonce, 16);
    CHECK_EQ(molt_awdt_nonce(&st, test_random, NULL, 510, 3), MOLT_OK);
    CHECK(memcmp(old_nonce, st.nonce, 16) != 0, "fresh nonce differs");
    make_ticket(t, &g_deployer, g_pol.device_id, old_nonce, 3600, 5);
    refused(t, sizeof t, 520, &st, MOLT_E_AWDT_NONCE, "answers a replaced nonce");
    /* No nonce outstanding at all. */
    st.nonce_out = false;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 520, &st, MOLT_E_AWDT_NONCE, "no nonce outstanding");

    /* Forged: another key; altered after signing. */
    fresh(&st);
    make_ticket(t, &g_other, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "signed by a key not in the ticket keyring");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    put32(t + 52, 3601);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "extension altered after signing");
    molt_keyring_t empty = {NULL, 0};
    g_pol.keys = &empty;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "device without ticket keys");
    g_pol.keys = &ring;

    /* Another device's ticket, signed by the deployer. */
    make_ticket(t, &g_deployer, other_dev, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_DEVICE, "issued for another device");

    /* Expired: presented after the nonce's ttl, or with the clock behind the nonce. */
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 500 + 601, &st, MOLT_E_AWDT_EXPIRED, "nonce older than its ttl");
    refused(t, sizeof t, 499, &st, MOLT_E_AWDT_EXPIRED, "clock behind the nonce");
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 500 + 600), MOLT_OK); /* the last good second */

    /* Over-long: seconds or boots beyond the device's bound. */
    fresh(&st);
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, g_pol.max_seconds + 1, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "seconds beyond max");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, g_pol.max_boots + 1);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "boots beyond max");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, UINT32_MAX, UINT32_MAX);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "wrap-around extension");

    /* Malformed: length, magic, zero extension (signed, so only the rule refuses it). */
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t - 1, 600, &st, MOLT_E_AWDT_FORMAT, "one byte short");
    refused(NULL, 0, 600, &st, MOLT_E_AWDT_FORMAT, "empty");
    t[0] = 'X';
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "wrong magic");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 0, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "zero seconds");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 0);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "zero boots");

    /* A ticket never shortens a deadline already granted. */
    fresh(&st);
    st.deadline = 100000;
    st.boot_limit = 50;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 60, 1);
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 501), MOLT_OK);
    CHECK_EQ(st.deadline, 100000);
    CHECK_EQ(st.boot_limit, 50);

    /* Randomised (fixed seed): any change to a good ticket's bytes is refused
     * and leaves the state untouched; the unchanged ticket is then accepted. */
    srand(20261202);
    unsigned accepted = 0;
    for (int round = 0; round < 300; round++) {
        fresh(&st);
        uint8_t good[MOLT_AWDT_TICKET_LEN], bad[MOLT_AWDT_TICKET_LEN];
        make_ticket(good, &g_deployer, g_pol.device_id, st.nonce, 1 + (uint32_t)(rand() % 86400),
                    1 + (uint32_t)(rand() % 100));
        memcpy(bad, good, sizeof bad);
        int flips = 1 + rand() % 3;
        for (int f = 0; f < flips; f++)
            bad[rand() % MOLT_AWDT_TICKET_LEN] ^= (uint8_t)(1u << (rand() % 8));
        if (memcmp(bad, good, sizeof bad) != 0) {
            molt_awdt_state_t before = st;
            molt_err_t e = molt_awdt_ticket_check(&g_pol, &st, bad, sizeof bad, 550);
            CHECK(e != MOLT_OK, "round %d: altered ticket refused", round);
            CHECK(memcmp(&before, &st, sizeof st) == 0, "round %d: state untouched", round);
        }
        if (molt_awdt_ticket_check(&g_pol, &st, good, sizeof good, 550) == MOLT_OK)
            accepted++;
    }
    CHECK_EQ(accepted, 300);

    /* Accept = check + store: persistent after success; after a cut in the
     * store, the state and the nonce are as before and the ticket works again. */
    {
        nor_t f;
        memset(&f, 0, sizeof f);
        memset(f.mem, 0xff, sizeof f.mem);
        f.cut_at = -1;
        molt_area_t a = nor_area(&f);
        CHECK_EQ(molt_awdt_provision(&a, 1000, 10), MOLT_OK);
        uint32_t boots = 0;
        CHECK_EQ(molt_awdt_load(&a, &st, &boots), MOLT_OK);
        CHECK_EQ(molt_awdt_nonce(&st, test_random, NULL, 500, boots), MOLT_OK);
        make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
        f.cut_at = f.ops; /* the store's first operation is cut */
        molt_awdt_state_t before = st;
        CHECK_EQ(molt_awdt_accept(&a, &g_pol, &st, t, sizeof t, 510), MOLT_E_FLASH);
        CHECK(memcmp(&before, &st, sizeof st) == 0, "a cut store changes nothing");
        f.dead = false;
        f.cut_at = -1;
        CHECK_EQ(molt_awdt_accept(&a, &g_pol, &st, t, sizeof t, 511), MOLT_OK);
        CHECK_EQ(molt_awdt_accept(&a, &g_pol, &st, t, sizeof t, 512), MOLT_E_AWDT_NONCE);
        molt_awdt_state_t back = {0};
        CHECK_EQ(molt_awdt_load(&a, &back, &boots), MOLT_OK);
        CHECK_EQ(back.deadline, 500 + 3600);
        CHECK_EQ(back.boot_limit, 10); /* 0 + 5 would shorten the provisioned 10: kept */
    }

    powercut_sweep();
    recovery_sweep();
    return check_done();
}
