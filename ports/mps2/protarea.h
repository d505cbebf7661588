/*
 * protarea.h - the protected flash area: the trusted-key store and the NV counter.
 *
 * Key store sector (KEYS_OFF), written once by the host at provisioning (mkflash.py),
 * never by device code (flash.c refuses to program or erase it):
 *   "MKS1" | count (u8) | 3 zero bytes | count x { len (le16) | DER | zero pad to 4 } | CRC-32 (le32)
 *   the CRC (IEEE, zlib's) covers every byte before it. Up to PA_MAX_KEYS keys.
 * NV counter sector (NVCNT_OFF), never erased by device code: 512 records of 8 bytes,
 *   value (le32) | ~value (le32); erased records are unused. The counter is the largest
 *   value among valid records (0 when there is none). An advance programs the next
 *   erased record, so it is atomic (a torn record is invalid and ignored) and no
 *   sequence of programs can lower the value: only an erase could, and flash.c
 *   refuses that. A full sector refuses further advances (MOLT_E_NV).
 */
#ifndef MPS2_PROTAREA_H
#define MPS2_PROTAREA_H

#include <stdint.h>

#include "molt/port.h"

#define PA_MAX_KEYS 4u
#define PA_KEYS_MAGIC 0x31534b4du /* "MKS1" */

/* Parse the key store into keys[] (pointing into flash); MOLT_E_KEY_FORMAT if damaged. */
molt_err_t pa_keys_load(molt_key_t keys[PA_MAX_KEYS], size_t *count);

molt_err_t pa_nv_read(void *ctx, uint32_t id, uint32_t *value);
molt_err_t pa_nv_advance(void *ctx, uint32_t id, uint32_t value);

uint32_t pa_crc32(const uint8_t *p, size_t n);

#endif
