/* moe_dump: run the CPU MoE layer on a random case and write everything the PyTorch
 * oracle (tests/oracle/moe_reference.py) needs to check it, as NumPy .npy files (format
 * 1.0, little-endian, C order) in OUTDIR:
 *
 *   config.json                the layer and update options (key names of moe_case.h)
 *   inputs   x [T,D] router_w [E,D] bias [E] w1 [E,F,D] w3 [E,F,D] w2 [E,D,F] dy [T,D]
 *   forward  y [T,D] aux [1] experts [T,K] int32 gates [T,K] dropped [T,K] uint8
 *            loads [E] uint64 n_dropped [1] int64 top1_sum [1] float64
 *   backward of L = sum(y * dy) + aux, gradients from zero:
 *            dx [T,D] d_router_w [E,D] d_w1 [E,F,D] d_w3 [E,F,D] d_w2 [E,D,F]
 *   steps=N simulated optimizer steps of the bias update, each on a fresh batch:
 *            steps_x [N,T,D] steps_mult [N] (lr-schedule multiplier, a linear warmup)
 *            steps_loads [N,E] uint64 steps_bias [N,E] (bias after each step)
 *
 * usage: moe_dump OUTDIR [key=value]...   (keys: see moe_case.h) */
#include "base/atomic_file.h"
#include "moe_case.h"

#include <stdio.h>

static void write_npy(const char *dir, const char *name, const char *descr, const void *data,
                      size_t elem, int ndim, const size_t *shape)
{
    char path[4096], shape_s[128] = "", header[256];
    size_t count = 1, off = 0;
    for (int i = 0; i < ndim; i++) {
        off += (size_t)snprintf(shape_s + off, sizeof shape_s - off, "%zu,%s", shape[i], i + 1 < ndim ? " " : "");
        count *= shape[i];
    }
    if (ndim > 1) shape_s[off - 1] = 0; /* "(2, 3)" but "(5,)" */
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                       descr, shape_s);
    /* magic(6) + version(2) + length(2) + header, padded with spaces to a multiple of 64, ending in \n */
    int total = (10 + len + 1 + 63) / 64 * 64;
    int pad = total - 10 - len - 1;
    memset(header + len, ' ', (size_t)pad);
    header[len + pad] = '\n';
    const uint16_t hlen = (uint16_t)(len + pad + 1);
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    AtomicFile *af = atomic_open(path);
    atomic_write(af, "\x93NUMPY\x01\x00", 8);
    const unsigned char hl[2] = { (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    atomic_write(af, hl, 2);
    atomic_write(af, header, hlen);
    atomic_write(af, data, count * elem);
    atomic_commit(af);
}

#define NPY_F32(dir, name, data, ...) write_npy(dir, name, "<f4", data, 4, \
    (int)(sizeof((size_t[]){ __VA_ARGS__ }) / sizeof(size_t)), (size_t[]){ __VA_ARGS__ })
#define NPY_TYPED(dir, name, descr, data, elem, ...) write_npy(dir, name, descr, data, elem, \
    (int)(sizeof((size_t[]){ __VA_ARGS__ }) / sizeof(size_t)), (size_t[]){ __VA_ARGS__ })

