/* test_optimizer.c: the warmup-hold-decay schedule at its landmarks; AdamW (fast path
 * bit-identical to the reference loop, and against an independent double computation
 * of torch's formula); weight decay on matrices only; global-norm clipping as torch
 * does it; the gradient norm independent of the thread count; a non-finite gradient
 * leaves everything untouched. */
#include "cpu/adamw.h"
#include "cpu/grad_norm.h"
#include "gradcheck.h"
#include "model/model.h"
#include "train/optimizer.h"

static void schedule(void)
{
    OptimizerSettings s = { .warmup_steps = 10, .hold_tokens = 1000, .decay_tokens = 400, .decay_floor = 1e-4 };
    s.peak_lr[PARAM_GROUP_DENSE] = 1e-3;
    s.peak_lr[PARAM_GROUP_ROUTER] = 5e-5; /* below the floor: its floor is its peak */
    CHECK_CLOSE(lr_schedule_scale(&s, 0, 0), 0.1, 1e-15, 0);
    CHECK_CLOSE(lr_schedule_scale(&s, 9, 900), 1.0, 1e-15, 0);
    CHECK_CLOSE(lr_schedule_scale(&s, 10, 999), 1.0, 0, 0);
    CHECK_CLOSE(lr_schedule_scale(&s, 11, 1000), 1.0, 0, 0);        /* decay starts at hold_tokens */
    CHECK_CLOSE(lr_schedule_scale(&s, 12, 1200), 0.5, 1e-15, 1e-15); /* half way: cos(pi/2) */
    CHECK_CLOSE(lr_schedule_scale(&s, 13, 1300), 0.5 * (1 + cos(0.75 * M_PI)), 1e-15, 1e-15);
    CHECK_CLOSE(lr_schedule_scale(&s, 14, 1400), 0.0, 0, 0);
    CHECK_CLOSE(lr_schedule_scale(&s, 99, 99999), 0.0, 0, 0);
    /* Warmup counts in steps, even when the tokens are past the hold. */
    CHECK_CLOSE(lr_schedule_scale(&s, 4, 5000), 0.5, 1e-15, 0);
    CHECK_CLOSE(lr_for_group(&s, PARAM_GROUP_DENSE, 1.0), 1e-3, 1e-15, 0);
    CHECK_CLOSE(lr_for_group(&s, PARAM_GROUP_DENSE, 0.0), 1e-4, 1e-15, 0);
    CHECK_CLOSE(lr_for_group(&s, PARAM_GROUP_DENSE, 0.5), 1e-4 + 0.5 * 9e-4, 1e-15, 0);
    CHECK_CLOSE(lr_for_group(&s, PARAM_GROUP_ROUTER, 0.0), 5e-5, 1e-15, 0);
    /* No warmup: the first step is at the peak. */
    s.warmup_steps = 0;
    CHECK_CLOSE(lr_schedule_scale(&s, 0, 0), 1.0, 0, 0);
}

/* torch.optim.AdamW's update, in double, for one element. */
static void adamw_double(double *p, double g, double *m, double *v, double lr, double wd, double b1, double b2,
                         double eps, long step)
{
    *p *= 1 - lr * wd;
    *m = *m * b1 + g * (1 - b1);
    *v = *v * b2 + (1 - b2) * g * g;
    double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    *p -= lr / bc1 * *m / (sqrt(*v) / sqrt(bc2) + eps);
}

static void adamw_kernel(void)
{
    Rng r = rng_make(21, 0);
    size_t n = 5000;
    float *p1 = rand_array(n, &r, 1.0f), *g = rand_array(n, &r, 1e-2f);
    float *p2 = malloc(n * 4), *m1 = calloc(n, 4), *v1 = calloc(n, 4), *m2 = calloc(n, 4), *v2 = calloc(n, 4);
    double *pd = malloc(n * 8), *md = calloc(n, 8), *vd = calloc(n, 8);
    memcpy(p2, p1, n * 4);
    for (size_t i = 0; i < n; i++) pd[i] = p1[i];
    for (long step = 1; step <= 5; step++) {
        AdamWScalars a = adamw_scalars(1e-3, 0.1, 0.9, 0.95, 1e-8, step, step == 3 ? 0.5 : 1.0);
        adamw_update_ref(p1, g, m1, v1, n, &a);
        omp_set_num_threads(2);
        adamw_update(p2, g, m2, v2, n, &a);
        for (size_t i = 0; i < n; i++)
            adamw_double(&pd[i], (double)g[i] * (step == 3 ? 0.5 : 1.0), &md[i], &vd[i], 1e-3, 0.1, 0.9, 0.95, 1e-8, step);
    }
    check_arrays_identical("adamw fast vs reference: params", p1, p2, n);
    check_arrays_identical("adamw fast vs reference: m", m1, m2, n);
    check_arrays_identical("adamw fast vs reference: v", v1, v2, n);
    float *pdf = malloc(n * 4);
    for (size_t i = 0; i < n; i++) pdf[i] = (float)pd[i];
    check_arrays_close("adamw vs double formula", p1, pdf, n, 1e-6, 1e-7);
    free(p1); free(g); free(p2); free(m1); free(v1); free(m2); free(v2); free(pd); free(md); free(vd); free(pdf);
}

