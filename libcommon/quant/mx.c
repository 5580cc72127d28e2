/* mx.c: OCP Microscaling (MX v1.0) blocks: 32 elements (E4M3 for mxfp8, E2M1 for mxfp4)
 * sharing one E8M0 power-of-two scale. The scale rule is in quant.h. */
#include "quant/quant.h"

#include <math.h>

float e8m0_decode(uint8_t code) { return code == E8M0_NAN ? NAN : ldexpf(1.0f, (int)code - 127); }

/* emax_elem of the MX spec: the exponent of the element type's largest normal. */
static int elem_emax(MxElem elem) { return elem == MX_ELEM_E4M3 ? 8 : 2; }

int mx_shared_exponent(MxElem elem, float amax)
{
    if (amax == 0.0f) return -127;
    int k;
    frexpf(amax, &k); /* amax = m 2^k, m in [0.5, 1): floor(log2 amax) = k - 1 */
    int x = k - 1 - elem_emax(elem);
    return x < -127 ? -127 : x > 127 ? 127 : x;
}

uint8_t mx_encode_block(MxElem elem, const float *x, size_t n, size_t stride, uint8_t *codes)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(x[i * stride]);
        if (!isfinite(a)) { /* NaN or Inf: the block is NaN (quant.h) */
            for (size_t j = 0; j < n; j++) codes[j] = 0;
            return E8M0_NAN;
        }
        if (a > amax) amax = a;
    }
    const int X = mx_shared_exponent(elem, amax);
    for (size_t i = 0; i < n; i++) {
        const float v = ldexpf(x[i * stride], -X); /* exact: see quant.h */
        codes[i] = elem == MX_ELEM_E4M3 ? fp8_e4m3_encode(v, true) : fp4_e2m1_encode(v);
    }
    return (uint8_t)(X + 127);
}

void mx_decode_block(MxElem elem, uint8_t scale, const uint8_t *codes, size_t n, float *out, size_t stride)
{
    for (size_t i = 0; i < n; i++) {
        if (scale == E8M0_NAN) {
            out[i * stride] = NAN;
            continue;
        }
        const float v = elem == MX_ELEM_E4M3 ? fp8_e4m3_decode(codes[i]) : fp4_e2m1_decode(codes[i]);
        out[i * stride] = ldexpf(v, (int)scale - 127);
    }
}
