/* backend.h: the seam between the model front (model.h) and a compute backend.
 *
 * The front owns what does not depend on where the arithmetic runs: the shape, the
 * tensor table (names, shapes, offsets, groups, decay), the weight init, the routing
 * biases and the MoE counters, the bias update, the grouping of scoring calls, and
 * provenance. A backend owns the buffers and the arithmetic: parameters, gradients,
 * optimizer moments (AdamW's, or Muon's momentum), activations, the forward/backward orchestration and the kernels. The
 * seam is at the model level, not one call per op, so a backend may fuse across op
 * boundaries.
 *
 *   config key `backend`  ->  backend_find()  ->  const ModelBackend *
 *   "cpu"                     model_backend_cpu   kernels/cpu/model_cpu.c (fp32, OpenBLAS)
 *   "cuda"                    (not in this build, or no device: an error, never a CPU run)
 *
 * Every buffer crossing the seam is a host buffer laid out like the front's table
 * (ModelLayout): parameters and gradients and each moment are n_params floats at the
 * tensors' offsets; the routing state is n_state floats at the state tensors' offsets.
 * So a checkpoint written through one backend is read by another unchanged. */
#ifndef NMOE_MODEL_BACKEND_H
#define NMOE_MODEL_BACKEND_H

#include "model/model.h"
#include "model/routing.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the front hands a backend to build: the shape and the tables, valid for the
 * backend's life. */
typedef struct {
    ModelShape shape;
    int n_tensors;
    const ParamTensor *tensors;   /* in buffer order */
    size_t n_params;
    int n_state;
    const ParamTensor *state_tensors; /* the routing biases, one [E] per MoE block */
    size_t n_state_floats;
} ModelLayout;

/* One optimizer step (the optimizer computes the schedule, the groups, the clipping and
 * which tensors Muon updates; the backend applies it to the parameters it holds, with
 * the moments it holds). A tensor with muon_matrices = 0 takes an AdamW step
 * (kernels/cpu/adamw.h) with its lr, weight decay and beta2; one with muon_matrices = n
 * > 0 is n stacked matrices of rows / n x cols (n = 1: a plain matrix; a routed-expert
 * stack: one matrix per expert) and takes a Muon step of each (kernels/cpu/muon.h), the
 * Muon momentum buffer in the first moment, the second moment unused (left as it is). */
typedef struct {
    double lr, weight_decay;      /* per tensor, in table order */
    double beta2;                 /* AdamW */
    int muon_matrices;            /* 0: AdamW; n: Muon over n stacked matrices */
} TensorRate;

typedef struct OptimizerStepArgs {
    const TensorRate *rates;      /* n_tensors */
    double beta1, eps;            /* AdamW */
    int64_t step;                 /* 1-based, for the bias corrections */
    double clip_coef;             /* applied to the gradients (1: none) */
    double muon_momentum, muon_update_rms; /* Muon */
    bool muon_nesterov;
} OptimizerStepArgs;

/* Debugging and test switches a backend may honour (false when it does not). */
typedef enum {
    BACKEND_REFERENCE_KERNELS,    /* the plain reference loops instead of fast kernels */
    BACKEND_HOLD_ROUTING,         /* reuse each block's previous top-K choice (same rows) */
} BackendOption;

/* counters: per block l (n_layers entries, NULL for a dense block), where a call adds
 * its MoE loads; NULL: count nothing. */
typedef MoeStats *const *MoeCounters;

