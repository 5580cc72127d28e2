/* mla.h: DeepSeek-V2's multi-head latent attention (MLA; DeepSeek-V2 paper section 2.1,
 * and model.py of DeepSeek-V3's reference code, "naive" attention), the attention of a
 * block when the config says attention = "mla". Forward, backward, and the incremental
 * step over a key/value cache.
 *
 * Shapes: C = dim, H = n_heads, Q = q_lora_rank, R = kv_lora_rank, dn = qk_nope_head_dim,
 * dr = qk_rope_head_dim, dqk = dn + dr, dv = v_head_dim. For an input row x (the block's
 * attention RMSNorm, [C]) at position t:
 *   q     = wq_b RMSNorm_q(wq_a x)     (Q > 0; q_norm the gain)   or   wq x  (Q = 0)  [H][dqk]
 *   q_h   = [q_nope_h (dn), RoPE_t(q_pe_h) (dr)]
 *   kv_a  = wkv_a x                                                [R + dr]
 *   c_kv  = RMSNorm_kv(kv_a[0:R])  (kv_norm the gain)              [R]  the latent
 *   k_pe  = RoPE_t(kv_a[R:R+dr])   ONE rotary key shared by every head (decoupled RoPE)
 *   [k_nope_h (dn), v_h (dv)] = (wkv_b c_kv)[h]                    wkv_b: [H (dn + dv), R]
 *   k_h   = [k_nope_h, k_pe]
 *   out_h = softmax_j(scale q_h(t) . k_h(j)) v_h(j), j in [lo(t), t], scale = 1/sqrt(dqk)
 *           (lo as in attention.h: attn_window, 0 = full causal)
 *   y     = wo [out_0 .. out_{H-1}]                                wo: [C, H dv]
 * RoPE is rope.h's, interleaved pairs (2i, 2i+1), with frequencies theta^(-2i/dr) over the
 * dr wide parts (DeepSeek's precompute_freqs_cis(qk_rope_head_dim) and view_as_complex
 * on consecutive pairs: the same convention). Both RMSNorms use the model's norm_eps.
 *
 * Tensors (model.c's table; names as DeepSeek's): layers.L.attn.wq [H dqk, C] (Q = 0) or
 * wq_a [Q, C], q_norm [Q], wq_b [H dqk, Q]; wkv_a [R + dr, C], kv_norm [R],
 * wkv_b [H (dn + dv), R], wo [C, H dv]. Linear weights [out, in] like torch.
 *
 * Training recomputes nothing clever: k and v are expanded per head (H dqk and H dv per
 * row) and attention runs on the expanded heads, as DeepSeek's "naive" mode does. The
 * key/value cache of inference stores the EXPANDED keys (after RoPE) and values of each
 * position, [max_seq][H dqk] and [max_seq][H dv] per block, not the compressed c_kv and
 * k_pe: simpler, and the same arithmetic as the training forward.
 *
 * The attention loops are one implementation for the reference and the fast paths
 * (plain dot products, one (sequence, head) per OpenMP task, each output written by one
 * task, so thread counts change no bit); the products and norms take the fast or
 * reference kernels as asked. */
#ifndef NMOE_KERNELS_CPU_MLA_H
#define NMOE_KERNELS_CPU_MLA_H

#include "cpu/matmul.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int dim, n_heads, q_lora_rank, kv_lora_rank, qk_nope, qk_rope, v_dim;
    int window;       /* attn_window: 0 = full causal */
    float norm_eps;
    double rope_theta;
} MlaShape;

/* Pointers into the parameter (or gradient) buffer; wq NULL when q_lora_rank > 0, and
 * wq_a, q_norm, wq_b NULL when it is 0. */
typedef struct {
    float *wq, *wq_a, *q_norm, *wq_b, *wkv_a, *kv_norm, *wkv_b, *wo;
} MlaWeights;

/* The saved activations of one block for up to max_batch x max_seq rows (and, with
 * backward, that block's gradient buffers), plus the rotary tables of width dr. */
typedef struct MlaWorkspace MlaWorkspace;

MlaWorkspace *mla_workspace_create(const MlaShape *s, int max_batch, int max_seq, bool backward);
void mla_workspace_free(MlaWorkspace *ws);
size_t mla_workspace_bytes(const MlaWorkspace *ws);
/* GEMM scratch the block's products need at N rows of period T (matmul.h). */
size_t mla_scratch_floats(const MlaShape *s, int N, int T);
/* Widths of a cache row: H dqk (keys) and H dv (values). */
int mla_cache_k_width(const MlaShape *s);
int mla_cache_v_width(const MlaShape *s);

/* mid += wo attn(x) for B sequences of T rows x [B*T][C]; activations saved in ws. */
void mla_forward(MlaWorkspace *ws, const MlaWeights *w, const float *x, float *mid, int B, int T, bool reference,
                 GemmScratch *gemm);
/* Backward of the last mla_forward on ws (same x): dy = d mid [N][C]; dx [N][C] and the
 * weight gradients g ACCUMULATE. */
void mla_backward(MlaWorkspace *ws, const MlaWeights *w, const MlaWeights *g, const float *x, const float *dy,
                  float *dx, int B, int T, bool reference, GemmScratch *gemm);
/* n new rows of one sequence at positions p0..p0+n-1: their keys and values are written
 * to kc/vc rows p0.. (widths mla_cache_*_width), then they attend to cache rows
 * [lo(t), t]; mid += wo attn. The products run over the n rows (period n). */
void mla_cached(MlaWorkspace *ws, const MlaWeights *w, const float *x, float *mid, int n, int p0, float *kc,
                float *vc, bool reference, GemmScratch *gemm);

#endif
