/* quant.h: low-precision number formats, emulated in fp32 on the CPU (issue 14).
 *
 * Element formats (a code is the format's bit pattern in the low bits of a byte):
 *   bf16      1-8-7, IEEE-like (float32's top 16 bits)                       bf16.c
 *   fp8 E4M3  OCP FP8: bias 7, max 448, no Inf, NaN = S.1111.111              fp8.c
 *   fp8 E5M2  OCP FP8: bias 15, max 57344, Inf = S.11111.00, NaN = S.11111.xx fp8.c
 *   fp4 E2M1  OCP MX: bias 1, values 0 0.5 1 1.5 2 3 4 6, no Inf or NaN       fp4.c
 *   E8M0      OCP MX scale: 2^(code - 127), code 255 = NaN, no zero           mx.c
 * Block formats (a block's elements share one scale; blocks run along the reduction
 * dimension of a product; the last block of a row is short when the dimension is not
 * a multiple of the block):
 *   mxfp8     32 E4M3 elements, one E8M0 scale          (OCP MX v1.0)          mx.c
 *   mxfp4     32 E2M1 elements, one E8M0 scale          (OCP MX v1.0)          mx.c
 *   nvfp4     16 E2M1 elements, one E4M3 scale, plus one fp32 scale per tensor nvfp4.c
 * and the per-tensor fp8_e4m3 of DESIGN.md (one fp32 scale per tensor)      quant_qdq.c.
 *
 * ROUNDING: every conversion rounds to nearest, ties to even (on the code's last bit).
 *
 * OVERFLOW, NaN, Inf:
 *   Plain casts (bf16, fp8) take `saturate` where the format leaves a choice:
 *     bf16: IEEE (float's range; a value rounding past the largest bf16 is Inf); NaN
 *       stays NaN (quiet, sign kept).
 *     fp8 saturate = true (CUDA's __NV_SATFINITE): a finite value beyond the largest
 *       finite code, and +-Inf, give +-max (448, 57344); NaN gives NaN.
 *     fp8 saturate = false (OCP's non-saturating mode): a value that rounds past the
 *       largest finite code, and +-Inf, give NaN (E4M3, which has no Inf) or +-Inf (E5M2).
 *     E2M1 always saturates to +-6 (it has neither Inf nor NaN; NaN encodes as 0x7,
 *       and the block formats never ask: see below).
 *   The scaled formats (fp8_e4m3 per tensor, mxfp8, mxfp4, nvfp4) SATURATE: an element
 *   that rounds past the element's largest finite value gets that value (OCP MX's
 *   clamping; with the scales below only a block's largest elements can get there).
 *   A block (per-tensor format: the tensor) holding a NaN or +-Inf dequantizes to all
 *   NaN, as OCP MX does with a NaN scale: a diverging run shows up, it is not clipped.
 *
 * SCALES (how each is chosen):
 *   MX (OCP MX v1.0, section 6.3): shared exponent
 *     X = floor(log2(amax)) - emax_elem,   emax_elem = 8 (E4M3), 2 (E2M1),
 *     amax the block's largest |x|, clamped to E8M0's [-127, 127]; an all-zero block
 *     gets X = -127 (code 0). Elements are x / 2^X rounded to the element format
 *     (saturating); the value is element * 2^X. Both scalings are exact in fp32 (up to
 *     fp32's own subnormal rounding of the product).
 *   NVFP4 (NVIDIA's two-level scheme): tensor scale S = amax_tensor / (448 * 6) in fp32
 *     (S = 1 when that is 0: an all-zero or all-subnormal tensor), block scale
 *     s = E4M3((amax_block / 6) / S) (saturating), d = s * S (fp32), elements
 *     E2M1(x / d) (saturating), value = element * d; a block whose s rounds to 0 is 0.
 *   fp8_e4m3 per tensor: S = amax / 448 (S = 1 when 0), value = E4M3(x / S) * S.
 *   Every step above is one fp32 operation in the order written, so an independent
 *   implementation (tests/oracle/quant_reference.py) repeats it bit for bit. */
