/* test_grad_model.c: the whole model's backward (every parameter tensor, through
 * embedding, RMSNorm, RoPE, grouped-query attention with and without a window, SwiGLU,
 * head and masked cross-entropy) against finite differences of its loss; the fast
 * kernels against the reference loops; 1 and 2 threads bit-identical; scoring the same
 * whether sequences are grouped or not, and equal to the loss the trainer computes.
 * MoE models (a dense block then MoE blocks: shared expert, router, routed experts,
 * sigmoid and softmax, the aux loss, a capacity factor): every parameter against finite
 * differences with the top-K choice held fixed, the fast grouped path against the
 * per-token reference, 1 vs 2 threads, and the router telemetry a step leaves. The
 * ffn_activation dial (relu2, squared_reglu) in every FFN kind (dense block, shared and
 * routed experts): finite differences, and fast against reference on 1 and 2 threads.
 * The attention dials (qk_norm, attn_sinks, the local/global pattern), alone and
 * together, dense and MoE: finite differences of every tensor (the q/k norm gains and
 * the sinks included), fast vs reference and 1 vs 2 threads, scoring equal to the
 * trainer's loss, and model_score_from and the key/value cache against model_score. */
#include "gradcheck.h"
#include "model/model.h"

typedef struct {
    Model *m;
    const uint32_t *tok, *tgt;
    const float *weight;
    int B, T;
    float *loss;
    const float *params;  /* host copy gradcheck perturbs; pushed to the model each call */
    float *logits;        /* z-loss: [B*T][V] scratch; NULL when the shape's z_loss is 0 */
} Ctx;

/* Host copies of a model's parameters and gradients (the backend holds them). */
static float *host_params(Model *m)
{
    float *p = malloc(model_n_params(m) * sizeof(float));
    model_get_params(m, p);
    return p;
}

static float *host_grads(Model *m)
{
    float *g = malloc(model_n_params(m) * sizeof(float));
    model_get_grads(m, g);
    return g;
}

static double model_loss(void *p)
{
    Ctx *c = p;
    if (c->params) model_set_params(c->m, c->params);
    model_eval_loss(c->m, c->tok, c->tgt, NULL, c->B, c->T, c->loss, NULL);
    double s = 0.0;
    for (int r = 0; r < c->B * c->T; r++) s += (double)c->weight[r] * c->loss[r];
    if (c->logits) {
        /* The z-loss term, z * sum_r w_r logsumexp(logits_r)^2, from the logits in double. */
        const ModelShape *sh = model_shape(c->m);
        const int V = sh->vocab_size;
        model_logits(c->m, c->tok, c->B, c->T, c->logits);
        for (int r = 0; r < c->B * c->T; r++) {
            const float *z = c->logits + (size_t)r * V;
            double mx = z[0], e = 0;
            for (int j = 1; j < V; j++) mx = fmax(mx, z[j]);
            for (int j = 0; j < V; j++) e += exp(z[j] - mx);
            const double lse = mx + log(e);
            s += (double)c->weight[r] * sh->z_loss * lse * lse;
        }
    }
    /* MoE: the aux loss of a training model's forward, at the weight the backward uses
     * (1 by default; 0 when aux_loss_alpha is 0). */
    return s + model_last_aux_loss(c->m) + model_last_router_z_loss(c->m);
}

static ModelShape tiny_shape(int window)
{
    ModelShape s = { .vocab_size = 11, .dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .head_dim = 4,
                     .inter_dim = 12, .seq_len = 5, .attn_window = window, .rope_theta = 10000.0,
                     .norm_eps = 1e-5f, .init_std = 0.5f };
    return s;
}

/* The attention dials of a test: qk_norm, attn_sinks, and the local/global pattern
 * (every: attn_global_every, local: attn_local_window; the window given then is 0). */
typedef struct { int qk_norm, sinks, every, local; } AttnDials;
static const AttnDials NO_DIALS = { 0, 0, 0, 0 };

static void apply_dials(ModelShape *s, AttnDials d)
{
    s->qk_norm = d.qk_norm;
    s->attn_sinks = d.sinks;
    s->attn_global_every = d.every;
    s->attn_local_window = d.local;
    if (d.every) s->attn_window = 0;
}

