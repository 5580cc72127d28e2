/* moe.c: the grouped MoE layer (see moe.h): workspace, token permutation, expert GEMMs
 * and the forward/backward that tie them to the router (moe_route.c).
 *
 * Data flow of a forward over T tokens, K choices each (an "assignment" a = t*K + k):
 *   x --sgemm--> logits --> s --top-K on s+b--> experts[a], gates[a]
 *   counting sort of the assignments by expert --> slot[a] (row in the permuted
 *   buffers, -1 if dropped), row_token[row]
 *   xp[row] = x[row_token]  (gather)
 *   per expert e, over its rows [offset_e, offset_e + kept_e):
 *     h1 = xp W1_e^T, h3 = xp W3_e^T, act = silu(h1) * h3, out = act W2_e^T
 *   y[t] = gain * sum_k gates[t,k] * out[slot[t,k]]   (k ascending)
 * The backward walks the same buffers in reverse.
 *
 * Threads and determinism: OpenBLAS 0.3.21's sgemm gives different bits for different
 * thread counts (it splits the matrices by its thread count; e.g. a 100^3 product differs
 * between 1 and 2 threads). So every sgemm here runs single-threaded on a fixed tile of
 * at most MOE_TILE rows (or output rows, for the weight gradients, whose sum over tokens
 * stays inside one call), and OpenMP spreads the tiles over the threads. Which rows share
 * a call never depends on the thread count, so neither do the results. */
#include "moe.h"

#include "base/error.h"
#include "moe_route.h"
#include "quant/quant.h"
#include "ffn_act.h"
#include "model/expert_exchange.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

/* Rows (or output rows) per sgemm in the parallel loops. Fixed: see the note above. */
enum { MOE_TILE = 64 };

/* A tile of one expert's rows [row0, row0 + rows) of the permuted buffers. */
typedef struct {
    int32_t expert, row0, rows;
} MoeRowTile;

struct MoeWorkspace {
    MoeConfig cfg;
    int max_tokens;
    int T;         /* tokens of the last forward (0: none yet) */
    int routing_T; /* tokens the routing in `experts` is for (0: none) */
    size_t bytes;

    /* per token */
    float *logits; /* [T, E]; holds d logits during the backward */
    float *scores; /* [T, E] affinity s */
    float *group_scores;   /* [T, G] group-limited routing's group scores (G > 1) */
    int32_t *group_chosen; /* [T, M] its kept groups */
    float *group_keys;     /* [T, E] s + b on the kept groups, -inf elsewhere */
    float *ds;     /* [T, E] backward scratch */
    int32_t *seq_counts; /* [nseq, E] aux-loss choice counts */

    /* per assignment [T, K] */
    int32_t *experts;
    float *gates;
    float *dgates;
    uint8_t *dropped;
    int32_t *slot; /* row in the permuted buffers, -1 when dropped */

    /* per expert */
    int64_t *chosen; /* [E] assignments the router chose */
    int64_t *kept;   /* [E] rows after the capacity limit */
    int64_t *offset; /* [E + 1] first row of each expert */
    int64_t *fill;   /* [E] counting-sort cursor */

    /* per permuted row [T*K, ...] */
    int32_t *row_token;
    MoeRowTile *tiles; /* [<= rows / MOE_TILE + E] row tiles of the last permutation */
    int n_tiles;
    float *xp;   /* [rows, D] gathered inputs; d inputs in the backward (aliases dout) */
    float *h1;   /* [rows, F] W1 x */
    float *h3;   /* [rows, F] W3 x */
    float *act;  /* [rows, F] silu(h1) * h3 */
    float *out;  /* [rows, D] expert outputs, before the gate */
    float *dout; /* [rows, D] d out, then d xp */
    float *dact; /* [rows, F] d act, then d h1 */
    float *dh3;  /* [rows, F] */

    /* emulated precision (moe.h), allocated only when used */
    float *xq, *actq;          /* [rows, D], [rows, F] Q(xp), Q(act) */
    float *w1q, *w3q, *w2q;    /* [E, F, D], [E, F, D], [E, D, F] Q(W) of the last forward */
    float *xr, *wr;            /* [T, D], [E, D] bf16 router operands */
    /* router z-loss (router_z_loss > 0) */
    float *zprob;  /* [T, E] softmax of the logits */
    float *zlse;   /* [T] logsumexp of the logits */
    float last_z;  /* the last forward's value */

    /* expert parallel (moe_set_exchange), NULL when the op runs every expert itself */
    const ExpertExchange *ex;
    struct MoeEpRows *ep;
};

static void moe_ep_rows_free(struct MoeEpRows *ep);

