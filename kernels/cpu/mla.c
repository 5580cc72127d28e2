/* mla.c: see mla.h. The order of the operations follows the math there; every buffer
 * is allocated once by mla_workspace_create. */
#include "cpu/mla.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct MlaWorkspace {
    MlaShape s;
    int max_batch, max_seq;
    size_t bytes;
    float *rope_cos, *rope_sin;  /* [max_seq][dr/2] */
    /* saved activations, N = max_batch * max_seq rows */
    float *qa, *qa_rstd, *qa_n;  /* [N][Q], [N], [N][Q] (Q > 0) */
    float *q;                    /* [N][H][dqk], q_pe rotated */
    float *kva;                  /* [N][R + dr] wkv_a x */
    float *ckv_raw, *ckv_rstd, *ckv; /* [N][R], [N], [N][R] */
    float *kpe;                  /* [N][dr] rotated */
    float *kv;                   /* [N][H][dn + dv] wkv_b c_kv */
    float *k, *v;                /* [N][H][dqk], [N][H][dv] expanded */
    float *probs;                /* [B][H][T][T] (T = the call's) */
    float *out;                  /* [N][H][dv] */
    float *scores;               /* [H][max_seq] the cached path's softmax rows */
    /* gradients (backward) */
    float *dout, *dq, *dk, *dv, *dkv, *dckv, *dckv_raw, *dkva, *dqa_n, *dqa;
};

static float *ws_alloc(MlaWorkspace *ws, size_t n)
{
    ws->bytes += n * sizeof(float);
    return xaligned_alloc(n * sizeof(float));
}

static int dqk_of(const MlaShape *s) { return s->qk_nope + s->qk_rope; }
int mla_cache_k_width(const MlaShape *s) { return s->n_heads * dqk_of(s); }
int mla_cache_v_width(const MlaShape *s) { return s->n_heads * s->v_dim; }

MlaWorkspace *mla_workspace_create(const MlaShape *s, int max_batch, int max_seq, bool backward)
{
    MlaWorkspace *ws = xcalloc(1, sizeof *ws);
    ws->s = *s;
    ws->max_batch = max_batch;
    ws->max_seq = max_seq;
    const size_t N = (size_t)max_batch * max_seq, H = (size_t)s->n_heads, Q = (size_t)s->q_lora_rank;
    const size_t R = (size_t)s->kv_lora_rank, dr = (size_t)s->qk_rope, dqk = (size_t)dqk_of(s);
    const size_t dkv = (size_t)s->qk_nope + s->v_dim, dv = (size_t)s->v_dim;
    ws->rope_cos = ws_alloc(ws, (size_t)max_seq * dr / 2);
    ws->rope_sin = ws_alloc(ws, (size_t)max_seq * dr / 2);
    rope_tables(ws->rope_cos, ws->rope_sin, max_seq, (int)dr, s->rope_theta);
    if (Q) {
        ws->qa = ws_alloc(ws, N * Q);
        ws->qa_rstd = ws_alloc(ws, N);
        ws->qa_n = ws_alloc(ws, N * Q);
    }
    ws->q = ws_alloc(ws, N * H * dqk);
    ws->kva = ws_alloc(ws, N * (R + dr));
    ws->ckv_raw = ws_alloc(ws, N * R);
    ws->ckv_rstd = ws_alloc(ws, N);
    ws->ckv = ws_alloc(ws, N * R);
    ws->kpe = ws_alloc(ws, N * dr);
    ws->kv = ws_alloc(ws, N * H * dkv);
    ws->k = ws_alloc(ws, N * H * dqk);
    ws->v = ws_alloc(ws, N * H * dv);
    ws->probs = ws_alloc(ws, (size_t)max_batch * H * max_seq * max_seq);
    ws->out = ws_alloc(ws, N * H * dv);
    ws->scores = ws_alloc(ws, H * max_seq);
    if (backward) {
        ws->dout = ws_alloc(ws, N * H * dv);
        ws->dq = ws_alloc(ws, N * H * dqk);
        ws->dk = ws_alloc(ws, N * H * dqk);
        ws->dv = ws_alloc(ws, N * H * dv);
        ws->dkv = ws_alloc(ws, N * H * dkv);
        ws->dckv = ws_alloc(ws, N * R);
        ws->dckv_raw = ws_alloc(ws, N * R);
        ws->dkva = ws_alloc(ws, N * (R + dr));
        if (Q) {
            ws->dqa_n = ws_alloc(ws, N * Q);
            ws->dqa = ws_alloc(ws, N * Q);
        }
    }
    return ws;
}