static void grad_norm_threads(void)
{
    Rng r = rng_make(22, 0);
    size_t n = 300001;
    float *x = rand_array(n, &r, 1.0f);
    double *part = calloc(sumsq_partials(n), 8);
    omp_set_num_threads(1);
    double a = sumsq(x, n, part);
    omp_set_num_threads(2);
    double b = sumsq(x, n, part);
    CHECK(a == b);
    CHECK_CLOSE(a, sumsq_ref(x, n), 1e-12, 0);
    free(x); free(part);
}

static void optimizer_on_model(void)
{
    ModelShape s = { .vocab_size = 13, .dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                     .inter_dim = 16, .seq_len = 4, .rope_theta = 10000.0, .norm_eps = 1e-5f, .init_std = 0.1f };
    Model *m = model_create(&s, 1, 4, true);
    model_init_weights(m, 3);
    OptimizerSettings set = { .weight_decay = 0.5, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0,
                              .warmup_steps = 0, .hold_tokens = 1 << 30, .decay_tokens = 1, .decay_floor = 0 };
    set.peak_lr[PARAM_GROUP_DENSE] = 0.01;
    Optimizer *o = optimizer_create(&set, model_n_params(m));
    size_t n = model_n_params(m);
    float *before = malloc(n * 4), *after = malloc(n * 4), *g = calloc(n, 4), *m1 = malloc(n * 4), *m2 = malloc(n * 4);
    model_get_params(m, before);

    /* Zero gradients: AdamW moves nothing but decays the matrices by (1 - lr wd). */
    model_zero_grads(m);
    OptimizerReport rep = optimizer_step(o, m, 0);
    CHECK(rep.applied);
    CHECK(rep.grad_norm == 0.0 && rep.clip_coef == 1.0);
    CHECK_CLOSE(rep.lr[PARAM_GROUP_DENSE], 0.01, 0, 0);
    const ParamTensor *wq = model_tensor_find(m, "layers.0.attn.wq.weight");
    const ParamTensor *norm = model_tensor_find(m, "layers.0.attn_norm.weight");
    const ParamTensor *emb = model_tensor_find(m, "tok_embeddings.weight");
    const ParamTensor *head = model_tensor_find(m, "output.weight");
    CHECK(wq && norm && emb && head && wq->weight_decay && !norm->weight_decay && !emb->weight_decay && !head->weight_decay);
    float decay = (float)(1.0 - 0.01 * 0.5);
    model_get_params(m, after);
    CHECK(after[wq->offset + 3] == before[wq->offset + 3] * decay);
    CHECK(after[norm->offset] == before[norm->offset]);
    CHECK(after[emb->offset + 5] == before[emb->offset + 5]);
    CHECK(after[head->offset + 5] == before[head->offset + 5]);

    /* Clipping: gradients of norm 10 with grad_clip 1 enter the moments scaled by ~0.1. */
    model_zero_grads(m);
    g[0] = 6.0f;
    g[n - 1] = 8.0f;
    model_set_grads(m, g);
    rep = optimizer_step(o, m, 0);
    CHECK_CLOSE(rep.grad_norm, 10.0, 1e-12, 0);
    CHECK(rep.clip_coef == (double)(1.0f / (10.0f + 1e-6f)));
    model_get_moments(m, m1, m2);
    CHECK_CLOSE(m1[0], 0.1 * 6.0 * rep.clip_coef, 1e-6, 0);
    CHECK_CLOSE(m1[n - 1], 0.1 * 8.0 * rep.clip_coef, 1e-6, 0);
    CHECK_EQ_INT(o->step, 2);

    /* A non-finite gradient: no update at all, the step is not counted. */
    model_get_params(m, before);
    g[1] = NAN;
    model_set_grads(m, g);
    rep = optimizer_step(o, m, 0);
    CHECK(!rep.applied && isnan(rep.grad_norm));
    model_get_params(m, after);
    CHECK(memcmp(before, after, n * 4) == 0);
    CHECK_EQ_INT(o->step, 2);
    free(before);
    free(after);
    free(g);
    free(m1);
    free(m2);
    optimizer_free(o);
    model_free(m);
}

int main(void)
{
    schedule();
    adamw_kernel();
    grad_norm_threads();
    optimizer_on_model();
    return check_report("test_optimizer");
}
