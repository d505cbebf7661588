/*
 * harness.h - host-side helpers shared by the C tests that drive encrypted
 * images through the simulator (test_enc, test_enc_boot, test_powerfail,
 * test_trim, test_vectors). Test code only: it allocates and reads files.
 */
#ifndef MOLT_TEST_HARNESS_H
#define MOLT_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/enc.h"
#include "sim_keystore.h"

/* Add the PEM private key file dir/name (dir may be NULL) to the simulated key
 * store; false if it cannot be read, is not PEM or the store refuses it. */
bool harness_add_pem(sim_keystore_t *ks, const char *dir, const char *name);

/* The installed (plaintext) form of an encrypted image: a malloc'd copy of img
 * with its payload decrypted with the content key the key store opens; NULL if
 * the image does not parse, no key opens it or the decryption fails. */
uint8_t *harness_installed(const uint8_t *img, size_t len, sim_keystore_t *ks);

/* The content key of an encrypted image (through dec: its key store, or its
 * envelope bound to the image's hash) and the image's unprotected SHA-256/384/512
 * hash TLV value (dlen 0 if none); the error of parsing or of
 * molt_enc_content_key. */
molt_err_t harness_content_key(const uint8_t *img, size_t len, const molt_decrypt_t *dec, uint8_t key[32],
                               size_t *klen, uint8_t digest[64], size_t *dlen);

/* Split a TSV line in place (its line end dropped) into at most max columns;
 * returns their number. */
int harness_split(char *line, char **cols, int max);

#endif
