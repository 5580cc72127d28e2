/* swiglu.h: the gated activation of a SwiGLU FFN (Shazeer 2020), elementwise.
 *   forward   out = silu(a) * b,   silu(a) = a * sigmoid(a) = a / (1 + e^-a)
 *   backward  da += dout * b * sigmoid(a) (1 + a (1 - sigmoid(a))),   db += dout * silu(a)
 * a is the gate projection (W1 x), b the up projection (W3 x). */
#ifndef NMOE_KERNELS_CPU_SWIGLU_H
#define NMOE_KERNELS_CPU_SWIGLU_H

#include <stddef.h>

void swiglu_forward_ref(float *out, const float *a, const float *b, size_t n);
void swiglu_backward_ref(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);

/* Parallel and vectorized (vexpf). */
void swiglu_forward(float *out, const float *a, const float *b, size_t n);
void swiglu_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);

#endif
