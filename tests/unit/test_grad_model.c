/* test_grad_model.c: the whole model's backward (every parameter tensor, through
 * embedding, RMSNorm, RoPE, grouped-query attention with and without a window, SwiGLU,
 * head and masked cross-entropy) against finite differences of its loss; the fast
 * kernels against the reference loops; 1 and 2 threads bit-identical; scoring the same
 * whether sequences are grouped or not, and equal to the loss the trainer computes. */
#include "gradcheck.h"
#include "model.h"

typedef struct {
    Model *m;
    const uint32_t *tok, *tgt;
    const float *weight;
    int B, T;
    float *loss;
} Ctx;

static double model_loss(void *p)
{
    Ctx *c = p;
    model_eval_loss(c->m, c->tok, c->tgt, NULL, c->B, c->T, c->loss, NULL);
    double s = 0.0;
    for (int r = 0; r < c->B * c->T; r++) s += (double)c->weight[r] * c->loss[r];
    return s;
}

static ModelShape tiny_shape(int window)
{
    ModelShape s = { .vocab_size = 11, .dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .head_dim = 4,
                     .inter_dim = 12, .seq_len = 5, .attn_window = window, .rope_theta = 10000.0,
                     .norm_eps = 1e-5f, .init_std = 0.5f };
    return s;
}

static void finite_differences(int window)
{
    ModelShape s = tiny_shape(window);
    const int B = 2, T = 5, N = B * T;
    Model *m = model_create(&s, B, T, true);
    model_use_reference_kernels(m, true);
    model_init_weights(m, 5);
    /* Perturb the norm gains off 1 so their gradients are exercised in general position. */
    Rng r = rng_make(77, 0);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        if (t->init_std == 0.0f)
            for (size_t j = 0; j < t->numel; j++) model_params(m)[t->offset + j] += 0.3f * rng_normal(&r);
    }
    uint32_t tok[10], tgt[10];
    float weight[10], loss[10];
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, 11);
        tgt[i] = (uint32_t)rng_below(&r, 11);
        weight[i] = 1.0f / (N - 1);
    }
    weight[3] = 0.0f; /* a masked position */
    Ctx c = { m, tok, tgt, weight, B, T, loss };
    model_zero_grads(m);
    double sum = model_train_micro(m, tok, tgt, weight, B, T);
    double sum_check = 0.0;
    model_eval_loss(m, tok, tgt, NULL, B, T, loss, NULL);
    for (int i = 0; i < N; i++) if (i != 3) sum_check += loss[i];
    CHECK_CLOSE(sum, sum_check, 1e-12, 0);

    float *grads = model_grads(m), *params = model_params(m);
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *t = model_tensor(m, i);
        char what[96];
        snprintf(what, sizeof what, "model (window %d) %s", window, t->name);
        /* Every element of small tensors, every third of the larger ones (the sanitized
         * build runs this too). */
        size_t stride = t->numel > 64 ? 3 : 1;
        gradcheck(what, params + t->offset, grads + t->offset, t->numel, stride, model_loss, &c, 2e-3, 1e-2, 2e-4);
    }
    model_free(m);
}

static void fast_vs_reference_and_threads(void)
{
    ModelShape s = tiny_shape(0);
    s.vocab_size = 300; s.dim = 32; s.n_heads = 4; s.n_kv_heads = 2; s.head_dim = 8; s.inter_dim = 48;
    s.seq_len = 80; s.init_std = 0.1f;
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
    for (int i = 0; i < model_n_tensors(m[0]); i++) {
        const ParamTensor *t = model_tensor(m[0], i);
        char what[96];
        snprintf(what, sizeof what, "fast vs reference grad %s", t->name);
        check_arrays_close(what, model_grads(m[1]) + t->offset, model_grads(m[0]) + t->offset, t->numel, 1e-3, 1e-7);
    }
    check_arrays_identical("model grads 1 vs 2 threads", model_grads(m[1]), model_grads(m[2]), model_n_params(m[0]));

    /* Scoring: three sequences in one call, and each alone, give the same bits; and a
     * window of T + 1 tokens scores minus the losses the trainer's forward computes. */
    omp_set_num_threads(2);
    Model *e = model_create(&s, B, T, false);
    memcpy(model_params(e), model_params(m[1]), model_n_params(e) * sizeof(float));
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

int main(void)
{
    finite_differences(0);
    finite_differences(3);
    fast_vs_reference_and_threads();
    return check_report("test_grad_model");
}