typedef struct ModelBackend {
    const char *name;             /* the config value: "cpu", "cuda" */
    /* Dies on a shape it cannot build (the message names the field). */
    void *(*create)(const ModelLayout *lay, int max_batch, int max_seq, bool training);
    void (*destroy)(void *be);
    /* One line for people and the meta line: precision, library, threads. */
    void (*describe)(const void *be, char *buf, size_t n);
    size_t (*bytes)(const void *be);

    /* Training: forward + backward of B x T rows, gradients ACCUMULATE; returns the sum
     * in row order, in double, of the losses of rows with loss_weight != 0, and the sum
     * over MoE blocks of their aux loss values in *aux_out. */
    double (*train_micro)(void *be, const uint32_t *tokens, const uint32_t *targets, const float *loss_weight,
                          int B, int T, float aux_weight, MoeCounters counters, double *aux_out);
    /* The z-loss term of the last train_micro's objective (model_last_z_loss); NULL: 0. */
    double (*last_z_loss)(const void *be);
    /* The router z-loss of the last train_micro, summed over MoE blocks; NULL: 0. */
    double (*last_router_z_loss)(const void *be);
    void (*zero_grads)(void *be);
    double (*grad_sumsq)(void *be);              /* over all gradients, thread-invariant */
    void (*optimizer_step)(void *be, const OptimizerStepArgs *a);

    /* Forward only: per-row loss and (argmax_out may be NULL) greedy token; returns the
     * sum over MoE blocks of their aux loss values (0 for an inference model). */
    double (*forward_rows)(void *be, const uint32_t *tokens, const uint32_t *targets, int B, int T,
                         float *loss_out, uint32_t *argmax_out, MoeCounters counters);
    /* Scoring, in two halves so the head runs once over the scored rows of many calls
     * (CORE scores a few positions of many short sequences). forward_hidden: the blocks
     * and the final norm of B x T rows, copying the final hidden states (dim floats) of
     * rows[i] (0 <= rows[i] < B*T) to hidden_out[i]. head_loss: at n hidden states,
     * loss_out[i] = -log p(targets[i] | hidden[i]) and argmax_out[i] (may be NULL). A
     * row's values must not depend on the other rows scored, nor on the other sequences
     * of the batch (dense models). Both NULL: the front uses forward_rows. */
    double (*forward_hidden)(void *be, const uint32_t *tokens, int B, int T, const int32_t *rows, int n_rows,
                             float *hidden_out, MoeCounters counters);
    void (*head_loss)(void *be, const float *hidden, const uint32_t *targets, size_t n_rows, float *loss_out,
                      uint32_t *argmax_out);
    /* Rows head_loss runs at once (fewer are padded to it): a caller that gathers at
     * least this many scored rows per call wastes none of the product. */
    int head_rows;
    /* Incremental inference of one sequence over a key/value cache (inference models;
     * sampling, shared contexts): cache_extend runs n new tokens at positions
     * cache_len.. (cache_len + n <= max_seq), appends their keys and values and copies
     * their final hidden states to hidden_out (n x dim, may be NULL); cache_truncate
     * keeps the first len positions; head_logits gives the logits of n hidden states.
     * All NULL: the front has no cache and recomputes. */
    double (*cache_extend)(void *be, const uint32_t *ids, int n, float *hidden_out, MoeCounters counters);
    void (*cache_truncate)(void *be, int len);
    int (*cache_len)(const void *be);
    void (*head_logits)(void *be, const float *hidden, int n, float *logits_out);
    void (*logits)(void *be, const uint32_t *tokens, int B, int T, float *logits_out);
    /* Logits (V floats) at the last of T tokens of one sequence. */
    void (*next_logits)(void *be, const uint32_t *ids, int T, float *logits_out);

    /* Host copies, laid out like the table. */
    void (*get_params)(void *be, float *dst);
    void (*set_params)(void *be, const float *src);
    /* numel parameters from offset (one tensor of the table) into dst: the train loop's
     * update telemetry reads the router and expert weights around a step with it. NULL:
     * the front copies every parameter and picks (slow, but right). */
    void (*get_param_range)(void *be, size_t offset, size_t numel, float *dst);
    void (*get_grads)(void *be, float *dst);     /* the oracle; an all-reduce across ranks */
    void (*set_grads)(void *be, const float *src);
    /* The moments of the range the backend holds ([lo, hi) of the table's layout, all
     * n_params unless set_moment_range): hi - lo floats each, from the start of m and v. */
    void (*get_moments)(void *be, float *m, float *v);
    void (*set_moments)(void *be, const float *m, const float *v);
    /* ZeRO-1 (train/zero.h): hold the moments of elements [lo, hi) only (zeroed), and
     * let optimizer_step update only those parameters (the others are left as they are;
     * the caller gathers them from the other ranks). A Muon tensor lies wholly inside or
     * wholly outside. NULL: the backend holds every moment (model_set_moment_range
     * refuses a smaller range). */
    void (*set_moment_range)(void *be, size_t lo, size_t hi);
    /* Routing: the biases the next forwards choose with (n_state_floats), the last
     * forward's choice [rows, K] of block l, and the norm of block l's router gradient. */
    void (*set_routing)(void *be, const float *state);
    const int32_t *(*routing_choice)(void *be, int layer);
    double (*router_grad_norm)(void *be, int layer);

    bool (*set_option)(void *be, BackendOption opt, bool on);
    /* Expert parallel (model/expert_exchange.h) for the MoE blocks' routed experts;
     * NULL ex: local. NULL op: the backend has none (model_set_expert_exchange refuses). */
    void (*set_expert_exchange)(void *be, const struct ExpertExchange *ex);
} ModelBackend;

extern const ModelBackend model_backend_cpu;

/* The backend named `name` ("cpu", "cuda"), or NULL with the reason in why and in
 * *exit_code the exit status the exit-status table gives it: 2 for a name this build
 * does not know or was not built with (a configuration error), 1 for a build that has
 * it on a machine that cannot run it (no device: a runtime failure). */
const ModelBackend *backend_find(const char *name, int *exit_code, char *why, size_t why_len);
/* Whether backend `name` has every dial this shape selects (ffn_activation and the
 * other architecture and loss dials of nmoe-train(1)); false with the reason, naming the
 * key and its value, in why. The CPU backend has them all; the CUDA backend only the
 * defaults so far. Asked before backend_find, so a config that selects a dial the
 * backend lacks is refused for it (a configuration error), never run without it. */
bool backend_supports(const char *name, const ModelShape *s, char *why, size_t why_len);
/* The same for the optimizer (the config's `optimizer`, "adamw" or "muon"): the CUDA
 * backend has AdamW only. */
bool backend_supports_optimizer(const char *name, const char *optimizer, char *why, size_t why_len);
/* The names this build was compiled with, comma-separated ("cpu" or "cpu, cuda"). */
const char *backend_names(void);

#endif
