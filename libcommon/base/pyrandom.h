/* pyrandom.h: Python's random.Random (CPython 3.11), the few parts the CORE reference
 * uses, reproduced draw for draw.
 *
 * The DCLM / nanochat CORE evaluation (nanochat scripts/base_eval.py, core_eval.py)
 * shuffles each task with random.Random(1337).shuffle and samples each item's few-shot
 * examples with random.Random(1234 + idx).sample. To compare a CORE score item for item
 * with such a run, `nmoe-eval core --draw python` makes the same draws with this port:
 *
 *   Random(seed)                 pyrandom_seed      (Modules/_randommodule.c: random_seed,
 *                                                     init_by_array)
 *   _random.Random.getrandbits   pyrandom_getrandbits (_random_Random_getrandbits_impl)
 *   Random._randbelow            pyrandom_randbelow (Lib/random.py:
 *                                                     _randbelow_with_getrandbits)
 *   Random.shuffle(x)            pyrandom_shuffle   (Lib/random.py)
 *   Random.sample(range(n), k)   pyrandom_sample    (Lib/random.py, both algorithms)
 *
 * The generator is MT19937 (Matsumoto and Nishimura, 1998), as CPython ships it.
 * tests/unit/test_pyrandom.c pins known values; tests/oracle/pyrandom_python.sh compares
 * many draws with /usr/bin/python3's own random module. */
#ifndef NMOE_PYRANDOM_H
#define NMOE_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

#define PYRANDOM_N 624

typedef struct {
    uint32_t mt[PYRANDOM_N];
    int mti;                 /* next word of mt to hand out; PYRANDOM_N: regenerate */
} PyRandom;

/* random.Random(seed) for a non-negative integer seed. */
void pyrandom_seed(PyRandom *r, uint64_t seed);
/* random.Random(n) for any integer n, given as the 32-bit words of abs(n), least
 * significant first, without high zero words (n = 0: one word, 0); n_words >= 1. This is
 * also MT19937's init_by_array. */
void pyrandom_seed_words(PyRandom *r, const uint32_t *key, size_t n_words);
/* One 32-bit output of MT19937 (CPython's genrand_uint32). */
uint32_t pyrandom_genrand_uint32(PyRandom *r);
/* random.getrandbits(k), 0 <= k <= 64. */
uint64_t pyrandom_getrandbits(PyRandom *r, int k);
/* random._randbelow(n): uniform in [0, n), n >= 1, by rejection on n.bit_length() bits. */
uint64_t pyrandom_randbelow(PyRandom *r, uint64_t n);
/* random.shuffle(x) of x[0..n-1], in place. */
void pyrandom_shuffle(PyRandom *r, size_t *x, size_t n);
/* random.sample(range(n), k) into out[k]: k distinct values of [0, n) in draw order;
 * sample(population, k) is population[out[i]]. Requires k <= n. */
void pyrandom_sample(PyRandom *r, size_t n, size_t k, size_t *out);
/* The population size at or below which sample() uses its list ("pool") algorithm, and
 * above which its set algorithm: 21, plus 4 ** ceil(log(3k, 4)) when k > 5. */
size_t pyrandom_sample_setsize(size_t k);

#endif
