/* minifloat.c: see minifloat.h. */
#include "quant/minifloat.h"

#include <math.h>

unsigned minifloat_round(const Minifloat *f, float a)
{
    if (a == 0.0f) return 0;
    const int emin = 1 - f->bias; /* exponent of the smallest normal (and of the subnormals' quantum) */
    int k;
    frexpf(a, &k);
    int e = k - 1; /* floor(log2 a), exact */
    if (e < emin) e = emin;
    /* a in units of the quantum 2^(e - mbits): a power-of-two scaling, exact in fp32, and
     * below 2^(mbits + 1), so rounding it to an integer is the format's rounding. */
    float r = ldexpf(a, f->mbits - e);
    long n = (long)nearbyintf(r); /* the default rounding mode: nearest, ties to even */
    const long one = 1L << f->mbits;
    if (n >= 2 * one) { /* rounded up to the next binade */
        n >>= 1;
        e++;
    }
    if (n < one) return (unsigned)n; /* subnormal (e == emin); 0 when a is below half the smallest */
    long mag = ((long)(e + f->bias) << f->mbits) + (n - one);
    return mag > (long)f->max_mag ? f->max_mag + 1 : (unsigned)mag;
}

float minifloat_value(const Minifloat *f, unsigned mag)
{
    const unsigned ef = mag >> f->mbits, m = mag & ((1u << f->mbits) - 1);
    if (ef == 0) return ldexpf((float)m, 1 - f->bias - f->mbits);
    return ldexpf((float)((1u << f->mbits) | m), (int)ef - f->bias - f->mbits);
}
