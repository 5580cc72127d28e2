/* test_update_floor.c: the update telemetry of quant/update_floor.h. The half spacing
 * and the below-the-floor rule at hand-picked values (ULP boundaries, powers of two,
 * zero, subnormals, the largest float, NaN and Inf), then tied to the arithmetic: an
 * update the rule calls lost leaves a weight of the format unchanged when stored in it,
 * one above the floor changes it. The codes-changed count: none for an unchanged or a
 * rescaled matrix (scales are not codes), and, where the scales stay put, exactly the
 * elements whose quantize-dequantize value changed. */
#include "check.h"
#include "base/rng.h"
#include "quant/update_floor.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_half_spacing(void)
{
    /* fp32: 23 mantissa bits, so half an ulp in [1, 2) is 2^-24 */
    CHECK(update_half_spacing(QUANT_FP32, 1.0f) == ldexp(1, -24));
    CHECK(update_half_spacing(QUANT_FP32, 1.5f) == ldexp(1, -24));
    CHECK(update_half_spacing(QUANT_FP32, nextafterf(2.0f, 0.0f)) == ldexp(1, -24));
    CHECK(update_half_spacing(QUANT_FP32, 2.0f) == ldexp(1, -23)); /* the binade of 2 */
    CHECK(update_half_spacing(QUANT_FP32, -2.0f) == ldexp(1, -23)); /* the sign does not matter */
    CHECK(update_half_spacing(QUANT_FP32, 0.02f) == ldexp(1, -6 - 24)); /* 0.02 in [2^-6, 2^-5) */
    CHECK(update_half_spacing(QUANT_FP32, FLT_MAX) == ldexp(1, 127 - 24));
    /* zero and the subnormals: the subnormal spacing 2^-149, halved */
    CHECK(update_half_spacing(QUANT_FP32, 0.0f) == ldexp(1, -150));
    CHECK(update_half_spacing(QUANT_FP32, -0.0f) == ldexp(1, -150));
    CHECK(update_half_spacing(QUANT_FP32, ldexpf(1, -149)) == ldexp(1, -150));
    CHECK(update_half_spacing(QUANT_FP32, ldexpf(1, -130)) == ldexp(1, -150));
    CHECK(update_half_spacing(QUANT_FP32, FLT_MIN) == ldexp(1, -150)); /* the smallest normal */
    CHECK(update_half_spacing(QUANT_FP32, 2 * FLT_MIN) == ldexp(1, -149));
    /* bf16: 7 mantissa bits */
    CHECK(update_half_spacing(QUANT_BF16, 1.0f) == ldexp(1, -8));
    CHECK(update_half_spacing(QUANT_BF16, 3.0f) == ldexp(1, -7));
    CHECK(update_half_spacing(QUANT_BF16, 0.02f) == ldexp(1, -6 - 8));
    CHECK(update_half_spacing(QUANT_BF16, 0.0f) == ldexp(1, -134));
    CHECK(update_half_spacing(QUANT_BF16, ldexpf(1, -133)) == ldexp(1, -134));
    CHECK(update_half_spacing(QUANT_BF16, FLT_MIN) == ldexp(1, -134));
    /* what has no spacing */
    CHECK(isnan(update_half_spacing(QUANT_FP32, NAN)));
    CHECK(isnan(update_half_spacing(QUANT_BF16, INFINITY)));
    CHECK(isnan(update_half_spacing(QUANT_MXFP4, 1.0f)));
}

static void test_below_floor(void)
{
    const double h32 = ldexp(1, -24), h16 = ldexp(1, -8);
    CHECK(update_below_floor(QUANT_FP32, 1.0f, 0.0));
    CHECK(update_below_floor(QUANT_FP32, 1.0f, nextafter(h32, 0)));
    CHECK(update_below_floor(QUANT_FP32, 1.0f, -nextafter(h32, 0)));
    CHECK(!update_below_floor(QUANT_FP32, 1.0f, h32)); /* exactly half: a tie, not below */
    CHECK(!update_below_floor(QUANT_FP32, 1.0f, -h32));
    CHECK(!update_below_floor(QUANT_FP32, 1.0f, 1e-3));
    CHECK(update_below_floor(QUANT_BF16, 1.0f, nextafter(h16, 0)));
    CHECK(!update_below_floor(QUANT_BF16, 1.0f, h16));
    CHECK(update_below_floor(QUANT_BF16, 0.02f, 1e-7));   /* a tiny lr against bf16 */
    CHECK(!update_below_floor(QUANT_FP32, 0.02f, 1e-7));  /* the same update in fp32 */
    /* zero weights: any update of at least half the smallest subnormal counts */
    CHECK(update_below_floor(QUANT_FP32, 0.0f, 0.0));
    CHECK(!update_below_floor(QUANT_FP32, 0.0f, ldexp(1, -149)));
    CHECK(update_below_floor(QUANT_FP32, 0.0f, ldexp(1, -151)));
    CHECK(!update_below_floor(QUANT_BF16, 0.0f, ldexp(1, -134)));
    CHECK(update_below_floor(QUANT_BF16, ldexpf(1, -140), ldexp(1, -135)));
    /* non-finite: never below */
    CHECK(!update_below_floor(QUANT_FP32, 1.0f, NAN));
    CHECK(!update_below_floor(QUANT_FP32, 1.0f, INFINITY));
    CHECK(!update_below_floor(QUANT_FP32, NAN, 0.0));
    CHECK(!update_below_floor(QUANT_BF16, -INFINITY, 0.0));
}

