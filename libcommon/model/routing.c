/* routing.c: aux-loss-free load balancing (the per-expert routing bias update) and the
 * router telemetry counters (see routing.h). */
#include "model/routing.h"

#include "base/error.h"

#include <stdlib.h>
#include <string.h>

void moe_bias_update(float *bias, int n_experts, const uint64_t *loads, const MoeBiasUpdate *u,
                     float rate_multiplier)
{
    const int E = n_experts;
    /* sign(mean - load_i) = sign(sum_j load_j - E * load_i): exact in integers, so a
     * load equal to the mean gives 0 however the mean rounds. */
    int64_t total = 0;
    for (int i = 0; i < E; i++) total += (int64_t)loads[i];
    int sign_sum = 0;
    for (int i = 0; i < E; i++) {
        int64_t diff = total - (int64_t)E * (int64_t)loads[i];
        sign_sum += (diff > 0) - (diff < 0);
    }
    const float mean_sign = u->subtract_mean ? (float)sign_sum / (float)E : 0.0f;
    const float rate = u->rate * rate_multiplier;
    for (int i = 0; i < E; i++) {
        int64_t diff = total - (int64_t)E * (int64_t)loads[i];
        float sign = (float)((diff > 0) - (diff < 0));
        float b = bias[i] + rate * (sign - mean_sign);
        if (u->max_abs > 0) b = b > u->max_abs ? u->max_abs : (b < -u->max_abs ? -u->max_abs : b);
        bias[i] = b;
    }
}

MoeStats *moe_stats_create(int n_experts)
{
    if (n_experts < 1) die("moe: stats for %d experts", n_experts);
    MoeStats *st = xcalloc(1, sizeof *st);
    st->n_experts = n_experts;
    st->loads = xcalloc((size_t)n_experts, sizeof *st->loads);
    return st;
}

void moe_stats_free(MoeStats *st)
{
    if (!st) return;
    free(st->loads);
    free(st);
}

void moe_stats_reset(MoeStats *st)
{
    memset(st->loads, 0, (size_t)st->n_experts * sizeof *st->loads);
    st->tokens = st->assignments = st->dropped = 0;
    st->top1_affinity_sum = st->aux_loss_sum = 0.0;
}

void moe_stats_add(MoeStats *into, const MoeStats *from)
{
    if (into->n_experts != from->n_experts)
        die("moe: adding stats of %d experts to %d", from->n_experts, into->n_experts);
    for (int i = 0; i < into->n_experts; i++) into->loads[i] += from->loads[i];
    into->tokens += from->tokens;
    into->assignments += from->assignments;
    into->dropped += from->dropped;
    into->top1_affinity_sum += from->top1_affinity_sum;
    into->aux_loss_sum += from->aux_loss_sum;
}
