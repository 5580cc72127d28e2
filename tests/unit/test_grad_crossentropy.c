/* test_grad_crossentropy.c: the fused softmax cross-entropy's gradient against finite
 * differences of its loss; the vectorized path against the reference; argmax takes the
 * lowest index on ties; a NaN logit gives a NaN loss; the loss is the same with and
 * without the gradient pass; 1 and 2 threads give the same bits. The z-loss variant
 * (crossentropy_z): its gradient of loss + z lse^2 against finite differences, lse
 * against the definition, fast against reference, and z = 0 bit-identical to the plain
 * kernel. */
#include "cpu/crossentropy.h"
#include "gradcheck.h"

typedef struct {
    int n, V;
    const uint32_t *targets;
    const float *weight;
    float *z, *work, *loss;
    float z_coef, *lse;  /* z-loss variant: the objective adds w z_coef lse^2 */
} Ce;

static double ce_loss(void *ctx)
{
    Ce *c = ctx;
    memcpy(c->work, c->z, (size_t)c->n * c->V * sizeof(float));
    crossentropy_z_ref(c->work, c->n, c->V, c->targets, c->loss, NULL, NULL, c->z_coef, c->lse);
    double s = 0;
    for (int i = 0; i < c->n; i++) s += (double)c->weight[i] * (c->loss[i] + (double)c->z_coef * c->lse[i] * c->lse[i]);
    return s;
}

