/*
 * oracle.h - the false-accept oracle of the fuzz targets (docs/fuzzing.md).
 *
 * Whenever libmolt accepts an image, the fuzz target asks this oracle, which
 * knows nothing of lib/: it walks the MCUboot layout itself, recomputes the
 * hash of the hashed region with OpenSSL, and checks that some signature TLV
 * verifies under some trusted key with OpenSSL EVP (ECDSA P-256/P-384 over the
 * digest, RSA-PSS salt 32 over the digest, Ed25519 over the digest or, with a
 * SIG_PURE TLV, over the whole hashed region). It also checks the policy's
 * floors (security counter, version) from the protected TLVs it found. A
 * disagreement aborts the process: libFuzzer records the input as a crash.
 *
 * One documented gap: for an encrypted upload that libmolt decrypted before
 * hashing, the oracle does not decrypt (it would need the device's key); it
 * checks that libmolt's computed hash equals the signed hash TLV and the
 * signature over it.
 */
#ifndef MOLT_FUZZ_ORACLE_H
#define MOLT_FUZZ_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>

#include "molt/verify.h"

/* A finding: say what the oracle saw, then abort (libFuzzer keeps the input). */
#define FUZZ_FAIL(...) (fprintf(stderr, "fuzz oracle: " __VA_ARGS__), fputc('\n', stderr), abort())

/* The trusted signing keys of the vectors (tests/vectors/imgtool/keys), as
 * libmolt wants them (DER) and as OpenSSL EVP keys; loaded once. */
void fuzz_keys_load(void);
const molt_keyring_t *fuzz_keyring(void);

/* What the policy demanded, for the oracle to re-check. */
typedef struct oracle_policy {
    bool require_signature;
    bool check_sec_cnt;
    uint32_t min_sec_cnt;
    bool check_version;
    molt_version_t min_version;
    bool no_keys; /* the keyring was empty: nothing signed can be accepted */
} oracle_policy_t;

/* Abort (with the reason on stderr) unless img[0..len) independently deserves
 * the acceptance libmolt gave it under pol (res: libmolt's result, or NULL
 * when only the bytes are known, as for a staged CANDIDATE). */
void oracle_accepted(const uint8_t *img, size_t len, const oracle_policy_t *pol, const molt_verify_result_t *res);

/* Independent layout walk: the hashed region's end (unprotected TLV info
 * offset) and the image's end; false if the layout is not well formed. */
bool oracle_layout(const uint8_t *img, size_t len, uint32_t *unprot_off, uint32_t *end);

/* The device's decryption capability of the vectors (enc-x25519, enc-ecdsa-p256,
 * enc-rsa-2048 in a sim key store); loaded once. */
const molt_decrypt_t *fuzz_decrypt(void);

/* Read a whole file (fuzz data, vectors); NULL if unreadable. */
uint8_t *fuzz_slurp(const char *path, size_t *len);

#endif
