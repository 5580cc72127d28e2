/* grad_norm.c: see grad_norm.h. */
#include "cpu/grad_norm.h"

double sumsq_ref(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

double sumsq(const float *x, size_t n, double *partials)
{
    const size_t n_chunks = sumsq_partials(n);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n_chunks; c++) {
        size_t i0 = c * SUMSQ_CHUNK, i1 = i0 + SUMSQ_CHUNK < n ? i0 + SUMSQ_CHUNK : n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
        partials[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < n_chunks; c++) total += partials[c];
    return total;
}
