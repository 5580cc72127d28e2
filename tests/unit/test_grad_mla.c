/* test_grad_mla.c: attention = mla (kernels/cpu/mla.h, DeepSeek-V2's multi-head latent
 * attention) inside the whole model: every parameter tensor (wq or wq_a/q_norm/wq_b,
 * wkv_a, kv_norm, wkv_b, wo and the rest of the model) against finite differences of
 * the loss, with and without query compression and a sliding window; the fast kernels
 * against the reference loops, 1 and 2 threads bit-identical; and the inference paths:
 * model_score equal to minus the trainer's per-row losses bit for bit, model_score_from
 * and the key/value cache (which stores the expanded keys and values) equal to the
 * whole-sequence forward to float rounding. The PyTorch oracle (tests/oracle/
 * train_oracle.sh, configs mla, mla_q, moe_mla) checks the math itself. */
#include "gradcheck.h"
#include "model/model.h"

typedef struct {
    Model *m;
    const uint32_t *tok, *tgt;
    const float *weight;
    int B, T;
    float *loss;
    const float *params;
} Ctx;

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
    model_set_params(c->m, c->params);
    model_eval_loss(c->m, c->tok, c->tgt, NULL, c->B, c->T, c->loss, NULL);
    double s = 0.0;
    for (int r = 0; r < c->B * c->T; r++) s += (double)c->weight[r] * c->loss[r];
    return s;
}

/* A tiny MLA shape: H 2, nope 4, rope 2, v 3, latent 5 (dims unequal on purpose, so a
 * mixed-up stride cannot pass). */
static ModelShape mla_shape(int q_lora, int window)
{
    ModelShape s = { .vocab_size = 11, .dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                     .inter_dim = 12, .seq_len = 5, .attn_window = window, .rope_theta = 10000.0,
                     .norm_eps = 1e-5f, .init_std = 0.5f, .mla = 1, .q_lora_rank = q_lora, .kv_lora_rank = 5,
                     .qk_nope_head_dim = 4, .qk_rope_head_dim = 2, .v_head_dim = 3 };
    return s;
}

static void finite_differences(int q_lora, int window)
{
    ModelShape s = mla_shape(q_lora, window);
    const int B = 2, T = 5, N = B * T;
    Model *m = model_create(&s, B, T, true);
    model_use_reference_kernels(m, true);
    model_init_weights(m, 5);
    /* Norm gains (q_norm, kv_norm among them) off 1, so their gradients are general. */
    Rng r = rng_make(79, 0);
    float *params = host_params(m);
    int n_norms = 0;
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        if (t->init_std != 0.0f) continue;
        CHECK(!t->weight_decay);
        n_norms++;
        for (size_t j = 0; j < t->numel; j++) params[t->offset + j] += 0.3f * rng_normal(&r);
    }
    CHECK(n_norms == 1 + 2 * (3 + (q_lora > 0))); /* final norm; per block attn, ffn, kv (and q) norms */
    CHECK(model_tensor_find(m, "layers.1.attn.wkv_b.weight") != NULL);
    CHECK((model_tensor_find(m, "layers.0.attn.wq_a.weight") != NULL) == (q_lora > 0));
    CHECK(model_tensor_find(m, "layers.0.attn.wk.weight") == NULL);
    model_set_params(m, params);
    uint32_t tok[10], tgt[10];
    float weight[10], loss[10];
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 11);
        tgt[i] = (uint32_t)rng_below(&r, 11);
        weight[i] = 1.0f / (N - 1);
    }
    weight[3] = 0.0f;
    Ctx c = { m, tok, tgt, weight, B, T, loss, params };
    model_zero_grads(m);
    model_train_micro(m, tok, tgt, weight, B, T);
    float *grads = host_grads(m);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        char what[160];
        snprintf(what, sizeof what, "mla (q_lora_rank %d, window %d) %s", q_lora, window, t->name);
        size_t stride = t->numel > 64 ? 3 : 1;
        gradcheck(what, params + t->offset, grads + t->offset, t->numel, stride, model_loss, &c, 2e-3, 1e-2, 2e-4);
    }
    free(grads);
    free(params);
    model_free(m);
}

/* A larger shape for the fast paths: 80 positions, 4 heads. */
static ModelShape mla_wide(int q_lora, int window)
{
    ModelShape s = mla_shape(q_lora, window);
    s.vocab_size = 300; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 4; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 80; s.init_std = 0.1f;
    s.kv_lora_rank = 16; s.qk_nope_head_dim = 8; s.qk_rope_head_dim = 4; s.v_head_dim = 6;
    return s;
}

static void fast_vs_reference_and_threads(int q_lora)
{
    ModelShape s = mla_wide(q_lora, 0);
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
    double loss[3];
    for (int k = 0; k < 3; k++) {
        m[k] = model_create(&s, B, T, true);
        model_init_weights(m[k], 9);
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
        snprintf(what, sizeof what, "mla fast vs reference grad %s", t->name);
        check_arrays_close(what, g[1] + t->offset, g[0] + t->offset, t->numel, 1e-3, 1e-7);
    }
    check_arrays_identical("mla model grads 1 vs 2 threads", g[1], g[2], model_n_params(m[0]));
    for (int k = 0; k < 3; k++) free(g[k]);

    /* Scoring a window of T + 1 tokens gives minus the trainer's losses, bit for bit. */
    omp_set_num_threads(2);
    Model *e = model_create(&s, B, T, false);
    float *trained = host_params(m[1]);
    model_set_params(e, trained);
    free(trained);
    uint32_t *win = malloc((size_t)(T + 1) * 4), *tgt_next = malloc(T * 4);
    for (int t = 0; t <= T; t++) win[t] = tok[t];
    for (int t = 0; t < T; t++) tgt_next[t] = win[t + 1];
    const uint32_t *ids[1] = { win };
    size_t lens[1] = { 81 };
    float *lp = malloc(T * 4), *row_loss = malloc(N * 4);
    uint32_t *am = malloc(T * 4);
    model_score(e, 1, ids, lens, &lp, &am);
    model_eval_loss(m[1], win, tgt_next, NULL, 1, T, row_loss, NULL);
    int same = 1;
    for (int t = 0; t < T; t++) same &= -row_loss[t] == lp[t];
    CHECK(same);
    free(lp); free(row_loss); free(am); free(win); free(tgt_next);
    model_free(e);
    for (int k = 0; k < 3; k++) model_free(m[k]);
    free(tok); free(tgt); free(weight);
}