const char *moe_config_check(const MoeConfig *c)
{
    if (c->dim < 1) return "dim must be >= 1";
    if (c->n_experts < 1) return "n_routed_experts must be >= 1";
    if (c->top_k < 1 || c->top_k > c->n_experts)
        return "n_activated_experts must be in [1, n_routed_experts]";
    if (c->inter_dim < 1) return "moe_inter_dim must be >= 1";
    if (c->score != MOE_SCORE_SIGMOID && c->score != MOE_SCORE_SOFTMAX)
        return "router_score must be \"sigmoid\" or \"softmax\"";
    if (!isfinite(c->route_scale) || c->route_scale <= 0) return "route_scale must be > 0";
    if (!isfinite(c->output_gain)) return "expert_output_gain must be finite";
    if (!isfinite(c->capacity_factor) || c->capacity_factor < 0)
        return "capacity_factor must be >= 0 (0 = dropless)";
    if (!isfinite(c->aux_loss_alpha) || c->aux_loss_alpha < 0) return "aux_loss_alpha must be >= 0";
    if (!isfinite(c->router_z_loss) || c->router_z_loss < 0) return "router_z_loss must be >= 0";
    if (c->seq_len < 0) return "seq_len must be >= 0";
    if (c->n_groups < 0 || c->n_groups > c->n_experts || (c->n_groups > 1 && c->n_experts % c->n_groups != 0))
        return "n_expert_groups must divide n_routed_experts";
    if (c->n_groups > 1 && (c->topk_groups < 1 || c->topk_groups > c->n_groups))
        return "n_limited_groups must be in [1, n_expert_groups]";
    if (c->n_groups > 1 && (int64_t)c->topk_groups * (c->n_experts / c->n_groups) < c->top_k)
        return "n_limited_groups * (n_routed_experts / n_expert_groups) must be >= n_activated_experts";
    if (c->expert_precision < 0 || c->expert_precision >= QUANT_FORMAT_COUNT)
        return "expert_precision must be fp32, bf16, fp8_e4m3, mxfp8, mxfp4 or nvfp4";
    if (c->router_bf16 != 0 && c->router_bf16 != 1) return "router_precision must be fp32 or bf16";
    if (c->act != FFN_ACT_SWIGLU && c->act != FFN_ACT_RELU2 && c->act != FFN_ACT_SQUARED_REGLU)
        return "ffn_activation must be swiglu, relu2 or squared_reglu";
    return NULL;
}

static void *ws_alloc(MoeWorkspace *ws, size_t count, size_t size)
{
    size_t n = count * size;
    ws->bytes += n;
    return xaligned_alloc(n ? n : 1);
}

MoeWorkspace *moe_workspace_create(const MoeConfig *cfg, int max_tokens)
{
    const char *why = moe_config_check(cfg);
    if (why) die("moe: bad config: %s", why);
    if (max_tokens < 1) die("moe: bad workspace size: max_tokens %d must be >= 1", max_tokens);
    if ((int64_t)max_tokens * cfg->top_k > INT32_MAX)
        die("moe: %d tokens x top-%d assignments exceed the int32 row indices", max_tokens, cfg->top_k);
    MoeWorkspace *ws = xcalloc(1, sizeof *ws);
    ws->cfg = *cfg;
    ws->max_tokens = max_tokens;
    const size_t T = (size_t)max_tokens, E = (size_t)cfg->n_experts, K = (size_t)cfg->top_k;
    const size_t D = (size_t)cfg->dim, F = (size_t)cfg->inter_dim, R = T * K;
    const size_t nseq = cfg->seq_len > 0 ? (T + (size_t)cfg->seq_len - 1) / (size_t)cfg->seq_len : 1;
    ws->logits = ws_alloc(ws, T * E, sizeof(float));
    ws->scores = ws_alloc(ws, T * E, sizeof(float));
    ws->ds = ws_alloc(ws, T * E, sizeof(float));
    ws->seq_counts = ws_alloc(ws, nseq * E, sizeof(int32_t));
    ws->experts = ws_alloc(ws, R, sizeof(int32_t));
    ws->gates = ws_alloc(ws, R, sizeof(float));
    ws->dgates = ws_alloc(ws, R, sizeof(float));
    ws->dropped = ws_alloc(ws, R, sizeof(uint8_t));
    ws->slot = ws_alloc(ws, R, sizeof(int32_t));
    ws->chosen = ws_alloc(ws, E, sizeof(int64_t));
    ws->kept = ws_alloc(ws, E, sizeof(int64_t));
    ws->offset = ws_alloc(ws, E + 1, sizeof(int64_t));
    ws->fill = ws_alloc(ws, E, sizeof(int64_t));
    ws->row_token = ws_alloc(ws, R, sizeof(int32_t));
    ws->tiles = ws_alloc(ws, R / MOE_TILE + E + 1, sizeof(MoeRowTile));
    ws->xp = ws_alloc(ws, R * D, sizeof(float));
    ws->h1 = ws_alloc(ws, R * F, sizeof(float));
    ws->h3 = ws_alloc(ws, R * F, sizeof(float));
    ws->act = ws_alloc(ws, R * F, sizeof(float));
    ws->out = ws_alloc(ws, R * D, sizeof(float));
    ws->dout = ws_alloc(ws, R * D, sizeof(float));
    ws->dact = ws_alloc(ws, R * F, sizeof(float));
    ws->dh3 = ws_alloc(ws, R * F, sizeof(float));
    if (cfg->expert_precision != QUANT_FP32) {
        ws->xq = ws_alloc(ws, R * D, sizeof(float));
        ws->actq = ws_alloc(ws, R * F, sizeof(float));
        ws->w1q = ws_alloc(ws, E * F * D, sizeof(float));
        ws->w3q = ws_alloc(ws, E * F * D, sizeof(float));
        ws->w2q = ws_alloc(ws, E * D * F, sizeof(float));
    }
    if (cfg->router_bf16) {
        ws->xr = ws_alloc(ws, T * D, sizeof(float));
        ws->wr = ws_alloc(ws, E * D, sizeof(float));
    }
    const bool grouped = cfg->n_groups > 1;
    ws->group_scores = ws_alloc(ws, grouped ? T * cfg->n_groups : 0, sizeof(float));
    ws->group_chosen = ws_alloc(ws, grouped ? T * cfg->topk_groups : 0, sizeof(int32_t));
    ws->group_keys = ws_alloc(ws, grouped ? T * E : 0, sizeof(float));
    ws->zprob = ws_alloc(ws, cfg->router_z_loss > 0 ? T * E : 0, sizeof(float));
    ws->zlse = ws_alloc(ws, cfg->router_z_loss > 0 ? T : 0, sizeof(float));
    return ws;
}

