/*
 * fuzz_verify.c - molt_image_parse + molt_verify on arbitrary bytes, under
 * seven policies per input (R-AUTH, R-ROLLBACK, R-SECBOOT):
 *   upload and installed role with the four trusted keys; hash-only without
 *   keys; rollback and downgrade floors (security counter >= 5, version >=
 *   1.2.3); signature required with an empty keyring (must never accept);
 *   upload with the device's decryption keys (encrypted images); and the
 *   update API's caller-supplied digest (SHA-256 computed by OpenSSL).
 * Every MOLT_OK goes to the false-accept oracle (oracle.h). The TLV-aware
 * mutator is in tlv_mutator.c (libFuzzer builds only).
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "molt/image.h"
#include "molt/verify.h"
#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const uint8_t *data, size_t size, const molt_policy_t *pol, const molt_keyring_t *keys,
                const oracle_policy_t *op)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_verify_result_t res;
    molt_source_from_mem(&src, &mem, data, (uint32_t)size);
    if (molt_verify(&src, keys, pol, &res) == MOLT_OK)
        oracle_accepted(data, size, op, &res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256u * 1024u)
        return 0;
    const molt_keyring_t *ring = fuzz_keyring();
    static const molt_keyring_t none = {NULL, 0};
    molt_policy_t pol;
    oracle_policy_t op;

    /* The parser alone (inspect and the boot code call it first). */
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t img;
    molt_source_from_mem(&src, &mem, data, (uint32_t)size);
    if (molt_image_parse(&src, &img) == MOLT_OK) {
        uint32_t uoff = 0, end = 0;
        if (!oracle_layout(data, size, &uoff, &end) || uoff != img.unprot_off || end != img.end)
            FUZZ_FAIL("libmolt's layout disagrees with the independent walk");
        molt_tlv_iter_t it;
        molt_tlv_t t;
        bool more = true;
        molt_tlv_iter_init(&it, &src, &img);
        while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more)
            if ((uint64_t)t.off + t.len > img.end)
                FUZZ_FAIL("a TLV outside the image");
    }

    /* 1. upload, trusted keys */
    molt_policy_default(&pol);
    op = (oracle_policy_t){.require_signature = true};
    run(data, size, &pol, ring, &op);
    /* 2. installed */
    pol.role = MOLT_ROLE_INSTALLED;
    run(data, size, &pol, ring, &op);
    /* 3. hash-only, no key store */
    molt_policy_default(&pol);
    pol.require_signature = false;
    op = (oracle_policy_t){.require_signature = false};
    run(data, size, &pol, &none, &op);
    /* 4. rollback and downgrade floors */
    molt_policy_default(&pol);
    pol.check_sec_cnt = true;
    pol.min_sec_cnt = 5;
    pol.check_version = true;
    pol.min_version = (molt_version_t){1, 2, 3, 0};
    op = (oracle_policy_t){.require_signature = true, .check_sec_cnt = true, .min_sec_cnt = 5,
                           .check_version = true, .min_version = pol.min_version};
    run(data, size, &pol, ring, &op);
    /* 5. signatures required, empty keyring */
    molt_policy_default(&pol);
    op = (oracle_policy_t){.require_signature = true, .no_keys = true};
    run(data, size, &pol, &none, &op);
    /* 6. encrypted uploads: the device's decryption keys */
    molt_policy_default(&pol);
    pol.dec = fuzz_decrypt();
    op = (oracle_policy_t){.require_signature = true};
    run(data, size, &pol, ring, &op);
    /* 7. the update API's streamed digest, computed here by OpenSSL */
    uint32_t uoff, end;
    if (oracle_layout(data, size, &uoff, &end)) {
        uint8_t d[32];
        unsigned dl = 0;
        if (EVP_Digest(data, uoff, d, &dl, EVP_sha256(), NULL)) {
            molt_policy_default(&pol);
            pol.digest = d;
            pol.digest_alg = MOLT_HASH_SHA256;
            run(data, size, &pol, ring, &op);
        }
    }
    return 0;
}
