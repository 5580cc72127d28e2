/* test_grad_tree.c: the fixed summation order of micro-batch gradients (grad_tree.h).
 * The binary-counter tree gives the pairwise shapes it documents; splitting the leaves
 * over N ranks (local subtrees, then grad_tree_rank_round's rounds, simulated here
 * without MPI) gives the same bits as one process, for every N that
 * grad_tree_splits accepts; and the values chosen make a different order give
 * different bits, so agreement is not luck. */
#include "check.h"
#include "base/error.h"
#include "train/grad_tree.h"

#include <stdlib.h>

enum { N_FLOATS = 37, MAX_LEAVES = 24 };

/* Leaf i: values of wildly different sizes, so that float sums depend on the order. */
static void fill_leaf(float *x, int leaf)
{
    uint32_t s = 2166136261u ^ (uint32_t)leaf * 16777619u;
    for (int i = 0; i < N_FLOATS; i++) {
        s = s * 1664525u + 1013904223u;
        float mant = (float)(s >> 8) / 16777216.0f - 0.5f;
        x[i] = mant * (float)(1 << ((s >> 3) % 20));
    }
}

/* One process: all M leaves through one tree. */
static void sum_one(int M, float *out)
{
    GradTree *t = grad_tree_create(N_FLOATS, M);
    for (int i = 0; i < M; i++) {
        fill_leaf(grad_tree_leaf(t), i);
        grad_tree_push(t);
    }
    memcpy(out, grad_tree_finish(t), N_FLOATS * sizeof *out);
    grad_tree_free(t);
}

/* N ranks: each its contiguous leaves, then the rounds, as dist_sum_tree_f32 runs them. */
static void sum_ranks(int M, int N, float *out)
{
    const int L = M / N;
    float *part = xcalloc((size_t)N * N_FLOATS, sizeof *part);
    bool *sent = xcalloc((size_t)N, sizeof *sent);
    for (int r = 0; r < N; r++) {
        GradTree *t = grad_tree_create(N_FLOATS, L);
        for (int i = 0; i < L; i++) {
            fill_leaf(grad_tree_leaf(t), r * L + i);
            grad_tree_push(t);
        }
        if (N > 1) CHECK_EQ_INT(t->depth, 1); /* a whole subtree: one partial sum before finish */
        memcpy(part + (size_t)r * N_FLOATS, grad_tree_finish(t), N_FLOATS * sizeof(float));
        grad_tree_free(t);
    }
    for (int stride = 1; stride < N; stride *= 2) {
        /* Sends of a round happen before its receives read them; check they pair up. */
        for (int r = 0; r < N; r++) {
            if (sent[r]) continue;
            int peer = -1, role = grad_tree_rank_round(r, N, stride, &peer);
            if (role == GRAD_TREE_RECV) {
                int back = -1;
                CHECK_EQ_INT(grad_tree_rank_round(peer, N, stride, &back), GRAD_TREE_SEND);
                CHECK_EQ_INT(back, r);
                grad_tree_add(part + (size_t)r * N_FLOATS, part + (size_t)peer * N_FLOATS, N_FLOATS);
            } else if (role == GRAD_TREE_SEND) {
                sent[r] = true;
            }
        }
    }
    for (int r = 1; r < N; r++) CHECK(sent[r]);
    memcpy(out, part, N_FLOATS * sizeof *out);
    free(part);
    free(sent);
}

int main(void)
{
    float a[N_FLOATS], b[N_FLOATS], c[N_FLOATS];
    /* The documented shapes. */
    float g[6][N_FLOATS];
    for (int i = 0; i < 6; i++) fill_leaf(g[i], i);
    for (int i = 0; i < N_FLOATS; i++) {
        a[i] = (g[0][i] + g[1][i]) + g[2][i];
        b[i] = ((g[0][i] + g[1][i]) + (g[2][i] + g[3][i])) + (g[4][i] + g[5][i]);
    }
    sum_one(3, c);
    CHECK(memcmp(a, c, sizeof a) == 0);
    sum_one(6, c);
    CHECK(memcmp(b, c, sizeof b) == 0);
    /* The order matters for these values: a left fold over 6 leaves differs somewhere. */
    for (int i = 0; i < N_FLOATS; i++) a[i] = ((((g[0][i] + g[1][i]) + g[2][i]) + g[3][i]) + g[4][i]) + g[5][i];
    CHECK(memcmp(a, b, sizeof a) != 0);

    /* Every accepted split agrees with one process, bit for bit. */
    int splits = 0;
    for (int M = 1; M <= MAX_LEAVES; M++) {
        sum_one(M, a);
        for (int N = 1; N <= M; N++) {
            if (!grad_tree_splits(M, N)) continue;
            sum_ranks(M, N, b);
            if (memcmp(a, b, sizeof a) != 0) fprintf(stderr, "M = %d leaves over N = %d ranks differ\n", M, N);
            CHECK(memcmp(a, b, sizeof a) == 0);
            splits++;
        }
    }
    CHECK(splits > 40);
    /* What is refused: not dividing, or a non-power-of-two share per rank. */
    CHECK(grad_tree_splits(3, 1) && grad_tree_splits(4, 4) && grad_tree_splits(12, 3));
    CHECK(!grad_tree_splits(4, 3) && !grad_tree_splits(6, 2) && !grad_tree_splits(2, 4));
    return check_report("test_grad_tree");
}
