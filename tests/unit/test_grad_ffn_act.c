/* test_grad_ffn_act.c: the relu2 and squared_reglu activations of the ffn_activation
 * dial (kernels/cpu/ffn_act.h): backward against finite differences, forward against
 * the definition, and the parallel paths bit-identical to the reference loops. */
#include "cpu/ffn_act.h"
#include "gradcheck.h"

#include <stdbool.h>

typedef struct {
    size_t n;
    bool gated;
    float *a, *b, *y, *r;
} Act;

static double act_loss(void *ctx)
{
    Act *g = ctx;
    if (g->gated) squared_reglu_forward_ref(g->y, g->a, g->b, g->n);
    else relu2_forward_ref(g->y, g->a, g->n);
    return dot_f64(g->y, g->r, g->n);
}

int main(void)
{
    Rng rng = rng_make(15, 0);
    Act g = { .n = 60 };
    g.a = rand_array(g.n, &rng, 2.0f);
    g.b = rand_array(g.n, &rng, 1.0f);
    g.y = calloc(g.n, 4);
    g.r = rand_array(g.n, &rng, 1.0f);
    /* Keep the finite differences off the kink at 0 (r^2 is C1 there, but a step across
     * it sees the one-sided curvature). */
    for (size_t i = 0; i < g.n; i++)
        if (fabsf(g.a[i]) < 0.05f) g.a[i] = 0.3f;
    float *da = calloc(g.n, 4), *db = calloc(g.n, 4);

    relu2_backward_ref(da, g.r, g.a, g.n);
    gradcheck("relu2 da", g.a, da, g.n, 1, act_loss, &g, 1e-3, 1e-3, 1e-4);
    g.gated = true;
    memset(da, 0, g.n * 4);
    squared_reglu_backward_ref(da, db, g.r, g.a, g.b, g.n);
    gradcheck("squared_reglu da", g.a, da, g.n, 1, act_loss, &g, 1e-3, 1e-3, 1e-4);
    gradcheck("squared_reglu db", g.b, db, g.n, 1, act_loss, &g, 1e-3, 1e-3, 1e-4);

    /* The definitions, in double: relu(a)^2 and relu(a)^2 * b; negative a gives 0 and
     * no gradient. */
    int bad = 0;
    for (size_t i = 0; i < g.n; i++) {
        double r = g.a[i] > 0 ? g.a[i] : 0.0;
        float y2, y3;
        relu2_forward_ref(&y2, &g.a[i], 1);
        squared_reglu_forward_ref(&y3, &g.a[i], &g.b[i], 1);
        bad += fabs(y2 - r * r) > 1e-6 * (1 + r * r) || fabs(y3 - r * r * g.b[i]) > 1e-6 * (1 + fabs(r * r * g.b[i]));
        bad += g.a[i] < 0 && (da[i] != 0.0f || db[i] != 0.0f);
    }
    CHECK(bad == 0);

    /* Accumulation: backward adds into da, db. */
    float acc = 1.5f, a1 = 2.0f, d1 = 1.0f, b1 = 3.0f, acc_b = -1.0f;
    relu2_backward_ref(&acc, &d1, &a1, 1);
    CHECK(acc == 1.5f + 4.0f);
    acc = 1.5f;
    squared_reglu_backward_ref(&acc, &acc_b, &d1, &a1, &b1, 1);
    CHECK(acc == 1.5f + 12.0f && acc_b == -1.0f + 4.0f);

    /* Parallel vs reference: the same arithmetic, the same bits. */
    size_t n = 100000;
    float *a = rand_array(n, &rng, 3.0f), *b = rand_array(n, &rng, 1.0f), *dy = rand_array(n, &rng, 1.0f);
    float *y_ref = calloc(n, 4), *y = calloc(n, 4), *da_ref = calloc(n, 4), *db_ref = calloc(n, 4);
    float *da2 = calloc(n, 4), *db2 = calloc(n, 4);
    omp_set_num_threads(2);
    relu2_forward_ref(y_ref, a, n);
    relu2_forward(y, a, n);
    relu2_backward_ref(da_ref, dy, a, n);
    relu2_backward(da2, dy, a, n);
    check_arrays_identical("relu2 fast y", y, y_ref, n);
    check_arrays_identical("relu2 fast da", da2, da_ref, n);
    memset(da_ref, 0, n * 4); memset(da2, 0, n * 4);
    squared_reglu_forward_ref(y_ref, a, b, n);
    squared_reglu_forward(y, a, b, n);
    squared_reglu_backward_ref(da_ref, db_ref, dy, a, b, n);
    squared_reglu_backward(da2, db2, dy, a, b, n);
    check_arrays_identical("squared_reglu fast y", y, y_ref, n);
    check_arrays_identical("squared_reglu fast da", da2, da_ref, n);
    check_arrays_identical("squared_reglu fast db", db2, db_ref, n);
    free(a); free(b); free(dy); free(y_ref); free(y); free(da_ref); free(db_ref); free(da2); free(db2);
    free(g.a); free(g.b); free(g.y); free(g.r); free(da); free(db);
    return check_report("test_grad_ffn_act");
}
