/* routing.h: the host bookkeeping of MoE routing that is not a kernel: the per-block
 * telemetry counters every backend fills during a forward (loads, drops, top-1
 * affinity, aux loss), and the aux-loss-free balancing update of the routing biases
 * that the model front applies after each optimizer step. doc/DESIGN.md "Router telemetry"
 * defines what the counters mean; nmoe-metrics(5) the `router` lines made from them. */
#ifndef NMOE_MODEL_ROUTING_H
#define NMOE_MODEL_ROUTING_H

#include <stdint.h>

/* Router telemetry, accumulated by moe_forward over calls until reset. */
typedef struct {
    int n_experts;
    uint64_t *loads;           /* [E] assignments chosen by the router (before drops);
                                * uint64 like router_stats_compute() takes them */
    int64_t tokens;            /* tokens routed */
    int64_t assignments;       /* tokens * K */
    int64_t dropped;           /* assignments dropped by the capacity limit */
    double top1_affinity_sum;  /* sum over tokens of max_i s_i (mean = / tokens) */
    double aux_loss_sum;       /* sum of the aux loss values returned */
} MoeStats;

/* Aux-loss-free balancing (DeepSeek-V3 sec. 2.1.2), after each optimizer step:
 *   sign_i = sign(mean_load - load_i) (sign(0) = 0; exact, in integers)
 *   b_i += rate * rate_multiplier * (sign_i - (subtract_mean ? mean_j sign_j : 0))
 *   then |b_i| <= max_abs when max_abs > 0.
 * All in fp32 in this order (the oracle replays it bit for bit). */
typedef struct {
    float rate;        /* router_bias_update_rate */
    int subtract_mean; /* keep the biases centred */
    float max_abs;     /* clamp; 0 = none */
} MoeBiasUpdate;
void moe_bias_update(float *bias, int n_experts, const uint64_t *loads, const MoeBiasUpdate *u,
                     float rate_multiplier);

MoeStats *moe_stats_create(int n_experts);
void moe_stats_free(MoeStats *st);
void moe_stats_reset(MoeStats *st);
/* into += from (same E). */
void moe_stats_add(MoeStats *into, const MoeStats *from);

#endif
