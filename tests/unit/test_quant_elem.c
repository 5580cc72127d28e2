/* test_quant_elem.c: the element formats of libcommon/quant (bf16, fp8 E4M3 and E5M2,
 * fp4 E2M1, E8M0). Every code's value is checked against a value computed here from the
 * code's bit fields; every midpoint between neighbouring codes ties to the even code,
 * and the floats just either side of it round to the nearer code; a sweep of float32
 * bit patterns is checked against a brute-force nearest-value search. */
#include "check.h"
#include "quant/quant.h"
#include "quant_fields.h"

#include <float.h>
#include <math.h>

typedef uint8_t (*Enc)(float);
static uint8_t enc_e4m3(float x) { return fp8_e4m3_encode(x, true); }
static uint8_t enc_e5m2(float x) { return fp8_e5m2_encode(x, true); }
static uint8_t enc_e4m3_ns(float x) { return fp8_e4m3_encode(x, false); }
static uint8_t enc_e5m2_ns(float x) { return fp8_e5m2_encode(x, false); }
static float dec_e4m3(uint8_t c) { return fp8_e4m3_decode(c); }
static float dec_e5m2(uint8_t c) { return fp8_e5m2_decode(c); }

/* Midpoints, either side of them, values in between, negatives, against the table. */
static void check_rounding(const Table *t, Enc enc, unsigned sign_bit, const char *name)
{
    int bad = 0;
    for (int i = 0; i + 1 < t->n; i++) {
        const float lo = (float)t->v[i], hi = (float)t->v[i + 1];
        const float mid = (float)((t->v[i] + t->v[i + 1]) / 2); /* exact: one bit more */
        CHECK((double)mid == (t->v[i] + t->v[i + 1]) / 2);
        const unsigned even = (t->code[i] & 1u) == 0 ? t->code[i] : t->code[i + 1];
        const float below = nextafterf(mid, 0.0f), above = nextafterf(mid, INFINITY);
        const float quarter = (float)(t->v[i] + (t->v[i + 1] - t->v[i]) / 4);
        const float three_q = (float)(t->v[i] + 3 * (t->v[i + 1] - t->v[i]) / 4);
        if (enc(lo) != t->code[i] || enc(hi) != t->code[i + 1] || enc(mid) != even ||
            enc(below) != t->code[i] || enc(above) != t->code[i + 1] || enc(quarter) != t->code[i] ||
            enc(three_q) != t->code[i + 1] || enc(-mid) != (sign_bit | even) ||
            enc(-below) != (sign_bit | t->code[i]) || enc(-above) != (sign_bit | t->code[i + 1])) {
            if (bad++ < 5)
                fprintf(stderr, "%s: rounding around %.9g (between %.9g and %.9g) is wrong\n", name, mid, lo, hi);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* A sweep of float32 bit patterns (positive finite, then the same negated). */
static void check_sweep(const Table *t, Enc enc, unsigned sign_bit, const char *name)
{
    int bad = 0, n = 0;
    for (uint32_t u = 0; u < 0x7F800000u; u += 8191u) {
        float x;
        memcpy(&x, &u, sizeof x);
        const unsigned want = nearest(t, x);
        n++;
        if (enc(x) != want || enc(-x) != (sign_bit | want)) {
            if (bad++ < 5) fprintf(stderr, "%s: %.9g encodes to 0x%x, expected 0x%x\n", name, x, enc(x), want);
        }
    }
    CHECK(n > 200000);
    CHECK_EQ_INT(bad, 0);
}

static void test_fp8(const char *name, const Fields *f, Enc enc, float (*dec)(uint8_t), double max)
{
    /* every code decodes to its bit fields' value (NaN where they say NaN) */
    int bad = 0;
    for (unsigned c = 0; c < 256; c++) {
        const double want = field_value(f, c);
        const float got = dec((uint8_t)c);
        if (isnan(want) ? !isnan(got) : (double)got != want || !signbit(got) != !signbit(want)) {
            if (bad++ < 5) fprintf(stderr, "%s: code 0x%02x decodes to %.9g, expected %.9g\n", name, c, got, want);
        }
        if (!isnan(want) && !isinf(want) && enc(got) != c) bad++; /* round trip */
    }
    CHECK_EQ_INT(bad, 0);
    Table t;
    build_table(f, &t);
    CHECK(t.v[t.n - 1] == max);
    check_rounding(&t, enc, 0x80, name);
    check_sweep(&t, enc, 0x80, name);
}

static void test_fp8_specials(void)
{
    /* literal values from the OCP FP8 spec's table */
    CHECK(fp8_e4m3_decode(0x7E) == 448.0f);
    CHECK(fp8_e4m3_decode(0x08) == 0x1p-6f);  /* smallest normal */
    CHECK(fp8_e4m3_decode(0x01) == 0x1p-9f);  /* smallest subnormal */
    CHECK(fp8_e4m3_decode(0x07) == 0x1.cp-7f); /* largest subnormal 0.875 * 2^-6 */
    CHECK(isnan(fp8_e4m3_decode(0x7F)) && isnan(fp8_e4m3_decode(0xFF)));
    CHECK(fp8_e4m3_decode(0x78) == 256.0f);   /* S.1111.000 is a number in E4M3 */
    CHECK(fp8_e5m2_decode(0x7B) == 57344.0f);
    CHECK(fp8_e5m2_decode(0x01) == 0x1p-16f);
    CHECK(fp8_e5m2_decode(0x04) == 0x1p-14f);
    CHECK(isinf(fp8_e5m2_decode(0x7C)) && fp8_e5m2_decode(0xFC) < 0);
    CHECK(isnan(fp8_e5m2_decode(0x7D)) && isnan(fp8_e5m2_decode(0x7E)) && isnan(fp8_e5m2_decode(0xFF)));
    /* zero, signed zero, fp32 subnormals, half the smallest subnormal (ties to 0) */
    CHECK_EQ_INT(fp8_e4m3_encode(0.0f, true), 0x00);
    CHECK_EQ_INT(fp8_e4m3_encode(-0.0f, true), 0x80);
    CHECK(signbit(fp8_e4m3_decode(0x80)) && fp8_e4m3_decode(0x80) == 0.0f);
    CHECK_EQ_INT(fp8_e4m3_encode(1e-45f, true), 0x00);
    CHECK_EQ_INT(fp8_e4m3_encode(-1e-45f, true), 0x80);
    CHECK_EQ_INT(fp8_e4m3_encode(0x1p-10f, true), 0x00);
    CHECK_EQ_INT(fp8_e4m3_encode(nextafterf(0x1p-10f, 1.0f), true), 0x01);
    CHECK_EQ_INT(fp8_e4m3_encode(0x1.8p-9f, true), 0x02); /* 1.5 quanta: tie to even 2 */
    CHECK_EQ_INT(fp8_e5m2_encode(0x1p-17f, true), 0x00);
    CHECK_EQ_INT(fp8_e5m2_encode(0x1.8p-17f, true), 0x01);
    /* saturation (CUDA's satfinite) */
    CHECK_EQ_INT(fp8_e4m3_encode(449.0f, true), 0x7E);
    CHECK_EQ_INT(fp8_e4m3_encode(1e30f, true), 0x7E);
    CHECK_EQ_INT(fp8_e4m3_encode(FLT_MAX, true), 0x7E);
    CHECK_EQ_INT(fp8_e4m3_encode(-FLT_MAX, true), 0xFE);
    CHECK_EQ_INT(fp8_e4m3_encode(INFINITY, true), 0x7E);
    CHECK_EQ_INT(fp8_e4m3_encode(-INFINITY, true), 0xFE);
    CHECK_EQ_INT(fp8_e5m2_encode(1e30f, true), 0x7B);
    CHECK_EQ_INT(fp8_e5m2_encode(INFINITY, true), 0x7B);
    CHECK_EQ_INT(fp8_e5m2_encode(-INFINITY, true), 0xFB);
    /* non-saturating: past the last rounding boundary is NaN (E4M3) or Inf (E5M2);
     * 464 is the tie between 448 (even) and the would-be 480 */
    CHECK_EQ_INT(fp8_e4m3_encode(464.0f, false), 0x7E);
    CHECK_EQ_INT(fp8_e4m3_encode(nextafterf(464.0f, 1e9f), false), 0x7F);
    CHECK_EQ_INT(fp8_e4m3_encode(-1e30f, false), 0xFF);
    CHECK_EQ_INT(fp8_e4m3_encode(INFINITY, false), 0x7F);
    CHECK_EQ_INT(fp8_e5m2_encode(nextafterf(61440.0f, 0.0f), false), 0x7B);
    CHECK_EQ_INT(fp8_e5m2_encode(61440.0f, false), 0x7C); /* tie: the would-be 65536 is even */
    CHECK_EQ_INT(fp8_e5m2_encode(-1e30f, false), 0xFC);
    CHECK_EQ_INT(fp8_e5m2_encode(INFINITY, false), 0x7C);
    CHECK_EQ_INT(fp8_e5m2_encode(-INFINITY, false), 0xFC);
    /* NaN stays NaN, sign kept, in both modes */
    CHECK_EQ_INT(fp8_e4m3_encode(NAN, true), 0x7F);
    CHECK_EQ_INT(fp8_e4m3_encode(-NAN, false), 0xFF);
    CHECK(isnan(fp8_e5m2_decode(fp8_e5m2_encode(NAN, true))));
    CHECK(isnan(fp8_e5m2_decode(fp8_e5m2_encode(NAN, false))));
    /* below the last boundary the two modes agree */
    CHECK_EQ_INT(enc_e4m3_ns(300.0f), enc_e4m3(300.0f));
    CHECK_EQ_INT(enc_e5m2_ns(50000.0f), enc_e5m2(50000.0f));
}

static uint8_t enc_e2m1(float x) { return fp4_e2m1_encode(x); }

static void test_fp4(void)
{
    const float values[8] = { 0, 0.5f, 1, 1.5f, 2, 3, 4, 6 };
    int bad = 0;
    for (unsigned c = 0; c < 16; c++) {
        const double want = field_value(&F_E2M1, c);
        const float got = fp4_e2m1_decode((uint8_t)c);
        if ((double)got != want || !signbit(got) != !signbit(want) || fabsf(got) != values[c & 7]) bad++;
        if (fp4_e2m1_encode(got) != c) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(fp4_e2m1_decode(0x19) == -0.5f); /* only the low 4 bits count */
    Table t;
    build_table(&F_E2M1, &t);
    CHECK_EQ_INT(t.n, 8);
    check_rounding(&t, enc_e2m1, 0x8, "e2m1");
    check_sweep(&t, enc_e2m1, 0x8, "e2m1");
    /* ties, by hand: 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4 */
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(0.25f)) == 0.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(0.75f)) == 1.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(1.25f)) == 1.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(1.75f)) == 2.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(2.5f)) == 2.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(3.5f)) == 4.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(5.0f)) == 4.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(5.01f)) == 6.0f);
    CHECK(fp4_e2m1_decode(fp4_e2m1_encode(-2.9f)) == -3.0f);
    /* saturating; NaN and Inf have no code and become +-6 */
    CHECK_EQ_INT(fp4_e2m1_encode(7.0f), 0x7);
    CHECK_EQ_INT(fp4_e2m1_encode(-1e30f), 0xF);
    CHECK_EQ_INT(fp4_e2m1_encode(INFINITY), 0x7);
    CHECK_EQ_INT(fp4_e2m1_encode(-INFINITY), 0xF);
    CHECK_EQ_INT(fp4_e2m1_encode(-0.0f), 0x8);
    CHECK_EQ_INT(fp4_e2m1_encode(1e-45f), 0x0);
}

