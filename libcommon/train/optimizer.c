/* optimizer.c: see optimizer.h. */
#include "train/optimizer.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>

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
    return s;
}

double lr_schedule_scale(const OptimizerSettings *s, int64_t step, int64_t tokens)
{
    if (step < s->warmup_steps) return (double)(step + 1) / (double)s->warmup_steps;
    if (tokens < s->hold_tokens) return 1.0;
    int64_t t = tokens - s->hold_tokens;
    if (t < s->decay_tokens) return 0.5 * (1.0 + cos(M_PI * (double)t / (double)s->decay_tokens));
    return 0.0;
}

double lr_for_group(const OptimizerSettings *s, ParamGroup g, double scale)
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
    double scale = lr_schedule_scale(&o->set, o->step, tokens_before);
    for (int g = 0; g < PARAM_GROUP_COUNT; g++) r.lr[g] = lr_for_group(&o->set, (ParamGroup)g, scale);
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
    for (int i = 0; i < n; i++) {
        const ParamTensor *t = model_tensor(m, i);
        o->rates[i] = (TensorRate){ r.lr[t->group], t->weight_decay ? o->set.weight_decay : 0.0 };
    }
    const OptimizerStepArgs a = { o->rates, o->set.beta1, o->set.beta2, o->set.eps, o->step, r.clip_coef };
    model_optimizer_step(m, &a);
    r.applied = true;
    return r;
}
