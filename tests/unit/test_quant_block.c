/* test_quant_block.c: the scaled formats of libcommon/quant (mxfp8, mxfp4, nvfp4, fp8
 * per tensor) and the matrix quantize-dequantize: against a reference written here
 * from quant.h's rules (its rounding a brute-force search over the format's values
 * from their bit fields), and by hand at the edges: scale extremes, zero blocks, short
 * last blocks, NaN and Inf, the axis. */
#include "check.h"
#include "quant/quant.h"
#include "quant_fields.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static Table T_E4M3, T_E2M1;

static float ref_elem(const Table *t, float v) /* saturating RNE, sign kept */
{
    const unsigned c = nearest(t, fabs((double)v));
    for (int i = 0; i < t->n; i++)
        if (t->code[i] == c) return signbit(v) ? -(float)t->v[i] : (float)t->v[i];
    return NAN;
}

/* The reference qdq of one block of n values x[i * stride] into y. */
static void ref_block(QuantFormat f, const float *x, float *y, size_t n, size_t stride, float ts)
{
    double amax = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i * stride])) finite = 0;
        else if (fabs(x[i * stride]) > amax) amax = fabs(x[i * stride]);
    }
    for (size_t i = 0; i < n; i++) {
        const float v = x[i * stride];
        float out;
        if (!finite) out = NAN;
        else if (f == QUANT_NVFP4) {
            const float sb = ref_elem(&T_E4M3, ((float)amax / 6.0f) / ts);
            const float d = sb * ts;
            out = d > 0 ? ref_elem(&T_E2M1, v / d) * d : 0.0f;
        } else {
            const int emax = f == QUANT_MXFP8 ? 8 : 2;
            int X = amax == 0 ? -127 : (int)floor(log2(amax)) - emax;
            if (X < -127) X = -127;
            const double scale = ldexp(1.0, X);
            out = (float)(ref_elem(f == QUANT_MXFP8 ? &T_E4M3 : &T_E2M1, (float)(v / scale)) * scale);
        }
        y[i * stride] = out;
    }
}

static void ref_qdq(QuantFormat f, const float *in, float *out, size_t rows, size_t cols, int axis)
{
    const size_t n = rows * cols;
    double amax = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(in[i])) finite = 0;
        else if (fabs(in[i]) > amax) amax = fabs(in[i]);
    }
    if (f == QUANT_FP8_E4M3) {
        float s = (float)amax / 448.0f;
        if (s == 0) s = 1;
        for (size_t i = 0; i < n; i++) out[i] = finite ? ref_elem(&T_E4M3, in[i] / s) * s : NAN;
        return;
    }
    if (f == QUANT_NVFP4 && !finite) {
        for (size_t i = 0; i < n; i++) out[i] = NAN;
        return;
    }
    float ts = (float)amax / 2688.0f;
    if (ts == 0) ts = 1;
    const size_t block = f == QUANT_NVFP4 ? 16 : 32;
    const size_t lines = axis ? rows : cols, len = axis ? cols : rows, stride = axis ? 1 : cols;
    for (size_t l = 0; l < lines; l++)
        for (size_t b = 0; b < len; b += block) {
            const size_t off = (axis ? l * cols : l) + b * stride;
            ref_block(f, in + off, out + off, len - b < block ? len - b : block, stride, ts);
        }
}

static int same_bits(const float *a, const float *b, size_t n, const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && bad++ < 3)
            fprintf(stderr, "%s: [%zu] %.9g vs %.9g\n", what, i, a[i], b[i]);
    }
    return bad;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float normal(void) { return (float)(sqrt(-2 * log(uniform() + 1e-300)) * cos(6.283185307179586 * uniform())); }

