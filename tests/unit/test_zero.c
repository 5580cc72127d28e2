/* test_zero.c: ZeRO-1's split (train/zero.h) and the sharded step (model.h
 * model_set_moment_range). The split: the ranges cover the parameters exactly once, in
 * rank order; a cut lands at floor(n (r + 1) / ranks) unless that is strictly inside a
 * whole span, which it leaves by the nearer end (the end on a tie); a whole span is
 * never cut, even when it is larger than a rank's share (ranks then go empty). On a
 * small MoE with Muon (dense matrices and expert stacks whole) and with AdamW (cuts
 * inside tensors): each rank's sharded step, on a model that holds only its range of
 * moments, gives the unsharded step's parameters and moments in that range bit for bit,
 * and leaves the parameters outside it untouched. */
#include "check.h"
#include "base/rng.h"
#include "model/backend.h"
#include "model/model.h"
#include "train/optimizer.h"
#include "train/zero.h"

#include <stdlib.h>
#include <string.h>

/* The ranges tile [0, n) in order, and no whole span is cut. */
static void check_cover(const ZeroSpan *sp, int n_sp, size_t n, const ZeroRange *r, int ranks)
{
    CHECK_EQ_INT(r[0].lo, 0);
    CHECK_EQ_INT(r[ranks - 1].hi, n);
    for (int k = 0; k < ranks; k++) {
        CHECK(r[k].lo <= r[k].hi);
        if (k > 0) CHECK_EQ_INT(r[k].lo, r[k - 1].hi);
    }
    /* every element exactly once */
    unsigned char *seen = calloc(n ? n : 1, 1);
    for (int k = 0; k < ranks; k++)
        for (size_t e = r[k].lo; e < r[k].hi && e < n; e++) seen[e]++;
    size_t once = 0;
    for (size_t e = 0; e < n; e++) once += seen[e] == 1;
    CHECK_EQ_INT(once, n);
    free(seen);
    for (int i = 0; i < n_sp; i++) {
        if (!sp[i].whole || sp[i].numel == 0) continue;
        int owners = 0;
        for (int k = 0; k < ranks; k++) {
            const size_t lo = sp[i].offset > r[k].lo ? sp[i].offset : r[k].lo;
            const size_t end = sp[i].offset + sp[i].numel, hi = end < r[k].hi ? end : r[k].hi;
            if (lo < hi) {
                owners++;
                CHECK(lo == sp[i].offset && hi == end); /* all of it or nothing */
            }
        }
        CHECK_EQ_INT(owners, 1);
    }
}

static void split_synthetic(void)
{
    /* 100 elements: [0,10) AdamW, [10,40) whole, [40,45) AdamW, [45,95) whole, [95,100) gap. */
    const ZeroSpan sp[] = { { 0, 10, false }, { 10, 30, true }, { 40, 5, false }, { 45, 50, true } };
    ZeroRange r[8];
    zero_split(sp, 4, 100, 1, r);
    CHECK(r[0].lo == 0 && r[0].hi == 100);
    /* 2 ranks: the ideal cut 50 is inside [45, 95), 5 from its start: moves to 45. */
    zero_split(sp, 4, 100, 2, r);
    check_cover(sp, 4, 100, r, 2);
    CHECK_EQ_INT(r[0].hi, 45);
    /* 4 ranks: 25 in [10, 40) (15 from the start, 15 to the end: a tie, the end 40);
     * 50 -> 45; 75 in [45, 95) nearer the end (20 vs 30): 95. */
    zero_split(sp, 4, 100, 4, r);
    check_cover(sp, 4, 100, r, 4);
    CHECK_EQ_INT(r[0].hi, 40);
    CHECK_EQ_INT(r[1].hi, 45);
    CHECK_EQ_INT(r[2].hi, 95);
    /* 3 ranks: 33 in [10, 40) (23 vs 7) -> 40; 66 in [45, 95) (21 vs 29) -> 45: rank 1
     * gets the 5 AdamW elements between the two whole spans. */
    zero_split(sp, 4, 100, 3, r);
    check_cover(sp, 4, 100, r, 3);
    CHECK_EQ_INT(r[0].hi, 40);
    CHECK_EQ_INT(r[1].hi, 45);
    /* 8 ranks: ideal cuts 12 25 37 50 62 75 87 -> 10 40 40 45 45 95 95; empty ranks. */
    zero_split(sp, 4, 100, 8, r);
    check_cover(sp, 4, 100, r, 8);
    const size_t want8[8] = { 10, 40, 40, 45, 45, 95, 95, 100 };
    for (int k = 0; k < 8; k++) CHECK_EQ_INT(r[k].hi, want8[k]);
    /* No whole spans: the exact floors, and an odd count. */
    const ZeroSpan plain[] = { { 0, 7, false } };
    zero_split(plain, 1, 7, 3, r);
    check_cover(plain, 1, 7, r, 3);
    CHECK(r[0].hi == 2 && r[1].hi == 4);
    /* One whole span over everything: each cut goes to its nearer end. */
    const ZeroSpan one[] = { { 0, 9, true } };
    zero_split(one, 1, 9, 3, r);
    check_cover(one, 1, 9, r, 3);
    CHECK(r[0].hi == 0 && r[1].hi == 9); /* 3 -> 0, 6 -> 9 */
    /* More ranks than elements. */
    zero_split(plain, 1, 7, 8, r);
    check_cover(plain, 1, 7, r, 8);
}