void mla_workspace_free(MlaWorkspace *ws)
{
    if (!ws) return;
    float *bufs[] = { ws->rope_cos, ws->rope_sin, ws->qa, ws->qa_rstd, ws->qa_n, ws->q, ws->kva, ws->ckv_raw,
                      ws->ckv_rstd, ws->ckv, ws->kpe, ws->kv, ws->k, ws->v, ws->probs, ws->out, ws->scores,
                      ws->dout, ws->dq, ws->dk, ws->dv, ws->dkv, ws->dckv, ws->dckv_raw, ws->dkva, ws->dqa_n,
                      ws->dqa };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(ws);
}

size_t mla_workspace_bytes(const MlaWorkspace *ws) { return ws->bytes; }

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

size_t mla_scratch_floats(const MlaShape *s, int N, int T)
{
    const int C = s->dim, H = s->n_heads, Q = s->q_lora_rank, R = s->kv_lora_rank, dqk = dqk_of(s);
    size_t g = 0;
    if (Q) {
        g = max_size(g, linear_scratch_floats(N, C, Q, T));
        g = max_size(g, linear_scratch_floats(N, Q, H * dqk, T));
    } else {
        g = max_size(g, linear_scratch_floats(N, C, H * dqk, T));
    }
    g = max_size(g, linear_scratch_floats(N, C, R + s->qk_rope, T));
    g = max_size(g, linear_scratch_floats(N, R, H * (s->qk_nope + s->v_dim), T));
    g = max_size(g, linear_scratch_floats(N, H * s->v_dim, C, T));
    return g;
}

/* ---- the pieces -------------------------------------------------------------- */

static void lin(bool ref, GemmScratch *g, float *y, const float *x, const float *w, int n, int in, int out, int period)
{
    if (ref) linear_forward_ref(y, x, w, n, in, out);
    else linear_forward(y, x, w, n, in, out, period, g);
}

static void lin_acc(bool ref, GemmScratch *g, float *y, const float *x, const float *w, int n, int in, int out,
                    int period)
{
    if (ref) linear_forward_acc_ref(y, x, w, n, in, out);
    else linear_forward_acc(y, x, w, n, in, out, period, g);
}

static void lin_back(bool ref, GemmScratch *g, float *dx, float *dw, const float *dy, const float *x, const float *w,
                     int n, int in, int out, int period)
{
    if (ref) linear_backward_ref(dx, dw, dy, x, w, n, in, out);
    else linear_backward(dx, dw, dy, x, w, n, in, out, period, g);
}

static void norm(bool ref, float *y, float *rstd, const float *x, const float *w, int n, int dim, float eps)
{
    if (ref) rmsnorm_forward_ref(y, rstd, x, w, n, dim, eps);
    else rmsnorm_forward(y, rstd, x, w, n, dim, eps);
}

static void norm_back(bool ref, float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int n, int dim)
{
    if (ref) rmsnorm_backward_ref(dx, dw, dy, x, w, rstd, n, dim);
    else rmsnorm_backward(dx, dw, dy, x, w, rstd, n, dim);
}

/* Rotate, in place, the dr wide vectors at x + r * row_stride + h * head_stride (h <
 * heads) of rows r < n at positions p0 + r % T; sign -1 is the backward (the transpose). */
static void rope_part(const MlaWorkspace *ws, float *x, size_t row_stride, size_t head_stride, int heads, int n, int T,
                      int p0, float sign)
{
    const int half = ws->s.qk_rope / 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const size_t p = (size_t)(p0 + r % T) * half;
        const float *c = ws->rope_cos + p, *s = ws->rope_sin + p;
        for (int h = 0; h < heads; h++) {
            float *v = x + (size_t)r * row_stride + (size_t)h * head_stride;
            for (int i = 0; i < half; i++) {
                float x0 = v[2 * i], x1 = v[2 * i + 1], si = sign * s[i];
                v[2 * i] = x0 * c[i] - x1 * si;
                v[2 * i + 1] = x0 * si + x1 * c[i];
            }
        }
    }
}