/* Random matrices with rows of very different magnitudes, every format, both axes. */
static void test_against_reference(void)
{
    const size_t shapes[][2] = { { 1, 1 }, { 3, 31 }, { 4, 32 }, { 5, 33 }, { 7, 70 }, { 16, 16 }, { 2, 17 }, { 9, 100 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t R = shapes[s][0], C = shapes[s][1], n = R * C;
        float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *x), *want = malloc(n * sizeof *x);
        for (int trial = 0; trial < 20; trial++) {
            for (size_t r = 0; r < R; r++) {
                const float mag = ldexpf(1.0f, (int)(uniform() * 60) - 30);
                for (size_t c = 0; c < C; c++) x[r * C + c] = normal() * mag * (uniform() < 0.1 ? 100.0f : 1.0f);
            }
            if (trial == 1) x[0] = 0.0f;
            if (trial == 2) x[n - 1] = -0.0f;
            for (int f = QUANT_FP8_E4M3; f < QUANT_FORMAT_COUNT; f++)
                for (int axis = 0; axis < 2; axis++) {
                    quant_qdq_matrix((QuantFormat)f, x, got, R, C, axis);
                    ref_qdq((QuantFormat)f, x, want, R, C, axis);
                    char what[64];
                    snprintf(what, sizeof what, "%s %zux%zu axis %d", quant_format_name((QuantFormat)f), R, C, axis);
                    CHECK_EQ_INT(same_bits(got, want, n, what), 0);
                    /* in place gives the same */
                    memcpy(want, x, n * sizeof *x);
                    quant_qdq_matrix((QuantFormat)f, want, want, R, C, axis);
                    CHECK_EQ_INT(same_bits(got, want, n, what), 0);
                }
        }
        free(x);
        free(got);
        free(want);
    }
}

/* axis 0 of A is axis 1 of A transposed; and the axis matters */
static void test_axis(void)
{
    enum { R = 40, C = 24 };
    float a[R * C], at[R * C], qa[R * C], qat[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            a[r * C + c] = normal() * (r < 20 ? 1.0f : 1000.0f) * (c < 12 ? 1.0f : 0.001f);
            at[c * R + r] = a[r * C + c];
        }
    for (int f = QUANT_MXFP8; f < QUANT_FORMAT_COUNT; f++) {
        quant_qdq_matrix((QuantFormat)f, a, qa, R, C, 0);
        quant_qdq_matrix((QuantFormat)f, at, qat, C, R, 1);
        int bad = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) bad += memcmp(&qa[r * C + c], &qat[c * R + r], sizeof(float)) != 0;
        CHECK_EQ_INT(bad, 0);
        quant_qdq_matrix((QuantFormat)f, a, qat, R, C, 1);
        CHECK(memcmp(qa, qat, sizeof qa) != 0);
    }
}

