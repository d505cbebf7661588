/*
 * test_fwu.c - the PSA Firmware Update API (include/psa/update.h, lib/fwu.c)
 * on the simulated device (ports/sim), with real imgtool-signed vectors.
 *
 *  - the transition table: every call from every state gives the specified
 *    state and status; a refused call changes neither query's answer nor one
 *    byte of flash; what a reboot does to every state;
 *  - a download in random-sized chunks with a reset in the middle resumes from
 *    the checkpoint query reports and ends TRIAL -> accept -> UPDATED with the
 *    exact image and the counter advanced (R-BACKGROUND, R-EASY);
 *  - a torn power cut at every flash operation of a download + install never
 *    stages anything but the exact signed image (R-BACKGROUND, R-AUTH);
 *  - tampered, unsigned, untrusted, rollback and oversized images refused at
 *    the right call with the right status (R-AUTH, R-ROLLBACK);
 *  - two components installed, rejected and accepted all together;
 *  - encrypted images (R-CONF, R-ASSETS): finish decrypts through the device's
 *    key store (or its per-device envelope, R-ONEPKG) as the boot code does,
 *    the trial runs plaintext while the staging slot only ever holds
 *    ciphertext; PSA_FWU_FLAG_ENCRYPTION refuses unencrypted images, on the
 *    component that has it only; devices without the key refuse with the
 *    exact status.
 * <psa/crypto.h> is included before <psa/update.h>: both define psa_status_t.
 */
#include <psa/crypto.h>

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deps.h"
#include "envelope.h"
#include "molt/enc.h"
#include "molt/fwu.h"
#include "pem.h"
#include "psa/update.h"
#include "sim_keystore.h"
#include "sim_port.h"
#include "slurp.h"
#include "trailer.h"

#define SEC 1024u
#define SLOT_SECS 16u
#define MAX_SIZE (14u * SEC) /* SECONDARY's 16 sectors - staging offset - trailer */

typedef struct img { uint8_t *b; size_t n; } img_t;

static molt_key_t g_key[3]; /* ECDSA P-256, Ed25519 and RSA-2048 signers are trusted */
static molt_keyring_t g_keys = {g_key, 3};
static img_t p02, p08, p10, p11, p01, p03, p07, p20, p24, p26, n01, n10, n11, n27, n28;
static const molt_boot_cfg_t g_cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false, .deps = &test_deps};

typedef struct dut {
    sim_device_t d;
    molt_fwu_t f;
    molt_boot_result_t r;
    molt_err_t boot_err;
} dut_t;

static uint64_t g_rng;
static uint32_t g_align = 8;   /* flash write unit of the devices made next */
static uint8_t g_erase = 0xff; /* and their erase value */
static sim_keystore_t *g_ks;   /* and their encryption key store (NULL: none) */
static uint32_t g_flags;       /* component 0's flags, set at every boot */
static uint32_t rnd(uint32_t n) /* xorshift64*, seeded per test */
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static img_t load(const char *name)
{
    img_t im = {NULL, 0};
    im.b = slurp(MOLT_VECTORS, name, &im.n);
    CHECK(im.b != NULL, "load %s", name);
    return im;
}

/* Power back (or first power-up): boot, then the FWU instance from flash and
 * this boot's result, bound to the global psa_fwu_* functions. */
static void dut_boot(dut_t *u)
{
    CHECK_EQ(sim_device_reboot(&u->d), MOLT_OK);
    u->boot_err = molt_boot_go(&u->d.port, &g_cfg, &u->r);
    CHECK_EQ(u->boot_err, MOLT_OK);
    CHECK_EQ(molt_fwu_init(&u->f, &u->d.port, &g_cfg, &u->r), MOLT_OK);
    if (g_flags != 0u)
        CHECK_EQ(molt_fwu_set_flags(&u->f, 0, g_flags), MOLT_OK);
    molt_fwu_bind(&u->f);
}

/* A fresh device running factory image fi (no trailer: runs confirmed). */
static dut_t *dut_new(const img_t *fi)
{
    dut_t *u = calloc(1, sizeof *u);
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, SEC, SLOT_SECS, g_align, g_erase), MOLT_OK);
    CHECK_EQ(sim_device_init(&u->d, &l, &g_keys), MOLT_OK);
    if (g_ks != NULL)
        sim_device_set_keystore(&u->d, g_ks);
    sim_flash_set_flags(&u->d.flash, SIM_FLASH_F_WRITE_ONCE);
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, fi->b, fi->n), MOLT_OK);
    dut_boot(u);
    return u;
}

static void dut_free(dut_t *u)
{
    molt_fwu_bind(NULL);
    sim_device_free(&u->d);
    free(u);
}

static uint8_t state_of(void)
{
    psa_fwu_component_info_t i;
    if (psa_fwu_query(0, &i) != PSA_SUCCESS)
        return 0xff;
    return i.state;
}

static psa_fwu_component_info_t info_of(void)
{
    psa_fwu_component_info_t i;
    memset(&i, 0xee, sizeof i);
    CHECK_EQ(psa_fwu_query(0, &i), PSA_SUCCESS);
    return i;
}

static uint32_t counter(dut_t *u)
{
    uint32_t v = 0;
    CHECK_EQ(u->d.port.nv_read(u->d.port.ctx, MOLT_NV_SECURITY_COUNTER, &v), MOLT_OK);
    return v;
}

static const uint8_t *area(dut_t *u, uint32_t id)
{
    return sim_flash_data(&u->d.flash) + sim_device_area_base(&u->d, id);
}

/* Write im[from, to) in random-sized blocks (1 .. PSA_FWU_MAX_WRITE_SIZE). */
static psa_status_t write_range(const img_t *im, size_t from, size_t to)
{
    while (from < to) {
        size_t n = 1u + rnd(PSA_FWU_MAX_WRITE_SIZE);
        if (n > to - from)
            n = to - from;
        psa_status_t s = psa_fwu_write(0, from, im->b + from, n);
        if (s != PSA_SUCCESS)
            return s;
        from += n;
    }
    return PSA_SUCCESS;
}

static bool staged_exact_at(dut_t *u, uint32_t stg, const img_t *im)
{
    return memcmp(area(u, MOLT_AREA_SECONDARY) + stg, im->b, im->n) == 0;
}

static bool staged_exact(dut_t *u, const img_t *im)
{
    return memcmp(area(u, MOLT_AREA_SECONDARY) + SEC, im->b, im->n) == 0;
}

static bool primary_exact(dut_t *u, const img_t *im) { return memcmp(area(u, MOLT_AREA_PRIMARY), im->b, im->n) == 0; }

/* --- reaching every state ----------------------------------------------------------- */

#define PARTIAL 2000u
#define REJECT_ERR ((psa_status_t)-1234)

