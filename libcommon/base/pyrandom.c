/* pyrandom.c: see pyrandom.h. Each function follows the CPython 3.11 code it names,
 * statement for statement, so a reader can check one against the other:
 *   Modules/_randommodule.c  genrand_uint32, init_genrand, init_by_array, random_seed,
 *                            _random_Random_getrandbits_impl
 *   Lib/random.py            Random._randbelow_with_getrandbits, Random.shuffle,
 *                            Random.sample */
#include "base/pyrandom.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>

/* MT19937 parameters (_randommodule.c, from mt19937ar.c). */
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER_MASK 0x80000000u
#define MT_LOWER_MASK 0x7fffffffu

uint32_t pyrandom_genrand_uint32(PyRandom *r)
{
    static const uint32_t mag01[2] = { 0x0u, MT_MATRIX_A };
    uint32_t *mt = r->mt, y;
    if (r->mti >= PYRANDOM_N) { /* generate N words at one time */
        int kk;
        for (kk = 0; kk < PYRANDOM_N - MT_M; kk++) {
            y = (mt[kk] & MT_UPPER_MASK) | (mt[kk + 1] & MT_LOWER_MASK);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 0x1u];
        }
        for (; kk < PYRANDOM_N - 1; kk++) {
            y = (mt[kk] & MT_UPPER_MASK) | (mt[kk + 1] & MT_LOWER_MASK);
            mt[kk] = mt[kk + (MT_M - PYRANDOM_N)] ^ (y >> 1) ^ mag01[y & 0x1u];
        }
        y = (mt[PYRANDOM_N - 1] & MT_UPPER_MASK) | (mt[0] & MT_LOWER_MASK);
        mt[PYRANDOM_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 0x1u];
        r->mti = 0;
    }
    y = mt[r->mti++];
    /* tempering */
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

static void init_genrand(PyRandom *r, uint32_t s)
{
    uint32_t *mt = r->mt;
    mt[0] = s;
    for (int i = 1; i < PYRANDOM_N; i++) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = PYRANDOM_N;
}

/* key[0..key_length-1]: the seed's 32-bit words. All arithmetic is mod 2^32, as in C. */
static void init_by_array(PyRandom *r, const uint32_t *key, size_t key_length)
{
    uint32_t *mt = r->mt;
    init_genrand(r, 19650218u);
    size_t i = 1, j = 0;
    size_t k = PYRANDOM_N > key_length ? PYRANDOM_N : key_length;
    for (; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j; /* non linear */
        i++;
        j++;
        if (i >= PYRANDOM_N) { mt[0] = mt[PYRANDOM_N - 1]; i = 1; }
        if (j >= key_length) j = 0;
    }
    for (k = PYRANDOM_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i; /* non linear */
        i++;
        if (i >= PYRANDOM_N) { mt[0] = mt[PYRANDOM_N - 1]; i = 1; }
    }
    mt[0] = 0x80000000u; /* MSB is 1, assuring a non-zero initial array */
}

void pyrandom_seed_words(PyRandom *r, const uint32_t *key, size_t n_words)
{
    if (n_words == 0) die("pyrandom_seed_words: no key words");
    init_by_array(r, key, n_words);
}

void pyrandom_seed(PyRandom *r, uint64_t seed)
{
    /* random_seed: an int seed n becomes the words of abs(n), least significant first,
     * as many as its bit length needs (at least one, so 0 is the key [0]). */
    uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    init_by_array(r, key, seed >> 32 ? 2 : 1);
}

uint64_t pyrandom_getrandbits(PyRandom *r, int k)
{
    if (k < 0 || k > 64) die("pyrandom_getrandbits: k = %d is outside [0, 64]", k);
    if (k == 0) return 0;
    if (k <= 32) return pyrandom_genrand_uint32(r) >> (32 - k); /* fast path */
    /* Words from least to most significant; the last keeps only its top k - 32 bits. */
    uint64_t lo = pyrandom_genrand_uint32(r);
    uint64_t hi = pyrandom_genrand_uint32(r) >> (64 - k);
    return hi << 32 | lo;
}

static int bit_length(uint64_t n)
{
    int k = 0;
    while (n) { k++; n >>= 1; }
    return k;
}

uint64_t pyrandom_randbelow(PyRandom *r, uint64_t n)
{
    /* k = n.bit_length(), not (n-1).bit_length(): that is what Python does, and what
     * makes its draws what they are (n = 2^m costs a rejection half the time). */
    int k = bit_length(n);
    uint64_t v = pyrandom_getrandbits(r, k);
    while (v >= n) v = pyrandom_getrandbits(r, k);
    return v;
}

void pyrandom_shuffle(PyRandom *r, size_t *x, size_t n)
{
    /* for i in reversed(range(1, len(x))): j = randbelow(i + 1); swap x[i], x[j] */
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)pyrandom_randbelow(r, (uint64_t)i + 1);
        size_t t = x[i]; x[i] = x[j]; x[j] = t;
    }
}

size_t pyrandom_sample_setsize(size_t k)
{
    /* setsize = 21; if k > 5: setsize += 4 ** _ceil(_log(k * 3, 4)). math.log(x, 4) is
     * log(x) / log(4) in double (mathmodule.c: math_log_impl, loghelper), so the same
     * libm division decides, not an exact integer logarithm. */
    size_t setsize = 21;
    if (k > 5) {
        double e = ceil(log((double)k * 3.0) / log(4.0));
        if (e >= 31) return SIZE_MAX; /* no population that large: always the pool */
        setsize += (size_t)1 << (2 * (int)e);
    }
    return setsize;
}

void pyrandom_sample(PyRandom *r, size_t n, size_t k, size_t *out)
{
    if (k > n) die("pyrandom_sample: sample of %zu from a population of %zu", k, n);
    if (n <= pyrandom_sample_setsize(k)) {
        /* An n-length list is smaller than a k-length set.
         * Invariant: non-selected at pool[0 : n-i]. */
        size_t *pool = xmalloc((n ? n : 1) * sizeof *pool);
        for (size_t i = 0; i < n; i++) pool[i] = i;
        for (size_t i = 0; i < k; i++) {
            size_t j = (size_t)pyrandom_randbelow(r, n - i);
            out[i] = pool[j];
            pool[j] = pool[n - i - 1]; /* move non-selected item into vacancy */
        }
        free(pool);
    } else {
        /* Draw from the whole range, redrawing values already taken. Python keeps them in
         * a set; a scan of the k drawn so far gives the same answers (k <= 1000 here). */
        for (size_t i = 0; i < k; i++) {
            size_t j;
            for (;;) {
                j = (size_t)pyrandom_randbelow(r, n);
                size_t t = 0;
                while (t < i && out[t] != j) t++;
                if (t == i) break;
            }
            out[i] = j;
        }
    }
}
