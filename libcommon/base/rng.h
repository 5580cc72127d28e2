/* rng.h: counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A value depends only on (seed, stream, counter), never on call order across
 * threads: give each independent consumer (weight init of a tensor, data sampling,
 * dropout of layer L, ...) its own stream number and results do not depend on the
 * thread count. The whole state is three integers, so checkpoints store it exactly. */
#ifndef NMOE_RNG_H
#define NMOE_RNG_H

#include <stdint.h>

/* One Philox block: four 32-bit words for (key = seed, counter = (counter, stream)). */
void philox4x32(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]);

typedef struct {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter; /* index of the next 32-bit word to hand out */
} Rng;

Rng rng_make(uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float rng_uniform(Rng *r);
/* Standard normal (Box-Muller on two uniforms). */
float rng_normal(Rng *r);

#endif
