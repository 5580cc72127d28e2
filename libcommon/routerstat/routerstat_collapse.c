/* routerstat_collapse.c: flag a layer whose routing collapses: entropy falling, or
 * experts going dead, over a window of its router lines. See routerstat.h for the
 * rule; the loops below are that rule written out. */
#include "routerstat/routerstat.h"

#include <math.h>

static int dead_experts(const RouterRecord *r) { return r->stats.experts - r->stats.active; }

CollapseFinding collapse_detect(const RouterRecord *const *series, size_t n, const CollapseRule *rule)
{
    CollapseFinding f = { .flagged = false };
    if (n) f.layer = series[0]->layer;
    size_t window = rule->window > 0 ? (size_t)rule->window : 1;
    /* Entropy wobbles by sampling noise; a tenth of the threshold still counts as the peak. */
    double peak_tolerance = rule->entropy_drop / 10;
    for (size_t i = 1; i < n; i++) {
        size_t lo = i > window ? i - window : 0;
        double peak = -INFINITY;
        int low_dead = dead_experts(series[lo]);
        for (size_t j = lo; j < i; j++) {
            peak = fmax(peak, series[j]->stats.entropy);
            if (dead_experts(series[j]) < low_dead) low_dead = dead_experts(series[j]);
        }
        double e = series[i]->stats.entropy;
        bool by_entropy = peak - e > rule->entropy_drop;
        bool by_dead = dead_experts(series[i]) - low_dead >= rule->dead_rise;
        if (!by_entropy && !by_dead) continue;
        /* Where the decline began: just after the last line still at the peak (or low). */
        size_t began_entropy = i, began_dead = i;
        for (size_t j = i; j-- > lo;) {
            if (series[j]->stats.entropy >= peak - peak_tolerance) { began_entropy = j + 1; break; }
        }
        for (size_t j = i; j-- > lo;) {
            if (dead_experts(series[j]) == low_dead) { began_dead = j + 1; break; }
        }
        bool use_entropy = by_entropy && (!by_dead || began_entropy <= began_dead);
        size_t began = use_entropy ? began_entropy : began_dead;
        f.flagged = true;
        f.detected_step = series[i]->step;
        f.began_step = series[began]->step;
        f.cause = use_entropy ? "entropy" : "dead_experts";
        f.from = use_entropy ? series[began - 1]->stats.entropy : low_dead;
        f.to = use_entropy ? e : dead_experts(series[i]);
        return f;
    }
    return f;
}