int main(void)
{
    Rng rng = rng_make(15, 0);
    static const uint32_t targets[] = { 2, 0, 6, 6 };
    static const float weight[] = { 0.25f, 0.5f, 0.0f, 1.0f };
    Ce c = { .n = 4, .V = 7, .targets = targets, .weight = weight };
    size_t N = (size_t)c.n * c.V;
    c.z = rand_array(N, &rng, 2.0f);
    c.work = calloc(N, 4);
    c.loss = calloc((size_t)c.n, 4);
    c.lse = calloc((size_t)c.n, 4);
    float *grad = malloc(N * 4);
    memcpy(grad, c.z, N * 4);
    crossentropy_ref(grad, c.n, c.V, targets, c.loss, NULL, weight);
    gradcheck("crossentropy dz", c.z, grad, N, 1, ce_loss, &c, 1e-2, 1e-2, 2e-4);
    /* A row of weight 0 has no gradient. */
    for (int j = 0; j < c.V; j++) CHECK(grad[2 * c.V + j] == 0.0f);

    /* The loss is -log softmax(z)_target, checked in double. */
    ce_loss(&c);
    for (int i = 0; i < c.n; i++) {
        double m = -1e30, s = 0;
        for (int j = 0; j < c.V; j++) m = fmax(m, c.z[i * c.V + j]);
        for (int j = 0; j < c.V; j++) s += exp(c.z[i * c.V + j] - m);
        CHECK_CLOSE(c.loss[i], log(s) + m - c.z[i * c.V + targets[i]], 1e-6, 1e-6);
    }

    /* The z-loss: gradient of loss + z lse^2, and lse = logsumexp in double. */
    c.z_coef = 0.3f;
    memcpy(grad, c.z, N * 4);
    crossentropy_z_ref(grad, c.n, c.V, targets, c.loss, NULL, weight, c.z_coef, c.lse);
    gradcheck("crossentropy z-loss dz", c.z, grad, N, 1, ce_loss, &c, 1e-2, 1e-2, 2e-4);
    ce_loss(&c); /* lse at the unperturbed logits */
    for (int i = 0; i < c.n; i++) {
        double m = -1e30, s = 0;
        for (int j = 0; j < c.V; j++) m = fmax(m, c.z[i * c.V + j]);
        for (int j = 0; j < c.V; j++) s += exp(c.z[i * c.V + j] - m);
        CHECK_CLOSE(c.lse[i], m + log(s), 1e-6, 1e-6);
    }
    c.z_coef = 0.0f;

    /* Fast vs reference on a GPT-2-sized vocabulary. */
    int n = 16, V = 50257;
    size_t M = (size_t)n * V;
    float *z = rand_array(M, &rng, 3.0f);
    uint32_t *t = malloc((size_t)n * 4), *am_ref = malloc((size_t)n * 4), *am = malloc((size_t)n * 4);
    float *w = malloc((size_t)n * 4);
    for (int i = 0; i < n; i++) { t[i] = (uint32_t)rng_below(&rng, (uint64_t)V); w[i] = 1.0f / n; }
    z[5 * V + 17] = z[5 * V + 99] = 50.0f; /* a tie for the maximum: the lower index wins */
    float *g_ref = malloc(M * 4), *g1 = malloc(M * 4), *g2 = malloc(M * 4), *only = malloc(M * 4);
    float *l_ref = malloc((size_t)n * 4), *l1 = malloc((size_t)n * 4), *l2 = malloc((size_t)n * 4), *l_only = malloc((size_t)n * 4);
    memcpy(g_ref, z, M * 4); memcpy(g1, z, M * 4); memcpy(g2, z, M * 4); memcpy(only, z, M * 4);
    crossentropy_ref(g_ref, n, V, t, l_ref, am_ref, w);
    omp_set_num_threads(1);
    crossentropy(g1, n, V, t, l1, am, w);
    omp_set_num_threads(2);
    crossentropy(g2, n, V, t, l2, NULL, w);
    crossentropy(only, n, V, t, l_only, NULL, NULL);
    check_arrays_close("crossentropy fast loss", l1, l_ref, (size_t)n, 1e-5, 1e-6);
    check_arrays_close("crossentropy fast grad", g1, g_ref, M, 3e-5, 1e-12);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(am[i], am_ref[i]);
    CHECK_EQ_INT(am[5], 17);
    check_arrays_identical("crossentropy threads grad", g1, g2, M);
    check_arrays_identical("crossentropy threads loss", l1, l2, (size_t)n);
    check_arrays_identical("crossentropy loss without gradient", l1, l_only, (size_t)n);
    check_arrays_identical("crossentropy leaves logits alone without gradient", only, z, M);
    /* z = 0 is the plain kernel, bit for bit; z > 0 fast against reference. */
    float *lse_ref = malloc((size_t)n * 4), *lse1 = malloc((size_t)n * 4);
    memcpy(g2, z, M * 4);
    crossentropy_z(g2, n, V, t, l2, NULL, w, 0.0f, lse1);
    check_arrays_identical("crossentropy_z at 0 grad", g2, g1, M);
    memcpy(g_ref, z, M * 4); memcpy(g1, z, M * 4);
    crossentropy_z_ref(g_ref, n, V, t, l_ref, NULL, w, 1e-2f, lse_ref);
    crossentropy_z(g1, n, V, t, l1, NULL, w, 1e-2f, lse1);
    check_arrays_close("crossentropy_z fast lse", lse1, lse_ref, (size_t)n, 1e-6, 1e-6);
    check_arrays_close("crossentropy_z fast grad", g1, g_ref, M, 3e-5, 1e-12);
    free(lse_ref); free(lse1);

    /* NaN anywhere in a row makes its loss NaN, in both paths. */
    z[3 * V + 1000] = NAN;
    memcpy(g1, z, M * 4);
    crossentropy(g1, n, V, t, l1, NULL, NULL);
    CHECK(isnan(l1[3]) && !isnan(l1[2]));
    memcpy(g1, z, M * 4);
    crossentropy_ref(g1, n, V, t, l1, NULL, NULL);
    CHECK(isnan(l1[3]) && !isnan(l1[2]));

    free(z); free(t); free(am_ref); free(am); free(w); free(g_ref); free(g1); free(g2); free(only);
    free(l_ref); free(l1); free(l2); free(l_only);
    free(c.z); free(c.work); free(c.loss); free(c.lse); free(grad);
    return check_report("test_grad_crossentropy");
}
