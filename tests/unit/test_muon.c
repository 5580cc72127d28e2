/* test_muon.c: Muon (kernels/cpu/muon.h). Newton-Schulz on the fast path (the fixed
 * sgemm grid) against the plain reference loop and against the same iteration in
 * double; a whole Muon step of an expert stack (momentum, Nesterov, the transpose of a
 * tall matrix, the update-RMS scale, decoupled decay) against a double computation of
 * muon.h's formulas; the fast path bit-identical whatever the number of work buffers
 * (threads); the update RMS near muon_update_rms; and on a model, which tensors the
 * optimizer hands Muon and the per-group warmup.
 *
 * Tolerances. Each product of an iteration has a normwise rounding error of at most
 * K u (u = 2^-24 the fp32 unit roundoff, K the reduction length), and an iteration, as a
 * map of X, amplifies an input error by at most L = 4 (the quintic's largest slope on
 * [0, 1.2], where the singular values stay: p'(0) = 3.44, p'(1.2) = 3.9). So after 5
 * iterations two fp32 evaluations in different orders, or one against exact arithmetic,
 * differ normwise by at most 3 K u (1 + L + ... + L^4) = 3 K u 341, relative to ||X|| ~
 * sqrt(n). A wrong coefficient, a missing transpose or normalisation is O(1). */
#include "check.h"
#include "cpu/muon.h"
#include "base/rng.h"
#include "model/model.h"
#include "train/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

static const double U = 5.96e-8; /* 2^-24 */

static double ns_tol(int m) { return 3.0 * m * U * 341.0; }

static void fill_normal(float *x, size_t n, uint64_t seed, float std)
{
    Rng r = rng_make(seed, 7);
    for (size_t i = 0; i < n; i++) x[i] = std * (float)rng_normal(&r);
}

static double rel_err_f(const float *a, const double *b, size_t n)
{
    double d = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += b[i] * b[i];
    }
    return sqrt(d / (nb > 0 ? nb : 1));
}

/* The iteration of muon.h in double (X normalized already). */
static void ns_double(double *x, int n, int m)
{
    double *A = calloc((size_t)n * n, 8), *B = calloc((size_t)n * n, 8), *Y = calloc((size_t)n * m, 8);
    for (int it = 0; it < MUON_NS_STEPS; it++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < m; k++) s += x[(size_t)i * m + k] * x[(size_t)j * m + k];
                A[(size_t)i * n + j] = s;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += A[(size_t)i * n + k] * A[(size_t)k * n + j];
                B[(size_t)i * n + j] = -4.7750 * A[(size_t)i * n + j] + 2.0315 * s;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += B[(size_t)i * n + k] * x[(size_t)k * m + j];
                Y[(size_t)i * m + j] = s;
            }
        for (size_t e = 0; e < (size_t)n * m; e++) x[e] = 3.4445 * x[e] + Y[e];
    }
    free(A); free(B); free(Y);
}

static void newton_schulz(int n, int m, uint64_t seed)
{
    const size_t nm = (size_t)n * m;
    float *x = malloc(nm * 4), *xr = malloc(nm * 4), *work = malloc(muon_work_floats(n, m) * 4);
    double *xd = malloc(nm * 8);
    fill_normal(x, nm, seed, 1.0f);
    double ss = 0;
    for (size_t e = 0; e < nm; e++) ss += (double)x[e] * x[e];
    for (size_t e = 0; e < nm; e++) {
        x[e] = (float)(x[e] / sqrt(ss));
        xd[e] = x[e];
    }
    memcpy(xr, x, nm * 4);
    GemmScratch s = { NULL, muon_gemm_scratch_floats(n, m) };
    s.buf = s.n_floats ? malloc(s.n_floats * 4) : NULL;
    muon_newton_schulz(x, n, m, work, &s);
    muon_newton_schulz_ref(xr, n, m, work);
    ns_double(xd, n, m);
    const double tol = ns_tol(m);
    double e_fast = rel_err_f(x, xd, nm), e_ref = rel_err_f(xr, xd, nm);
    fprintf(stderr, "newton-schulz %dx%d: fast %.3g, reference %.3g vs double (tolerance %.3g)\n", n, m, e_fast, e_ref, tol);
    CHECK(e_fast <= tol);
    CHECK(e_ref <= tol);
    /* The result is near-orthogonal: X X^T's diagonal (squared row norms, sums of the
     * squared singular values' shares) stays within Keller Jordan's (0.5, 1.5)^2 band on average. */
    double diag = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m; k++) diag += xd[(size_t)i * m + k] * xd[(size_t)i * m + k];
    diag /= n;
    CHECK(diag > 0.25 && diag < 2.25);
    free(x); free(xr); free(work); free(xd); free(s.buf);
}

