/* moe_route.h: the router's pieces, shared by the grouped MoE path (moe.c) and nothing
 * else: affinities, the top-K choice, the gate weights, the sequence-wise aux loss, and
 * their backwards. All [T, E] and [T, K] arrays are row-major. Internal to kernels/cpu;
 * the model uses moe.h. */
#ifndef NMOE_KERNELS_CPU_MOE_ROUTE_H
#define NMOE_KERNELS_CPU_MOE_ROUTE_H

#include "moe.h"

/* s[T, E] = sigmoid(logits) or softmax over each row; may be in place. */
void moe_route_scores(MoeScore score, const float *logits, int T, int E, float *s);

/* experts[T, K]: the K largest s + bias per token, descending, ties to the lower index.
 * A NaN score is never preferred over a number (it can only fill a row with too few). */
void moe_route_topk(const float *s, const float *bias, int T, int E, int K, int32_t *experts);

/* Group-limited routing (moe.h): keys[T, E] = s + bias on the experts of each token's
 * topk_groups best groups, -INFINITY elsewhere; group_scores [T, n_groups] and
 * group_chosen [T, topk_groups] are scratch (left holding the group scores and the kept
 * groups, descending). moe_route_topk(keys, NULL, ...) then chooses within the kept
 * groups: the key of a kept expert is s + bias bit for bit. */
void moe_route_group_limit(const float *s, const float *bias, int T, int E, int n_groups,
                           int topk_groups, float *group_scores, int32_t *group_chosen, float *keys);

/* gates[T, K] from the chosen affinities (see moe.h for sigmoid vs softmax). */
void moe_route_gates(const MoeConfig *cfg, const float *s, const int32_t *experts, int T,
                     float *gates);

/* ds[T, E] = d gates -> d s (zero for experts not chosen); written, not added. */
void moe_route_gates_backward(const MoeConfig *cfg, const float *s, const int32_t *experts,
                              const float *dgates, int T, float *ds);

/* dlogits[T, E] from ds through sigmoid or softmax; written. */
void moe_route_scores_backward(MoeScore score, const float *s, const float *ds, int T, int E,
                               float *dlogits);

/* Sequences in a call of T tokens for the aux loss (seq_len 0: one). */
int moe_aux_sequences(const MoeConfig *cfg, int T);

/* The aux loss value; seq_counts[nseq, E] receives the per-sequence choice counts
 * (the constant f_i of the backward). */
float moe_aux_loss_forward(const MoeConfig *cfg, const float *s, const int32_t *experts, int T,
                           int32_t *seq_counts);

/* ds[T, E] += scale * d aux / d s, with the counts held fixed. */
void moe_aux_loss_backward(const MoeConfig *cfg, const float *s, const int32_t *seq_counts,
                           int T, float scale, float *ds);

#endif