static void reach(dut_t *u, uint8_t st)
{
    g_rng = 99;
    if (st == PSA_FWU_READY)
        return;
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    if (st == PSA_FWU_WRITING || st == PSA_FWU_FAILED) {
        CHECK_EQ(write_range(&p03, 0, PARTIAL), PSA_SUCCESS);
        if (st == PSA_FWU_FAILED)
            CHECK_EQ(psa_fwu_cancel(0), PSA_SUCCESS);
        return;
    }
    CHECK_EQ(write_range(&p03, 0, p03.n), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    if (st == PSA_FWU_CANDIDATE)
        return;
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    if (st == PSA_FWU_STAGED)
        return;
    dut_boot(u);
    CHECK_EQ(u->r.action, MOLT_ACT_UPGRADE_TEST);
    if (st == PSA_FWU_REJECTED)
        CHECK_EQ(psa_fwu_reject(REJECT_ERR), PSA_SUCCESS_REBOOT);
    if (st == PSA_FWU_UPDATED)
        CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(state_of(), st);
}

static const char *sname(uint8_t s)
{
    static const char *n[] = {"READY", "WRITING", "CANDIDATE", "STAGED", "FAILED", "TRIAL", "REJECTED", "UPDATED"};
    return s < 8 ? n[s] : "?";
}

enum call { C_START, C_WRITE, C_FINISH, C_CANCEL, C_CLEAN, C_INSTALL, C_REJECT, C_ACCEPT, C_REBOOTREQ, C_QUERY, C_N };
static const char *cname[C_N] = {"start", "write", "finish", "cancel", "clean", "install", "reject", "accept",
                                 "request_reboot", "query"};

static psa_status_t do_call(enum call c)
{
    psa_fwu_component_info_t i;
    size_t off;
    switch (c) {
    case C_START: return psa_fwu_start(0, NULL, 0);
    case C_WRITE:
        off = state_of() == PSA_FWU_WRITING ? PARTIAL : 0;
        return psa_fwu_write(0, off, p03.b + off, 100);
    case C_FINISH: return psa_fwu_finish(0);
    case C_CANCEL: return psa_fwu_cancel(0);
    case C_CLEAN: return psa_fwu_clean(0);
    case C_INSTALL: return psa_fwu_install();
    case C_REJECT: return psa_fwu_reject(REJECT_ERR);
    case C_ACCEPT: return psa_fwu_accept();
    case C_REBOOTREQ: return psa_fwu_request_reboot(); /* no reboot hook bound */
    case C_QUERY: return psa_fwu_query(0, &i);
    default: return PSA_ERROR_GENERIC_ERROR;
    }
}

/* Expected (status, state) of call c from state s; BAD_STATE = refused. */
static void expect(enum call c, uint8_t s, psa_status_t *st, uint8_t *to)
{
    *st = PSA_ERROR_BAD_STATE;
    *to = s;
    switch (c) {
    case C_START: if (s == PSA_FWU_READY) { *st = PSA_SUCCESS; *to = PSA_FWU_WRITING; } break;
    case C_WRITE: if (s == PSA_FWU_WRITING) *st = PSA_SUCCESS; break;
    /* the partial image is not complete: refused, nothing changes (resume first) */
    case C_FINISH: if (s == PSA_FWU_WRITING) *st = PSA_ERROR_INVALID_ARGUMENT; break;
    case C_CANCEL:
        if (s == PSA_FWU_WRITING || s == PSA_FWU_CANDIDATE) { *st = PSA_SUCCESS; *to = PSA_FWU_FAILED; }
        break;
    case C_CLEAN:
        if (s == PSA_FWU_FAILED || s == PSA_FWU_UPDATED) { *st = PSA_SUCCESS; *to = PSA_FWU_READY; }
        break;
    case C_INSTALL: if (s == PSA_FWU_CANDIDATE) { *st = PSA_SUCCESS_REBOOT; *to = PSA_FWU_STAGED; } break;
    case C_REJECT:
        if (s == PSA_FWU_STAGED) { *st = PSA_SUCCESS; *to = PSA_FWU_FAILED; }
        if (s == PSA_FWU_TRIAL) { *st = PSA_SUCCESS_REBOOT; *to = PSA_FWU_REJECTED; }
        break;
    case C_ACCEPT: if (s == PSA_FWU_TRIAL) { *st = PSA_SUCCESS; *to = PSA_FWU_UPDATED; } break;
    case C_REBOOTREQ: *st = PSA_ERROR_NOT_SUPPORTED; break;
    case C_QUERY: *st = PSA_SUCCESS; break;
    default: break;
    }
}

/* R-EASY: the API's state machine exactly as the specification's table. */
static void test_table(void)
{
    int cells = 0, bad = 0;
    dut_t *t = dut_new(&p24);
    size_t fsz = sim_flash_size(&t->d.flash);
    uint8_t *before = malloc(fsz);
    dut_free(t);
    for (uint8_t s = 0; s < 8; s++) {
        for (int c = 0; c < C_N; c++) {
            dut_t *u = dut_new(&p24);
            psa_status_t want, got;
            uint8_t to;
            reach(u, s);
            expect((enum call)c, s, &want, &to);
            psa_fwu_component_info_t i0 = info_of();
            memcpy(before, sim_flash_data(&u->d.flash), fsz);
            got = do_call((enum call)c);
            psa_fwu_component_info_t i1 = info_of();
            cells++;
            if (got != want || i1.state != to) {
                bad++;
                fprintf(stderr, "%s from %s: status %d state %s, expected %d %s\n", cname[c], sname(s), (int)got,
                        sname(i1.state), (int)want, sname(to));
            }
            /* A refused call (or query) changes nothing: query's answer, flash. */
            if (want == PSA_ERROR_BAD_STATE || want == PSA_ERROR_NOT_SUPPORTED || c == C_QUERY ||
                want == PSA_ERROR_INVALID_ARGUMENT) {
                CHECK(memcmp(&i0, &i1, sizeof i0) == 0, "%s from %s changed the query answer", cname[c], sname(s));
                CHECK(memcmp(before, sim_flash_data(&u->d.flash), fsz) == 0, "%s from %s changed flash", cname[c],
                      sname(s));
            }
            /* Reasons kept in info.error. */
            if (c == C_CANCEL && want == PSA_SUCCESS)
                CHECK_EQ(i1.error, MOLT_E_FWU_CANCELLED);
            if (c == C_REJECT && want >= PSA_SUCCESS)
                CHECK_EQ(i1.error, REJECT_ERR);
            /* clean writes one CLEAN mark (no erase: the next download erases
             * each sector once as it enters it); READY survives a reset. */
            if (c == C_CLEAN && want == PSA_SUCCESS) {
                uint64_t erases = u->d.flash.stats.erases;
                dut_boot(u);
                CHECK_EQ(info_of().state, PSA_FWU_READY);
                CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
                CHECK(u->d.flash.stats.erases >= erases, "clean from %s", sname(s));
            }
            if (c == C_ACCEPT && want == PSA_SUCCESS)
                CHECK_EQ(counter(u), 5); /* R-ROLLBACK: advanced at accept */
            CHECK_EQ(u->d.flash.stats.violations, 0);
            dut_free(u);
        }
    }
    CHECK_EQ(bad, 0);
    printf("transition table: %d cells (8 states x %d calls), %d wrong\n", cells, C_N, bad);

    /* What a reset does to each state (spec: STAGED/TRIAL/REJECTED never
     * survive; non-volatile staging keeps WRITING, CANDIDATE, FAILED, UPDATED). */
    static const uint8_t after[8] = {PSA_FWU_READY, PSA_FWU_WRITING, PSA_FWU_CANDIDATE, PSA_FWU_TRIAL,
                                     PSA_FWU_FAILED, PSA_FWU_FAILED, PSA_FWU_FAILED, PSA_FWU_UPDATED};
    for (uint8_t s = 0; s < 8; s++) {
        dut_t *u = dut_new(&p24);
        reach(u, s);
        psa_fwu_component_info_t i0 = info_of();
        dut_boot(u);
        psa_fwu_component_info_t i1 = info_of();
        CHECK(i1.state == after[s], "reboot from %s: %s, expected %s", sname(s), sname(i1.state), sname(after[s]));
        if (s == PSA_FWU_WRITING) /* back to the last checkpoint (1 KiB) */
            CHECK_EQ(i1.impl.written, PARTIAL / SEC * SEC);
        if (s == PSA_FWU_FAILED)
            CHECK_EQ(i1.error, i0.error);
        if (s == PSA_FWU_TRIAL || s == PSA_FWU_REJECTED) {
            CHECK_EQ(u->r.action, MOLT_ACT_REVERT);
            /* a trial reset without a word: REVERTED; a rejected one keeps the
             * application's reason (its record survives the revert) */
            CHECK_EQ(i1.error, s == PSA_FWU_TRIAL ? MOLT_E_FWU_REVERTED : REJECT_ERR);
            CHECK(primary_exact(u, &p24), "reset in %s restores the previous image", sname(s));
            CHECK_EQ(counter(u), 1);
        }
        if (s == PSA_FWU_STAGED)
            CHECK(primary_exact(u, &p03), "STAGED + reboot runs the new image");
        if (s == PSA_FWU_UPDATED) {
            CHECK(primary_exact(u, &p03), "UPDATED survives");
            CHECK_EQ(u->r.trial, false);
        }
        CHECK_EQ(u->d.flash.stats.violations, 0);
        dut_free(u);
    }
    free(before);
}

/* R-BACKGROUND, R-EASY: random chunks, a reset in the middle, resume, then
 * finish -> install -> reboot -> TRIAL -> accept -> UPDATED. */
static void test_resume_flow(uint64_t seed, bool cut)
{
    dut_t *u = dut_new(&p24);
    g_rng = seed;
    CHECK_EQ(counter(u), 1);
    psa_fwu_component_info_t i = info_of();
    CHECK_EQ(i.state, PSA_FWU_READY);
    CHECK_EQ(i.max_size, MAX_SIZE);
    CHECK_EQ(i.flags, 0); /* non-volatile staging, no encryption */
    CHECK_EQ(i.version.major, 0);
    CHECK_EQ(i.version.minor, 9);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    size_t mid = p03.n * 3 / 5, sent = 0;
    bool armed = false;
    while (sent < p03.n && (cut || sent < mid)) {
        size_t n = 1u + rnd(PSA_FWU_MAX_WRITE_SIZE);
        if (n > p03.n - sent)
            n = p03.n - sent;
        if (cut && !armed && sent + n >= mid) { /* power fails at the next flash operation */
            sim_flash_arm_cut(&u->d.flash, SIM_CUT_TORN, 0, seed);
            armed = true;
        }
        psa_status_t s = psa_fwu_write(0, sent, p03.b + sent, n);
        if (armed && s != PSA_SUCCESS)
            break;
        CHECK_EQ(s, PSA_SUCCESS);
        sent += n;
        CHECK_EQ(info_of().impl.written, sent);
    }
    CHECK(sent < p03.n, "the reset came in the middle");
    /* Reset: RAM gone; the device boots the old image; query says where to resume. */
    dut_boot(u);
    CHECK_EQ(u->r.action, MOLT_ACT_NONE);
    i = info_of();
    CHECK_EQ(i.state, PSA_FWU_WRITING);
    CHECK(i.impl.written <= sent && i.impl.written % SEC == 0 && i.impl.written + SEC + 256u > sent,
          "resume at %u after %zu sent", i.impl.written, sent);
    CHECK_EQ(i.impl.image_size, 0); /* the TLV info (offset 4637) is not written yet */
    CHECK(memcmp(area(u, MOLT_AREA_SECONDARY) + SEC, p03.b, i.impl.written) == 0, "checkpointed bytes are exact");
    uint32_t resumed = i.impl.written;
    /* A write not at the resume offset is refused. */
    CHECK_EQ(psa_fwu_write(0, i.impl.written + 8u, p03.b + i.impl.written + 8u, 16), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(write_range(&p03, i.impl.written, p03.n), PSA_SUCCESS);
    /* The reset broke the streamed hash: finish reads the hashed region again. */
    sim_flash_stats_reset(&u->d.flash);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    uint64_t reread = u->d.flash.stats.bytes_read;
    CHECK(reread >= 512u + 4113u + 12u, "finish after a reset re-reads (%llu bytes)", (unsigned long long)reread);
    CHECK_EQ(state_of(), PSA_FWU_CANDIDATE);
    CHECK(staged_exact(u, &p03), "staged image exact");
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(state_of(), PSA_FWU_STAGED);
    dut_boot(u);
    CHECK_EQ(u->r.action, MOLT_ACT_UPGRADE_TEST);
    CHECK_EQ(u->r.trial, true);
    i = info_of();
    CHECK_EQ(i.state, PSA_FWU_TRIAL);
    CHECK_EQ(i.version.major, 1);
    CHECK_EQ(i.version.minor, 2);
    CHECK_EQ(i.version.patch, 3);
    CHECK_EQ(i.version.build, 4);
    CHECK_EQ(counter(u), 1); /* a trial never advances the counter */
    CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_UPDATED);
    CHECK_EQ(counter(u), 5); /* accept advances it at once (R-ROLLBACK) */
    dut_boot(u);
    CHECK_EQ(u->r.action, MOLT_ACT_NONE);
    CHECK_EQ(u->r.trial, false);
    CHECK_EQ(state_of(), PSA_FWU_UPDATED);
    CHECK(primary_exact(u, &p03), "the new image runs, byte for byte");
    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_READY);
    /* The next update (p20, counter 8) on the cleaned staging area. */
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(write_range(&p20, 0, p20.n), PSA_SUCCESS);
    /* An unbroken stream: finish reads the header and TLVs, not the payload. */
    sim_flash_stats_reset(&u->d.flash);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    uint64_t streamed = u->d.flash.stats.bytes_read;
    CHECK(streamed < 512u + 1000u, "finish with the streamed hash read %llu bytes", (unsigned long long)streamed);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    dut_boot(u);
    CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(counter(u), 8);
    CHECK(primary_exact(u, &p20), "second update exact");
    CHECK_EQ(u->d.flash.stats.violations, 0);
    printf("resume flow (write unit %u, erase 0x%02x) seed %llu%s: resumed at %u of %zu sent, counter 1 -> 5 -> 8; "
           "finish read %llu bytes after the reset, %llu with the streamed hash\n",
           g_align, g_erase, (unsigned long long)seed, cut ? " (torn cut)" : "", resumed, sent,
           (unsigned long long)reread, (unsigned long long)streamed);
    dut_free(u);
}


