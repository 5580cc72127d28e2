/* train_step.c: see train_step.h. */
#include "train/train_step.h"
#include "base/clock.h"
#include "base/error.h"
#include "train/dist.h"
#include "train/grad_tree.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Values per micro-batch gathered under mpirun before the router sums: the loss sum,
 * the aux loss, the z-loss and the router z-loss. */
enum { MICRO_SCALARS = 4 };

struct Trainer {
    const Config *cfg;
    Model *model;
    Optimizer *opt;
    int T, micro, batch;
    uint32_t *inputs, *targets; /* micro * T */
    float *weights, *row_loss;  /* micro * T */
    uint8_t *mask;              /* batch * T: target counted */
    uint32_t *seq;              /* micro * (T + 1): validation windows */
    /* Data parallel (dist.h): this rank trains sequences [first, first + local) of each
     * global batch, micro-batches [first / micro, ...) of the step's n_micro. */
    int rank, ranks, first, local, n_micro;
    GradTree *tree;             /* NULL: one micro-batch on one rank, the gradient stays put */
    float *scratch;             /* ranks > 1: n_params, what the tree's rounds receive */
    int per_micro;              /* ranks > 1: values per micro-batch in mine/all */
    double *mine, *all;         /* [loss sum, aux loss, z-loss, router z-loss (MICRO_SCALARS),
                                   per MoE block: top-1 sum, aux sum] */
    uint64_t *counts;           /* per MoE block: loads [E], tokens, assignments, dropped */
    const ExpertExchange *ex;   /* expert_parallel > 1: the group's, set around the micro-batches */
};

bool trainer_split_check(const Config *cfg, int ranks, const char *origin, char *err, size_t cap)
{
    const int64_t micro = config_micro_batch(cfg), n_micro = cfg->batch_size / micro;
    if (cfg->expert_parallel > 1 && ranks % cfg->expert_parallel != 0)
        return errbuf_fail(err, cap,
                           "%s: expert_parallel = %lld must divide the number of ranks (%d): start mpirun with a "
                           "multiple of it, or set expert_parallel = 1",
                           origin, (long long)cfg->expert_parallel, ranks);
    if (ranks <= 1) return true;
    if (cfg->batch_size % ranks != 0 || n_micro % ranks != 0 || !grad_tree_splits((int)n_micro, ranks))
        return errbuf_fail(err, cap,
                           "%s: batch_size = %lld with micro_batch_size = %lld is %lld micro-batches a step, which do "
                           "not split over %d ranks: each rank needs the same power-of-two number of micro-batches "
                           "(1, 2, 4, ...), so that the gradient sum has one order for every rank count; change "
                           "batch_size or micro_batch_size, or the number of ranks",
                           origin, (long long)cfg->batch_size, (long long)micro, (long long)n_micro, ranks);
    return true;
}

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
    t->rank = dist_rank();
    t->ranks = dist_size();
    t->n_micro = t->batch / t->micro;
    char err[512];
    if (!trainer_split_check(cfg, t->ranks, "config", err, sizeof err)) die_usage("%s", err);
    t->local = t->batch / t->ranks;
    t->first = t->rank * t->local;
    /* Gradient accumulation sums micro-batch gradients in grad_tree.h's fixed order, so
     * that any rank count gives the same bits; one micro-batch on one rank needs none. */
    if (t->n_micro > 1 || t->ranks > 1) t->tree = grad_tree_create(model_n_params(m), t->local / t->micro);
    if (t->ranks > 1) {
        const int n_moe = model_n_moe_layers(m), E = (int)cfg->n_routed_experts;
        t->scratch = xaligned_alloc(model_n_params(m) * sizeof(float));
        t->per_micro = MICRO_SCALARS + 2 * n_moe;
        t->mine = xcalloc((size_t)(t->local / t->micro) * t->per_micro, sizeof *t->mine);
        t->all = xcalloc((size_t)t->n_micro * t->per_micro, sizeof *t->all);
        t->counts = xcalloc((size_t)n_moe * (E + 3) + 1, sizeof *t->counts);
    }
    if (cfg->expert_parallel > 1) t->ex = dist_expert_exchange((int)cfg->expert_parallel);
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
    grad_tree_free(t->tree);
    free(t->scratch);
    free(t->mine);
    free(t->all);
    free(t->counts);
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

