/* test_moe_routing.c: the discrete and bookkeeping side of the MoE layer, with
 * hand-computed expectations: tie-breaking of the top-K choice, capacity drops in token
 * order, the loads / dropped / top-1 telemetry, the aux loss value, the aux-loss-free
 * bias update and its variants, group-limited routing, and config validation. */
#include "check.h"
#include "cpu/moe.h"
#include "cpu/moe_route.h"
#include "base/rng.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>

/* A layer whose logits are the input itself: D = E, router_w = identity, so each token's
 * x row is its logits vector and the routing can be set up by hand. */
typedef struct {
    MoeConfig cfg;
    float *router_w, *bias, *w1, *w3, *w2;
    MoeParams p;
    MoeWorkspace *ws;
} IdLayer;

static IdLayer id_layer(MoeConfig cfg, int max_tokens)
{
    IdLayer L = { .cfg = cfg };
    const size_t E = cfg.n_experts, D = cfg.dim, F = cfg.inter_dim;
    L.router_w = xcalloc(E * D, sizeof(float));
    for (size_t i = 0; i < E; i++) L.router_w[i * D + i] = 1.0f;
    L.bias = xcalloc(E, sizeof(float));
    L.w1 = xcalloc(E * F * D, sizeof(float));
    L.w3 = xcalloc(E * F * D, sizeof(float));
    L.w2 = xcalloc(E * D * F, sizeof(float));
    for (size_t i = 0; i < E * F * D; i++) L.w1[i] = L.w3[i] = L.w2[i] = 0.01f * (float)(i % 7);
    L.p = (MoeParams){ L.router_w, L.bias, L.w1, L.w3, L.w2 };
    L.ws = moe_workspace_create(&cfg, max_tokens);
    return L;
}

static void id_layer_free(IdLayer *L)
{
    free(L->router_w); free(L->bias); free(L->w1); free(L->w3); free(L->w2);
    moe_workspace_free(L->ws);
}

static void check_row(const int32_t *got, const int32_t *want, int K)
{
    for (int k = 0; k < K; k++) CHECK_EQ_INT(got[k], want[k]);
}

static void test_ties(void)
{
    const MoeConfig cfg = { .dim = 5, .n_experts = 5, .top_k = 3, .inter_dim = 2,
                            .score = MOE_SCORE_SIGMOID, .route_scale = 1, .output_gain = 1 };
    IdLayer L = id_layer(cfg, 4);
    float x[4 * 5] = {
        0, 0, 0, 0, 0,        /* all equal: 0, 1, 2 */
        1, 2, 2, 0, 2,        /* 2-way... 3-way tie at the top: 1, 2, 4 */
        3, 1, 1, 1, 1,        /* a clear first, then a tie: 0, 1, 2 */
        -1, -1, 5, -1, -1,    /* 2, then the tie: 0, 1 */
    };
    float y[4 * 5];
    moe_forward(L.ws, &L.p, x, 4, y, NULL, 0);
    const int32_t *ex = moe_routing_experts(L.ws);
    check_row(ex + 0, (const int32_t[]){ 0, 1, 2 }, 3);
    check_row(ex + 3, (const int32_t[]){ 1, 2, 4 }, 3);
    check_row(ex + 6, (const int32_t[]){ 0, 1, 2 }, 3);
    check_row(ex + 9, (const int32_t[]){ 2, 0, 1 }, 3);
    int32_t ref[12], first[12];
    moe_reference_forward(&cfg, &L.p, x, 4, NULL, y, ref, NULL, NULL, NULL);
    for (int i = 0; i < 12; i++) CHECK_EQ_INT(ref[i], ex[i]);
    memcpy(first, ex, sizeof first); /* the next forward reuses the workspace */

    /* Ties made by the bias: s equal (x = 0), b = {0, .5, .5, 0, .5} -> 1, 2, 4; the
     * gates ignore b and stay equal (1/3 each). */
    const float b[5] = { 0, 0.5f, 0.5f, 0, 0.5f };
    memcpy(L.bias, b, sizeof b);
    moe_forward(L.ws, &L.p, x, 1, y, NULL, 0);
    check_row(moe_routing_experts(L.ws), (const int32_t[]){ 1, 2, 4 }, 3);
    for (int k = 0; k < 3; k++) CHECK_CLOSE(moe_routing_gates(L.ws)[k], 1.0 / 3, 1e-6, 0);

    /* Softmax ties the same way. */
    MoeConfig sm = cfg;
    sm.score = MOE_SCORE_SOFTMAX;
    IdLayer S = id_layer(sm, 4);
    moe_forward(S.ws, &S.p, x, 4, y, NULL, 0);
    for (int i = 0; i < 12; i++) CHECK_EQ_INT(moe_routing_experts(S.ws)[i], first[i]);

    /* A NaN input never yields an invalid or repeated expert. */
    float xn[5] = { NAN, NAN, NAN, NAN, NAN };
    moe_forward(S.ws, &S.p, xn, 1, y, NULL, 0);
    const int32_t *en = moe_routing_experts(S.ws);
    for (int k = 0; k < 3; k++) {
        CHECK(en[k] >= 0 && en[k] < 5);
        for (int j = 0; j < k; j++) CHECK(en[j] != en[k]);
    }
    id_layer_free(&S);
    id_layer_free(&L);
}