/* A checkpoint that splits the unprotected TLV info (sectors of 1160 bytes: the
 * 4th checkpoint, 4640, falls inside p03's TLV info at 4637..4640): after the
 * reset the first info bytes come back from flash and the check still holds. */
static void test_resume_split_info(void)
{
    dut_t *u = calloc(1, sizeof *u);
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, 1160, SLOT_SECS, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&u->d, &l, &g_keys), MOLT_OK);
    sim_flash_set_flags(&u->d.flash, SIM_FLASH_F_WRITE_ONCE);
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    dut_boot(u);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_write(0, 0, p03.b, 1000), PSA_SUCCESS);
    for (size_t off = 1000; off < 4500; off += 500)
        CHECK_EQ(psa_fwu_write(0, off, p03.b + off, 500), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_write(0, 4500, p03.b + 4500, 200), PSA_SUCCESS); /* to 4700 */
    dut_boot(u);
    psa_fwu_component_info_t i = info_of();
    CHECK_EQ(i.state, PSA_FWU_WRITING);
    CHECK_EQ(i.impl.written, 4640);
    CHECK_EQ(i.impl.image_size, 0); /* the info is not complete in flash */
    CHECK_EQ(psa_fwu_write(0, 4640, p03.b + 4640, p03.n - 4640), PSA_SUCCESS);
    CHECK_EQ(info_of().impl.image_size, p03.n);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK(memcmp(area(u, MOLT_AREA_SECONDARY) + 1160, p03.b, p03.n) == 0, "exact after a split-info resume");
    printf("resume with the TLV info split by the checkpoint: resumed at %u, finish ok\n", i.impl.written);
    dut_free(u);
}


/* finish pads the last write unit; when that completes a checkpoint past the
 * declared end (sectors of 4792 = roundup(4788, 8) bytes) and the power fails
 * before the CANDIDATE unit, the resume point is the declared end itself. */
static void test_resume_padded_end(void)
{
    dut_t *u = calloc(1, sizeof *u);
    sim_layout_t l;
    CHECK_EQ(sim_layout_uniform(&l, 4792, 4, 8, 0xff), MOLT_OK);
    CHECK_EQ(sim_device_init(&u->d, &l, &g_keys), MOLT_OK);
    sim_flash_set_flags(&u->d.flash, SIM_FLASH_F_WRITE_ONCE);
    CHECK_EQ(sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, p24.b, p24.n), MOLT_OK);
    dut_boot(u);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(write_range(&p03, 0, p03.n), PSA_SUCCESS);
    sim_flash_arm_cut(&u->d.flash, SIM_CUT_BEFORE, 2, 1); /* pad unit, checkpoint, then the cut */
    CHECK_EQ(psa_fwu_finish(0), PSA_ERROR_STORAGE_FAILURE);
    dut_boot(u);
    psa_fwu_component_info_t i = info_of();
    CHECK_EQ(i.state, PSA_FWU_WRITING);
    CHECK_EQ(i.impl.written, p03.n);
    CHECK_EQ(i.impl.image_size, p03.n);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK(staged_exact_at(u, 4792, &p03), "exact");
    printf("power cut after the padded last unit completed a checkpoint: resumed at %u = the image size\n",
           i.impl.written);
    dut_free(u);
}

/* The download flow (start, random chunks, finish, install) with a cut armed
 * at operation k. True when the cut fired (the flow did not complete). */
static bool cut_download(dut_t *u, sim_cut_t mode, uint64_t k, uint64_t seed, uint64_t *ops)
{
    g_rng = 77; /* the same chunking every run */
    uint64_t start = sim_flash_ops(&u->d.flash);
    sim_flash_arm_cut(&u->d.flash, mode, k, seed);
    psa_status_t s = psa_fwu_start(0, NULL, 0);
    if (s == PSA_SUCCESS)
        s = write_range(&p03, 0, p03.n);
    if (s == PSA_SUCCESS)
        s = psa_fwu_finish(0);
    if (s == PSA_SUCCESS)
        s = psa_fwu_install();
    *ops = sim_flash_ops(&u->d.flash) - start;
    if (s == PSA_SUCCESS_REBOOT && sim_flash_powered(&u->d.flash))
        return false;
    sim_flash_disarm(&u->d.flash);
    return true;
}

/* After a reset: check what query reports and continue the download up to
 * install. 1: installed; 2: already running the new image as a trial (the cut
 * came after the request was complete enough); 0: a check failed; -1: a power
 * cut stopped it. */
static int continue_download(dut_t *u, int seen[8])
{
    psa_fwu_component_info_t i = info_of();
    psa_status_t s = PSA_SUCCESS;
    if (u->boot_err != MOLT_OK || i.state >= 8)
        return 0;
    if (seen != NULL)
        seen[i.state]++;
    if (i.state == PSA_FWU_TRIAL)
        return primary_exact(u, &p03) ? 2 : 0; /* the request had been written */
    if (i.state == PSA_FWU_READY) {
        if ((s = psa_fwu_start(0, NULL, 0)) != PSA_SUCCESS)
            return sim_flash_powered(&u->d.flash) ? 0 : -1;
        i.state = PSA_FWU_WRITING;
        i.impl.written = 0;
    }
    if (i.state == PSA_FWU_WRITING) {
        /* The resume point is a checkpoint (or the declared end) and every byte
         * before it is exactly the signed image's. */
        if (!(i.impl.written % SEC == 0 || i.impl.written == p03.n) || i.impl.written > p03.n ||
            memcmp(area(u, MOLT_AREA_SECONDARY) + SEC, p03.b, i.impl.written) != 0)
            return 0;
        if ((s = write_range(&p03, i.impl.written, p03.n)) == PSA_SUCCESS)
            s = psa_fwu_finish(0);
        if (s != PSA_SUCCESS)
            return sim_flash_powered(&u->d.flash) ? 0 : -1;
        i.state = PSA_FWU_CANDIDATE;
    }
    if (i.state != PSA_FWU_CANDIDATE || !staged_exact(u, &p03))
        return 0;
    if ((s = psa_fwu_install()) != PSA_SUCCESS_REBOOT)
        return sim_flash_powered(&u->d.flash) ? 0 : -1;
    return 1;
}

/* The reboot after install: the new image runs as a trial, exactly the signed
 * one, and accept advances the counter. */
static bool ends_in_trial(dut_t *u, int r)
{
    if (r == 1)
        dut_boot(u);
    return state_of() == PSA_FWU_TRIAL && u->r.trial && primary_exact(u, &p03) && counter(u) == 1 &&
           psa_fwu_accept() == PSA_SUCCESS && counter(u) == 5 && u->d.flash.stats.violations == 0;
}

/* R-BACKGROUND, R-AUTH: cut power inside every flash operation of start, the
 * writes, finish and install (several torn seeds, or clean); reboot; whatever
 * query then says, continuing from there ends with exactly the signed image
 * running as a trial. For every third first cut, the continuation is cut
 * again at each of its operations (double cuts). */
