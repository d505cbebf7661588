/*
 * tlv_mutator.c - a structure-aware libFuzzer mutator for MCUboot images.
 *
 * Byte-level mutation rarely keeps an image well formed enough to reach the
 * hash and signature checks. Half of the time this mutator edits the structure
 * instead: a header field (sizes, flags, version) set to a boundary value; a
 * TLV's type swapped for another known type, its length set to a boundary,
 * the TLV duplicated or deleted with the area's info length kept consistent;
 * an info header's magic or length altered; or the bytes of one TLV value (or
 * the payload) mutated by libFuzzer while the framing stays intact. The other
 * half it is libFuzzer's own mutation. Linked only into libFuzzer builds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);

static uint32_t g_r;
static uint32_t rnd(uint32_t n)
{
    g_r = g_r * 1103515245u + 12345u;
    return n ? (g_r >> 8) % n : 0;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }

static const uint16_t types[] = {0x01, 0x02, 0x10, 0x11, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x31,
                                 0x32, 0x33, 0x34, 0x40, 0x50, 0x60, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0xa5};

static uint32_t boundary(uint32_t cur, uint32_t room)
{
    switch (rnd(8)) {
    case 0: return 0;
    case 1: return cur + 1;
    case 2: return cur ? cur - 1 : 0;
    case 3: return room;
    case 4: return room + 1;
    case 5: return 0xffff;
    case 6: return 32;
    default: return rnd(room + 64);
    }
}

/* One area's TLVs: offsets of their headers. */
static size_t list(const uint8_t *d, size_t size, uint32_t info, uint32_t *off, size_t cap)
{
    size_t n = 0;
    if ((uint64_t)info + 4 > size)
        return 0;
    uint32_t end = info + le16(d + info + 2), p = info + 4;
    if (end > size)
        end = (uint32_t)size;
    while (p + 4 <= end && n < cap) {
        off[n++] = p;
        p += 4u + le16(d + p + 2);
    }
    return n;
}

size_t LLVMFuzzerCustomMutator(uint8_t *d, size_t size, size_t max, unsigned int seed)
{
    g_r = seed;
    if (size < 32 || rnd(2) == 0)
        return LLVMFuzzerMutate(d, size, max);
    uint32_t hdr = le16(d + 8), prot = le16(d + 10), isz = le32(d + 12);
    uint64_t pinfo = (uint64_t)hdr + isz, uinfo = pinfo + prot;
    uint32_t off[64];
    bool in_unprot = rnd(3) != 0;
    uint64_t info = in_unprot ? uinfo : pinfo;
    size_t n = info + 4 <= size ? list(d, size, (uint32_t)info, off, 64) : 0;

    switch (rnd(8)) {
    case 0: { /* header field */
        static const uint8_t at[] = {8, 10, 12, 16, 20, 21, 22, 24};
        uint8_t o = at[rnd(sizeof at)];
        if (o == 8 || o == 10 || o == 22)
            put16(d + o, boundary(le16(d + o), (uint32_t)size));
        else if (o == 12 || o == 24)
            put32(d + o, boundary(le32(d + o), (uint32_t)size));
        else if (o == 16)
            put32(d + o, le32(d + o) ^ (1u << rnd(12)));
        else
            d[o] = (uint8_t)boundary(d[o], 255);
        return size;
    }
    case 1: /* a TLV's type */
        if (!n)
            break;
        put16(d + off[rnd((uint32_t)n)], types[rnd(sizeof types / sizeof types[0])]);
        return size;
    case 2: { /* a TLV's length */
        if (!n)
            break;
        uint32_t o = off[rnd((uint32_t)n)];
        put16(d + o + 2, boundary(le16(d + o + 2), (uint32_t)(size - o - 4)));
        return size;
    }
    case 3: { /* duplicate a TLV, keeping the info length */
        if (!n)
            break;
        uint32_t o = off[rnd((uint32_t)n)], l = 4u + le16(d + o + 2);
        if ((uint64_t)o + l > size || size + l > max)
            break;
        memmove(d + o + l, d + o, size - o);
        put16(d + info + 2, le16(d + info + 2) + l);
        if (!in_unprot)
            put16(d + 10, le16(d + 10) + l);
        return size + l;
    }
    case 4: { /* delete a TLV */
        if (!n)
            break;
        uint32_t o = off[rnd((uint32_t)n)], l = 4u + le16(d + o + 2);
        if ((uint64_t)o + l > size)
            break;
        memmove(d + o, d + o + l, size - o - l);
        put16(d + info + 2, le16(d + info + 2) - l);
        if (!in_unprot)
            put16(d + 10, le16(d + 10) - l);
        return size - l;
    }
    case 5: /* an info header */
        if (info + 4 > size)
            break;
        if (rnd(2))
            put16(d + info, rnd(2) ? 0x6907 : 0x6908);
        else
            put16(d + info + 2, boundary(le16(d + info + 2), (uint32_t)(size - info)));
        return size;
    case 6: { /* the value of one TLV, framing kept */
        if (!n)
            break;
        uint32_t o = off[rnd((uint32_t)n)], l = le16(d + o + 2);
        if (!l || (uint64_t)o + 4 + l > size)
            break;
        uint8_t tmp[0x10000];
        memcpy(tmp, d + o + 4, l);
        size_t m = LLVMFuzzerMutate(tmp, l, l);
        memcpy(d + o + 4, tmp, m);
        return size;
    }
    default: /* the payload (encrypted images: the ciphertext) */
        if (hdr < size && isz && (uint64_t)hdr + isz <= size) {
            uint32_t at = hdr + rnd(isz);
            d[at] ^= (uint8_t)(1u << rnd(8));
            return size;
        }
        break;
    }
    return LLVMFuzzerMutate(d, size, max);
}
