/* optimizer.h: AdamW (and, with optimizer = "muon", Muon for the hidden matrices) with
 * parameter groups, the warmup-hold-decay learning-rate schedule and global
 * gradient-norm clipping.
 *
 * Groups: every tensor belongs to a ParamGroup (model.h) with its own peak learning rate
 * (lr_dense; lr_expert and lr_router for MoE, each lr_dense when 0); weight decay is per tensor (matrices of
 * attention and FFN only, as nmoe does: never norms, embeddings, the head or routers).
 *
 * Muon (kernels/cpu/muon.h): with optimizer = "muon" the hidden matrices (attention's
 * wq, wk, wv, wo, the dense and shared-expert FFN matrices, and each routed expert's
 * matrix of the expert stacks unless muon_experts is off) take Muon steps with the
 * Muon group's rate (lr_muon) and the same weight decay; the embedding, the LM head,
 * norms and routers (and the experts with muon_experts off) stay on AdamW.
 *
 * Learning-rate groups: the ParamGroups, plus LR_GROUP_MUON for the tensors Muon
 * updates. Each group has its peak, its warmup (warmup_steps_<group>, -1 = the shared
 * warmup_steps) and its decay length (decay_tokens_<group>, -1 = decay_tokens); the
 * hold is shared, in tokens.
 *
 * Schedule (nmoe's WSD, opt.py update_lr), for the step with 0-based index `step` and
 * `tokens` = training tokens before it, with w the group's warmup and decay_tokens the
 * group's decay length:
 *   scale = (step + 1) / w                                while step < w
 *         = 1                                             while tokens < hold_tokens
 *         = (1 + cos(pi (tokens - hold_tokens) / decay_tokens)) / 2   during the decay
 *         = 0                                             after it
 *   lr_group = floor + (peak_group - floor) * scale,  floor = decay_floor (absolute),
 *   capped at the group's peak for a router whose peak is below the floor.
 *
 * Clipping (torch.nn.utils.clip_grad_norm_): with n the L2 norm of all gradients and
 * grad_clip > 0, coef = grad_clip / (n + 1e-6) and, when coef < 1, every gradient is
 * scaled by coef (inside the AdamW pass). The norm is summed in double in fixed chunks,
 * so it does not depend on the thread count. */
#ifndef NMOE_OPTIMIZER_H
#define NMOE_OPTIMIZER_H

#include "train/config.h"
#include "model/backend.h"
#include "model/model.h"

#include <stdbool.h>
#include <stdint.h>

/* The learning-rate groups: the tensors' ParamGroups, then Muon's. */
enum { LR_GROUP_MUON = PARAM_GROUP_COUNT, LR_GROUP_COUNT };

typedef struct {
    double peak_lr[LR_GROUP_COUNT];
    double weight_decay, beta1, beta2, eps, grad_clip;
    double beta2_expert;          /* AdamW beta2 of the expert group; 0: beta2 */
    int64_t warmup_steps, hold_tokens, decay_tokens;
    int64_t group_warmup[LR_GROUP_COUNT]; /* < 0: warmup_steps */
    int64_t group_decay[LR_GROUP_COUNT];  /* < 0: decay_tokens */
    double decay_floor;
    bool muon, muon_experts, muon_nesterov;
    double muon_momentum, muon_update_rms;
} OptimizerSettings;

OptimizerSettings optimizer_settings_from_config(const Config *c);
/* The schedule with the shared warmup_steps, and with group g's warmup. */
double lr_schedule_scale(const OptimizerSettings *s, int64_t step, int64_t tokens);
double lr_group_scale(const OptimizerSettings *s, int g, int64_t step, int64_t tokens);
/* g: a ParamGroup or LR_GROUP_MUON. */
double lr_for_group(const OptimizerSettings *s, int g, double scale);
/* How many stacked matrices Muon treats tensor t of a model of shape sh as: 0 for the
 * tensors AdamW updates (all of them with optimizer adamw). */
int optimizer_muon_matrices(const OptimizerSettings *s, const ModelShape *sh, const ParamTensor *t);

/* The schedule, the groups and the clipping live here; the parameters and the moments
 * (AdamW's, Muon's momentum buffer in the first) live with the model's backend (model/backend.h), which applies the step. */
typedef struct {
    OptimizerSettings set;
    size_t n_params;
    int64_t step;         /* optimizer steps taken (bias correction uses step + 1 next) */
    TensorRate *rates;    /* per tensor: this step's lr and weight decay */
    int n_rates;
    /* ZeRO-1 (optimizer_shard): this rank's place, and every rank's part of the
     * parameters (zero.h); zero_ranks = 0 when off. */
    int zero_rank, zero_ranks;
    size_t *zero_first, *zero_count; /* [zero_ranks] */
    float *zero_params;   /* zero_ranks > 1: n_params, the all-gather's buffer */
} Optimizer;

typedef struct {
    double grad_norm;     /* before clipping */
    double clip_coef;     /* applied to the gradients (1: none) */
    double lr[LR_GROUP_COUNT]; /* per group (LR_GROUP_MUON: 0 without Muon tensors) */
    bool applied;         /* false: the gradient norm was not finite, nothing changed */
} OptimizerReport;

Optimizer *optimizer_create(const OptimizerSettings *s, size_t n_params);
void optimizer_free(Optimizer *o);
/* One step from the model's gradients: step = o->step is the schedule's 0-based index. */
OptimizerReport optimizer_step(Optimizer *o, Model *m, int64_t tokens_before);
/* Global L2 norm of the model's gradients. */
double optimizer_grad_norm(Optimizer *o, Model *m);

/* ZeRO-1 (zero_stage = 1, train/zero.h): from now on this rank holds the moments of its
 * part of the parameters only (model_set_moment_range, zeroed: call before loading a
 * checkpoint), its steps update that part, and optimizer_step all-gathers the
 * parameters after each applied step (a collective: every rank steps together). The
 * split keeps each Muon tensor whole, so every element takes the very arithmetic of an
 * unsharded step: the same bits for any rank count. ranks = 1 changes nothing. */
void optimizer_shard(Optimizer *o, Model *m, int rank, int ranks);
/* The whole moments (n_params floats each, laid out like the table) into m1, m2 on rank
 * 0. Every rank calls it (under ZeRO-1 a gather: each rank sends its part); m1, m2 are
 * only written on rank 0 and may be NULL elsewhere. */
void optimizer_gather_moments(Optimizer *o, Model *m, float *m1, float *m2);
/* The moments of this rank's part from whole ones (n_params floats each): a local
 * call, every rank reads the same. */
void optimizer_load_moments(Optimizer *o, Model *m, const float *m1, const float *m2);

#endif