/* model_score_from and the cache against model_score and model_next_logits: the same
 * math with products cut differently (period n, the head gathered), so equal to float
 * rounding: sums of at most 80 terms of O(1) values through two blocks, relative error
 * well under 1e-4 (a wrong position, row or key is off by O(0.1)). */
static void scoring_and_cache(int q_lora, int window)
{
    ModelShape s = mla_wide(q_lora, window);
    const int T = 80, V = 300;
    omp_set_num_threads(2);
    Model *e = model_create(&s, 3, T, false);
    model_init_weights(e, 31);
    Rng r = rng_make(81, (uint64_t)window);
    uint32_t ids[3][81];
    for (int k = 0; k < 3; k++)
        for (int t = 0; t <= T; t++) ids[k][t] = (uint32_t)rng_below(&r, V);
    const uint32_t *seqs[3] = { ids[0], ids[1], ids[2] };
    size_t lens[3] = { 81, 76, 81 }, from[3] = { 70, 0, 33 };
    float *lp[3], *lp_from[3];
    uint32_t *am[3], *am_from[3];
    for (int k = 0; k < 3; k++) {
        lp[k] = malloc(T * 4); lp_from[k] = malloc(T * 4);
        am[k] = malloc(T * 4); am_from[k] = malloc(T * 4);
    }
    model_score(e, 3, seqs, lens, lp, am);
    model_score_from(e, 3, seqs, lens, from, lp_from, am_from);
    int close = 1, same_argmax = 1;
    for (int k = 0; k < 3; k++)
        for (size_t t = from[k]; t + 1 < lens[k]; t++) {
            close &= fabsf(lp_from[k][t] - lp[k][t]) <= 1e-4f * (1.0f + fabsf(lp[k][t]));
            same_argmax &= am_from[k][t] == am[k][t];
        }
    CHECK(close);
    CHECK(same_argmax);
    /* A shared context of 70 positions: model.c runs it once through the cache. */
    uint32_t fam[3][81];
    for (int k = 0; k < 3; k++) {
        memcpy(fam[k], ids[0], 70 * 4);
        memcpy(fam[k] + 70, ids[k] + 70, 11 * 4);
    }
    const uint32_t *fs[3] = { fam[0], fam[1], fam[2] };
    size_t flens[3] = { 81, 78, 81 }, ffrom[3] = { 70, 60, 75 }, zero = 0;
    for (int k = 0; k < 3; k++) model_score_from(e, 1, &fs[k], &flens[k], &zero, &lp[k], &am[k]);
    model_score_from(e, 3, fs, flens, ffrom, lp_from, am_from);
    int fclose = 1;
    for (int k = 0; k < 3; k++)
        for (size_t t = ffrom[k]; t + 1 < flens[k]; t++)
            fclose &= fabsf(lp_from[k][t] - lp[k][t]) <= 1e-4f * (1.0f + fabsf(lp[k][t]));
    CHECK(fclose);

    /* The cache: a prefix, then one token at a time, against the whole forward. */
    float *want = malloc(V * 4), *got = malloc(V * 4), *again = malloc(V * 4);
    CHECK(model_has_cache(e));
    model_cache_truncate(e, 0);
    model_cache_extend(e, ids[0], 30, got);
    model_next_logits(e, ids[0], 30, want);
    int agree = 1;
    for (int v = 0; v < V; v++) agree &= fabsf(got[v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v]));
    for (int n = 31; n <= T; n++) {
        model_cache_extend(e, ids[0] + n - 1, 1, got);
        model_next_logits(e, ids[0], (size_t)n, want);
        for (int v = 0; v < V; v++) agree &= fabsf(got[v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v]));
    }
    CHECK(agree);
    /* Cut back and extend again: bit for bit the first time's logits. */
    model_cache_truncate(e, 0);
    model_cache_extend(e, ids[1], 20, NULL);
    model_cache_extend(e, ids[1] + 20, 20, got);
    model_cache_extend(e, ids[2], 7, NULL);
    model_cache_truncate(e, 20);
    model_cache_extend(e, ids[1] + 20, 20, again);
    CHECK(memcmp(got, again, V * 4) == 0);
    free(want); free(got); free(again);
    for (int k = 0; k < 3; k++) { free(lp[k]); free(lp_from[k]); free(am[k]); free(am_from[k]); }
    model_free(e);
}

int main(void)
{
    finite_differences(0, 0);
    finite_differences(3, 0);
    finite_differences(0, 3);
    finite_differences(4, 2);
    fast_vs_reference_and_threads(0);
    fast_vs_reference_and_threads(12);
    scoring_and_cache(0, 0);
    scoring_and_cache(12, 9);
    return check_report("test_grad_mla");
}
