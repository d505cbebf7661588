/*
 * main.c - a sample program built against an installed libmolt (tests/sample, docs/install.md).
 *
 *   molt-sample -k KEY.der [-k KEY.der ...] IMAGE...
 *
 * Verifies each MCUboot-format IMAGE as a device would on upload (signature required,
 * every algorithm allowed) against the trusted keys (the DER bytes MCUboot hashes, e.g.
 * tests/vectors/imgtool/keys/NAME.pub.der), and prints one line per image:
 *   IMAGE OK VERSION       (VERSION as major.minor.revision+build)
 *   IMAGE ERROR_NAME       (molt_err_name: why libmolt refused it)
 * Exit 0 when every image was judged, 2 for a usage error or an unreadable file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molt/error.h"
#include "molt/image.h"
#include "molt/verify.h"

#define MAX_KEYS 8
#define MAX_FILE (16u * 1024u * 1024u)

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *more = cap < MAX_FILE ? realloc(buf, cap ? 2 * cap : 4096) : NULL;
            if (more == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = more;
            cap = cap ? 2 * cap : 4096;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    molt_key_t keys[MAX_KEYS];
    uint8_t *ders[MAX_KEYS];
    size_t nkeys = 0;
    int i = 1, rc = 0;

    for (; i + 1 < argc && strcmp(argv[i], "-k") == 0; i += 2) {
        if (nkeys == MAX_KEYS) {
            fprintf(stderr, "molt-sample: at most %d keys\n", MAX_KEYS);
            return 2;
        }
        ders[nkeys] = slurp(argv[i + 1], &keys[nkeys].der_len);
        if (ders[nkeys] == NULL) {
            fprintf(stderr, "molt-sample: %s: cannot read\n", argv[i + 1]);
            return 2;
        }
        keys[nkeys].der = ders[nkeys];
        nkeys++;
    }
    if (nkeys == 0 || i == argc) {
        fprintf(stderr, "usage: molt-sample -k KEY.der [-k KEY.der ...] IMAGE...\n");
        return 2;
    }
    molt_keyring_t ring = {keys, nkeys};
    molt_policy_t pol;
    molt_policy_default(&pol);

    for (; i < argc; i++) {
        size_t len = 0;
        uint8_t *img = slurp(argv[i], &len);
        if (img == NULL || len > UINT32_MAX) {
            fprintf(stderr, "molt-sample: %s: cannot read\n", argv[i]);
            free(img);
            rc = 2;
            break;
        }
        molt_source_t src;
        molt_mem_source_t mem;
        molt_verify_result_t res;
        molt_source_from_mem(&src, &mem, img, (uint32_t)len);
        molt_err_t err = molt_verify(&src, &ring, &pol, &res);
        if (err == MOLT_OK) {
            const molt_version_t *v = &res.image.version;
            printf("%s OK %u.%u.%u+%lu\n", argv[i], v->major, v->minor, v->revision, (unsigned long)v->build);
        } else {
            printf("%s %s\n", argv[i], molt_err_name(err));
        }
        free(img);
    }
    for (size_t k = 0; k < nkeys; k++)
        free(ders[k]);
    return rc;
}