void moe_workspace_free(MoeWorkspace *ws)
{
    if (!ws) return;
    void *bufs[] = { ws->logits, ws->scores, ws->ds, ws->seq_counts, ws->experts, ws->gates,
                     ws->dgates, ws->dropped, ws->slot, ws->chosen, ws->kept, ws->offset,
                     ws->fill, ws->row_token, ws->tiles, ws->xp, ws->h1, ws->h3, ws->act, ws->out,
                     ws->dout, ws->dact, ws->dh3, ws->xq, ws->actq, ws->w1q, ws->w3q, ws->w2q, ws->xr,
                     ws->wr, ws->zprob, ws->zlse, ws->group_scores, ws->group_chosen, ws->group_keys };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    moe_ep_rows_free(ws->ep);
    free(ws);
}

size_t moe_workspace_bytes(const MoeWorkspace *ws) { return ws->bytes; }
const MoeConfig *moe_workspace_config(const MoeWorkspace *ws) { return &ws->cfg; }
const int32_t *moe_routing_experts(const MoeWorkspace *ws) { return ws->experts; }
const float *moe_routing_gates(const MoeWorkspace *ws) { return ws->gates; }
const uint8_t *moe_routing_dropped(const MoeWorkspace *ws) { return ws->dropped; }
float moe_router_z_value(const MoeWorkspace *ws) { return ws->last_z; }

/* Router z-loss forward: lse and softmax of each token's logits, and the value
 * c * mean_t lse_t^2 (summed in double, token order). */
static float router_z_forward(MoeWorkspace *ws, int T)
{
    const int E = ws->cfg.n_experts;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *l = ws->logits + (size_t)t * E;
        float *p = ws->zprob + (size_t)t * E;
        float mx = l[0], sum = 0.0f;
        for (int i = 1; i < E; i++) mx = l[i] > mx ? l[i] : mx;
        for (int i = 0; i < E; i++) sum += (p[i] = expf(l[i] - mx));
        for (int i = 0; i < E; i++) p[i] /= sum;
        ws->zlse[t] = mx + logf(sum);
    }
    double acc = 0.0;
    for (int t = 0; t < T; t++) acc += (double)ws->zlse[t] * ws->zlse[t];
    return (float)(ws->cfg.router_z_loss * acc / T);
}

void moe_set_routing(MoeWorkspace *ws, int T, const int32_t *experts)
{
    const int E = ws->cfg.n_experts, K = ws->cfg.top_k;
    if (T < 1 || T > ws->max_tokens) die("moe: routing for %d tokens; workspace holds 1..%d", T, ws->max_tokens);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            int32_t e = experts[(size_t)t * K + k];
            if (e < 0 || e >= E) die("moe: routing token %d choice %d: expert %d not in [0, %d)", t, k, (int)e, E);
            for (int j = 0; j < k; j++)
                if (experts[(size_t)t * K + j] == e) die("moe: routing token %d: expert %d chosen twice", t, (int)e);
        }
    memcpy(ws->experts, experts, (size_t)T * K * sizeof *experts);
    ws->routing_T = T;
}

/* Capacity per expert for T tokens; INT64_MAX when dropless. Computed in double from the
 * float factor, (cf * (T*K)) / E, so the oracle can repeat it exactly. */
static int64_t moe_capacity(const MoeConfig *c, int T)
{
    if (c->capacity_factor <= 0) return INT64_MAX;
    return (int64_t)ceil((double)c->capacity_factor * ((double)T * c->top_k) / c->n_experts);
}

/* Stable counting sort of the assignments by expert: rows of an expert are contiguous and
 * in assignment (token) order; beyond the capacity an assignment is dropped. Sequential:
 * it is O(T*K) and its order is the determinism of everything after it. */
static void moe_permute(MoeWorkspace *ws, int T)
{
    const int E = ws->cfg.n_experts, K = ws->cfg.top_k;
    const int64_t R = (int64_t)T * K, cap = moe_capacity(&ws->cfg, T);
    memset(ws->chosen, 0, (size_t)E * sizeof *ws->chosen);
    for (int64_t a = 0; a < R; a++) ws->chosen[ws->experts[a]]++;
    ws->offset[0] = 0;
    for (int e = 0; e < E; e++) {
        ws->kept[e] = ws->chosen[e] < cap ? ws->chosen[e] : cap;
        ws->offset[e + 1] = ws->offset[e] + ws->kept[e];
        ws->fill[e] = 0;
    }
    for (int64_t a = 0; a < R; a++) {
        int e = ws->experts[a];
        if (ws->fill[e] < ws->kept[e]) {
            int64_t row = ws->offset[e] + ws->fill[e]++;
            ws->slot[a] = (int32_t)row;
            ws->row_token[row] = (int32_t)(a / K);
            ws->dropped[a] = 0;
        } else {
            ws->slot[a] = -1;
            ws->dropped[a] = 1;
        }
    }
    ws->n_tiles = 0;
    for (int e = 0; e < E; e++)
        for (int64_t r = 0; r < ws->kept[e]; r += MOE_TILE) {
            int64_t left = ws->kept[e] - r;
            ws->tiles[ws->n_tiles++] = (MoeRowTile){ e, (int32_t)(ws->offset[e] + r),
                                                     (int32_t)(left < MOE_TILE ? left : MOE_TILE) };
        }
}

/* OpenBLAS built with pthreads splits each call over its own threads; keep it to one
 * for the duration of an op (the OpenMP build already does that inside a parallel
 * region, and setting its count would set OpenMP's). Returns what to restore. */
static int blas_single_thread_begin(void)
{
    if (openblas_get_parallel() != 1) return 0;
    int n = openblas_get_num_threads();
    if (n != 1) openblas_set_num_threads(1);
    return n;
}

