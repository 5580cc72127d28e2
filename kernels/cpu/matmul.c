/* matmul.c: see matmul.h. */
#include "cpu/matmul.h"
#include "base/error.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

void blas_use_one_thread(void) { openblas_set_num_threads(1); }

const char *blas_describe(void)
{
    /* openblas_get_config() returns a static string; no state of ours is kept. */
    return openblas_get_config();
}

/* The grid of one product. Rows are cut per period (a sequence) into tiles of at most
 * `tm` rows, columns into tiles of `tn`, the reduction into n_k chunks of `tk`. */
typedef struct {
    int period, tm, tiles_per_period, n_row_tiles;
    int tn, n_col_tiles;
    int tk, n_k;
} GemmPlan;

static int ceil_div(int a, int b) { return (a + b - 1) / b; }
static int min_int(int a, int b) { return a < b ? a : b; }

static GemmPlan gemm_plan(int M, int N, int K, int row_period)
{
    GemmPlan p;
    if (row_period > 0) {
        /* Batch-invariant: tiles restart at every period; K is cut by K alone. */
        if (M % row_period != 0) die("gemm_grid: %d rows are not whole periods of %d", M, row_period);
        p.period = row_period;
        p.tm = min_int(GEMM_TILE_ROWS, row_period);
        p.tiles_per_period = ceil_div(row_period, p.tm);
        p.n_row_tiles = (M / row_period) * p.tiles_per_period;
        p.tn = min_int(GEMM_TILE_COLS, N);
        p.n_col_tiles = ceil_div(N, p.tn);
        p.n_k = K > GEMM_PERIODIC_K_SPLIT ? ceil_div(K, GEMM_K_CHUNK) : 1;
        p.tk = p.n_k > 1 ? GEMM_K_CHUNK : K;
    } else {
        /* One block of rows (weight gradients: M = out, K = tokens). Smaller tiles, and
         * when there are still few of them the token reduction is cut in chunks, so
         * both cores have work; every choice depends on the shape only. */
        p.period = M;
        p.tm = min_int(128, M);
        p.tiles_per_period = ceil_div(M, p.tm);
        p.n_row_tiles = p.tiles_per_period;
        p.tn = min_int(256, N);
        p.n_col_tiles = ceil_div(N, p.tn);
        int tiles = p.n_row_tiles * p.n_col_tiles;
        p.n_k = 1;
        p.tk = K;
        if (tiles < 16 && K >= 1024) {
            int want = min_int(ceil_div(16, tiles), K / 512);
            if (want > 1) {
                p.tk = ceil_div(K, want);
                p.n_k = ceil_div(K, p.tk);
            }
        }
    }
    return p;
}

size_t gemm_grid_scratch_floats(int M, int N, int K, int row_period)
{
    GemmPlan p = gemm_plan(M, N, K, row_period);
    return p.n_k > 1 ? (size_t)p.n_k * M * N : 0;
}

void gemm_grid(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, int row_period,
               GemmScratch *scratch)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++) C[(size_t)r * ldc + c] = beta == 0.0f ? 0.0f : beta * C[(size_t)r * ldc + c];
        return;
    }
    GemmPlan p = gemm_plan(M, N, K, row_period);
    float *partial = NULL;
    if (p.n_k > 1) {
        size_t need = (size_t)p.n_k * M * N;
        if (!scratch || scratch->n_floats < need)
            die("gemm_grid: scratch of %zu floats is too small for %dx%dx%d (needs %zu)",
                scratch ? scratch->n_floats : 0, M, N, K, need);
        partial = scratch->buf;
    }
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int n_tiles = p.n_row_tiles * p.n_col_tiles;
    const int n_tasks = n_tiles * p.n_k;