/* A whole step of a stack of n_mats matrices of rows x cols, in double, muon.h's formulas. */
static void muon_step_double(double *p, const float *g, double *buf, int n_mats, int rows, int cols, double lr,
                             double wd, double mom, bool nesterov, double rms, double gscale)
{
    const bool tr = rows > cols;
    const int n = tr ? cols : rows, m = tr ? rows : cols;
    const size_t per = (size_t)rows * cols;
    double *x = malloc(per * 8);
    for (int e = 0; e < n_mats; e++) {
        double ss = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                const size_t i = e * per + (size_t)r * cols + c;
                const double gi = g[i] * gscale;
                buf[i] = mom * buf[i] + (1 - mom) * gi;
                const double u = nesterov ? mom * buf[i] + (1 - mom) * gi : buf[i];
                x[tr ? (size_t)c * m + r : (size_t)r * cols + c] = u;
                ss += u * u;
            }
        for (size_t k = 0; k < per; k++) x[k] /= sqrt(ss) + 1e-7;
        ns_double(x, n, m);
        const double step = lr * rms * sqrt((double)(rows > cols ? rows : cols));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                const size_t i = e * per + (size_t)r * cols + c;
                p[i] = p[i] * (1 - lr * wd) - step * x[tr ? (size_t)c * m + r : (size_t)r * cols + c];
            }
    }
    free(x);
}

static void muon_step(int n_mats, int rows, int cols, bool nesterov)
{
    const size_t n = (size_t)n_mats * rows * cols;
    float *p = malloc(n * 4), *g = malloc(n * 4), *buf = calloc(n, 4), *p2 = malloc(n * 4), *buf2 = calloc(n, 4);
    float *p3 = malloc(n * 4), *buf3 = calloc(n, 4);
    double *pd = malloc(n * 8), *bd = calloc(n, 8);
    fill_normal(p, n, 11, 0.05f);
    for (size_t i = 0; i < n; i++) pd[i] = p[i];
    memcpy(p2, p, n * 4);
    memcpy(p3, p, n * 4);
    const double lr = 0.02, wd = 0.1, mom = 0.95, rms = 0.2, gscale = 0.7;
    enum { W = 3 };
    float *work[W];
    GemmScratch s[W];
    for (int w = 0; w < W; w++) {
        work[w] = malloc(muon_work_floats(rows, cols) * 4);
        s[w].n_floats = muon_gemm_scratch_floats(rows, cols);
        s[w].buf = s[w].n_floats ? malloc(s[w].n_floats * 4) : NULL;
    }
    MuonScalars a = muon_scalars(lr, wd, mom, nesterov, rms, gscale);
    double max_rms_dev = 0;
    for (int step = 0; step < 3; step++) {
        fill_normal(g, n, 100 + (uint64_t)step, 1e-2f);
        float *before = malloc(n * 4);
        memcpy(before, p, n * 4);
        muon_update(p, g, buf, n_mats, rows, cols, &a, work, s, 1);
        muon_update(p2, g, buf2, n_mats, rows, cols, &a, work, s, W);
        muon_update_ref(p3, g, buf3, n_mats, rows, cols, &a, work[0]);
        muon_step_double(pd, g, bd, n_mats, rows, cols, lr, wd, mom, nesterov, rms, gscale);
        /* The update's RMS (decay aside) is about lr * rms. */
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            const double u = p[i] - before[i] * (double)a.decay_factor;
            ss += u * u;
        }
        const double dev = fabs(sqrt(ss / n) / (lr * rms) - 1);
        if (dev > max_rms_dev) max_rms_dev = dev;
        free(before);
    }
    CHECK(memcmp(p, p2, n * 4) == 0);
    CHECK(memcmp(buf, buf2, n * 4) == 0);
    /* Weights: the step moved them by 3 lr rms per element at most; the tolerance is
     * the Newton-Schulz bound on each step's update (relative to it), over 3 steps. */
    double dd = 0, du = 0, dr = 0;
    for (size_t i = 0; i < n; i++) {
        dd += ((double)p[i] - pd[i]) * ((double)p[i] - pd[i]);
        dr += ((double)p3[i] - pd[i]) * ((double)p3[i] - pd[i]);
        du += 1;
    }
    const int m = rows > cols ? rows : cols;
    const double tol = 3 * ns_tol(m) * lr * rms * sqrt(du) + 3 * U * sqrt(du) * 0.2; /* updates + rounding of p */
    fprintf(stderr, "muon step %dx[%d,%d]%s: fast %.3g, reference %.3g from double (tolerance %.3g), update RMS off by %.2f\n",
            n_mats, rows, cols, nesterov ? " nesterov" : "", sqrt(dd), sqrt(dr), tol, max_rms_dev);
    CHECK(sqrt(dd) <= tol);
    CHECK(sqrt(dr) <= tol);
    CHECK(max_rms_dev < 0.5);
    for (int w = 0; w < W; w++) { free(work[w]); free(s[w].buf); }
    free(p); free(g); free(buf); free(p2); free(buf2); free(p3); free(buf3); free(pd); free(bd);
}