/* Capacity drops and the telemetry, by hand: E = 4, K = 1, 6 tokens choosing experts
 * 0 0 0 1 2 0; cf = 1 -> capacity ceil(6 * 1 / 4) = 2, so expert 0 serves tokens 0, 1
 * and drops tokens 2 and 5 (token order). */
static void test_drops_and_telemetry(void)
{
    MoeConfig cfg = { .dim = 4, .n_experts = 4, .top_k = 1, .inter_dim = 3, .score = MOE_SCORE_SIGMOID,
                      .route_scale = 1, .output_gain = 1, .capacity_factor = 1.0f };
    IdLayer L = id_layer(cfg, 6);
    float x[6 * 4] = { 0 };
    const int choice[6] = { 0, 0, 0, 1, 2, 0 };
    const float top[6] = { 2.0f, 1.0f, 3.0f, 0.5f, 1.5f, 2.5f };
    for (int t = 0; t < 6; t++) x[t * 4 + choice[t]] = top[t];
    float y[6 * 4];
    MoeStats *st = moe_stats_create(4);
    moe_forward(L.ws, &L.p, x, 6, y, st, 0);
    const uint8_t want_drop[6] = { 0, 0, 1, 0, 0, 1 };
    for (int t = 0; t < 6; t++) {
        CHECK_EQ_INT(moe_routing_experts(L.ws)[t], choice[t]);
        CHECK_EQ_INT(moe_routing_dropped(L.ws)[t], want_drop[t]);
    }
    const uint64_t want_loads[4] = { 4, 1, 1, 0 };
    for (int e = 0; e < 4; e++) CHECK_EQ_INT(st->loads[e], want_loads[e]);
    CHECK_EQ_INT(st->dropped, 2);
    CHECK_EQ_INT(st->tokens, 6);
    CHECK_EQ_INT(st->assignments, 6);
    double top1 = 0;
    for (int t = 0; t < 6; t++) top1 += 1.0 / (1.0 + exp(-top[t]));
    CHECK_CLOSE(st->top1_affinity_sum, top1, 1e-6, 0);
    /* a dropped token's output is zero; a kept one's is not */
    for (int d = 0; d < 4; d++) {
        CHECK(y[2 * 4 + d] == 0.0f);
        CHECK(y[5 * 4 + d] == 0.0f);
    }
    CHECK(y[0] != 0.0f || y[1] != 0.0f || y[2] != 0.0f || y[3] != 0.0f);

    /* Stats accumulate over calls until reset; a NULL stats leaves them alone. */
    moe_forward(L.ws, &L.p, x, 6, y, st, 0);
    moe_forward(L.ws, &L.p, x, 6, y, NULL, 0);
    CHECK_EQ_INT(st->loads[0], 8);
    CHECK_EQ_INT(st->dropped, 4);
    CHECK_EQ_INT(st->tokens, 12);
    MoeStats *win = moe_stats_create(4);
    moe_stats_add(win, st);
    moe_stats_add(win, st);
    CHECK_EQ_INT(win->loads[0], 16);
    CHECK_EQ_INT(win->loads[3], 0);
    CHECK_EQ_INT(win->tokens, 24);
    CHECK_CLOSE(win->top1_affinity_sum, 4 * top1, 1e-6, 0);
    moe_stats_reset(st);
    CHECK_EQ_INT(st->loads[0], 0);
    CHECK_EQ_INT(st->tokens + st->dropped + st->assignments, 0);
    CHECK(st->top1_affinity_sum == 0.0);

    /* Dropless: nothing dropped even with everything on one expert. */
    MoeConfig dl = cfg;
    dl.capacity_factor = 0;
    IdLayer M = id_layer(dl, 6);
    moe_stats_reset(st);
    moe_forward(M.ws, &M.p, x, 6, y, st, 0);
    CHECK_EQ_INT(st->dropped, 0);
    CHECK_EQ_INT(st->loads[0], 4);
    moe_stats_free(st);
    moe_stats_free(win);
    id_layer_free(&M);
    id_layer_free(&L);
}