static void blas_single_thread_end(int saved)
{
    if (saved > 1) openblas_set_num_threads(saved);
}

/* The operands the experts' products use: the fp32 ones, or their Q() (moe.h). */
typedef struct {
    const float *w1, *w3, *w2, *x, *act;
} MoeOperands;

static MoeOperands moe_operands(const MoeWorkspace *ws, const MoeParams *p)
{
    if (ws->cfg.expert_precision == QUANT_FP32) return (MoeOperands){ p->w1, p->w3, p->w2, ws->xp, ws->act };
    return (MoeOperands){ ws->w1q, p->w3 ? ws->w3q : NULL, ws->w2q, ws->xq, ws->actq }; /* relu2: no W3 */
}

/* Q() of every expert's three weights and its group of input rows, one matrix a task. */
static void moe_quantize_inputs(MoeWorkspace *ws, const MoeParams *p)
{
    const QuantFormat f = (QuantFormat)ws->cfg.expert_precision;
    const int E = ws->cfg.n_experts;
    const size_t D = (size_t)ws->cfg.dim, F = (size_t)ws->cfg.inter_dim;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < 4 * E; i++) {
        const int e = i / 4;
        const size_t wo = (size_t)e * F * D;
        switch (i % 4) {
        case 0: quant_qdq_matrix(f, p->w1 + wo, ws->w1q + wo, F, D, 1); break;
        case 1: if (p->w3) quant_qdq_matrix(f, p->w3 + wo, ws->w3q + wo, F, D, 1); break;
        case 2: quant_qdq_matrix(f, p->w2 + wo, ws->w2q + wo, D, F, 1); break;
        default:
            if (ws->kept[e] > 0)
                quant_qdq_matrix(f, ws->xp + (size_t)ws->offset[e] * D, ws->xq + (size_t)ws->offset[e] * D,
                                 (size_t)ws->kept[e], D, 1);
        }
    }
}

/* Forward of the experts, one row tile per task: h1, h3, act and out for its rows. With
 * an emulated precision the down product waits for Q(act) over each expert's group. */
static void moe_experts_forward(MoeWorkspace *ws, const MoeParams *p)
{
    const int E = ws->cfg.n_experts, D = ws->cfg.dim, F = ws->cfg.inter_dim;
    const bool quant = ws->cfg.expert_precision != QUANT_FP32;
    if (quant) moe_quantize_inputs(ws, p);
    const MoeOperands op = moe_operands(ws, p);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < ws->n_tiles; i++) {
        const MoeRowTile tl = ws->tiles[i];
        const int e = tl.expert, n = tl.rows;
        const size_t o = (size_t)tl.row0;
        const float *w1 = op.w1 + (size_t)e * F * D, *w3 = op.w3 ? op.w3 + (size_t)e * F * D : NULL;
        const float *w2 = op.w2 + (size_t)e * D * F;
        const float *xp = op.x + o * D;
        float *h1 = ws->h1 + o * F, *h3 = ws->h3 + o * F, *act = ws->act + o * F;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, D, 1.0f, xp, D, w1, D, 0.0f, h1, F);
        if (ws->cfg.act != FFN_ACT_RELU2)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, D, 1.0f, xp, D, w3, D, 0.0f, h3, F);
        if (ws->cfg.act == FFN_ACT_RELU2) relu2_forward_ref(act, h1, (size_t)n * F);
        else if (ws->cfg.act == FFN_ACT_SQUARED_REGLU) squared_reglu_forward_ref(act, h1, h3, (size_t)n * F);
        else
            for (size_t j = 0; j < (size_t)n * F; j++) act[j] = h1[j] / (1.0f + expf(-h1[j])) * h3[j];
        if (!quant)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, F, 1.0f, act, F, w2, F, 0.0f,
                        ws->out + o * D, D);
    }
    if (!quant) return;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int e = 0; e < E; e++)
        if (ws->kept[e] > 0)
            quant_qdq_matrix((QuantFormat)ws->cfg.expert_precision, ws->act + (size_t)ws->offset[e] * F,
                             ws->actq + (size_t)ws->offset[e] * F, (size_t)ws->kept[e], (size_t)F, 1);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < ws->n_tiles; i++) {
        const MoeRowTile tl = ws->tiles[i];
        const size_t o = (size_t)tl.row0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tl.rows, D, F, 1.0f, op.act + o * F, F,
                    op.w2 + (size_t)tl.expert * D * F, F, 0.0f, ws->out + o * D, D);
    }
}

/* Backward of the experts in three passes: per row tile, d act -> d h1, d h3; per tile of
 * weight-gradient rows, the sum over the expert's whole group in one call; per row tile,
 * d xp (written over d out, which the weight pass still needed). With an emulated
 * precision the operands are the forward's Q() (straight-through, moe.h). */
