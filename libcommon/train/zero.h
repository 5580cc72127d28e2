/* zero.h: ZeRO-1's split of the optimizer over the data-parallel ranks (zero_stage = 1,
 * Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter
 * Models", 2020, stage 1: the optimizer state partitioned, gradients and parameters
 * kept whole on every rank).
 *
 * The flat parameter space [0, n_params) of the model's table (model.h) is cut into one
 * contiguous range per rank, in rank order. Rank r's ideal first element is
 * r * n_params / ranks (rounded down); a cut that falls strictly inside a span that must
 * stay whole (a Muon tensor: Newton-Schulz orthogonalises the whole matrix, or the whole
 * stack of an expert tensor) moves to the nearer end of that span (its end on a tie).
 * So every element lies in exactly one range, an AdamW tensor may be cut anywhere (its
 * update is elementwise) and a Muon tensor never is. A range may be empty (its rank
 * holds no moments and updates nothing). */
#ifndef NMOE_ZERO_H
#define NMOE_ZERO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t lo, hi;     /* elements [lo, hi) */
} ZeroRange;

typedef struct {
    size_t offset, numel;
    bool whole;        /* must not be cut (Muon) */
} ZeroSpan;

/* spans: in increasing offset order, not overlapping, inside [0, n_params) (gaps
 * allowed: they are cut like AdamW elements). out: ranks ranges. Dies on spans out of
 * order or out of bounds, or ranks < 1. */
void zero_split(const ZeroSpan *spans, int n_spans, size_t n_params, int ranks, ZeroRange *out);

#endif
