/*
 * fuzz_fwu.c - PSA Firmware Update sequences with power cuts (lib/fwu.c over
 * the sim port), R-BACKGROUND, R-AUTH, R-ROLLBACK.
 *
 * A fresh simulated device runs p02 (ECDSA P-256, version 1.2.3+4). The input
 * is a script, one op per byte (low 4 bits), arguments from the next bytes:
 *   start, write (the next block at info.impl.written, or at an offset of
 *   the script's choosing; bytes from one of five images - p03 valid with
 *   counter 5, p24 older, p26 untrusted, n01 tampered, p08 Ed25519 - or raw
 *   script bytes), finish, cancel, clean, install (+ reset), accept,
 *   reject, a reset, a power cut armed at the k-th next flash operation
 *   (torn or clean), and query.
 * After every op (and every reset) the oracle checks, independently of lib/:
 *   - CANDIDATE: the staged bytes [stg, stg + size) are exactly the bytes the
 *     script wrote at those offsets (by writes that succeeded, or that a power
 *     cut interrupted: their prefix may have reached a checkpoint), and they verify under the
 *     false-accept oracle (OpenSSL hash and signature, the stored security
 *     counter as floor);
 *   - after a boot that activated an image (UPGRADE_TEST/PERM): PRIMARY
 *     holds exactly the last CANDIDATE's bytes;
 *   - the stored security counter never decreases.
 */
#include <psa/crypto.h>

#include <stdlib.h>
#include <string.h>

#include "molt/fwu.h"
#include "oracle.h"
#include "psa/update.h"
#include "sim_port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEC 1024u
#define SLOT_SECS 16u
#define IMG_MAX (16u * SEC)

typedef struct img { uint8_t *b; size_t n; } img_t;
static img_t factory, src[5];
static const molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};

static img_t load(const char *name)
{
    char path[1024];
    img_t im;
    snprintf(path, sizeof path, "%s/%s", MOLT_VECTORS, name);
    im.b = fuzz_slurp(path, &im.n);
    if (!im.b)
        abort();
    return im;
}

typedef struct dut {
    sim_device_t d;
    molt_fwu_t f;
    molt_boot_result_t r;
    uint8_t shadow[IMG_MAX]; /* what the script wrote successfully, by image offset */
    uint8_t cand[IMG_MAX];   /* the last CANDIDATE seen */
    size_t cand_len;
    uint32_t counter;
} dut_t;

static uint32_t nv(dut_t *u)
{
    uint32_t v = 0;
    if (u->d.port.nv_read(u->d.port.ctx, MOLT_NV_SECURITY_COUNTER, &v) != MOLT_OK)
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
    return v;
}

static const uint8_t *secondary(dut_t *u) { return sim_flash_data(&u->d.flash) + sim_device_area_base(&u->d, MOLT_AREA_SECONDARY); }
static const uint8_t *primary(dut_t *u) { return sim_flash_data(&u->d.flash) + sim_device_area_base(&u->d, MOLT_AREA_PRIMARY); }

/* Power back: boot, FWU from flash. Checks what the boot did. */
static void boot(dut_t *u)
{
    sim_flash_disarm(&u->d.flash);
    if (sim_device_reboot(&u->d) != MOLT_OK)
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
    if (molt_boot_go(&u->d.port, &cfg, &u->r) != MOLT_OK)
        FUZZ_FAIL("bricked: the boot code must always find an image");
    if ((u->r.action == MOLT_ACT_UPGRADE_TEST || u->r.action == MOLT_ACT_UPGRADE_PERM) &&
        (u->cand_len == 0 || memcmp(primary(u), u->cand, u->cand_len) != 0))
        FUZZ_FAIL("activated something that is not the last CANDIDATE");
    if (getenv("FUZZ_FWU_TRACE"))
        fprintf(stderr, "boot: action %d slot %u counter %u\n", (int)u->r.action, u->r.slot, nv(u));
    uint32_t c = nv(u);
    if (c < u->counter)
        FUZZ_FAIL("the security counter went down");
    u->counter = c;
    if (molt_fwu_init(&u->f, &u->d.port, &cfg, &u->r) != MOLT_OK)
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
}

static void observe(dut_t *u)
{
    if (!sim_flash_powered(&u->d.flash))
        return;
    psa_fwu_component_info_t i;
    if (molt_fwu_query(&u->f, 0, &i) != PSA_SUCCESS)
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
    if (i.state != PSA_FWU_CANDIDATE)
        return;
    /* The image's size from its own layout (the RAM field "declared" is not
     * restored by a reset in CANDIDATE). */
    uint32_t stg = molt_boot_staging_offset(&u->d.port, &cfg), uoff, end;
    if (!oracle_layout(secondary(u) + stg, SLOT_SECS * SEC - stg, &uoff, &end))
        FUZZ_FAIL("a CANDIDATE that is not a well-formed image");
    size_t n = end;
    if (n > IMG_MAX)
        FUZZ_FAIL("a CANDIDATE larger than the harness ever wrote");
    if (memcmp(secondary(u) + stg, u->shadow, n) != 0) {
        size_t k = 0, last = 0, diff = 0;
        for (size_t j = 0; j < n; j++)
            if (secondary(u)[stg + j] != u->shadow[j]) {
                if (!diff++)
                    k = j;
                last = j;
            }
        FUZZ_FAIL("the CANDIDATE is not the bytes written: %zu of %zu bytes differ, offsets %zu..%zu", diff, n, k, last);
    }
    oracle_policy_t op = {.require_signature = true, .check_sec_cnt = true, .min_sec_cnt = nv(u)};
    oracle_accepted(u->shadow, n, &op, NULL);
    memcpy(u->cand, u->shadow, n);
    u->cand_len = n;
    if (getenv("FUZZ_FWU_TRACE"))
        fprintf(stderr, "CANDIDATE of %zu bytes: exact and verified\n", n);
}

