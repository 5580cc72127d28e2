/* test_router_stats.c: the telemetry definitions (DESIGN.md) on loads whose statistics
 * are worked out by hand here, the extreme cases (uniform, one expert takes all), and
 * the trainer's collapse rule. */
#include "check.h"
#include "model/router_stats.h"

#include <math.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_uniform(void)
{
    uint64_t loads[64];
    for (int i = 0; i < 64; i++) loads[i] = 7680;
    RouterStats s;
    router_stats_compute(loads, NULL, 64, &s);
    CHECK_EQ_INT(s.experts, 64);
    CHECK_EQ_INT(s.total, 64 * 7680);
    CHECK_CLOSE(s.cv_pct, 0.0, 0, 1e-12);
    CHECK_CLOSE(s.entropy, 1.0, 1e-12, 0);
    CHECK_EQ_INT(s.active, 64);
    CHECK_CLOSE(s.max_over_mean, 1.0, 1e-12, 0);
    CHECK(s.bias_min == 0 && s.bias_max == 0); /* no bias given */
}

static void test_one_expert_takes_all(void)
{
    for (int e = 2; e <= 256; e *= 2) {
        uint64_t loads[256] = { 0 };
        loads[e / 2] = 12345;
        RouterStats s;
        router_stats_compute(loads, NULL, e, &s);
        CHECK_CLOSE(s.entropy, 0.0, 0, 1e-15);
        CHECK_EQ_INT(s.active, 1);
        /* mean N/E, one load N: stddev = (N/E) sqrt(E-1), so CV = 100 sqrt(E-1) */
        CHECK_CLOSE(s.cv_pct, 100.0 * sqrt(e - 1.0), 1e-12, 0);
        CHECK_CLOSE(s.max_over_mean, (double)e, 1e-12, 0);
        CHECK_CLOSE(router_cv_max(e, 1), s.cv_pct, 1e-12, 0);
    }
}

static void test_hand_computed(void)
{
    /* loads 1,2,3,4: N = 10, mean 2.5, population variance (2.25+0.25+0.25+2.25)/4 = 1.25,
     * CV = 100 sqrt(1.25)/2.5 = 44.72136%; p = .1,.2,.3,.4,
     * H = -(.1 ln .1 + .2 ln .2 + .3 ln .3 + .4 ln .4) = 1.2798542, / ln 4 = 0.9232197. */
    uint64_t a[] = { 1, 2, 3, 4 };
    float bias[] = { -0.57f, 0.42f, 0.1f, -0.2f };
    RouterStats s;
    router_stats_compute(a, bias, N_OF(a), &s);
    CHECK_CLOSE(s.cv_pct, 44.72136, 1e-6, 0);
    CHECK_CLOSE(s.entropy, 0.9232197, 1e-6, 0);
    CHECK_EQ_INT(s.active, 4);
    CHECK_CLOSE(s.max_over_mean, 1.6, 1e-12, 0);
    CHECK(s.bias_min == (double)-0.57f);
    CHECK(s.bias_max == (double)0.42f);

    /* 0,3,0,3: two experts dead; mean 1.5, variance 2.25, CV 100%; entropy ln 2 / ln 4 = 0.5 */
    uint64_t b[] = { 0, 3, 0, 3 };
    router_stats_compute(b, NULL, N_OF(b), &s);
    CHECK_CLOSE(s.cv_pct, 100.0, 1e-12, 0);
    CHECK_CLOSE(s.entropy, 0.5, 1e-12, 0);
    CHECK_EQ_INT(s.active, 2);
    CHECK_CLOSE(s.max_over_mean, 2.0, 1e-12, 0);

    /* 64 experts, top-6, all assignments on 7 experts evenly: CV = 100 sqrt(64/7 - 1) = 285.3569,
     * entropy ln 7 / ln 64 = 1.9459101 / 4.1588831 = 0.4678925 */
    uint64_t c[64] = { 0 };
    for (int i = 0; i < 7; i++) c[i * 9] = 1000;
    router_stats_compute(c, NULL, 64, &s);
    CHECK_CLOSE(s.cv_pct, 285.3569, 1e-6, 0);
    CHECK_CLOSE(s.entropy, 0.4678925, 1e-6, 0);
    CHECK_EQ_INT(s.active, 7);
}

