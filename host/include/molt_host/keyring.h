/*
 * molt_host/keyring.h - load trusted keys (-k files) into a libmolt keyring.
 */
#ifndef MOLT_HOST_KEYRING_H
#define MOLT_HOST_KEYRING_H

#include <stddef.h>

#include "molt/verify.h"

#define HOST_MAX_KEYS 16

typedef struct host_keyring {
    molt_key_t keys[HOST_MAX_KEYS];
    const char *paths[HOST_MAX_KEYS];
    molt_keyring_t ring;
} host_keyring_t;

/* Add the public key of the PEM/DER file at path. Prints the reason on failure. */
bool host_keyring_add(host_keyring_t *kr, const char *path);
void host_keyring_free(host_keyring_t *kr);

/* A short name for the key type of DER bytes ("ecdsa-p256"), or "unknown". */
const char *host_key_type_name(const uint8_t *der, size_t len);

#endif
