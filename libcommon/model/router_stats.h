/* router_stats.h: the router telemetry definitions (doc/DESIGN.md, "Router telemetry"),
 * computed in one place so the trainer's `router` lines and nmoe-routerstat agree.
 *
 * For one MoE layer over one window, with load_i the token-to-expert assignments of
 * routed expert i, N = sum load_i, p_i = load_i / N:
 *   cv_pct        = 100 * stddev(load) / mean(load)   (population stddev)
 *   entropy       = (-sum p_i ln p_i) / ln E          (0 ln 0 = 0; E = 1 gives 1)
 *   active        = count(load_i > 0)
 *   bias_min/max  = min/max b_i
 *   max_over_mean = max load / mean load
 * An empty window (N = 0) has cv_pct 0, entropy 0, active 0 and max_over_mean 0:
 * nothing was routed, which no gate should mistake for balance. */
#ifndef NMOE_ROUTER_STATS_H
#define NMOE_ROUTER_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int experts;           /* E */
    uint64_t total;        /* N: assignments in the window */
    double cv_pct;
    double entropy;        /* normalized, in [0, 1] */
    int active;
    double bias_min, bias_max; /* 0 when no bias was given; NaN if any bias is NaN */
    double max_over_mean;
} RouterStats;

/* loads[E]; bias[E] may be NULL. E >= 1. */
void router_stats_compute(const uint64_t *loads, const float *bias, int n_experts, RouterStats *out);

/* The largest CV% top-K routing allows: every assignment on K experts, evenly, the
 * rest dead. With mean N/E and K loads of N/K: 100 * sqrt(E/K - 1). (K = 1 gives the
 * one-expert-takes-all value 100 * sqrt(E - 1).) */
double router_cv_max(int n_experts, int top_k);

/* The trainer's fail-fast rule: a layer has collapsed when tokens were routed, at
 * most top_k + 1 experts received any, and its CV is at least cv_frac of
 * router_cv_max (the CV condition keeps layers with E <= K + 1, where the active
 * count alone says nothing, from being flagged while balanced). */
#define ROUTER_COLLAPSE_CV_FRAC 0.5
bool router_collapsed(const RouterStats *s, int top_k, double cv_frac);

/* "collapsed: layer 3 active 7/64 cv 750%", the reason for the stop line. */
void router_collapse_reason(const RouterStats *s, int layer, char *buf, size_t cap);

#endif
