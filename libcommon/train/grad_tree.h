/* grad_tree.h: the fixed order in which a step's micro-batch gradients are summed, so
 * that the sum does not depend on how many ranks computed them.
 *
 * Float addition is not associative: the gradient of a step is the same bits on 1, 2 or
 * 4 ranks only if the same partial sums are added in the same shape. The shape is the
 * pairwise tree of a binary counter over the step's M micro-batch gradients (leaves
 * 0..M-1, each computed from zeroed gradients): leaf i is pushed, and two partial sums
 * of 2^k leaves each combine (left + right) as soon as both exist; at the end the
 * remaining partial sums (sizes the binary digits of M) fold from the right:
 *   M = 4: (g0 + g1) + (g2 + g3)      M = 3: (g0 + g1) + g2
 *   M = 6: ((g0 + g1) + (g2 + g3)) + (g4 + g5)
 * Over ranks (data parallel, train_step.c): rank r holds leaves [r L, (r + 1) L) with
 * L = M / N a power of two, so its local sum is a whole subtree; the N subtrees then
 * combine by grad_tree_rank_round (rank r + s sends to rank r at round s = 1, 2, 4, ...
 * when r is a multiple of 2s), which is the same tree over the N partial sums. So any
 * N that divides M with M / N a power of two gives the sum one process gives.
 * tests/unit/test_grad_tree.c checks the two orders agree bit for bit. */
#ifndef NMOE_GRAD_TREE_H
#define NMOE_GRAD_TREE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t n;          /* floats per buffer */
    int cap, depth;    /* slots allocated, in use */
    float **slot;      /* partial sums, oldest (largest) first */
    int *leaves;       /* leaves in each slot */
} GradTree;

/* For up to max_leaves leaves of n floats each. */
GradTree *grad_tree_create(size_t n, int max_leaves);
void grad_tree_free(GradTree *t);
/* The buffer to write the next leaf into (n floats), then grad_tree_push. */
float *grad_tree_leaf(GradTree *t);
void grad_tree_push(GradTree *t);
/* Folds what is left and returns the sum (n floats, valid until the next push); the
 * tree is empty again afterwards. NULL when no leaf was pushed. */
float *grad_tree_finish(GradTree *t);

/* dst[i] = dst[i] + src[i], the one addition of the tree. */
void grad_tree_add(float *dst, const float *src, size_t n);

/* Whether M leaves split over N ranks in whole subtrees (N divides M and M / N is a
 * power of two; always when N == 1). */
bool grad_tree_splits(int n_leaves, int n_ranks);

/* Rank r's part at round `stride` (1, 2, 4, ... while stride < n_ranks) of combining the
 * ranks' partial sums: GRAD_TREE_RECV (add the sum of *peer to its own), GRAD_TREE_SEND
 * (send its sum to *peer; done), or GRAD_TREE_IDLE. After the last round rank 0 holds
 * the total. */
enum { GRAD_TREE_IDLE, GRAD_TREE_RECV, GRAD_TREE_SEND, GRAD_TREE_DONE };
int grad_tree_rank_round(int rank, int n_ranks, int stride, int *peer);

#endif
