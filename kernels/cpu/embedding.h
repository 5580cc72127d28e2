/* embedding.h: token embedding lookup, forward and backward.
 *   forward   out[i, :] = wte[tokens[i], :]
 *   backward  dwte[tokens[i], :] += dout[i, :]   (in position order: a token seen twice
 *             sums its rows in the same order on any thread count) */
#ifndef NMOE_KERNELS_CPU_EMBEDDING_H
#define NMOE_KERNELS_CPU_EMBEDDING_H

#include <stdint.h>

void embedding_forward(float *out, const uint32_t *tokens, const float *wte, int n, int dim);
void embedding_backward(float *dwte, const uint32_t *tokens, const float *dout, int n, int dim);

#endif