static void finite_differences_dials(int window, FfnActivation act, float z_loss, float embed_gain, float logit_gain,
                                     AttnDials dials)
{
    ModelShape s = tiny_shape(window);
    s.ffn_activation = act;
    s.z_loss = z_loss;
    s.embed_gain = embed_gain;
    s.logit_gain = logit_gain;
    apply_dials(&s, dials);
    const int B = 2, T = 5, N = B * T;
    Model *m = model_create(&s, B, T, true);
    model_use_reference_kernels(m, true);
    model_init_weights(m, 5);
    /* Perturb the norm gains off 1 (and the sinks off 0) so their gradients are
     * exercised in general position. */
    Rng r = rng_make(77, 0);
    float *params = host_params(m);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        if (t->init_std == 0.0f)
            for (size_t j = 0; j < t->numel; j++) params[t->offset + j] += 0.3f * rng_normal(&r);
    }
    model_set_params(m, params);
    uint32_t tok[10], tgt[10];
    float weight[10], loss[10];
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 11);
        tgt[i] = (uint32_t)rng_below(&r, 11);
        weight[i] = 1.0f / (N - 1);
    }
    weight[3] = 0.0f; /* a masked position */
    float *logits = z_loss > 0 ? malloc((size_t)N * s.vocab_size * sizeof(float)) : NULL;
    Ctx c = { m, tok, tgt, weight, B, T, loss, params, logits };
    model_zero_grads(m);
    double sum = model_train_micro(m, tok, tgt, weight, B, T);
    if (z_loss > 0) {
        /* The z term the model reports is the one the finite differences see. */
        c.params = NULL;
        const double ce = sum * (double)weight[0];
        CHECK_CLOSE(model_last_z_loss(m) + ce, model_loss(&c), 1e-6, 0);
        c.params = params;
    } else {
        CHECK(model_last_z_loss(m) == 0.0);
    }
    double sum_check = 0.0;
    model_eval_loss(m, tok, tgt, NULL, B, T, loss, NULL);
    for (int i = 0; i < N; i++) if (i != 3) sum_check += loss[i];
    CHECK_CLOSE(sum, sum_check, 1e-12, 0);

    float *grads = host_grads(m);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        char what[192];
        snprintf(what, sizeof what, "model (window %d, %s, z_loss %g, gains %.2f %.2f, qk %d sinks %d every %d/%d) %s",
                 window, ffn_activation_name(act), z_loss, embed_gain, logit_gain, dials.qk_norm, dials.sinks,
                 dials.every, dials.local, t->name);
        /* Every element of small tensors, every third of the larger ones (the sanitized
         * build runs this too). */
        size_t stride = t->numel > 64 ? 3 : 1;
        gradcheck(what, params + t->offset, grads + t->offset, t->numel, stride, model_loss, &c, 2e-3, 1e-2, 2e-4);
    }
    /* The dials' tensors are in the table (and so were checked above). */
    CHECK((model_tensor_find(m, "layers.1.attn.q_norm.weight") != NULL) == (dials.qk_norm != 0));
    CHECK((model_tensor_find(m, "layers.1.attn.k_norm.weight") != NULL) == (dials.qk_norm != 0));
    CHECK((model_tensor_find(m, "layers.0.attn.sinks") != NULL) == (dials.sinks != 0));
    free(grads);
    free(params);
    free(logits);
    model_free(m);
}

static void finite_differences(int window, FfnActivation act, float z_loss, float embed_gain, float logit_gain)
{
    finite_differences_dials(window, act, z_loss, embed_gain, logit_gain, NO_DIALS);
}

/* One micro-batch three ways: m[0] reference kernels, m[1] fast on 1 thread, m[2] fast on
 * 2 threads. Fast matches reference closely, and the thread count changes no bit. */
