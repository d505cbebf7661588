/*
 * bench_attest.c - figures for attestation tokens (R-ATTEST): token size per
 * challenge size and number of measured slots, and host time per token, split
 * into the port's signature (ECDSA P-256, PSA) and the rest (verifying and
 * hashing each slot's image, encoding). Prints figures; never passes or fails
 * on time.
 *
 * usage: bench_attest KEY.pub.der RUNNING.bin STAGED.bin [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "molt/attest.h"
#include "sim_port.h"
#include "slurp.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static molt_err_t (*real_sign)(void *, const uint8_t *, uint8_t *);
static double sign_time;

static molt_err_t timed_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
    double t0 = now();
    molt_err_t e = real_sign(ctx, digest, sig);
    sign_time += now() - t0;
    return e;
}

int main(int argc, char **argv)
{
    size_t klen = 0, alen = 0, blen = 0;
    uint8_t *key, *a, *b, nonce[64] = {0}, tok[MOLT_ATTEST_TOKEN_MAX];
    sim_layout_t l;
    sim_device_t dev;
    molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
    molt_boot_result_t br;
    int rounds = argc > 4 ? atoi(argv[4]) : 200;

    if (argc < 4 || rounds <= 0) {
        fprintf(stderr, "usage: bench_attest KEY.pub.der RUNNING.bin STAGED.bin [ROUNDS]\n");
        return 2;
    }
    key = slurp(NULL, argv[1], &klen);
    a = slurp(NULL, argv[2], &alen);
    b = slurp(NULL, argv[3], &blen);
    if (!key || !a || !b) {
        fprintf(stderr, "bench_attest: cannot read the inputs\n");
        return 2;
    }
    molt_key_t k = {key, klen};
    molt_keyring_t ring = {&k, 1};
    if (sim_layout_uniform(&l, 4096, 16, 8, 0xff) != MOLT_OK || sim_device_init(&dev, &l, &ring) != MOLT_OK ||
        sim_device_program(&dev, MOLT_AREA_PRIMARY, 0, a, alen) != MOLT_OK ||
        molt_boot_go(&dev.port, &cfg, &br) != MOLT_OK) {
        fprintf(stderr, "bench_attest: device set-up failed\n");
        return 2;
    }
    real_sign = dev.port.attest_sign;
    dev.port.attest_sign = timed_sign;
    printf("%-9s %-6s %6s %12s %12s %12s\n", "challenge", "slots", "bytes", "us/token", "us/sign", "us/other");
    for (int slots = 1; slots <= 2; slots++) {
        if (slots == 2 && sim_device_program(&dev, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&dev.port, &cfg), b,
                                             blen) != MOLT_OK) {
            fprintf(stderr, "bench_attest: cannot stage the second image\n");
            return 2;
        }
        for (size_t n = 32; n <= 64; n += 16) {
            molt_attest_req_t req = {nonce, n, -1, br.slot, cfg};
            size_t len = 0;
            sign_time = 0;
            double t0 = now();
            for (int r = 0; r < rounds; r++)
                if (molt_attest_get_token(&dev.port, &req, tok, sizeof tok, &len) != MOLT_OK) {
                    fprintf(stderr, "bench_attest: token refused\n");
                    return 2;
                }
            double total = (now() - t0) / rounds * 1e6, sign = sign_time / rounds * 1e6;
            printf("%-9zu %-6d %6zu %12.1f %12.1f %12.1f\n", n, slots, len, total, sign, total - sign);
        }
    }
    printf("(images: %zu and %zu bytes; %d tokens per row; host time, Mbed TLS PSA)\n", alen, blen, rounds);
    sim_device_free(&dev);
    free(key);
    free(a);
    free(b);
    return 0;
}
