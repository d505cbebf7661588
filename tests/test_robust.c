/*
 * test_robust.c - every truncation and every single-bit flip of small signed
 * images is refused (R-AUTH; "abusing the update mechanism": bounded parsing).
 *
 * Images: p02 (ECDSA-P256), p08 (Ed25519), p11 (pure Ed25519), p17 (RSA-2048).
 * `make test` builds this with ASan and UBSan, so an out-of-bounds read or an
 * overflow anywhere on these paths aborts the test. Each truncation must fail
 * with a structure reason; each flip must fail; the reasons are tallied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "molt/verify.h"
#include "slurp.h"

static molt_err_t run(const uint8_t *img, size_t len, const molt_keyring_t *ring)
{
    molt_policy_t pol;
    molt_source_t src;
    molt_mem_source_t mem;
    molt_policy_default(&pol);
    /* An exact-size copy, so ASan catches a read one byte past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, img, len);
    molt_source_from_mem(&src, &mem, copy, (uint32_t)len);
    molt_err_t err = molt_verify(&src, ring, &pol, NULL);
    CHECK(memcmp(copy, img, len) == 0, "verify wrote to its source");
    free(copy);
    return err;
}

static int tally[128];

static void sweep(const char *dir, const char *image, const char *key)
{
    size_t len, klen;
    char kname[128];
    snprintf(kname, sizeof kname, "keys/%s.pub.der", key);
    uint8_t *img = slurp(dir, image, &len), *der = slurp(dir, kname, &klen);
    CHECK(img && der, "missing %s or %s", image, kname);
    if (!img || !der)
        return;
    molt_key_t k = {der, klen};
    molt_keyring_t ring = {&k, 1};
    CHECK_EQ(run(img, len, &ring), MOLT_OK);

    int accepted = 0, nonstructural = 0;
    for (size_t cut = 0; cut < len; cut++) {
        molt_err_t err = run(img, cut, &ring);
        accepted += err == MOLT_OK;
        nonstructural += !(err >= MOLT_E_TRUNCATED && err <= MOLT_E_TLV_DUPLICATE);
    }
    CHECK(accepted == 0, "%s: %d truncations accepted", image, accepted);
    CHECK(nonstructural == 0, "%s: %d truncations refused for a non-structural reason", image, nonstructural);

    uint8_t *m = malloc(len);
    accepted = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(m, img, len);
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        molt_err_t err = run(m, len, &ring);
        if (err == MOLT_OK) {
            accepted++;
            fprintf(stderr, "%s: flip of bit %zu accepted\n", image, bit);
        }
        tally[err < 128 ? err : 0]++;
    }
    CHECK(accepted == 0, "%s: %d bit flips accepted", image, accepted);
    printf("%s: %zu truncations and %zu bit flips, all refused\n", image, len, len * 8);
    free(m);
    free(img);
    free(der);
}

int main(void)
{
    const char *dir = getenv("VECTORS") ? getenv("VECTORS") : MOLT_VECTORS;
    sweep(dir, "images/p02_ecdsa_p256.bin", "sign-ecdsa-p256");
    sweep(dir, "images/p08_ed25519.bin", "sign-ed25519");
    sweep(dir, "images/p11_ed25519_pure.bin", "sign-ed25519");
    sweep(dir, "images/p17_rsa2048.bin", "sign-rsa-2048");
    printf("bit-flip refusals by reason:");
    for (int i = 1; i < 128; i++)
        if (tally[i])
            printf(" %s=%d", molt_err_name((molt_err_t)i), tally[i]);
    printf("\n");
    return check_done();
}