#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        int tile = task / p.n_k, kc = task % p.n_k;
        int rt = tile / p.n_col_tiles, ct = tile % p.n_col_tiles;
        int period_index = rt / p.tiles_per_period, within = rt % p.tiles_per_period;
        int r0 = period_index * p.period + within * p.tm;
        int rm = min_int(p.tm, p.period - within * p.tm);
        int c0 = ct * p.tn, cn = min_int(p.tn, N - c0);
        int k0 = kc * p.tk, kn = min_int(p.tk, K - k0);
        const float *a = trans_a ? A + (size_t)k0 * lda + r0 : A + (size_t)r0 * lda + k0;
        const float *b = trans_b ? B + (size_t)c0 * ldb + k0 : B + (size_t)k0 * ldb + c0;
        if (p.n_k == 1)
            cblas_sgemm(CblasRowMajor, ta, tb, rm, cn, kn, 1.0f, a, lda, b, ldb, beta,
                        C + (size_t)r0 * ldc + c0, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, rm, cn, kn, 1.0f, a, lda, b, ldb, 0.0f,
                        partial + (size_t)kc * M * N + (size_t)r0 * N + c0, N);
    }

    if (p.n_k > 1) {
        /* Sum the chunks in chunk order; each element is owned by one thread. */
        const size_t plane = (size_t)M * N;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < M; r++) {
            float *c_row = C + (size_t)r * ldc;
            const float *p_row = partial + (size_t)r * N;
            for (int c = 0; c < N; c++) {
                float s = p_row[c];
                for (int kc = 1; kc < p.n_k; kc++) s += p_row[(size_t)kc * plane + c];
                c_row[c] = beta == 0.0f ? s : beta * c_row[c] + s;
            }
        }
    }
}

/* ---- linear layer: reference loops ---------------------------------------------- */

void linear_forward_ref(float *y, const float *x, const float *w, int n, int in, int out)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            float s = 0.0f;
            for (int k = 0; k < in; k++) s += x[(size_t)i * in + k] * w[(size_t)o * in + k];
            y[(size_t)i * out + o] = s;
        }
}

void linear_forward_acc_ref(float *y, const float *x, const float *w, int n, int in, int out)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            float s = 0.0f;
            for (int k = 0; k < in; k++) s += x[(size_t)i * in + k] * w[(size_t)o * in + k];
            y[(size_t)i * out + o] += s;
        }
}

void linear_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         int n, int in, int out)
{
    if (dx)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in; k++) {
                float s = 0.0f;
                for (int o = 0; o < out; o++) s += dy[(size_t)i * out + o] * w[(size_t)o * in + k];
                dx[(size_t)i * in + k] += s;
            }
    for (int o = 0; o < out; o++)
        for (int k = 0; k < in; k++) {
            float s = 0.0f;
            for (int i = 0; i < n; i++) s += dy[(size_t)i * out + o] * x[(size_t)i * in + k];
            dw[(size_t)o * in + k] += s;
        }
}

/* ---- linear layer: OpenBLAS on the fixed grid ------------------------------------ */

void linear_forward(float *y, const float *x, const float *w, int n, int in, int out,
                    int row_period, GemmScratch *s)
{
    gemm_grid(false, true, n, out, in, x, in, w, in, 0.0f, y, out, row_period, s);
}

void linear_forward_acc(float *y, const float *x, const float *w, int n, int in, int out,
                        int row_period, GemmScratch *s)
{
    gemm_grid(false, true, n, out, in, x, in, w, in, 1.0f, y, out, row_period, s);
}

void linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                     int n, int in, int out, int row_period, GemmScratch *s)
{
    if (dx) gemm_grid(false, false, n, in, out, dy, out, w, in, 1.0f, dx, in, row_period, s);
    gemm_grid(true, false, out, in, n, dy, out, x, in, 1.0f, dw, in, 0, s);
}

size_t linear_scratch_floats(int n, int in, int out, int row_period)
{
    size_t a = gemm_grid_scratch_floats(n, out, in, row_period);
    size_t b = gemm_grid_scratch_floats(n, in, out, row_period);
    size_t c = gemm_grid_scratch_floats(out, in, n, 0);
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}