static void write_config(const char *dir, const MoeCaseOpts *o)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    AtomicFile *af = atomic_open(path);
    const MoeConfig *c = &o->cfg;
    /* %.9g round-trips a float exactly */
    fprintf(atomic_stream(af),
            "{\"tokens\": %d, \"dim\": %d, \"experts\": %d, \"topk\": %d, \"inter\": %d, \"score\": \"%s\",\n"
            " \"route_scale\": %.9g, \"gain\": %.9g, \"capacity\": %.9g, \"alpha\": %.9g, \"seq_len\": %d,\n"
            " \"seed\": %llu, \"steps\": %d, \"rate\": %.9g, \"centre\": %d, \"max_abs\": %.9g,\n"
            " \"precision\": \"%s\", \"router_precision\": \"%s\", \"groups\": %d, \"limited\": %d}\n",
            o->tokens, c->dim, c->n_experts, c->top_k, c->inter_dim,
            c->score == MOE_SCORE_SIGMOID ? "sigmoid" : "softmax", c->route_scale, c->output_gain,
            c->capacity_factor, c->aux_loss_alpha, c->seq_len, (unsigned long long)o->seed, o->steps,
            o->update.rate, o->update.subtract_mean, o->update.max_abs,
            quant_format_name((QuantFormat)c->expert_precision), c->router_bf16 ? "bf16" : "fp32",
            c->n_groups > 1 ? c->n_groups : 1, c->n_groups > 1 ? c->topk_groups : 1);
    atomic_commit(af);
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: moe_dump OUTDIR [key=value]...\nkeys:\n%s", moe_case_keys);
        return argc < 2 ? NMOE_EXIT_USAGE : 0;
    }
    const char *dir = argv[1];
    MoeCaseOpts o = moe_case_defaults();
    for (int i = 2; i < argc; i++) moe_case_set(&o, argv[i]);
    moe_case_validate(&o);
    make_dirs(dir);

    const MoeConfig *c = &o.cfg;
    const size_t T = (size_t)o.tokens, D = (size_t)c->dim, E = (size_t)c->n_experts;
    const size_t F = (size_t)c->inter_dim, K = (size_t)c->top_k;
    MoeCase mc = moe_case_make(&o);
    MoeWorkspace *ws = moe_workspace_create(c, o.tokens);
    MoeStats *st = moe_stats_create(c->n_experts);
    float *y = xaligned_alloc(T * D * sizeof *y), *dx = xaligned_alloc(T * D * sizeof *dx);
    float *dwr = xaligned_alloc(E * D * sizeof *dwr), *dw1 = xaligned_alloc(E * F * D * sizeof *dw1);
    float *dw3 = xaligned_alloc(E * F * D * sizeof *dw3), *dw2 = xaligned_alloc(E * D * F * sizeof *dw2);

    float aux = moe_forward(ws, &mc.p, mc.x, o.tokens, y, st, 0);
    moe_backward(ws, &mc.p, mc.x, mc.dy, 1.0f, dx, &(MoeGrads){ dwr, dw1, dw3, dw2 });

    write_config(dir, &o);
    NPY_F32(dir, "x", mc.x, T, D);
    NPY_F32(dir, "router_w", mc.router_w, E, D);
    NPY_F32(dir, "bias", mc.bias, E);
    NPY_F32(dir, "w1", mc.w1, E, F, D);
    NPY_F32(dir, "w3", mc.w3, E, F, D);
    NPY_F32(dir, "w2", mc.w2, E, D, F);
    NPY_F32(dir, "dy", mc.dy, T, D);
    NPY_F32(dir, "y", y, T, D);
    NPY_F32(dir, "aux", &aux, 1);
    NPY_TYPED(dir, "experts", "<i4", moe_routing_experts(ws), 4, T, K);
    NPY_F32(dir, "gates", moe_routing_gates(ws), T, K);
    NPY_TYPED(dir, "dropped", "|u1", moe_routing_dropped(ws), 1, T, K);
    NPY_TYPED(dir, "loads", "<u8", st->loads, 8, E);
    NPY_TYPED(dir, "n_dropped", "<i8", &st->dropped, 8, 1);
    NPY_TYPED(dir, "top1_sum", "<f8", &st->top1_affinity_sum, 8, 1);
    NPY_F32(dir, "dx", dx, T, D);
    NPY_F32(dir, "d_router_w", dwr, E, D);
    NPY_F32(dir, "d_w1", dw1, E, F, D);
    NPY_F32(dir, "d_w3", dw3, E, F, D);
    NPY_F32(dir, "d_w2", dw2, E, D, F);

    if (o.steps > 0) {
        const size_t N = (size_t)o.steps;
        float *xs = xaligned_alloc(N * T * D * sizeof *xs), *mult = xaligned_alloc(N * sizeof *mult);
        float *biases = xaligned_alloc(N * E * sizeof *biases);
        uint64_t *loads = xaligned_alloc(N * E * sizeof *loads);
        for (size_t s = 0; s < N; s++) {
            float *x = moe_case_randn(o.seed, 100 + s, T * D, 1.0f);
            memcpy(xs + s * T * D, x, T * D * sizeof *x);
            free(x);
            mult[s] = (float)(s + 1) / (float)N; /* a warmup-shaped rate multiplier */
            moe_stats_reset(st);
            moe_forward(ws, &mc.p, xs + s * T * D, o.tokens, y, st, 0);
            moe_bias_update(mc.bias, c->n_experts, st->loads, &o.update, mult[s]);
            memcpy(loads + s * E, st->loads, E * sizeof *loads);
            memcpy(biases + s * E, mc.bias, E * sizeof *biases);
        }
        NPY_F32(dir, "steps_x", xs, N, T, D);
        NPY_F32(dir, "steps_mult", mult, N);
        NPY_TYPED(dir, "steps_loads", "<u8", loads, 8, N, E);
        NPY_F32(dir, "steps_bias", biases, N, E);
        free(xs); free(mult); free(biases); free(loads);
    }

    free(y); free(dx); free(dwr); free(dw1); free(dw3); free(dw2);
    moe_stats_free(st);
    moe_workspace_free(ws);
    moe_case_free(&mc);
    return 0;
}
