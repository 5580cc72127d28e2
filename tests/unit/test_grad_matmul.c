/* test_grad_matmul.c: the linear layer's backward against finite differences; the
 * OpenBLAS grid against the reference loops; the grid gives the same bits on 1 and 2
 * threads, and a sequence's rows the same bits alone or inside a batch. */
#include "cpu/matmul.h"
#include "gradcheck.h"

#include <stdlib.h>

typedef struct {
    int n, in, out;
    float *x, *w, *y, *r;
} Lin;

static double lin_loss(void *ctx)
{
    Lin *l = ctx;
    linear_forward_ref(l->y, l->x, l->w, l->n, l->in, l->out);
    return dot_f64(l->y, l->r, (size_t)l->n * l->out);
}

static void finite_differences(void)
{
    Rng rng = rng_make(1, 0);
    Lin l = { .n = 5, .in = 7, .out = 6 };
    l.x = rand_array((size_t)l.n * l.in, &rng, 1.0f);
    l.w = rand_array((size_t)l.out * l.in, &rng, 0.5f);
    l.r = rand_array((size_t)l.n * l.out, &rng, 1.0f);
    l.y = calloc((size_t)l.n * l.out, sizeof(float));
    float *dx = calloc((size_t)l.n * l.in, sizeof(float)), *dw = calloc((size_t)l.out * l.in, sizeof(float));
    linear_backward_ref(dx, dw, l.r, l.x, l.w, l.n, l.in, l.out);
    gradcheck("linear dx", l.x, dx, (size_t)l.n * l.in, 1, lin_loss, &l, 1e-2, 1e-3, 1e-4);
    gradcheck("linear dw", l.w, dw, (size_t)l.out * l.in, 1, lin_loss, &l, 1e-2, 1e-3, 1e-4);

    /* The accumulating forward adds the product to what is there. */
    float *acc = calloc((size_t)l.n * l.out, sizeof(float));
    for (int i = 0; i < l.n * l.out; i++) acc[i] = 1.0f;
    linear_forward_acc_ref(acc, l.x, l.w, l.n, l.in, l.out);
    linear_forward_ref(l.y, l.x, l.w, l.n, l.in, l.out);
    for (int i = 0; i < l.n * l.out; i++) acc[i] -= 1.0f;
    check_arrays_close("forward_acc", acc, l.y, (size_t)l.n * l.out, 1e-6, 1e-6);
    free(acc); free(dx); free(dw); free(l.x); free(l.w); free(l.r); free(l.y);
}

/* The fast path on shapes that exercise every tiling rule: periodic rows with partial
 * tiles, wide N (column tiles), long K (split reduction), weight gradients with and
 * without the token split. */
static void fast_matches_reference(int n, int in, int out, int period, int threads)
{
    Rng rng = rng_make(2, (uint64_t)(n * 131 + in * 17 + out));
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = rand_array(nx, &rng, 1.0f), *w = rand_array(nw, &rng, 0.1f), *dy = rand_array(ny, &rng, 1.0f);
    float *y_ref = calloc(ny, 4), *y = calloc(ny, 4);
    float *dx_ref = rand_array(nx, &rng, 1.0f), *dw_ref = rand_array(nw, &rng, 1.0f);
    float *dx = malloc(nx * 4), *dw = malloc(nw * 4);
    memcpy(dx, dx_ref, nx * 4);
    memcpy(dw, dw_ref, nw * 4);
    GemmScratch s = { .n_floats = linear_scratch_floats(n, in, out, period) };
    s.buf = malloc((s.n_floats ? s.n_floats : 1) * 4);
    omp_set_num_threads(threads);
    linear_forward_ref(y_ref, x, w, n, in, out);
    linear_forward(y, x, w, n, in, out, period, &s);
    linear_backward_ref(dx_ref, dw_ref, dy, x, w, n, in, out);
    linear_backward(dx, dw, dy, x, w, n, in, out, period, &s);
    /* Sums of up to K terms of size ~1: float rounding of the reference loop dominates. */
    double tol = 2e-6 * sqrt((double)(in > out ? (in > n ? in : n) : (out > n ? out : n)));
    char what[96];
    snprintf(what, sizeof what, "fast forward n=%d in=%d out=%d period=%d", n, in, out, period);
    check_arrays_close(what, y, y_ref, ny, 1e-4, tol);
    snprintf(what, sizeof what, "fast dx n=%d in=%d out=%d", n, in, out);
    check_arrays_close(what, dx, dx_ref, nx, 1e-4, tol * 10);
    snprintf(what, sizeof what, "fast dw n=%d in=%d out=%d", n, in, out);
    check_arrays_close(what, dw, dw_ref, nw, 1e-4, tol * 10);
    free(x); free(w); free(dy); free(y_ref); free(y); free(dx_ref); free(dw_ref); free(dx); free(dw); free(s.buf);
}