static void moe_experts_backward(MoeWorkspace *ws, const MoeParams *p, const MoeGrads *g)
{
    const int E = ws->cfg.n_experts, D = ws->cfg.dim, F = ws->cfg.inter_dim;
    const MoeOperands op = moe_operands(ws, p);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < ws->n_tiles; i++) {
        const MoeRowTile tl = ws->tiles[i];
        const int n = tl.rows;
        const size_t o = (size_t)tl.row0, wo = (size_t)tl.expert * F * D; /* same size for w1, w3, w2 */
        const float *h1 = ws->h1 + o * F, *h3 = ws->h3 + o * F;
        float *dout = ws->dout + o * D, *dact = ws->dact + o * F, *dh3 = ws->dh3 + o * F;
        /* d act = d out W2 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, F, D, 1.0f, dout, D, op.w2 + wo, F,
                    0.0f, dact, F);
        /* act = silu(h1) h3:  d h1 = d act h3 silu'(h1),  d h3 = d act silu(h1);
         * silu'(h) = sig(h) (1 + h (1 - sig(h))). d h1 overwrites d act. The other
         * activations in place the same way, with ffn_act.h's arithmetic (r = relu(h1)):
         * relu2 d h1 = d act 2r; squared_reglu d h1 = d act h3 2r, d h3 = d act r^2. */
        if (ws->cfg.act != FFN_ACT_SWIGLU) {
            const bool relu2 = ws->cfg.act == FFN_ACT_RELU2;
            for (size_t j = 0; j < (size_t)n * F; j++) {
                float r = h1[j] > 0.0f ? h1[j] : 0.0f, da = dact[j];
                if (relu2) {
                    dact[j] = da * (2.0f * r);
                } else {
                    dh3[j] = da * (r * r);
                    dact[j] = da * h3[j] * (2.0f * r);
                }
            }
            continue;
        }
        for (size_t j = 0; j < (size_t)n * F; j++) {
            float sig = 1.0f / (1.0f + expf(-h1[j]));
            float da = dact[j];
            dh3[j] = da * h1[j] * sig;
            dact[j] = da * h3[j] * sig * (1.0f + h1[j] * (1.0f - sig));
        }
    }

    /* weight gradients: tasks (expert, matrix, tile of output rows), each summing over
     * all of the expert's rows. d W2 needs d out, so this pass runs before d xp
     * overwrites it. */
    const int ft = (F + MOE_TILE - 1) / MOE_TILE, dt = (D + MOE_TILE - 1) / MOE_TILE;
    const int per_expert = 2 * ft + dt;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < E * per_expert; i++) {
        const int e = i / per_expert, part = i % per_expert;
        const int n = (int)ws->kept[e];
        if (n == 0) continue;
        const size_t o = (size_t)ws->offset[e], wo = (size_t)e * F * D;
        const float *xp = op.x + o * D;
        if (part < 2 * ft) {        /* d W1 (part < ft) or d W3 rows [f0, f0 + m) += d h^T xp */
            if (part >= ft && !g->w3) continue; /* relu2: no W3 */
            const int f0 = (part % ft) * MOE_TILE, m = F - f0 < MOE_TILE ? F - f0 : MOE_TILE;
            const float *dh = (part < ft ? ws->dact : ws->dh3) + o * F + f0;
            float *gw = (part < ft ? g->w1 : g->w3) + wo + (size_t)f0 * D;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, D, n, 1.0f, dh, F, xp, D, 1.0f, gw, D);
        } else {                    /* d W2 rows [d0, d0 + m) += d out^T act */
            const int d0 = (part - 2 * ft) * MOE_TILE, m = D - d0 < MOE_TILE ? D - d0 : MOE_TILE;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, F, n, 1.0f, ws->dout + o * D + d0, D,
                        op.act + o * F, F, 1.0f, g->w2 + wo + (size_t)d0 * F, F);
        }
    }

    /* d xp = d h1 W1 + d h3 W3, per row tile, into d out */
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < ws->n_tiles; i++) {
        const MoeRowTile tl = ws->tiles[i];
        const int n = tl.rows;
        const size_t o = (size_t)tl.row0, wo = (size_t)tl.expert * F * D;
        float *dxp = ws->dout + o * D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, F, 1.0f, ws->dact + o * F, F,
                    op.w1 + wo, D, 0.0f, dxp, D);
        if (op.w3)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, F, 1.0f, ws->dh3 + o * F, F,
                        op.w3 + wo, D, 1.0f, dxp, D);
    }
}

/* ---- expert parallel (moe_set_exchange) ----
 * Rank r of a group of P computes only experts [r Eh, (r + 1) Eh), Eh = E / P, for the
 * tokens of all P ranks. Routing, permutation and the gate combine stay with the tokens;
 * what travels are rows of the permuted buffers. Those are grouped by expert, so the rows
 * for peer d are one range [offset[d Eh], offset[(d + 1) Eh]) and go as they lie:
 *   forward:  kept counts (Alltoall), xp rows out (Alltoallv), out rows back;
 *   backward: d out rows out, d xp rows back, then the weight gradients back to the
 *             rank whose tokens they came from.
 *
 * Bits: for each source rank the owner runs exactly the products one process would run
 * in that rank's call: the same rows of the same expert in the same order, in the same
 * row tiles (moe_permute's rule) and the same weight-gradient sums over the source's
 * group (one sgemm each). Every output row and every gradient of a call is therefore the
 * float it is without the exchange, and the gradient a rank ends its call with is its
 * call's, whole; nmoe-train's fixed-order sum over calls and ranks does the rest. */
typedef struct MoeEpRows {
    int P, Eh;
    int64_t rows_cap;         /* rows the buffers hold: P sources x T*K */
    int64_t *recv_kept;       /* [P * Eh] rows source s sends for my expert i */
    int64_t *offset;          /* [P * (Eh + 1)] per source, first row of my expert i (absolute) */
    int64_t *send_counts, *recv_counts, *grad_counts; /* [P] floats per peer */
    MoeRowTile *tiles;        /* per source: its row tiles, from tile0[s] */
    int *tile0, *n_tiles;     /* [P] */
    float *xp, *h1, *h3, *act, *out, *dout, *dact, *dh3; /* [rows_cap, D or F] */
    float *gsend, *grecv;     /* [P][w1 Eh*F*D, w3 Eh*F*D, w2 Eh*D*F]: per source / per owner */
} MoeEpRows;

static void moe_ep_rows_free(MoeEpRows *ep)
{
    if (!ep) return;
    void *bufs[] = { ep->recv_kept, ep->offset, ep->send_counts, ep->recv_counts, ep->grad_counts, ep->tiles,
                     ep->tile0, ep->n_tiles, ep->xp, ep->h1, ep->h3, ep->act, ep->out, ep->dout, ep->dact,
                     ep->dh3, ep->gsend, ep->grecv };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(ep);
}

