/* optimizer.h: AdamW with parameter groups, the warmup-hold-decay learning-rate schedule
 * and global gradient-norm clipping.
 *
 * Groups: every tensor belongs to a ParamGroup (model.h) with its own peak learning rate
 * (lr_dense; lr_expert and lr_router for MoE, each lr_dense when 0); weight decay is per tensor (matrices of
 * attention and FFN only, as nmoe does: never norms, embeddings, the head or routers).
 *
 * Schedule (nmoe's WSD, opt.py update_lr), for the step with 0-based index `step` and
 * `tokens` = training tokens before it:
 *   scale = (step + 1) / warmup_steps                     while step < warmup_steps
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

typedef struct {
    double peak_lr[PARAM_GROUP_COUNT];
    double weight_decay, beta1, beta2, eps, grad_clip;
    int64_t warmup_steps, hold_tokens, decay_tokens;
    double decay_floor;
} OptimizerSettings;

OptimizerSettings optimizer_settings_from_config(const Config *c);
double lr_schedule_scale(const OptimizerSettings *s, int64_t step, int64_t tokens);
double lr_for_group(const OptimizerSettings *s, ParamGroup g, double scale);

/* The schedule, the groups and the clipping live here; the parameters and the AdamW
 * moments live with the model's backend (model/backend.h), which applies the step. */
typedef struct {
    OptimizerSettings set;
    size_t n_params;
    int64_t step;         /* AdamW steps taken (bias correction uses step + 1 next) */
    TensorRate *rates;    /* per tensor: this step's lr and weight decay */
    int n_rates;
} Optimizer;

typedef struct {
    double grad_norm;     /* before clipping */
    double clip_coef;     /* applied to the gradients (1: none) */
    double lr[PARAM_GROUP_COUNT];
    bool applied;         /* false: the gradient norm was not finite, nothing changed */
} OptimizerReport;

Optimizer *optimizer_create(const OptimizerSettings *s, size_t n_params);
void optimizer_free(Optimizer *o);
/* One step from the model's gradients: step = o->step is the schedule's 0-based index. */
OptimizerReport optimizer_step(Optimizer *o, Model *m, int64_t tokens_before);
/* Global L2 norm of the model's gradients. */
double optimizer_grad_norm(Optimizer *o, Model *m);

#endif
