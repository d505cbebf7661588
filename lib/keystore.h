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

/* The port can decrypt images (a key store hook and the decryption code, enc_ops). */
bool molt_port_can_decrypt(const molt_port_t *port);

/* The device's decryption for the image in src: the key store's hooks, and the
 * envelope the port holds for this image's hash, if any (R-ONEPKG). digest
 * receives the hash TLV value (needed to open an envelope), *dlen its length
 * (0 when the port keeps no envelopes or the image has no hash TLV). */
void molt_port_decrypt(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                       size_t *dlen);

/* The content key of an encrypted image through ops (dec's key store or its
 * envelope; digest: the image's hash TLV value) and the key's check value.
 * MOLT_E_ENC_NO_KEY when ops or dec is NULL; the key is wiped on error. Every
 * call into the decryption code goes through ops (molt_port_t.enc_ops), so a
 * boot stage that never names molt_enc_ops links none of lib/enc.c. */
molt_err_t molt_decrypt_key(const molt_enc_ops_t *ops, const molt_source_t *src, const molt_image_t *img,
                            const molt_decrypt_t *dec, const uint8_t *digest, size_t digest_len,
                            uint8_t key[MOLT_ENC_KEY_MAX], size_t *key_len, uint8_t kcv[MOLT_ENC_KCV_LEN]);

#endif