static void train_three_ways(Model *m[3], const ModelShape *s, uint64_t seed, const uint32_t *tok,
                             const uint32_t *tgt, const float *weight, int B, int T, const char *label)
{
    double loss[3];
    for (int k = 0; k < 3; k++) {
        m[k] = model_create(s, B, T, true);
        model_init_weights(m[k], seed);
        model_use_reference_kernels(m[k], k == 0);
        omp_set_num_threads(k == 2 ? 2 : 1);
        model_zero_grads(m[k]);
        loss[k] = model_train_micro(m[k], tok, tgt, weight, B, T);
    }
    CHECK_CLOSE(loss[1], loss[0], 1e-6, 0);
    CHECK(loss[1] == loss[2]);
    float *g[3];
    for (int k = 0; k < 3; k++) g[k] = host_grads(m[k]);
    for (int i = 0; i < model_n_tensors(m[0]); i++) {
        const ParamTensor *t = model_tensor(m[0], i);
        char what[96];
        snprintf(what, sizeof what, "%sfast vs reference grad %s", label, t->name);
        check_arrays_close(what, g[1] + t->offset, g[0] + t->offset, t->numel, 1e-3, 1e-7);
    }
    char what[96];
    snprintf(what, sizeof what, "%smodel grads 1 vs 2 threads", label);
    check_arrays_identical(what, g[1], g[2], model_n_params(m[0]));
    for (int k = 0; k < 3; k++) free(g[k]);
}

static void fast_vs_reference_and_threads(AttnDials dials)
{
    ModelShape s = tiny_shape(0);
    s.vocab_size = 300; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 2; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 80; s.init_std = 0.1f;
    apply_dials(&s, dials);
    const int B = 3, T = 80, N = B * T;
    Rng r = rng_make(78, 0);
    uint32_t *tok = malloc(N * 4), *tgt = malloc(N * 4);
    float *weight = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 300);
        tgt[i] = (uint32_t)rng_below(&r, 300);
        weight[i] = (i % 7 == 0) ? 0.0f : 1.0f / N;
    }
    Model *m[3];
    char label[64];
    snprintf(label, sizeof label, "qk %d sinks %d every %d/%d ", dials.qk_norm, dials.sinks, dials.every, dials.local);
    train_three_ways(m, &s, 9, tok, tgt, weight, B, T, label);

    /* Scoring: three sequences in one call, and each alone, give the same bits; and a
     * window of T + 1 tokens scores minus the losses the trainer's forward computes. */
    omp_set_num_threads(2);
    Model *e = model_create(&s, B, T, false);
    float *trained = host_params(m[1]);
    model_set_params(e, trained);
    free(trained);
    /* Windows of T + 1 tokens: the inputs of sequence b and the first token of b + 1. */
    uint32_t *win = malloc((size_t)B * (T + 1) * 4);
    for (int b = 0; b < B; b++)
        for (int t = 0; t <= T; t++) win[b * (T + 1) + t] = tok[(b * T + t) % N];
    const uint32_t *ids[3] = { win, win + (T + 1), win + 2 * (T + 1) };
    size_t lens[3] = { 81, 41, 81 };
    float *lp_all[3], *lp_one[3];
    uint32_t *am_all[3], *am_one[3];
    for (int k = 0; k < 3; k++) {
        lp_all[k] = malloc(T * 4); lp_one[k] = malloc(T * 4);
        am_all[k] = malloc(T * 4); am_one[k] = malloc(T * 4);
    }
    model_score(e, 3, ids, lens, lp_all, am_all);
    for (int k = 0; k < 3; k++) model_score(e, 1, &ids[k], &lens[k], &lp_one[k], &am_one[k]);
    for (int k = 0; k < 3; k++) {
        check_arrays_identical("score grouped vs alone", lp_all[k], lp_one[k], lens[k] - 1);
        CHECK(memcmp(am_all[k], am_one[k], (lens[k] - 1) * 4) == 0);
    }
    float *row_loss = malloc(N * 4);
    uint32_t *tgt_next = malloc(N * 4);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) tgt_next[b * T + t] = win[b * (T + 1) + t + 1];
    model_eval_loss(e, tok, tgt_next, NULL, B, T, row_loss, NULL);
    int same = 1;
    for (int t = 0; t < T; t++) same &= -row_loss[2 * T + t] == lp_all[2][t];
    CHECK(same);
    /* Next-token logits agree with the loss of the last position. */
    float *logits = malloc(300 * 4);
    model_next_logits(e, tok, 80, logits);
    double mx = -1e30, z = 0;
    for (int v = 0; v < 300; v++) mx = fmax(mx, logits[v]);
    for (int v = 0; v < 300; v++) z += exp(logits[v] - mx);
    CHECK_CLOSE(logits[tgt_next[79]] - mx - log(z), -row_loss[79], 1e-5, 1e-5);
    for (int k = 0; k < 3; k++) { free(lp_all[k]); free(lp_one[k]); free(am_all[k]); free(am_one[k]); }
    free(row_loss); free(tgt_next); free(logits); free(win);
    model_free(e);
    for (int k = 0; k < 3; k++) model_free(m[k]);
    free(tok); free(tgt); free(weight);
}