/* The rule against the rounding it stands for: w representable in the format, dw of
 * either sign with w's binade spacing u: |dw| < u/2 must round w + dw back to w; u/2 <
 * |dw| < u away from zero must not. */
static float store(QuantFormat f, double x) { return f == QUANT_BF16 ? bf16_round((float)x) : (float)x; }

static void test_rule_matches_rounding(void)
{
    Rng r = rng_make(11, 0);
    for (int fi = 0; fi < 2; fi++) {
        const QuantFormat f = fi ? QUANT_BF16 : QUANT_FP32;
        int lost = 0, kept = 0;
        for (int i = 0; i < 20000; i++) {
            float w = ldexpf(1.0f + rng_uniform(&r), (int)rng_below(&r, 60) - 30);
            if (rng_u32(&r) & 1) w = -w;
            w = store(f, w);
            const double half = update_half_spacing(f, w);
            const double t = rng_uniform(&r); /* in [0, 1) */
            const double away = copysign(1.0, w);
            /* at a power of two the gap toward zero is half as wide (update_floor.h):
             * there only updates away from zero are surely lost */
            int k;
            const bool pow2 = frexpf(w, &k) == copysignf(0.5f, w);
            const double dir = pow2 || (rng_u32(&r) & 1) ? away : -away;
            const double dw_lost = dir * t * half * 0.999;
            CHECK(update_below_floor(f, w, dw_lost));
            if ((double)store(f, (double)w + dw_lost) == (double)w) lost++;
            /* f's rounding of a double: bf16 goes through float first, exact enough here
             * (w + dw has at most 8 + 30 significant bits) */
            const double dw_kept = away * half * (1.001 + 0.998 * t);
            CHECK(!update_below_floor(f, w, dw_kept));
            if ((double)store(f, (double)w + dw_kept) != (double)w) kept++;
        }
        CHECK_EQ_INT(lost, 20000);
        CHECK_EQ_INT(kept, 20000);
    }
}

static void test_measure(void)
{
    const float before[4] = { 1.0f, -2.0f, 0.0f, 0.5f };
    const float after[4] = { 1.0f + 0x1p-20f, -2.0f, 0x1p-140f, 0.5f - 0x1p-10f };
    /* dw: 2^-20, 0, 2^-140 (from zero), -2^-10 */
    WeightUpdate u32 = weight_update_measure(QUANT_FP32, before, after, 4);
    CHECK_EQ_INT(u32.n, 4);
    CHECK_EQ_INT(u32.below_floor, 1); /* only the unchanged -2 */
    CHECK(u32.sumsq_w == 1.0 + 4.0 + 0.25);
    CHECK(u32.sumsq_dw == ldexp(1, -40) + ldexp(1, -280) + ldexp(1, -20));
    CHECK_CLOSE(weight_update_ratio(&u32), sqrt(u32.sumsq_dw / 5.25), 1e-15, 0);
    CHECK_CLOSE(weight_update_below_share(&u32), 0.25, 0, 0);
    WeightUpdate u16 = weight_update_measure(QUANT_BF16, before, after, 4);
    /* bf16: 2^-20 < 2^-8 lost; -2 unchanged; 2^-140 at zero < 2^-134 lost; 2^-10 at 0.5
     * (half spacing 2^-9) lost */
    CHECK_EQ_INT(u16.below_floor, 4);
    weight_update_add(&u16, &u32);
    CHECK_EQ_INT(u16.n, 8);
    CHECK_EQ_INT(u16.below_floor, 5);
    const WeightUpdate none = { 0 };
    CHECK(isnan(weight_update_ratio(&none)) && isnan(weight_update_below_share(&none)));
}

