/* swiglu.c: see swiglu.h. */
#include "cpu/swiglu.h"
#include "cpu/vmath.h"

#include <math.h>

void swiglu_forward_ref(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void swiglu_backward_ref(float *da, float *db, const float *dout, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + expf(-a[i]));
        float silu = a[i] * sig;
        da[i] += dout[i] * b[i] * (sig * (1.0f + a[i] * (1.0f - sig)));
        db[i] += dout[i] * silu;
    }
}

void swiglu_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] / (1.0f + vexpf(-a[i])) * b[i];
}

void swiglu_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + vexpf(-a[i]));
        float silu = a[i] * sig;
        da[i] += dout[i] * b[i] * (sig * (1.0f + a[i] * (1.0f - sig)));
        db[i] += dout[i] * silu;
    }
}
