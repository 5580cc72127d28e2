/* eval_run_router.c: `nmoe-eval router`, router health on held-out data (nmoe-eval(1)):
 * a forward pass over held-out sequences (the trainer's validation windows, as bpb
 * reads them) that counts, per MoE layer, the token-to-expert assignments of each routed
 * expert, written as `router` lines (nmoe-metrics(5)) that nmoe-routerstat(1) reads,
 * with the definitions of router_stats.h. The pass has no side effects on the model:
 * its loads go into a sink of this file's own counters (model_set_router_sink), never
 * into the training counters, and the routing biases are the checkpoint's. A table for
 * people is nmoe-routerstat's: `nmoe-eval router ... | nmoe-routerstat`. */
#include "model/router_line.h"
#include "train/checkpoint.h"
#include "train/dataloader.h"
#include "base/error.h"
#include "eval/eval_run.h"
#include "formats/ndjson.h"
#include "model/router_stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void eval_write_router_line(FILE *fp, const char *what, const char *run, int64_t step, int layer, int n_experts,
                            int top_k, const uint64_t *loads, const float *bias, uint64_t tokens, uint64_t dropped,
                            double top1_affinity_sum)
{
    const uint64_t assignments = tokens * (uint64_t)top_k;
    const RouterLine line = {
        .layer = layer, .experts = n_experts, .top_k = top_k, .from_step = step, .to_step = step,
        .tokens = (int64_t)tokens, .loads = loads, .bias = bias,
        .drop_frac = assignments ? (double)dropped / (double)assignments : 0.0,
        .top1_affinity = tokens ? top1_affinity_sum / (double)tokens : 0.0,
    };
    NdLine l = { 0 };
    router_line_begin(&l, run, step, &line, NULL);
    nd_emit(&l, fp, what);
    nd_free(&l);
}

/* Run the sequences of one token source through the model, up to *left sequences. */
static uint64_t router_pass(const EvalModel *em, const EvalOptions *o, TokenSource src, uint64_t *left)
{
    const int T = (int)em->seq_len, B = o->batch;
    ValidationSet vs;
    validation_init(&vs, src, T, *left, (uint32_t)em->cfg.vocab_size);
    uint32_t *seq = xmalloc((size_t)(T + 1) * sizeof *seq);
    uint32_t *inputs = xmalloc((size_t)B * T * sizeof *inputs), *targets = xmalloc((size_t)B * T * sizeof *targets);
    float *loss = xmalloc((size_t)B * T * sizeof *loss);
    for (uint64_t s0 = 0; s0 < vs.n_sequences; s0 += (uint64_t)B) {
        const int nb = (int)(vs.n_sequences - s0 < (uint64_t)B ? vs.n_sequences - s0 : (uint64_t)B);
        for (int b = 0; b < nb; b++) {
            validation_sequence(&vs, s0 + (uint64_t)b, seq);
            memcpy(inputs + (size_t)b * T, seq, (size_t)T * sizeof *seq);
            memcpy(targets + (size_t)b * T, seq + 1, (size_t)T * sizeof *seq);
        }
        model_eval_loss(em->model, inputs, targets, NULL, nb, T, loss, NULL);
    }
    free(seq);
    free(inputs);
    free(targets);
    free(loss);
    *left -= vs.n_sequences;
    return vs.n_sequences;
}

int eval_run_router(const EvalOptions *o)
{
    const double t0 = monotonic_s();
    if (!o->ckpt) die_usage("--ckpt DIR is required");
    if (!o->data) die_usage("router: --data SHARDS is required");
    char *dir = checkpoint_find(o->ckpt);
    if (!dir) die("%s: not a checkpoint (no state.json) nor a run directory (no latest)", o->ckpt);
    CheckpointState st;
    checkpoint_read_state(dir, &st);
    if (st.config.n_routed_experts == 0)
        die("%s: a dense model (n_routed_experts = 0): it has no MoE layers, so no router to measure", dir);
    free(dir);

    EvalModel em;
    eval_model_open(&em, o, false);
    Model *m = em.model;
    const int T = (int)em.seq_len;
    uint64_t left = UINT64_MAX;
    if (o->tokens) {
        left = o->tokens / (uint64_t)T;
        if (left == 0) die_usage("--tokens %" PRIu64 " is less than one sequence of %d tokens", o->tokens, T);
    }

    /* The split: val and train as the trainer would read data_path = DATA; all = a
     * pack's train split then its val split (or a whole shard file). */
    Config c = em.cfg;
    if (strlen(o->data) >= sizeof c.data_path) die_usage("--data: path too long");
    snprintf(c.data_path, sizeof c.data_path, "%s", o->data);
    c.validation_data_path[0] = '\0';
    TokenSource srcs[2];
    int n_src = 0;
    DataSources ds;
    if (strcmp(o->split, "all") == 0) {
        c.holdout_fraction = 0.0; /* every token of a shard file or a pack's train split */
        data_open(&ds, &c);
        srcs[n_src++] = ds.train;
        if (ds.val.n_tokens && ds.val.read) srcs[n_src++] = ds.val;
    } else {
        data_open(&ds, &c);
        if (strcmp(o->split, "val") == 0) {
            if (ds.val.n_tokens == 0)
                die("%s: no validation data: no val split, and the checkpoint's holdout_fraction is 0 "
                    "(use --split all to measure all of it)", o->data);
            srcs[n_src++] = ds.val;
        } else {
            srcs[n_src++] = ds.train;
        }
    }
    for (int i = 0; i < n_src; i++) eval_model_check_data(&em, o->data, srcs[i].vocab_size, srcs[i].vocab_id);

    const int L = em.cfg.n_layers, E = (int)em.cfg.n_routed_experts, K = (int)em.cfg.n_activated_experts;
    MoeStats **sink = xcalloc((size_t)L, sizeof *sink);
    for (int i = 0; i < model_n_moe_layers(m); i++) sink[model_moe_layer(m, i)] = moe_stats_create(E);
    model_set_router_sink(m, sink);
    uint64_t n_seqs = 0;
    for (int i = 0; i < n_src && left > 0; i++) n_seqs += router_pass(&em, o, srcs[i], &left);
    model_set_router_sink(m, NULL);
    if (n_seqs == 0) die("%s: no whole sequence of %d tokens to route in the %s split", o->data, T, o->split);
    info(NMOE_VERBOSE, "router: %" PRIu64 " sequences of %d tokens, %d MoE layers\n", n_seqs, T, model_n_moe_layers(m));

    EvalOut out;
    eval_out_open(&out, o);
    for (int i = 0; i < model_n_moe_layers(m); i++) {
        const int layer = model_moe_layer(m, i);
        const MoeStats *w = sink[layer];
        const float *bias = model_router_bias(m, layer);
        if (out.fp)
            eval_write_router_line(out.fp, out.name, em.run, em.step, layer, E, K, w->loads, bias, (uint64_t)w->tokens,
                                   (uint64_t)w->dropped, w->top1_affinity_sum);
    }
    info(NMOE_VERBOSE, "router: %.1fs\n", monotonic_s() - t0);
    eval_out_close(&out);
    for (int l = 0; l < L; l++) moe_stats_free(sink[l]);
    free(sink);
    data_close(&ds);
    eval_model_close(&em);
    return NMOE_EXIT_OK;
}
