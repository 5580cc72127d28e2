/* attention.c: see attention.h. */
#include "cpu/attention.h"
#include "cpu/vmath.h"

#include "base/error.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows of a block in the fast path: the score block of rows [r0, r1) spans keys
 * [lo(r0), r1), so the work above the diagonal is at most one block per row block. */
enum { ATTN_ROW_BLOCK = 64 };

static int first_key(int t, int window) { return window > 0 && t - window + 1 > 0 ? t - window + 1 : 0; }

/* ---- reference loops ----------------------------------------------------------- */

void attention_forward_ref(float *out, float *probs, float *sink_probs, const float *q, const float *k,
                           const float *v, const AttnShape *s)
{
    const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
    const int group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < H; h++) {
            int kvh = h / group;
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)(b * T + t) * H + h) * hd;
                float *p = probs + (((size_t)b * H + h) * T + t) * T;
                int lo = first_key(t, s->window);
                float max = s->sinks ? s->sinks[h] : -INFINITY;
                for (int j = 0; j < T; j++) p[j] = 0.0f;
                for (int j = lo; j <= t; j++) {
                    const float *kj = k + ((size_t)(b * T + j) * KV + kvh) * hd;
                    float dot = 0.0f;
                    for (int d = 0; d < hd; d++) dot += qt[d] * kj[d];
                    p[j] = dot * scale;
                    if (p[j] > max) max = p[j];
                }
                float sum = 0.0f;
                for (int j = lo; j <= t; j++) {
                    p[j] = expf(p[j] - max);
                    sum += p[j];
                }
                /* The sink: one more term of the denominator, with no value. */
                float sink_e = s->sinks ? expf(s->sinks[h] - max) : 0.0f;
                sum += sink_e;
                for (int j = lo; j <= t; j++) p[j] /= sum;
                if (s->sinks) sink_probs[((size_t)b * H + h) * T + t] = sink_e / sum;
                float *ot = out + ((size_t)(b * T + t) * H + h) * hd;
                for (int d = 0; d < hd; d++) {
                    float acc = 0.0f;
                    for (int j = lo; j <= t; j++) acc += p[j] * v[((size_t)(b * T + j) * KV + kvh) * hd + d];
                    ot[d] = acc;
                }
            }
        }
}

void attention_backward_ref(float *dq, float *dk, float *dv, float *dsinks, const float *dout, const float *probs,
                            const float *sink_probs, const float *q, const float *k, const float *v,
                            const float *out, const AttnShape *s)
{
    const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
    const int group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < H; h++) {
            int kvh = h / group;
            for (int t = 0; t < T; t++) {
                size_t qi = ((size_t)(b * T + t) * H + h) * hd;
                const float *p = probs + (((size_t)b * H + h) * T + t) * T;
                int lo = first_key(t, s->window);
                float D = 0.0f;
                for (int d = 0; d < hd; d++) D += dout[qi + d] * out[qi + d];
                if (s->sinks) dsinks[h] -= sink_probs[((size_t)b * H + h) * T + t] * D;
                for (int j = lo; j <= t; j++) {
                    size_t kj = ((size_t)(b * T + j) * KV + kvh) * hd;
                    float dp = 0.0f;
                    for (int d = 0; d < hd; d++) dp += dout[qi + d] * v[kj + d];
                    float ds = p[j] * (dp - D) * scale;
                    for (int d = 0; d < hd; d++) {
                        dq[qi + d] += ds * k[kj + d];
                        dk[kj + d] += ds * q[qi + d];
                        dv[kj + d] += p[j] * dout[qi + d];
                    }
                }
            }
        }
}

/* The softmax of p[lo..hi] in place (a row's visible scores). The exponentials are
 * summed in SOFTMAX_LANES fixed partial sums, then those in order, so the result is the
 * same whatever vector width the clone that runs has (AVX-512, AVX2 or SSE2). A NaN
 * score makes the whole row NaN. With a sink (sink non-NULL: its logit) the
 * denominator has one more term, added after the lanes, and *sink_p receives the
 * sink's probability; without one the arithmetic is the plain softmax's. */
