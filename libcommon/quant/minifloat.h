/* minifloat.h: the rounding and decoding shared by the small float formats (fp8.c,
 * fp4.c; internal to libcommon/quant). A format is sign, then ebits exponent bits with
 * bias `bias`, then mbits mantissa bits; exponent field 0 is subnormal. */
#ifndef NMOE_QUANT_MINIFLOAT_H
#define NMOE_QUANT_MINIFLOAT_H

#include <stdint.h>

typedef struct {
    int mbits, bias;
    unsigned max_mag; /* magnitude code (sign bit clear) of the largest finite value */
} Minifloat;

/* Magnitude code of the finite a >= 0 rounded to nearest, ties to even; max_mag + 1
 * when it rounds past the largest finite value. */
unsigned minifloat_round(const Minifloat *f, float a);
/* The value of a finite magnitude code (<= max_mag). */
float minifloat_value(const Minifloat *f, unsigned mag);

#endif