static void test_mx_scales(void)
{
    uint8_t codes[32];
    float x[32], y[32];
    /* the shared exponent: floor(log2 amax) - emax_elem */
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, 1.0f), -8);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, nextafterf(1.0f, 0.0f)), -9);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, 448.0f), 0);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E2M1, 6.0f), 0);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E2M1, 8.0f), 1);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E2M1, FLT_MAX), 125);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, FLT_MAX), 119);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, 0x1p-130f), -127); /* clamped */
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E2M1, 1e-45f), -127);
    CHECK_EQ_INT(mx_shared_exponent(MX_ELEM_E4M3, 0.0f), -127);
    /* amax 500 in mxfp8: scale 2^0, 500 saturates to 448 */
    for (int i = 0; i < 32; i++) x[i] = (float)i;
    x[5] = 500.0f;
    x[6] = -500.0f;
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E4M3, x, 32, 1, codes), 127);
    mx_decode_block(MX_ELEM_E4M3, 127, codes, 32, y, 1);
    CHECK(y[5] == 448.0f && y[6] == -448.0f && y[7] == 7.0f && y[18] == 18.0f && y[17] == 16.0f && y[19] == 20.0f && y[0] == 0.0f);
    /* mxfp4: amax 7 -> X = 0; 7 saturates to 6, 5 ties to 4, 2.5 to 2 */
    float x4[4] = { 7.0f, 5.0f, 2.5f, -0.25f }, y4[4];
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E2M1, x4, 4, 1, codes), 127);
    mx_decode_block(MX_ELEM_E2M1, 127, codes, 4, y4, 1);
    CHECK(y4[0] == 6.0f && y4[1] == 4.0f && y4[2] == 2.0f && y4[3] == 0.0f && signbit(y4[3]));
    /* E8M0 extremes: the smallest scale (code 0, 2^-127) holds a tiny block exactly */
    float tiny[3] = { 0x1p-130f, -0x1.8p-131f, 0x1p-140f }, ty[3];
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E4M3, tiny, 3, 1, codes), 0);
    mx_decode_block(MX_ELEM_E4M3, 0, codes, 3, ty, 1);
    CHECK(ty[0] == 0x1p-130f && ty[1] == -0x1.8p-131f && ty[2] == 0x1p-136f * 0.0f); /* 2^-13 < E4M3's 2^-10 boundary */
    /* the largest reachable scales, mxfp8 2^119 and mxfp4 2^125 */
    float huge[2] = { 0x1.8p127f, FLT_MAX }, hy[2];
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E4M3, huge, 1, 1, codes), 127 + 119);
    mx_decode_block(MX_ELEM_E4M3, 127 + 119, codes, 1, hy, 1);
    CHECK(hy[0] == 0x1.8p127f);
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E2M1, huge + 1, 1, 1, codes), 127 + 125);
    mx_decode_block(MX_ELEM_E2M1, 127 + 125, codes, 1, hy, 1);
    CHECK(hy[0] == 0x1.8p127f); /* 6 * 2^125 */
    /* decoding the largest E8M0 code (2^127) and the NaN code */
    codes[0] = 0x38; /* E4M3 1.0 */
    mx_decode_block(MX_ELEM_E4M3, 254, codes, 1, hy, 1);
    CHECK(hy[0] == 0x1p127f);
    mx_decode_block(MX_ELEM_E4M3, E8M0_NAN, codes, 1, hy, 1);
    CHECK(isnan(hy[0]));
    /* an all-zero block: scale code 0, all zeros */
    float z[32] = { 0 }, zy[32];
    CHECK_EQ_INT(mx_encode_block(MX_ELEM_E2M1, z, 32, 1, codes), 0);
    mx_decode_block(MX_ELEM_E2M1, 0, codes, 32, zy, 1);
    int nz = 0;
    for (int i = 0; i < 32; i++) nz += zy[i] != 0.0f;
    CHECK_EQ_INT(nz, 0);
}

