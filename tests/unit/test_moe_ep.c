/* test_moe_ep.c: expert parallel in the MoE op (moe_set_exchange, kernels/cpu/moe.c
 * "expert parallel") without MPI: P threads play the P ranks of a group, over an
 * in-memory all-to-all with the contract of model/expert_exchange.h. Each rank's
 * output, input gradient and weight gradients (router and experts) must be the same
 * bits as its call alone, with every expert local: the owner runs the same products on
 * the same rows in the same tiles. Covered: swiglu, relu2 (no W3) and squared_reglu,
 * capacity drops, the aux loss, experts with more than one row tile, unequal token
 * counts per rank, P = 2 and 4, and a second forward/backward on the same workspaces. */
#include "check.h"
#include "cpu/moe.h"
#include "base/error.h"
#include "base/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_P = 4 };

/* ---- the in-memory group: each rank posts its send buffer, all meet, each takes its
 * part from every peer, all meet again (so no send buffer is reused early) ---- */
static pthread_barrier_t meet;
static _Thread_local int my_rank;
static int group_size;
static struct {
    const void *send;
    const int64_t *counts; /* alltoallv: floats per peer; NULL for alltoall */
    int per_peer;
} posted[MAX_P];

static void fake_alltoall_i64(const int64_t *send, int64_t *recv, int per_peer)
{
    posted[my_rank].send = send;
    posted[my_rank].per_peer = per_peer;
    pthread_barrier_wait(&meet);
    for (int p = 0; p < group_size; p++)
        memcpy(recv + (size_t)p * per_peer, (const int64_t *)posted[p].send + (size_t)my_rank * per_peer,
               (size_t)per_peer * sizeof *recv);
    pthread_barrier_wait(&meet);
}

static void fake_alltoallv_f32(const float *send, const int64_t *send_counts, float *recv, const int64_t *recv_counts)
{
    posted[my_rank].send = send;
    posted[my_rank].counts = send_counts;
    pthread_barrier_wait(&meet);
    int64_t at = 0;
    for (int p = 0; p < group_size; p++) {
        int64_t from = 0;
        for (int q = 0; q < my_rank; q++) from += posted[p].counts[q];
        if (posted[p].counts[my_rank] != recv_counts[p]) die("test: rank %d expects %lld floats from %d, gets %lld",
                                                             my_rank, (long long)recv_counts[p], p,
                                                             (long long)posted[p].counts[my_rank]);
        memcpy(recv + at, (const float *)posted[p].send + from, (size_t)recv_counts[p] * sizeof *recv);
        at += recv_counts[p];
    }
    pthread_barrier_wait(&meet);
}

/* ---- one rank's call ---- */
typedef struct {
    MoeConfig cfg;
    const MoeParams *p;
    int T;
    float *x, *dy;
    /* outputs: y, dx, router_w, w1, w3, w2 gradients; [0] alone, [1] in the group */
    float *y[2], *dx[2], *gr[2], *g1[2], *g3[2], *g2[2];
    ExpertExchange ex;
    int rank;
} Rank;

static float *randn(Rng *r, size_t n, float scale)
{
    float *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * rng_normal(r);
    return v;
}

/* forward + backward twice (the second call checks that the workspace's exchange
 * state is rebuilt per forward); outputs of the second */
static void run_call(Rank *k, int which)
{
    const MoeConfig *c = &k->cfg;
    const size_t D = c->dim, E = c->n_experts, F = c->inter_dim, T = k->T;
    MoeWorkspace *ws = moe_workspace_create(c, k->T);
    if (which == 1) moe_set_exchange(ws, &k->ex);
    for (int rep = 0; rep < 2; rep++) {
        k->y[which] = xcalloc(T * D, sizeof(float));
        k->dx[which] = xcalloc(T * D, sizeof(float));
        k->gr[which] = xcalloc(E * D, sizeof(float));
        k->g1[which] = xcalloc(E * F * D, sizeof(float));
        k->g3[which] = k->p->w3 ? xcalloc(E * F * D, sizeof(float)) : NULL;
        k->g2[which] = xcalloc(E * D * F, sizeof(float));
        const MoeGrads g = { k->gr[which], k->g1[which], k->g3[which], k->g2[which] };
        moe_forward(ws, k->p, k->x, k->T, k->y[which], NULL, 0);
        moe_backward(ws, k->p, k->x, k->dy, 0.5f, k->dx[which], &g);
        if (rep == 0) {
            free(k->y[which]); free(k->dx[which]); free(k->gr[which]);
            free(k->g1[which]); free(k->g3[which]); free(k->g2[which]);
        }
    }
    moe_workspace_free(ws);
}

