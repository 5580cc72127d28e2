/* model.h: the decoder-only transformer of nmoe (DESIGN.md "The model"), fp32 on the CPU.
 *
 *   x = tok_embeddings[tokens]
 *   per block l:  x = x + Wo attn(rope(Wq n1(x)), rope(Wk n1(x)), Wv n1(x))   n1 = RMSNorm
 *                 x = x + ffn_l(n2(x))      ffn: dense SwiGLU  W2 (silu(W1 h) * (W3 h))
 *                                          (MoE blocks come with the MoE work: FfnKind)
 *   logits = output(RMSNorm(x));  loss = cross-entropy (masked positions left out)
 *
 * Parameters live in ONE contiguous float buffer (and the gradients in a second one of
 * the same layout), described by a table of named tensors (nmoe-checkpoint(5) lists the
 * names and shapes). Linear weights are [out, in] like torch.nn.Linear. Activations are
 * allocated once for up to max_batch sequences of max_seq tokens; forward and backward
 * allocate nothing.
 *
 * Rows are positions: row r = b * T + t. Every result for a sequence is bit-identical
 * whatever else is in the batch (see matmul.h) and whatever the thread count.
 *
 * Where MoE plugs in (issue 5): a block's FFN is dense or MoE (LayerView.ffn_kind,
 * MoE for l >= n_dense_layers when n_routed_experts > 0). model.c has one switch on
 * the kind in the forward and one in the backward, each taking the normed input
 * ffn_in [N, C] and producing (forward) / consuming (backward) the FFN output that is
 * added to the residual stream. An MoE block adds its tensors to build_tensor_table
 * ("layers.L.ffn.router.weight" in PARAM_GROUP_ROUTER without decay, the experts in
 * PARAM_GROUP_EXPERT, shared experts dense), binds them in bind_view, keeps its saved
 * activations and the router bias (model state, not a parameter: checkpoint it) beside
 * Acts, and reports its loads through a hook the train loop turns into router lines.
 * The optimizer already takes a learning rate per group. */
#ifndef NMOE_MODEL_H
#define NMOE_MODEL_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int vocab_size, dim, n_layers, n_heads, n_kv_heads, head_dim, inter_dim, seq_len, attn_window;
    double rope_theta;
    float norm_eps, init_std;
    /* MoE, reserved: blocks l >= n_dense_layers are MoE when n_routed_experts > 0. */
    int n_dense_layers, n_routed_experts;
} ModelShape;

ModelShape model_shape_from_config(const Config *c);

/* Optimizer parameter groups: each has its own learning rate (expert and router arrive
 * with MoE); weight decay is per tensor (never on norms, embeddings, head, routers). */
typedef enum { PARAM_GROUP_DENSE, PARAM_GROUP_EXPERT, PARAM_GROUP_ROUTER, PARAM_GROUP_COUNT } ParamGroup;

typedef struct {
    char name[64];       /* "layers.0.attn.wq.weight" */
    size_t offset;       /* in floats, into the parameter (and gradient) buffer */
    size_t numel;
    int rows, cols;      /* cols == 0: a vector of `rows` */
    ParamGroup group;
    bool weight_decay;
    float init_std;      /* 0: initialized to ones (norm gains) */
} ParamTensor;

typedef enum { FFN_DENSE, FFN_MOE } FfnKind;

/* Pointers into a parameter-shaped buffer: the weights, or the gradients. */
typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm;
    FfnKind ffn_kind;
    float *w1, *w3, *w2; /* FFN_DENSE: gate [I, C], up [I, C], down [C, I] */
} LayerView;

typedef struct {
    float *tok_embeddings; /* [V, C] */
    LayerView *layers;     /* n_layers */
    float *norm;           /* [C] */
    float *output;         /* [V, C] */
} ParamView;

typedef struct Model Model;

/* training = false: no gradients, no backward buffers (scoring, sampling). Dies on a
 * shape it cannot build (MoE not implemented yet). Sets OpenBLAS to one thread. */
Model *model_create(const ModelShape *shape, int max_batch, int max_seq, bool training);
void model_free(Model *m);

const ModelShape *model_shape(const Model *m);
size_t model_n_params(const Model *m);
int model_n_tensors(const Model *m);
const ParamTensor *model_tensor(const Model *m, int i);
const ParamTensor *model_tensor_find(const Model *m, const char *name);
float *model_params(Model *m);
float *model_grads(Model *m);        /* NULL unless training */
const ParamView *model_weights(const Model *m);
const ParamView *model_gradients(const Model *m);
int model_max_batch(const Model *m);
/* Bytes held by the model (parameters, gradients, activations, scratch). */
size_t model_bytes(const Model *m);

/* Use the plain reference loops instead of the fast kernels (tests, debugging). */
void model_use_reference_kernels(Model *m, bool on);

/* Each tensor from its own Philox stream (seed, MODEL_INIT_STREAM + tensor index), so a
 * tensor's values do not depend on the others or on threads. Normal(0, init_std); the
 * residual output projections (wo, w2) use init_std / sqrt(2 n_layers); norms are ones. */
enum { MODEL_INIT_STREAM = 1000 };
void model_init_weights(Model *m, uint64_t seed);

/* ---- training ---- */

void model_zero_grads(Model *m);
/* Forward and backward of one micro-batch of B sequences of T tokens; gradients
 * ACCUMULATE. loss_weight[r] is d objective / d loss_r (0 for masked positions). Returns
 * the sum, in row order and in double, of the losses of rows with loss_weight != 0. */
double model_train_micro(Model *m, const uint32_t *tokens, const uint32_t *targets,
                         const float *loss_weight, int B, int T);

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
/* Logits (V floats) at the last of n tokens, for sampling. n <= max_seq. */
void model_next_logits(Model *m, const uint32_t *ids, size_t n, float *logits);

/* ---- provenance (set by checkpoint loading; used by nmoe-eval) ---- */
size_t model_seq_len(const Model *m);
uint32_t model_vocab_size(const Model *m);
uint64_t model_vocab_id(const Model *m);
const char *model_fingerprint(const Model *m);
int64_t model_step(const Model *m);
void model_set_provenance(Model *m, uint64_t vocab_id, const char *fingerprint, int64_t step);

#endif
