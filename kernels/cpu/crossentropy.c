/* crossentropy.c: see crossentropy.h. */
#include "cpu/crossentropy.h"
#include "cpu/vmath.h"

#include <math.h>
#include <stddef.h>

void crossentropy_ref(float *logits, int n, int V, const uint32_t *targets, float *loss,
                      uint32_t *argmax, const float *grad_weight)
{
    crossentropy_z_ref(logits, n, V, targets, loss, argmax, grad_weight, 0.0f, NULL);
}

void crossentropy_z_ref(float *logits, int n, int V, const uint32_t *targets, float *loss, uint32_t *argmax,
                        const float *grad_weight, float z_coef, float *lse)
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
        const float l = nan ? NAN : m + logf(sum);
        if (lse) lse[i] = l;
        if (argmax) argmax[i] = best;
        if (grad_weight) {
            const float w = grad_weight[i];
            /* The z-loss scales the softmax part only. */
            const float ws = z_coef != 0.0f ? w * (1.0f + 2.0f * z_coef * l) : w;
            for (int j = 0; j < V; j++) z[j] = ws * (expf(z[j] - m) / sum);
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
static void ce_row(float *z, int V, uint32_t target, const float *grad_weight, float *loss, uint32_t *argmax,
                   float z_coef, float *lse)
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
    const float l = nan ? NAN : m + logf(sum);
    if (lse) *lse = l;
    if (grad_weight) {
        const float w = *grad_weight;
        const float ws = (z_coef != 0.0f ? w * (1.0f + 2.0f * z_coef * l) : w) / sum;
#pragma omp simd
        for (int j = 0; j < V; j++) z[j] *= ws;
        z[target] -= w;
    }
}

void crossentropy(float *logits, int n, int V, const uint32_t *targets, float *loss,
                  uint32_t *argmax, const float *grad_weight)
{
    crossentropy_z(logits, n, V, targets, loss, argmax, grad_weight, 0.0f, NULL);
}

void crossentropy_z(float *logits, int n, int V, const uint32_t *targets, float *loss, uint32_t *argmax,
                    const float *grad_weight, float z_coef, float *lse)
{
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < n; i++)
        ce_row(logits + (size_t)i * V, V, targets[i], grad_weight ? grad_weight + i : NULL, loss + i,
               argmax ? argmax + i : NULL, z_coef, lse ? lse + i : NULL);
}
