/* optimizer.c: see optimizer.h. */
#include "train/optimizer.h"
#include "base/error.h"
#include "train/dist.h"
#include "train/zero.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

OptimizerSettings optimizer_settings_from_config(const Config *c)
{
    OptimizerSettings s = {
        .weight_decay = c->weight_decay, .beta1 = c->adam_beta1, .beta2 = c->adam_beta2, .eps = c->adam_eps,
        .grad_clip = c->grad_clip, .warmup_steps = c->warmup_steps, .hold_tokens = c->hold_tokens,
        .decay_tokens = c->decay_tokens, .decay_floor = c->decay_floor,
    };
    s.peak_lr[PARAM_GROUP_DENSE] = c->lr_dense;
    s.peak_lr[PARAM_GROUP_EXPERT] = config_lr_expert(c); /* 0 = lr_dense */
    s.peak_lr[PARAM_GROUP_ROUTER] = config_lr_router(c);
    s.peak_lr[LR_GROUP_MUON] = c->lr_muon;
    s.group_warmup[PARAM_GROUP_DENSE] = c->warmup_steps_dense;
    s.group_warmup[PARAM_GROUP_EXPERT] = c->warmup_steps_expert;
    s.group_warmup[PARAM_GROUP_ROUTER] = c->warmup_steps_router;
    s.group_warmup[LR_GROUP_MUON] = c->warmup_steps_muon;
    s.group_decay[PARAM_GROUP_DENSE] = c->decay_tokens_dense;
    s.group_decay[PARAM_GROUP_EXPERT] = c->decay_tokens_expert;
    s.group_decay[PARAM_GROUP_ROUTER] = c->decay_tokens_router;
    s.group_decay[LR_GROUP_MUON] = c->decay_tokens_muon;
    s.beta2_expert = config_adam_beta2_expert(c);
    s.muon = config_muon(c);
    s.muon_experts = c->muon_experts;
    s.muon_nesterov = c->muon_nesterov;
    s.muon_momentum = c->muon_momentum;
    s.muon_update_rms = c->muon_update_rms;
    return s;
}

static double schedule_scale(const OptimizerSettings *s, int64_t warmup, int64_t decay, int64_t step, int64_t tokens)
{
    if (step < warmup) return (double)(step + 1) / (double)warmup;
    if (tokens < s->hold_tokens) return 1.0;
    int64_t t = tokens - s->hold_tokens;
    if (t < decay) return 0.5 * (1.0 + cos(M_PI * (double)t / (double)decay));
    return 0.0;
}

double lr_schedule_scale(const OptimizerSettings *s, int64_t step, int64_t tokens)
{
    return schedule_scale(s, s->warmup_steps, s->decay_tokens, step, tokens);
}

double lr_group_scale(const OptimizerSettings *s, int g, int64_t step, int64_t tokens)
{
    const int64_t w = s->group_warmup[g] >= 0 ? s->group_warmup[g] : s->warmup_steps;
    const int64_t d = s->group_decay[g] >= 0 ? s->group_decay[g] : s->decay_tokens;
    return schedule_scale(s, w, d, step, tokens);
}

int optimizer_muon_matrices(const OptimizerSettings *s, const ModelShape *sh, const ParamTensor *t)
{
    if (!s->muon || t->cols == 0 || t->group == PARAM_GROUP_ROUTER) return 0;
    if (t->group == PARAM_GROUP_EXPERT) return s->muon_experts ? sh->n_routed_experts : 0;
    /* The dense group's matrices but the embedding and the LM head, which are lookup
     * tables and a classifier rather than hidden maps (Muon's authors keep them on AdamW). */
    if (strcmp(t->name, "tok_embeddings.weight") == 0 || strcmp(t->name, "output.weight") == 0) return 0;
    return 1;
}

double lr_for_group(const OptimizerSettings *s, int g, double scale)
{
    double peak = s->peak_lr[g];
    double floor = s->decay_floor < peak ? s->decay_floor : peak;
    return floor + (peak - floor) * scale;
}

Optimizer *optimizer_create(const OptimizerSettings *s, size_t n_params)
{
    Optimizer *o = xcalloc(1, sizeof *o);
    o->set = *s;
    o->n_params = n_params;
    return o;
}

void optimizer_free(Optimizer *o)
{
    if (!o) return;
    free(o->rates);
    free(o->zero_first);
    free(o->zero_count);
    free(o->zero_params);
    free(o);
}

double optimizer_grad_norm(Optimizer *o, Model *m)
{
    (void)o;
    return sqrt(model_grad_sumsq(m));
}