static void fill(Rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.9f * (2.0f * rng_uniform(r) - 1.0f);
}

/* The elements whose qdq value differs, bitwise (so -0 and +0 differ, as their codes do). */
static size_t qdq_changed(QuantFormat f, const float *a, const float *b, size_t rows, size_t cols, int axis)
{
    const size_t n = rows * cols;
    float *qa = malloc(n * sizeof *qa), *qb = malloc(n * sizeof *qb);
    quant_qdq_matrix(f, a, qa, rows, cols, axis);
    quant_qdq_matrix(f, b, qb, rows, cols, axis);
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += memcmp(&qa[i], &qb[i], sizeof qa[i]) != 0;
    free(qa);
    free(qb);
    return c;
}

static void test_codes_changed(void)
{
    enum { R = 8, C = 80 }; /* 80 = 2.5 blocks of 32 and 5 of 16: short last blocks */
    static float a[R * C], b[R * C];
    Rng r = rng_make(5, 1);
    for (int f = 0; f < QUANT_FORMAT_COUNT; f++) {
        for (int axis = 0; axis < 2; axis++) {
            fill(&r, a, R * C);
            /* Every block's and the tensor's largest magnitude is 1, held by an element
             * that never changes, so no scale moves. */
            for (size_t i = 0; i < R * C; i++) {
                const size_t along = axis ? i % C : i / C;
                if (along % 16 == 0) a[i] = (i & 1) ? 1.0f : -1.0f;
            }
            CHECK_EQ_INT(quant_codes_changed((QuantFormat)f, a, a, R, C, axis), 0);
            memcpy(b, a, sizeof b);
            for (size_t i = 0; i < R * C; i++) {
                const size_t along = axis ? i % C : i / C;
                if (along % 16 != 0 && rng_below(&r, 3) == 0) b[i] += 0.05f * (2.0f * rng_uniform(&r) - 1.0f);
            }
            const size_t want = qdq_changed((QuantFormat)f, a, b, R, C, axis);
            const size_t got = quant_codes_changed((QuantFormat)f, a, b, R, C, axis);
            CHECK_EQ_INT(got, want);
            CHECK(f == QUANT_FP32 || got < R * C / 3); /* some, not all: the test can tell */
            CHECK(got > 0);
            /* Doubling the matrix doubles every scale and keeps every element's code
             * (fp32 and bf16 have no scale: every nonzero code changes). */
            for (size_t i = 0; i < R * C; i++) b[i] = 2.0f * a[i];
            const size_t doubled = quant_codes_changed((QuantFormat)f, a, b, R, C, axis);
            if (f == QUANT_FP32 || f == QUANT_BF16) CHECK_EQ_INT(doubled, R * C);
            else CHECK_EQ_INT(doubled, 0);
        }
    }
    /* One element across a rounding boundary of E2M1 in an mxfp4 block of [4, 1, ...]:
     * X = floor(log2 4) - 2 = 0, so elements are E2M1 values themselves; 1.24 -> 1 and
     * 1.26 -> 1.5. */
    float x[32], y[32];
    for (int i = 0; i < 32; i++) x[i] = y[i] = 1.0f;
    x[0] = y[0] = 4.0f;
    x[5] = 1.24f;
    y[5] = 1.26f;
    CHECK_EQ_INT(quant_codes_changed(QUANT_MXFP4, x, y, 1, 32, 1), 1);
    /* 1.24 -> 1.2: both round to 1 in that block, no code changes. */
    y[5] = 1.2f;
    CHECK_EQ_INT(quant_codes_changed(QUANT_MXFP4, x, y, 1, 32, 1), 0);
    /* A NaN: the per-tensor formats' whole tensor turns NaN, the block formats' block. */
    y[5] = NAN;
    CHECK_EQ_INT(quant_codes_changed(QUANT_NVFP4, x, y, 1, 32, 1), 32);
    CHECK_EQ_INT(quant_codes_changed(QUANT_FP8_E4M3, x, y, 1, 32, 1), 32);
    CHECK_EQ_INT(quant_codes_changed(QUANT_MXFP4, x, y, 1, 32, 1), 32);
    CHECK_EQ_INT(quant_codes_changed(QUANT_NVFP4, y, y, 1, 32, 1), 0);
}

int main(void)
{
    test_half_spacing();
    test_below_floor();
    test_rule_matches_rounding();
    test_measure();
    test_codes_changed();
    return check_report("test_update_floor");
}