/* A dense block, then MoE blocks of E routed experts. */
static ModelShape moe_shape(bool softmax, int shared, float capacity, float alpha)
{
    ModelShape s = tiny_shape(0);
    s.n_layers = 3;
    s.n_dense_layers = 1;
    s.n_routed_experts = 5;
    s.n_activated_experts = 2;
    s.n_shared_experts = shared;
    s.moe_inter_dim = 6;
    s.router_softmax = softmax;
    s.route_scale = 1.7f;
    s.expert_output_gain = 1.3f;
    s.capacity_factor = capacity;
    s.aux_loss_alpha = alpha;
    return s;
}

static void moe_finite_differences(bool softmax, int shared, float capacity, float alpha, FfnActivation act,
                                   float router_z)
{
    ModelShape s = moe_shape(softmax, shared, capacity, alpha);
    s.ffn_activation = act;
    s.router_z_loss = router_z;
    /* r^2 * b is cubic in its input: at init_std 0.5 its curvature makes the central
     * differences of step 2e-3 inexact (the reference agrees with PyTorch: train_oracle). */
    if (act == FFN_ACT_SQUARED_REGLU) s.init_std = 0.25f;
    const int B = 2, T = 5, N = B * T;
    /* Thousands of tiny forwards: OpenMP's fork/join would dominate on a busy machine
     * (threads do not change the results: fast_vs_reference checks that). */
    omp_set_num_threads(1);
    Model *m = model_create(&s, B, T, true);
    model_init_weights(m, 6);
    Rng r = rng_make(79, softmax);
    float *params = host_params(m);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        if (t->init_std == 0.0f)
            for (size_t j = 0; j < t->numel; j++) params[t->offset + j] += 0.3f * rng_normal(&r);
    }
    model_set_params(m, params);
    /* Nonzero biases, so that the choice on s + b differs from the choice on s. */
    float *state = calloc(model_n_state_floats(m), sizeof(float));
    for (int i = 0; i < model_n_state_tensors(m); i++) {
        const ParamTensor *t = model_state_tensor(m, i);
        for (size_t j = 0; j < t->numel; j++) state[t->offset + j] = 0.05f * rng_normal(&r);
    }
    model_set_state(m, state);
    free(state);
    uint32_t tok[10], tgt[10];
    float weight[10], loss[10];
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 11);
        tgt[i] = (uint32_t)rng_below(&r, 11);
        weight[i] = 1.0f / N;
    }
    Ctx c = { m, tok, tgt, weight, B, T, loss, params, NULL };
    model_zero_grads(m);
    model_train_micro(m, tok, tgt, weight, B, T);
    /* Hold the top-K choice (and with it any drops) fixed: the loss is smooth then. */
    model_hold_routing(m, true);
    float *grads = host_grads(m);
    int router_seen = 0, expert_seen = 0;
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        router_seen += t->group == PARAM_GROUP_ROUTER;
        expert_seen += t->group == PARAM_GROUP_EXPERT;
        char what[192];
        snprintf(what, sizeof what, "moe model (%s, shared %d, cf %g, alpha %g, %s, router_z %g) %s",
                 softmax ? "softmax" : "sigmoid", shared, capacity, alpha, ffn_activation_name(act), router_z, t->name);
        size_t stride = t->numel > 64 ? 3 : 1;
        gradcheck(what, params + t->offset, grads + t->offset, t->numel, stride, model_loss, &c, 2e-3, 1e-2, 2e-4);
    }
    CHECK(router_seen == 2 && expert_seen == (ffn_activation_gated(act) ? 6 : 4));
    if (capacity > 0) {
        /* The configuration is meant to drop: check it does. */
        const MoeStats *st = model_router_step_stats(m, 1);
        CHECK(st->dropped > 0);
    }
    free(grads);
    free(params);
    model_free(m);
}

