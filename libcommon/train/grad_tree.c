/* grad_tree.c: see grad_tree.h. */
#include "train/grad_tree.h"
#include "base/error.h"

#include <stdlib.h>

GradTree *grad_tree_create(size_t n, int max_leaves)
{
    GradTree *t = xcalloc(1, sizeof *t);
    t->n = n;
    /* A binary counter over max_leaves holds at most one slot per bit, plus the new leaf. */
    int bits = 1;
    while ((1LL << bits) <= (long long)max_leaves) bits++;
    t->cap = bits + 1;
    t->slot = xcalloc((size_t)t->cap, sizeof *t->slot);
    t->leaves = xcalloc((size_t)t->cap, sizeof *t->leaves);
    for (int i = 0; i < t->cap; i++) t->slot[i] = xaligned_alloc(n * sizeof(float));
    return t;
}

void grad_tree_free(GradTree *t)
{
    if (!t) return;
    for (int i = 0; i < t->cap; i++) free(t->slot[i]);
    free(t->slot);
    free(t->leaves);
    free(t);
}

void grad_tree_add(float *dst, const float *src, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] = dst[i] + src[i];
}

float *grad_tree_leaf(GradTree *t)
{
    if (t->depth >= t->cap) die("grad_tree: more leaves than it was made for");
    return t->slot[t->depth];
}

void grad_tree_push(GradTree *t)
{
    t->leaves[t->depth++] = 1;
    while (t->depth >= 2 && t->leaves[t->depth - 1] == t->leaves[t->depth - 2]) {
        grad_tree_add(t->slot[t->depth - 2], t->slot[t->depth - 1], t->n);
        t->leaves[t->depth - 2] *= 2;
        t->depth--;
    }
}

float *grad_tree_finish(GradTree *t)
{
    if (t->depth == 0) return NULL;
    while (t->depth >= 2) {
        grad_tree_add(t->slot[t->depth - 2], t->slot[t->depth - 1], t->n);
        t->leaves[t->depth - 2] += t->leaves[t->depth - 1];
        t->depth--;
    }
    t->depth = 0;
    return t->slot[0];
}

bool grad_tree_splits(int n_leaves, int n_ranks)
{
    if (n_ranks <= 1) return n_leaves >= 1;
    if (n_leaves % n_ranks != 0) return false;
    int per = n_leaves / n_ranks;
    return (per & (per - 1)) == 0;
}

int grad_tree_rank_round(int rank, int n_ranks, int stride, int *peer)
{
    if (rank % stride != 0) return GRAD_TREE_DONE; /* sent its sum at an earlier round */
    if (rank % (2 * stride) == stride) {
        *peer = rank - stride;
        return GRAD_TREE_SEND;
    }
    if (rank + stride < n_ranks) {
        *peer = rank + stride;
        return GRAD_TREE_RECV;
    }
    return GRAD_TREE_IDLE;
}
