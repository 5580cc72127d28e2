/* bf16.c: bfloat16 (1-8-7): float32's top half, rounded to nearest even. */
#include "quant/quant.h"

#include <math.h>
#include <string.h>

uint16_t bf16_encode(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x0040); /* keep it a (quiet) NaN */
    /* add half an ulp of bf16, less one unless the kept part is odd: ties go to even; a
     * carry out of the mantissa bumps the exponent (to Inf past the largest bf16). */
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float bf16_decode(uint16_t code)
{
    const uint32_t u = (uint32_t)code << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

float bf16_round(float x) { return bf16_decode(bf16_encode(x)); }