/* q of n rows (positions p0 + r % T) into ws->q, q_pe rotated. */
static void queries(MlaWorkspace *ws, const MlaWeights *w, const float *x, int n, int T, int p0, bool ref,
                    GemmScratch *g)
{
    const MlaShape *s = &ws->s;
    const int C = s->dim, H = s->n_heads, Q = s->q_lora_rank, dqk = dqk_of(s);
    if (Q) {
        lin(ref, g, ws->qa, x, w->wq_a, n, C, Q, T);
        norm(ref, ws->qa_n, ws->qa_rstd, ws->qa, w->q_norm, n, Q, s->norm_eps);
        lin(ref, g, ws->q, ws->qa_n, w->wq_b, n, Q, H * dqk, T);
    } else {
        lin(ref, g, ws->q, x, w->wq, n, C, H * dqk, T);
    }
    rope_part(ws, ws->q + s->qk_nope, (size_t)H * dqk, (size_t)dqk, H, n, T, p0, 1.0f);
}

/* Keys and values of n rows: the latent, the shared rotary key, the expansion, written
 * as [n][H][dqk] into k and [n][H][dv] into v. */
static void keys_values(MlaWorkspace *ws, const MlaWeights *w, const float *x, int n, int T, int p0, float *k,
                        float *v, bool ref, GemmScratch *g)
{
    const MlaShape *s = &ws->s;
    const int C = s->dim, H = s->n_heads, R = s->kv_lora_rank, dr = s->qk_rope, dn = s->qk_nope, dv = s->v_dim;
    const int dqk = dn + dr, dkv = dn + dv;
    lin(ref, g, ws->kva, x, w->wkv_a, n, C, R + dr, T);
    for (int r = 0; r < n; r++) {
        memcpy(ws->ckv_raw + (size_t)r * R, ws->kva + (size_t)r * (R + dr), (size_t)R * sizeof(float));
        memcpy(ws->kpe + (size_t)r * dr, ws->kva + (size_t)r * (R + dr) + R, (size_t)dr * sizeof(float));
    }
    norm(ref, ws->ckv, ws->ckv_rstd, ws->ckv_raw, w->kv_norm, n, R, s->norm_eps);
    rope_part(ws, ws->kpe, (size_t)dr, 0, 1, n, T, p0, 1.0f);
    lin(ref, g, ws->kv, ws->ckv, w->wkv_b, n, R, H * dkv, T);
    for (int r = 0; r < n; r++)
        for (int h = 0; h < H; h++) {
            const float *kvh = ws->kv + ((size_t)r * H + h) * dkv;
            float *kh = k + ((size_t)r * H + h) * dqk;
            memcpy(kh, kvh, (size_t)dn * sizeof(float));
            memcpy(kh + dn, ws->kpe + (size_t)r * dr, (size_t)dr * sizeof(float));
            memcpy(v + ((size_t)r * H + h) * dv, kvh + dn, (size_t)dv * sizeof(float));
        }
}

static float dot(const float *a, const float *b, int n)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

/* One head of n query rows at positions p0.. attending to key rows [lo(t), t] (pointers
 * at the head's slice of row 0; rows H dqk / H dv apart). Row i's softmax goes to
 * p + i * p_stride (indexed by key position). */
static void attend_head(const MlaShape *s, float *out, float *p, size_t p_stride, const float *q, const float *k,
                        const float *v, int n, int p0)
{
    const int H = s->n_heads, dqk = dqk_of(s), dv = s->v_dim;
    const float scale = 1.0f / sqrtf((float)dqk);
    for (int i = 0; i < n; i++) {
        const int t = p0 + i, lo = s->window > 0 && t - s->window + 1 > 0 ? t - s->window + 1 : 0;
        const float *qi = q + (size_t)i * H * dqk;
        float *pi = p + (size_t)i * p_stride, *oi = out + (size_t)i * H * dv;
        float mx = -INFINITY;
        for (int j = lo; j <= t; j++) {
            pi[j] = scale * dot(qi, k + (size_t)j * H * dqk, dqk);
            if (pi[j] > mx) mx = pi[j];
        }
        float sum = 0.0f;
        for (int j = lo; j <= t; j++) {
            pi[j] = expf(pi[j] - mx);
            sum += pi[j];
        }
        const float inv = 1.0f / sum;
        for (int d = 0; d < dv; d++) oi[d] = 0.0f;
        for (int j = lo; j <= t; j++) {
            pi[j] *= inv;
            const float *vj = v + (size_t)j * H * dv;
            for (int d = 0; d < dv; d++) oi[d] += pi[j] * vj[d];
        }
    }
}

