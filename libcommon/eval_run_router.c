/* eval_run_router.c: `nmoe-eval router`, router health on held-out data (nmoe-eval(1)):
 * a forward pass over held-out sequences that counts, per MoE layer, the token-to-expert
 * assignments of each routed expert, written as `router` lines (nmoe-metrics(5)) that
 * nmoe-routerstat(1) reads, with the definitions of router_stats.h.
 *
 * STATUS: the model (model.h) has no MoE blocks yet (issue 5), and so no per-layer
 * telemetry accessor to run this pass with. Until it has, a dense checkpoint gets a
 * clear "no MoE layers" error, and a MoE checkpoint one that says the model cannot run
 * it; eval_write_router_line below is the line writer the pass will use. What the model
 * side must provide is described in nmoe-eval(1), BUGS. */
#include "checkpoint.h"
#include "error.h"
#include "eval_run.h"
#include "ndjson.h"
#include "router_stats.h"

#include <inttypes.h>
#include <stdlib.h>

void eval_write_router_line(FILE *fp, const char *what, const char *run, int64_t step, int layer, int n_experts,
                            int top_k, const uint64_t *loads, const float *bias, uint64_t tokens, uint64_t dropped,
                            double top1_affinity_sum)
{
    RouterStats rs;
    router_stats_compute(loads, bias, n_experts, &rs);
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "kind", "router");
    nd_str(&l, "run", run);
    nd_int(&l, "step", step);
    nd_int(&l, "layer", layer);
    nd_int(&l, "experts", n_experts);
    nd_int(&l, "top_k", top_k);
    nd_int(&l, "from_step", step);
    nd_int(&l, "to_step", step);
    nd_int(&l, "tokens", (int64_t)tokens);
    nd_arr_begin(&l, "loads");
    for (int e = 0; e < n_experts; e++) nd_elem_int(&l, (int64_t)loads[e]);
    nd_arr_end(&l);
    nd_arr_begin(&l, "bias");
    for (int e = 0; e < n_experts; e++) nd_elem_f32(&l, bias ? bias[e] : 0.0f);
    nd_arr_end(&l);
    nd_f64(&l, "cv_pct", rs.cv_pct);
    nd_f64(&l, "entropy", rs.entropy);
    nd_int(&l, "active", rs.active);
    nd_f64(&l, "bias_min", rs.bias_min);
    nd_f64(&l, "bias_max", rs.bias_max);
    nd_f64(&l, "max_over_mean", rs.max_over_mean);
    const uint64_t assignments = tokens * (uint64_t)top_k;
    nd_f64(&l, "drop_frac", assignments ? (double)dropped / (double)assignments : 0.0);
    nd_f64(&l, "top1_affinity", tokens ? top1_affinity_sum / (double)tokens : 0.0);
    nd_emit(&l, fp, what);
    nd_free(&l);
}

int eval_run_router(const EvalOptions *o)
{
    if (!o->ckpt) die_usage("--ckpt DIR is required");
    if (!o->data) die_usage("router: --data SHARDS is required");
    char *dir = checkpoint_find(o->ckpt);
    if (!dir) die("%s: not a checkpoint (no state.json) nor a run directory (no latest)", o->ckpt);
    CheckpointState st;
    checkpoint_read_state(dir, &st);
    if (st.config.n_routed_experts == 0)
        die("%s: a dense model (n_routed_experts = 0): it has no MoE layers, so no router to measure", dir);
    die("%s: a MoE model (%" PRId64 " routed experts), but this build's model has no MoE layers to run: "
        "router health on held-out data needs the MoE model (issue 5)",
        dir, st.config.n_routed_experts);
}
