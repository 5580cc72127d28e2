/* quant_fields.h: the tests' own view of the small float formats, from their bit
 * fields (not from libcommon/quant): a code's value, the table of a format's finite
 * values, and a brute-force round-to-nearest-even with saturation. */
#ifndef NMOE_TEST_QUANT_FIELDS_H
#define NMOE_TEST_QUANT_FIELDS_H

#include "check.h"

#include <math.h>
#include <stdint.h>

/* The value of a code from its fields, in double: sign, exponent field, mantissa field.
 * NaN and +-Inf as the OCP spec places them. */
typedef struct {
    int ebits, mbits, bias;
    int has_inf;        /* E5M2: exponent all ones, mantissa 0 = Inf, else NaN */
    int nan_all_ones;   /* E4M3: only S.1111.111 is NaN */
    int has_nan;
} Fields;

static const Fields F_E4M3 = { 4, 3, 7, 0, 1, 1 };
static const Fields F_E5M2 = { 5, 2, 15, 1, 0, 1 };
static const Fields F_E2M1 = { 2, 1, 1, 0, 0, 0 };

static inline double field_value(const Fields *f, unsigned code)
{
    const int nbits = 1 + f->ebits + f->mbits;
    const unsigned s = (code >> (nbits - 1)) & 1u;
    const unsigned e = (code >> f->mbits) & ((1u << f->ebits) - 1);
    const unsigned m = code & ((1u << f->mbits) - 1);
    const unsigned eall = (1u << f->ebits) - 1, mall = (1u << f->mbits) - 1;
    double v;
    if (f->has_inf && e == eall) v = m == 0 ? INFINITY : NAN;
    else if (f->nan_all_ones && e == eall && m == mall) v = NAN;
    else if (e == 0) v = (double)m / (1u << f->mbits) * pow(2.0, 1 - f->bias);
    else v = (1.0 + (double)m / (1u << f->mbits)) * pow(2.0, (int)e - f->bias);
    return s ? -v : v;
}

/* Sorted non-negative finite values of a format and their codes. */
typedef struct {
    double v[128];
    unsigned code[128];
    int n;
} Table;

static inline void build_table(const Fields *f, Table *t)
{
    const unsigned half = 1u << (f->ebits + f->mbits);
    t->n = 0;
    for (unsigned c = 0; c < half; c++) { /* magnitudes ascend with the code */
        const double v = field_value(f, c);
        if (!isfinite(v)) continue;
        t->v[t->n] = v;
        t->code[t->n++] = c;
    }
    for (int i = 1; i < t->n; i++) CHECK(t->v[i] > t->v[i - 1]);
}

/* Brute force: the nearest table value to |x| (ties: the even code), saturating. */
static inline unsigned nearest(const Table *t, double a)
{
    if (a > t->v[t->n - 1]) return t->code[t->n - 1]; /* saturating */
    int best = 0;
    for (int i = 1; i < t->n; i++) {
        const double d = fabs(a - t->v[i]), db = fabs(a - t->v[best]);
        if (d < db || (d == db && (t->code[i] & 1u) == 0)) best = i;
    }
    return t->code[best];
}

#endif
