/* ffn_act.h: the non-SwiGLU activations of the FFN dial (model/ffn_activation.h),
 * elementwise, beside swiglu.h. a is the first projection (W1 x), b the up projection
 * (W3 x); r = relu(a) = max(a, 0).
 *   relu2          forward  out = r^2
 *                  backward da += dout * 2 r
 *   squared_reglu  forward  out = r^2 * b
 *                  backward da += dout * b * 2 r,   db += dout * r^2
 * At a = 0 the derivative taken is 0 (both sides agree: r^2 is differentiable there).
 * Backward ACCUMULATES like swiglu_backward. The _ref loops are the readable reference;
 * the others are the same arithmetic spread over OpenMP threads and vectorized, so
 * they give the same bits. */
#ifndef NMOE_KERNELS_CPU_FFN_ACT_H
#define NMOE_KERNELS_CPU_FFN_ACT_H

#include <stddef.h>

void relu2_forward_ref(float *out, const float *a, size_t n);
void relu2_backward_ref(float *da, const float *dout, const float *a, size_t n);
void squared_reglu_forward_ref(float *out, const float *a, const float *b, size_t n);
void squared_reglu_backward_ref(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);

void relu2_forward(float *out, const float *a, size_t n);
void relu2_backward(float *da, const float *dout, const float *a, size_t n);
void squared_reglu_forward(float *out, const float *a, const float *b, size_t n);
void squared_reglu_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);

#endif