static void moe_fast_vs_reference_and_telemetry(void)
{
    ModelShape s = moe_shape(false, 1, 0.0f, 0.01f);
    s.vocab_size = 200; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 2; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 70; s.init_std = 0.1f; s.n_routed_experts = 16; s.n_activated_experts = 4; s.moe_inter_dim = 24;
    const int B = 3, T = 70, N = B * T;
    Rng r = rng_make(80, 0);
    uint32_t *tok = malloc(N * 4), *tgt = malloc(N * 4);
    float *weight = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 200);
        tgt[i] = (uint32_t)rng_below(&r, 200);
        weight[i] = 1.0f / N;
    }
    Model *m[3];
    train_three_ways(m, &s, 10, tok, tgt, weight, B, T, "moe ");
    CHECK(model_n_moe_layers(m[1]) == 2 && model_moe_layer(m[1], 0) == 1 && model_moe_layer(m[1], 1) == 2);
    CHECK(model_router_bias(m[1], 0) == NULL && model_router_step_stats(m[1], 0) == NULL);
    for (int l = 1; l <= 2; l++) {
        /* Same choice on both paths and thread counts. */
        CHECK(memcmp(model_router_choice(m[0], l), model_router_choice(m[1], l), (size_t)N * 4 * sizeof(int32_t)) == 0);
        CHECK(memcmp(model_router_choice(m[1], l), model_router_choice(m[2], l), (size_t)N * 4 * sizeof(int32_t)) == 0);
        /* The step counters hold this micro-batch's loads: N * K assignments. */
        const MoeStats *st = model_router_step_stats(m[1], l);
        uint64_t total = 0;
        for (int e = 0; e < 16; e++) total += st->loads[e];
        CHECK(total == (uint64_t)N * 4 && st->tokens == N && st->dropped == 0);
        CHECK(model_router_grad_norm(m[1], l) > 0);
    }
    /* A forward-only call counts nothing... */
    float *row_loss = malloc(N * 4);
    model_eval_loss(m[1], tok, tgt, NULL, B, T, row_loss, NULL);
    CHECK(model_router_step_stats(m[1], 1)->tokens == N);
    /* ...unless a sink is set, and then only into the sink. */
    MoeStats *sink_stats = moe_stats_create(16);
    MoeStats *sink[3] = { NULL, sink_stats, NULL };
    model_set_router_sink(m[1], sink);
    model_eval_loss(m[1], tok, tgt, NULL, B, T, row_loss, NULL);
    model_set_router_sink(m[1], NULL);
    CHECK(sink_stats->tokens == N && model_router_step_stats(m[1], 1)->tokens == N);
    /* After the step: biases move against the loads, the step's counters go to the window. */
    const MoeStats *st = model_router_step_stats(m[1], 1);
    uint64_t loads[16];
    memcpy(loads, st->loads, sizeof loads);
    MoeBiasUpdate u = { 0.01f, 0, 0.0f };
    model_router_after_step(m[1], &u, 1.0f);
    const float *bias = model_router_bias(m[1], 1);
    int agree = 1;
    for (int e = 0; e < 16; e++) {
        int64_t diff = (int64_t)N * 4 - 16 * (int64_t)loads[e];
        float want = diff > 0 ? 0.01f : diff < 0 ? -0.01f : 0.0f;
        agree &= bias[e] == want;
    }
    CHECK(agree);
    CHECK(model_router_step_stats(m[1], 1)->tokens == 0 && model_router_window_stats(m[1], 1)->tokens == N);
    CHECK(memcmp(model_router_window_stats(m[1], 1)->loads, loads, sizeof loads) == 0);
    moe_stats_free(sink_stats);
    free(row_loss);
    for (int k = 0; k < 3; k++) model_free(m[k]);
    free(tok); free(tgt); free(weight);
}

/* The ffn_activation dial on the fast path: against the reference loops, and 1 vs 2
 * threads bit-identical, in a model with a dense block, a shared expert and routed
 * experts; relu2 has no w3 tensor anywhere. */
