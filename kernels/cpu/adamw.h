/* adamw.h: one AdamW step over a run of parameters (Loshchilov & Hutter 2019), in the
 * exact order of operations of torch.optim.AdamW (torch 1.13, single-tensor path), so
 * the PyTorch oracle agrees to rounding:
 *   g  = grad * grad_scale                  (global-norm clipping folded in; 1 = none)
 *   p *= 1 - lr * wd
 *   m  = m * beta1 + g * (1 - beta1)
 *   v  = v * beta2 + (1 - beta2) * g * g
 *   p += (-lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - beta_i^step
 * The scalars are computed in double (as Python does) and rounded to float once. */
#ifndef NMOE_KERNELS_CPU_ADAMW_H
#define NMOE_KERNELS_CPU_ADAMW_H

#include <stddef.h>

typedef struct {
    float decay_factor;     /* 1 - lr * weight_decay */
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float neg_step_size;    /* -lr / bc1 */
    float bc2_sqrt;         /* sqrt(bc2) */
    float eps;
    float grad_scale;
} AdamWScalars;

/* step counts from 1. */
AdamWScalars adamw_scalars(double lr, double weight_decay, double beta1, double beta2, double eps,
                           long step, double grad_scale);
void adamw_update_ref(float *p, const float *g, float *m, float *v, size_t n, const AdamWScalars *a);
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const AdamWScalars *a);

#endif
