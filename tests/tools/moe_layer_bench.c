/* moe_layer_bench: time the CPU MoE layer's forward + backward on a random case (the
 * shapes as key=value, see moe_case.h) and print one line for bench/moe_layer.sh:
 *
 *   moe_layer_bench: fwd+bwd median MS ms, fwd median MS ms, threads N, workspace BYTES
 *
 * Two warm-up calls, then `repeat` timed ones; the median is printed. */
#include "moe_case.h"

#include <omp.h>
#include <stdio.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fprintf(stderr, "usage: moe_layer_bench [key=value]...\nkeys:\n%s", moe_case_keys);
        return 0;
    }
    MoeCaseOpts o = moe_case_defaults();
    for (int i = 1; i < argc; i++) moe_case_set(&o, argv[i]);
    moe_case_validate(&o);
    const MoeConfig *c = &o.cfg;
    const size_t T = (size_t)o.tokens, D = (size_t)c->dim, E = (size_t)c->n_experts, F = (size_t)c->inter_dim;
    MoeCase mc = moe_case_make(&o);
    MoeWorkspace *ws = moe_workspace_create(c, o.tokens);
    float *y = xaligned_alloc(T * D * sizeof *y), *dx = xaligned_alloc(T * D * sizeof *dx);
    MoeGrads g = { xaligned_alloc(E * D * sizeof(float)), xaligned_alloc(E * F * D * sizeof(float)),
                   xaligned_alloc(E * F * D * sizeof(float)), xaligned_alloc(E * D * F * sizeof(float)) };
    double *total = xmalloc((size_t)o.repeat * sizeof *total), *fwd = xmalloc((size_t)o.repeat * sizeof *fwd);
    for (int i = -2; i < o.repeat; i++) {
        double t0 = now_ms();
        moe_forward(ws, &mc.p, mc.x, o.tokens, y, NULL, 0);
        double t1 = now_ms();
        moe_backward(ws, &mc.p, mc.x, mc.dy, 1.0f, dx, &g);
        double t2 = now_ms();
        if (i >= 0) {
            total[i] = t2 - t0;
            fwd[i] = t1 - t0;
        }
    }
    qsort(total, (size_t)o.repeat, sizeof *total, cmp_double);
    qsort(fwd, (size_t)o.repeat, sizeof *fwd, cmp_double);
    printf("moe_layer_bench: fwd+bwd median %.3f ms, fwd median %.3f ms, threads %d, workspace %zu\n",
           total[o.repeat / 2], fwd[o.repeat / 2], omp_get_max_threads(), moe_workspace_bytes(ws));
    free(total); free(fwd); free(y); free(dx);
    free(g.router_w); free(g.w1); free(g.w3); free(g.w2);
    moe_workspace_free(ws);
    moe_case_free(&mc);
    return 0;
}
