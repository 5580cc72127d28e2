/* router_stats.c: see router_stats.h. Plain loops in double precision; E is at most a
 * few hundred, so there is no fast path to keep in step with this one. */
#include "model/router_stats.h"

#include <math.h>
#include <stdio.h>

void router_stats_compute(const uint64_t *loads, const float *bias, int n_experts, RouterStats *out)
{
    RouterStats s = { .experts = n_experts };
    uint64_t max_load = 0;
    for (int i = 0; i < n_experts; i++) {
        s.total += loads[i];
        s.active += loads[i] > 0;
        if (loads[i] > max_load) max_load = loads[i];
    }
    if (s.total > 0) {
        double n = (double)s.total, mean = n / n_experts, var = 0, h = 0;
        for (int i = 0; i < n_experts; i++) {
            double d = (double)loads[i] - mean;
            var += d * d;
            if (loads[i] > 0) {
                double p = (double)loads[i] / n;
                h -= p * log(p);
            }
        }
        var /= n_experts;
        s.cv_pct = 100.0 * sqrt(var) / mean;
        s.entropy = n_experts > 1 ? h / log((double)n_experts) : 1.0;
        s.max_over_mean = (double)max_load / mean;
    }
    if (bias) {
        s.bias_min = s.bias_max = bias[0];
        for (int i = 0; i < n_experts; i++) {
            if (isnan(bias[i])) { s.bias_min = s.bias_max = NAN; break; }
            if (bias[i] < s.bias_min) s.bias_min = bias[i];
            if (bias[i] > s.bias_max) s.bias_max = bias[i];
        }
    }
    *out = s;
}

double router_cv_max(int n_experts, int top_k)
{
    if (top_k < 1 || top_k >= n_experts) return 0.0;
    return 100.0 * sqrt((double)n_experts / top_k - 1.0);
}

bool router_collapsed(const RouterStats *s, int top_k, double cv_frac)
{
    if (top_k >= s->experts) return false; /* every expert takes every token */
    return s->total > 0 && s->active <= top_k + 1 && s->cv_pct >= cv_frac * router_cv_max(s->experts, top_k);
}

void router_collapse_reason(const RouterStats *s, int layer, char *buf, size_t cap)
{
    snprintf(buf, cap, "collapsed: layer %d active %d/%d cv %.0f%%", layer, s->active, s->experts, s->cv_pct);
}
