/* model.h: the decoder-only transformer of nmoe (doc/DESIGN.md "The model"): the model
 * front, over the backend the config names (model/backend.h; the CPU backend is
 * kernels/cpu/model_cpu.c, fp32).
 *
 *   x = tok_embeddings[tokens]
 *   per block l:  x = x + Wo attn(rope(Wq n1(x)), rope(Wk n1(x)), Wv n1(x))   n1 = RMSNorm
 *                 x = x + ffn_l(n2(x))      ffn: dense SwiGLU  W2 (silu(W1 h) * (W3 h))
 *                                          (or the ffn_activation dial's relu2 /
 *                                          squared_reglu: model/ffn_activation.h)
 *                                          or, from n_dense_layers on, MoE: shared
 *                                          experts + routed experts (the CPU op: kernels/cpu/moe.h)
 *                 (attention = mla: the block's attention is kernels/cpu/mla.h's instead)
 *   logits = output(RMSNorm(x));  loss = cross-entropy (masked positions left out)
 *
 * The front owns a table of named tensors (nmoe-checkpoint(5) lists the names and
 * shapes) laying out ONE float buffer of parameters; the backend holds that buffer, the
 * gradients and the AdamW moments in the same layout, and the activations, allocated
 * once for up to max_batch sequences of max_seq tokens (the CPU backend's forward and
 * backward allocate nothing). Host copies go through model_get_params and the like.
 * Linear weights are [out, in] like torch.nn.Linear.
 *
 * Rows are positions: row r = b * T + t. Every result for a sequence is bit-identical
 * whatever else is in the batch (see matmul.h) and whatever the thread count.
 *
 * MoE blocks (n_routed_experts > 0, blocks l >= n_dense_layers), DeepSeek-V3 style:
 *     ffn_l(h) = shared(h) + moe(h)
 * shared: one dense SwiGLU of hidden n_shared_experts * moe_inter_dim (the sum of the
 * n_shared_experts experts of hidden moe_inter_dim, written as one as DeepSeek-V3 does;
 * absent when n_shared_experts = 0); moe: the routed op of kernels/cpu/moe.h (router,
 * top-K on s + bias, grouped experts). Tensors of an MoE block, after its attention:
 *   layers.L.ffn_norm.weight                      [C]
 *   layers.L.ffn.shared_experts.w1/w3.weight      [S, C], w2 [C, S]   dense group, decay
 *   layers.L.ffn.router.weight                    [E, C]   router group, NO weight decay
 *   layers.L.ffn.experts.w1/w3.weight             [E*F, C] (expert e: rows e*F..), w2 [E*C, F]
 *                                                 expert group, decay
 * The routing bias of each block (layers.L.ffn.router.bias [E]) is model STATE, not a
 * parameter: no gradient, no optimizer moments; it lives in a separate buffer
 * (model_state), is changed only by model_router_after_step, and is saved with the
 * weights (model.bin) so that a checkpoint routes exactly as the run did.
 *
 * Router telemetry: model_train_micro adds each MoE block's loads (and drops, top-1
 * affinity) to the block's per-step counters; model_router_after_step applies the bias
 * update from them and moves them into the block's window (the log interval's)
 * counters, which the train loop writes as `router` lines and resets. Forward-only
 * calls (validation, scoring) count nothing unless a sink is set (nmoe-eval router).
 *
 * With MoE the grouping of sequences into a call can change the last bits of a result
 * (the experts' products run over the tokens of the whole call, and a capacity factor
 * drops by call); everything stays bit-identical for a given grouping and any thread
 * count. */
#ifndef NMOE_MODEL_H
#define NMOE_MODEL_H

