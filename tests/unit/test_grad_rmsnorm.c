/* test_grad_rmsnorm.c: RMSNorm backward (dx and dw) against finite differences; the
 * parallel path against the reference loops; 1 and 2 threads give the same bits. */
#include "cpu/rmsnorm.h"
#include "gradcheck.h"

typedef struct {
    int n, dim;
    float eps;
    float *x, *w, *y, *rstd, *r;
} Norm;

static double norm_loss(void *ctx)
{
    Norm *s = ctx;
    rmsnorm_forward_ref(s->y, s->rstd, s->x, s->w, s->n, s->dim, s->eps);
    return dot_f64(s->y, s->r, (size_t)s->n * s->dim);
}

int main(void)
{
    Rng rng = rng_make(12, 0);
    Norm s = { .n = 6, .dim = 9, .eps = 1e-5f };
    size_t nx = (size_t)s.n * s.dim;
    s.x = rand_array(nx, &rng, 1.0f);
    s.w = rand_array((size_t)s.dim, &rng, 1.0f);
    s.y = calloc(nx, 4);
    s.rstd = calloc((size_t)s.n, 4);
    s.r = rand_array(nx, &rng, 1.0f);
    norm_loss(&s);
    float *dx = calloc(nx, 4), *dw = calloc((size_t)s.dim, 4);
    rmsnorm_backward_ref(dx, dw, s.r, s.x, s.w, s.rstd, s.n, s.dim);
    gradcheck("rmsnorm dx", s.x, dx, nx, 1, norm_loss, &s, 1e-3, 2e-3, 2e-4);
    gradcheck("rmsnorm dw", s.w, dw, (size_t)s.dim, 1, norm_loss, &s, 1e-3, 2e-3, 2e-4);

    /* Fast vs reference on a bigger case, and thread invariance. */
    int n = 300, dim = 100;
    size_t N = (size_t)n * dim;
    float *x = rand_array(N, &rng, 2.0f), *w = rand_array((size_t)dim, &rng, 1.0f), *dy = rand_array(N, &rng, 1.0f);
    float *y_ref = calloc(N, 4), *r_ref = calloc((size_t)n, 4), *dx_ref = calloc(N, 4), *dw_ref = calloc((size_t)dim, 4);
    rmsnorm_forward_ref(y_ref, r_ref, x, w, n, dim, 1e-5f);
    rmsnorm_backward_ref(dx_ref, dw_ref, dy, x, w, r_ref, n, dim);
    float *y[2], *r[2], *dxf[2], *dwf[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        y[t] = calloc(N, 4); r[t] = calloc((size_t)n, 4); dxf[t] = calloc(N, 4); dwf[t] = calloc((size_t)dim, 4);
        rmsnorm_forward(y[t], r[t], x, w, n, dim, 1e-5f);
        rmsnorm_backward(dxf[t], dwf[t], dy, x, w, r[t], n, dim);
    }
    check_arrays_close("rmsnorm fast y", y[0], y_ref, N, 1e-5, 1e-6);
    check_arrays_close("rmsnorm fast dx", dxf[0], dx_ref, N, 1e-4, 1e-5);
    check_arrays_close("rmsnorm fast dw", dwf[0], dw_ref, (size_t)dim, 1e-4, 1e-4);
    check_arrays_identical("rmsnorm threads y", y[0], y[1], N);
    check_arrays_identical("rmsnorm threads dx", dxf[0], dxf[1], N);
    check_arrays_identical("rmsnorm threads dw", dwf[0], dwf[1], (size_t)dim);
    for (int t = 0; t < 2; t++) { free(y[t]); free(r[t]); free(dxf[t]); free(dwf[t]); }
    free(x); free(w); free(dy); free(y_ref); free(r_ref); free(dx_ref); free(dw_ref);
    free(s.x); free(s.w); free(s.y); free(s.rstd); free(s.r); free(dx); free(dw);
    return check_report("test_grad_rmsnorm");
}