void moe_set_exchange(MoeWorkspace *ws, const ExpertExchange *ex)
{
    ws->ex = ex;
    if (!ex) return;
    const MoeConfig *c = &ws->cfg;
    const int E = c->n_experts, P = ex->size;
    if (P < 2 || E % P != 0 || ex->rank < 0 || ex->rank >= P)
        die("moe: expert-parallel group of %d ranks (this one %d) for %d experts: the size must be >= 2 and divide "
            "n_routed_experts", P, ex->rank, E);
    if (c->expert_precision != QUANT_FP32)
        die("moe: expert parallel runs the experts in fp32 only (expert_precision must be fp32)");
    if (ws->ep && ws->ep->P == P) return;
    moe_ep_rows_free(ws->ep);
    MoeEpRows *ep = ws->ep = xcalloc(1, sizeof *ep);
    const size_t D = (size_t)c->dim, F = (size_t)c->inter_dim, Eh = (size_t)(E / P);
    ep->P = P;
    ep->Eh = (int)Eh;
    ep->rows_cap = (int64_t)P * ws->max_tokens * c->top_k;
    const size_t rows = (size_t)ep->rows_cap, G = 3 * Eh * F * D;
    ep->recv_kept = xcalloc((size_t)P * Eh, sizeof *ep->recv_kept);
    ep->offset = xcalloc((size_t)P * (Eh + 1), sizeof *ep->offset);
    ep->send_counts = xcalloc((size_t)P, sizeof(int64_t));
    ep->recv_counts = xcalloc((size_t)P, sizeof(int64_t));
    ep->grad_counts = xcalloc((size_t)P, sizeof(int64_t));
    for (int s = 0; s < P; s++) ep->grad_counts[s] = (int64_t)G;
    ep->tiles = xcalloc(rows / MOE_TILE + (size_t)P * (Eh + 1), sizeof *ep->tiles);
    ep->tile0 = xcalloc((size_t)P, sizeof(int));
    ep->n_tiles = xcalloc((size_t)P, sizeof(int));
    float **row_bufs[] = { &ep->xp, &ep->out, &ep->dout };
    for (size_t i = 0; i < 3; i++) *row_bufs[i] = xaligned_alloc(rows * D * sizeof(float));
    float **hid_bufs[] = { &ep->h1, &ep->h3, &ep->act, &ep->dact, &ep->dh3 };
    for (size_t i = 0; i < 5; i++) *hid_bufs[i] = xaligned_alloc(rows * F * sizeof(float));
    ep->gsend = xaligned_alloc((size_t)P * G * sizeof(float));
    ep->grecv = xaligned_alloc((size_t)P * G * sizeof(float));
    ws->bytes += (rows * (3 * D + 5 * F) + 2 * (size_t)P * G) * sizeof(float);
}

/* The workspace as the experts' loops see source s's rows on this rank: Eh experts
 * (local indices), its kept counts, offsets and tiles, the exchange's buffers. */
static MoeWorkspace moe_ep_view(const MoeWorkspace *ws, int s)
{
    const MoeEpRows *ep = ws->ep;
    MoeWorkspace v = *ws;
    v.cfg.n_experts = ep->Eh;
    v.kept = ep->recv_kept + (size_t)s * ep->Eh;
    v.offset = ep->offset + (size_t)s * (ep->Eh + 1);
    v.tiles = ep->tiles + ep->tile0[s];
    v.n_tiles = ep->n_tiles[s];
    v.xp = ep->xp;
    v.h1 = ep->h1;
    v.h3 = ep->h3;
    v.act = ep->act;
    v.out = ep->out;
    v.dout = ep->dout;
    v.dact = ep->dact;
    v.dh3 = ep->dh3;
    return v;
}

/* This rank's experts' weights, indexed from 0. */
static MoeParams moe_ep_params(const MoeWorkspace *ws, const MoeParams *p)
{
    const size_t o = (size_t)ws->ex->rank * ws->ep->Eh * ws->cfg.inter_dim * ws->cfg.dim;
    return (MoeParams){ p->router_w, p->bias, p->w1 + o, p->w3 ? p->w3 + o : NULL, p->w2 + o };
}

static void moe_ep_forward(MoeWorkspace *ws, const MoeParams *p)
{
    MoeEpRows *ep = ws->ep;
    const int P = ep->P, Eh = ep->Eh, D = ws->cfg.dim;
    ws->ex->alltoall_i64(ws->kept, ep->recv_kept, Eh);
    int64_t base = 0;
    int n_tiles = 0;
    for (int s = 0; s < P; s++) {
        int64_t *off = ep->offset + (size_t)s * (Eh + 1);
        const int64_t *kept = ep->recv_kept + (size_t)s * Eh, first = base;
        ep->tile0[s] = n_tiles;
        for (int i = 0; i < Eh; i++) {
            if (kept[i] < 0 || kept[i] > ep->rows_cap) die("moe: expert parallel: rank %d sent %lld rows", s, (long long)kept[i]);
            off[i] = base;
            for (int64_t r = 0; r < kept[i]; r += MOE_TILE) { /* moe_permute's tiles */
                const int64_t left = kept[i] - r;
                ep->tiles[n_tiles++] = (MoeRowTile){ i, (int32_t)(base + r), (int32_t)(left < MOE_TILE ? left : MOE_TILE) };
            }
            base += kept[i];
        }
        if (base > ep->rows_cap) die("moe: expert parallel: %lld rows for this rank, more than %lld", (long long)base,
                                     (long long)ep->rows_cap);
        off[Eh] = base;
        ep->n_tiles[s] = n_tiles - ep->tile0[s];
        ep->recv_counts[s] = (base - first) * D;
        ep->send_counts[s] = (ws->offset[(s + 1) * Eh] - ws->offset[s * Eh]) * D;
    }
    ws->ex->alltoallv_f32(ws->xp, ep->send_counts, ep->xp, ep->recv_counts);
    const MoeParams mine = moe_ep_params(ws, p);
    for (int s = 0; s < P; s++) {
        MoeWorkspace v = moe_ep_view(ws, s);
        moe_experts_forward(&v, &mine);
    }
    ws->ex->alltoallv_f32(ep->out, ep->recv_counts, ws->out, ep->send_counts);
}

