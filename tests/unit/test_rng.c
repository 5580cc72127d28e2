/* test_rng.c: Philox4x32-10 against the Random123 known-answer vectors, and the
 * properties the trainer relies on (streams independent, state = three integers). */
#include "check.h"
#include "base/rng.h"

#include <stdint.h>

static void kat(uint64_t seed, uint64_t stream, uint64_t counter, const uint32_t want[4])
{
    uint32_t got[4];
    philox4x32(seed, stream, counter, got);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(got[i], want[i]);
}

int main(void)
{
    /* Random123 kat_vectors, philox4x32_10: ctr words c0..c3, key k0,k1. */
    kat(0, 0, 0, (const uint32_t[]){ 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u });
    kat(UINT64_MAX, UINT64_MAX, UINT64_MAX, (const uint32_t[]){ 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu });
    kat(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull,
        (const uint32_t[]){ 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u });

    /* Resuming from a copied state continues the same sequence. */
    Rng a = rng_make(42, 7);
    for (int i = 0; i < 13; i++) rng_u32(&a);
    Rng b = a;
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(rng_u32(&a), rng_u32(&b));

    /* Different streams differ. */
    Rng s0 = rng_make(42, 0), s1 = rng_make(42, 1);
    int same = 0;
    for (int i = 0; i < 64; i++) same += rng_u32(&s0) == rng_u32(&s1);
    CHECK(same < 2);

    /* Uniform in [0,1), mean near 1/2; normal mean ~0, variance ~1. */
    Rng r = rng_make(1, 0);
    double sum = 0, sn = 0, sn2 = 0;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float u = rng_uniform(&r);
        if (!(u >= 0.0f && u < 1.0f)) bad++;
        sum += u;
        float z = rng_normal(&r);
        sn += z;
        sn2 += (double)z * z;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_CLOSE(sum / 200000, 0.5, 0, 0.005);
    CHECK_CLOSE(sn / 200000, 0.0, 0, 0.01);
    CHECK_CLOSE(sn2 / 200000, 1.0, 0, 0.02);

    /* rng_below stays in range and hits every value. */
    int hist[7] = { 0 };
    for (int i = 0; i < 7000; i++) {
        uint64_t v = rng_below(&r, 7);
        CHECK(v < 7);
        if (v < 7) hist[v]++;
    }
    for (int i = 0; i < 7; i++) CHECK(hist[i] > 800);
    return check_report("test_rng");
}