/* One psa_fwu_write. The bytes are what the image holds at off if the write
 * succeeded, and also if power failed during it: a prefix may have reached a
 * checkpoint, from which query then resumes (a refused write changes nothing). */
static bool write_block(dut_t *u, size_t off, const uint8_t *b, size_t n)
{
    psa_status_t s = molt_fwu_write(&u->f, 0, off, b, n);
    if (s == PSA_SUCCESS || !sim_flash_powered(&u->d.flash))
        memcpy(u->shadow + off, b, n);
    return s == PSA_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!factory.b) {
        factory = load("images/p02_ecdsa_p256.bin");
        src[0] = load("images/p03_ecdsa_p256_seccnt.bin");
        src[1] = load("images/p24_ecdsa_p256_rollback_low.bin");
        src[2] = load("images/p26_untrusted_ecdsa_p256.bin");
        src[3] = load("negative/n01_payload_bitflip_ecdsa.bin");
        src[4] = load("images/p08_ed25519.bin");
    }
    if (size > 512)
        return 0;
    dut_t *u = calloc(1, sizeof *u);
    sim_layout_t l;
    uint32_t align = size > 0 && (data[0] & 0x80) ? 16 : 8;
    if (!u || sim_layout_uniform(&l, SEC, SLOT_SECS, align, 0xff) != MOLT_OK ||
        sim_device_init(&u->d, &l, fuzz_keyring()) != MOLT_OK)
        abort();
    if (sim_device_program(&u->d, MOLT_AREA_PRIMARY, 0, factory.b, factory.n) != MOLT_OK)
        abort();
    boot(u);
    const img_t *im = &src[0];
    size_t p = 0;
    while (p < size) {
        uint8_t op = data[p++], a = p < size ? data[p] : 0, b = p + 1 < size ? data[p + 1] : 0;
        if (!sim_flash_powered(&u->d.flash)) {
            boot(u); /* a cut fired: power comes back */
            observe(u);
        }
        psa_fwu_component_info_t i;
        switch (op & 15) {
        case 0:
            molt_fwu_start(&u->f, 0, NULL, 0);
            im = &src[(op >> 4) % 5];
            break;
        case 1: case 2: case 3: { /* write: the next block of the image */
            p += 1;
            if (molt_fwu_query(&u->f, 0, &i) != PSA_SUCCESS)
                break;
            size_t off = i.impl.written, n = 1 + (size_t)a * 4 * (op & 3);
            if (off >= im->n)
                break;
            if (n > im->n - off)
                n = im->n - off;
            if (n > PSA_FWU_MAX_WRITE_SIZE)
                n = PSA_FWU_MAX_WRITE_SIZE;
            write_block(u, off, im->b + off, n);
            break;
        }
        case 4: { /* write raw script bytes at an offset of the script's choosing */
            size_t off = ((size_t)a << 8 | b) % IMG_MAX, n = p + 2 < size ? data[p + 2] % 64 + 1 : 1;
            p += 3;
            if (p + n > size)
                n = p < size ? size - p : 0;
            if (n && off + n <= IMG_MAX)
                write_block(u, off, data + p, n);
            p += n;
            break;
        }
        case 5: molt_fwu_finish(&u->f, 0); break;
        case 6: molt_fwu_cancel(&u->f, 0); break;
        case 7: molt_fwu_clean(&u->f, 0); break;
        case 8:
            if (molt_fwu_install(&u->f) == PSA_SUCCESS_REBOOT && sim_flash_powered(&u->d.flash))
                boot(u);
            break;
        case 9: molt_fwu_accept(&u->f); break;
        case 10:
            if (molt_fwu_reject(&u->f, (psa_status_t)-7) == PSA_SUCCESS_REBOOT && sim_flash_powered(&u->d.flash))
                boot(u);
            break;
        case 11: boot(u); break;
        case 12: case 13: /* a power cut at the a-th next flash operation */
            p += 1;
            sim_flash_arm_cut(&u->d.flash, (op & 15) == 12 ? SIM_CUT_TORN : SIM_CUT_BEFORE, a % 32, b);
            break;
        case 14: {
            /* the whole rest of the image, in blocks */
            for (int k = 0; k < 64; k++) {
                if (molt_fwu_query(&u->f, 0, &i) != PSA_SUCCESS || i.state != PSA_FWU_WRITING)
                    break;
                size_t off = i.impl.written, n = im->n - off;
                if (off >= im->n)
                    break;
                if (n > PSA_FWU_MAX_WRITE_SIZE)
                    n = PSA_FWU_MAX_WRITE_SIZE;
                if (!write_block(u, off, im->b + off, n))
                    break;
            }
            break;
        }
        default: molt_fwu_query(&u->f, 0, &i); break;
        }
        if (getenv("FUZZ_FWU_TRACE")) {
            psa_fwu_component_info_t t;
            molt_fwu_query(&u->f, 0, &t);
            fprintf(stderr, "op %u: state %u written %u error %d powered %d\n", op & 15u, t.state,
                    (unsigned)t.impl.written, (int)t.error, (int)sim_flash_powered(&u->d.flash));
        }
        observe(u);
    }
    sim_device_free(&u->d);
    free(u);
    return 0;
}
