/* nvfp4.c: NVIDIA's NVFP4: E2M1 elements in blocks of 16 with an E4M3 block scale, and
 * one fp32 scale per tensor that brings the block scales into E4M3's range. The scale
 * rule is in quant.h; each step is one fp32 operation, in the order written there. */
#include "quant/quant.h"

#include <math.h>

float nvfp4_tensor_scale(float amax)
{
    const float s = amax / (FP8_E4M3_MAX * FP4_E2M1_MAX);
    return s > 0.0f ? s : 1.0f;
}

uint8_t nvfp4_encode_block(const float *x, size_t n, size_t stride, float tensor_scale, uint8_t *codes)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(x[i * stride]);
        if (!isfinite(a)) { /* NaN or Inf: the block is NaN (quant.h) */
            for (size_t j = 0; j < n; j++) codes[j] = 0;
            return FP8_E4M3_NAN;
        }
        if (a > amax) amax = a;
    }
    const uint8_t scale = fp8_e4m3_encode((amax / FP4_E2M1_MAX) / tensor_scale, true);
    const float d = fp8_e4m3_decode(scale) * tensor_scale;
    for (size_t i = 0; i < n; i++) codes[i] = d > 0.0f ? fp4_e2m1_encode(x[i * stride] / d) : 0;
    return scale;
}

void nvfp4_decode_block(uint8_t scale, float tensor_scale, const uint8_t *codes, size_t n, float *out,
                        size_t stride)
{
    const float d = fp8_e4m3_decode(scale) * tensor_scale; /* NaN for the NaN scale */
    for (size_t i = 0; i < n; i++) out[i * stride] = fp4_e2m1_decode(codes[i]) * d;
}
