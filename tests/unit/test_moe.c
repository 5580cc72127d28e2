/* test_moe.c: the grouped MoE layer (kernels/cpu/moe.c) against the per-token reference
 * loop (moe_reference.c), forward and backward, for sigmoid and softmax routing, with
 * and without capacity drops and the aux loss; finite-difference gradient checks of both
 * with the top-K choice held fixed; bit-identical results for 1 and 2 threads. */
#include "check.h"
#include "cpu/moe.h"
#include "base/error.h"
#include "base/rng.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

typedef struct {
    MoeConfig cfg;
    int T;
    float *x, *router_w, *bias, *w1, *w3, *w2, *dy;
    MoeParams p;
} Case;

typedef struct {
    float *dx, *router_w, *w1, *w3, *w2;
    MoeGrads g;
} Grads;

static float *randn(Rng *r, size_t n, float scale)
{
    float *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * rng_normal(r);
    return v;
}

static Case case_make(MoeConfig cfg, int T, uint64_t seed)
{
    Case c = { .cfg = cfg, .T = T };
    const size_t D = cfg.dim, E = cfg.n_experts, F = cfg.inter_dim;
    Rng r = rng_make(seed, 0);
    c.x = randn(&r, T * D, 1.0f);
    c.router_w = randn(&r, E * D, 1.0f / sqrtf((float)D));
    c.bias = randn(&r, E, 0.1f);
    c.w1 = randn(&r, E * F * D, 1.0f / sqrtf((float)D));
    c.w3 = randn(&r, E * F * D, 1.0f / sqrtf((float)D));
    c.w2 = randn(&r, E * D * F, 1.0f / sqrtf((float)F));
    c.dy = randn(&r, T * D, 1.0f);
    c.p = (MoeParams){ c.router_w, c.bias, c.w1, c.w3, c.w2 };
    return c;
}

static void case_free(Case *c)
{
    free(c->x); free(c->router_w); free(c->bias); free(c->w1); free(c->w3); free(c->w2); free(c->dy);
}

static Grads grads_make(const MoeConfig *cfg, int T)
{
    const size_t D = cfg->dim, E = cfg->n_experts, F = cfg->inter_dim;
    Grads g;
    g.dx = xcalloc(T * D, sizeof(float));
    g.router_w = xcalloc(E * D, sizeof(float));
    g.w1 = xcalloc(E * F * D, sizeof(float));
    g.w3 = xcalloc(E * F * D, sizeof(float));
    g.w2 = xcalloc(E * D * F, sizeof(float));
    g.g = (MoeGrads){ g.router_w, g.w1, g.w3, g.w2 };
    return g;
}

static void grads_free(Grads *g) { free(g->dx); free(g->router_w); free(g->w1); free(g->w3); free(g->w2); }

/* max |got - want| / max |want|: the error relative to the tensor's scale. */
static double rel_err(const float *got, const float *want, size_t n)
{
    double err = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= err)) err = d; /* NaN sticks */
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
    }
    return scale > 0 ? err / scale : err;
}

static void check_tensor(const char *what, const char *label, const float *got, const float *want,
                         size_t n, double tol)
{
    double e = rel_err(got, want, n);
    check_count++;
    if (!(e <= tol)) {
        check_failures++;
        fprintf(stderr, "%s: %s: relative error %.3g > %.3g\n", label, what, e, tol);
    }
}

