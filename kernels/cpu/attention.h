/* attention.h: causal scaled dot-product attention with grouped-query heads and an
 * optional sliding window, forward and backward.
 *
 * Layout (rows are positions of B sequences of T tokens):
 *   q, out   [B*T][n_heads][head_dim]      k, v   [B*T][n_kv_heads][head_dim]
 *   probs    [B][n_heads][T][T]            the softmax, saved for the backward
 * Query head h reads key/value head h / (n_heads / n_kv_heads) (consecutive groups,
 * like torch's repeat_interleave). With scale = 1/sqrt(head_dim), for position t the
 * visible keys are j in [lo(t), t], lo(t) = max(0, t - window + 1) (window 0: lo = 0):
 *   s_tj = scale q_t.k_j,  p_t = softmax_j(s_t),  out_t = sum_j p_tj v_j
 * Backward, with D_t = dout_t . out_t:
 *   dp_tj = dout_t . v_j,  ds_tj = p_tj (dp_tj - D_t),
 *   dq_t += scale sum_j ds_tj k_j,  dk_j += scale sum_t ds_tj q_t,  dv_j += sum_t p_tj dout_t
 * dq, dk, dv ACCUMULATE.
 *
 * The fast path runs one (sequence, head) per task for the forward and one (sequence,
 * key/value head) per task for the backward, so each output is written by one thread;
 * inside, single-threaded sgemm on row blocks that stop at the diagonal. */
#ifndef NMOE_KERNELS_CPU_ATTENTION_H
#define NMOE_KERNELS_CPU_ATTENTION_H

#include <stddef.h>

typedef struct {
    int B, T, n_heads, n_kv_heads, head_dim;
    int window; /* 0: full causal */
} AttnShape;

void attention_forward_ref(float *out, float *probs, const float *q, const float *k, const float *v,
                           const AttnShape *s);
void attention_backward_ref(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                            const float *q, const float *k, const float *v, const float *out,
                            const AttnShape *s);

void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const AttnShape *s);
/* scratch: attention_scratch_floats(s) floats (work rows, one slot per task). */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                        const float *q, const float *k, const float *v, const float *out,
                        const AttnShape *s, float *scratch);
size_t attention_scratch_floats(const AttnShape *s);

/* Incremental inference over a key/value cache (sampling, shared contexts): n new
 * rows at positions p0..p0+n-1 of ONE sequence, whose keys and values are already in
 * the cache, attend to cache positions [lo(t), t] with the same math as above.
 *   q, out   [n][n_heads][head_dim]       kc, vc   [>= p0+n][n_kv_heads][head_dim]
 * s->B and s->T are not used. One (block of rows, head) per task, the
 * blocked products of attention_forward inside, so the result does not depend on the
 * thread count. */
void attention_cached(float *out, const float *q, const float *kc, const float *vc, int n, int p0,
                      const AttnShape *s);

#endif
