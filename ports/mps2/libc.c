/*
 * libc.c - memcpy, memset and memcmp for the mps2 images, in place of newlib-nano's.
 *
 * The boot stage needs only these three from a C library. newlib-nano's are 568 bytes
 * (memcpy-armv7m.S alone 308); these are about a third of that, and memset stores
 * whole words when it can: Mbed TLS zeroizes SHA-256's 296-byte working state after
 * every 64-byte block (mbedtls_platform_zeroize), 4,096 times for a 256 KiB image.
 * memcpy copies words when source, destination and length are all word-aligned (the
 * flash driver's reads into lib/verify.c's buffer are), bytes otherwise.
 *
 * Compiled without LTO and with -fno-tree-loop-distribute-patterns (Makefile): the
 * compiler must neither turn these loops back into calls to themselves nor drop the
 * definitions before code generation adds its own calls to them.
 */
#include <stddef.h>
#include <stdint.h>

#include <string.h>

typedef uint32_t __attribute__((may_alias)) word_t;

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src, *end = s + n;

    if ((((uintptr_t)d | (uintptr_t)s | n) & 3u) == 0u) {
        word_t *dw = (word_t *)(void *)d;
        const word_t *sw = (const word_t *)(const void *)s;
        while (sw != (const word_t *)(const void *)end)
            *dw++ = *sw++;
        return dst;
    }
    while (s != end)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst, *end = d + n;
    uint32_t w = (uint8_t)c * 0x01010101u;

    while (d != end && ((uintptr_t)d & 3u) != 0u)
        *d++ = (uint8_t)c;
    word_t *dw = (word_t *)(void *)d;
    for (; end - (uint8_t *)dw >= 16; dw += 4) {
        dw[0] = w;
        dw[1] = w;
        dw[2] = w;
        dw[3] = w;
    }
    for (d = (uint8_t *)dw; d != end; d++)
        *d = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;

    for (; n != 0u; n--, x++, y++) {
        if (*x != *y)
            return *x - *y;
    }
    return 0;
}
