/*
 * crc32.c - bitwise CRC-32 (see crc32.h): no table, a few dozen bytes of code;
 * the records it covers are 4 to 8 bytes long.
 */
#include "crc32.h"

uint32_t molt_crc32(const uint8_t *p, uint32_t n)
{
    uint32_t c = 0xffffffffu;
    for (uint32_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}