/* On a model: Muon gets the hidden matrices (one each; E per expert stack), AdamW the
 * rest; with muon_experts off the experts go back to AdamW; the groups' warmups. */
static void muon_on_model(void)
{
    ModelShape s = { .vocab_size = 13, .dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                     .inter_dim = 16, .seq_len = 4, .rope_theta = 10000.0, .norm_eps = 1e-5f, .init_std = 0.1f,
                     .n_dense_layers = 1, .n_routed_experts = 4, .n_shared_experts = 1, .n_activated_experts = 2,
                     .moe_inter_dim = 6, .route_scale = 1.0f, .expert_output_gain = 1.0f };
    Model *m = model_create(&s, 1, 4, true);
    OptimizerSettings set = { .muon = true, .muon_experts = true };
    const char *muon1[] = { "layers.0.attn.wq.weight", "layers.1.attn.wo.weight", "layers.0.ffn.w2.weight",
                            "layers.1.ffn.shared_experts.w1.weight" };
    for (size_t i = 0; i < sizeof muon1 / sizeof *muon1; i++)
        CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, muon1[i])), 1);
    CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, "layers.1.ffn.experts.w1.weight")), 4);
    CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, "layers.1.ffn.experts.w2.weight")), 4);
    const char *adam[] = { "tok_embeddings.weight", "output.weight", "norm.weight", "layers.0.attn_norm.weight",
                           "layers.1.ffn.router.weight" };
    for (size_t i = 0; i < sizeof adam / sizeof *adam; i++)
        CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, adam[i])), 0);
    set.muon_experts = false;
    CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, "layers.1.ffn.experts.w1.weight")), 0);
    set.muon = false;
    CHECK_EQ_INT(optimizer_muon_matrices(&set, &s, model_tensor_find(m, "layers.0.attn.wq.weight")), 0);

    OptimizerSettings w = { .warmup_steps = 10, .hold_tokens = 1 << 30, .decay_tokens = 1 };
    for (int g = 0; g < LR_GROUP_COUNT; g++) w.group_warmup[g] = -1;
    w.group_warmup[PARAM_GROUP_ROUTER] = 40;
    w.group_warmup[LR_GROUP_MUON] = 0;
    CHECK(lr_group_scale(&w, PARAM_GROUP_DENSE, 4, 0) == lr_schedule_scale(&w, 4, 0));
    CHECK_CLOSE(lr_group_scale(&w, PARAM_GROUP_DENSE, 4, 0), 0.5, 1e-15, 0);
    CHECK_CLOSE(lr_group_scale(&w, PARAM_GROUP_ROUTER, 19, 0), 0.5, 1e-15, 0);
    CHECK_CLOSE(lr_group_scale(&w, PARAM_GROUP_ROUTER, 39, 0), 1.0, 1e-15, 0);
    CHECK(lr_group_scale(&w, LR_GROUP_MUON, 0, 0) == 1.0);
    model_free(m);
}

int main(void)
{
    newton_schulz(8, 8, 1);
    newton_schulz(24, 70, 2);
    newton_schulz(33, 520, 3);  /* wider than one column tile of the grid */
    muon_step(1, 20, 48, true);
    muon_step(4, 30, 12, true); /* tall: the transpose */
    muon_step(3, 16, 16, false);
    omp_set_num_threads(1);
    muon_on_model();
    return check_report("test_muon");
}