/* Aux loss by hand (softmax, E = 2, K = 1, one sequence of 4): logits (ln 3, 0) give
 * s = (3/4, 1/4). Tokens choose 0, 1, 0, 0: c = (3, 1), f = E/(K S) c = (1.5, 0.5),
 * P = mean s = (0.625, 0.375), sum f P = 1.125. Two sequences of 2 (S = 2): sequence 1
 * (0, 1): f = (1, 1), P = (.5, .5) -> 1; sequence 2 (0, 0): f = (2, 0), P = (.75, .25)
 * -> 1.5; mean 1.25. */
static void test_aux_value(void)
{
    MoeConfig cfg = { .dim = 2, .n_experts = 2, .top_k = 1, .inter_dim = 2, .score = MOE_SCORE_SOFTMAX,
                      .route_scale = 1, .output_gain = 1, .aux_loss_alpha = 0.01f, .seq_len = 0 };
    IdLayer L = id_layer(cfg, 4);
    const float l3 = logf(3.0f);
    float x[8] = { l3, 0, 0, l3, l3, 0, l3, 0 };
    float y[8];
    CHECK_CLOSE(moe_forward(L.ws, &L.p, x, 4, y, NULL, 0), 0.01 * 1.125, 1e-5, 0);
    cfg.seq_len = 2;
    IdLayer L2 = id_layer(cfg, 4);
    CHECK_CLOSE(moe_forward(L2.ws, &L2.p, x, 4, y, NULL, 0), 0.01 * 1.25, 1e-5, 0);
    /* alpha = 0: no aux loss */
    cfg.aux_loss_alpha = 0;
    IdLayer L0 = id_layer(cfg, 4);
    CHECK(moe_forward(L0.ws, &L0.p, x, 4, y, NULL, 0) == 0.0f);
    id_layer_free(&L);
    id_layer_free(&L2);
    id_layer_free(&L0);
}

static void check_bias(const float *got, const float *want, int E)
{
    for (int i = 0; i < E; i++) CHECK_CLOSE(got[i], want[i], 0, 1e-7);
}