static void test_powerfail(sim_cut_t mode, uint64_t seeds)
{
    uint64_t total = 0, ops;
    int cuts = 0, cuts2 = 0, bad = 0, seen[8] = {0};
    for (uint64_t k = 0, seed = 0;; seed = (seed + 1) % seeds, k += seed == 0) {
        dut_t *u = dut_new(&p24);
        if (!cut_download(u, mode, k, 0x5eed + k * 131 + seed, &ops)) {
            total = ops;
            dut_free(u);
            break;
        }
        cuts++;
        dut_boot(u);
        int r = continue_download(u, seen);
        if (r < 1 || !ends_in_trial(u, r)) {
            bad++;
            fprintf(stderr, "cut at op %llu seed %llu: boot %d, continue %d\n", (unsigned long long)k,
                    (unsigned long long)seed, u->boot_err, r);
        }
        dut_free(u);
        if (seed != 0 || k % 3 != 0)
            continue;
        for (uint64_t j = 0;; j++) { /* the second cut, inside the continuation */
            u = dut_new(&p24);
            cut_download(u, mode, k, 0x5eed + k * 131, &ops);
            dut_boot(u);
            sim_flash_arm_cut(&u->d.flash, SIM_CUT_TORN, j, 0xd0d0 + j);
            r = continue_download(u, NULL);
            bool fired = !sim_flash_powered(&u->d.flash);
            sim_flash_disarm(&u->d.flash);
            if (r == -1 || fired) {
                cuts2++;
                dut_boot(u);
                r = continue_download(u, NULL);
            }
            if (r < 1 || !ends_in_trial(u, r)) {
                bad++;
                fprintf(stderr, "cut at op %llu, then at op %llu of the resume: continue %d\n",
                        (unsigned long long)k, (unsigned long long)j, r);
            }
            dut_free(u);
            if (!fired)
                break;
        }
    }
    CHECK(cuts > 20, "power-fail sweep ran (%d cuts)", cuts);
    CHECK(cuts2 > 20, "double cuts ran (%d)", cuts2);
    CHECK_EQ(bad, 0);
    printf("download power-fail (unit %u, erase 0x%02x, %s, %llu seed%s): %d cuts over %llu flash ops + %d second "
           "cuts while resuming, bad %d; after the first cut: READY %d, WRITING %d, CANDIDATE %d, TRIAL %d\n",
           g_align, g_erase, mode == SIM_CUT_TORN ? "torn" : "clean", (unsigned long long)seeds,
           seeds > 1 ? "s" : "", cuts, (unsigned long long)total, cuts2, bad, seen[PSA_FWU_READY],
           seen[PSA_FWU_WRITING], seen[PSA_FWU_CANDIDATE], seen[PSA_FWU_TRIAL]);
}

/* R-BACKGROUND, R-ATOMIC: power cut (torn, then clean) at every flash operation of
 * the calls after the download: accept, reject (from STAGED and from TRIAL),
 * cancel and clean. After the cut and a reboot the device runs exactly the old
 * or exactly the new image, the state is one the call could have left (before
 * or after it), and finishing the job from there works. */
enum op { OP_ACCEPT, OP_REJECT_STAGED, OP_REJECT_TRIAL, OP_CANCEL, OP_CLEAN_FAILED, OP_CLEAN_UPDATED, OP_N };
static const char *opname[OP_N] = {"accept", "reject(STAGED)", "reject(TRIAL)", "cancel", "clean(FAILED)",
                                   "clean(UPDATED)"};

static psa_status_t run_op(enum op o)
{
    switch (o) {
    case OP_ACCEPT: return psa_fwu_accept();
    case OP_REJECT_STAGED:
    case OP_REJECT_TRIAL: return psa_fwu_reject(REJECT_ERR);
    case OP_CANCEL: return psa_fwu_cancel(0);
    default: return psa_fwu_clean(0);
    }
}

static bool settled(dut_t *u, enum op o, uint8_t st)
{
    bool old_img = primary_exact(u, &p24) && counter(u) == 1, new_img = primary_exact(u, &p03);
    switch (o) {
    case OP_ACCEPT: /* not confirmed -> reverted; confirmed -> UPDATED, or READY if the head was lost */
        return (st == PSA_FWU_FAILED && old_img) ||
               ((st == PSA_FWU_UPDATED || st == PSA_FWU_READY) && new_img && counter(u) == 5 && !u->r.trial);
    case OP_REJECT_STAGED: /* the request ran before the reject landed, or the image is gone */
        return (st == PSA_FWU_TRIAL && new_img && u->r.trial) ||
               ((st == PSA_FWU_FAILED || st == PSA_FWU_READY) && old_img);
    case OP_REJECT_TRIAL: return st == PSA_FWU_FAILED && old_img;
    case OP_CANCEL: return (st == PSA_FWU_WRITING || st == PSA_FWU_FAILED) && old_img;
    case OP_CLEAN_FAILED: return (st == PSA_FWU_FAILED || st == PSA_FWU_READY) && old_img;
    default: return (st == PSA_FWU_UPDATED || st == PSA_FWU_READY) && new_img && counter(u) == 5;
    }
}

static void reach_op(dut_t *u, enum op o)
{
    static const uint8_t from[OP_N] = {PSA_FWU_TRIAL, PSA_FWU_STAGED, PSA_FWU_TRIAL, PSA_FWU_WRITING,
                                       PSA_FWU_FAILED, PSA_FWU_UPDATED};
    reach(u, from[o]);
}

static void test_powerfail_ops(void)
{
    for (int o = 0; o < OP_N; o++) {
        for (int m = 0; m < 2; m++) {
            sim_cut_t mode = m == 0 ? SIM_CUT_TORN : SIM_CUT_BEFORE;
            int cuts = 0, bad = 0;
            uint64_t total = 0;
            for (uint64_t k = 0;; k++) {
                dut_t *u = dut_new(&p24);
                reach_op(u, (enum op)o);
                uint64_t start = sim_flash_ops(&u->d.flash);
                sim_flash_arm_cut(&u->d.flash, mode, k, 0xc0ffee + k);
                psa_status_t s = run_op((enum op)o);
                if (sim_flash_powered(&u->d.flash)) {
                    total = sim_flash_ops(&u->d.flash) - start;
                    CHECK(s == PSA_SUCCESS || s == PSA_SUCCESS_REBOOT, "%s uncut: %d", opname[o], (int)s);
                    dut_free(u);
                    break;
                }
                cuts++;
                sim_flash_disarm(&u->d.flash);
                dut_boot(u);
                uint8_t st = state_of();
                bool ok = u->boot_err == MOLT_OK && settled(u, (enum op)o, st);
                /* Finish the job from there: clean what can be cleaned. */
                if (ok && (st == PSA_FWU_FAILED || st == PSA_FWU_UPDATED)) {
                    ok = psa_fwu_clean(0) == PSA_SUCCESS && state_of() == PSA_FWU_READY;
                    dut_boot(u);
                    ok = ok && u->boot_err == MOLT_OK && state_of() == PSA_FWU_READY;
                }
                ok = ok && u->d.flash.stats.violations == 0;
                if (!ok) {
                    bad++;
                    fprintf(stderr, "%s cut at op %llu (%s): boot %d, state %s\n", opname[o], (unsigned long long)k,
                            m == 0 ? "torn" : "clean", u->boot_err, sname(st));
                }
                dut_free(u);
            }
            CHECK(cuts > 0, "%s: no cut", opname[o]);
            CHECK_EQ(bad, 0);
            printf("%s power-fail (%s): %d cuts over %llu flash ops, bad %d\n", opname[o], m == 0 ? "torn" : "clean",
                   cuts, (unsigned long long)total, bad);
        }
    }
}

/* Download im whole to component c (chunks of 512); returns the first failing status. */
static psa_status_t download_to(psa_fwu_component_t c, const img_t *im)
{
    psa_status_t s = psa_fwu_start(c, NULL, 0);
    for (size_t off = 0; s == PSA_SUCCESS && off < im->n; off += 512)
        s = psa_fwu_write(c, off, im->b + off, im->n - off < 512 ? im->n - off : 512);
    return s;
}

static psa_status_t download(const img_t *im) { return download_to(0, im); }

/* Refused at finish with status want and reason why (R-AUTH, R-ROLLBACK). */
static void refused_at_finish(const char *what, const img_t *fi, const img_t *im, psa_status_t want, molt_err_t why)
{
    dut_t *u = dut_new(fi);
    CHECK_EQ(download(im), PSA_SUCCESS);
    psa_status_t s = psa_fwu_finish(0);
    psa_fwu_component_info_t i = info_of();
    CHECK(s == want && i.state == PSA_FWU_FAILED && i.error == (psa_status_t)why,
          "%s: finish %d state %s error %d, expected %d FAILED %d", what, (int)s, sname(i.state), (int)i.error,
          (int)want, (int)why);
    CHECK_EQ(psa_fwu_install(), PSA_ERROR_BAD_STATE); /* nothing to install */
    dut_boot(u); /* FAILED and its reason survive a reset */
    i = info_of();
    CHECK_EQ(i.state, PSA_FWU_FAILED);
    CHECK_EQ(i.error, why);
    CHECK(primary_exact(u, fi), "%s: the running image is untouched", what);
    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_READY);
    printf("%s: refused at finish, status %d, reason %s\n", what, (int)s, molt_err_name(why));
    dut_free(u);
}

