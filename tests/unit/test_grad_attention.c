/* test_grad_attention.c: causal grouped-query attention (full and sliding window, with
 * and without learned sinks): the backward (dq, dk, dv, d sinks) against finite
 * differences; the blocked sgemm path against the reference loops over more rows than
 * one block; 1 and 2 threads give the same bits; a sequence alone gives the same bits
 * as inside a batch; the cached path (rows at an offset against a key/value cache)
 * against the reference, in pieces that cross row blocks, on 1 and 2 threads. */
#include "cpu/attention.h"
#include "cpu/matmul.h"
#include "gradcheck.h"

typedef struct {
    AttnShape s;
    float *q, *k, *v, *out, *probs, *sink_probs, *sinks, *r;
} Att;

static size_t nq(const AttnShape *s) { return (size_t)s->B * s->T * s->n_heads * s->head_dim; }
static size_t nkv(const AttnShape *s) { return (size_t)s->B * s->T * s->n_kv_heads * s->head_dim; }
static size_t np(const AttnShape *s) { return (size_t)s->B * s->n_heads * s->T * s->T; }
static size_t nsp(const AttnShape *s) { return (size_t)s->B * s->n_heads * s->T; }

/* Sink logits of order 1 (the scores' scale), so the sink takes a real share. */
static float *sink_logits(const AttnShape *s, Rng *r) { return rand_array((size_t)s->n_heads, r, 1.0f); }

static double att_loss(void *ctx)
{
    Att *a = ctx;
    a->s.sinks = a->sinks;
    attention_forward_ref(a->out, a->probs, a->sink_probs, a->q, a->k, a->v, &a->s);
    return dot_f64(a->out, a->r, nq(&a->s));
}

static void finite_differences(int window, bool sinks)
{
    Rng rng = rng_make(16, (uint64_t)window + 100u * sinks);
    Att a = { .s = { .B = 2, .T = 6, .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .window = window } };
    a.q = rand_array(nq(&a.s), &rng, 1.0f);
    a.k = rand_array(nkv(&a.s), &rng, 1.0f);
    a.v = rand_array(nkv(&a.s), &rng, 1.0f);
    a.r = rand_array(nq(&a.s), &rng, 1.0f);
    a.sinks = sinks ? sink_logits(&a.s, &rng) : NULL;
    a.out = calloc(nq(&a.s), 4);
    a.probs = calloc(np(&a.s), 4);
    a.sink_probs = sinks ? calloc(nsp(&a.s), 4) : NULL;
    att_loss(&a);
    float *dq = calloc(nq(&a.s), 4), *dk = calloc(nkv(&a.s), 4), *dv = calloc(nkv(&a.s), 4);
    float *dsinks = sinks ? calloc((size_t)a.s.n_heads, 4) : NULL;
    attention_backward_ref(dq, dk, dv, dsinks, a.r, a.probs, a.sink_probs, a.q, a.k, a.v, a.out, &a.s);
    char what[64];
    snprintf(what, sizeof what, "attention dq (window %d, sinks %d)", window, sinks);
    gradcheck(what, a.q, dq, nq(&a.s), 1, att_loss, &a, 1e-2, 1e-2, 1e-3);
    snprintf(what, sizeof what, "attention dk (window %d, sinks %d)", window, sinks);
    gradcheck(what, a.k, dk, nkv(&a.s), 1, att_loss, &a, 1e-2, 1e-2, 1e-3);
    snprintf(what, sizeof what, "attention dv (window %d, sinks %d)", window, sinks);
    gradcheck(what, a.v, dv, nkv(&a.s), 1, att_loss, &a, 1e-2, 1e-2, 1e-3);
    if (sinks) {
        snprintf(what, sizeof what, "attention dsinks (window %d)", window);
        gradcheck(what, a.sinks, dsinks, (size_t)a.s.n_heads, 1, att_loss, &a, 1e-2, 1e-2, 1e-3);
        /* Each row of p sums to 1 minus the sink's share, which is in (0, 1). */
        int bad = 0;
        for (size_t row = 0; row < nsp(&a.s); row++) {
            double sum = a.sink_probs[row];
            for (int j = 0; j < a.s.T; j++) sum += a.probs[row * a.s.T + j];
            bad += !(fabs(sum - 1.0) <= 1e-6 * a.s.T) || !(a.sink_probs[row] > 0.0f && a.sink_probs[row] < 1.0f);
        }
        CHECK_EQ_INT(bad, 0);
    }

    /* Causality and the window: row t of the softmax is zero outside [t-window+1, t]. */
    int bad = 0;
    for (int bh = 0; bh < a.s.B * a.s.n_heads; bh++)
        for (int t = 0; t < a.s.T; t++)
            for (int j = 0; j < a.s.T; j++) {
                float p = a.probs[((size_t)bh * a.s.T + t) * a.s.T + j];
                int visible = j <= t && (window == 0 || j > t - window);
                bad += visible ? !(p > 0.0f) : p != 0.0f;
            }
    CHECK_EQ_INT(bad, 0);
    free(a.q); free(a.k); free(a.v); free(a.r); free(a.out); free(a.probs); free(dq); free(dk); free(dv);
    free(a.sinks); free(a.sink_probs); free(dsinks);
}