static void ffn_activation_fast_vs_reference(FfnActivation act)
{
    ModelShape s = moe_shape(false, 1, 0.0f, 0.0f);
    s.vocab_size = 200; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 2; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 70; s.init_std = 0.1f; s.n_routed_experts = 8; s.n_activated_experts = 2; s.moe_inter_dim = 24;
    s.ffn_activation = act;
    s.router_z_loss = act == FFN_ACT_SQUARED_REGLU ? 0.1f : 0.0f; /* the router z-loss too, on one of them */
    const int B = 2, T = 70, N = B * T;
    Rng r = rng_make(81, (uint64_t)act);
    uint32_t *tok = malloc(N * 4), *tgt = malloc(N * 4);
    float *weight = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 200);
        tgt[i] = (uint32_t)rng_below(&r, 200);
        weight[i] = 1.0f / N;
    }
    Model *m[3];
    char label[64];
    snprintf(label, sizeof label, "%s ", ffn_activation_name(act));
    train_three_ways(m, &s, 12, tok, tgt, weight, B, T, label);
    int w3 = 0;
    for (int i = 0; i < model_n_tensors(m[0]); i++) w3 += strstr(model_tensor(m[0], i)->name, "w3") != NULL;
    CHECK(w3 == (ffn_activation_gated(act) ? 5 : 0)); /* dense, 2 shared, 2 routed */
    if (s.router_z_loss > 0) {
        CHECK(model_last_router_z_loss(m[1]) > 0);
        CHECK_CLOSE(model_last_router_z_loss(m[1]), model_last_router_z_loss(m[0]), 1e-5, 0);
        CHECK(model_last_router_z_loss(m[1]) == model_last_router_z_loss(m[2]));
    } else {
        CHECK(model_last_router_z_loss(m[1]) == 0.0);
    }
    for (int l = 1; l <= 2; l++)
        CHECK(memcmp(model_router_choice(m[0], l), model_router_choice(m[1], l), (size_t)N * 2 * sizeof(int32_t)) == 0);
    for (int k = 0; k < 3; k++) model_free(m[k]);
    free(tok); free(tgt); free(weight);
}

/* The inference paths beside model_score: model_score_from (the head only at the scored
 * positions) and the key/value cache (model_cache_extend). Both compute the same math
 * as the whole-sequence forward with the products cut differently, so they agree with
 * it to float rounding: sums of at most 80 terms of O(1) values through two blocks,
 * relative error well under 1e-4 (a wrong position, mask or row is off by O(0.1)). */