/* Refused at the write that carries the bad field. */
static void refused_at_write(const char *what, const img_t *im, size_t at, psa_status_t want, molt_err_t why)
{
    dut_t *u = dut_new(&p24);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    size_t off = 0;
    psa_status_t s = PSA_SUCCESS;
    while (s == PSA_SUCCESS && off < im->n) {
        size_t n = im->n - off < 256 ? im->n - off : 256;
        s = psa_fwu_write(0, off, im->b + off, n);
        if (s == PSA_SUCCESS)
            off += n;
    }
    psa_fwu_component_info_t i = info_of();
    CHECK(s == want && i.state == PSA_FWU_FAILED && i.error == (psa_status_t)why && off / 256 == at / 256,
          "%s: write at %zu -> %d state %s error %d", what, off, (int)s, sname(i.state), (int)i.error);
    CHECK_EQ(psa_fwu_write(0, off, im->b + off, 1), PSA_ERROR_BAD_STATE);
    CHECK_EQ(psa_fwu_finish(0), PSA_ERROR_BAD_STATE);
    printf("%s: refused at the write covering offset %zu, status %d, reason %s\n", what, at, (int)s,
           molt_err_name(why));
    dut_free(u);
}

/* Other signature schemes go through the same finish: SHA-256 digests use the
 * streamed hash, SHA-512 and pure Ed25519 read the image again (R-AUTH). */
static void test_schemes(void)
{
    const img_t *ims[] = {&p08, &p10, &p11};
    const char *names[] = {"Ed25519/SHA-256 (p08)", "Ed25519/SHA-512 (p10)", "pure Ed25519 (p11)"};
    for (int k = 0; k < 3; k++) {
        dut_t *u = dut_new(&p02); /* no security counter: neither has the new image */
        CHECK_EQ(download(ims[k]), PSA_SUCCESS);
        sim_flash_stats_reset(&u->d.flash);
        CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
        CHECK_EQ(state_of(), PSA_FWU_CANDIDATE);
        CHECK(staged_exact(u, ims[k]), "%s staged exactly", names[k]);
        printf("%s: accepted at finish, %llu bytes read\n", names[k],
               (unsigned long long)u->d.flash.stats.bytes_read);
        dut_free(u);
    }
}

static void test_refusals(void)
{
    /* Tampered (R-AUTH): the bytes arrive, finish refuses them. */
    refused_at_finish("tampered payload (n01)", &p24, &n01, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_HASH_MISMATCH);
    refused_at_finish("tampered signature (n11)", &p24, &n11, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_SIG_INVALID);
    refused_at_finish("tampered key hash (n10)", &p24, &n10, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_KEY_UNTRUSTED);
    refused_at_finish("unsigned (p01)", &p24, &p01, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_NO_SIGNATURE);
    refused_at_finish("untrusted signer (p26)", &p24, &p26, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_KEY_UNTRUSTED);
    /* R-ROLLBACK: p03 (counter 5) runs confirmed, p24 (counter 1) is signed but older. */
    refused_at_finish("rollback (p24 under counter 5)", &p03, &p24, PSA_ERROR_NOT_PERMITTED, MOLT_E_ROLLBACK);
    /* Verify early: the header and the TLV info are judged as they arrive. */
    refused_at_write("bad magic (n27)", &n27, 0, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_MAGIC);
    refused_at_write("bad TLV info magic (n28)", &n28, 512 + 1000, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_TLV_INFO);
    refused_at_write("oversized (p07, 66211 bytes)", &p07, 0, PSA_ERROR_INSUFFICIENT_STORAGE, MOLT_E_TOO_LARGE);

    /* The "endless data" attack and bad arguments: refused, nothing changes. */
    dut_t *u = dut_new(&p24);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(write_range(&p03, 0, p03.n - 100), PSA_SUCCESS);
    size_t fsz = sim_flash_size(&u->d.flash);
    uint8_t *before = malloc(fsz), extra[1024];
    memset(extra, 0x5a, sizeof extra);
    memcpy(extra, p03.b + p03.n - 100, 100);
    psa_fwu_component_info_t i0 = info_of();
    memcpy(before, sim_flash_data(&u->d.flash), fsz);
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, extra, 101), PSA_ERROR_INVALID_ARGUMENT); /* one byte too many */
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, extra, 1024), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_write(0, p03.n - 99, extra + 1, 10), PSA_ERROR_INVALID_ARGUMENT); /* not the next offset */
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, extra, 0), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, extra, PSA_FWU_MAX_WRITE_SIZE + 1), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, NULL, 10), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_write(7, 0, extra, 10), PSA_ERROR_DOES_NOT_EXIST);
    CHECK_EQ(psa_fwu_finish(0), PSA_ERROR_INVALID_ARGUMENT); /* 100 bytes missing */
    psa_fwu_component_info_t i1 = info_of();
    CHECK(memcmp(&i0, &i1, sizeof i0) == 0, "refused writes leave query's answer");
    CHECK(memcmp(before, sim_flash_data(&u->d.flash), fsz) == 0, "refused writes leave flash");
    CHECK_EQ(i1.state, PSA_FWU_WRITING);
    CHECK_EQ(i1.impl.image_size, p03.n);
    CHECK_EQ(psa_fwu_write(0, p03.n - 100, extra, 100), PSA_SUCCESS); /* exactly to the end */
    CHECK_EQ(psa_fwu_write(0, p03.n, extra, 1), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK(staged_exact(u, &p03), "exact after refusals");
    printf("endless data: writes past the declared %zu bytes refused (INVALID_ARGUMENT), nothing changed\n", p03.n);
    free(before);
    dut_free(u);

    /* A detached manifest is not expected; other bad arguments. */
    u = dut_new(&p24);
    CHECK_EQ(psa_fwu_start(0, extra, 16), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(state_of(), PSA_FWU_READY);
    CHECK_EQ(psa_fwu_query(1, &i0), PSA_ERROR_DOES_NOT_EXIST);
    CHECK_EQ(psa_fwu_query(0, NULL), PSA_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(psa_fwu_start(1, NULL, 0), PSA_ERROR_DOES_NOT_EXIST);
    dut_free(u);
    /* Only SWAP mode has a revertible trial: other modes are refused. */
    u = dut_new(&p24);
    molt_fwu_t f2;
    molt_boot_cfg_t remap = {.mode = MOLT_MODE_REMAP, .downgrade_prevention = false}, over = {.mode = MOLT_MODE_OVERWRITE, .downgrade_prevention = false};
    CHECK_EQ(molt_fwu_init(&f2, &u->d.port, &remap, NULL), MOLT_E_ARG);
    CHECK_EQ(molt_fwu_init(&f2, &u->d.port, &over, NULL), MOLT_E_ARG);
    CHECK_EQ(molt_fwu_init(&f2, NULL, &g_cfg, NULL), MOLT_E_ARG);
    dut_free(u);
    /* Unbound, the global functions refuse. */
    CHECK_EQ(psa_fwu_query(0, &i0), PSA_ERROR_DOES_NOT_EXIST);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_ERROR_BAD_STATE);
    CHECK_EQ(psa_fwu_install(), PSA_ERROR_BAD_STATE);
    CHECK_EQ(psa_fwu_request_reboot(), PSA_ERROR_NOT_SUPPORTED);
}

static int g_reboots;
static void on_reboot(void *ctx) { (void)ctx; g_reboots++; }

/* Issue 11, defect 9 on several images: p20 (component 0) depends on image 1
 * >= 1.2.3. Component 1 runs p24 (0.9.0): finish refuses p20 (NOT_PERMITTED,
 * DEPENDENCY). With p03 (1.2.3) a candidate on component 1 it is accepted;
 * if component 1's candidate is cancelled, install refuses and writes nothing. */
static void test_multi_deps(void)
{
    dut_t *a = dut_new(&p24), *b = dut_new(&p24);
    molt_fwu_t f;
    psa_fwu_component_info_t i;
    CHECK_EQ(molt_fwu_init(&f, &a->d.port, &g_cfg, &a->r), MOLT_OK);
    CHECK_EQ(molt_fwu_add(&f, 1, &b->d.port, &g_cfg, &b->r), MOLT_OK);
    molt_fwu_bind(&f);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(write_range(&p20, 0, p20.n), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_ERROR_NOT_PERMITTED);
    CHECK_EQ(psa_fwu_query(0, &i), PSA_SUCCESS);
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_DEPENDENCY, "p20 refused: state %d error %d",
          i.state, (int)i.error);
    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_start(1, NULL, 0), PSA_SUCCESS);
    for (size_t off = 0; off < p03.n; off += 1000)
        CHECK_EQ(psa_fwu_write(1, off, p03.b + off, p03.n - off < 1000 ? p03.n - off : 1000), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(1), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
    CHECK_EQ(write_range(&p20, 0, p20.n), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS); /* met by component 1's candidate */
    CHECK_EQ(psa_fwu_cancel(1), PSA_SUCCESS);
    size_t fa = sim_flash_size(&a->d.flash);
    uint8_t *before = malloc(fa);
    CHECK(before != NULL, "copy");
    if (before)
        memcpy(before, sim_flash_data(&a->d.flash), fa);
    CHECK_EQ(psa_fwu_install(), PSA_ERROR_NOT_PERMITTED);
    CHECK(before && memcmp(before, sim_flash_data(&a->d.flash), fa) == 0, "install wrote nothing");
    CHECK_EQ(psa_fwu_query(0, &i), PSA_SUCCESS);
    CHECK_EQ(i.state, PSA_FWU_CANDIDATE);
    free(before);
    printf("two components: a DEPENDENCY on the other's version refused at finish and at install, met by its candidate\n");
    dut_free(a);
    dut_free(b);
}

