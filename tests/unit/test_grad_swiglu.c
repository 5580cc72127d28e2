/* test_grad_swiglu.c: the SwiGLU gate's backward against finite differences, and the
 * vectorized path (vexpf) against the libm reference loop, including large |a|. */
#include "cpu/swiglu.h"
#include "cpu/vmath.h"
#include "gradcheck.h"

typedef struct {
    size_t n;
    float *a, *b, *y, *r;
} Glu;

static double glu_loss(void *ctx)
{
    Glu *g = ctx;
    swiglu_forward_ref(g->y, g->a, g->b, g->n);
    return dot_f64(g->y, g->r, g->n);
}

int main(void)
{
    Rng rng = rng_make(14, 0);
    Glu g = { .n = 40 };
    g.a = rand_array(g.n, &rng, 2.0f);
    g.b = rand_array(g.n, &rng, 1.0f);
    g.y = calloc(g.n, 4);
    g.r = rand_array(g.n, &rng, 1.0f);
    float *da = calloc(g.n, 4), *db = calloc(g.n, 4);
    swiglu_backward_ref(da, db, g.r, g.a, g.b, g.n);
    gradcheck("swiglu da", g.a, da, g.n, 1, glu_loss, &g, 1e-3, 1e-3, 1e-4);
    gradcheck("swiglu db", g.b, db, g.n, 1, glu_loss, &g, 1e-3, 1e-3, 1e-4);

    /* vexpf against libm over its range, relative error a few ulp. */
    double worst = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
        double e = fabs((double)vexpf(x) - exp((double)x)) / exp((double)x);
        if (e > worst) worst = e;
    }
    fprintf(stderr, "vexpf worst relative error %.3g\n", worst);
    CHECK(worst < 4e-7);
    CHECK(isnan(vexpf(NAN)));
    CHECK(vexpf(-1000.0f) < 1.2e-38f && vexpf(-1000.0f) >= 0.0f);

    /* Fast vs reference, with large-magnitude gates. */
    size_t n = 10000;
    float *a = rand_array(n, &rng, 8.0f), *b = rand_array(n, &rng, 1.0f), *dy = rand_array(n, &rng, 1.0f);
    a[0] = -100.0f; a[1] = 100.0f;
    float *y_ref = calloc(n, 4), *y = calloc(n, 4), *da_ref = calloc(n, 4), *db_ref = calloc(n, 4), *da2 = calloc(n, 4), *db2 = calloc(n, 4);
    swiglu_forward_ref(y_ref, a, b, n);
    swiglu_forward(y, a, b, n);
    swiglu_backward_ref(da_ref, db_ref, dy, a, b, n);
    swiglu_backward(da2, db2, dy, a, b, n);
    check_arrays_close("swiglu fast y", y, y_ref, n, 1e-6, 1e-30);
    check_arrays_close("swiglu fast da", da2, da_ref, n, 1e-5, 1e-30);
    check_arrays_close("swiglu fast db", db2, db_ref, n, 1e-6, 1e-30);
    free(a); free(b); free(dy); free(y_ref); free(y); free(da_ref); free(db_ref); free(da2); free(db2);
    free(g.a); free(g.b); free(g.y); free(g.r); free(da); free(db);
    return check_report("test_grad_swiglu");
}