/* Same inputs, 1 thread vs 2 threads: bit-identical outputs. */
static void thread_invariance(int n, int in, int out, int period)
{
    Rng rng = rng_make(3, 0);
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = rand_array(nx, &rng, 1.0f), *w = rand_array(nw, &rng, 0.1f), *dy = rand_array(ny, &rng, 1.0f);
    float *y[2], *dx[2], *dw[2];
    GemmScratch s = { .n_floats = linear_scratch_floats(n, in, out, period) };
    s.buf = malloc((s.n_floats ? s.n_floats : 1) * 4);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        y[t] = calloc(ny, 4); dx[t] = calloc(nx, 4); dw[t] = calloc(nw, 4);
        linear_forward(y[t], x, w, n, in, out, period, &s);
        linear_backward(dx[t], dw[t], dy, x, w, n, in, out, period, &s);
    }
    check_arrays_identical("threads: y", y[0], y[1], ny);
    check_arrays_identical("threads: dx", dx[0], dx[1], nx);
    check_arrays_identical("threads: dw", dw[0], dw[1], nw);
    for (int t = 0; t < 2; t++) { free(y[t]); free(dx[t]); free(dw[t]); }
    free(x); free(w); free(dy); free(s.buf);
}

/* Sequence 1 of a batch of 3, computed alone: the same bits (what nmoe-eval relies on). */
static void batch_invariance(int T, int in, int out)
{
    Rng rng = rng_make(4, 0);
    int B = 3;
    float *x = rand_array((size_t)B * T * in, &rng, 1.0f), *w = rand_array((size_t)out * in, &rng, 0.1f);
    float *y_batch = calloc((size_t)B * T * out, 4), *y_one = calloc((size_t)T * out, 4);
    GemmScratch s = { .n_floats = linear_scratch_floats(B * T, in, out, T) };
    s.buf = malloc((s.n_floats ? s.n_floats : 1) * 4);
    linear_forward(y_batch, x, w, B * T, in, out, T, &s);
    linear_forward(y_one, x + (size_t)T * in, w, T, in, out, T, &s);
    char what[64];
    snprintf(what, sizeof what, "batch invariance T=%d in=%d out=%d", T, in, out);
    check_arrays_identical(what, y_batch + (size_t)T * out, y_one, (size_t)T * out);
    free(x); free(w); free(y_batch); free(y_one); free(s.buf);
}

int main(void)
{
    blas_use_one_thread();
    finite_differences();
    fast_matches_reference(37, 19, 23, 0, 2);       /* one small tile */
    fast_matches_reference(600, 64, 96, 300, 2);    /* periodic, partial row tiles */
    fast_matches_reference(64, 32, 1300, 32, 2);    /* column tiles */
    fast_matches_reference(40, 9000, 24, 20, 2);    /* long K: split reduction in the forward */
    fast_matches_reference(2048, 48, 40, 256, 2);   /* dW with the token reduction split */
    thread_invariance(512, 64, 1300, 256);
    thread_invariance(2048, 48, 40, 256);
    thread_invariance(40, 9000, 24, 20);
    batch_invariance(300, 64, 96);
    batch_invariance(20, 9000, 24);
    batch_invariance(256, 128, 1100);
    return check_report("test_grad_matmul");
}
