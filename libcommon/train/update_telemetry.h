/* update_telemetry.h: what the optimizer step that ends a log window did to each MoE
 * block's router and expert weights, for the `router` lines (nmoe-metrics(5):
 * router_update_ratio, router_below_floor, expert_codes_changed; the definitions are
 * quant/update_floor.h's).
 *
 * The train loop calls update_telemetry_before just before a step that will end a log
 * window (and only then: the copies cost a pass over the router and expert weights),
 * and update_telemetry_after once the step is applied. Both read the weights through
 * model_get_tensor. The router weights are judged in router_precision's format (bf16
 * or fp32); expert codes are counted only when expert_precision is a quantized format,
 * with the forward's blocks and scales: per expert, each of W1_e, W3_e, W2_e on its own,
 * blocks along its rows (kernels/cpu/moe.h). The copies of the expert weights are
 * allocated once, and only then. */
#ifndef NMOE_TRAIN_UPDATE_TELEMETRY_H
#define NMOE_TRAIN_UPDATE_TELEMETRY_H

#include "model/model.h"
#include "train/config.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool valid;             /* measured at `step` */
    int64_t step;           /* the step measured (the window's last) */
    double router_update_ratio;  /* RMS(dW_r) / RMS(W_r before) */
    double router_below_floor;   /* share of router weights whose update is below the floor */
    double expert_codes_changed; /* share of the block's expert weight codes changed; NaN: fp32 experts */
} LayerUpdate;

typedef struct UpdateTelemetry UpdateTelemetry;

/* NULL for a model without MoE blocks. */
UpdateTelemetry *update_telemetry_create(Model *m, const Config *cfg);
void update_telemetry_free(UpdateTelemetry *u);
/* Copies of the weights as they are before step `step` (1-based, the step about to run). */
void update_telemetry_before(UpdateTelemetry *u, Model *m, int64_t step);
/* Measures every MoE block against the copies (after the step was applied). */
void update_telemetry_after(UpdateTelemetry *u, Model *m);
/* Block l's measurement (valid false when none was made for it). */
const LayerUpdate *update_telemetry_layer(const UpdateTelemetry *u, int l);

#endif