void trainer_local_slice(const Trainer *t, int *first, int *count)
{
    *first = t->first;
    *count = t->local;
}

/* ranks > 1: take this micro-batch's top-1 and aux sums out of the step's router stats
 * (so each is its own value, exactly), to be added back in global micro-batch order. */
static void take_router_sums(Trainer *t, double *out)
{
    for (int i = 0; i < model_n_moe_layers(t->model); i++) {
        MoeStats *st = model_router_step_stats(t->model, model_moe_layer(t->model, i));
        out[2 * i] = st->top1_affinity_sum;
        out[2 * i + 1] = st->aux_loss_sum;
        st->top1_affinity_sum = st->aux_loss_sum = 0.0;
    }
}

/* ranks > 1: the step's router stats become the global ones: the integer counts summed
 * over the ranks (exact), the per-micro-batch sums added in micro-batch order. */
static void globalize_router_stats(Trainer *t, const double *base_sums)
{
    Model *m = t->model;
    const int n_moe = model_n_moe_layers(m), E = (int)t->cfg->n_routed_experts;
    if (n_moe == 0) return;
    uint64_t *c = t->counts;
    for (int i = 0; i < n_moe; i++) {
        MoeStats *st = model_router_step_stats(m, model_moe_layer(m, i));
        uint64_t *ci = c + (size_t)i * (E + 3);
        for (int e = 0; e < E; e++) ci[e] = st->loads[e];
        ci[E] = (uint64_t)st->tokens;
        ci[E + 1] = (uint64_t)st->assignments;
        ci[E + 2] = (uint64_t)st->dropped;
    }
    dist_sum_u64(c, (size_t)n_moe * (E + 3));
    for (int i = 0; i < n_moe; i++) {
        MoeStats *st = model_router_step_stats(m, model_moe_layer(m, i));
        const uint64_t *ci = c + (size_t)i * (E + 3);
        for (int e = 0; e < E; e++) st->loads[e] = ci[e];
        st->tokens = (int64_t)ci[E];
        st->assignments = (int64_t)ci[E + 1];
        st->dropped = (int64_t)ci[E + 2];
        double top1 = base_sums[2 * i], aux = base_sums[2 * i + 1];
        for (int j = 0; j < t->n_micro; j++) {
            top1 += t->all[(size_t)j * t->per_micro + MICRO_SCALARS + 2 * i];
            aux += t->all[(size_t)j * t->per_micro + MICRO_SCALARS + 1 + 2 * i];
        }
        st->top1_affinity_sum = top1;
        st->aux_loss_sum = aux;
    }
}