static int bits_equal(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* The grouped path and the reference loop agree: routing, y, aux, stats, every gradient.
 * The workspace is used first for a different call so stale state would show. */
static void check_against_reference(const char *label, MoeConfig cfg, int T, uint64_t seed)
{
    Case c = case_make(cfg, T, seed);
    const size_t D = cfg.dim, E = cfg.n_experts, F = cfg.inter_dim, K = cfg.top_k;
    MoeWorkspace *ws = moe_workspace_create(&cfg, T + 7);
    {   /* an unrelated earlier call on the same workspace */
        int T0 = cfg.seq_len > 0 ? cfg.seq_len : T + 7;
        Case c0 = case_make(cfg, T0, seed + 1000);
        Grads g0 = grads_make(&cfg, T0);
        float *y0 = xmalloc((size_t)T0 * D * sizeof *y0);
        moe_forward(ws, &c0.p, c0.x, T0, y0, NULL, 0);
        moe_backward(ws, &c0.p, c0.x, c0.dy, 1.0f, g0.dx, &g0.g);
        free(y0);
        grads_free(&g0);
        case_free(&c0);
    }
    float *y = xmalloc(T * D * sizeof *y), *y_ref = xmalloc(T * D * sizeof *y_ref);
    int32_t *experts_ref = xmalloc(T * K * sizeof *experts_ref);
    float *gates_ref = xmalloc(T * K * sizeof *gates_ref);
    uint8_t *dropped_ref = xmalloc(T * K);
    MoeStats *st = moe_stats_create(cfg.n_experts), *st_ref = moe_stats_create(cfg.n_experts);

    float aux = moe_forward(ws, &c.p, c.x, T, y, st, 0);
    float aux_ref = moe_reference_forward(&cfg, &c.p, c.x, T, NULL, y_ref, experts_ref, gates_ref,
                                          dropped_ref, st_ref);
    CHECK(bits_equal(moe_routing_experts(ws), experts_ref, T * K * sizeof *experts_ref));
    CHECK(bits_equal(moe_routing_dropped(ws), dropped_ref, T * K));
    check_tensor("gates", label, moe_routing_gates(ws), gates_ref, T * K, 1e-6);
    check_tensor("y", label, y, y_ref, T * D, 1e-5);
    CHECK_CLOSE(aux, aux_ref, 1e-5, 1e-9);
    if (cfg.aux_loss_alpha > 0) CHECK(aux > 0);
    for (size_t e = 0; e < E; e++) CHECK_EQ_INT(st->loads[e], st_ref->loads[e]);
    CHECK_EQ_INT(st->dropped, st_ref->dropped);
    CHECK_EQ_INT(st->tokens, T);
    CHECK_EQ_INT(st->assignments, (int64_t)T * K);
    CHECK_CLOSE(st->top1_affinity_sum, st_ref->top1_affinity_sum, 1e-6, 0);
    if (cfg.capacity_factor > 0 && cfg.capacity_factor < 1) CHECK(st->dropped > 0);
    if (cfg.capacity_factor == 0) CHECK_EQ_INT(st->dropped, 0);

    Grads g = grads_make(&cfg, T), gr = grads_make(&cfg, T);
    /* backward adds: start both from the same non-zero gradients */
    for (size_t i = 0; i < E * D; i++) g.router_w[i] = gr.router_w[i] = 0.25f;
    for (size_t i = 0; i < T * D; i++) g.dx[i] = gr.dx[i] = -0.5f;
    const float aux_grad = 0.75f;
    moe_backward(ws, &c.p, c.x, c.dy, aux_grad, g.dx, &g.g);
    moe_reference_backward(&cfg, &c.p, c.x, T, experts_ref, c.dy, aux_grad, gr.dx, &gr.g);
    check_tensor("dx", label, g.dx, gr.dx, T * D, 1e-5);
    check_tensor("d router_w", label, g.router_w, gr.router_w, E * D, 1e-5);
    check_tensor("d w1", label, g.w1, gr.w1, E * F * D, 1e-5);
    check_tensor("d w3", label, g.w3, gr.w3, E * F * D, 1e-5);
    check_tensor("d w2", label, g.w2, gr.w2, E * D * F, 1e-5);
    fprintf(stderr, "%s: y %.2g dx %.2g dWr %.2g dW1 %.2g dW3 %.2g dW2 %.2g (rel err), dropped %lld/%lld\n",
            label, rel_err(y, y_ref, T * D), rel_err(g.dx, gr.dx, T * D),
            rel_err(g.router_w, gr.router_w, E * D), rel_err(g.w1, gr.w1, E * F * D),
            rel_err(g.w3, gr.w3, E * F * D), rel_err(g.w2, gr.w2, E * D * F),
            (long long)st->dropped, (long long)st->assignments);

    grads_free(&g); grads_free(&gr);
    moe_stats_free(st); moe_stats_free(st_ref);
    free(y); free(y_ref); free(experts_ref); free(gates_ref); free(dropped_ref);
    moe_workspace_free(ws);
    case_free(&c);
}

/* Objective for the gradient checks: L = sum y * dy + aux_w * aux, routing held fixed. */
static double objective(MoeWorkspace *ws, const Case *c, float *y, double aux_w, int reference,
                        const int32_t *experts)
{
    float aux = reference ? moe_reference_forward(&c->cfg, &c->p, c->x, c->T, experts, y, NULL, NULL, NULL, NULL)
                          : moe_forward(ws, &c->p, c->x, c->T, y, NULL, MOE_REUSE_ROUTING);
    double L = aux_w * aux;
    for (size_t i = 0; i < (size_t)c->T * c->cfg.dim; i++) L += (double)y[i] * c->dy[i];
    return L;
}

typedef struct {
    const char *name;
    float *param; /* the tensor perturbed */
    const float *grad;
    size_t n;
} Probe;

/* Central differences at `samples` random coordinates of each tensor, compared with the
 * analytic gradient: |fd - g| <= 2e-2 |g| + 2e-3 max|g|. */
static void gradient_check(const char *label, MoeConfig cfg, int T, uint64_t seed, int zero_dy,
                           int reference)
{
    Case c = case_make(cfg, T, seed);
    const size_t D = cfg.dim, E = cfg.n_experts, F = cfg.inter_dim, K = cfg.top_k;
    if (zero_dy) memset(c.dy, 0, T * D * sizeof *c.dy); /* only the aux loss remains */
    MoeWorkspace *ws = moe_workspace_create(&cfg, T);
    float *y = xmalloc(T * D * sizeof *y);
    moe_forward(ws, &c.p, c.x, T, y, NULL, 0); /* choose once; hold it from now on */
    int32_t *experts = xmalloc(T * K * sizeof *experts);
    memcpy(experts, moe_routing_experts(ws), T * K * sizeof *experts);
    const double aux_w = 1.0;
    Grads g = grads_make(&cfg, T);
    if (reference) moe_reference_backward(&cfg, &c.p, c.x, T, experts, c.dy, (float)aux_w, g.dx, &g.g);
    else moe_backward(ws, &c.p, c.x, c.dy, (float)aux_w, g.dx, &g.g);

    Probe probes[] = {
        { "x", c.x, g.dx, T * D },
        { "router_w", c.router_w, g.router_w, E * D },
        { "w1", c.w1, g.w1, E * F * D },
        { "w3", c.w3, g.w3, E * F * D },
        { "w2", c.w2, g.w2, E * D * F },
    };
    Rng r = rng_make(seed, 99);
    /* the aux loss alone is small and flat: a wider step keeps fp32 rounding out of it */
    const float eps = zero_dy ? 3e-2f : 5e-3f;
    for (size_t pi = 0; pi < sizeof probes / sizeof probes[0]; pi++) {
        const Probe *pr = &probes[pi];
        if (zero_dy && pi >= 2) continue; /* experts get no gradient from the aux loss */
        double gmax = 0.0;
        for (size_t i = 0; i < pr->n; i++) gmax = fmax(gmax, fabs(pr->grad[i]));
        CHECK(gmax > 0); /* an all-zero gradient would make the check prove nothing */
        double worst = 0.0;
        for (int s = 0; s < 12; s++) {
            size_t i = (size_t)rng_below(&r, pr->n);
            /* expert weights: prefer coordinates with a gradient (experts that got tokens) */
            for (int tries = 0; tries < 20 && pr->grad[i] == 0.0f; tries++) i = (size_t)rng_below(&r, pr->n);
            const float old = pr->param[i];
            pr->param[i] = old + eps;
            double lp = objective(ws, &c, y, aux_w, reference, experts);
            const float hi = pr->param[i];
            pr->param[i] = old - eps;
            double lm = objective(ws, &c, y, aux_w, reference, experts);
            const float lo = pr->param[i];
            pr->param[i] = old;
            double fd = (lp - lm) / ((double)hi - lo), an = pr->grad[i];
            double err = fabs(fd - an) / (2e-2 * fabs(an) + 2e-3 * gmax);
            if (err > worst) worst = err;
            check_count++;
            if (!(err <= 1.0)) {
                check_failures++;
                fprintf(stderr, "%s: d %s[%zu]: finite difference %.6g, analytic %.6g\n", label, pr->name, i, fd, an);
            }
        }
        fprintf(stderr, "%s: d %s: worst |fd - analytic| at %.2f of the tolerance (max |g| %.3g)\n",
                label, pr->name, worst, gmax);
    }
    grads_free(&g);
    free(y); free(experts);
    moe_workspace_free(ws);
    case_free(&c);
}

/* Forward and backward are bit-identical with 1 and 2 threads (OpenMP and OpenBLAS; the
 * shapes include groups of several row tiles, and products OpenBLAS would split). */
static void check_thread_determinism(MoeConfig cfg, int T, uint64_t seed)
{
    const size_t D = cfg.dim, E = cfg.n_experts, F = cfg.inter_dim;
    Case c = case_make(cfg, T, seed);
    float *y[2];
    Grads g[2];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        openblas_set_num_threads(run + 1);
        MoeWorkspace *ws = moe_workspace_create(&cfg, T);
        y[run] = xmalloc(T * D * sizeof(float));
        g[run] = grads_make(&cfg, T);
        moe_forward(ws, &c.p, c.x, T, y[run], NULL, 0);
        moe_backward(ws, &c.p, c.x, c.dy, 1.0f, g[run].dx, &g[run].g);
        CHECK_EQ_INT(openblas_get_num_threads(), run + 1); /* the op restores OpenBLAS's count */
        moe_workspace_free(ws);
    }
    CHECK(bits_equal(y[0], y[1], T * D * sizeof(float)));
    CHECK(bits_equal(g[0].dx, g[1].dx, T * D * sizeof(float)));
    CHECK(bits_equal(g[0].router_w, g[1].router_w, E * D * sizeof(float)));
    CHECK(bits_equal(g[0].w1, g[1].w1, E * F * D * sizeof(float)));
    CHECK(bits_equal(g[0].w3, g[1].w3, E * F * D * sizeof(float)));
    CHECK(bits_equal(g[0].w2, g[1].w2, E * D * F * sizeof(float)));
    for (int run = 0; run < 2; run++) {
        free(y[run]);
        grads_free(&g[run]);
    }
    case_free(&c);
}