static void test_e8m0(void)
{
    int bad = 0;
    for (unsigned c = 0; c < 255; c++)
        if ((double)e8m0_decode((uint8_t)c) != ldexp(1.0, (int)c - 127)) bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK(e8m0_decode(0) == 0x1p-127f); /* fp32 subnormal, exact */
    CHECK(e8m0_decode(127) == 1.0f);
    CHECK(e8m0_decode(254) == 0x1p127f);
    CHECK(isnan(e8m0_decode(255)));
}

static void test_bf16(void)
{
    /* every code decodes to its fields' value */
    int bad = 0;
    for (unsigned c = 0; c < 65536; c++) {
        const unsigned s = c >> 15, e = (c >> 7) & 0xFF, m = c & 0x7F;
        double want;
        if (e == 0xFF) want = m ? NAN : INFINITY;
        else if (e == 0) want = m / 128.0 * pow(2.0, -126);
        else want = (1 + m / 128.0) * pow(2.0, (int)e - 127);
        if (s) want = -want;
        const float got = bf16_decode((uint16_t)c);
        if (isnan(want) ? !isnan(got) : ((double)got != want || !signbit(got) != !signbit(want))) bad++;
        if (!isnan(want) && bf16_encode(got) != c) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* between every two neighbouring finite codes (and the largest and Inf): the
     * midpoint ties to even, one fp32 ulp either side goes to the nearer code */
    for (unsigned c = 0; c < 0x7F80; c++) {
        const unsigned next = c + 1, even = (c & 1) ? next : c;
        const double lo = bf16_decode((uint16_t)c);
        const double hi = next == 0x7F80 ? ldexp(1.0, 128) : (double)bf16_decode((uint16_t)next);
        const float mid = (float)((lo + hi) / 2);
        if ((double)mid != (lo + hi) / 2) { bad++; continue; }
        const float below = nextafterf(mid, 0.0f), above = nextafterf(mid, INFINITY);
        if (bf16_encode(mid) != even || bf16_encode(below) != c || bf16_encode(above) != next ||
            bf16_encode(-mid) != (0x8000 | even) || bf16_encode(-above) != (0x8000 | next)) {
            if (bad++ < 5) fprintf(stderr, "bf16: rounding between codes 0x%04x and 0x%04x is wrong\n", c, next);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(bf16_round(1.0f + 0x1p-8f) == 1.0f);                /* tie, 1.0 is even */
    CHECK(bf16_round(1.0f + 0x3p-8f) == 1.0f + 0x1p-6f);      /* tie, up to even */
    CHECK(isinf(bf16_round(FLT_MAX)));                         /* past the largest bf16 */
    CHECK(bf16_round(0x1.fep127f) == 0x1.fep127f);             /* the largest bf16 */
    CHECK(isnan(bf16_round(NAN)) && isnan(bf16_round(-NAN)));
    CHECK(isinf(bf16_round(-INFINITY)) && bf16_round(-INFINITY) < 0);
    CHECK(bf16_round(1e-45f) == 1e-45f || bf16_round(1e-45f) == 0.0f); /* fp32 subnormal stays subnormal */
    CHECK_EQ_INT(bf16_encode(0x1p-133f), 0x0001);                /* the smallest bf16 subnormal */
}

int main(void)
{
    test_fp8("e4m3", &F_E4M3, enc_e4m3, dec_e4m3, 448.0);
    test_fp8("e5m2", &F_E5M2, enc_e5m2, dec_e5m2, 57344.0);
    test_fp8_specials();
    test_fp4();
    test_e8m0();
    test_bf16();
    return check_report("test_quant_elem");
}
