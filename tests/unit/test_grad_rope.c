/* test_grad_rope.c: the rotary embedding's backward against finite differences; the
 * rotation keeps norms and inverts exactly enough; row r sits at position r % T. YaRN's
 * tables against the formula written out again here in double, by hand-derived ramp
 * ends, and its (scaled) rotation's backward against finite differences. */
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

    /* YaRN: head_dim 16, theta 1e4, L = 40, s = 4, betas 8 and 0.5. By hand: dim(r) =
     * 16 ln(40 / (2 pi r)) / (2 ln 1e4): dim(8) = -0.21 -> low 0, dim(0.5) = 2.21 ->
     * high 3, so ramp = 0, 1/3, 2/3, 1, 1, ... over the 8 pairs. */
    {
        const int hd = 16, half = 8, P = 300;
        const RopeYarn y = { .factor = 4.0, .original_seq_len = 40, .beta_fast = 8.0, .beta_slow = 0.5 };
        const double ramp[8] = { 0, 1.0 / 3, 2.0 / 3, 1, 1, 1, 1, 1 };
        const double m = 0.1 * log(4.0) + 1.0;
        CHECK_CLOSE(rope_yarn_mscale(4.0), m, 1e-15, 0);
        float *yc = malloc((size_t)P * half * 4), *ys = malloc((size_t)P * half * 4);
        rope_tables_yarn(yc, ys, P, hd, 10000.0, &y);
        double worst = 0;
        for (int i = 0; i < half; i++) {
            double f = 1.0 / pow(10000.0, (2.0 * i) / hd);
            double want_f = ramp[i] * f / 4.0 + (1.0 - ramp[i]) * f;
            CHECK_CLOSE(rope_yarn_freq(i, hd, 10000.0, &y), want_f, 1e-14, 0);
            for (int p = 0; p < P; p++) {
                /* fp32 rounding of a value of size <= m (2^-24 m), plus the double angle's
                 * error carried by cos/sin (p f 2^-50 is far below) */
                double tol = m * ldexp(1.0, -24) * 1.01;
                double ec = fabs(yc[p * half + i] - m * cos(p * want_f)), es = fabs(ys[p * half + i] - m * sin(p * want_f));
                CHECK(ec <= tol && es <= tol);
                worst = fmax(worst, fmax(ec, es) / tol);
            }
        }
        CHECK(yc[0] == (float)m && ys[0] == 0.0f);  /* position 0: the temperature alone */
        /* pair 0 keeps theta's frequency (1 rad per step), the slow pairs divide by 4 */
        CHECK_CLOSE(ys[1 * half + 0], m * sin(1.0), 1e-7, 0);
        CHECK_CLOSE(ys[100 * half + 7], m * sin(100.0 * pow(10000.0, -14.0 / 16) / 4.0), 1e-7, 0);
        fprintf(stderr, "yarn tables: worst error %.2f of the fp32 rounding bound\n", worst);

        /* The scaled rotation's backward against finite differences (positions 0..4). */
        Rope t = { .n = 10, .T = 5, .heads = 2, .hd = hd, .cos_t = yc, .sin_t = ys };
        size_t NY = (size_t)t.n * t.heads * t.hd;
        t.x = rand_array(NY, &rng, 1.0f);
        t.y = calloc(NY, 4);
        t.r = rand_array(NY, &rng, 1.0f);
        float *dy = malloc(NY * 4);
        memcpy(dy, t.r, NY * 4);
        rope_backward(dy, yc, ys, t.n, t.T, t.heads, t.hd);
        gradcheck("yarn rope dx", t.x, dy, NY, 1, rope_loss, &t, 1e-2, 1e-3, 1e-4);
        /* It scales norms by the temperature: |rope(x)| = m |x| per pair. */
        rope_loss(&t);
        double nx = dot_f64(t.x, t.x, NY), ny = dot_f64(t.y, t.y, NY);
        CHECK_CLOSE(sqrt(ny / nx), m, 1e-6, 0);
        free(dy); free(t.x); free(t.y); free(t.r); free(yc); free(ys);
    }
    return check_report("test_grad_rope");
}
