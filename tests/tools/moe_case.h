/* moe_case.h: what the MoE helper programs (moe_dump, moe_layer_bench) share: the
 * key=value options that describe a layer, and its random weights and inputs from a
 * Philox stream per tensor (so each tensor depends only on the seed). */
#ifndef NMOE_TESTS_MOE_CASE_H
#define NMOE_TESTS_MOE_CASE_H

#include "base/cli.h"
#include "cpu/moe.h"
#include "base/error.h"
#include "base/rng.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    MoeConfig cfg;
    int tokens;
    uint64_t seed;
    /* bias-update simulation (moe_dump) */
    int steps;
    MoeBiasUpdate update;
    /* timing (moe_layer_bench) */
    int repeat;
} MoeCaseOpts;

static const char moe_case_keys[] =
    "  tokens=N dim=N experts=N topk=N inter=N score=sigmoid|softmax route_scale=X gain=X\n"
    "  capacity=X (0 = dropless) alpha=X seq_len=N seed=N steps=N rate=X centre=0|1 max_abs=X\n"
    "  repeat=N precision=fp32|bf16|fp8_e4m3|mxfp8|mxfp4|nvfp4 router=fp32|bf16\n"
    "  groups=N limited=N (group-limited routing; groups=1: off)\n";

static MoeCaseOpts moe_case_defaults(void)
{
    MoeCaseOpts o = { .tokens = 64, .seed = 1, .steps = 0, .repeat = 10 };
    o.cfg = (MoeConfig){ .dim = 32, .n_experts = 8, .top_k = 2, .inter_dim = 24, .score = MOE_SCORE_SIGMOID,
                         .route_scale = 1.0f, .output_gain = 1.0f };
    o.update = (MoeBiasUpdate){ .rate = 1e-3f };
    return o;
}

/* One key=value argument into o; usage error on anything unknown. */
static void moe_case_set(MoeCaseOpts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq) die_usage("'%s': expected key=value", arg);
    char key[32];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof key) die_usage("'%s': unknown key", arg);
    memcpy(key, arg, n);
    key[n] = 0;
    const char *v = eq + 1;
    MoeConfig *c = &o->cfg;
    if (!strcmp(key, "tokens")) o->tokens = (int)parse_int(v, key, 1, 1 << 24);
    else if (!strcmp(key, "dim")) c->dim = (int)parse_int(v, key, 1, 1 << 16);
    else if (!strcmp(key, "experts")) c->n_experts = (int)parse_int(v, key, 1, 4096);
    else if (!strcmp(key, "topk")) c->top_k = (int)parse_int(v, key, 1, 4096);
    else if (!strcmp(key, "inter")) c->inter_dim = (int)parse_int(v, key, 1, 1 << 16);
    else if (!strcmp(key, "score")) {
        if (!strcmp(v, "sigmoid")) c->score = MOE_SCORE_SIGMOID;
        else if (!strcmp(v, "softmax")) c->score = MOE_SCORE_SOFTMAX;
        else die_usage("score: '%s' is not sigmoid or softmax", v);
    }
    else if (!strcmp(key, "route_scale")) c->route_scale = (float)parse_double(v, key, 1e-6, 1e6);
    else if (!strcmp(key, "gain")) c->output_gain = (float)parse_double(v, key, -1e6, 1e6);
    else if (!strcmp(key, "capacity")) c->capacity_factor = (float)parse_double(v, key, 0, 1e6);
    else if (!strcmp(key, "alpha")) c->aux_loss_alpha = (float)parse_double(v, key, 0, 1e6);
    else if (!strcmp(key, "seq_len")) c->seq_len = (int)parse_int(v, key, 0, 1 << 24);
    else if (!strcmp(key, "seed")) o->seed = (uint64_t)parse_int(v, key, 0, INT64_MAX);
    else if (!strcmp(key, "steps")) o->steps = (int)parse_int(v, key, 0, 100000);
    else if (!strcmp(key, "rate")) o->update.rate = (float)parse_double(v, key, 0, 1e6);
    else if (!strcmp(key, "centre")) o->update.subtract_mean = (int)parse_int(v, key, 0, 1);
    else if (!strcmp(key, "max_abs")) o->update.max_abs = (float)parse_double(v, key, 0, 1e6);
    else if (!strcmp(key, "groups")) c->n_groups = (int)parse_int(v, key, 1, 4096);
    else if (!strcmp(key, "limited")) c->topk_groups = (int)parse_int(v, key, 1, 4096);
    else if (!strcmp(key, "repeat")) o->repeat = (int)parse_int(v, key, 1, 1000000);
    else if (!strcmp(key, "precision")) {
        QuantFormat f;
        if (!quant_format_parse(v, &f)) die_usage("precision: '%s' is not a format of quant/quant.h", v);
        c->expert_precision = (int)f;
    }
    else if (!strcmp(key, "router")) {
        if (strcmp(v, "fp32") && strcmp(v, "bf16")) die_usage("router: '%s' is not fp32 or bf16", v);
        c->router_bf16 = !strcmp(v, "bf16");
    }
    else die_usage("'%s': unknown key", arg);
}

static void moe_case_validate(const MoeCaseOpts *o)
{
    const char *why = moe_config_check(&o->cfg);
    if (why) die_usage("%s", why);
    if (o->cfg.aux_loss_alpha > 0 && o->cfg.seq_len > 0 && o->tokens % o->cfg.seq_len)
        die_usage("tokens=%d is not a multiple of seq_len=%d", o->tokens, o->cfg.seq_len);
}

/* Normal(0, scale^2) values from stream `stream` of the seed. */
static float *moe_case_randn(uint64_t seed, uint64_t stream, size_t n, float scale)
{
    float *v = xaligned_alloc(n * sizeof *v);
    Rng r = rng_make(seed, stream);
    for (size_t i = 0; i < n; i++) v[i] = scale * rng_normal(&r);
    return v;
}

typedef struct {
    float *x, *router_w, *bias, *w1, *w3, *w2, *dy;
    MoeParams p;
} MoeCase;

/* Weights scaled like a fresh layer (1/sqrt(fan_in)); biases small, as after some steps. */
static MoeCase moe_case_make(const MoeCaseOpts *o)
{
    const size_t T = (size_t)o->tokens, D = (size_t)o->cfg.dim, E = (size_t)o->cfg.n_experts;
    const size_t F = (size_t)o->cfg.inter_dim;
    MoeCase c;
    c.x = moe_case_randn(o->seed, 1, T * D, 1.0f);
    c.router_w = moe_case_randn(o->seed, 2, E * D, 1.0f / sqrtf((float)D));
    c.bias = moe_case_randn(o->seed, 3, E, 0.05f);
    c.w1 = moe_case_randn(o->seed, 4, E * F * D, 1.0f / sqrtf((float)D));
    c.w3 = moe_case_randn(o->seed, 5, E * F * D, 1.0f / sqrtf((float)D));
    c.w2 = moe_case_randn(o->seed, 6, E * D * F, 1.0f / sqrtf((float)F));
    c.dy = moe_case_randn(o->seed, 7, T * D, 1.0f);
    c.p = (MoeParams){ c.router_w, c.bias, c.w1, c.w3, c.w2 };
    return c;
}

static void moe_case_free(MoeCase *c)
{
    free(c->x); free(c->router_w); free(c->bias); free(c->w1); free(c->w3); free(c->w2); free(c->dy);
}

#endif