int main(void)
{
    const MoeConfig sig = { .dim = 16, .n_experts = 8, .top_k = 2, .inter_dim = 12,
                            .score = MOE_SCORE_SIGMOID, .route_scale = 2.5f, .output_gain = 0.7f };
    MoeConfig smax = sig;
    smax.score = MOE_SCORE_SOFTMAX;
    MoeConfig sig_drop_aux = sig, smax_drop_aux = smax;
    sig_drop_aux.capacity_factor = smax_drop_aux.capacity_factor = 0.75f;
    sig_drop_aux.aux_loss_alpha = smax_drop_aux.aux_loss_alpha = 0.05f;
    sig_drop_aux.seq_len = 8;
    smax_drop_aux.seq_len = 6;
    MoeConfig sig_aux = sig;
    sig_aux.aux_loss_alpha = 0.3f;
    sig_aux.seq_len = 12;
    MoeConfig smax_aux = sig_aux;
    smax_aux.score = MOE_SCORE_SOFTMAX;
    MoeConfig top1 = sig; /* K = 1, sigmoid: the gate is route_scale, no router gradient */
    top1.n_experts = 4;
    top1.top_k = 1;
    MoeConfig all = smax; /* K = E */
    all.n_experts = 3;
    all.top_k = 3;
    MoeConfig big = { .dim = 32, .n_experts = 16, .top_k = 4, .inter_dim = 24, .score = MOE_SCORE_SIGMOID,
                      .route_scale = 1.0f, .output_gain = 1.0f, .capacity_factor = 1.0f,
                      .aux_loss_alpha = 0.01f, .seq_len = 50 };

    check_against_reference("sigmoid", sig, 24, 1);
    check_against_reference("softmax", smax, 24, 2);
    check_against_reference("sigmoid+drops+aux", sig_drop_aux, 24, 3);
    check_against_reference("softmax+drops+aux", smax_drop_aux, 24, 4);
    check_against_reference("sigmoid top1", top1, 10, 5);
    check_against_reference("softmax K=E", all, 9, 6);
    check_against_reference("sigmoid big", big, 200, 7);
    MoeConfig grouped = big; /* group-limited routing: 4 groups of 4, 2 kept */
    grouped.n_groups = 4;
    grouped.topk_groups = 2;
    check_against_reference("sigmoid big, groups 4/2", grouped, 200, 8);
    MoeConfig smax_grouped = smax_drop_aux; /* 2 groups of 4, 1 kept */
    smax_grouped.n_groups = 2;
    smax_grouped.topk_groups = 1;
    check_against_reference("softmax+drops+aux, groups 2/1", smax_grouped, 24, 9);

    /* gradient checks, routing held fixed (MOE_REUSE_ROUTING / experts_given) */
    gradient_check("fd sigmoid", sig, 24, 11, 0, 0);
    gradient_check("fd softmax", smax, 24, 12, 0, 0);
    gradient_check("fd sigmoid+drops+aux", sig_drop_aux, 24, 13, 0, 0);
    gradient_check("fd softmax+drops+aux", smax_drop_aux, 24, 14, 0, 0);
    gradient_check("fd sigmoid aux only", sig_aux, 24, 15, 1, 0);
    gradient_check("fd softmax aux only", smax_aux, 24, 16, 1, 0);
    gradient_check("fd softmax K=E", all, 9, 17, 0, 0);
    gradient_check("fd reference sigmoid+drops+aux", sig_drop_aux, 24, 18, 0, 1);
    gradient_check("fd reference softmax+drops+aux", smax_drop_aux, 24, 19, 0, 1);
    gradient_check("fd softmax+drops+aux, groups 2/1", smax_grouped, 24, 25, 0, 0);

    /* K = 1 with sigmoid: the normalized gate is constant, so the router gets nothing */
    {
        Case c = case_make(top1, 10, 20);
        MoeWorkspace *ws = moe_workspace_create(&top1, 10);
        Grads g = grads_make(&top1, 10);
        float *y = xmalloc(10 * top1.dim * sizeof *y);
        moe_forward(ws, &c.p, c.x, 10, y, NULL, 0);
        for (int t = 0; t < 10; t++) CHECK(moe_routing_gates(ws)[t] == top1.route_scale);
        moe_backward(ws, &c.p, c.x, c.dy, 1.0f, g.dx, &g.g);
        CHECK(moe_router_grad_norm(g.router_w, top1.n_experts, top1.dim) == 0.0);
        free(y);
        grads_free(&g);
        moe_workspace_free(ws);
        case_free(&c);
    }

    MoeConfig det = big;
    det.capacity_factor = 0;
    check_thread_determinism(det, 250, 21);
    check_thread_determinism(big, 200, 22);
    check_thread_determinism(grouped, 200, 24);
    MoeConfig wide = { .dim = 128, .n_experts = 4, .top_k = 2, .inter_dim = 160, .score = MOE_SCORE_SOFTMAX,
                       .route_scale = 1.0f, .output_gain = 1.0f, .aux_loss_alpha = 0.01f, .seq_len = 256 };
    check_thread_determinism(wide, 1024, 23);
    return check_report("test_moe");
}
