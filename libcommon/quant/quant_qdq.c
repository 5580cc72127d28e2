/* quant_qdq.c: quantize-dequantize of a row-major matrix in any of the formats, the
 * blocks along a chosen axis (see quant.h). Single-threaded: callers spread matrices. */
#include "quant/quant.h"

#include <math.h>
#include <string.h>

static const char *const names[QUANT_FORMAT_COUNT] = { "fp32", "bf16", "fp8_e4m3", "mxfp8", "mxfp4", "nvfp4" };

const char *quant_format_name(QuantFormat f) { return (unsigned)f < QUANT_FORMAT_COUNT ? names[f] : "?"; }

bool quant_format_parse(const char *name, QuantFormat *out)
{
    for (int i = 0; i < QUANT_FORMAT_COUNT; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (QuantFormat)i;
            return true;
        }
    return false;
}

int quant_block_size(QuantFormat f)
{
    switch (f) {
    case QUANT_MXFP8:
    case QUANT_MXFP4: return MX_BLOCK;
    case QUANT_NVFP4: return NVFP4_BLOCK;
    default: return 0;
    }
}

float quant_amax(const float *x, size_t n)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (!isfinite(a)) return NAN;
        if (a > amax) amax = a;
    }
    return amax;
}

void quant_qdq_matrix(QuantFormat f, const float *in, float *out, size_t rows, size_t cols, int axis)
{
    const size_t n = rows * cols;
    if (f == QUANT_FP32) {
        if (out != in) memmove(out, in, n * sizeof *out);
        return;
    }
    if (f == QUANT_BF16) {
        for (size_t i = 0; i < n; i++) out[i] = bf16_round(in[i]);
        return;
    }
    float amax = 0.0f;
    if (f == QUANT_FP8_E4M3 || f == QUANT_NVFP4) {
        amax = quant_amax(in, n);
        if (isnan(amax)) { /* a NaN or Inf anywhere: the tensor is NaN (quant.h) */
            for (size_t i = 0; i < n; i++) out[i] = NAN;
            return;
        }
    }
    if (f == QUANT_FP8_E4M3) {
        float s = amax / FP8_E4M3_MAX;
        if (!(s > 0.0f)) s = 1.0f;
        for (size_t i = 0; i < n; i++) out[i] = fp8_e4m3_decode(fp8_e4m3_encode(in[i] / s, true)) * s;
        return;
    }
    /* blocked: lines along the axis, cut into blocks; the last block of a line is short */
    const size_t lines = axis ? rows : cols, len = axis ? cols : rows, stride = axis ? 1 : cols;
    const size_t block = (size_t)quant_block_size(f);
    const float ts = f == QUANT_NVFP4 ? nvfp4_tensor_scale(amax) : 0.0f;
    uint8_t codes[MX_BLOCK];
    for (size_t l = 0; l < lines; l++) {
        const size_t base = axis ? l * cols : l;
        for (size_t b0 = 0; b0 < len; b0 += block) {
            const size_t m = len - b0 < block ? len - b0 : block;
            const float *x = in + base + b0 * stride;
            float *y = out + base + b0 * stride;
            if (f == QUANT_NVFP4) {
                const uint8_t s = nvfp4_encode_block(x, m, stride, ts, codes);
                nvfp4_decode_block(s, ts, codes, m, y, stride);
            } else {
                const MxElem e = f == QUANT_MXFP8 ? MX_ELEM_E4M3 : MX_ELEM_E2M1;
                const uint8_t s = mx_encode_block(e, x, m, stride, codes);
                mx_decode_block(e, s, codes, m, y, stride);
            }
        }
    }
}