static void test_nvfp4_scales(void)
{
    uint8_t codes[16];
    float y[16];
    CHECK(nvfp4_tensor_scale(2688.0f) == 1.0f);
    CHECK(nvfp4_tensor_scale(0.0f) == 1.0f);
    CHECK(nvfp4_tensor_scale(1e-45f) == 1.0f); /* underflows to 0 */
    CHECK(nvfp4_tensor_scale(5376.0f) == 2.0f);
    /* tensor scale 1: block amax 6 -> block scale 1.0 (E4M3 0x38), elements exact */
    float x[4] = { 6.0f, -3.0f, 1.5f, 0.5f };
    CHECK_EQ_INT(nvfp4_encode_block(x, 4, 1, 1.0f, codes), 0x38);
    nvfp4_decode_block(0x38, 1.0f, codes, 4, y, 1);
    CHECK(y[0] == 6.0f && y[1] == -3.0f && y[2] == 1.5f && y[3] == 0.5f);
    /* block amax 2688 with tensor scale 1: block scale 448 (the E4M3 maximum) */
    float big[2] = { 2688.0f, 1000.0f };
    CHECK_EQ_INT(nvfp4_encode_block(big, 2, 1, 1.0f, codes), 0x7E);
    nvfp4_decode_block(0x7E, 1.0f, codes, 2, y, 1);
    CHECK(y[0] == 2688.0f && y[1] == 896.0f); /* 1000/448 = 2.23 -> 2 */
    /* past it the block scale saturates and so do the elements */
    float over[1] = { 10000.0f };
    CHECK_EQ_INT(nvfp4_encode_block(over, 1, 1, 1.0f, codes), 0x7E);
    nvfp4_decode_block(0x7E, 1.0f, codes, 1, y, 1);
    CHECK(y[0] == 2688.0f);
    /* a block far below the tensor: its scale rounds to 0 in E4M3 (below 2^-10), so 0 */
    float small[2] = { 0x1p-14f, -0x1p-15f };
    CHECK_EQ_INT(nvfp4_encode_block(small, 2, 1, 1.0f, codes), 0x00);
    nvfp4_decode_block(0x00, 1.0f, codes, 2, y, 1);
    CHECK(y[0] == 0.0f && y[1] == 0.0f);
    /* the smallest block scale, a subnormal E4M3 (2^-9) */
    float sub[1] = { 6 * 0x1p-9f };
    CHECK_EQ_INT(nvfp4_encode_block(sub, 1, 1, 1.0f, codes), 0x01);
    nvfp4_decode_block(0x01, 1.0f, codes, 1, y, 1);
    CHECK(y[0] == 6 * 0x1p-9f);
    /* the NaN block */
    float bad[3] = { 1.0f, NAN, 2.0f };
    CHECK_EQ_INT(nvfp4_encode_block(bad, 3, 1, 1.0f, codes), FP8_E4M3_NAN);
    nvfp4_decode_block(FP8_E4M3_NAN, 1.0f, codes, 3, y, 1);
    CHECK(isnan(y[0]) && isnan(y[1]) && isnan(y[2]));
}

/* The last block of a line is short and has a scale of its own. */
static void test_short_blocks(void)
{
    enum { C = 70 };
    float x[C], y[C], tail[6], ty[6];
    for (int f = QUANT_MXFP8; f <= QUANT_MXFP4; f++) {
        for (int i = 0; i < C; i++) x[i] = i < 64 ? 1000.0f + (float)i : 0.001f * (float)(i - 60);
        for (int i = 0; i < 6; i++) tail[i] = x[64 + i];
        quant_qdq_matrix((QuantFormat)f, x, y, 1, C, 1);
        quant_qdq_matrix((QuantFormat)f, tail, ty, 1, 6, 1);
        CHECK(memcmp(y + 64, ty, sizeof ty) == 0);
        CHECK(y[69] != 0.0f && fabsf(y[69] - 0.009f) < 0.002f); /* not flushed by the 1000s */
    }
    /* nvfp4: 70 = 4 * 16 + 6; the tail's block scale is its own (tensor scale shared) */
    for (int i = 0; i < C; i++) x[i] = i < 64 ? 100.0f : 0.5f + (float)(i - 64);
    quant_qdq_matrix(QUANT_NVFP4, x, y, 1, C, 1);
    CHECK(y[64] != 0.0f && fabsf(y[69] - 5.5f) < 0.6f);
    for (int i = 0; i < 64; i++) CHECK(y[i] == x[i] || fabsf(y[i] - 100.0f) < 10.0f);
}

