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
 * Learned attention sinks (s->sinks non-NULL: one logit per query head, gpt-oss and the
 * learned-sink variant of Xiao et al. 2023): the sink joins each row's softmax as one
 * more column with no value, so a head can put weight on "nothing":
 *   p_tj = exp(s_tj - m) / (exp(sink_h - m) + sum_j' exp(s_tj' - m)),
 *   sp_t = exp(sink_h - m) / (same),  m = max(sink_h, max_j s_tj),  out_t = sum_j p_tj v_j
 * so the rows of p sum to 1 - sp_t (sp_t is saved in sink_probs [B][n_heads][T]). The
 * sink's column has dp = 0, so ds_tj keeps its form (D_t = sum_j p_tj dp_tj already is
 * the full row's) and d sink_h = - sum_{b,t} sp_t D_t (the sink is not scaled).
 * dsinks ACCUMULATES; sink_probs and dsinks are NULL when s->sinks is.
 *
 * The fast path runs one (sequence, head) per task for the forward and one (sequence,
 * key/value head) per task for the backward, so each output is written by one thread;
 * inside, single-threaded sgemm on row blocks that stop at the diagonal. */
#ifndef NMOE_KERNELS_CPU_ATTENTION_H
#define NMOE_KERNELS_CPU_ATTENTION_H

#include <stddef.h>

typedef struct {
    int B, T, n_heads, n_kv_heads, head_dim;
    int window;         /* 0: full causal */
    const float *sinks; /* [n_heads] learned sink logits; NULL: no sink */
} AttnShape;

void attention_forward_ref(float *out, float *probs, float *sink_probs, const float *q, const float *k,
                           const float *v, const AttnShape *s);
void attention_backward_ref(float *dq, float *dk, float *dv, float *dsinks, const float *dout, const float *probs,
                            const float *sink_probs, const float *q, const float *k, const float *v,
                            const float *out, const AttnShape *s);

void attention_forward(float *out, float *probs, float *sink_probs, const float *q, const float *k, const float *v,
                       const AttnShape *s);
/* scratch: attention_scratch_floats(s) floats (work rows, one slot per task, and the
 * per-sequence partial sums of dsinks, added in sequence order after the tasks). */
void attention_backward(float *dq, float *dk, float *dv, float *dsinks, const float *dout, const float *probs,
                        const float *sink_probs, const float *q, const float *k, const float *v,
                        const float *out, const AttnShape *s, float *scratch);
size_t attention_scratch_floats(const AttnShape *s);

/* Incremental inference over a key/value cache (sampling, shared contexts): n new
 * rows at positions p0..p0+n-1 of ONE sequence, whose keys and values are already in
 * the cache, attend to cache positions [lo(t), t] with the same math as above (the
 * sinks of s->sinks included).
 *   q, out   [n][n_heads][head_dim]       kc, vc   [>= p0+n][n_kv_heads][head_dim]
 * s->B and s->T are not used. One (block of rows, head) per task, the
 * blocked products of attention_forward inside, so the result does not depend on the
 * thread count. */
void attention_cached(float *out, const float *q, const float *kc, const float *vc, int n, int p0,
                      const AttnShape *s);

#endif
