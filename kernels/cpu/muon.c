/* muon.c: see muon.h. */
#include "cpu/muon.h"
#include "base/error.h"

#include <math.h>
#include <omp.h>

MuonScalars muon_scalars(double lr, double weight_decay, double momentum, bool nesterov, double update_rms,
                         double grad_scale)
{
    MuonScalars a = {
        .momentum = (float)momentum, .one_minus_momentum = (float)(1.0 - momentum),
        .nesterov = nesterov,
        .decay_factor = (float)(1.0 - lr * weight_decay),
        .lr = lr, .update_rms = update_rms,
        .grad_scale = (float)grad_scale,
    };
    return a;
}

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

size_t muon_work_floats(int rows, int cols)
{
    const size_t n = (size_t)min_int(rows, cols), m = (size_t)max_int(rows, cols);
    return 2 * n * m + 2 * n * n; /* X, then A, B, Y of Newton-Schulz */
}

/* The products run with row_period = their row count (one block of rows, the reduction
 * cut only past GEMM_PERIODIC_K_SPLIT), the grid fixed by the shape. */
size_t muon_gemm_scratch_floats(int rows, int cols)
{
    const int n = min_int(rows, cols), m = max_int(rows, cols);
    size_t s = gemm_grid_scratch_floats(n, n, m, n);
    size_t s2 = gemm_grid_scratch_floats(n, n, n, n), s3 = gemm_grid_scratch_floats(n, m, n, n);
    if (s2 > s) s = s2;
    if (s3 > s) s = s3;
    return s;
}

/* ---- Newton-Schulz ---------------------------------------------------------------- */

void muon_newton_schulz_ref(float *x, int n, int m, float *work)
{
    float *A = work, *B = A + (size_t)n * n, *Y = B + (size_t)n * n;
    for (int it = 0; it < MUON_NS_STEPS; it++) {
        for (int i = 0; i < n; i++) /* A = X X^T */
            for (int j = 0; j < n; j++) {
                float s = 0.0f;
                for (int k = 0; k < m; k++) s += x[(size_t)i * m + k] * x[(size_t)j * m + k];
                A[(size_t)i * n + j] = s;
            }
        for (int i = 0; i < n; i++) /* B = b A + c A A */
            for (int j = 0; j < n; j++) {
                float s = 0.0f;
                for (int k = 0; k < n; k++) s += A[(size_t)i * n + k] * A[(size_t)k * n + j];
                B[(size_t)i * n + j] = MUON_NS_B * A[(size_t)i * n + j] + MUON_NS_C * s;
            }
        for (int i = 0; i < n; i++) /* Y = B X */
            for (int j = 0; j < m; j++) {
                float s = 0.0f;
                for (int k = 0; k < n; k++) s += B[(size_t)i * n + k] * x[(size_t)k * m + j];
                Y[(size_t)i * m + j] = s;
            }
        for (size_t e = 0; e < (size_t)n * m; e++) x[e] = MUON_NS_A * x[e] + Y[e]; /* X = a X + B X */
    }
}

void muon_newton_schulz(float *x, int n, int m, float *work, GemmScratch *s)
{
    float *A = work, *B = A + (size_t)n * n, *Y = B + (size_t)n * n;
    const size_t nn = (size_t)n * n, nm = (size_t)n * m;
    for (int it = 0; it < MUON_NS_STEPS; it++) {
        gemm_grid(false, true, n, n, m, x, m, x, m, 0.0f, A, n, n, s);
        gemm_grid(false, false, n, n, n, A, n, A, n, 0.0f, B, n, n, s);
        for (size_t e = 0; e < nn; e++) B[e] = MUON_NS_B * A[e] + MUON_NS_C * B[e];
        gemm_grid(false, false, n, m, n, B, n, x, m, 0.0f, Y, m, n, s);
        for (size_t e = 0; e < nm; e++) x[e] = MUON_NS_A * x[e] + Y[e];
    }
}

/* ---- one matrix ------------------------------------------------------------------- */

/* Momentum, the Nesterov blend into X (transposed when rows > cols), the normalisation.
 * Returns n, m of X. */
static void momentum_into_x(const float *g, float *buf, int rows, int cols, const MuonScalars *a, float *x,
                            int *n_out, int *m_out)
{
    const bool tr = rows > cols;
    const int n = tr ? cols : rows, m = tr ? rows : cols;
    double ss = 0.0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const size_t i = (size_t)r * cols + c;
            const float gi = a->grad_scale == 1.0f ? g[i] : g[i] * a->grad_scale;
            const float b = a->momentum * buf[i] + a->one_minus_momentum * gi;
            buf[i] = b;
            const float u = a->nesterov ? a->momentum * b + a->one_minus_momentum * gi : b;
            x[tr ? (size_t)c * m + r : i] = u;
            ss += (double)u * u;
        }
    const float inv = 1.0f / ((float)sqrt(ss) + MUON_NORM_EPS);
    for (size_t e = 0; e < (size_t)n * m; e++) x[e] *= inv;
    *n_out = n;
    *m_out = m;
}

static void apply_x(float *p, const float *x, int rows, int cols, const MuonScalars *a)
{
    const bool tr = rows > cols;
    const int m = tr ? rows : cols;
    const float step = (float)(-(a->lr * a->update_rms * sqrt((double)max_int(rows, cols))));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const size_t i = (size_t)r * cols + c;
            p[i] = p[i] * a->decay_factor;
            p[i] = p[i] + step * x[tr ? (size_t)c * m + r : i];
        }
}

void muon_update_ref(float *p, const float *g, float *buf, int n_mats, int rows, int cols, const MuonScalars *a,
                     float *work)
{
    const size_t per = (size_t)rows * cols, nm = (size_t)min_int(rows, cols) * max_int(rows, cols);
    for (int e = 0; e < n_mats; e++) {
        int n, m;
        float *x = work;
        momentum_into_x(g + e * per, buf + e * per, rows, cols, a, x, &n, &m);
        muon_newton_schulz_ref(x, n, m, x + nm);
        apply_x(p + e * per, x, rows, cols, a);
    }
}

void muon_update(float *p, const float *g, float *buf, int n_mats, int rows, int cols, const MuonScalars *a,
                 float *const *work, GemmScratch *s, int n_work)
{
    const size_t per = (size_t)rows * cols, nm = (size_t)min_int(rows, cols) * max_int(rows, cols);
    if (n_work < 1) die("muon_update: no work buffers");
    if (n_mats == 1 || n_work == 1) {
        /* One matrix at a time; the products spread their tiles over the threads. */
        for (int e = 0; e < n_mats; e++) {
            int n, m;
            momentum_into_x(g + e * per, buf + e * per, rows, cols, a, work[0], &n, &m);
            muon_newton_schulz(work[0], n, m, work[0] + nm, &s[0]);
            apply_x(p + e * per, work[0], rows, cols, a);
        }
        return;
    }
    /* A stack: one matrix per thread (the products inside run single-threaded, nested;
     * their tiles, hence their bits, are the same either way). */
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_work)
    for (int e = 0; e < n_mats; e++) {
        const int w = omp_get_thread_num();
        int n, m;
        momentum_into_x(g + e * per, buf + e * per, rows, cols, a, work[w], &n, &m);
        muon_newton_schulz(work[w], n, m, work[w] + nm, &s[w]);
        apply_x(p + e * per, work[w], rows, cols, a);
    }
}
