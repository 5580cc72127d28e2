/* rope.h: rotary position embedding (Su et al. 2021), in place on queries and keys.
 *
 * Each head vector is taken as head_dim/2 pairs (x[2i], x[2i+1]) (the interleaved, "complex"
 * convention of the original RoFormer, LLaMA and DeepSeek code); pair i at position p is
 * rotated by the angle p * theta^(-2i/head_dim):
 *     forward   (x0, x1) -> (x0 c - x1 s, x0 s + x1 c)
 *     backward  (d0, d1) -> (d0 c + d1 s, -d0 s + d1 c)    (the transpose rotation)
 * Rows are positions of B sequences of T tokens: row r sits at position r % T. The
 * tables hold cos and sin for [max_seq][head_dim/2], computed in double then rounded. */
#ifndef NMOE_KERNELS_CPU_ROPE_H
#define NMOE_KERNELS_CPU_ROPE_H

void rope_tables(float *cos_t, float *sin_t, int max_seq, int head_dim, double theta);
/* x: [n rows][n_heads][head_dim]. */
void rope_forward(float *x, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim);
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim);

#endif
