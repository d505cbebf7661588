/*
 * bench_verify.c - one verification of IMAGE against KEY.der, with its I/O cost.
 *
 *   bench_verify [--baseline] IMAGE KEY.der
 *
 * Prints the image size, how many reads verification made and how many bytes
 * they fetched (a device pays for each in flash reads). scripts/bench.sh runs it
 * under callgrind, minus a --baseline run (same loading, no verification), to
 * report the instructions one verification costs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt/verify.h"
#include "slurp.h"

typedef struct {
    molt_mem_source_t mem;
    unsigned long reads, bytes;
} counting_t;

static molt_err_t counting_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    counting_t *c = ctx;
    if (off > c->mem.size || len > c->mem.size - off)
        return MOLT_E_IO;
    memcpy(buf, c->mem.data + off, len);
    c->reads++;
    c->bytes += len;
    return MOLT_OK;
}

int main(int argc, char **argv)
{
    int baseline = argc == 4 && !strcmp(argv[1], "--baseline");
    if (argc != 3 + baseline) {
        fprintf(stderr, "usage: bench_verify [--baseline] IMAGE KEY.der\n");
        return 2;
    }
    size_t len, klen;
    uint8_t *img = slurp(NULL, argv[1 + baseline], &len), *der = slurp(NULL, argv[2 + baseline], &klen);
    if (!img || !der) {
        fprintf(stderr, "bench_verify: cannot read inputs\n");
        return 2;
    }
    if (baseline)
        return 0;
    molt_key_t key = {der, klen};
    molt_keyring_t ring = {&key, 1};
    molt_policy_t pol;
    molt_policy_default(&pol);
    counting_t c = {{img, (uint32_t)len}, 0, 0};
    molt_source_t src = {counting_read, &c, (uint32_t)len};
    molt_err_t err = molt_verify(&src, &ring, &pol, NULL);
    printf("%s: %s, image %zu bytes, %lu reads, %lu bytes read\n", argv[1], molt_err_name(err), len, c.reads,
           c.bytes);
    free(img);
    free(der);
    return err == MOLT_OK ? 0 : 1;
}
