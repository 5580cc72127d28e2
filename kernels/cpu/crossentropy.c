/* crossentropy.c: see crossentropy.h. */
#include "cpu/crossentropy.h"
#include "cpu/vmath.h"

#include <math.h>
#include <stddef.h>

void crossentropy_ref(float *logits, int n, int V, const uint32_t *targets, float *loss,
                      uint32_t *argmax, const float *grad_weight)
{
    for (int i = 0; i < n; i++) {
        float *z = logits + (size_t)i * V;
        float m = z[0];
        uint32_t best = 0;
        int nan = 0;
        for (int j = 0; j < V; j++) {
            nan |= isnan(z[j]);
            if (z[j] > m) { m = z[j]; best = (uint32_t)j; }
        }
        /* The reference sums in double: it is the yardstick for the float fast path. */
        double sum_d = 0.0;
        for (int j = 0; j < V; j++) sum_d += expf(z[j] - m);
        float sum = (float)sum_d;
        loss[i] = nan ? NAN : logf(sum) - (z[targets[i]] - m);
        if (argmax) argmax[i] = best;
        if (grad_weight) {
            float w = grad_weight[i];
            for (int j = 0; j < V; j++) z[j] = w * (expf(z[j] - m) / sum);
            z[targets[i]] -= w;
        }
    }
}

/* One row of the fast path. With a gradient, the exponentials of the sum are kept in
 * the row and scaled afterwards, so each logit goes through vexpf once; the sum, and so
 * the loss, is the same computation with or without the gradient. Compiled twice (AVX2
 * and baseline SSE2) and picked at load time: the exponential dominates and the
 * baseline build has no wider vectors. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void ce_row(float *z, int V, uint32_t target, const float *grad_weight, float *loss, uint32_t *argmax)
{
    float m = -INFINITY;
    int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int j = 0; j < V; j++) {
        m = z[j] > m ? z[j] : m;
        nan |= z[j] != z[j];
    }
    if (argmax) {
        uint32_t best = 0;
        for (int j = 0; j < V; j++)
            if (z[j] == m) { best = (uint32_t)j; break; }
        *argmax = best;
    }
    const float zt = z[target];
    /* Summed in double: tens of thousands of terms, and the result then does not hang
     * on the vector width the compiler picked. */
    double sum_d = 0.0;
    if (grad_weight) {
#pragma omp simd reduction(+ : sum_d)
        for (int j = 0; j < V; j++) {
            float e = vexpf(z[j] - m);
            z[j] = e;
            sum_d += e;
        }
    } else {
#pragma omp simd reduction(+ : sum_d)
        for (int j = 0; j < V; j++) sum_d += vexpf(z[j] - m);
    }
    const float sum = (float)sum_d;
    *loss = nan ? NAN : logf(sum) - (zt - m);
    if (grad_weight) {
        const float w = *grad_weight, ws = w / sum;
#pragma omp simd
        for (int j = 0; j < V; j++) z[j] *= ws;
        z[target] -= w;
    }
}

void crossentropy(float *logits, int n, int V, const uint32_t *targets, float *loss,
                  uint32_t *argmax, const float *grad_weight)
{
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < n; i++)
        ce_row(logits + (size_t)i * V, V, targets[i], grad_weight ? grad_weight + i : NULL, loss + i,
               argmax ? argmax + i : NULL);
}
