/* update_floor.c: see update_floor.h. */
#include "quant/update_floor.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

enum { FLOAT_EMIN = -126 }; /* float32's (and bf16's) smallest normal exponent */

double update_half_spacing(QuantFormat f, float w)
{
    int p;
    if (f == QUANT_FP32) p = 23;
    else if (f == QUANT_BF16) p = 7;
    else return NAN;
    if (!isfinite(w)) return NAN;
    int e = FLOAT_EMIN;
    if (w != 0.0f) {
        int k;
        frexpf(w, &k); /* |w| = m 2^k, m in [0.5, 1): floor(log2 |w|) = k - 1 */
        if (k - 1 > e) e = k - 1;
    }
    return ldexp(1.0, e - p - 1); /* half of 2^(e - p); at least 2^-150, exact in double */
}

bool update_below_floor(QuantFormat f, float w, double dw)
{
    const double half = update_half_spacing(f, w);
    return isfinite(dw) && fabs(dw) < half; /* NaN half: false */
}

WeightUpdate weight_update_measure(QuantFormat f, const float *before, const float *after, size_t n)
{
    WeightUpdate u = { .n = n };
    for (size_t i = 0; i < n; i++) {
        const double w = before[i], dw = (double)after[i] - w;
        u.sumsq_w += w * w;
        u.sumsq_dw += dw * dw;
        u.below_floor += update_below_floor(f, before[i], dw);
    }
    return u;
}

void weight_update_add(WeightUpdate *a, const WeightUpdate *b)
{
    a->n += b->n;
    a->below_floor += b->below_floor;
    a->sumsq_w += b->sumsq_w;
    a->sumsq_dw += b->sumsq_dw;
}

double weight_update_ratio(const WeightUpdate *u)
{
    return u->sumsq_w > 0 ? sqrt(u->sumsq_dw / u->sumsq_w) : NAN;
}

double weight_update_below_share(const WeightUpdate *u)
{
    return u->n ? (double)u->below_floor / (double)u->n : NAN;
}

/* ---- element codes ------------------------------------------------------------------ */

enum { CODE_NAN = 0xFFFFFFFFu }; /* every element of a block (tensor) holding a NaN or Inf */


/* The codes of the elements x[i * stride], i < m, of one block (unblocked formats: any
 * run of elements), with the matrix's per-tensor amax where the format has one. */
static void encode_block(QuantFormat f, const float *x, size_t m, size_t stride, float tensor_amax, uint32_t *codes)
{
    uint8_t c8[MX_BLOCK];
    switch (f) {
    case QUANT_FP32:
        for (size_t i = 0; i < m; i++) memcpy(&codes[i], &x[i * stride], sizeof codes[i]);
        return;
    case QUANT_BF16:
        for (size_t i = 0; i < m; i++) codes[i] = bf16_encode(x[i * stride]);
        return;
    case QUANT_FP8_E4M3: {
        float s = tensor_amax / FP8_E4M3_MAX; /* quant_qdq.c's scale */
        if (!(s > 0.0f)) s = 1.0f;
        for (size_t i = 0; i < m; i++) codes[i] = fp8_e4m3_encode(x[i * stride] / s, true);
        return;
    }
    case QUANT_MXFP8:
    case QUANT_MXFP4: {
        const uint8_t s = mx_encode_block(f == QUANT_MXFP8 ? MX_ELEM_E4M3 : MX_ELEM_E2M1, x, m, stride, c8);
        for (size_t i = 0; i < m; i++) codes[i] = s == E8M0_NAN ? CODE_NAN : c8[i];
        return;
    }
    case QUANT_NVFP4: {
        const uint8_t s = nvfp4_encode_block(x, m, stride, nvfp4_tensor_scale(tensor_amax), c8);
        for (size_t i = 0; i < m; i++) codes[i] = (s & 0x7F) == FP8_E4M3_NAN ? CODE_NAN : c8[i];
        return;
    }
    default:
        for (size_t i = 0; i < m; i++) codes[i] = CODE_NAN;
    }
}

size_t quant_codes_changed(QuantFormat f, const float *before, const float *after, size_t rows, size_t cols, int axis)
{
    const size_t n = rows * cols;
    float amax[2] = { 0.0f, 0.0f };
    const bool per_tensor = f == QUANT_FP8_E4M3 || f == QUANT_NVFP4;
    if (per_tensor) {
        amax[0] = quant_amax(before, n);
        amax[1] = quant_amax(after, n);
    }
    /* A NaN or Inf anywhere makes a per-tensor format's whole tensor NaN (quant.h). */
    const bool nan0 = per_tensor && isnan(amax[0]), nan1 = per_tensor && isnan(amax[1]);
    if (nan0 || nan1) return nan0 && nan1 ? 0 : n;
    const size_t block = quant_block_size(f) ? (size_t)quant_block_size(f) : MX_BLOCK;
    const size_t lines = axis ? rows : cols, len = axis ? cols : rows, stride = axis ? 1 : cols;
    uint32_t a[MX_BLOCK], b[MX_BLOCK];
    size_t changed = 0;
    for (size_t l = 0; l < lines; l++) {
        const size_t base = axis ? l * cols : l;
        for (size_t b0 = 0; b0 < len; b0 += block) {
            const size_t m = len - b0 < block ? len - b0 : block;
            encode_block(f, before + base + b0 * stride, m, stride, amax[0], a);
            encode_block(f, after + base + b0 * stride, m, stride, amax[1], b);
            for (size_t i = 0; i < m; i++) changed += a[i] != b[i];
        }
    }
    return changed;
}
