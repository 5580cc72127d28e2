/* adamw.c: see adamw.h. Elementwise: every element is owned by one thread. */
#include "cpu/adamw.h"

#include <math.h>

AdamWScalars adamw_scalars(double lr, double weight_decay, double beta1, double beta2, double eps,
                           long step, double grad_scale)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    AdamWScalars a = {
        .decay_factor = (float)(1.0 - lr * weight_decay),
        .beta1 = (float)beta1, .one_minus_beta1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2, .one_minus_beta2 = (float)(1.0 - beta2),
        .neg_step_size = (float)(-(lr / bc1)),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)eps,
        .grad_scale = (float)grad_scale,
    };
    return a;
}

void adamw_update_ref(float *p, const float *g, float *m, float *v, size_t n, const AdamWScalars *a)
{
    for (size_t i = 0; i < n; i++) {
        float gi = a->grad_scale == 1.0f ? g[i] : g[i] * a->grad_scale;
        p[i] = p[i] * a->decay_factor;
        m[i] = m[i] * a->beta1 + gi * a->one_minus_beta1;
        v[i] = v[i] * a->beta2 + a->one_minus_beta2 * gi * gi;
        float denom = sqrtf(v[i]) / a->bc2_sqrt + a->eps;
        p[i] = p[i] + a->neg_step_size * m[i] / denom;
    }
}

void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const AdamWScalars *a)
{
    const AdamWScalars s = *a;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = s.grad_scale == 1.0f ? g[i] : g[i] * s.grad_scale;
        float pi = p[i] * s.decay_factor;
        float mi = m[i] * s.beta1 + gi * s.one_minus_beta1;
        float vi = v[i] * s.beta2 + s.one_minus_beta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + s.neg_step_size * mi / (sqrtf(vi) / s.bc2_sqrt + s.eps);
    }
}