static void test_bias_update(void)
{
    /* loads (10, 2, 4, 4): mean 5, signs (-1, +1, +1, +1) */
    const uint64_t loads[4] = { 10, 2, 4, 4 };
    float b[4] = { 0 };
    moe_bias_update(b, 4, loads, &(MoeBiasUpdate){ .rate = 0.1f }, 1.0f);
    check_bias(b, (const float[]){ -0.1f, 0.1f, 0.1f, 0.1f }, 4);
    /* the multiplier (lr schedule) scales the step */
    moe_bias_update(b, 4, loads, &(MoeBiasUpdate){ .rate = 0.1f }, 0.5f);
    check_bias(b, (const float[]){ -0.15f, 0.15f, 0.15f, 0.15f }, 4);
    /* centred: mean sign 0.5 is subtracted, so the step sums to zero */
    float c[4] = { 0 };
    moe_bias_update(c, 4, loads, &(MoeBiasUpdate){ .rate = 0.1f, .subtract_mean = 1 }, 1.0f);
    check_bias(c, (const float[]){ -0.15f, 0.05f, 0.05f, 0.05f }, 4);
    CHECK_CLOSE(c[0] + c[1] + c[2] + c[3], 0.0, 0, 1e-7);
    /* clamp at 0.12 */
    float d[4] = { 0.1f, -0.1f, 0.0f, 0.2f };
    moe_bias_update(d, 4, loads, &(MoeBiasUpdate){ .rate = 0.1f, .max_abs = 0.12f }, 1.0f);
    check_bias(d, (const float[]){ 0.0f, 0.0f, 0.1f, 0.12f }, 4);
    float d2[4] = { -0.05f, 0, 0, 0 };
    moe_bias_update(d2, 4, loads, &(MoeBiasUpdate){ .rate = 0.1f, .max_abs = 0.12f }, 1.0f);
    check_bias(d2, (const float[]){ -0.12f, 0.1f, 0.1f, 0.1f }, 4);
    /* sign(0) = 0: loads (5, 5, 3, 7), mean 5 exactly */
    float e[4] = { 0 };
    moe_bias_update(e, 4, (const uint64_t[]){ 5, 5, 3, 7 }, &(MoeBiasUpdate){ .rate = 1.0f }, 1.0f);
    check_bias(e, (const float[]){ 0, 0, 1, -1 }, 4);
    /* a fractional mean (1.5): signs (+1, -1) */
    float f[2] = { 0 };
    moe_bias_update(f, 2, (const uint64_t[]){ 1, 2 }, &(MoeBiasUpdate){ .rate = 0.25f }, 1.0f);
    check_bias(f, (const float[]){ 0.25f, -0.25f }, 2);
    /* a mean that is not exact in binary (10/3): loads (3, 3, 4) -> (+1, +1, -1) */
    float h[3] = { 0 };
    moe_bias_update(h, 3, (const uint64_t[]){ 3, 3, 4 }, &(MoeBiasUpdate){ .rate = 1.0f, .subtract_mean = 1 }, 1.0f);
    check_bias(h, (const float[]){ 2.0f / 3, 2.0f / 3, -4.0f / 3 }, 3);
    /* no tokens: nothing moves */
    float z[3] = { 0.3f, -0.2f, 0.1f };
    moe_bias_update(z, 3, (const uint64_t[]){ 0, 0, 0 }, &(MoeBiasUpdate){ .rate = 1.0f, .subtract_mean = 1 }, 1.0f);
    check_bias(z, (const float[]){ 0.3f, -0.2f, 0.1f }, 3);

    /* Closed loop: the bias update steers a skewed router towards balance. Expert 0's
     * logit is high for every token; after some steps its load falls to the mean. */
    MoeConfig cfg = { .dim = 4, .n_experts = 4, .top_k = 1, .inter_dim = 2, .score = MOE_SCORE_SIGMOID,
                      .route_scale = 1, .output_gain = 1 };
    IdLayer L = id_layer(cfg, 64);
    float x[64 * 4], y[64 * 4];
    for (int t = 0; t < 64; t++)
        for (int i = 0; i < 4; i++) x[t * 4 + i] = (i == 0 ? 1.0f : 0.0f) + 0.5f * sinf((float)(t * 4 + i));
    MoeStats *st = moe_stats_create(4);
    moe_forward(L.ws, &L.p, x, 64, y, st, 0);
    const uint64_t first0 = st->loads[0];
    for (int step = 0; step < 200; step++) {
        moe_stats_reset(st);
        moe_forward(L.ws, &L.p, x, 64, y, st, 0);
        moe_bias_update(L.bias, 4, st->loads, &(MoeBiasUpdate){ .rate = 0.01f, .subtract_mean = 1 }, 1.0f);
    }
    CHECK(first0 > 40);
    CHECK(st->loads[0] <= 24);
    for (int i = 0; i < 4; i++) CHECK(st->loads[i] >= 8);
    fprintf(stderr, "closed loop: expert 0 load %lld/64 -> %lld/64\n", (long long)first0, (long long)st->loads[0]);
    moe_stats_free(st);
    id_layer_free(&L);

    /* router gradient norm */
    const float g[6] = { 3, 0, 0, 4, 0, 0 };
    CHECK(moe_router_grad_norm(g, 2, 3) == 5.0);
}

