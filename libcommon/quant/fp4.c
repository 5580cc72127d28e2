/* fp4.c: OCP MX's FP4 E2M1 element (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives). */
#include "quant/minifloat.h"
#include "quant/quant.h"

#include <math.h>

static const Minifloat E2M1 = { .mbits = 1, .bias = 1, .max_mag = 0x7 };

uint8_t fp4_e2m1_encode(float x)
{
    const uint8_t sign = signbit(x) ? 0x8 : 0;
    if (isnan(x) || isinf(x)) return sign | 0x7; /* no NaN or Inf in E2M1: see quant.h */
    unsigned mag = minifloat_round(&E2M1, fabsf(x));
    if (mag > E2M1.max_mag) mag = E2M1.max_mag;
    return sign | (uint8_t)mag;
}

float fp4_e2m1_decode(uint8_t code)
{
    const float v = minifloat_value(&E2M1, code & 0x7);
    return (code & 0x8) ? -v : v;
}
