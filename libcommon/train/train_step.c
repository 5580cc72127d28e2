/* train_step.c: see train_step.h. */
#include "train/train_step.h"
#include "base/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct Trainer {
    const Config *cfg;
    Model *model;
    Optimizer *opt;
    int T, micro, batch;
    uint32_t *inputs, *targets; /* micro * T */
    float *weights, *row_loss;  /* micro * T */
    uint8_t *mask;              /* batch * T: target counted */
    uint32_t *seq;              /* micro * (T + 1): validation windows */
};

Trainer *trainer_create(const Config *cfg, Model *m, Optimizer *o)
{
    Trainer *t = xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->model = m;
    t->opt = o;
    t->T = (int)cfg->seq_len;
    t->micro = (int)config_micro_batch(cfg);
    t->batch = (int)cfg->batch_size;
    size_t n = (size_t)t->micro * t->T;
    t->inputs = xmalloc(n * sizeof *t->inputs);
    t->targets = xmalloc(n * sizeof *t->targets);
    t->weights = xmalloc(n * sizeof *t->weights);
    t->row_loss = xmalloc(n * sizeof *t->row_loss);
    t->mask = xmalloc((size_t)t->batch * t->T);
    t->seq = xmalloc((size_t)t->micro * (t->T + 1) * sizeof *t->seq);
    return t;
}

void trainer_free(Trainer *t)
{
    if (!t) return;
    free(t->inputs);
    free(t->targets);
    free(t->weights);
    free(t->row_loss);
    free(t->mask);
    free(t->seq);
    free(t);
}

static bool counted(const Config *cfg, uint32_t target)
{
    return !(cfg->loss_mask_eos && cfg->eos_token_id >= 0 && target == (uint32_t)cfg->eos_token_id);
}

/* Split B sequences of T + 1 tokens into inputs and targets. */
static void split(const uint32_t *seqs, int B, int T, uint32_t *inputs, uint32_t *targets)
{
    for (int b = 0; b < B; b++) {
        memcpy(inputs + (size_t)b * T, seqs + (size_t)b * (T + 1), (size_t)T * sizeof *inputs);
        memcpy(targets + (size_t)b * T, seqs + (size_t)b * (T + 1) + 1, (size_t)T * sizeof *targets);
    }
}

StepResult trainer_step(Trainer *t, const uint32_t *batch, int64_t tokens_before)
{
    const int T = t->T;
    StepResult r = { 0 };
    for (int b = 0; b < t->batch; b++)
        for (int i = 0; i < T; i++) {
            uint8_t c = counted(t->cfg, batch[(size_t)b * (T + 1) + i + 1]);
            t->mask[(size_t)b * T + i] = c;
            r.counted += c;
        }
    /* d(mean loss)/d(loss_r) = 1/count; a batch with nothing counted has no gradient. */
    const float w = r.counted ? (float)(1.0 / (double)r.counted) : 0.0f;
    model_zero_grads(t->model);
    /* Each micro-batch's aux loss is a mean over its sequences: weight 1/(micro-batches)
     * makes the step's the mean over all of them, like one big batch. */
    const int n_micro = t->batch / t->micro;
    model_set_aux_weight(t->model, (float)(1.0 / n_micro));
    double sum = 0.0;
    for (int b0 = 0; b0 < t->batch; b0 += t->micro) {
        split(batch + (size_t)b0 * (T + 1), t->micro, T, t->inputs, t->targets);
        for (int i = 0; i < t->micro * T; i++) t->weights[i] = t->mask[(size_t)b0 * T + i] ? w : 0.0f;
        sum += model_train_micro(t->model, t->inputs, t->targets, t->weights, t->micro, T);
        r.aux_loss += model_last_aux_loss(t->model) / n_micro;
        r.z_loss += model_last_z_loss(t->model);
        r.router_z_loss += model_last_router_z_loss(t->model) / n_micro;
    }
    r.loss = r.counted ? sum / (double)r.counted : 0.0;
    if (!isfinite(r.loss)) return r; /* r.opt.applied stays false */
    r.opt = optimizer_step(t->opt, t->model, tokens_before);
    if (r.opt.applied && model_n_moe_layers(t->model) > 0) {
        const Config *c = t->cfg;
        const MoeBiasUpdate u = { (float)c->router_bias_update_rate, c->router_bias_center, (float)c->router_bias_clamp };
        const double peak = t->opt->set.peak_lr[PARAM_GROUP_ROUTER];
        const float mult = c->router_bias_schedule ? (float)(peak > 0 ? r.opt.lr[PARAM_GROUP_ROUTER] / peak : 0.0) : 1.0f;
        model_router_after_step(t->model, &u, mult);
        r.bias_step = (double)(u.rate * mult);
    }
    return r;
}

double trainer_validate(Trainer *t, const ValidationSet *v, int64_t *counted_out, EvalBpb *bpb,
                        const uint32_t *token_bytes, uint32_t vocab_size)
{
    const int T = t->T;
    double sum = 0.0;
    int64_t n_counted = 0;
    for (uint64_t s0 = 0; s0 < v->n_sequences; s0 += (uint64_t)t->micro) {
        int B = (int)(v->n_sequences - s0 < (uint64_t)t->micro ? v->n_sequences - s0 : (uint64_t)t->micro);
        for (int b = 0; b < B; b++) validation_sequence(v, s0 + (uint64_t)b, t->seq + (size_t)b * (T + 1));
        split(t->seq, B, T, t->inputs, t->targets);
        for (int i = 0; i < B * T; i++) {
            t->mask[i] = counted(t->cfg, t->targets[i]);
            n_counted += t->mask[i];
        }
        sum += model_eval_loss(t->model, t->inputs, t->targets, t->mask, B, T, t->row_loss, NULL);
        if (bpb && !eval_bpb_add(bpb, t->row_loss, t->targets, (size_t)B * T, token_bytes, vocab_size))
            die("%s: validation sequence %" PRIu64 "..: a token id the tokenizer (%u ids) does not have", v->src.name,
                s0, vocab_size);
    }
    *counted_out = n_counted;
    return n_counted ? sum / (double)n_counted : 0.0;
}