static void fast_path(int window, bool sinks)
{
    Rng rng = rng_make(17, (uint64_t)window + 100u * sinks);
    AttnShape s = { .B = 3, .T = 150, .n_heads = 6, .n_kv_heads = 2, .head_dim = 16, .window = window };
    float *q = rand_array(nq(&s), &rng, 1.0f), *k = rand_array(nkv(&s), &rng, 1.0f), *v = rand_array(nkv(&s), &rng, 1.0f);
    float *dout = rand_array(nq(&s), &rng, 1.0f);
    float *sl = sinks ? sink_logits(&s, &rng) : NULL;
    s.sinks = sl;
    float *o_ref = calloc(nq(&s), 4), *p_ref = calloc(np(&s), 4), *sp_ref = calloc(nsp(&s), 4);
    float *dq_ref = calloc(nq(&s), 4), *dk_ref = calloc(nkv(&s), 4), *dv_ref = calloc(nkv(&s), 4);
    float *ds_ref = calloc((size_t)s.n_heads, 4);
    attention_forward_ref(o_ref, p_ref, sp_ref, q, k, v, &s);
    attention_backward_ref(dq_ref, dk_ref, dv_ref, ds_ref, dout, p_ref, sp_ref, q, k, v, o_ref, &s);
    float *scratch = calloc(attention_scratch_floats(&s), 4);
    float *o[2], *p[2], *sp[2], *dq[2], *dk[2], *dv[2], *ds[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        o[t] = calloc(nq(&s), 4); p[t] = calloc(np(&s), 4); sp[t] = calloc(nsp(&s), 4);
        dq[t] = calloc(nq(&s), 4); dk[t] = calloc(nkv(&s), 4); dv[t] = calloc(nkv(&s), 4);
        ds[t] = calloc((size_t)s.n_heads, 4);
        attention_forward(o[t], p[t], sp[t], q, k, v, &s);
        attention_backward(dq[t], dk[t], dv[t], ds[t], dout, p[t], sp[t], q, k, v, o[t], &s, scratch);
    }
    if (sinks) {
        /* Sums of 3 x 150 terms of size O(1) with cancellation: relative to the largest
         * term's size, 450 * eps32 ~ 3e-5, so an absolute tolerance of 1e-4 per head. */
        check_arrays_close("attention fast sink probs", sp[0], sp_ref, nsp(&s), 1e-4, 1e-7);
        check_arrays_close("attention fast dsinks", ds[0], ds_ref, (size_t)s.n_heads, 1e-4, 1e-4);
        check_arrays_identical("attention threads dsinks", ds[0], ds[1], (size_t)s.n_heads);
        check_arrays_identical("attention threads sink probs", sp[0], sp[1], nsp(&s));
    }
    char what[64];
    snprintf(what, sizeof what, "attention fast out (window %d)", window);
    check_arrays_close(what, o[0], o_ref, nq(&s), 1e-4, 1e-5);
    snprintf(what, sizeof what, "attention fast probs (window %d)", window);
    check_arrays_close(what, p[0], p_ref, np(&s), 1e-4, 1e-7);
    snprintf(what, sizeof what, "attention fast dq (window %d)", window);
    check_arrays_close(what, dq[0], dq_ref, nq(&s), 1e-4, 1e-5);
    snprintf(what, sizeof what, "attention fast dk (window %d)", window);
    check_arrays_close(what, dk[0], dk_ref, nkv(&s), 1e-4, 1e-5);
    snprintf(what, sizeof what, "attention fast dv (window %d)", window);
    check_arrays_close(what, dv[0], dv_ref, nkv(&s), 1e-4, 1e-5);
    check_arrays_identical("attention threads out", o[0], o[1], nq(&s));
    check_arrays_identical("attention threads dq", dq[0], dq[1], nq(&s));
    check_arrays_identical("attention threads dk", dk[0], dk[1], nkv(&s));
    check_arrays_identical("attention threads dv", dv[0], dv[1], nkv(&s));

    /* The middle sequence alone. */
    AttnShape one = s;
    one.B = 1;
    float *o1 = calloc(nq(&one), 4), *p1 = calloc(np(&one), 4), *sp1 = calloc(nsp(&one), 4);
    attention_forward(o1, p1, sp1, q + nq(&one), k + nkv(&one), v + nkv(&one), &one);
    check_arrays_identical("attention batch invariance", o1, o[0] + nq(&one), nq(&one));
    free(o1); free(p1); free(sp1);
    for (int t = 0; t < 2; t++) { free(o[t]); free(p[t]); free(sp[t]); free(dq[t]); free(dk[t]); free(dv[t]); free(ds[t]); }
    free(q); free(k); free(v); free(dout); free(o_ref); free(p_ref); free(sp_ref); free(dq_ref); free(dk_ref); free(dv_ref);
    free(ds_ref); free(scratch); free(sl);
}