/* Group-limited routing on hand-built scores (exact dyadic values, so the sums are
 * exact and the ties real): the group scores are top-2 sums of s + b, the best M groups
 * kept with ties to the lower group, the rest masked, then top-K inside. */
static void test_group_limit(void)
{
    enum { E = 8, G = 4, M = 2, K = 3 };
    float gs[2 * G], keys[2 * E];
    int32_t kept[2 * M], ex[2 * K];
    /* row 0, no bias: group scores {0.25, 0.75, 1.0, 0.75}: group 2, then the tie of
     * groups 1 and 3 goes to 1. Experts 2..5 remain: 2 (.75), then 4 and 5 (.5 each).
     * Ungrouped, 6 (.5) would tie them and lose only on index; see row 1 for a change.
     * row 1: s = 0.5 everywhere, so the group scores come from the bias. */
    const float s[2 * E] = { 0.125f, 0.125f, 0.75f, 0, 0.5f, 0.5f, 0.5f, 0.25f,
                             0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f };
    moe_route_group_limit(s, NULL, 1, E, G, M, gs, kept, keys);
    CHECK(gs[0] == 0.25f && gs[1] == 0.75f && gs[2] == 1.0f && gs[3] == 0.75f);
    CHECK_EQ_INT(kept[0], 2);
    CHECK_EQ_INT(kept[1], 1);
    for (int i = 0; i < E; i++) CHECK(i >= 2 && i <= 5 ? keys[i] == s[i] : keys[i] == -INFINITY);
    moe_route_topk(keys, NULL, 1, E, K, ex);
    check_row(ex, (const int32_t[]){ 2, 4, 5 }, K);
    /* With the bias: keys s + b = {1, 0, .75, .75, .5, .5, .875, .5}, group scores
     * {1.0, 1.5, 1.0, 1.375}: groups 1 and 3 are kept, so expert 0, the best single
     * key, is masked: the choice is 6, 2, 3 (ungrouped it would be 0, 6, 2). */
    const float b[E] = { 0.5f, -0.5f, 0.25f, 0.25f, 0, 0, 0.375f, 0 };
    moe_route_group_limit(s + E, b, 1, E, G, M, gs, kept, keys);
    CHECK(gs[0] == 1.0f && gs[1] == 1.5f && gs[2] == 1.0f && gs[3] == 1.375f);
    CHECK_EQ_INT(kept[0], 1);
    CHECK_EQ_INT(kept[1], 3);
    CHECK(keys[0] == -INFINITY && keys[1] == -INFINITY && keys[4] == -INFINITY && keys[5] == -INFINITY);
    CHECK(keys[6] == 0.875f && keys[2] == 0.75f);
    moe_route_topk(keys, NULL, 1, E, K, ex);
    check_row(ex, (const int32_t[]){ 6, 2, 3 }, K);
    moe_route_topk(s + E, b, 1, E, K, ex);
    check_row(ex, (const int32_t[]){ 0, 6, 2 }, K);

    /* Groups of one expert: the group score is the single s + b; ties to the lower. */
    const float s1[4] = { 0.25f, 0.75f, 0.5f, 0.75f };
    moe_route_group_limit(s1, NULL, 1, 4, 4, 2, gs, kept, keys);
    CHECK(gs[0] == 0.25f && gs[1] == 0.75f && gs[2] == 0.5f && gs[3] == 0.75f);
    CHECK_EQ_INT(kept[0], 1);
    CHECK_EQ_INT(kept[1], 3);

    /* Through the layer (s = sigmoid(x), monotone): the same choice as row 1, via the
     * bias, from moe_forward and from the per-token reference. */
    MoeConfig cfg = { .dim = E, .n_experts = E, .top_k = K, .inter_dim = 2, .score = MOE_SCORE_SIGMOID,
                      .route_scale = 1, .output_gain = 1, .n_groups = G, .topk_groups = M };
    IdLayer L = id_layer(cfg, 64);
    memcpy(L.bias, b, sizeof b);
    float x[64 * E], y[64 * E];
    memset(x, 0, sizeof x);
    moe_forward(L.ws, &L.p, x, 1, y, NULL, 0);
    check_row(moe_routing_experts(L.ws), (const int32_t[]){ 6, 2, 3 }, K);
    int32_t ref[64 * K];
    moe_reference_forward(&cfg, &L.p, x, 1, NULL, y, ref, NULL, NULL, NULL);
    check_row(ref, (const int32_t[]){ 6, 2, 3 }, K);

    /* Random rows: the grouped path and the reference agree, every choice lies in the
     * kept groups, and the loads count the choices. */
    Rng r = rng_make(7, 0);
    for (int i = 0; i < 64 * E; i++) x[i] = rng_normal(&r);
    for (int i = 0; i < E; i++) L.bias[i] = 0.1f * rng_normal(&r);
    MoeStats *st = moe_stats_create(E);
    moe_forward(L.ws, &L.p, x, 64, y, st, 0);
    moe_reference_forward(&cfg, &L.p, x, 64, NULL, y, ref, NULL, NULL, NULL);
    const int32_t *got = moe_routing_experts(L.ws);
    int64_t total = 0, outside = 0;
    for (int i = 0; i < 64 * K; i++) CHECK_EQ_INT(got[i], ref[i]);
    float sg[64 * E];
    moe_route_scores(MOE_SCORE_SIGMOID, x, 64, E, sg);
    float gsr[64 * G], keyr[64 * E];
    int32_t keptr[64 * M];
    moe_route_group_limit(sg, L.bias, 64, E, G, M, gsr, keptr, keyr);
    for (int t = 0; t < 64; t++)
        for (int k = 0; k < K; k++) {
            int g = got[t * K + k] / (E / G);
            outside += g != keptr[t * M] && g != keptr[t * M + 1];
        }
    for (int i = 0; i < E; i++) total += (int64_t)st->loads[i];
    CHECK_EQ_INT(outside, 0);
    CHECK_EQ_INT(total, 64 * K);
    moe_stats_free(st);
    id_layer_free(&L);
}