/* Backward of attend_head for one (sequence, head) of T rows from position 0: with
 * D_t = dout_t . out_t, dp_tj = dout_t . v_j, ds_tj = p_tj (dp_tj - D_t):
 * dq_t = scale sum_j ds_tj k_j, dk_j += scale ds_tj q_t, dv_j += p_tj dout_t. */
static void attend_head_back(const MlaShape *s, float *dq, float *dk, float *dv_, const float *dout, const float *p,
                             const float *q, const float *k, const float *v, const float *out, int T)
{
    const int H = s->n_heads, dqk = dqk_of(s), dv = s->v_dim;
    const size_t sq = (size_t)H * dqk, sv = (size_t)H * dv;
    const float scale = 1.0f / sqrtf((float)dqk);
    for (int t = 0; t < T; t++) {
        const int lo = s->window > 0 && t - s->window + 1 > 0 ? t - s->window + 1 : 0;
        const float *pt = p + (size_t)t * T, *dot_ = dout + t * sv;
        const float D = dot(dot_, out + t * sv, dv);
        float *dqt = dq + t * sq;
        for (int j = lo; j <= t; j++) {
            const float ds = pt[j] * (dot(dot_, v + j * sv, dv) - D);
            const float *kj = k + j * sq, *qt = q + t * sq;
            float *dkj = dk + j * sq, *dvj = dv_ + j * sv;
            for (int d = 0; d < dqk; d++) {
                dqt[d] += scale * ds * kj[d];
                dkj[d] += scale * ds * qt[d];
            }
            for (int d = 0; d < dv; d++) dvj[d] += pt[j] * dot_[d];
        }
    }
}

/* ---- entry points ---------------------------------------------------------------- */

static void check_rows(const MlaWorkspace *ws, int B, int T)
{
    if (B < 1 || T < 1 || B > ws->max_batch || T > ws->max_seq)
        die("mla: batch of %d x %d exceeds the %d x %d it was built for", B, T, ws->max_batch, ws->max_seq);
}

void mla_forward(MlaWorkspace *ws, const MlaWeights *w, const float *x, float *mid, int B, int T, bool ref,
                 GemmScratch *g)
{
    check_rows(ws, B, T);
    const MlaShape *s = &ws->s;
    const int N = B * T, H = s->n_heads, dqk = dqk_of(s), dv = s->v_dim;
    queries(ws, w, x, N, T, 0, ref, g);
    keys_values(ws, w, x, N, T, 0, ws->k, ws->v, ref, g);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t r0 = (size_t)b * T;
            attend_head(s, ws->out + r0 * H * dv + (size_t)h * dv, ws->probs + ((size_t)b * H + h) * T * T, (size_t)T,
                        ws->q + r0 * H * dqk + (size_t)h * dqk, ws->k + r0 * H * dqk + (size_t)h * dqk,
                        ws->v + r0 * H * dv + (size_t)h * dv, T, 0);
        }
    lin_acc(ref, g, mid, ws->out, w->wo, N, H * dv, s->dim, T);
}

