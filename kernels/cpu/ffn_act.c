/* ffn_act.c: see ffn_act.h. */
#include "cpu/ffn_act.h"

static inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

void relu2_forward_ref(float *out, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        out[i] = r * r;
    }
}

void relu2_backward_ref(float *da, const float *dout, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) da[i] += dout[i] * (2.0f * relu(a[i]));
}

void squared_reglu_forward_ref(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        out[i] = r * r * b[i];
    }
}

void squared_reglu_backward_ref(float *da, float *db, const float *dout, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        da[i] += dout[i] * b[i] * (2.0f * r);
        db[i] += dout[i] * (r * r);
    }
}

void relu2_forward(float *out, const float *a, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        out[i] = r * r;
    }
}

void relu2_backward(float *da, const float *dout, const float *a, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) da[i] += dout[i] * (2.0f * relu(a[i]));
}

void squared_reglu_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        out[i] = r * r * b[i];
    }
}

void squared_reglu_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float r = relu(a[i]);
        da[i] += dout[i] * b[i] * (2.0f * r);
        db[i] += dout[i] * (r * r);
    }
}
