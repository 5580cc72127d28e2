/* crossentropy.h: softmax cross-entropy over a vocabulary, one row per position.
 *
 * For row i with logits z (V entries) and target y:
 *   loss_i = log(sum_j e^(z_j - m)) - (z_y - m),   m = max_j z_j      (= -log softmax(z)_y)
 * With grad_weight (the d objective / d loss_i of each row, e.g. mask_i / count):
 *   the row of logits is OVERWRITTEN by its gradient  w_i (softmax(z) - onehot(y)).
 * argmax (optional) receives the lowest index of the largest logit (greedy decoding).
 * A row holding a NaN gets loss NaN, so a diverged run is seen. The forward part is the
 * same code with or without the gradient, so scoring and training losses agree bit for bit. */
#ifndef NMOE_KERNELS_CPU_CROSSENTROPY_H
#define NMOE_KERNELS_CPU_CROSSENTROPY_H

#include <stdint.h>

void crossentropy_ref(float *logits, int n, int V, const uint32_t *targets, float *loss,
                      uint32_t *argmax, const float *grad_weight);
/* Parallel over rows, vectorized (vexpf). */
void crossentropy(float *logits, int n, int V, const uint32_t *targets, float *loss,
                  uint32_t *argmax, const float *grad_weight);

/* The same with the z-loss of PaLM (config key z_loss): lse_i = m + log(sum_j e^(z_j - m))
 * (= logsumexp(z)) into lse (may be NULL), and with grad_weight the row's gradient is
 * that of loss_i + z_coef lse_i^2:  w_i ((1 + 2 z_coef lse_i) softmax(z) - onehot(y)).
 * loss stays the cross-entropy alone; z_coef = 0 is exactly the functions above. */
void crossentropy_z_ref(float *logits, int n, int V, const uint32_t *targets, float *loss, uint32_t *argmax,
                        const float *grad_weight, float z_coef, float *lse);
void crossentropy_z(float *logits, int n, int V, const uint32_t *targets, float *loss, uint32_t *argmax,
                    const float *grad_weight, float z_coef, float *lse);

#endif