enum { SOFTMAX_LANES = 16 };
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void softmax_row(float *p, int lo, int hi, const float *sink, float *sink_p)
{
    float max = sink ? *sink : -INFINITY;
    int nan = 0;
#pragma omp simd reduction(max : max) reduction(| : nan)
    for (int j = lo; j <= hi; j++) {
        max = p[j] > max ? p[j] : max;
        nan |= p[j] != p[j];
    }
    if (nan) max = NAN;
    float lane[SOFTMAX_LANES] = { 0.0f };
    int j = lo;
    for (; j + SOFTMAX_LANES <= hi + 1; j += SOFTMAX_LANES)
#pragma omp simd
        for (int l = 0; l < SOFTMAX_LANES; l++) {
            p[j + l] = vexpf(p[j + l] - max);
            lane[l] += p[j + l];
        }
    for (int l = 0; j <= hi; j++, l++) {
        p[j] = vexpf(p[j] - max);
        lane[l] += p[j];
    }
    float sum = 0.0f;
    for (int l = 0; l < SOFTMAX_LANES; l++) sum += lane[l];
    float sink_e = 0.0f;
    if (sink) {
        sink_e = vexpf(*sink - max);
        sum += sink_e;
    }
    const float inv = 1.0f / sum;
    if (sink_p) *sink_p = sink_e * inv;
#pragma omp simd
    for (int k = lo; k <= hi; k++) p[k] *= inv;
}

/* ---- fast path ------------------------------------------------------------------ */

void attention_forward(float *out, float *probs, float *sink_probs, const float *q, const float *k, const float *v,
                       const AttnShape *s)
{
    const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
    const int group = H / KV, ldq = H * hd, ldk = KV * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const int n_tasks = s->B * H;

#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        const int b = task / H, h = task % H, kvh = h / group;
        const float *Q = q + (size_t)b * T * ldq + h * hd;
        const float *K = k + (size_t)b * T * ldk + kvh * hd;
        const float *V = v + (size_t)b * T * ldk + kvh * hd;
        float *O = out + (size_t)b * T * ldq + h * hd;
        float *P = probs + ((size_t)b * H + h) * T * T;
        const float *sink = s->sinks ? s->sinks + h : NULL;
        float *SP = s->sinks ? sink_probs + ((size_t)b * H + h) * T : NULL;
        for (int r0 = 0; r0 < T; r0 += ATTN_ROW_BLOCK) {
            const int r1 = r0 + ATTN_ROW_BLOCK < T ? r0 + ATTN_ROW_BLOCK : T;
            const int c0 = first_key(r0, s->window), cols = r1 - c0;
            /* Scores of the block, then a softmax per row over its visible keys. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, cols, hd, scale,
                        Q + (size_t)r0 * ldq, ldq, K + (size_t)c0 * ldk, ldk, 0.0f,
                        P + (size_t)r0 * T + c0, T);
            for (int t = r0; t < r1; t++) {
                float *p = P + (size_t)t * T;
                const int lo = first_key(t, s->window);
                softmax_row(p, lo, t, sink, SP ? SP + t : NULL);
                /* Everything outside [lo, t] is exactly zero, in the saved copy too. */
                memset(p, 0, (size_t)lo * sizeof *p);
                memset(p + t + 1, 0, (size_t)(T - t - 1) * sizeof *p);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hd, cols, 1.0f,
                        P + (size_t)r0 * T + c0, T, V + (size_t)c0 * ldk, ldk, 0.0f,
                        O + (size_t)r0 * ldq, ldq);
        }
    }
}

size_t attention_scratch_floats(const AttnShape *s)
{
    return (size_t)s->B * s->n_kv_heads * ATTN_ROW_BLOCK * (size_t)s->T + (size_t)s->B * s->n_heads;
}

