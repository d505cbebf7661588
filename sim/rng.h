/*
 * rng.h - the harnesses' random source: xorshift64, seeded by the caller, so
 * every life and every sweep is reproducible from its seed. Not for keys.
 */
#ifndef MOLT_SIM_RNG_H
#define MOLT_SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rng {
    uint64_t s;
} rng_t;

static inline uint32_t rnd(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 11);
}
static inline uint32_t below(rng_t *r, uint32_t n) { return n ? rnd(r) % n : 0; }
static inline bool chance(rng_t *r, uint32_t pct) { return below(r, 100) < pct; }

#endif