StepResult trainer_step(Trainer *t, const uint32_t *batch, int64_t tokens_before)
{
    const int T = t->T;
    StepResult r = { 0 };
    const double t_begin = monotonic_s();
    (void)dist_timing(true);
    for (int b = 0; b < t->local; b++)
        for (int i = 0; i < T; i++) {
            uint8_t c = counted(t->cfg, batch[(size_t)b * (T + 1) + i + 1]);
            t->mask[(size_t)b * T + i] = c;
            r.counted += c;
        }
    dist_sum_i64(&r.counted, 1); /* the whole global batch's count */
    /* d(mean loss)/d(loss_r) = 1/count; a batch with nothing counted has no gradient. */
    const float w = r.counted ? (float)(1.0 / (double)r.counted) : 0.0f;
    model_zero_grads(t->model);
    /* Each micro-batch's aux loss is a mean over its sequences: weight 1/(micro-batches)
     * makes the step's the mean over all of them, like one big batch. */
    const int n_micro = t->n_micro;
    model_set_aux_weight(t->model, (float)(1.0 / n_micro));
    const int n_moe = model_n_moe_layers(t->model);
    double base_sums[2 * 64 + 2];
    if (t->ranks > 1) {
        if (n_moe > 64) die("trainer: %d MoE blocks, more than the data-parallel step handles (64)", n_moe);
        take_router_sums(t, base_sums);
        /* The counts are summed over the ranks: they must start the step at zero (the
         * bias update after each applied step resets them; validation counts nothing). */
        for (int i = 0; i < n_moe; i++)
            if (model_router_step_stats(t->model, model_moe_layer(t->model, i))->tokens != 0)
                die("trainer: block %d's router counts did not start the step at zero", model_moe_layer(t->model, i));
    }
    double sum = 0.0;
    /* Every rank runs the same number of micro-batches (trainer_split_check), so the
     * expert-parallel groups' all-to-alls pair up; validation runs outside, locally. */
    model_set_expert_exchange(t->model, t->ex);
    for (int b0 = 0, j = 0; b0 < t->local; b0 += t->micro, j++) {
        if (t->tree && j > 0) model_zero_grads(t->model); /* each leaf of the tree from zero */
        split(batch + (size_t)b0 * (T + 1), t->micro, T, t->inputs, t->targets);
        for (int i = 0; i < t->micro * T; i++) t->weights[i] = t->mask[(size_t)b0 * T + i] ? w : 0.0f;
        double s = model_train_micro(t->model, t->inputs, t->targets, t->weights, t->micro, T);
        double aux = model_last_aux_loss(t->model), z = model_last_z_loss(t->model);
        double rz = model_last_router_z_loss(t->model);
        if (t->ranks > 1) {
            double *v = t->mine + (size_t)j * t->per_micro;
            v[0] = s;
            v[1] = aux;
            v[2] = z;
            v[3] = rz;
            take_router_sums(t, v + MICRO_SCALARS);
        } else {
            sum += s;
            r.aux_loss += aux / n_micro;
            r.z_loss += z;
            r.router_z_loss += rz / n_micro;
        }
        if (t->tree) {
            model_get_grads(t->model, grad_tree_leaf(t->tree));
            grad_tree_push(t->tree);
        }
    }
    model_set_expert_exchange(t->model, NULL);
    if (t->tree) {
        float *g = grad_tree_finish(t->tree);
        if (t->ranks > 1) {
            dist_wait_all(); /* the slowest rank's lead shows as waiting, not as transport */
            dist_sum_tree_f32(g, t->scratch, model_n_params(t->model));
        }
        model_set_grads(t->model, g);
    }
    if (t->ranks > 1) {
        dist_allgather_f64(t->mine, t->all, (size_t)(t->local / t->micro) * t->per_micro);
        for (int j = 0; j < n_micro; j++) {
            sum += t->all[(size_t)j * t->per_micro];
            r.aux_loss += t->all[(size_t)j * t->per_micro + 1] / n_micro;
            r.z_loss += t->all[(size_t)j * t->per_micro + 2];
            r.router_z_loss += t->all[(size_t)j * t->per_micro + 3] / n_micro;
        }
        globalize_router_stats(t, base_sums);
    }
    r.loss = r.counted ? sum / (double)r.counted : 0.0;
    if (isfinite(r.loss)) { /* else r.opt.applied stays false */
        r.opt = optimizer_step(t->opt, t->model, tokens_before);
        if (r.opt.applied && model_n_moe_layers(t->model) > 0) {
            const Config *c = t->cfg;
            const MoeBiasUpdate u = { (float)c->router_bias_update_rate, c->router_bias_center, (float)c->router_bias_clamp };
            const double peak = t->opt->set.peak_lr[PARAM_GROUP_ROUTER];
            const float mult = c->router_bias_schedule ? (float)(peak > 0 ? r.opt.lr[PARAM_GROUP_ROUTER] / peak : 0.0) : 1.0f;
            model_router_after_step(t->model, &u, mult);
            r.bias_step = (double)(u.rate * mult);
        }
    }
    /* The optimizer step is compute too (ZeRO-1's all-gather inside it, communication). */
    DistTiming dt = dist_timing(true);
    r.comm_s = dt.comm_s;
    r.wait_s = dt.wait_s;
    r.compute_s = monotonic_s() - t_begin - dt.comm_s - dt.wait_s;
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
