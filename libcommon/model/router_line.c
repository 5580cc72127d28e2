/* router_line.c: see router_line.h. */
#include "model/router_line.h"

#include <math.h>

void router_line_begin(NdLine *l, const char *run, int64_t step, const RouterLine *r, RouterStats *rs_out)
{
    RouterStats rs;
    router_stats_compute(r->loads, r->bias, r->experts, &rs);
    nd_begin_metric(l, "router", run, step);
    nd_int(l, "layer", r->layer);
    nd_int(l, "experts", r->experts);
    nd_int(l, "top_k", r->top_k);
    nd_int(l, "from_step", r->from_step);
    nd_int(l, "to_step", r->to_step);
    nd_int(l, "tokens", r->tokens);
    nd_arr_begin(l, "loads");
    for (int e = 0; e < r->experts; e++) nd_elem_int(l, (int64_t)r->loads[e]);
    nd_arr_end(l);
    nd_arr_begin(l, "bias");
    for (int e = 0; e < r->experts; e++) nd_elem_f32(l, r->bias ? r->bias[e] : 0.0f);
    nd_arr_end(l);
    nd_f64(l, "cv_pct", rs.cv_pct);
    nd_f64(l, "entropy", rs.entropy);
    nd_int(l, "active", rs.active);
    nd_f64(l, "bias_min", rs.bias_min);
    nd_f64(l, "bias_max", rs.bias_max);
    nd_f64(l, "max_over_mean", rs.max_over_mean);
    nd_f64(l, "drop_frac", r->drop_frac);
    nd_f64(l, "top1_affinity", r->top1_affinity);
    if (r->has_update) {
        nd_f64(l, "router_update_ratio", r->update_ratio);
        nd_f64(l, "router_below_floor", r->below_floor);
        if (!isnan(r->codes_changed)) nd_f64(l, "expert_codes_changed", r->codes_changed);
    }
    if (rs_out) *rs_out = rs;
}
