/* update_telemetry.c: see update_telemetry.h. */
#include "train/update_telemetry.h"
#include "base/error.h"
#include "quant/update_floor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXPERT_MATS = 3 }; /* w1, w3, w2 */

typedef struct {
    int layer;
    const ParamTensor *router;
    const ParamTensor *experts[EXPERT_MATS]; /* NULL: absent (relu2 has no w3) */
    float *router_before;
    float *experts_before[EXPERT_MATS];
} Block;

struct UpdateTelemetry {
    QuantFormat router_format, expert_format;
    int E, F, C;
    int n_blocks;
    Block *blocks;
    LayerUpdate *by_layer;  /* [n_layers] */
    int n_layers;
    float *after;           /* one tensor's worth, the largest */
    int64_t step;
    bool armed;
};

static const ParamTensor *find(const Model *m, int l, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "layers.%d.ffn.%s", l, suffix);
    return model_tensor_find(m, name);
}

UpdateTelemetry *update_telemetry_create(Model *m, const Config *cfg)
{
    if (model_n_moe_layers(m) == 0) return NULL;
    const ModelShape *s = model_shape(m);
    UpdateTelemetry *u = xcalloc(1, sizeof *u);
    u->router_format = strcmp(cfg->router_precision, "bf16") == 0 ? QUANT_BF16 : QUANT_FP32;
    u->expert_format = (QuantFormat)s->expert_precision;
    u->E = s->n_routed_experts;
    u->F = s->moe_inter_dim;
    u->C = s->dim;
    u->n_layers = s->n_layers;
    u->by_layer = xcalloc((size_t)s->n_layers, sizeof *u->by_layer);
    u->n_blocks = model_n_moe_layers(m);
    u->blocks = xcalloc((size_t)u->n_blocks, sizeof *u->blocks);
    static const char *const names[EXPERT_MATS] = { "experts.w1.weight", "experts.w3.weight", "experts.w2.weight" };
    size_t largest = 0;
    for (int i = 0; i < u->n_blocks; i++) {
        Block *b = &u->blocks[i];
        b->layer = model_moe_layer(m, i);
        b->router = find(m, b->layer, "router.weight");
        if (!b->router) die("update telemetry: block %d has no router weight", b->layer);
        b->router_before = xmalloc(b->router->numel * sizeof(float));
        if (b->router->numel > largest) largest = b->router->numel;
        if (u->expert_format == QUANT_FP32) continue;
        for (int k = 0; k < EXPERT_MATS; k++) {
            b->experts[k] = find(m, b->layer, names[k]);
            if (!b->experts[k]) continue;
            b->experts_before[k] = xmalloc(b->experts[k]->numel * sizeof(float));
            if (b->experts[k]->numel > largest) largest = b->experts[k]->numel;
        }
    }
    u->after = xmalloc(largest * sizeof(float));
    return u;
}

void update_telemetry_free(UpdateTelemetry *u)
{
    if (!u) return;
    for (int i = 0; i < u->n_blocks; i++) {
        free(u->blocks[i].router_before);
        for (int k = 0; k < EXPERT_MATS; k++) free(u->blocks[i].experts_before[k]);
    }
    free(u->blocks);
    free(u->by_layer);
    free(u->after);
    free(u);
}

void update_telemetry_before(UpdateTelemetry *u, Model *m, int64_t step)
{
    for (int i = 0; i < u->n_blocks; i++) {
        Block *b = &u->blocks[i];
        model_get_tensor(m, b->router, b->router_before);
        for (int k = 0; k < EXPERT_MATS; k++)
            if (b->experts[k]) model_get_tensor(m, b->experts[k], b->experts_before[k]);
    }
    u->step = step;
    u->armed = true;
}

/* Codes changed over the experts of one stacked tensor: expert e's matrix is rows
 * [e * rows, (e + 1) * rows) of cols columns, quantized on its own (moe.c). */
static size_t expert_codes_changed(QuantFormat f, const float *before, const float *after, int E, size_t rows,
                                   size_t cols)
{
    size_t changed = 0;
    #pragma omp parallel for schedule(static) reduction(+ : changed)
    for (int e = 0; e < E; e++) {
        const size_t o = (size_t)e * rows * cols;
        changed += quant_codes_changed(f, before + o, after + o, rows, cols, 1);
    }
    return changed;
}

void update_telemetry_after(UpdateTelemetry *u, Model *m)
{
    if (!u->armed) return;
    u->armed = false;
    for (int i = 0; i < u->n_blocks; i++) {
        Block *b = &u->blocks[i];
        LayerUpdate *r = &u->by_layer[b->layer];
        model_get_tensor(m, b->router, u->after);
        const WeightUpdate w = weight_update_measure(u->router_format, b->router_before, u->after, b->router->numel);
        *r = (LayerUpdate){ .valid = true, .step = u->step, .router_update_ratio = weight_update_ratio(&w),
                            .router_below_floor = weight_update_below_share(&w), .expert_codes_changed = NAN };
        if (u->expert_format == QUANT_FP32) continue;
        size_t changed = 0, total = 0;
        for (int k = 0; k < EXPERT_MATS; k++) {
            const ParamTensor *t = b->experts[k];
            if (!t) continue;
            model_get_tensor(m, t, u->after);
            /* w1, w3: [F, C] per expert; w2: [C, F] */
            const size_t rows = k < 2 ? (size_t)u->F : (size_t)u->C, cols = k < 2 ? (size_t)u->C : (size_t)u->F;
            changed += expert_codes_changed(u->expert_format, b->experts_before[k], u->after, u->E, rows, cols);
            total += t->numel;
        }
        r->expert_codes_changed = total ? (double)changed / (double)total : NAN;
    }
}

const LayerUpdate *update_telemetry_layer(const UpdateTelemetry *u, int l)
{
    static const LayerUpdate none = { .valid = false };
    if (!u || l < 0 || l >= u->n_layers) return &none;
    return &u->by_layer[l];
}