static void test_config_check(void)
{
    const MoeConfig ok = { .dim = 8, .n_experts = 4, .top_k = 2, .inter_dim = 8, .score = MOE_SCORE_SIGMOID,
                           .route_scale = 1, .output_gain = 1 };
    CHECK(moe_config_check(&ok) == NULL);
    MoeConfig c = ok;
    c.top_k = 5;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "n_activated_experts"));
    c = ok;
    c.top_k = 0;
    CHECK(moe_config_check(&c) != NULL);
    c = ok;
    c.capacity_factor = -1;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "capacity_factor"));
    c = ok;
    c.route_scale = 0;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "route_scale"));
    c = ok;
    c.aux_loss_alpha = NAN;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "aux_loss_alpha"));
    c = ok;
    c.score = (MoeScore)7;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "router_score"));
    c = ok;
    c.inter_dim = 0;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "moe_inter_dim"));
    c = ok;
    c.n_groups = 3; /* 4 experts */
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "n_expert_groups"));
    c.n_groups = 2;
    c.topk_groups = 3;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "n_limited_groups"));
    c.topk_groups = 0;
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "n_limited_groups"));
    c.n_groups = 4;
    c.topk_groups = 1; /* one group of one expert, K = 2 */
    CHECK(moe_config_check(&c) && strstr(moe_config_check(&c), "n_limited_groups"));
    c.topk_groups = 2;
    CHECK(moe_config_check(&c) == NULL);
}

int main(void)
{
    test_ties();
    test_drops_and_telemetry();
    test_aux_value();
    test_bias_update();
    test_group_limit();
    test_config_check();
    return check_report("test_moe_routing");
}