static void scoring_and_cache_dials(bool moe, int window, AttnDials dials)
{
    ModelShape s = moe ? moe_shape(false, 1, 0.0f, 0.0f) : tiny_shape(window);
    s.vocab_size = 300; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 2; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 80; s.init_std = 0.1f;
    if (moe) { s.n_routed_experts = 8; s.n_activated_experts = 2; s.moe_inter_dim = 16; s.attn_window = window; }
    if (window == 7) { s.embed_gain = 1.3f; s.logit_gain = 0.7f; } /* every head path applies them */
    apply_dials(&s, dials);
    const int T = 80;
    omp_set_num_threads(2);
    Model *e = model_create(&s, 3, T, false);
    model_init_weights(e, 31 + moe);
    if (dials.sinks || dials.qk_norm) {
        /* The sinks and q/k gains off their init (0, 1), so that their values are used. */
        Rng g = rng_make(82, 0);
        float *p = host_params(e);
        for (int i = 0; i < model_n_tensors(e); i++) {
            const ParamTensor *t = model_tensor(e, i);
            if (strstr(t->name, "sinks") || strstr(t->name, "_norm.weight"))
                for (size_t j = 0; j < t->numel; j++) p[t->offset + j] += 0.5f * rng_normal(&g);
        }
        model_set_params(e, p);
        free(p);
    }
    Rng r = rng_make(81, (uint64_t)window);
    uint32_t ids[3][81];
    for (int k = 0; k < 3; k++)
        for (int t = 0; t <= T; t++) ids[k][t] = (uint32_t)rng_below(&r, 300);
    const uint32_t *seqs[3] = { ids[0], ids[1], ids[2] };
    size_t lens[3] = { 81, 76, 81 }, from[3] = { 70, 0, 33 };
    float *lp[3], *lp_from[3], *lp_one[3];
    uint32_t *am[3], *am_from[3], *am_one[3];
    for (int k = 0; k < 3; k++) {
        lp[k] = malloc(T * 4); lp_from[k] = malloc(T * 4); lp_one[k] = malloc(T * 4);
        am[k] = malloc(T * 4); am_from[k] = malloc(T * 4); am_one[k] = malloc(T * 4);
    }
    model_score(e, 3, seqs, lens, lp, am);
    model_score_from(e, 3, seqs, lens, from, lp_from, am_from);
    for (int k = 0; k < 3; k++) model_score_from(e, 1, &seqs[k], &lens[k], &from[k], &lp_one[k], &am_one[k]);
    int close = 1, same_alone = 1, same_argmax = 1;
    for (int k = 0; k < 3; k++)
        for (size_t t = from[k]; t + 1 < lens[k]; t++) {
            close &= fabsf(lp_from[k][t] - lp[k][t]) <= 1e-4f * (1.0f + fabsf(lp[k][t]));
            same_alone &= lp_from[k][t] == lp_one[k][t] && am_from[k][t] == am_one[k][t];
            same_argmax &= am_from[k][t] == am[k][t];
        }
    CHECK(close);
    CHECK(same_argmax);
    /* Dense: a position's values do not depend on what else is scored, though the 75
     * inputs of the second sequence are padded to 80 and batched with the others (MoE:
     * the experts' products run over the call's rows, see model.h). */
    if (!moe) CHECK(same_alone);

    /* A shared context: three choices whose first 70 inputs agree (one of them scored
     * from inside the shared part, one cut shorter) go through the key/value cache
     * (model.c share_family); the same values as every position scored separately, to
     * rounding, and the same greedy tokens. */
    {
        uint32_t fam[3][81];
        for (int k = 0; k < 3; k++) {
            memcpy(fam[k], ids[0], 70 * 4);
            memcpy(fam[k] + 70, ids[k] + 70, 11 * 4);
        }
        const uint32_t *fs[3] = { fam[0], fam[1], fam[2] };
        size_t flens[3] = { 81, 78, 81 }, ffrom[3] = { 70, 60, 75 }, zero = 0;
        int fclose = 1, fsame = 1;
        for (int k = 0; k < 3; k++) model_score_from(e, 1, &fs[k], &flens[k], &zero, &lp[k], &am[k]);
        model_score_from(e, 3, fs, flens, ffrom, lp_from, am_from);
        for (int k = 0; k < 3; k++)
            for (size_t t = ffrom[k]; t + 1 < flens[k]; t++) {
                fclose &= fabsf(lp_from[k][t] - lp[k][t]) <= 1e-4f * (1.0f + fabsf(lp[k][t]));
                fsame &= am_from[k][t] == am[k][t];
            }
        CHECK(fclose);
        CHECK(fsame);
    }

    /* The cache: a prefix, then one token at a time, against the whole forward. */
    const int V = 300;
    float *want = malloc(V * 4), *got = malloc(V * 4), *again = malloc(V * 4);
    CHECK(model_has_cache(e));
    model_cache_truncate(e, 0);
    model_cache_extend(e, ids[0], 30, got);
    CHECK(model_cache_len(e) == 30);
    model_next_logits(e, ids[0], 30, want);
    int agree = 1;
    for (int v = 0; v < V; v++) agree &= fabsf(got[v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v]));
    for (int n = 31; n <= T; n++) {
        model_cache_extend(e, ids[0] + n - 1, 1, got);
        model_next_logits(e, ids[0], (size_t)n, want);
        for (int v = 0; v < V; v++) agree &= fabsf(got[v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v]));
    }
    CHECK(agree);
    CHECK(model_cache_len(e) == (size_t)T);
    /* A fresh cache of 20 positions and 20 more; then cut back to 20 and the same 20
     * again: bit for bit what the first time gave (nothing of the cut positions stays),
     * and close to the whole forward of that sequence. */
    uint32_t other[40];
    memcpy(other, ids[0], 20 * 4);
    memcpy(other + 20, ids[1], 20 * 4);
    model_cache_truncate(e, 0);
    model_cache_extend(e, other, 20, NULL);
    model_cache_extend(e, other + 20, 20, got);
    model_cache_extend(e, ids[2], 7, NULL);
    model_cache_truncate(e, 20);
    model_cache_extend(e, other + 20, 20, again);
    CHECK(memcmp(got, again, V * 4) == 0);
    model_next_logits(e, other, 40, want);
    agree = 1;
    for (int v = 0; v < V; v++) agree &= fabsf(got[v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v]));
    CHECK(agree);
    free(want); free(got); free(again);
    for (int k = 0; k < 3; k++) { free(lp[k]); free(lp_from[k]); free(lp_one[k]); free(am[k]); free(am_from[k]); free(am_one[k]); }
    model_free(e);
}