void mla_backward(MlaWorkspace *ws, const MlaWeights *w, const MlaWeights *gr, const float *x, const float *dy,
                  float *dx, int B, int T, bool ref, GemmScratch *g)
{
    check_rows(ws, B, T);
    if (!ws->dout) die("mla: backward on a workspace built without one");
    const MlaShape *s = &ws->s;
    const int N = B * T, C = s->dim, H = s->n_heads, Q = s->q_lora_rank, R = s->kv_lora_rank;
    const int dn = s->qk_nope, dr = s->qk_rope, dqk = dn + dr, dv = s->v_dim, dkv = dn + dv;
    const size_t fl = sizeof(float);
    memset(ws->dout, 0, (size_t)N * H * dv * fl);
    lin_back(ref, g, ws->dout, gr->wo, dy, ws->out, w->wo, N, H * dv, C, T);
    memset(ws->dq, 0, (size_t)N * H * dqk * fl);
    memset(ws->dk, 0, (size_t)N * H * dqk * fl);
    memset(ws->dv, 0, (size_t)N * H * dv * fl);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t r0 = (size_t)b * T, oq = r0 * H * dqk + (size_t)h * dqk, ov = r0 * H * dv + (size_t)h * dv;
            attend_head_back(s, ws->dq + oq, ws->dk + oq, ws->dv + ov, ws->dout + ov,
                             ws->probs + ((size_t)b * H + h) * T * T, ws->q + oq, ws->k + oq, ws->v + ov,
                             ws->out + ov, T);
        }
    /* Keys and values back to the latent: dkv = [dk_nope, dv] per head; the shared
     * rotary key sums its heads' gradients (in head order). */
    for (int r = 0; r < N; r++) {
        float *dpe = ws->dkva + (size_t)r * (R + dr) + R;
        for (int i = 0; i < dr; i++) dpe[i] = 0.0f;
        for (int h = 0; h < H; h++) {
            const float *dkh = ws->dk + ((size_t)r * H + h) * dqk;
            float *dkvh = ws->dkv + ((size_t)r * H + h) * dkv;
            memcpy(dkvh, dkh, (size_t)dn * fl);
            memcpy(dkvh + dn, ws->dv + ((size_t)r * H + h) * dv, (size_t)dv * fl);
            for (int i = 0; i < dr; i++) dpe[i] += dkh[dn + i];
        }
    }
    rope_part(ws, ws->dkva + R, (size_t)(R + dr), 0, 1, N, T, 0, -1.0f);
    memset(ws->dckv, 0, (size_t)N * R * fl);
    lin_back(ref, g, ws->dckv, gr->wkv_b, ws->dkv, ws->ckv, w->wkv_b, N, R, H * dkv, T);
    memset(ws->dckv_raw, 0, (size_t)N * R * fl);
    norm_back(ref, ws->dckv_raw, gr->kv_norm, ws->dckv, ws->ckv_raw, w->kv_norm, ws->ckv_rstd, N, R);
    for (int r = 0; r < N; r++) memcpy(ws->dkva + (size_t)r * (R + dr), ws->dckv_raw + (size_t)r * R, (size_t)R * fl);
    lin_back(ref, g, dx, gr->wkv_a, ws->dkva, x, w->wkv_a, N, C, R + dr, T);
    /* Queries. */
    rope_part(ws, ws->dq + dn, (size_t)H * dqk, (size_t)dqk, H, N, T, 0, -1.0f);
    if (Q) {
        memset(ws->dqa_n, 0, (size_t)N * Q * fl);
        lin_back(ref, g, ws->dqa_n, gr->wq_b, ws->dq, ws->qa_n, w->wq_b, N, Q, H * dqk, T);
        memset(ws->dqa, 0, (size_t)N * Q * fl);
        norm_back(ref, ws->dqa, gr->q_norm, ws->dqa_n, ws->qa, w->q_norm, ws->qa_rstd, N, Q);
        lin_back(ref, g, dx, gr->wq_a, ws->dqa, x, w->wq_a, N, C, Q, T);
    } else {
        lin_back(ref, g, dx, gr->wq, ws->dq, x, w->wq, N, C, H * dqk, T);
    }
}

void mla_cached(MlaWorkspace *ws, const MlaWeights *w, const float *x, float *mid, int n, int p0, float *kc, float *vc,
                bool ref, GemmScratch *g)
{
    const MlaShape *s = &ws->s;
    const int H = s->n_heads, dqk = dqk_of(s), dv = s->v_dim;
    if (n < 1 || p0 < 0 || p0 + n > ws->max_seq) die("mla: %d rows at position %d exceed %d positions", n, p0, ws->max_seq);
    queries(ws, w, x, n, n, p0, ref, g);
    keys_values(ws, w, x, n, n, p0, kc + (size_t)p0 * H * dqk, vc + (size_t)p0 * H * dv, ref, g);
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        attend_head(s, ws->out + (size_t)h * dv, ws->scores + (size_t)h * ws->max_seq, 0, ws->q + (size_t)h * dqk,
                    kc + (size_t)h * dqk, vc + (size_t)h * dv, n, p0);
    lin_acc(ref, g, mid, ws->out, w->wo, n, H * dv, s->dim, n);
}
