/* update_floor.h: what one optimizer step did to weights held in a number format: the
 * router telemetry of issue 14 (nmoe-metrics(5), the `router` line's router_update_ratio,
 * router_below_floor and expert_codes_changed). Pure functions over host copies of a
 * tensor before and after the step; the train loop calls them on the last step of each
 * log window only.
 *
 * THE FLOOR. For a format F of p stored mantissa bits with float32's exponent range
 * (fp32: p = 23, bf16: p = 7; emin = -126 for both), the spacing at a weight w is
 *     ulp_F(w) = 2^(max(e, emin) - p),   e = floor(log2 |w|),
 * the gap between consecutive values of F in the binade of |w|, i.e. from a value of F
 * in that binade to the next one AWAY FROM ZERO. w = 0 and subnormal w (|w| < 2^emin)
 * get the subnormal spacing 2^(emin - p) (2^-149 for fp32, 2^-133 for bf16). An update
 * dw of w is BELOW THE FLOOR when
 *     |dw| < ulp_F(w) / 2,
 * so that storing w + dw in F (round to nearest) gives w back: the update is lost. (At
 * an exact power of two the gap toward zero is half as wide, so an update toward zero
 * of between a quarter and a half ulp would survive; the rule counts it as lost: it
 * is the binade's spacing, not the direction's.) dw = 0 is below the floor. A w or dw
 * that is NaN or infinite is not (a diverged run stops on its own). For fp32 weights
 * updated in fp32 the realized dw = w_after - w_before is 0 or at least ulp/2, so the
 * share below the floor is the share of weights the step left exactly unchanged; for
 * bf16 it is the share whose update a bf16 copy of the weight would lose.
 *
 * CODES CHANGED. For a quantized format (quant.h), the element codes of a matrix are
 * the ones its quantize-dequantize uses (same blocks along the axis, same scales,
 * each computed from the matrix being encoded); quant_codes_changed counts the
 * elements whose code differs between the matrix before and after the step. The
 * scales are not codes: a step that only moved a block's scale, leaving every
 * element's code, changes none. fp32 "codes" are the float's bits. */
#ifndef NMOE_QUANT_UPDATE_FLOOR_H
#define NMOE_QUANT_UPDATE_FLOOR_H

#include "quant/quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ulp_F(w) / 2 as above, exact (a power of two) in double; f is QUANT_FP32 or
 * QUANT_BF16 (the router's formats), NaN for another format or a non-finite w. */
double update_half_spacing(QuantFormat f, float w);
/* |dw| < ulp_F(w) / 2; false for a non-finite w or dw. */
bool update_below_floor(QuantFormat f, float w, double dw);

typedef struct {
    size_t n;            /* weights */
    size_t below_floor;  /* of them, updates below the floor in the format */
    double sumsq_w;      /* sum of w_before^2, in double */
    double sumsq_dw;     /* sum of (w_after - w_before)^2, in double */
} WeightUpdate;

/* The step from before[n] to after[n] of weights held in format f (QUANT_FP32 or
 * QUANT_BF16); dw = (double)after - (double)before. */
WeightUpdate weight_update_measure(QuantFormat f, const float *before, const float *after, size_t n);
/* Add b into a (the pieces of one tensor, or several tensors). */
void weight_update_add(WeightUpdate *a, const WeightUpdate *b);
/* RMS(dw) / RMS(w_before) = sqrt(sumsq_dw / sumsq_w); NaN when sumsq_w is 0. */
double weight_update_ratio(const WeightUpdate *u);
/* below_floor / n; NaN when n is 0. */
double weight_update_below_share(const WeightUpdate *u);

/* Elements of the row-major [rows, cols] matrices whose code in format f (blocks along
 * `axis` as in quant_qdq_matrix) differs between before and after. */
size_t quant_codes_changed(QuantFormat f, const float *before, const float *after, size_t rows, size_t cols, int axis);

#endif
