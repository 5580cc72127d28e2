/* router_line.h: the `router` line of the metric stream (nmoe-metrics(5)), written in
 * one place for the trainer, nmoe-eval router and the test generators. */
#ifndef NMOE_MODEL_ROUTER_LINE_H
#define NMOE_MODEL_ROUTER_LINE_H

#include "formats/ndjson.h"
#include "model/router_stats.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int layer, experts, top_k;
    int64_t from_step, to_step;   /* the window the loads cover */
    int64_t tokens;               /* tokens routed in it */
    const uint64_t *loads;        /* [experts] */
    const float *bias;            /* [experts]; NULL: all zero */
    double drop_frac, top1_affinity;
    /* The update telemetry of the window's last step (train/update_telemetry.h), written
     * only when has_update: router_update_ratio, router_below_floor, and
     * expert_codes_changed unless it is NaN (fp32 experts). */
    bool has_update;
    double update_ratio, below_floor, codes_changed;
} RouterLine;

/* Begin l with the router line's fields, preamble through top1_affinity and the update
 * telemetry; the caller
 * adds its optional keys (aux_loss, router_grad_norm) and emits it. The statistics
 * computed from the loads and biases go to *rs (may be NULL). */
void router_line_begin(NdLine *l, const char *run, int64_t step, const RouterLine *r, RouterStats *rs);

#endif