#include "train/config.h"
#include "model/expert_exchange.h"
#include "model/ffn_activation.h"
#include "model/routing.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int vocab_size, dim, n_layers, n_heads, n_kv_heads, head_dim, inter_dim, seq_len, attn_window;
    double rope_theta;
    /* YaRN (kernels/cpu/rope.h) when rope_yarn is 1; the rest then set */
    int rope_yarn, rope_original_seq_len;
    double rope_factor, yarn_beta_fast, yarn_beta_slow;
    float norm_eps, init_std;
    FfnActivation ffn_activation; /* every FFN's; 0 = swiglu (relu2: no w3 tensors) */
    /* MoE: blocks l >= n_dense_layers are MoE when n_routed_experts > 0. */
    int n_dense_layers, n_routed_experts, n_shared_experts, n_activated_experts;
    int moe_inter_dim;            /* resolved: > 0 */
    int router_softmax;           /* 0: sigmoid affinities, 1: softmax */
    float route_scale, expert_output_gain, capacity_factor, aux_loss_alpha;
    int n_expert_groups, n_limited_groups; /* group-limited routing (kernels/cpu/moe.h); 1, 1 = off */
    /* emulated precision (kernels/cpu/moe.h): a QuantFormat, and 1 for a bf16 router */
    int expert_precision, router_bf16;
    /* precision = bf16 (kernels/cpu/model_cpu.c): the rest of the model's products on
     * bf16-rounded weights and activations; 0 = fp32 */
    int model_bf16;
    float embed_gain, logit_gain; /* scalars on the embedding output and the logits */
    /* Loss dials (training only): the objective of a row r with loss weight w_r adds
     * w_r z_loss lse_r^2, lse_r = logsumexp of its logits (PaLM's z-loss). */
    float z_loss;
    float router_z_loss;          /* MoE: per block, router_z_loss * mean_t lse(router logits_t)^2 */
    /* Attention dials (nmoe-train(1)), all off at 0:
     * qk_norm: RMSNorm (eps norm_eps) over head_dim of every query and key head after
     *   the projection and before RoPE, learned gains layers.L.attn.q_norm.weight and
     *   k_norm.weight [head_dim] (OLMo-2, Gemma-3, Qwen3);
     * attn_sinks: one learned logit per query head, layers.L.attn.sinks [n_heads] (init
     *   0), an extra softmax column with no value (kernels/cpu/attention.h);
     * attn_global_every N > 0: blocks l with (l + 1) % N == 0 attend full causal, the
     *   others over a window of attn_local_window tokens (attn_window is then 0). */
    int qk_norm, attn_sinks;
    int attn_global_every, attn_local_window;
    /* attention = mla (1; 0: mha): DeepSeek-V2's multi-head latent attention in every
     * block (kernels/cpu/mla.h), dims resolved (> 0; q_lora_rank 0: no query compression).
     * n_kv_heads = n_heads and head_dim are then unused by the attention. */
    int mla, q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
} ModelShape;

ModelShape model_shape_from_config(const Config *c);

/* The attention window of block l: attn_window, or under the local/global pattern 0
 * (full causal) for the global blocks and attn_local_window for the others. */
static inline int model_layer_window(const ModelShape *s, int l)
{
    if (s->attn_global_every <= 0) return s->attn_window;
    return (l + 1) % s->attn_global_every == 0 ? 0 : s->attn_local_window;
}

/* Optimizer parameter groups, each with its own learning rate: dense (everything but
 * the following), expert (routed experts), router (router weights). Weight decay is per
 * tensor (never on norms, embeddings, head, routers). */
typedef enum { PARAM_GROUP_DENSE, PARAM_GROUP_EXPERT, PARAM_GROUP_ROUTER, PARAM_GROUP_COUNT } ParamGroup;

typedef struct {
    char name[64];       /* "layers.0.attn.wq.weight" */
    size_t offset;       /* in floats, into the parameter (and gradient) buffer */
    size_t numel;
    int rows, cols;      /* cols == 0: a vector of `rows` */
    ParamGroup group;
    bool weight_decay;
    float init_std;      /* 0: initialized to ones (norm gains), unless init_zeros */
    bool init_zeros;     /* initialized to zeros (attention sinks) */
} ParamTensor;

typedef struct Model Model;

struct ModelBackend;

/* training = false: no gradients, no backward buffers (scoring, sampling); the aux loss
 * is not computed then. Dies on a shape it cannot build. The model runs on backend
 * (model/backend.h; model_create: the CPU backend). */
Model *model_create_on(const struct ModelBackend *backend, const ModelShape *shape, int max_batch, int max_seq,
                       bool training);
Model *model_create(const ModelShape *shape, int max_batch, int max_seq, bool training);
void model_free(Model *m);
const struct ModelBackend *model_backend(const Model *m);
/* The backend's name ("cpu") and its one-line description (precision, library, threads). */
const char *model_backend_name(const Model *m);
void model_describe(const Model *m, char *buf, size_t n);

const ModelShape *model_shape(const Model *m);
size_t model_n_params(const Model *m);
int model_n_tensors(const Model *m);
const ParamTensor *model_tensor(const Model *m, int i);
const ParamTensor *model_tensor_find(const Model *m, const char *name);
int model_max_batch(const Model *m);
/* Bytes held by the model (parameters, gradients, moments, activations, scratch). */
size_t model_bytes(const Model *m);

/* Host copies of the backend's buffers, n_params floats laid out like the table. */
void model_get_params(Model *m, float *dst);
void model_set_params(Model *m, const float *src);
/* One tensor's parameters (t from model_tensor; t->numel floats) into dst: the update
 * telemetry of the train loop, cheaper than model_get_params on a big model. */