/* Two components (two ports): install, reject and accept act on both. */
static void test_multi(void)
{
    dut_t *a = dut_new(&p24), *b = dut_new(&p24);
    molt_fwu_t f;
    CHECK_EQ(molt_fwu_init(&f, &a->d.port, &g_cfg, &a->r), MOLT_OK);
    CHECK_EQ(molt_fwu_add(&f, 1, &b->d.port, &g_cfg, &b->r), MOLT_OK);
    CHECK_EQ(molt_fwu_add(&f, 1, &b->d.port, &g_cfg, &b->r), MOLT_E_ARG); /* id taken */
    molt_fwu_set_reboot(&f, on_reboot, NULL);
    molt_fwu_bind(&f);
    for (int round = 0; round < 2; round++) {
        for (psa_fwu_component_t c = 0; c < 2; c++) {
            CHECK_EQ(psa_fwu_start(c, NULL, 0), PSA_SUCCESS);
            for (size_t off = 0; off < p03.n; off += 1000)
                CHECK_EQ(psa_fwu_write(c, off, p03.b + off, p03.n - off < 1000 ? p03.n - off : 1000), PSA_SUCCESS);
        }
        CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT); /* only 0 is CANDIDATE */
        CHECK_EQ(psa_fwu_finish(1), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_install(), PSA_ERROR_BAD_STATE); /* 0 is STAGED: nothing done */
        psa_fwu_component_info_t i;
        CHECK_EQ(psa_fwu_query(1, &i), PSA_SUCCESS);
        CHECK_EQ(i.state, PSA_FWU_CANDIDATE);
        if (round == 0) {
            /* reject acts on STAGED 0; 1 stays CANDIDATE; cancel and clean both. */
            CHECK_EQ(psa_fwu_reject(REJECT_ERR), PSA_SUCCESS);
            CHECK_EQ(psa_fwu_query(0, &i), PSA_SUCCESS);
            CHECK(i.state == PSA_FWU_FAILED && i.error == REJECT_ERR, "component 0 rejected");
            CHECK_EQ(psa_fwu_cancel(1), PSA_SUCCESS);
            CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
            CHECK_EQ(psa_fwu_clean(1), PSA_SUCCESS);
            continue;
        }
        /* round 1: cancel 0's request by reject, then install both together. */
        CHECK_EQ(psa_fwu_reject(REJECT_ERR), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_start(0, NULL, 0), PSA_SUCCESS);
        CHECK_EQ(write_range(&p03, 0, p03.n), PSA_SUCCESS);
        CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
        /* All or nothing: component 1's request cannot be written (its flash
         * fails), so component 0's request is taken back. */
        sim_flash_arm_cut(&b->d.flash, SIM_CUT_BEFORE, 0, 1);
        CHECK_EQ(psa_fwu_install(), PSA_ERROR_STORAGE_FAILURE);
        molt_trailer_t t;
        CHECK_EQ(molt_tr_read(&a->d.port.area[MOLT_AREA_SECONDARY], &t), MOLT_OK);
        CHECK(!t.magic_good, "component 0's request taken back");
        for (psa_fwu_component_t c = 0; c < 2; c++) {
            CHECK_EQ(psa_fwu_query(c, &i), PSA_SUCCESS);
            CHECK_EQ(i.state, PSA_FWU_CANDIDATE);
        }
        CHECK_EQ(sim_device_reboot(&b->d), MOLT_OK); /* b's flash works again */
        CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
        for (psa_fwu_component_t c = 0; c < 2; c++) {
            CHECK_EQ(psa_fwu_query(c, &i), PSA_SUCCESS);
            CHECK_EQ(i.state, PSA_FWU_STAGED);
        }
        CHECK_EQ(psa_fwu_request_reboot(), PSA_SUCCESS);
        CHECK_EQ(g_reboots, 1);
    }
    /* The reboot: both boot their trial. */
    CHECK_EQ(sim_device_reboot(&a->d), MOLT_OK);
    CHECK_EQ(sim_device_reboot(&b->d), MOLT_OK);
    CHECK_EQ(molt_boot_go(&a->d.port, &g_cfg, &a->r), MOLT_OK);
    CHECK_EQ(molt_boot_go(&b->d.port, &g_cfg, &b->r), MOLT_OK);
    CHECK_EQ(molt_fwu_init(&f, &a->d.port, &g_cfg, &a->r), MOLT_OK);
    CHECK_EQ(molt_fwu_add(&f, 1, &b->d.port, &g_cfg, &b->r), MOLT_OK);
    psa_fwu_component_info_t i0, i1;
    CHECK_EQ(molt_fwu_query(&f, 0, &i0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_query(&f, 1, &i1), PSA_SUCCESS);
    CHECK(i0.state == PSA_FWU_TRIAL && i1.state == PSA_FWU_TRIAL, "both in trial");
    CHECK_EQ(molt_fwu_accept(&f), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_query(&f, 0, &i0), PSA_SUCCESS);
    CHECK_EQ(molt_fwu_query(&f, 1, &i1), PSA_SUCCESS);
    CHECK(i0.state == PSA_FWU_UPDATED && i1.state == PSA_FWU_UPDATED, "both updated");
    CHECK(counter(a) == 5 && counter(b) == 5, "both counters advanced");
    CHECK_EQ(molt_fwu_accept(&f), PSA_ERROR_BAD_STATE);
    CHECK(a->d.flash.stats.violations == 0 && b->d.flash.stats.violations == 0, "no NOR violations");
    printf("two components: install/reject/accept act on both\n");
    dut_free(a);
    dut_free(b);
}

/* --- encrypted images (issue 5 point 4) ----------------------------------------------- */

static bool ks_add_pem(sim_keystore_t *ks, const char *name)
{
    img_t pem = load(name);
    size_t dlen = 0;
    char *z = pem.b ? realloc(pem.b, pem.n + 1) : NULL;
    if (z == NULL) {
        free(pem.b);
        return false;
    }
    z[pem.n] = '\0';
    uint8_t *der = pem_to_der(z, &dlen);
    bool ok = der != NULL && sim_keystore_add_pkcs8(ks, der, dlen) == MOLT_OK;
    free(der);
    free(z);
    return ok;
}

/* The installed (plaintext) form of an encrypted image, its hash TLV value and
 * content key, computed here with lib/enc.c's primitives and the key store. */
static img_t plain_of(const img_t *im, sim_keystore_t *ks, uint8_t digest[32], uint8_t key[32], size_t *klen)
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_mem_source_t mem;
    molt_source_t src;
    molt_image_t h;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    molt_ctr_t c;
    bool more;
    img_t out = {malloc(im->n), im->n};
    CHECK(out.b != NULL, "plain_of");
    if (out.b == NULL)
        return out;
    memcpy(out.b, im->b, im->n);
    molt_source_from_mem(&src, &mem, im->b, (uint32_t)im->n);
    CHECK_EQ(molt_image_parse(&src, &h), MOLT_OK);
    molt_tlv_iter_init(&it, &src, &h);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more)
        if (!t.prot && t.type == MOLT_TLV_SHA256)
            CHECK_EQ(molt_tlv_read(&src, &t, digest, 32), MOLT_OK);
    CHECK_EQ(molt_enc_content_key(&src, &h, &dec, NULL, 0, key, klen), MOLT_OK);
    CHECK_EQ(molt_ctr_start(&c, key, *klen), MOLT_OK);
    CHECK_EQ(molt_ctr_xor(&c, 0, out.b + h.payload_off, h.img_size), MOLT_OK);
    molt_ctr_end(&c);
    return out;
}

/* Does SECONDARY contain any 32-byte run of the plaintext payload [from, to) of pl? */
static bool plaintext_in_secondary(dut_t *u, const img_t *pl, size_t from, size_t to)
{
    const uint8_t *a = area(u, MOLT_AREA_SECONDARY);
    size_t n = SLOT_SECS * SEC;
    for (size_t p = from; p + 32 <= to; p += 32)
        for (size_t k = 0; k + 32 <= n; k++)
            if (a[k] == pl->b[p] && memcmp(a + k, pl->b + p, 32) == 0)
                return true;
    return false;
}

/* Download im and finish: status want, state and reason (0: CANDIDATE). */
static void finish_is(const char *what, const img_t *fi, const img_t *im, psa_status_t want, molt_err_t why)
{
    dut_t *u = dut_new(fi);
    CHECK_EQ(download(im), PSA_SUCCESS);
    psa_status_t s = psa_fwu_finish(0);
    psa_fwu_component_info_t i = info_of();
    uint8_t st = want == PSA_SUCCESS ? PSA_FWU_CANDIDATE : PSA_FWU_FAILED;
    CHECK(s == want && i.state == st && (want == PSA_SUCCESS || i.error == (psa_status_t)why),
          "%s: finish %d state %s error %d, expected %d %s %d", what, (int)s, sname(i.state), (int)i.error, (int)want,
          sname(st), (int)why);
    CHECK_EQ(i.flags, g_flags);
    CHECK(staged_exact(u, im), "%s: staging holds the downloaded bytes", what);
    printf("%s: finish %d (%s)\n", what, (int)s, want == PSA_SUCCESS ? "CANDIDATE" : molt_err_name(why));
    dut_free(u);
}