#ifndef NMOE_QUANT_H
#define NMOE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- element formats ---------------------------------------------------------- */
uint16_t bf16_encode(float x);
float bf16_decode(uint16_t code);
float bf16_round(float x); /* bf16_decode(bf16_encode(x)) */

enum { FP8_E4M3_NAN = 0x7F, FP8_E5M2_INF = 0x7C, FP8_E5M2_NAN = 0x7F };
#define FP8_E4M3_MAX 448.0f
#define FP8_E5M2_MAX 57344.0f
uint8_t fp8_e4m3_encode(float x, bool saturate);
float fp8_e4m3_decode(uint8_t code);
uint8_t fp8_e5m2_encode(float x, bool saturate);
float fp8_e5m2_decode(uint8_t code);

#define FP4_E2M1_MAX 6.0f
uint8_t fp4_e2m1_encode(float x); /* 4-bit code S.EE.M */
float fp4_e2m1_decode(uint8_t code); /* low 4 bits */

enum { E8M0_NAN = 0xFF };
float e8m0_decode(uint8_t code);

/* ---- block formats -------------------------------------------------------------- */
typedef enum { MX_ELEM_E4M3, MX_ELEM_E2M1 } MxElem;
enum { MX_BLOCK = 32, NVFP4_BLOCK = 16 };

/* The shared exponent X of a block with largest magnitude amax (finite, >= 0), clamped. */
int mx_shared_exponent(MxElem elem, float amax);
/* Encode n <= MX_BLOCK elements x[i * stride]: codes[i] and the returned E8M0 scale. */
uint8_t mx_encode_block(MxElem elem, const float *x, size_t n, size_t stride, uint8_t *codes);
/* Decode: out[i * stride] = element * 2^(scale - 127) (all NaN for scale 0xFF). */
void mx_decode_block(MxElem elem, uint8_t scale, const uint8_t *codes, size_t n, float *out, size_t stride);

/* The tensor scale of a tensor with largest magnitude amax (finite, >= 0). */
float nvfp4_tensor_scale(float amax);
/* Encode n <= NVFP4_BLOCK elements: E2M1 codes and the returned E4M3 block scale (NaN
 * code 0x7F for a block holding a NaN or Inf). */
uint8_t nvfp4_encode_block(const float *x, size_t n, size_t stride, float tensor_scale, uint8_t *codes);
void nvfp4_decode_block(uint8_t scale, float tensor_scale, const uint8_t *codes, size_t n, float *out,
                        size_t stride);

/* ---- quantize-dequantize of a matrix --------------------------------------------- */
typedef enum {
    QUANT_FP32 = 0, /* identity */
    QUANT_BF16,
    QUANT_FP8_E4M3, /* one fp32 scale per matrix */
    QUANT_MXFP8,
    QUANT_MXFP4,
    QUANT_NVFP4,
    QUANT_FORMAT_COUNT
} QuantFormat;

/* "fp32", "bf16", "fp8_e4m3", "mxfp8", "mxfp4", "nvfp4" (the config's names). */
const char *quant_format_name(QuantFormat f);
/* false for an unknown name. */
bool quant_format_parse(const char *name, QuantFormat *out);
/* Elements per block: 32, 16, or 0 for the unblocked formats. */
int quant_block_size(QuantFormat f);

/* Largest |x| over n values (a block's or a tensor's, for its scale); NaN when one is
 * NaN or Inf. */
float quant_amax(const float *x, size_t n);

/* out = dequantize(quantize(in)) for a row-major [rows, cols] matrix, the blocks along
 * `axis` (1: along each row, i.e. the reduction runs over cols; 0: along each column).
 * The per-tensor scales (fp8_e4m3, nvfp4) are over the whole matrix. out may be in. */
void quant_qdq_matrix(QuantFormat f, const float *in, float *out, size_t rows, size_t cols, int axis);

#endif