static void moe_ep_backward(MoeWorkspace *ws, const MoeParams *p, const MoeGrads *g)
{
    MoeEpRows *ep = ws->ep;
    const int P = ep->P, Eh = ep->Eh;
    const size_t FD = (size_t)ws->cfg.inter_dim * ws->cfg.dim, part = (size_t)Eh * FD, G = 3 * part;
    ws->ex->alltoallv_f32(ws->dout, ep->send_counts, ep->dout, ep->recv_counts);
    const MoeParams mine = moe_ep_params(ws, p);
    memset(ep->gsend, 0, (size_t)P * G * sizeof(float));
    for (int s = 0; s < P; s++) {
        MoeWorkspace v = moe_ep_view(ws, s);
        float *gs = ep->gsend + (size_t)s * G;
        const MoeGrads gv = { NULL, gs, g->w3 ? gs + part : NULL, gs + 2 * part };
        moe_experts_backward(&v, &mine, &gv);
    }
    ws->ex->alltoallv_f32(ep->dout, ep->recv_counts, ws->dout, ep->send_counts);
    ws->ex->alltoallv_f32(ep->gsend, ep->grad_counts, ep->grecv, ep->grad_counts);
    /* owner d's gradients of its experts, from this rank's tokens: add them like the
     * local sgemms would have (beta = 1 into g) */
    for (int d = 0; d < P; d++) {
        const float *gr = ep->grecv + (size_t)d * G;
        float *dst[3] = { g->w1 + (size_t)d * part, g->w3 ? g->w3 + (size_t)d * part : NULL, g->w2 + (size_t)d * part };
        for (int k = 0; k < 3; k++) {
            if (!dst[k]) continue;
            const float *src = gr + (size_t)k * part;
            #pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < part; i++) dst[k][i] += src[i];
        }
    }
}

/* The router's products, tiled like the experts' (see the note at the top). */
static void router_logits(int T, int E, int D, const float *x, const float *router_w, float *logits)
{
    const int tiles = (T + MOE_TILE - 1) / MOE_TILE;
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < tiles; i++) {
        const int t0 = i * MOE_TILE, m = T - t0 < MOE_TILE ? T - t0 : MOE_TILE;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, E, D, 1.0f, x + (size_t)t0 * D, D,
                    router_w, D, 0.0f, logits + (size_t)t0 * E, E);
    }
}

/* d W_r += d logits^T x (per tile of columns, each summing over all tokens);
 * dx += d logits W_r (per tile of tokens). */
static void router_backward(int T, int E, int D, const float *x, const float *router_w,
                            const float *dlogits, float *d_router_w, float *dx)
{
    const int col_tiles = (D + MOE_TILE - 1) / MOE_TILE, row_tiles = (T + MOE_TILE - 1) / MOE_TILE;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < col_tiles + row_tiles; i++) {
        if (i < col_tiles) {
            const int d0 = i * MOE_TILE, m = D - d0 < MOE_TILE ? D - d0 : MOE_TILE;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, E, m, T, 1.0f, dlogits, E, x + d0, D,
                        1.0f, d_router_w + d0, D);
        } else {
            const int t0 = (i - col_tiles) * MOE_TILE, m = T - t0 < MOE_TILE ? T - t0 : MOE_TILE;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, D, E, 1.0f, dlogits + (size_t)t0 * E,
                        E, router_w, D, 1.0f, dx + (size_t)t0 * D, D);
        }
    }
}

