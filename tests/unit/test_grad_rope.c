/* test_grad_rope.c: the rotary embedding's backward against finite differences; the
 * rotation keeps norms and inverts exactly enough; row r sits at position r % T. */
#include "cpu/rope.h"
#include "gradcheck.h"

typedef struct {
    int n, T, heads, hd;
    const float *cos_t, *sin_t;
    float *x, *y, *r;
} Rope;

static double rope_loss(void *ctx)
{
    Rope *s = ctx;
    size_t N = (size_t)s->n * s->heads * s->hd;
    memcpy(s->y, s->x, N * sizeof(float));
    rope_forward(s->y, s->cos_t, s->sin_t, s->n, s->T, s->heads, s->hd);
    return dot_f64(s->y, s->r, N);
}

int main(void)
{
    Rng rng = rng_make(13, 0);
    Rope s = { .n = 10, .T = 5, .heads = 3, .hd = 8 };
    float *cos_t = calloc((size_t)s.T * s.hd / 2, 4), *sin_t = calloc((size_t)s.T * s.hd / 2, 4);
    rope_tables(cos_t, sin_t, s.T, s.hd, 10000.0);
    s.cos_t = cos_t;
    s.sin_t = sin_t;
    CHECK(cos_t[0] == 1.0f && sin_t[0] == 0.0f);                       /* position 0: identity */
    CHECK_CLOSE(cos_t[1 * s.hd / 2 + 0], cos(1.0), 1e-7, 1e-7);        /* pair 0 turns 1 rad per step */
    CHECK_CLOSE(sin_t[3 * s.hd / 2 + 1], sin(3.0 * pow(10000.0, -2.0 / 8)), 1e-6, 1e-7);

    size_t N = (size_t)s.n * s.heads * s.hd;
    s.x = rand_array(N, &rng, 1.0f);
    s.y = calloc(N, 4);
    s.r = rand_array(N, &rng, 1.0f);
    float *dx = malloc(N * 4);
    memcpy(dx, s.r, N * 4);
    rope_backward(dx, cos_t, sin_t, s.n, s.T, s.heads, s.hd);
    gradcheck("rope dx", s.x, dx, N, 1, rope_loss, &s, 1e-2, 1e-3, 1e-4);

    /* Rows 0 and T are both position 0, so they are left as they are. */
    rope_loss(&s);
    for (int i = 0; i < s.heads * s.hd; i++) {
        CHECK(s.y[i] == s.x[i]);
        CHECK(s.y[(size_t)s.T * s.heads * s.hd + i] == s.x[(size_t)s.T * s.heads * s.hd + i]);
    }
    /* Forward then backward (the inverse rotation) gives x back. */
    float *z = malloc(N * 4);
    memcpy(z, s.y, N * 4);
    rope_backward(z, cos_t, sin_t, s.n, s.T, s.heads, s.hd);
    check_arrays_close("rope inverse", z, s.x, N, 1e-6, 1e-6);
    free(z); free(dx); free(s.x); free(s.y); free(s.r); free(cos_t); free(sin_t);
    return check_report("test_grad_rope");
}