void model_get_tensor(Model *m, const ParamTensor *t, float *dst);
void model_get_grads(Model *m, float *dst);     /* training models only */
void model_set_grads(Model *m, const float *src);
/* numel parameters from offset into dst (any range of the table's layout). */
void model_get_param_range(Model *m, size_t offset, size_t numel, float *dst);
/* The AdamW moments (training models only; zero until the first step) of the range the
 * model holds (model_moment_range): hi - lo floats each, from the start of m1 and m2
 * (all n_params, laid out like the table, unless model_set_moment_range). */
void model_get_moments(Model *m, float *m1, float *m2);
void model_set_moments(Model *m, const float *m1, const float *m2);
/* ZeRO-1 (train/zero.h): the model holds the moments of parameters [lo, hi) only, and
 * model_optimizer_step updates only those. Dies on a backend that cannot. */
void model_set_moment_range(Model *m, size_t lo, size_t hi);
void model_moment_range(const Model *m, size_t *lo, size_t *hi);
/* Bytes of optimizer state the model holds: the two moments of its range (0 for an
 * inference model). */
size_t model_optimizer_state_bytes(const Model *m);

/* Use the plain reference loops instead of the fast kernels (tests, debugging); dies
 * on a backend that has none. */
void model_use_reference_kernels(Model *m, bool on);

/* Each tensor from its own Philox stream (seed, MODEL_INIT_STREAM + tensor index), so a
 * tensor's values do not depend on the others or on threads. Normal(0, init_std); the
 * residual output projections (wo, w2) use init_std / sqrt(2 n_layers); norms are ones,
 * attention sinks zeros. */
enum { MODEL_INIT_STREAM = 1000 };
void model_init_weights(Model *m, uint64_t seed);

/* ---- training ---- */

void model_zero_grads(Model *m);
/* Sum of squares of all gradients, in double, independent of the thread count. */
double model_grad_sumsq(Model *m);
/* One AdamW step of every tensor with its own learning rate and weight decay
 * (model/backend.h OptimizerStepArgs; the optimizer computes them). */
struct OptimizerStepArgs;
void model_optimizer_step(Model *m, const struct OptimizerStepArgs *a);
/* Forward and backward of one micro-batch of B sequences of T tokens; gradients
 * ACCUMULATE. loss_weight[r] is d objective / d loss_r (0 for masked positions). Returns
 * the sum, in row order and in double, of the losses of rows with loss_weight != 0. */
double model_train_micro(Model *m, const uint32_t *tokens, const uint32_t *targets,
                         const float *loss_weight, int B, int T);

/* d objective / d (a block's aux loss value) in the next model_train_micro calls (the
 * sequence-wise balance loss, aux_loss_alpha > 0): 1 / (micro-batches per step), so
 * the step's objective has the mean aux loss over its sequences. Default 1. */
void model_set_aux_weight(Model *m, float w);
/* Sum over MoE blocks of the aux loss values of the last model_train_micro or forward
 * (model_eval_loss, model_score; 0 for an inference model). */
double model_last_aux_loss(const Model *m);
/* The z-loss term of the objective of the last model_train_micro: the sum over rows of
 * loss_weight[r] * z_loss * logsumexp(logits_r)^2, in double (0 when z_loss is 0). With
 * loss_weight = mask / count it is z_loss times the mean over the counted targets. */
double model_last_z_loss(const Model *m);
/* The router z-loss values of the last model_train_micro, summed over MoE blocks (each
 * a mean over the call's tokens; the objective weighs them by model_set_aux_weight's w,
 * like the aux loss). 0 when router_z_loss is 0. */
double model_last_router_z_loss(const Model *m);

/* ---- MoE blocks: routing state and telemetry ---- */

int model_n_moe_layers(const Model *m);
int model_moe_layer(const Model *m, int i);   /* block index of the i-th MoE block */
/* For block l (NULL for a dense block): its routing bias [E], its per-step counters,
 * its window counters. */
const float *model_router_bias(const Model *m, int l);
MoeStats *model_router_step_stats(Model *m, int l);
MoeStats *model_router_window_stats(Model *m, int l);
/* After each optimizer step: every MoE block's bias += update from the step's loads
 * (moe_bias_update with u and rate_multiplier), then window += step and step = 0. */
void model_router_after_step(Model *m, const MoeBiasUpdate *u, float rate_multiplier);
/* L2 norm of block l's router weight gradient (the gradient buffer as it is now). */
double model_router_grad_norm(const Model *m, int l);
/* The expert choice [rows, K] of block l's last forward (valid until the next one). */
const int32_t *model_router_choice(const Model *m, int l);
/* Forward-only calls add their loads into sink[l] (per block, NULL entries for dense
 * blocks) while a sink is set; NULL ends it. Nothing else changes: nmoe-eval router. */
void model_set_router_sink(Model *m, MoeStats *const *sink);
/* Hold the top-K choice of each block's previous forward (same rows) instead of
 * choosing again: finite-difference checks. */