/* attention_cached: positions [p0, p0 + n) of one sequence whose keys and values fill
 * the cache, in pieces (a prefix, then the rest in uneven steps), against the
 * reference over the whole sequence. */
static void cached_path(int window, bool sinks)
{
    Rng rng = rng_make(18, (uint64_t)window + 100u * sinks);
    AttnShape s = { .B = 1, .T = 150, .n_heads = 6, .n_kv_heads = 2, .head_dim = 16, .window = window };
    const size_t row_q = (size_t)s.n_heads * s.head_dim;
    float *q = rand_array(nq(&s), &rng, 1.0f), *k = rand_array(nkv(&s), &rng, 1.0f), *v = rand_array(nkv(&s), &rng, 1.0f);
    float *sl = sinks ? sink_logits(&s, &rng) : NULL;
    s.sinks = sl;
    float *o_ref = calloc(nq(&s), 4), *p_ref = calloc(np(&s), 4), *sp_ref = calloc(nsp(&s), 4);
    attention_forward_ref(o_ref, p_ref, sp_ref, q, k, v, &s);
    const int cuts[] = { 0, 70, 71, 75, 140, 150 }; /* pieces of 70, 1, 4, 65, 10 rows */
    float *o[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        o[t] = calloc(nq(&s), 4);
        for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof *cuts); c++) {
            const int p0 = cuts[c], n = cuts[c + 1] - cuts[c];
            attention_cached(o[t] + p0 * row_q, q + p0 * row_q, k, v, n, p0, &s);
        }
    }
    char what[64];
    snprintf(what, sizeof what, "attention cached out (window %d)", window);
    check_arrays_close(what, o[0], o_ref, nq(&s), 1e-4, 1e-5);
    check_arrays_identical("attention cached threads", o[0], o[1], nq(&s));
    /* Two halves, the second at an offset that is not a whole row block. */
    float *whole = calloc(nq(&s), 4);
    attention_cached(whole, q, k, v, 75, 0, &s);
    attention_cached(whole + 75 * row_q, q + 75 * row_q, k, v, 75, 75, &s);
    snprintf(what, sizeof what, "attention cached whole (window %d)", window);
    check_arrays_close(what, whole, o_ref, nq(&s), 1e-4, 1e-5);
    for (int t = 0; t < 2; t++) free(o[t]);
    free(whole); free(q); free(k); free(v); free(o_ref); free(p_ref); free(sp_ref); free(sl);
}

int main(void)
{
    blas_use_one_thread();
    finite_differences(0, false);
    finite_differences(3, false);
    finite_differences(0, true);
    finite_differences(3, true);
    fast_path(0, false);
    fast_path(70, false);
    fast_path(0, true);
    fast_path(70, true);
    cached_path(0, false);
    cached_path(70, false);
    cached_path(9, false);
    cached_path(0, true);
    cached_path(9, true);
    return check_report("test_grad_attention");
}