/* R-CONF: PSA_FWU_FLAG_ENCRYPTION is per component (molt_fwu_set_flags). Two
 * components (two ports, both with the key store, so either could take the
 * flag); only component 0 has it. The unencrypted p08 is refused on component
 * 0 at finish (NOT_PERMITTED, reason ENC_REQUIRED) and that refusal changes
 * neither component 1's query answer nor its flash; the same p08 is accepted
 * on component 1 (CANDIDATE); component 0 then takes the encrypted image enc. */
static void test_flag_per_component(sim_keystore_t *ks, const img_t *fi, const img_t *enc)
{
    g_ks = ks;
    g_flags = 0;
    dut_t *a = dut_new(fi), *b = dut_new(fi);
    molt_fwu_t f;
    psa_fwu_component_info_t i0, i1, j1;
    CHECK_EQ(molt_fwu_init(&f, &a->d.port, &g_cfg, &a->r), MOLT_OK);
    CHECK_EQ(molt_fwu_add(&f, 1, &b->d.port, &g_cfg, &b->r), MOLT_OK);
    CHECK_EQ(molt_fwu_set_flags(&f, 0, PSA_FWU_FLAG_ENCRYPTION), MOLT_OK);
    molt_fwu_bind(&f);
    CHECK_EQ(psa_fwu_query(0, &i0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_query(1, &i1), PSA_SUCCESS);
    CHECK_EQ(i0.flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK_EQ(i1.flags, 0u);

    CHECK_EQ(download_to(0, &p08), PSA_SUCCESS);
    CHECK_EQ(download_to(1, &p08), PSA_SUCCESS);
    size_t fsz = sim_flash_size(&b->d.flash);
    uint8_t *before = malloc(fsz);
    memcpy(before, sim_flash_data(&b->d.flash), fsz);
    CHECK_EQ(psa_fwu_query(1, &i1), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_ERROR_NOT_PERMITTED);
    CHECK_EQ(psa_fwu_query(0, &i0), PSA_SUCCESS);
    CHECK_EQ(i0.state, PSA_FWU_FAILED);
    CHECK_EQ(i0.error, MOLT_E_ENC_REQUIRED);
    CHECK_EQ(i0.flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK(staged_exact(a, &p08), "component 0: staging holds the downloaded p08");
    CHECK(primary_exact(a, fi), "component 0: the running image is untouched");
    CHECK_EQ(psa_fwu_query(1, &j1), PSA_SUCCESS);
    CHECK(memcmp(&i1, &j1, sizeof i1) == 0, "component 0's refusal left component 1's query answer");
    CHECK(memcmp(before, sim_flash_data(&b->d.flash), fsz) == 0, "component 0's refusal left component 1's flash");
    CHECK_EQ(j1.state, PSA_FWU_WRITING);

    CHECK_EQ(psa_fwu_finish(1), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_query(1, &i1), PSA_SUCCESS);
    CHECK_EQ(i1.state, PSA_FWU_CANDIDATE);
    CHECK_EQ(i1.flags, 0u);
    CHECK(staged_exact(b, &p08), "component 1: staging holds p08");
    CHECK(primary_exact(b, fi), "component 1: the running image is untouched");

    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    CHECK_EQ(download_to(0, enc), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_query(0, &i0), PSA_SUCCESS);
    CHECK_EQ(i0.state, PSA_FWU_CANDIDATE);
    CHECK_EQ(i0.flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK(staged_exact(a, enc), "component 0: staging holds the encrypted image's ciphertext");
    CHECK_EQ(psa_fwu_query(1, &j1), PSA_SUCCESS);
    CHECK(memcmp(&i1, &j1, sizeof i1) == 0, "component 0's update left component 1's query answer");
    CHECK(a->d.flash.stats.violations == 0 && b->d.flash.stats.violations == 0, "no NOR violations");
    printf("flag on component 0 only: p08 refused on 0 (NOT_PERMITTED, ENC_REQUIRED), CANDIDATE on 1; "
           "encrypted image CANDIDATE on 0\n");
    free(before);
    dut_free(a);
    dut_free(b);
}

static void test_encrypted(void)
{
    sim_keystore_t ks = {0}, kp = {0}, kw = {0}, ke = {0};
    img_t p13 = load("images/p13_ed25519_enc_x25519_aes256.bin");
    img_t p14 = load("images/p14_ed25519_enc_x25519_hmacsha512_aes256.bin");
    img_t p12 = load("images/p12_ed25519_enc_x25519_aes128.bin");
    uint8_t d13[32], d14[32], d12[32], k13[32], k14[32], k12[32];
    size_t n13 = 0, n14 = 0, n12 = 0;
    CHECK(ks_add_pem(&ks, "keys/enc-x25519.pem"), "device X25519 key");
    CHECK(ks_add_pem(&kp, "keys/enc-ecdsa-p256.pem"), "device P-256 key");
    if (check_failed)
        return;
    img_t i13 = plain_of(&p13, &ks, d13, k13, &n13), i14 = plain_of(&p14, &ks, d14, k14, &n14);
    img_t i12 = plain_of(&p12, &ks, d12, k12, &n12);
    CHECK(n13 == 32 && n14 == 32 && n12 == 16, "content key sizes");
    CHECK(memcmp(i14.b, p14.b, p14.n) != 0, "p14's plaintext differs from its ciphertext");

    /* R-CONF: an encrypted download on a component that requires encryption:
     * finish -> install -> reboot -> TRIAL with p14's plaintext in PRIMARY, p13
     * re-encrypted (= its ciphertext) in SECONDARY; accept -> UPDATED. */
    g_ks = &ks;
    g_flags = PSA_FWU_FLAG_ENCRYPTION;
    dut_t *u = dut_new(&i13);
    psa_fwu_component_info_t i = info_of();
    CHECK_EQ(i.flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK_EQ(download(&p14), PSA_SUCCESS);
    sim_flash_stats_reset(&u->d.flash);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_CANDIDATE);
    /* the streamed digest covers ciphertext: finish read the image again */
    CHECK(u->d.flash.stats.bytes_read >= p14.n, "finish re-read the encrypted image (%llu bytes)",
          (unsigned long long)u->d.flash.stats.bytes_read);
    CHECK(staged_exact(u, &p14), "staging holds p14's ciphertext");
    CHECK(!plaintext_in_secondary(u, &i14, 0x200, 0x200 + 1000), "no plaintext in SECONDARY after finish");
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    CHECK_EQ(state_of(), PSA_FWU_STAGED);
    dut_boot(u);
    CHECK_EQ(u->r.action, MOLT_ACT_UPGRADE_TEST);
    i = info_of();
    CHECK_EQ(i.state, PSA_FWU_TRIAL);
    CHECK_EQ(i.flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK(primary_exact(u, &i14), "TRIAL: PRIMARY holds p14's plaintext");
    CHECK(memcmp(area(u, MOLT_AREA_SECONDARY), p13.b, p13.n) == 0, "TRIAL: SECONDARY holds p13's ciphertext");
    CHECK(!plaintext_in_secondary(u, &i14, 0x200, 0x200 + 1000), "no plaintext of p14 in SECONDARY");
    CHECK(!plaintext_in_secondary(u, &i13, 0x200, 0x200 + 1000), "no plaintext of p13 in SECONDARY");
    CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_UPDATED);
    dut_boot(u);
    CHECK_EQ(state_of(), PSA_FWU_UPDATED);
    CHECK(primary_exact(u, &i14), "UPDATED: p14's plaintext runs");
    CHECK_EQ(u->d.flash.stats.violations, 0);
    printf("encrypted p14 over p13: finish, install, TRIAL (plaintext in PRIMARY, ciphertext in SECONDARY), "
           "accept, UPDATED\n");
    dut_free(u);

    /* The flag: unencrypted images are refused (a policy refusal: NOT_PERMITTED),
     * encrypted ones accepted; without the flag the same unencrypted image passes. */
    finish_is("flag set, unencrypted p08", &i13, &p08, PSA_ERROR_NOT_PERMITTED, MOLT_E_ENC_REQUIRED);
    finish_is("flag set, encrypted p13", &i13, &p13, PSA_SUCCESS, MOLT_OK);
    finish_is("flag set, encrypted p12 (AES-128)", &i13, &p12, PSA_SUCCESS, MOLT_OK);
    g_flags = 0;
    finish_is("flag clear, unencrypted p08", &i13, &p08, PSA_SUCCESS, MOLT_OK);
    finish_is("flag clear, encrypted p14", &i13, &p14, PSA_SUCCESS, MOLT_OK);
    test_flag_per_component(&ks, &i13, &p13);

    /* Devices without the key refuse with the exact status, staging untouched
     * but for the ciphertext itself. */
    g_ks = NULL; /* no key store at all */
    finish_is("no key store, p14", &i13, &p14, PSA_ERROR_INVALID_ARGUMENT, MOLT_E_ENC_NO_KEY);
    g_ks = &kp; /* a key store with a P-256 key only: no X25519 key */
    finish_is("P-256 key only, p14 (X25519)", &i13, &p14, PSA_ERROR_INVALID_ARGUMENT, MOLT_E_ENC_ALG);
    kw.x25519 = fresh_key(false); /* another device's X25519 key: the tag does not verify */
    g_ks = &kw;
    finish_is("another X25519 key, p14", &i13, &p14, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_ENC_UNWRAP);

    /* R-ONEPKG: a device whose key is in no key TLV takes p12 through FWU with
     * its own envelope (found by image hash); another device's envelope is
     * refused. */
    uint8_t env[MOLT_ENV_MAX], e13[MOLT_ENV_MAX], eo[MOLT_ENV_MAX];
    ke.x25519 = fresh_key(false);
    size_t el = make_envelope(MOLT_TLV_ENC_X25519, ke.x25519, k12, n12, MOLT_TLV_SHA256, d12, 32, env);
    size_t el13 = make_envelope(MOLT_TLV_ENC_X25519, ke.x25519, k13, n13, MOLT_TLV_SHA256, d13, 32, e13);
    size_t elo = make_envelope(MOLT_TLV_ENC_X25519, kw.x25519, k12, n12, MOLT_TLV_SHA256, d12, 32, eo);
    CHECK(el > 0 && el13 > 0 && elo > 0, "envelopes");
    CHECK_EQ(sim_keystore_add_envelope(&ke, eo, elo), MOLT_OK);
    g_ks = &ke;
    g_flags = PSA_FWU_FLAG_ENCRYPTION;
    finish_is("envelope of another device, p12", &i13, &p12, PSA_ERROR_INVALID_SIGNATURE, MOLT_E_ENV_AUTH);
    ke.nenv = 0;
    CHECK_EQ(sim_keystore_add_envelope(&ke, env, el), MOLT_OK);
    u = dut_new(&i13);
    /* Without the running image's key the swap could not re-encrypt p13: the
     * boot code refuses the staged image. The key of an image leaving PRIMARY
     * must be the one recorded when it was installed (issue 11, defect 8);
     * this factory image's was not known at its first boot. */
    CHECK_EQ(download(&p12), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    dut_boot(u);
    i = info_of();
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_ENC_NO_KEY,
          "no key for the running image: state %s error %d", sname(i.state), (int)i.error);
    CHECK(primary_exact(u, &i13), "the running image is kept");
    CHECK_EQ(psa_fwu_clean(0), PSA_SUCCESS);
    /* An envelope that turns up later -- anyone can make one -- does not help. */
    CHECK_EQ(sim_keystore_add_envelope(&ke, e13, el13), MOLT_OK);
    CHECK_EQ(download(&p12), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    dut_boot(u);
    i = info_of();
    CHECK(i.state == PSA_FWU_FAILED && i.error == (psa_status_t)MOLT_E_ENC_NO_KEY,
          "late envelope: state %s error %d", sname(i.state), (int)i.error);
    CHECK(primary_exact(u, &i13), "the running image is still kept");
    dut_free(u);
    /* Provisioned with the factory image (both envelopes before the first boot,
     * the port keeps both slots' while a revert is possible): the swap works. */
    u = dut_new(&i13);
    CHECK_EQ(download(&p12), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    dut_boot(u);
    CHECK_EQ(state_of(), PSA_FWU_TRIAL);
    CHECK(primary_exact(u, &i12), "envelope device: PRIMARY holds p12's plaintext");
    CHECK_EQ(psa_fwu_accept(), PSA_SUCCESS);
    CHECK_EQ(state_of(), PSA_FWU_UPDATED);
    CHECK_EQ(counter(u), 4); /* p12's security counter */
    printf("envelope device: p12 through FWU, TRIAL, UPDATED, counter 4\n");
    dut_free(u);

    /* RSA-OAEP key transport (ENC_RSA2048, p18): a device whose key store holds
     * only an RSA-2048 key (the port's enc_rsa_unwrap) takes p18 over p17 with
     * the flag set; a device with only ECC keys refuses it with the exact status. */
    sim_keystore_t kr = {0};
    img_t p17 = load("images/p17_rsa2048.bin"), p18 = load("images/p18_rsa2048_enc_rsa2048.bin");
    uint8_t d18[32], k18[32];
    size_t n18 = 0;
    CHECK(ks_add_pem(&kr, "keys/enc-rsa-2048.pem"), "device RSA key");
    img_t i18 = plain_of(&p18, &kr, d18, k18, &n18);
    CHECK_EQ(n18, 16u);
    g_ks = &ks; /* X25519 and nothing else */
    finish_is("X25519-only device, p18 (RSA-OAEP)", &p17, &p18, PSA_ERROR_INVALID_ARGUMENT, MOLT_E_ENC_ALG);
    g_ks = &kr;
    u = dut_new(&p17);
    CHECK_EQ(info_of().flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK_EQ(download(&p18), PSA_SUCCESS);
    CHECK_EQ(psa_fwu_finish(0), PSA_SUCCESS);
    CHECK(staged_exact(u, &p18), "staging holds p18's ciphertext");
    CHECK_EQ(psa_fwu_install(), PSA_SUCCESS_REBOOT);
    dut_boot(u);
    CHECK_EQ(state_of(), PSA_FWU_TRIAL);
    CHECK(primary_exact(u, &i18), "RSA device: PRIMARY holds p18's plaintext");
    CHECK(memcmp(area(u, MOLT_AREA_SECONDARY), p17.b, p17.n) == 0, "RSA device: SECONDARY holds p17");
    CHECK(!plaintext_in_secondary(u, &i18, 0x200, 0x200 + 4113), "RSA device: no plaintext of p18 in SECONDARY");
    dut_boot(u); /* not accepted: reverts, p18's ciphertext staged again */
    CHECK_EQ(state_of(), PSA_FWU_FAILED);
    CHECK(primary_exact(u, &p17), "RSA device: reverted to p17");
    CHECK(staged_exact(u, &p18), "RSA device: p18's ciphertext back in staging");
    CHECK_EQ(u->d.flash.stats.violations, 0);
    printf("RSA-OAEP device: p18 over p17 through FWU, TRIAL with plaintext, revert restores the ciphertext\n");
    dut_free(u);
    sim_keystore_free(&kr);
    free(i18.b);
    free(p17.b);
    free(p18.b);

    /* Configuration: only ENCRYPTION may be set, and only where images can be decrypted. */
    g_flags = 0;
    g_ks = NULL;
    u = dut_new(&p24);
    CHECK_EQ(molt_fwu_set_flags(&u->f, 0, PSA_FWU_FLAG_ENCRYPTION), MOLT_E_ARG);
    sim_device_set_keystore(&u->d, &ks);
    CHECK_EQ(molt_fwu_set_flags(&u->f, 0, PSA_FWU_FLAG_VOLATILE_STAGING), MOLT_E_ARG);
    CHECK_EQ(molt_fwu_set_flags(&u->f, 1, PSA_FWU_FLAG_ENCRYPTION), MOLT_E_ARG); /* no component 1 here */
    CHECK_EQ(info_of().flags, 0u);
    CHECK_EQ(molt_fwu_set_flags(&u->f, 0, PSA_FWU_FLAG_ENCRYPTION), MOLT_OK);
    CHECK_EQ(info_of().flags, PSA_FWU_FLAG_ENCRYPTION);
    CHECK_EQ(molt_fwu_set_flags(&u->f, 0, 0), MOLT_OK);
    CHECK_EQ(info_of().flags, 0u);
    dut_free(u);

    sim_keystore_free(&ks);
    sim_keystore_free(&kp);
    sim_keystore_free(&kw);
    sim_keystore_free(&ke);
    free(i12.b);
    free(i13.b);
    free(i14.b);
    free(p12.b);
    free(p13.b);
    free(p14.b);
}

int main(void)
{
    img_t key = load("keys/sign-ecdsa-p256.pub.der"), ked = load("keys/sign-ed25519.pub.der");
    g_key[0] = (molt_key_t){key.b, key.n};
    g_key[1] = (molt_key_t){ked.b, ked.n};
    img_t krsa = load("keys/sign-rsa-2048.pub.der");
    g_key[2] = (molt_key_t){krsa.b, krsa.n};
    p02 = load("images/p02_ecdsa_p256.bin");
    p08 = load("images/p08_ed25519.bin");
    p10 = load("images/p10_ed25519_sha512.bin");
    p11 = load("images/p11_ed25519_pure.bin");
    p01 = load("images/p01_unsigned_sha256.bin");
    p03 = load("images/p03_ecdsa_p256_seccnt.bin");
    p07 = load("images/p07_ecdsa_p256_large_seccnt_auto.bin");
    p20 = load("images/p20_ecdsa_p256_deps_bootrec_custom.bin");
    p24 = load("images/p24_ecdsa_p256_rollback_low.bin");
    p26 = load("images/p26_untrusted_ecdsa_p256.bin");
    n01 = load("negative/n01_payload_bitflip_ecdsa.bin");
    n10 = load("negative/n10_keyhash_bitflip.bin");
    n11 = load("negative/n11_sig_bitflip_ecdsa.bin");
    n27 = load("negative/n27_bad_image_magic.bin");
    n28 = load("negative/n28_bad_tlv_info_magic.bin");
    if (check_failed)
        return check_done();
    test_table();
    test_resume_flow(1, false);
    test_resume_flow(2, false);
    test_resume_flow(3, true);
    test_resume_split_info();
    test_resume_padded_end();
    test_powerfail(SIM_CUT_TORN, 4);
    test_powerfail(SIM_CUT_BEFORE, 1);
    test_powerfail_ops();
    /* 32-byte write units, erase value 0x00: the record and the checks do not
     * depend on 8-byte units or on 0xFF. */
    g_align = 32;
    g_erase = 0x00;
    test_resume_flow(4, true);
    test_powerfail(SIM_CUT_TORN, 2);
    g_align = 8;
    g_erase = 0xff;
    test_refusals();
    test_schemes();
    test_multi();
    test_multi_deps();
    test_encrypted();
    return check_done();
}
