/* test_pyrandom.c: the port of Python's random.Random gives the values CPython 3.11
 * gives (written down from python3 -c 'import random; ...'; the first are also those of
 * mt19937ar.c's published test output), and its shuffle and sample keep their contracts.
 * tests/oracle/pyrandom_python.sh compares many more draws with a live Python. */
#include "check.h"
#include "base/pyrandom.h"

#include <stdbool.h>

static void test_mt19937ar_vector(void)
{
    /* mt19937ar.c's main(): init_by_array({0x123, 0x234, 0x345, 0x456}), whose first
     * outputs are 1067595299 955945823 477289528 4107218783 4228976476; in Python,
     * random.Random(0x456_00000345_00000234_00000123). */
    const uint32_t key[4] = { 0x123, 0x234, 0x345, 0x456 };
    const uint32_t want[5] = { 1067595299u, 955945823u, 477289528u, 4107218783u, 4228976476u };
    PyRandom r;
    pyrandom_seed_words(&r, key, 4);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(pyrandom_genrand_uint32(&r), want[i]);
}

static void test_seeds(void)
{
    PyRandom r;
    /* random.Random(0): the key is [0], not empty */
    pyrandom_seed(&r, 0);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 3626764237u);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 1654615998u);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 3255389356u);
    /* 2^32: two words [0, 1] */
    pyrandom_seed(&r, (uint64_t)1 << 32);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 485306839u);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 1508871100u);
    const uint32_t words[2] = { 0, 1 };
    pyrandom_seed_words(&r, words, 2);
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 32), 485306839u);
    /* 64 bits: the first word is the low half; then _randbelow(10**12) */
    pyrandom_seed(&r, 42);
    CHECK(pyrandom_getrandbits(&r, 64) == UINT64_C(2053695854357871005));
    CHECK(pyrandom_randbelow(&r, UINT64_C(1000000000000)) == UINT64_C(811856239313));
    CHECK_EQ_INT(pyrandom_getrandbits(&r, 0), 0);
}

static void test_shuffle_and_sample(void)
{
    PyRandom r;
    /* random.Random(1337).shuffle(list(range(10))) -- nanochat's task shuffle */
    size_t x[10], want_x[10] = { 0, 3, 7, 2, 1, 6, 4, 5, 8, 9 };
    for (size_t i = 0; i < 10; i++) x[i] = i;
    pyrandom_seed(&r, 1337);
    pyrandom_shuffle(&r, x, 10);
    for (size_t i = 0; i < 10; i++) CHECK_EQ_INT(x[i], want_x[i]);

    /* random.Random(1234).sample(range(100), 10): 100 > setsize(10) = 85, the set
     * algorithm; sample(range(50), 10), the pool algorithm */
    size_t s[10], want_s[10] = { 99, 56, 14, 0, 11, 74, 4, 85, 88, 10 };
    pyrandom_seed(&r, 1234);
    pyrandom_sample(&r, 100, 10, s);
    for (size_t i = 0; i < 10; i++) CHECK_EQ_INT(s[i], want_s[i]);
    size_t want_p[10] = { 49, 28, 7, 0, 5, 37, 2, 42, 45, 6 };
    pyrandom_seed(&r, 1234);
    pyrandom_sample(&r, 50, 10, s);
    for (size_t i = 0; i < 10; i++) CHECK_EQ_INT(s[i], want_p[i]);
    /* random.Random(1237).sample(range(2375), 10): arc_easy's 10-shot for idx 3 */
    size_t want_a[10] = { 608, 1620, 1267, 983, 933, 1438, 2048, 1450, 1557, 1698 };
    pyrandom_seed(&r, 1234 + 3);
    pyrandom_sample(&r, 2375, 10, s);
    for (size_t i = 0; i < 10; i++) CHECK_EQ_INT(s[i], want_a[i]);

    /* the threshold: 21 up to k = 5, then 21 + 4^ceil(log4(3k)) */
    CHECK_EQ_INT(pyrandom_sample_setsize(0), 21);
    CHECK_EQ_INT(pyrandom_sample_setsize(5), 21);
    CHECK_EQ_INT(pyrandom_sample_setsize(6), 21 + 64);     /* log4(18) = 2.08 */
    CHECK_EQ_INT(pyrandom_sample_setsize(10), 21 + 64);    /* log4(30) = 2.45 */
    CHECK_EQ_INT(pyrandom_sample_setsize(22), 21 + 256);   /* log4(66) = 3.02 */
    CHECK_EQ_INT(pyrandom_sample_setsize(1000), 21 + 4096);

    /* both algorithms: k distinct values in range, and the whole population when k = n */
    for (size_t n = 1; n <= 120; n++) {
        for (size_t k = 0; k <= n; k += 1 + n / 7) {
            size_t out[120];
            bool seen[120] = { false }, ok = true;
            pyrandom_seed(&r, 1000 + n * 131 + k);
            pyrandom_sample(&r, n, k, out);
            for (size_t i = 0; i < k; i++) {
                ok = ok && out[i] < n && !seen[out[i]];
                if (out[i] < n) seen[out[i]] = true;
            }
            CHECK(ok);
        }
    }
}

int main(void)
{
    test_mt19937ar_vector();
    test_seeds();
    test_shuffle_and_sample();
    return check_report("test_pyrandom");
}