static void fill(float *x, size_t n, uint64_t seed, float std)
{
    Rng g = rng_make(seed, 11);
    for (size_t i = 0; i < n; i++) x[i] = std * (float)rng_normal(&g);
}

/* ranks sharded models against one unsharded, for one optimizer. */
static void sharded_step(bool muon, int ranks)
{
    ModelShape s = { .vocab_size = 13, .dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                     .inter_dim = 16, .seq_len = 4, .rope_theta = 10000.0, .norm_eps = 1e-5f, .init_std = 0.1f,
                     .n_dense_layers = 1, .n_routed_experts = 4, .n_shared_experts = 1, .n_activated_experts = 2,
                     .moe_inter_dim = 6, .route_scale = 1.0f, .expert_output_gain = 1.0f };
    OptimizerSettings set = { .muon = muon, .muon_experts = true };
    Model *whole = model_create(&s, 1, 4, true);
    const size_t n = model_n_params(whole);
    const int nt = model_n_tensors(whole);
    float *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g), *want = malloc(n * sizeof *want);
    float *got = malloc(n * sizeof *got), *m1 = malloc(n * sizeof *m1), *m2 = malloc(n * sizeof *m2);
    float *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2);
    fill(p0, n, 1, 0.1f);
    TensorRate *rates = calloc((size_t)nt, sizeof *rates);
    ZeroSpan *spans = calloc((size_t)nt, sizeof *spans);
    int n_muon = 0;
    for (int i = 0; i < nt; i++) {
        const ParamTensor *t = model_tensor(whole, i);
        rates[i] = (TensorRate){ .lr = 1e-2, .weight_decay = t->weight_decay ? 0.1 : 0.0, .beta2 = 0.95,
                                 .muon_matrices = optimizer_muon_matrices(&set, &s, t) };
        spans[i] = (ZeroSpan){ t->offset, t->numel, rates[i].muon_matrices > 0 };
        n_muon += rates[i].muon_matrices > 0;
    }
    CHECK(muon ? n_muon > 0 : n_muon == 0);
    ZeroRange *r = calloc((size_t)ranks, sizeof *r);
    zero_split(spans, nt, n, ranks, r);
    check_cover(spans, nt, n, r, ranks);
    /* Two steps, so the moments carry over. */
    model_set_params(whole, p0);
    for (int k = 1; k <= 2; k++) {
        fill(g, n, 100 + (uint64_t)k, 1.0f);
        model_set_grads(whole, g);
        const OptimizerStepArgs a = { .rates = rates, .beta1 = 0.9, .eps = 1e-8, .step = k, .clip_coef = 0.5,
                                      .muon_momentum = 0.95, .muon_update_rms = 0.2, .muon_nesterov = true };
        model_optimizer_step(whole, &a);
    }
    model_get_params(whole, want);
    model_get_moments(whole, m1, m2);
    CHECK_EQ_INT(model_optimizer_state_bytes(whole), 2 * n * sizeof(float));
    size_t state = 0;
    for (int k = 0; k < ranks; k++) {
        Model *part = model_create(&s, 1, 4, true);
        model_set_moment_range(part, r[k].lo, r[k].hi);
        state += model_optimizer_state_bytes(part);
        CHECK_EQ_INT(model_optimizer_state_bytes(part), 2 * (r[k].hi - r[k].lo) * sizeof(float));
        model_set_params(part, p0);
        for (int st = 1; st <= 2; st++) {
            fill(g, n, 100 + (uint64_t)st, 1.0f);
            model_set_grads(part, g);
            const OptimizerStepArgs a = { .rates = rates, .beta1 = 0.9, .eps = 1e-8, .step = st, .clip_coef = 0.5,
                                          .muon_momentum = 0.95, .muon_update_rms = 0.2, .muon_nesterov = true };
            model_optimizer_step(part, &a);
        }
        model_get_params(part, got);
        const size_t len = r[k].hi - r[k].lo;
        CHECK(memcmp(got + r[k].lo, want + r[k].lo, len * sizeof *got) == 0);   /* its range: stepped */
        CHECK(memcmp(got, p0, r[k].lo * sizeof *got) == 0);                     /* the rest: as it was */
        CHECK(memcmp(got + r[k].hi, p0 + r[k].hi, (n - r[k].hi) * sizeof *got) == 0);
        model_get_moments(part, s1, s2); /* from the start of the buffers */
        CHECK(memcmp(s1, m1 + r[k].lo, len * sizeof *s1) == 0);
        CHECK(memcmp(s2, m2 + r[k].lo, len * sizeof *s2) == 0);
        model_free(part);
    }
    CHECK_EQ_INT(state, 2 * n * sizeof(float)); /* the shares add up to the whole */
    model_free(whole);
    free(p0); free(g); free(want); free(got); free(m1); free(m2); free(s1); free(s2);
    free(rates); free(spans); free(r);
}

int main(void)
{
    split_synthetic();
    for (int ranks = 1; ranks <= 5; ranks++) {
        sharded_step(false, ranks);
        sharded_step(true, ranks);
    }
    return check_report("test_zero");
}
