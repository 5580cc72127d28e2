/* fp8.c: OCP 8-bit floating point (OFP8, v1.0), E4M3 and E5M2 (see quant.h for the
 * overflow, NaN and Inf rules). */
#include "quant/minifloat.h"
#include "quant/quant.h"

#include <math.h>

static const Minifloat E4M3 = { .mbits = 3, .bias = 7, .max_mag = 0x7E };  /* 1.75 * 2^8 = 448 */
static const Minifloat E5M2 = { .mbits = 2, .bias = 15, .max_mag = 0x7B }; /* 1.75 * 2^15 = 57344 */

uint8_t fp8_e4m3_encode(float x, bool saturate)
{
    const uint8_t sign = signbit(x) ? 0x80 : 0;
    if (isnan(x)) return sign | FP8_E4M3_NAN;
    if (isinf(x)) return sign | (saturate ? E4M3.max_mag : FP8_E4M3_NAN);
    unsigned mag = minifloat_round(&E4M3, fabsf(x));
    if (mag > E4M3.max_mag) mag = saturate ? E4M3.max_mag : FP8_E4M3_NAN;
    return sign | (uint8_t)mag;
}

float fp8_e4m3_decode(uint8_t code)
{
    const unsigned mag = code & 0x7F;
    if (mag == FP8_E4M3_NAN) return (code & 0x80) ? -NAN : NAN;
    const float v = minifloat_value(&E4M3, mag);
    return (code & 0x80) ? -v : v;
}

uint8_t fp8_e5m2_encode(float x, bool saturate)
{
    const uint8_t sign = signbit(x) ? 0x80 : 0;
    if (isnan(x)) return sign | FP8_E5M2_NAN;
    if (isinf(x)) return sign | (saturate ? E5M2.max_mag : FP8_E5M2_INF);
    unsigned mag = minifloat_round(&E5M2, fabsf(x));
    if (mag > E5M2.max_mag) mag = saturate ? E5M2.max_mag : FP8_E5M2_INF;
    return sign | (uint8_t)mag;
}

float fp8_e5m2_decode(uint8_t code)
{
    const unsigned mag = code & 0x7F;
    const float s = (code & 0x80) ? -1.0f : 1.0f;
    if (mag == FP8_E5M2_INF) return s * INFINITY;
    if (mag > FP8_E5M2_INF) return (code & 0x80) ? -NAN : NAN;
    return s * minifloat_value(&E5M2, mag);
}