static void test_edges(void)
{
    RouterStats s;
    uint64_t one[] = { 7 };
    router_stats_compute(one, NULL, 1, &s); /* E = 1: entropy 1 by definition */
    CHECK_CLOSE(s.entropy, 1.0, 0, 0);
    CHECK_CLOSE(s.cv_pct, 0.0, 0, 0);
    CHECK_EQ_INT(s.active, 1);
    uint64_t none[] = { 0, 0, 0 };
    router_stats_compute(none, NULL, 3, &s); /* nothing routed */
    CHECK_EQ_INT(s.total, 0);
    CHECK(s.cv_pct == 0 && s.entropy == 0 && s.active == 0 && s.max_over_mean == 0);
    uint64_t big[] = { 1ull << 40, 1ull << 40 };
    router_stats_compute(big, NULL, 2, &s);
    CHECK_CLOSE(s.entropy, 1.0, 1e-12, 0);
    float nan_bias[] = { 0.1f, NAN };
    router_stats_compute(big, nan_bias, 2, &s);
    CHECK(isnan(s.bias_min) && isnan(s.bias_max));
    float inf_bias[] = { -INFINITY, 0.5f };
    router_stats_compute(big, inf_bias, 2, &s);
    CHECK(isinf(s.bias_min) && s.bias_min < 0 && s.bias_max == 0.5);
}

static void test_collapse_rule(void)
{
    /* max CV for top-K: K experts evenly, the rest dead: 100 sqrt(E/K - 1) */
    CHECK_CLOSE(router_cv_max(64, 6), 100.0 * sqrt(64.0 / 6 - 1), 1e-12, 0);
    CHECK_CLOSE(router_cv_max(64, 6), 310.9126, 1e-6, 0);
    uint64_t k_only[64] = { 0 };
    for (int i = 0; i < 6; i++) k_only[i] = 500;
    RouterStats s;
    router_stats_compute(k_only, NULL, 64, &s);
    CHECK_CLOSE(s.cv_pct, router_cv_max(64, 6), 1e-12, 0);
    CHECK(router_collapsed(&s, 6, ROUTER_COLLAPSE_CV_FRAC));
    char why[128];
    router_collapse_reason(&s, 3, why, sizeof why);
    CHECK_STR(why, "collapsed: layer 3 active 6/64 cv 311%");

    uint64_t seven[64] = { 0 };
    for (int i = 0; i < 7; i++) seven[i * 9] = 1000;
    router_stats_compute(seven, NULL, 64, &s);
    CHECK(router_collapsed(&s, 6, ROUTER_COLLAPSE_CV_FRAC)); /* active 7 = K+1 */
    router_collapse_reason(&s, 2, why, sizeof why);
    CHECK_STR(why, "collapsed: layer 2 active 7/64 cv 285%");

    uint64_t eight[64] = { 0 };
    for (int i = 0; i < 8; i++) eight[i * 8] = 1000;
    router_stats_compute(eight, NULL, 64, &s);
    CHECK(!router_collapsed(&s, 6, ROUTER_COLLAPSE_CV_FRAC)); /* K+2 active: not yet */

    uint64_t healthy[64];
    for (int i = 0; i < 64; i++) healthy[i] = 7000 + (uint64_t)(i * 37 % 1500);
    router_stats_compute(healthy, NULL, 64, &s);
    CHECK(!router_collapsed(&s, 6, ROUTER_COLLAPSE_CV_FRAC));

    /* E <= K+1: the active count says nothing; a balanced layer is not collapsed */
    uint64_t small[4] = { 30, 30, 30, 30 };
    router_stats_compute(small, NULL, 4, &s);
    CHECK(!router_collapsed(&s, 3, ROUTER_COLLAPSE_CV_FRAC));
    uint64_t small_skew[4] = { 40, 40, 40, 0 }; /* top-3 of 4 at its maximum CV */
    router_stats_compute(small_skew, NULL, 4, &s);
    CHECK_CLOSE(s.cv_pct, router_cv_max(4, 3), 1e-12, 0);
    CHECK(router_collapsed(&s, 3, ROUTER_COLLAPSE_CV_FRAC));
    CHECK(!router_collapsed(&s, 4, ROUTER_COLLAPSE_CV_FRAC)); /* K = E: every expert, every token */
    uint64_t zero[4] = { 0 };
    router_stats_compute(zero, NULL, 4, &s);
    CHECK(!router_collapsed(&s, 1, ROUTER_COLLAPSE_CV_FRAC)); /* nothing routed is not a collapse */
}

int main(void)
{
    test_uniform();
    test_one_expert_takes_all();
    test_hand_computed();
    test_edges();
    test_collapse_rule();
    return check_report("test_router_stats");
}
