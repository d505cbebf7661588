/* enc_port.h - the decryption key store of CRYPTO=enc builds (enc_port.c). */
#ifndef MPS2_ENC_PORT_H
#define MPS2_ENC_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"

#define DEVKEY_OFF 0x800u /* within the key store sector */

molt_err_t mps2_enc_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32]);
size_t mps2_heap_peak(void); /* bytes the heap ever grew to (newlib-nano malloc over _sbrk) */

#endif
