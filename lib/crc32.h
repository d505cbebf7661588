/*
 * crc32.h - internal: CRC-32 (IEEE 802.3, reflected, as zlib) for the
 * power-fail records (swap journal header, update progress record). Detects a
 * torn or stale record; it is not a security check.
 */
#ifndef MOLT_LIB_CRC32_H
#define MOLT_LIB_CRC32_H

#include <stdint.h>

uint32_t molt_crc32(const uint8_t *p, uint32_t n);

#endif
