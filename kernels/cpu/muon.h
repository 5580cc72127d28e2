/* muon.h: one Muon step over a matrix, or over a stack of matrices (Keller Jordan's
 * Muon, github.com/KellerJordan/Muon muon.py, with the update RMS matching of Moonshot's
 * "Muon is Scalable for LLM Training", 2025), in fp32:
 *   g   = grad * grad_scale                          (global-norm clipping folded in)
 *   buf = momentum * buf + (1 - momentum) * g        (muon.py's buf.lerp_(g, 1 - momentum))
 *   u   = momentum * buf + (1 - momentum) * g        (Nesterov; u = buf without it)
 *   X   = u / (||u||_F + 1e-7), transposed first when rows > cols, so X is n x m, n <= m
 *   5 times:  A = X X^T;  B = b A + c (A A);  X = a X + B X
 *             (a, b, c) = (3.4445, -4.7750, 2.0315), muon.py's quintic coefficients
 *   p  *= 1 - lr * weight_decay                      (decoupled, as AdamW's)
 *   p  += -(lr * update_rms * sqrt(max(rows, cols))) * X (transposed back)
 * Why that scale: Newton-Schulz drives the singular values of X towards 1 (roughly
 * 0.7..1.2 after 5 steps), so ||X||_F^2 ~ n and the RMS of its elements is about
 * sqrt(n / (n m)) = 1 / sqrt(max(rows, cols)). Multiplying by update_rms * sqrt(max)
 * makes every matrix's update RMS about update_rms whatever its shape (Moonshot uses
 * 0.2, the typical RMS of an AdamW update), so lr_muon and weight_decay mean what they
 * mean for AdamW. (muon.py scales by max(1, rows / cols)^0.5 instead and wants lr ~ 0.02.)
 * The buffer lerp form is the same as buf = momentum buf + g up to a constant factor,
 * which the normalisation removes. The arithmetic is fp32 (muon.py runs Newton-Schulz in
 * bf16 on a GPU); the Frobenius norm is summed in double, in element order.
 *
 * The fast path runs the products on the project's fixed gemm grid (matmul.h) and each
 * elementwise pass is owned per element, so the result does not depend on the thread
 * count; the _ref functions are plain loops to read against the formulas. */
#ifndef NMOE_KERNELS_CPU_MUON_H
#define NMOE_KERNELS_CPU_MUON_H

#include "cpu/matmul.h"

#include <stdbool.h>
#include <stddef.h>

enum { MUON_NS_STEPS = 5 };
#define MUON_NS_A 3.4445f
#define MUON_NS_B (-4.7750f)
#define MUON_NS_C 2.0315f
#define MUON_NORM_EPS 1e-7f

typedef struct {
    float momentum, one_minus_momentum;
    bool nesterov;
    float decay_factor;     /* 1 - lr * weight_decay */
    double lr, update_rms;  /* the per-matrix step is -(lr * update_rms * sqrt(max(rows, cols))) */
    float grad_scale;
} MuonScalars;

MuonScalars muon_scalars(double lr, double weight_decay, double momentum, bool nesterov, double update_rms,
                         double grad_scale);

/* Floats of work one matrix of rows x cols needs (the Newton-Schulz operands). */
size_t muon_work_floats(int rows, int cols);
/* Scratch floats the fast path's products need (matmul.h GemmScratch) for that matrix. */
size_t muon_gemm_scratch_floats(int rows, int cols);

/* Newton-Schulz orthogonalisation of X (n x m row-major, n <= m), in place, after the
 * Frobenius normalisation: MUON_NS_STEPS quintic iterations. work: 2 n n + n m floats. */
void muon_newton_schulz_ref(float *x, int n, int m, float *work);
void muon_newton_schulz(float *x, int n, int m, float *work, GemmScratch *s);

/* One Muon step of n_mats stacked matrices of rows x cols each (a routed-expert stack:
 * matrix e is rows e*rows.. of the tensor; n_mats = 1 for a plain matrix). p, g and buf
 * are n_mats * rows * cols floats. work: muon_work_floats(rows, cols) floats and s
 * muon_gemm_scratch_floats(rows, cols), per thread of the fast path: n_work of them, the
 * matrices of the stack spread over them (OpenMP); the matrices' results do not depend
 * on which one a matrix gets. */
void muon_update_ref(float *p, const float *g, float *buf, int n_mats, int rows, int cols, const MuonScalars *a,
                     float *work);
void muon_update(float *p, const float *g, float *buf, int n_mats, int rows, int cols, const MuonScalars *a,
                 float *const *work, GemmScratch *s, int n_work);

#endif