void attention_backward(float *dq, float *dk, float *dv, float *dsinks, const float *dout, const float *probs,
                        const float *sink_probs, const float *q, const float *k, const float *v,
                        const float *out, const AttnShape *s, float *scratch)
{
    const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim;
    const int group = H / KV, ldq = H * hd, ldk = KV * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const int n_tasks = s->B * KV;
    /* d sink of each (sequence, head), written by the one task that owns the head. */
    float *dsink_part = scratch + (size_t)s->B * KV * ATTN_ROW_BLOCK * T;

#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        /* Work rows of this task (one slot per task, so no thread count is assumed). */
        float *dS = scratch + (size_t)task * ATTN_ROW_BLOCK * T;
        const int b = task / KV, kvh = task % KV;
        const float *K = k + (size_t)b * T * ldk + kvh * hd;
        const float *V = v + (size_t)b * T * ldk + kvh * hd;
        float *dK = dk + (size_t)b * T * ldk + kvh * hd;
        float *dV = dv + (size_t)b * T * ldk + kvh * hd;
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *Q = q + (size_t)b * T * ldq + h * hd;
            const float *O = out + (size_t)b * T * ldq + h * hd;
            const float *dO = dout + (size_t)b * T * ldq + h * hd;
            float *dQ = dq + (size_t)b * T * ldq + h * hd;
            const float *P = probs + ((size_t)b * H + h) * T * T;
            const float *SP = s->sinks ? sink_probs + ((size_t)b * H + h) * T : NULL;
            float dsink = 0.0f;
            for (int r0 = 0; r0 < T; r0 += ATTN_ROW_BLOCK) {
                const int r1 = r0 + ATTN_ROW_BLOCK < T ? r0 + ATTN_ROW_BLOCK : T;
                const int rows = r1 - r0, c0 = first_key(r0, s->window), cols = r1 - c0;
                /* dP = dO V^T over the block, then dS = scale * P (dP - D) in place. */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, hd, 1.0f,
                            dO + (size_t)r0 * ldq, ldq, V + (size_t)c0 * ldk, ldk, 0.0f, dS, cols);
                for (int t = r0; t < r1; t++) {
                    const float *dot = dO + (size_t)t * ldq, *ot = O + (size_t)t * ldq;
                    float D = 0.0f;
#pragma omp simd reduction(+ : D)
                    for (int d = 0; d < hd; d++) D += dot[d] * ot[d];
                    if (SP) dsink -= SP[t] * D;
                    const float *p = P + (size_t)t * T + c0;
                    float *ds = dS + (size_t)(t - r0) * cols;
#pragma omp simd
                    for (int j = 0; j < cols; j++) ds[j] = p[j] * (ds[j] - D) * scale;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, cols, 1.0f,
                            dS, cols, K + (size_t)c0 * ldk, ldk, 1.0f, dQ + (size_t)r0 * ldq, ldq);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, hd, rows, 1.0f,
                            dS, cols, Q + (size_t)r0 * ldq, ldq, 1.0f, dK + (size_t)c0 * ldk, ldk);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, hd, rows, 1.0f,
                            P + (size_t)r0 * T + c0, T, dO + (size_t)r0 * ldq, ldq, 1.0f,
                            dV + (size_t)c0 * ldk, ldk);
            }
            dsink_part[(size_t)b * H + h] = dsink;
        }
    }
    /* The sequences' parts in order, so the sum does not depend on the threads. */
    if (s->sinks)
        for (int b = 0; b < s->B; b++)
            for (int h = 0; h < H; h++) dsinks[h] += dsink_part[(size_t)b * H + h];
}

/* ---- over a key/value cache ------------------------------------------------------ */

void attention_cached(float *out, const float *q, const float *kc, const float *vc, int n, int p0,
                      const AttnShape *s)
{
    const int H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim, group = H / KV;
    const int ldq = H * hd, ldk = KV * hd, n_blocks = (n + ATTN_ROW_BLOCK - 1) / ATTN_ROW_BLOCK;
    const float scale = 1.0f / sqrtf((float)hd);
    /* The blocked form of attention_forward with the rows offset by p0: the scores of a
     * block of rows against the keys it sees (one product), a softmax per row, then the
     * weighted values (one product). A block's work rows are per thread. */
#pragma omp parallel
    {
        float *P = xmalloc((size_t)ATTN_ROW_BLOCK * (p0 + n) * sizeof *P);
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n_blocks * H; task++) {
            const int blk = task / H, h = task % H, kvh = h / group;
            const int i0 = blk * ATTN_ROW_BLOCK, i1 = i0 + ATTN_ROW_BLOCK < n ? i0 + ATTN_ROW_BLOCK : n;
            const int t0 = p0 + i0, t1 = p0 + i1; /* positions [t0, t1) */
            const int c0 = first_key(t0, s->window), cols = t1 - c0;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i1 - i0, cols, hd, scale,
                        q + (size_t)i0 * ldq + h * hd, ldq, kc + (size_t)c0 * ldk + kvh * hd, ldk, 0.0f, P, cols);
            for (int t = t0; t < t1; t++) {
                float *p = P + (size_t)(t - t0) * cols - c0; /* p[j]: key j */
                const int lo = first_key(t, s->window);
                softmax_row(p, lo, t, s->sinks ? s->sinks + h : NULL, NULL);
                for (int j = c0; j < lo; j++) p[j] = 0.0f;
                for (int j = t + 1; j < t1; j++) p[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, hd, cols, 1.0f, P, cols,
                        vc + (size_t)c0 * ldk + kvh * hd, ldk, 0.0f, out + (size_t)i0 * ldq + h * hd, ldq);
        }
        free(P);
    }
}