static void scoring_and_cache(bool moe, int window) { scoring_and_cache_dials(moe, window, NO_DIALS); }

int main(void)
{
    finite_differences(0, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f);
    finite_differences(3, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f);
    finite_differences(0, FFN_ACT_SWIGLU, 0.0f, 1.7f, 0.6f); /* embed_gain, logit_gain */
    finite_differences(0, FFN_ACT_RELU2, 0.0f, 1.0f, 1.0f);
    finite_differences(0, FFN_ACT_SQUARED_REGLU, 0.0f, 1.0f, 1.0f);
    finite_differences(3, FFN_ACT_SWIGLU, 0.2f, 1.0f, 1.0f);
    /* The attention dials: each alone, then all together under the local/global
     * pattern (block 0 local over 2 tokens, block 1 global). */
    finite_differences_dials(0, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f, (AttnDials){ 1, 0, 0, 0 });
    finite_differences_dials(3, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f, (AttnDials){ 0, 1, 0, 0 });
    finite_differences_dials(0, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f, (AttnDials){ 0, 0, 2, 2 });
    finite_differences_dials(0, FFN_ACT_SWIGLU, 0.0f, 1.0f, 1.0f, (AttnDials){ 1, 1, 2, 2 });
    fast_vs_reference_and_threads(NO_DIALS);
    fast_vs_reference_and_threads((AttnDials){ 1, 0, 0, 0 });
    fast_vs_reference_and_threads((AttnDials){ 0, 1, 0, 0 });
    fast_vs_reference_and_threads((AttnDials){ 1, 1, 2, 20 });
    scoring_and_cache(false, 0);
    scoring_and_cache(false, 7);
    scoring_and_cache(true, 0);
    scoring_and_cache_dials(false, 0, (AttnDials){ 1, 0, 0, 0 });
    scoring_and_cache_dials(false, 0, (AttnDials){ 0, 1, 0, 0 });
    scoring_and_cache_dials(false, 0, (AttnDials){ 0, 0, 2, 9 });
    scoring_and_cache_dials(true, 0, (AttnDials){ 1, 1, 2, 9 });
    moe_finite_differences(false, 1, 0.0f, 0.0f, FFN_ACT_SWIGLU, 0.0f);
    moe_finite_differences(true, 0, 0.0f, 0.0f, FFN_ACT_SWIGLU, 0.0f);
    moe_finite_differences(false, 2, 0.6f, 0.05f, FFN_ACT_SWIGLU, 0.0f);
    moe_finite_differences(true, 1, 0.0f, 0.1f, FFN_ACT_SWIGLU, 0.0f);
    moe_finite_differences(false, 1, 0.0f, 0.0f, FFN_ACT_RELU2, 0.0f);
    moe_finite_differences(false, 2, 0.6f, 0.05f, FFN_ACT_SQUARED_REGLU, 0.0f);
    moe_finite_differences(false, 1, 0.0f, 0.0f, FFN_ACT_SWIGLU, 0.1f);
    moe_finite_differences(true, 0, 0.6f, 0.0f, FFN_ACT_SWIGLU, 0.3f);
    moe_fast_vs_reference_and_telemetry();
    ffn_activation_fast_vs_reference(FFN_ACT_RELU2);
    ffn_activation_fast_vs_reference(FFN_ACT_SQUARED_REGLU);
    return check_report("test_grad_model");
}
