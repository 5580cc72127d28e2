/* rope.h: rotary position embedding (Su et al. 2021), in place on queries and keys.
 *
 * Each head vector is taken as head_dim/2 pairs (x[2i], x[2i+1]) (the interleaved, "complex"
 * convention of the original RoFormer, LLaMA and DeepSeek code); pair i at position p is
 * rotated by the angle p * theta^(-2i/head_dim):
 *     forward   (x0, x1) -> (x0 c - x1 s, x0 s + x1 c)
 *     backward  (d0, d1) -> (d0 c + d1 s, -d0 s + d1 c)    (the transpose rotation)
 * Rows are positions of B sequences of T tokens: row r sits at position r % T. The
 * tables hold cos and sin for [max_seq][head_dim/2], computed in double then rounded.
 *
 * YaRN (Peng et al. 2023, "YaRN: Efficient Context Window Extension"; the formulas of
 * DeepSeek-V3's model.py precompute_freqs_cis), factor s > 1, original length L, betas
 * b_fast > b_slow, d = head_dim, f_i = theta^(-2i/d):
 *   dim(r)  = d ln(L / (2 pi r)) / (2 ln theta)     (the pair that turns r times over L)
 *   low     = max(floor(dim(b_fast)), 0),  high = min(ceil(dim(b_slow)), d - 1)
 *             (high += 0.001 when low == high)
 *   ramp_i  = clamp((i - low) / (high - low), 0, 1)
 *   f'_i    = f_i / s * ramp_i + f_i * (1 - ramp_i)   (fast pairs kept, slow ones / s)
 *   mscale  = 0.1 ln(s) + 1    (the attention temperature)
 * and the tables hold mscale cos(p f'_i), mscale sin(p f'_i): the rotation is scaled by
 * mscale on q and on k, so q.k, and the attention logits, get mscale^2, the same as
 * DeepSeek-V3's softmax_scale * mscale^2 (HF transformers' YaRN scales cos and sin the
 * same way). The backward above is then still the transpose. Unlike model.py, the
 * frequencies do not depend on the context the model is built for: they apply
 * whenever YaRN is on, so training, scoring and the KV cache all use the same. */
#ifndef NMOE_KERNELS_CPU_ROPE_H
#define NMOE_KERNELS_CPU_ROPE_H

void rope_tables(float *cos_t, float *sin_t, int max_seq, int head_dim, double theta);

typedef struct {
    double factor;        /* s > 1 */
    int original_seq_len; /* L >= 1 */
    double beta_fast, beta_slow;
} RopeYarn;
/* f'_i of pair i (above), in double. */
double rope_yarn_freq(int i, int head_dim, double theta, const RopeYarn *y);
double rope_yarn_mscale(double factor);
void rope_tables_yarn(float *cos_t, float *sin_t, int max_seq, int head_dim, double theta, const RopeYarn *y);
/* x: [n rows][n_heads][head_dim]. */
void rope_forward(float *x, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim);
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim);

#endif