OptimizerReport optimizer_step(Optimizer *o, Model *m, int64_t tokens_before)
{
    if (model_n_params(m) != o->n_params) die("optimizer: built for %zu parameters, model has %zu", o->n_params, model_n_params(m));
    OptimizerReport r = { .clip_coef = 1.0 };
    r.grad_norm = optimizer_grad_norm(o, m);
    for (int g = 0; g < LR_GROUP_COUNT; g++)
        r.lr[g] = g == LR_GROUP_MUON && !o->set.muon ? 0.0
                  : lr_for_group(&o->set, g, lr_group_scale(&o->set, g, o->step, tokens_before));
    if (!isfinite(r.grad_norm)) return r;
    if (o->set.grad_clip > 0.0) {
        /* As torch: the norm rounded to float, then coef = max / (norm + 1e-6) in float. */
        float coef = (float)o->set.grad_clip / ((float)r.grad_norm + 1e-6f);
        if (coef < 1.0f) r.clip_coef = coef;
    }
    o->step++;
    const int n = model_n_tensors(m);
    if (o->n_rates != n) {
        o->rates = xrealloc(o->rates, (size_t)n * sizeof *o->rates);
        o->n_rates = n;
    }
    const double beta2_expert = o->set.beta2_expert > 0 ? o->set.beta2_expert : o->set.beta2;
    for (int i = 0; i < n; i++) {
        const ParamTensor *t = model_tensor(m, i);
        const int muon = optimizer_muon_matrices(&o->set, model_shape(m), t);
        o->rates[i] = (TensorRate){
            .lr = r.lr[muon ? LR_GROUP_MUON : (int)t->group],
            .weight_decay = t->weight_decay ? o->set.weight_decay : 0.0,
            .beta2 = t->group == PARAM_GROUP_EXPERT ? beta2_expert : o->set.beta2,
            .muon_matrices = muon,
        };
    }
    const OptimizerStepArgs a = {
        .rates = o->rates, .beta1 = o->set.beta1, .eps = o->set.eps, .step = o->step, .clip_coef = r.clip_coef,
        .muon_momentum = o->set.muon_momentum, .muon_update_rms = o->set.muon_update_rms,
        .muon_nesterov = o->set.muon_nesterov,
    };
    model_optimizer_step(m, &a);
    if (o->zero_params) {
        /* Each rank stepped its part; every rank's parts, onto every rank. */
        const int me = o->zero_rank;
        model_get_param_range(m, o->zero_first[me], o->zero_count[me], o->zero_params + o->zero_first[me]);
        dist_allgatherv_f32(o->zero_params, o->zero_first, o->zero_count);
        model_set_params(m, o->zero_params);
    }
    r.applied = true;
    return r;
}

void optimizer_shard(Optimizer *o, Model *m, int rank, int ranks)
{
    if (ranks < 1 || rank < 0 || rank >= ranks) die("optimizer_shard: rank %d of %d", rank, ranks);
    if (o->zero_ranks) die("optimizer_shard: already sharded");
    const int n = model_n_tensors(m);
    ZeroSpan *spans = xcalloc((size_t)n + 1, sizeof *spans);
    for (int i = 0; i < n; i++) {
        const ParamTensor *t = model_tensor(m, i);
        spans[i] = (ZeroSpan){ t->offset, t->numel, optimizer_muon_matrices(&o->set, model_shape(m), t) > 0 };
    }
    ZeroRange *ranges = xcalloc((size_t)ranks, sizeof *ranges);
    zero_split(spans, n, model_n_params(m), ranks, ranges);
    o->zero_rank = rank;
    o->zero_ranks = ranks;
    o->zero_first = xcalloc((size_t)ranks, sizeof *o->zero_first);
    o->zero_count = xcalloc((size_t)ranks, sizeof *o->zero_count);
    for (int r = 0; r < ranks; r++) {
        o->zero_first[r] = ranges[r].lo;
        o->zero_count[r] = ranges[r].hi - ranges[r].lo;
    }
    model_set_moment_range(m, ranges[rank].lo, ranges[rank].hi);
    if (ranks > 1) o->zero_params = xaligned_alloc(model_n_params(m) * sizeof(float));
    free(ranges);
    free(spans);
}

void optimizer_gather_moments(Optimizer *o, Model *m, float *m1, float *m2)
{
    if (!o->zero_params) { /* every rank holds every moment: rank 0 reads its own */
        if (dist_rank() == 0) model_get_moments(m, m1, m2);
        return;
    }
    const size_t mine = o->zero_count[o->zero_rank];
    float *b1 = m1, *b2 = m2;
    if (o->zero_rank != 0) { /* only this rank's part */
        b1 = xaligned_alloc((mine ? mine : 1) * sizeof(float));
        b2 = xaligned_alloc((mine ? mine : 1) * sizeof(float));
    }
    model_get_moments(m, b1, b2); /* rank 0's part starts at 0: already in place */
    dist_gatherv_f32(b1, o->zero_first, o->zero_count);
    dist_gatherv_f32(b2, o->zero_first, o->zero_count);
    if (o->zero_rank != 0) {
        free(b1);
        free(b2);
    }
}

void optimizer_load_moments(Optimizer *o, Model *m, const float *m1, const float *m2)
{
    (void)o;
    size_t lo, hi;
    model_moment_range(m, &lo, &hi);
    model_set_moments(m, m1 + lo, m2 + lo);
}