void model_hold_routing(Model *m, bool on);
/* Expert parallel (model/expert_exchange.h, nmoe-train(1) "Expert parallel"): the MoE
 * blocks share their routed experts' products with the other ranks of ex's group from
 * the next call on, every rank calling in lockstep; NULL: local again (the weights stay
 * whole on every rank either way). Dies when the backend has no exchange. No-op for a
 * dense model. */
void model_set_expert_exchange(Model *m, const ExpertExchange *ex);

/* State tensors (the routing biases), saved with the weights; same fields as the
 * parameters, offsets into model_state(). */
int model_n_state_tensors(const Model *m);
const ParamTensor *model_state_tensor(const Model *m, int i);
const float *model_state(const Model *m);
size_t model_n_state_floats(const Model *m);  /* floats in model_state() */
/* Replace the whole routing state (the backend routes with it from the next call). */
void model_set_state(Model *m, const float *src);

/* ---- forward only ---- */

/* Per-row loss -log p(targets[r] | tokens[..r]) (loss_out, N floats) and greedy argmax
 * (argmax_out, may be NULL). Returns the sum of loss_out over rows with mask[r] != 0
 * (mask NULL: all rows), in row order, in double. */
double model_eval_loss(Model *m, const uint32_t *tokens, const uint32_t *targets, const uint8_t *mask,
                       int B, int T, float *loss_out, uint32_t *argmax_out);
/* The logits of every row (N x V floats): for tests and the oracle. */
void model_logits(Model *m, const uint32_t *tokens, int B, int T, float *logits_out);

/* nmoe-eval's interface (see eval_score.h): for each sequence s and t in [0, lens[s]-1):
 *   logprob[s][t] = log softmax(logits(s, t))[ids[s][t+1]],  argmax[s][t] = greedy token
 * (argmax may be NULL). Sequences are independent (positions from 0); the result does
 * not depend on how sequences are grouped into calls. 1 <= lens[s] <= max_seq + 1: the
 * last token is only a target, so a validation window of seq_len + 1 tokens fits, and
 * its logprobs are bit-identical to minus the trainer's validation losses of it. */
void model_score(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens,
                 float *const *logprob, uint32_t *const *argmax);
/* The same, scoring only the positions t in [from[s], lens[s] - 1) of each sequence
 * (the continuations of CORE; from[s] = 0: all): the LM head, the largest product of a
 * small model, then runs at those positions only. logprob[s][t] and argmax[s][t] are
 * written for those t alone. Sequences of similar lengths are padded to one length and
 * batched; consecutive sequences that share a long context (the choices of an item)
 * run it once through the key/value cache (model.c share_family), which empties the
 * cache. A position's values do not depend on the other positions scored nor on the
 * grouping of sequences into calls (dense models: bit-identical), except through that
 * sharing, and agree with model_score's to rounding (the head's product is cut
 * differently, the cache's attention is blocked differently). */
void model_score_from(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens, const size_t *from,
                      float *const *logprob, uint32_t *const *argmax);
/* Scored rows worth gathering into one model_score_from call: the head runs over
 * blocks of this many rows, padding a shorter one (1: no such granule). */
size_t model_score_rows(const Model *m);
/* Logits (V floats) at the last of n tokens, for sampling. n <= max_seq. */
void model_next_logits(Model *m, const uint32_t *ids, size_t n, float *logits);

/* ---- incremental inference: one sequence over a key/value cache ---- */

/* Models built for inference on a backend with a cache (the CPU backend) keep the keys
 * and values of up to max_seq positions of one sequence, so generation costs one
 * position per token instead of a whole forward. Positions [0, model_cache_len) are
 * filled; model_cache_truncate(m, n) keeps the first n (0: empty), e.g. to score the
 * choices of a shared context one after another. model_cache_extend appends n tokens
 * (cache_len + n <= max_seq) and writes the logits (V floats) at the last of them into
 * logits_last (may be NULL). The values agree with model_next_logits of the whole
 * sequence to rounding (products over the new rows only; tests/unit/test_grad_model.c). */
bool model_has_cache(const Model *m);
size_t model_cache_len(const Model *m);
void model_cache_truncate(Model *m, size_t len);
void model_cache_extend(Model *m, const uint32_t *ids, size_t n, float *logits_last);

/* ---- provenance (set by checkpoint loading; used by nmoe-eval) ---- */
size_t model_seq_len(const Model *m);
uint32_t model_vocab_size(const Model *m);
uint64_t model_vocab_id(const Model *m);
const char *model_fingerprint(const Model *m);
int64_t model_step(const Model *m);
void model_set_provenance(Model *m, uint64_t vocab_id, const char *fingerprint, int64_t step);

#endif
