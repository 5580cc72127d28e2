/* test_model_bf16.c: precision = bf16 on the CPU backend (kernels/cpu/model_cpu.c's
 * head comment): the logits are bf16 values, close to fp32's but not equal; the master
 * weights stay fp32 (get_params gives back what set_params was given, bit for bit); the
 * rounded weight copy follows every set_params (the same bits as a model given those
 * weights from the start: no stale copy; seen failing without it); 1 and 2 threads give
 * the same bits, and the fast kernels agree with the reference loops to bf16's
 * precision; the key/value cache agrees with the whole forward to bf16's precision and
 * its logits are bf16 values too. (Against PyTorch: tests/oracle/train_oracle.sh, the
 * gqa_bf16 and moe_bf16 configs.) */
#include "check.h"
#include "gradcheck.h"
#include "base/rng.h"
#include "model/model.h"
#include "quant/quant.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { V = 200, B = 2, T = 40, N = B * T };

static ModelShape shape(bool moe, bool bf16)
{
    ModelShape s = { .vocab_size = V, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
                     .inter_dim = 48, .seq_len = T, .rope_theta = 10000.0, .norm_eps = 1e-5f, .init_std = 0.1f,
                     .model_bf16 = bf16 };
    if (moe) {
        s.n_dense_layers = 1;
        s.n_routed_experts = 8;
        s.n_shared_experts = 1;
        s.n_activated_experts = 2;
        s.moe_inter_dim = 16;
        s.route_scale = 1.0f;
        s.expert_output_gain = 1.0f;
    }
    return s;
}

static int n_bf16_values(const float *x, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += bf16_round(x[i]) == x[i];
    return k;
}

/* Normwise relative difference ||a - b|| / ||b||. */
static double rel(const float *a, const float *b, size_t n)
{
    double d = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += (double)b[i] * b[i];
    }
    return sqrt(d / (nb > 0 ? nb : 1));
}

static void logits_and_masters(bool moe)
{
    uint32_t tok[N];
    Rng r = rng_make(5, moe);
    for (int i = 0; i < N; i++) tok[i] = (uint32_t)rng_below(&r, V);
    ModelShape s16 = shape(moe, true), s32 = shape(moe, false);
    Model *m16 = model_create(&s16, B, T, false), *m32 = model_create(&s32, B, T, false);
    model_init_weights(m16, 3);
    model_init_weights(m32, 3);
    const size_t P = model_n_params(m16);
    CHECK(P == model_n_params(m32));
    float *p = malloc(P * sizeof *p), *back = malloc(P * sizeof *back);
    model_get_params(m32, p);
    /* The init is the same whatever the precision, and in fp32 (most values are not bf16). */
    model_get_params(m16, back);
    CHECK(memcmp(p, back, P * sizeof *p) == 0);
    CHECK(n_bf16_values(p, P) < (int)(P / 10));

    float *l16 = malloc((size_t)N * V * sizeof *l16), *l32 = malloc((size_t)N * V * sizeof *l32);
    model_logits(m16, tok, B, T, l16);
    model_logits(m32, tok, B, T, l32);
    CHECK_EQ_INT(n_bf16_values(l16, (size_t)N * V), N * V);
    CHECK(n_bf16_values(l32, (size_t)N * V) < N * V / 10);
    /* bf16's relative precision is 2^-8; through two blocks a few of it, far less than
     * O(1) (a wrong weight or row), and never exactly nothing. */
    const double d = rel(l16, l32, (size_t)N * V);
    CHECK(d > 1e-4 && d < 3e-2);

    /* set_params: the masters keep what they were given; the forward follows at once. */
    float *p2 = malloc(P * sizeof *p2), *again = malloc((size_t)N * V * sizeof *again);
    for (size_t i = 0; i < P; i++) p2[i] = p[i] * 1.5f + 1e-3f;
    model_set_params(m16, p2);
    model_get_params(m16, back);
    CHECK(memcmp(p2, back, P * sizeof *p2) == 0);
    model_logits(m16, tok, B, T, again);
    CHECK(memcmp(again, l16, (size_t)N * V * sizeof *again) != 0);
    /* ... as a model given p2 from the start computes (not from a stale rounded copy) */
    Model *fresh = model_create(&s16, B, T, false);
    model_set_params(fresh, p2);
    float *want_all = malloc((size_t)N * V * sizeof *want_all);
    model_logits(fresh, tok, B, T, want_all);
    check_arrays_identical("bf16 logits after set_params vs a fresh model", again, want_all, (size_t)N * V);
    free(want_all);
    model_free(fresh);
    model_set_params(m16, p);
    model_logits(m16, tok, B, T, again);
    check_arrays_identical("bf16 logits after set_params back", again, l16, (size_t)N * V);

    /* The cache: one token at a time after a prefix, against the whole forward. */
    float *want = malloc(V * sizeof *want), *got = malloc(V * sizeof *got);
    model_cache_truncate(m16, 0);
    model_cache_extend(m16, tok, 10, got);
    int close = 1, exact = 1;
    for (int n = 11; n <= T; n++) {
        model_cache_extend(m16, tok + n - 1, 1, got);
        model_next_logits(m16, tok, (size_t)n, want);
        close &= rel(got, want, V) < 3e-2;
        exact &= n_bf16_values(got, V) == V;
    }
    CHECK(close);
    CHECK(exact);
    free(want); free(got); free(p2); free(again); free(l16); free(l32); free(p); free(back);
    model_free(m16);
    model_free(m32);
}

static void training_threads_and_reference(bool moe)
{
    uint32_t tok[N], tgt[N];
    float weight[N];
    Rng r = rng_make(9, moe);
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)rng_below(&r, V);
        tgt[i] = (uint32_t)rng_below(&r, V);
        weight[i] = 1.0f / N;
    }
    ModelShape s = shape(moe, true);
    Model *m[3];
    double loss[3];
    float *g[3];
    for (int k = 0; k < 3; k++) { /* 0: reference loops; 1, 2: fast on 1 and 2 threads */
        m[k] = model_create(&s, B, T, true);
        model_init_weights(m[k], 4);
        model_use_reference_kernels(m[k], k == 0 && !moe); /* the MoE reference loops are fp32 only */
        omp_set_num_threads(k == 2 ? 2 : 1);
        model_zero_grads(m[k]);
        loss[k] = model_train_micro(m[k], tok, tgt, weight, B, T);
        g[k] = malloc(model_n_params(m[k]) * sizeof(float));
        model_get_grads(m[k], g[k]);
    }
    const size_t P = model_n_params(m[0]);
    CHECK(loss[1] == loss[2]);
    check_arrays_identical("bf16 grads 1 vs 2 threads", g[1], g[2], P);
    CHECK(isfinite(loss[1]));
    if (!moe) {
        /* The two kernel sets round the same values; they differ by flips where their fp32
         * values straddle a bf16 rounding boundary, so to bf16's precision, not fp32's. */
        CHECK_CLOSE(loss[1], loss[0], 1e-3, 0);
        CHECK(rel(g[1], g[0], P) < 2e-2);
    }
    /* The gradients land on fp32 masters: not all bf16 values. */
    CHECK(n_bf16_values(g[1], P) < (int)(P * 9 / 10));
    for (int k = 0; k < 3; k++) { free(g[k]); model_free(m[k]); }
    omp_set_num_threads(2);
}

int main(void)
{
    logits_and_masters(false);
    logits_and_masters(true);
    training_threads_and_reference(false);
    training_threads_and_reference(true);
    return check_report("test_model_bf16");
}
