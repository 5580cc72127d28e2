/* gradcheck.h: finite-difference gradient checks for the test_grad_* unit tests.
 *
 * The scalar checked is L = sum_i r_i y_i for fixed random r (so dL/dy = r), summed in
 * double. For an input element x, the numerical derivative is the central difference
 * (L(x + e) - L(x - e)) / 2e with e = eps * max(1, |x|). The ops run in float, so the
 * difference carries rounding noise of about 1e-7 |L| / e: tolerances are stated per
 * test as |analytic - numeric| <= atol + rtol |numeric|. */
#ifndef NMOE_TEST_GRADCHECK_H
#define NMOE_TEST_GRADCHECK_H

#include "check.h"
#include "base/rng.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

static inline double dot_f64(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static inline float *rand_fill(float *x, size_t n, Rng *r, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
    return x;
}

static inline float *rand_array(size_t n, Rng *r, float scale)
{
    float *x = calloc(n ? n : 1, sizeof *x);
    return rand_fill(x, n, r, scale);
}

/* Check analytic[i] against central differences of loss() in x[i], for every `stride`-th
 * element (stride 1: all). loss() recomputes the forward from the current x. Returns the
 * number of elements out of tolerance (each one printed, up to 10), and counts one CHECK. */
typedef double (*GradLossFn)(void *ctx);

static inline int gradcheck(const char *what, float *x, const float *analytic, size_t n, size_t stride,
                            GradLossFn loss, void *ctx, double eps, double rtol, double atol)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i];
        double e = eps * (fabs(saved) > 1.0 ? fabs(saved) : 1.0);
        x[i] = (float)(saved + e);
        double up_e = (double)x[i] - saved; /* the step actually taken, in float */
        double lp = loss(ctx);
        x[i] = (float)(saved - e);
        double down_e = saved - (double)x[i];
        double lm = loss(ctx);
        x[i] = saved;
        double numeric = (lp - lm) / (up_e + down_e);
        double err = fabs(analytic[i] - numeric);
        double tol = atol + rtol * fabs(numeric);
        if (err / tol > worst) worst = err / tol;
        if (!(err <= tol)) {
            if (bad < 10)
                fprintf(stderr, "%s[%zu]: analytic %.8g numeric %.8g (err %.3g > tol %.3g)\n", what, i,
                        (double)analytic[i], numeric, err, tol);
            bad++;
        }
    }
    check_count++;
    if (bad) {
        check_failures++;
        fprintf(stderr, "%s: %d elements out of tolerance\n", what, bad);
    } else {
        fprintf(stderr, "%s: ok (worst error %.2f of tolerance)\n", what, worst);
    }
    return bad;
}

/* max_i |a_i - b_i| / (atol + rtol |b_i|) <= 1, as one CHECK with a message. */
static inline void check_arrays_close(const char *what, const float *a, const float *b, size_t n,
                                      double rtol, double atol)
{
    size_t worst_i = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst) || r != r) { worst = r; worst_i = i; }
    }
    check_count++;
    if (!(worst <= 1.0)) {
        check_failures++;
        fprintf(stderr, "%s: element %zu: %.9g vs %.9g (%.3g of tolerance)\n", what, worst_i,
                (double)a[worst_i], (double)b[worst_i], worst);
    }
}

static inline void check_arrays_identical(const char *what, const float *a, const float *b, size_t n)
{
    check_count++;
    if (memcmp(a, b, n * sizeof *a) != 0) {
        check_failures++;
        size_t i = 0;
        while (i < n && memcmp(a + i, b + i, sizeof *a) == 0) i++;
        fprintf(stderr, "%s: not bit-identical (first at %zu: %.9g vs %.9g)\n", what, i, (double)a[i], (double)b[i]);
    }
}

#endif