float moe_forward(MoeWorkspace *ws, const MoeParams *p, const float *x, int T, float *y,
                  MoeStats *stats, unsigned flags)
{
    const MoeConfig *c = &ws->cfg;
    const int E = c->n_experts, K = c->top_k, D = c->dim;
    if (T < 1 || T > ws->max_tokens) die("moe: forward of %d tokens; workspace holds 1..%d", T, ws->max_tokens);
    if (c->aux_loss_alpha > 0 && c->seq_len > 0 && T % c->seq_len != 0)
        die("moe: %d tokens is not a whole number of sequences of %d (aux loss)", T, c->seq_len);
    if ((flags & MOE_REUSE_ROUTING) && ws->routing_T != T)
        die("moe: MOE_REUSE_ROUTING with no routing for %d tokens in the workspace", T);
    ws->T = T;
    const int blas_saved = blas_single_thread_begin();

    /* router: logits = x W_r^T, s, choice, gates */
    const float *rx = x, *rw = p->router_w;
    if (c->router_bf16) {
        for (size_t i = 0; i < (size_t)T * D; i++) ws->xr[i] = bf16_round(x[i]);
        for (size_t i = 0; i < (size_t)E * D; i++) ws->wr[i] = bf16_round(p->router_w[i]);
        rx = ws->xr;
        rw = ws->wr;
    }
    router_logits(T, E, D, rx, rw, ws->logits);
    moe_route_scores(c->score, ws->logits, T, E, ws->scores);
    ws->last_z = c->router_z_loss > 0 ? router_z_forward(ws, T) : 0.0f;
    if (!(flags & MOE_REUSE_ROUTING)) {
        if (c->n_groups > 1) {
            moe_route_group_limit(ws->scores, p->bias, T, E, c->n_groups, c->topk_groups, ws->group_scores,
                                  ws->group_chosen, ws->group_keys);
            moe_route_topk(ws->group_keys, NULL, T, E, K, ws->experts);
        } else {
            moe_route_topk(ws->scores, p->bias, T, E, K, ws->experts);
        }
        ws->routing_T = T;
    }
    moe_route_gates(c, ws->scores, ws->experts, T, ws->gates);

    /* group by expert, gather, experts */
    moe_permute(ws, T);
    const int64_t rows = ws->offset[E];
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        memcpy(ws->xp + (size_t)r * D, x + (size_t)ws->row_token[r] * D, (size_t)D * sizeof(float));
    if (ws->ex) moe_ep_forward(ws, p);
    else moe_experts_forward(ws, p);

    /* scatter back: y[t] = gain * sum_k g_k out[slot], k ascending */
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *yt = y + (size_t)t * D;
        memset(yt, 0, (size_t)D * sizeof *yt);
        for (int k = 0; k < K; k++) {
            int32_t row = ws->slot[(size_t)t * K + k];
            if (row < 0) continue;
            const float w = c->output_gain * ws->gates[(size_t)t * K + k];
            const float *o = ws->out + (size_t)row * D;
            for (int d = 0; d < D; d++) yt[d] += w * o[d];
        }
    }

    float aux = 0.0f;
    if (c->aux_loss_alpha > 0) aux = moe_aux_loss_forward(c, ws->scores, ws->experts, T, ws->seq_counts);

    if (stats) {
        if (stats->n_experts != E) die("moe: stats for %d experts, layer has %d", stats->n_experts, E);
        for (int e = 0; e < E; e++) {
            stats->loads[e] += (uint64_t)ws->chosen[e];
            stats->dropped += ws->chosen[e] - ws->kept[e];
        }
        stats->tokens += T;
        stats->assignments += (int64_t)T * K;
        double top1 = 0.0;
        for (int t = 0; t < T; t++) {
            const float *st = ws->scores + (size_t)t * E;
            float mx = st[0];
            for (int i = 1; i < E; i++) mx = st[i] > mx ? st[i] : mx;
            top1 += mx;
        }
        stats->top1_affinity_sum += top1;
        stats->aux_loss_sum += aux;
    }
    blas_single_thread_end(blas_saved);
    return aux;
}

void moe_backward(MoeWorkspace *ws, const MoeParams *p, const float *x, const float *dy,
                  float aux_grad, float *dx, const MoeGrads *g)
{
    const MoeConfig *c = &ws->cfg;
    const int E = c->n_experts, K = c->top_k, D = c->dim, T = ws->T;
    if (T == 0) die("moe: backward without a forward");
    const int blas_saved = blas_single_thread_begin();

    /* d out[slot] = gain g_k dy[t];  d g_k = gain <dy[t], out[slot]> (0 when dropped) */
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *dyt = dy + (size_t)t * D;
        for (int k = 0; k < K; k++) {
            const size_t a = (size_t)t * K + k;
            const int32_t row = ws->slot[a];
            if (row < 0) {
                ws->dgates[a] = 0.0f;
                continue;
            }
            const float w = c->output_gain * ws->gates[a];
            const float *o = ws->out + (size_t)row * D;
            float *dout = ws->dout + (size_t)row * D;
            float dot = 0.0f;
            for (int d = 0; d < D; d++) {
                dout[d] = w * dyt[d];
                dot += dyt[d] * o[d];
            }
            ws->dgates[a] = c->output_gain * dot;
        }
    }

    if (ws->ex) moe_ep_backward(ws, p, g);
    else moe_experts_backward(ws, p, g);

    /* dx[t] += sum_k d xp[slot], k ascending */
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *dxt = dx + (size_t)t * D;
        for (int k = 0; k < K; k++) {
            const int32_t row = ws->slot[(size_t)t * K + k];
            if (row < 0) continue;
            const float *dxp = ws->dout + (size_t)row * D;
            for (int d = 0; d < D; d++) dxt[d] += dxp[d];
        }
    }

    /* router: d gates (+ aux) -> d s -> d logits -> d W_r, dx */
    moe_route_gates_backward(c, ws->scores, ws->experts, ws->dgates, T, ws->ds);
    if (c->aux_loss_alpha > 0) moe_aux_loss_backward(c, ws->scores, ws->seq_counts, T, aux_grad, ws->ds);
    float *dlogits = ws->logits;
    moe_route_scores_backward(c->score, ws->scores, ws->ds, T, E, dlogits);
    if (c->router_z_loss > 0) {
        /* d zl / d logits_{t,i} = c 2 lse_t / T softmax_i, weighted like the aux loss */
        #pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) {
            const float f = aux_grad * c->router_z_loss * 2.0f * ws->zlse[t] / (float)T;
            for (int i = 0; i < E; i++) dlogits[(size_t)t * E + i] += f * ws->zprob[(size_t)t * E + i];
        }
    }
    if (c->router_bf16) router_backward(T, E, D, ws->xr, ws->wr, dlogits, g->router_w, dx);
    else router_backward(T, E, D, x, p->router_w, dlogits, g->router_w, dx);
    blas_single_thread_end(blas_saved);
}

double moe_router_grad_norm(const float *d_router_w, int n_experts, int dim)
{
    double sum = 0.0;
    const size_t n = (size_t)n_experts * dim;
    for (size_t i = 0; i < n; i++) sum += (double)d_router_w[i] * d_router_w[i];
    return sqrt(sum);
}
