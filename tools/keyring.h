/*
 * keyring.h - load the CLI's trusted keys (-k files) into a libmolt keyring.
 */
#ifndef MOLT_TOOLS_KEYRING_H
#define MOLT_TOOLS_KEYRING_H

#include <stddef.h>

#include "molt/verify.h"

#define CLI_MAX_KEYS 16

typedef struct cli_keyring {
    molt_key_t keys[CLI_MAX_KEYS];
    const char *paths[CLI_MAX_KEYS];
    molt_keyring_t ring;
} cli_keyring_t;

/* Add the public key of the PEM/DER file at path. Prints the reason on failure. */
bool cli_keyring_add(cli_keyring_t *kr, const char *path);
void cli_keyring_free(cli_keyring_t *kr);

/* A short name for the key type of DER bytes ("ecdsa-p256"), or "unknown". */
const char *cli_key_type_name(const uint8_t *der, size_t len);

#endif
