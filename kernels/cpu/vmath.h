/* vmath.h: an expf the compiler can vectorize.
 *
 * libm's expf is a call the vectorizer cannot see into (glibc's vector variants need
 * -ffast-math), and the softmax over a 50257-word vocabulary is mostly exp. This is the
 * Cephes expf (S. L. Moshier): round x/ln2 to n, reduce r = x - n ln2 in two parts,
 * a degree-6 polynomial for e^r, scale by 2^n through the exponent bits. Relative
 * error about 2e-7 (1-2 ulp) on [-87.3, 88.3]; inputs below saturate to 2^-126
 * (softmax callers subtract the row maximum first, so that never matters), NaN stays
 * NaN so a diverged run is still seen. Plain C: the same bits on every thread. */
#ifndef NMOE_KERNELS_CPU_VMATH_H
#define NMOE_KERNELS_CPU_VMATH_H

#include <stdint.h>

/* GCC will not if-convert the clamps and the NaN test (so will not vectorize the loops
 * that call vexpf) while it must keep floating-point exceptions exact. nmoe never reads
 * the exception flags; dropping that promise changes no result (no reassociation, no
 * contraction), so the files that include this header drop it. Clang vectorizes anyway. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

static inline float vexpf(float x)
{
    const float hi = 88.3762626647949f, lo = -87.3365447504019f;
    float xc = x != x ? 0.0f : x; /* NaN: any finite stand-in, replaced at the end */
    xc = xc > hi ? hi : xc;
    xc = xc < lo ? lo : xc;
    /* Round to nearest by adding and removing 1.5 * 2^23 (no floorf: SSE2 has none). */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = (int32_t)((uint32_t)((int32_t)n + 127) << 23); /* n + 127 in [1, 254] */
    float y = p * scale.f;
    return x != x ? x : y;
}

#endif