static void test_nonfinite(void)
{
    enum { C = 64 };
    float x[2 * C], y[2 * C];
    for (int i = 0; i < 2 * C; i++) x[i] = (float)(i % 7) - 3.0f;
    const float bad_values[2] = { NAN, INFINITY };
    for (int b = 0; b < 2; b++) {
        x[40] = bad_values[b];
        /* blocked: only the block holding it is NaN (row 0, elements 32..63) */
        for (int f = QUANT_MXFP8; f <= QUANT_MXFP4; f++) {
            quant_qdq_matrix((QuantFormat)f, x, y, 2, C, 1);
            int nan_in = 0, nan_out = 0;
            for (int i = 0; i < 2 * C; i++) {
                if (i >= 32 && i < 64) nan_in += isnan(y[i]) != 0;
                else nan_out += isnan(y[i]) != 0;
            }
            CHECK_EQ_INT(nan_in, 32);
            CHECK_EQ_INT(nan_out, 0);
        }
        /* nvfp4 and per-tensor fp8: the tensor scale is NaN, so all */
        for (int f = QUANT_FP8_E4M3; f < QUANT_FORMAT_COUNT; f += QUANT_NVFP4 - QUANT_FP8_E4M3) {
            quant_qdq_matrix((QuantFormat)f, x, y, 2, C, 1);
            int nans = 0;
            for (int i = 0; i < 2 * C; i++) nans += isnan(y[i]) != 0;
            CHECK_EQ_INT(nans, 2 * C);
        }
        /* bf16 keeps them as they are */
        quant_qdq_matrix(QUANT_BF16, x, y, 2, C, 1);
        CHECK(b == 0 ? isnan(y[40]) : isinf(y[40]));
        CHECK(y[41] == x[41]);
    }
}

static void test_plain(void)
{
    enum { N = 1000 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = normal() * 10.0f;
    quant_qdq_matrix(QUANT_FP32, x, y, 10, 100, 1);
    CHECK(memcmp(x, y, sizeof x) == 0);
    quant_qdq_matrix(QUANT_BF16, x, y, 10, 100, 0);
    int bad = 0, changed = 0;
    for (int i = 0; i < N; i++) {
        bad += y[i] != bf16_round(x[i]);
        changed += y[i] != x[i];
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(changed > N / 2);
    /* fp8 per tensor: the largest element maps to 448 and back */
    float t[4] = { 3.0f, -7.0f, 0.01f, 2.0f }, ty[4];
    quant_qdq_matrix(QUANT_FP8_E4M3, t, ty, 1, 4, 1);
    CHECK(ty[1] == -7.0f && ty[0] == 3.0f);
    CHECK(fabsf(ty[2] - 0.01f) < 0.001f && ty[2] != 0.01f);
    float zero[3] = { 0 }, zy[3] = { 1, 1, 1 };
    quant_qdq_matrix(QUANT_FP8_E4M3, zero, zy, 1, 3, 1);
    CHECK(zy[0] == 0 && zy[1] == 0 && zy[2] == 0);
    quant_qdq_matrix(QUANT_NVFP4, zero, zy, 3, 1, 0);
    CHECK(zy[0] == 0 && zy[1] == 0 && zy[2] == 0);
}

static void test_names(void)
{
    for (int f = 0; f < QUANT_FORMAT_COUNT; f++) {
        QuantFormat g = QUANT_FORMAT_COUNT;
        CHECK(quant_format_parse(quant_format_name((QuantFormat)f), &g) && g == (QuantFormat)f);
    }
    QuantFormat g;
    CHECK(!quant_format_parse("fp8", &g));
    CHECK(!quant_format_parse("", &g));
    CHECK_STR(quant_format_name(QUANT_NVFP4), "nvfp4");
    CHECK_EQ_INT(quant_block_size(QUANT_MXFP8), 32);
    CHECK_EQ_INT(quant_block_size(QUANT_MXFP4), 32);
    CHECK_EQ_INT(quant_block_size(QUANT_NVFP4), 16);
    CHECK_EQ_INT(quant_block_size(QUANT_FP8_E4M3), 0);
}

int main(void)
{
    build_table(&F_E4M3, &T_E4M3);
    build_table(&F_E2M1, &T_E2M1);
    test_against_reference();
    test_axis();
    test_mx_scales();
    test_nvfp4_scales();
    test_short_blocks();
    test_nonfinite();
    test_plain();
    test_names();
    return check_report("test_quant_block");
}
