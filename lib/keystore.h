/*
 * keystore.h - internal: the port's encryption key store as the verifier sees
 * it (molt_decrypt_t), shared by the boot code and the update API so both
 * judge an encrypted upload the same way (R-CONF, R-ASSETS).
 */
#ifndef MOLT_LIB_KEYSTORE_H
#define MOLT_LIB_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/enc.h"
#include "molt/port.h"

/* The port can decrypt images (it has a key store hook). */
bool molt_port_can_decrypt(const molt_port_t *port);

/* The device's decryption for the image in src: the key store's hooks, and the
 * envelope the port holds for this image's hash, if any (R-ONEPKG). digest
 * receives the hash TLV value (needed to open an envelope), *dlen its length
 * (0 when the port keeps no envelopes or the image has no hash TLV). */
void molt_port_decrypt(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                       size_t *dlen);

#endif