static void *rank_thread(void *arg)
{
    Rank *k = arg;
    my_rank = k->rank;
    run_call(k, 1);
    return NULL;
}

static int same(const float *a, const float *b, size_t n) { return !n || (a && b && memcmp(a, b, n * sizeof *a) == 0); }

static void check_group(const char *label, MoeConfig cfg, int P, int T0, uint64_t seed)
{
    const size_t D = cfg.dim, E = cfg.n_experts, F = cfg.inter_dim;
    Rng r = rng_make(seed, 0);
    float *router_w = randn(&r, E * D, 1.0f / sqrtf((float)D)), *bias = randn(&r, E, 0.1f);
    float *w1 = randn(&r, E * F * D, 1.0f / sqrtf((float)D)), *w3 = randn(&r, E * F * D, 1.0f / sqrtf((float)D));
    float *w2 = randn(&r, E * D * F, 1.0f / sqrtf((float)F));
    const MoeParams p = { router_w, bias, w1, cfg.act == FFN_ACT_RELU2 ? NULL : w3, w2 };
    Rank k[MAX_P];
    pthread_t th[MAX_P];
    group_size = P;
    pthread_barrier_init(&meet, NULL, (unsigned)P);
    for (int i = 0; i < P; i++) {
        /* unequal token counts, whole sequences of the aux loss's seq_len */
        const int T = T0 - i * (cfg.seq_len > 0 ? cfg.seq_len : 7);
        k[i] = (Rank){ .cfg = cfg, .p = &p, .T = T, .rank = i,
                       .ex = { .rank = i, .size = P, .alltoall_i64 = fake_alltoall_i64,
                               .alltoallv_f32 = fake_alltoallv_f32 } };
        k[i].x = randn(&r, (size_t)T * D, 1.0f);
        k[i].dy = randn(&r, (size_t)T * D, 1.0f);
        my_rank = i;
        run_call(&k[i], 0);
    }
    for (int i = 0; i < P; i++) pthread_create(&th[i], NULL, rank_thread, &k[i]);
    for (int i = 0; i < P; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&meet);
    for (int i = 0; i < P; i++) {
        const size_t TD = (size_t)k[i].T * D;
        int ok = same(k[i].y[1], k[i].y[0], TD) && same(k[i].dx[1], k[i].dx[0], TD) &&
                 same(k[i].gr[1], k[i].gr[0], E * D) && same(k[i].g1[1], k[i].g1[0], E * F * D) &&
                 same(k[i].g2[1], k[i].g2[0], E * D * F) && (p.w3 ? same(k[i].g3[1], k[i].g3[0], E * F * D) : 1);
        if (!ok) fprintf(stderr, "%s: P = %d, rank %d differs from its call alone\n", label, P, i);
        CHECK(ok);
        /* the call moved something: its expert gradients are not all zero */
        double s = 0;
        for (size_t j = 0; j < E * F * D; j++) s += (double)k[i].g1[1][j] * k[i].g1[1][j];
        CHECK(s > 0);
        for (int w = 0; w < 2; w++) {
            free(k[i].y[w]); free(k[i].dx[w]); free(k[i].gr[w]);
            free(k[i].g1[w]); free(k[i].g3[w]); free(k[i].g2[w]);
        }
        free(k[i].x);
        free(k[i].dy);
    }
    free(router_w); free(bias); free(w1); free(w3); free(w2);
}

int main(void)
{
    /* pthreads OpenBLAS: keep it at one thread, so no call sets its count from two
     * threads at once (moe.c runs every sgemm single-threaded anyway) */
    if (openblas_get_parallel() == 1) openblas_set_num_threads(1);
    const MoeConfig sig = { .dim = 16, .n_experts = 8, .top_k = 2, .inter_dim = 12, .score = MOE_SCORE_SIGMOID,
                            .route_scale = 2.5f, .output_gain = 0.7f };
    MoeConfig drops = sig;
    drops.capacity_factor = 1.1f;
    drops.aux_loss_alpha = 0.05f;
    drops.seq_len = 10;
    drops.score = MOE_SCORE_SOFTMAX;
    MoeConfig relu2 = sig, sqr = sig;
    relu2.act = FFN_ACT_RELU2;
    sqr.act = FFN_ACT_SQUARED_REGLU;
    /* 300 tokens x 2 over 8 experts: ~75 rows an expert, so two row tiles */
    check_group("swiglu", sig, 2, 300, 1);
    check_group("swiglu", sig, 4, 300, 2);
    check_group("drops+aux softmax", drops, 2, 200, 3);
    check_group("drops+aux softmax", drops, 4, 200, 4);
    check_group("relu2", relu2, 2, 90, 5);
    check_group("squared_reglu", sqr, 4, 90, 6);
    return check_report("test_moe_ep");
}
