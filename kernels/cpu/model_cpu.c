/* model_cpu.c: the CPU backend of the model seam (model/backend.h): fp32 parameters,
 * gradients, AdamW moments and activations in host memory, and the forward and backward
 * of the whole model: one call per operation of kernels/cpu, in the order of the math
 * in model/model.h. Every product is tiled per sequence, so a sequence's results do
 * not depend on the rest of its batch or on the thread count (see matmul.h).
 *
 * PRECISION = BF16 (the config's `precision`; the routed experts have expert_precision
 * and the router router_precision, kernels/cpu/moe.h). Emulated: every value a
 * mixed-precision GPU run would hold in bf16 is rounded to bf16 (round to nearest even,
 * quant/bf16.c) and everything else runs as in fp32. The GPU this follows keeps fp32
 * master weights and optimizer state, casts the weights to bf16 for the forward's
 * products (cuBLASLt: bf16 A and B, fp32 accumulation and C), stores the activations
 * between kernels in bf16, and computes norms, softmax, the loss and the residual
 * stream in fp32 (PyTorch autocast's and llm.c's split). Rounded, each time it is made:
 *   weights   the bf16 copy (params16) of every matrix outside the routed experts and
 *             the router: wq, wk, wv, wo, the dense FFN's and shared experts' w1, w3,
 *             w2, the LM head (output), and the embedding table (the lookup reads
 *             bf16 rows); rebuilt from the masters after every optimizer step and
 *             set_params. The norm gains (attn_norm, ffn_norm, norm, q_norm, k_norm)
 *             and the sinks stay fp32: norms run in fp32.
 *   inputs of products: the norm outputs attn_in, ffn_in (so the router and the routed
 *             experts read the bf16 ffn_in too, before their own dials act) and
 *             final_out; attn_out as wo's input (a copy: see below); hg, the FFN
 *             activation's output, as w2's input.
 *   stored outputs of products: q, k, v after their projections (with qk_norm the
 *             raw q, k before the norm), q and k again after RoPE (the attention's
 *             operands, the key/value cache of inference included), h1 and h3 (the
 *             FFN's gate and up), the logits (the head's output, after logit_gain;
 *             the cross-entropy then runs in fp32 on the bf16 logits, as autocast's).
 * Not rounded (fp32): the residual stream (the embedding output, mid, next: the wo and
 * w2 products accumulate into it in fp32, a fused-residual epilogue), the norms'
 * arithmetic and rstd, the attention's scores, softmax and probabilities (a fused
 * attention keeps them in fp32 registers; FlashAttention's bf16 P for its PV product
 * is not emulated), the softmax backward's D = rowsum(dO . O) (from the fp32 O: the
 * gradient of what the forward computed), the loss, the z-loss, every gradient (of
 * activations and of weights: the backward is straight-through, the fp32 gradients of
 * the products the forward computed, i.e. with the rounded operands, landing on the
 * fp32 master weights), the optimizer's moments and update. attention = "mla" refuses
 * bf16 (its products are not wired here). fp32 (model_bf16 0) runs the fp32 path bit
 * for bit: wc is w and act_bf16 does nothing. */
#include "model/backend.h"
#include "cpu/adamw.h"
#include "cpu/grad_norm.h"
#include "cpu/attention.h"
#include "cpu/crossentropy.h"
#include "cpu/embedding.h"
#include "cpu/ffn_act.h"
#include "cpu/matmul.h"
#include "cpu/mla.h"
#include "cpu/moe.h"
#include "cpu/muon.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "base/error.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

/* Rows of logits held at once: the LM head and loss run in chunks of at most this many
 * rows, cut so the matrix product tiles line up with whole sequences (see head_chunk). */
enum { HEAD_ROWS = 512 };

/* Scoring (cpu_forward_scored) runs the head only at the rows that are scored, gathered
 * HEAD_GATHER at a time into a block of one fixed shape, the tail zero-padded: every
 * such product is then the same HEAD_GATHER x V x C call, so a row's logits do not
 * depend on which rows it was gathered with (tests/unit/test_grad_model.c checks it). */
enum { HEAD_GATHER = 256 };

typedef enum { FFN_DENSE, FFN_MOE } FfnKind;

/* Pointers into a parameter-shaped buffer: the weights, or the gradients. */
typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm;
    float *q_norm, *k_norm; /* qk_norm: [head_dim] each; NULL when off */
    float *sinks;           /* attn_sinks: [n_heads]; NULL when off */
    FfnKind ffn_kind;
    float *w1, *w3, *w2;  /* FFN_DENSE: gate [I, C], up [I, C], down [C, I];
                           * FFN_MOE: the shared experts [S, C], [S, C], [C, S]; NULL if S = 0;
                           * w3 (and ew3) NULL for ffn_activation relu2 (no up projection) */
    float *router;        /* FFN_MOE: [E, C] */
    float *ew1, *ew3, *ew2; /* FFN_MOE: routed experts [E, F, C], [E, F, C], [E, C, F] */
    MlaWeights mla;       /* attention = mla: its tensors (wq, wk, wv, wo above NULL) */
} LayerView;

typedef struct {
    float *tok_embeddings; /* [V, C] */
    LayerView *layers;     /* n_layers */
    float *norm;           /* [C] */
    float *output;         /* [V, C] */
} ParamView;

/* Saved activations of the forward, each [layer][rows][width] with a fixed per-layer
 * stride (max_batch * max_seq rows). A model built for inference keeps one layer's
 * worth (every layer reuses slot 0; the residual stream alternates two slots): the
 * backward is what needs them all (act_slot, resid_slot). */
typedef struct {
    float *resid;          /* [L+1][N][C] the residual stream entering block l; [L] leaves the last */
    float *attn_in;        /* [L][N][C] RMSNorm before attention */
    float *attn_rstd;      /* [L][N] */
    float *q, *k, *v;      /* [L][N][H*hd], [L][N][KV*hd], [L][N][KV*hd] (q, k after RoPE) */
    float *q_raw, *k_raw;  /* qk_norm: q, k before their norm, [L][N][H*hd], [L][N][KV*hd] */
    float *q_rstd, *k_rstd; /* qk_norm: [L][N*H], [L][N*KV] */
    float *probs;          /* [L][B][H][T][T] softmax of the attention */
    float *sink_probs;     /* attn_sinks: [L][B][H][T] the sink's share of each row */
    float *attn_out;       /* [L][N][H*hd] */
    float *mid;            /* [L][N][C] residual after attention */
    float *ffn_in;         /* [L][N][C] RMSNorm before the FFN */
    float *ffn_rstd;       /* [L][N] */
    float *h1, *h3, *hg;   /* [L][N][I] gate, up, act(gate, up) (MoE blocks: the shared experts', S wide) */
    float *final_out;      /* [N][C] final RMSNorm */
    float *final_rstd;     /* [N] */
    float *logits;         /* [HEAD_ROWS][V] one chunk; its gradient in place */
    float *row_loss;       /* [N] */
    float *row_lse;        /* [N] logsumexp of each row's logits (z-loss, training) */
    float *gathered;       /* [HEAD_GATHER][C] scored rows of final_out (scoring) */
    float *attn_out16;     /* precision = bf16: [N][H*hd] one block's attn_out rounded, wo's input */
} Acts;

/* Gradients of activations (training only), reused by every block. */
typedef struct {
    float *resid;          /* [N][C] d loss / d residual stream */
    float *norm;           /* [N][C] d loss / d (a norm's output) */
    float *q, *k, *v, *attn_out;
    float *q_raw, *k_raw;  /* qk_norm: d loss / d (q, k before their norm) */
    float *h1, *h3, *hg;
    float *final;          /* [N][C] d loss / d final norm output */
} DActs;

/* One MoE block's routing machinery: the op's workspace (its saved activations), the
 * routing bias (points into CpuModel.state), the telemetry counters, and for the
 * reference kernels the choice of the last forward. */
typedef struct {
    MoeWorkspace *ws;
    float *bias;           /* [E], into the routing state */
    int32_t *ref_experts;  /* [N][K] reference path: the last choice */
    int ref_rows;          /* rows ref_experts is for (0: none) */
} MoeBlock;

typedef struct {
    ModelShape s;
    int max_batch, max_seq;
    bool training, reference;
    size_t n_params;
    int n_tensors;
    const ParamTensor *tensors; /* the front's table */
    float *params, *grads;
    float *mom1, *mom2;    /* AdamW first and second moments; Muon's momentum in mom1 (training),
                            * of parameters [mom_lo, mom_hi) (all unless ZeRO-1), from mom1[0] */
    size_t mom_lo, mom_hi;
    /* Muon's Newton-Schulz operands, one set per thread, sized at the first Muon step
     * for the largest matrix (the backend is built before it knows the optimizer;
     * later steps allocate nothing). */
    float **muon_work;
    GemmScratch *muon_scratch;
    int muon_n_work;
    size_t muon_work_floats, muon_scratch_floats;
    double *partials;      /* scratch of the gradient sum of squares */
    ParamView w, g;
    /* precision = bf16: params16 holds bf16(params), refreshed lazily after every change
     * of the masters (params16_stale); wc, the view the forward and backward compute
     * with, points its matrices and embedding table there and the rest (norm gains,
     * sinks, router, routed experts) at the masters. fp32: wc is w. */
    float *params16;
    bool params16_stale;
    ParamView wc;
    Acts a;
    DActs d;
    size_t stride_c, stride_q, stride_kv, stride_i, stride_p, stride_n; /* per-layer strides */
    size_t stride_sp;      /* attn_sinks: of sink_probs, max_batch * H * max_seq */
    float *rope_cos, *rope_sin;
    GemmScratch gemm;
    float *attn_scratch;
    size_t bytes;
    /* MoE */
    MoeBlock *moe;         /* [L]; ws NULL for a dense block */
    float *state;          /* routing biases, laid out like the front's state table */
    size_t n_state_floats;
    float *moe_y;          /* [N][C] routed output of one block */
    float aux_weight;
    double last_aux;
    double last_z;         /* z-loss term of the last train_micro's objective */
    double last_router_z;  /* router z-loss values of the last forward, summed over blocks */
    bool hold_routing;
    MoeCounters counters;  /* of the call in progress */
    /* Key/value cache of one sequence (inference models): [L][max_seq][KV*hd] each,
     * positions [0, cache_len) filled (cpu_cache_extend). */
    float *kcache, *vcache;
    int cache_len;
    /* attention = mla: one workspace per block (training; inference: one shared), and
     * the cache rows' widths (kernels/cpu/mla.h: expanded keys and values) */
    MlaShape mla_shape;
    MlaWorkspace **mla;
    int n_mla, mla_kw, mla_vw;
} CpuModel;

static bool is_moe_block(const ModelShape *s, int l) { return s->n_routed_experts > 0 && l >= s->n_dense_layers; }

/* Which saved-activation slot layer l uses (see Acts), and which residual slot. */
static size_t act_slot(const CpuModel *m, int l) { return m->training ? (size_t)l : 0; }
static size_t resid_slot(const CpuModel *m, int l) { return m->training ? (size_t)l : (size_t)(l & 1); }
/* Hidden width of the shared experts of an MoE block (one SwiGLU of n_shared * F). */
static int shared_dim(const ModelShape *s) { return s->n_shared_experts * s->moe_inter_dim; }

/* Point a view's fields at a buffer laid out like the table (same order as above). */
static void bind_view(const CpuModel *m, float *buf, ParamView *v)
{
    const bool gated = ffn_activation_gated(m->s.ffn_activation);
    int t = 0;
    v->tok_embeddings = buf + m->tensors[t++].offset;
    for (int l = 0; l < m->s.n_layers; l++) {
        LayerView *L = &v->layers[l];
        L->attn_norm = buf + m->tensors[t++].offset;
        if (m->s.mla) {
            MlaWeights *a = &L->mla;
            memset(a, 0, sizeof *a);
            if (m->s.q_lora_rank > 0) {
                a->wq_a = buf + m->tensors[t++].offset;
                a->q_norm = buf + m->tensors[t++].offset;
                a->wq_b = buf + m->tensors[t++].offset;
            } else {
                a->wq = buf + m->tensors[t++].offset;
            }
            a->wkv_a = buf + m->tensors[t++].offset;
            a->kv_norm = buf + m->tensors[t++].offset;
            a->wkv_b = buf + m->tensors[t++].offset;
            a->wo = buf + m->tensors[t++].offset;
            L->wq = L->wk = L->wv = L->wo = NULL;
        } else {
            L->wq = buf + m->tensors[t++].offset;
            L->wk = buf + m->tensors[t++].offset;
            L->wv = buf + m->tensors[t++].offset;
            L->wo = buf + m->tensors[t++].offset;
            L->q_norm = L->k_norm = L->sinks = NULL;
            if (m->s.qk_norm) {
                L->q_norm = buf + m->tensors[t++].offset;
                L->k_norm = buf + m->tensors[t++].offset;
            }
            if (m->s.attn_sinks) L->sinks = buf + m->tensors[t++].offset;
        }
        L->ffn_norm = buf + m->tensors[t++].offset;
        L->ffn_kind = is_moe_block(&m->s, l) ? FFN_MOE : FFN_DENSE;
        L->w1 = L->w3 = L->w2 = L->router = L->ew1 = L->ew3 = L->ew2 = NULL;
        if (L->ffn_kind == FFN_DENSE || shared_dim(&m->s) > 0) {
            L->w1 = buf + m->tensors[t++].offset;
            if (gated) L->w3 = buf + m->tensors[t++].offset;
            L->w2 = buf + m->tensors[t++].offset;
        }
        if (L->ffn_kind == FFN_MOE) {
            L->router = buf + m->tensors[t++].offset;
            L->ew1 = buf + m->tensors[t++].offset;
            if (gated) L->ew3 = buf + m->tensors[t++].offset;
            L->ew2 = buf + m->tensors[t++].offset;
        }
    }
    v->norm = buf + m->tensors[t++].offset;
    v->output = buf + m->tensors[t++].offset;
}

/* ---- precision = bf16 ------------------------------------------------------------ */

/* x[i] = bf16(x[i]), round to nearest even (quant/bf16.c): elementwise, so any thread
 * count gives the same bits. */
static void round_bf16_floats(float *x, size_t n)
{
    #pragma omp parallel for schedule(static) if (n > ((size_t)1 << 15))
    for (size_t i = 0; i < n; i++) x[i] = bf16_round(x[i]);
}

/* An activation the GPU would store in bf16 (the head comment's list): rounded under
 * precision = bf16, untouched under fp32. */
static void act_bf16(const CpuModel *m, float *x, size_t n)
{
    if (m->s.model_bf16) round_bf16_floats(x, n);
}

/* The compute view wc (see CpuModel): the masters' matrices and embedding table in
 * bf16, the rest of the tensors the masters themselves. */
static void bind_compute_view(CpuModel *m)
{
    if (!m->s.model_bf16) {
        m->wc = m->w;
        return;
    }
    m->wc.layers = xcalloc((size_t)m->s.n_layers, sizeof(LayerView));
    bind_view(m, m->params16, &m->wc);
    for (int l = 0; l < m->s.n_layers; l++) {
        LayerView *c = &m->wc.layers[l];
        const LayerView *w = &m->w.layers[l];
        c->attn_norm = w->attn_norm;
        c->ffn_norm = w->ffn_norm;
        c->q_norm = w->q_norm;
        c->k_norm = w->k_norm;
        c->sinks = w->sinks;
        c->router = w->router; /* router_precision's */
        c->ew1 = w->ew1;       /* expert_precision's */
        c->ew3 = w->ew3;
        c->ew2 = w->ew2;
    }
    m->wc.norm = m->w.norm;
    m->params16_stale = true;
}

/* The view to compute with; under bf16 the rounded copy is brought up to date with the
 * masters first (they change at an optimizer step or a set_params). */
static const ParamView *compute_view(CpuModel *m)
{
    if (m->s.model_bf16 && m->params16_stale) {
        memcpy(m->params16, m->params, m->n_params * sizeof(float));
        round_bf16_floats(m->params16, m->n_params);
        m->params16_stale = false;
    }
    return &m->wc;
}

/* ---- creation ------------------------------------------------------------------ */

static float *alloc_floats(CpuModel *m, size_t n)
{
    m->bytes += n * sizeof(float);
    return xaligned_alloc(n * sizeof(float));
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* The rows of the LM-head chunk starting at row r0: whole sequences when T <= HEAD_ROWS
 * (tiles restart at each sequence: period T), else up to HEAD_ROWS rows of one
 * sequence starting at a multiple of HEAD_ROWS (a multiple of the tile height, so the
 * tiles are the ones a whole-sequence product would use: period = the chunk). */
static void head_chunk(int r0, int N, int T, int *rows, int *period)
{
    if (T <= HEAD_ROWS) {
        int per = (HEAD_ROWS / T) * T;
        *rows = N - r0 < per ? N - r0 : per;
        *period = T;
    } else {
        int left = T - r0 % T;
        *rows = left < HEAD_ROWS ? left : HEAD_ROWS;
        *period = *rows;
    }
}

/* The routed op's config for the blocks of this shape. The aux loss is a training
 * objective: an inference model leaves it out (and so accepts any sequence length). */
static MoeConfig moe_config_for(const ModelShape *s, bool training)
{
    MoeConfig mc = {
        .dim = s->dim, .n_experts = s->n_routed_experts, .top_k = s->n_activated_experts,
        .inter_dim = s->moe_inter_dim, .score = s->router_softmax ? MOE_SCORE_SOFTMAX : MOE_SCORE_SIGMOID,
        .route_scale = s->route_scale, .output_gain = s->expert_output_gain,
        .capacity_factor = s->capacity_factor, .aux_loss_alpha = training ? s->aux_loss_alpha : 0.0f,
        .seq_len = s->seq_len, .expert_precision = s->expert_precision, .router_bf16 = s->router_bf16,
        .act = s->ffn_activation, .router_z_loss = training ? s->router_z_loss : 0.0f,
        .n_groups = s->n_expert_groups, .topk_groups = s->n_limited_groups,
    };
    return mc;
}

/* Workspaces and routing-bias slots of the MoE blocks (block i's biases are the i-th
 * state tensor). */
static void create_moe_blocks(CpuModel *m, const ModelLayout *lay)
{
    const ModelShape *s = &m->s;
    const int N = m->max_batch * m->max_seq;
    m->moe = xcalloc((size_t)s->n_layers, sizeof *m->moe);
    m->n_state_floats = lay->n_state_floats;
    m->state = alloc_floats(m, lay->n_state_floats);
    m->moe_y = alloc_floats(m, (size_t)N * s->dim);
    const MoeConfig mc = moe_config_for(s, m->training);
    for (int l = 0, i = 0; l < s->n_layers; l++) {
        if (!is_moe_block(s, l)) continue;
        MoeBlock *b = &m->moe[l];
        b->ws = moe_workspace_create(&mc, N);
        m->bytes += moe_workspace_bytes(b->ws);
        b->bias = m->state + lay->state_tensors[i++].offset;
        b->ref_experts = xmalloc((size_t)N * s->n_activated_experts * sizeof *b->ref_experts);
    }
}

static void *cpu_create(const ModelLayout *lay, int max_batch, int max_seq, bool training)
{
    const ModelShape *s = &lay->shape;
    if (s->n_routed_experts > 0) {
        MoeConfig mc = moe_config_for(s, training);
        const char *why = moe_config_check(&mc);
        if (why) die("model: MoE block: %s", why);
    }
    blas_use_one_thread();

    CpuModel *m = xcalloc(1, sizeof *m);
    m->s = *s;
    m->max_batch = max_batch;
    m->max_seq = max_seq;
    m->training = training;
    m->n_params = lay->n_params;
    m->n_tensors = lay->n_tensors;
    m->tensors = lay->tensors;
    m->params = alloc_floats(m, m->n_params);
    m->w.layers = xcalloc((size_t)s->n_layers, sizeof(LayerView));
    bind_view(m, m->params, &m->w);
    if (s->model_bf16) {
        if (s->mla) die("model: precision bf16 is not implemented with attention = \"mla\"");
        m->params16 = alloc_floats(m, m->n_params);
    }
    bind_compute_view(m);
    if (training) {
        m->grads = alloc_floats(m, m->n_params);
        m->mom1 = alloc_floats(m, m->n_params);
        m->mom2 = alloc_floats(m, m->n_params);
        m->mom_hi = m->n_params;
        m->partials = xcalloc(sumsq_partials(m->n_params) + 1, sizeof(double));
        m->g.layers = xcalloc((size_t)s->n_layers, sizeof(LayerView));
        bind_view(m, m->grads, &m->g);
    }

    const size_t L = training ? (size_t)s->n_layers : 1, N = (size_t)max_batch * max_seq, C = (size_t)s->dim;
    const size_t Hd = (size_t)s->n_heads * s->head_dim, KVd = (size_t)s->n_kv_heads * s->head_dim;
    /* h1, h3, hg hold the dense FFN's or the shared experts' hidden activations. */
    const size_t I = max_size((size_t)s->inter_dim, s->n_routed_experts > 0 ? (size_t)shared_dim(s) : 0);
    m->stride_c = N * C;
    m->stride_q = N * Hd;
    m->stride_kv = N * KVd;
    m->stride_i = N * I;
    m->stride_n = N;
    m->stride_p = (size_t)max_batch * s->n_heads * max_seq * max_seq;
    if (s->mla) m->stride_q = m->stride_kv = m->stride_p = 0; /* the MLA workspaces hold its activations */
    Acts *a = &m->a;
    a->resid = alloc_floats(m, (training ? L + 1 : 2) * m->stride_c);
    a->attn_in = alloc_floats(m, L * m->stride_c);
    a->attn_rstd = alloc_floats(m, L * N);
    a->q = alloc_floats(m, L * m->stride_q);
    a->k = alloc_floats(m, L * m->stride_kv);
    a->v = alloc_floats(m, L * m->stride_kv);
    a->probs = alloc_floats(m, L * m->stride_p);
    if (s->qk_norm) {
        a->q_raw = alloc_floats(m, L * m->stride_q);
        a->k_raw = alloc_floats(m, L * m->stride_kv);
        a->q_rstd = alloc_floats(m, L * N * s->n_heads);
        a->k_rstd = alloc_floats(m, L * N * s->n_kv_heads);
    }
    m->stride_sp = (size_t)max_batch * s->n_heads * max_seq;
    if (s->attn_sinks) a->sink_probs = alloc_floats(m, L * m->stride_sp);
    a->attn_out = alloc_floats(m, L * m->stride_q);
    a->mid = alloc_floats(m, L * m->stride_c);
    a->ffn_in = alloc_floats(m, L * m->stride_c);
    a->ffn_rstd = alloc_floats(m, L * N);
    a->h1 = alloc_floats(m, L * m->stride_i);
    a->h3 = alloc_floats(m, L * m->stride_i);
    a->hg = alloc_floats(m, L * m->stride_i);
    a->final_out = alloc_floats(m, m->stride_c);
    a->final_rstd = alloc_floats(m, N);
    a->logits = alloc_floats(m, (size_t)HEAD_ROWS * s->vocab_size);
    a->row_loss = alloc_floats(m, N);
    if (training && m->s.z_loss != 0.0f) a->row_lse = alloc_floats(m, N);
    a->gathered = alloc_floats(m, (size_t)HEAD_GATHER * C);
    if (s->model_bf16) a->attn_out16 = alloc_floats(m, m->stride_q ? m->stride_q : 1);
    if (training) {
        DActs *d = &m->d;
        d->resid = alloc_floats(m, m->stride_c);
        d->norm = alloc_floats(m, m->stride_c);
        d->q = alloc_floats(m, m->stride_q);
        d->k = alloc_floats(m, m->stride_kv);
        d->v = alloc_floats(m, m->stride_kv);
        d->attn_out = alloc_floats(m, m->stride_q);
        if (s->qk_norm) {
            d->q_raw = alloc_floats(m, m->stride_q);
            d->k_raw = alloc_floats(m, m->stride_kv);
        }
        d->h1 = alloc_floats(m, m->stride_i);
        d->h3 = alloc_floats(m, m->stride_i);
        d->hg = alloc_floats(m, m->stride_i);
        d->final = alloc_floats(m, m->stride_c);
    }
    if (s->mla) {
        m->mla_shape = (MlaShape){ .dim = s->dim, .n_heads = s->n_heads, .q_lora_rank = s->q_lora_rank,
                                   .kv_lora_rank = s->kv_lora_rank, .qk_nope = s->qk_nope_head_dim,
                                   .qk_rope = s->qk_rope_head_dim, .v_dim = s->v_head_dim, .window = s->attn_window,
                                   .norm_eps = s->norm_eps, .rope_theta = s->rope_theta };
        m->n_mla = training ? s->n_layers : 1;
        m->mla = xcalloc((size_t)m->n_mla, sizeof *m->mla);
        for (int l = 0; l < m->n_mla; l++) {
            m->mla[l] = mla_workspace_create(&m->mla_shape, max_batch, max_seq, training);
            m->bytes += mla_workspace_bytes(m->mla[l]);
        }
        m->mla_kw = mla_cache_k_width(&m->mla_shape);
        m->mla_vw = mla_cache_v_width(&m->mla_shape);
    }
    if (!training) {
        m->kcache = alloc_floats(m, (size_t)s->n_layers * max_seq * (s->mla ? (size_t)m->mla_kw : KVd));
        m->vcache = alloc_floats(m, (size_t)s->n_layers * max_seq * (s->mla ? (size_t)m->mla_vw : KVd));
    }
    m->rope_cos = alloc_floats(m, (size_t)max_seq * s->head_dim / 2);
    m->rope_sin = alloc_floats(m, (size_t)max_seq * s->head_dim / 2);
    if (s->rope_yarn) /* the same tables for training, scoring and the KV cache */
        rope_tables_yarn(m->rope_cos, m->rope_sin, max_seq, s->head_dim, s->rope_theta,
                         &(RopeYarn){ s->rope_factor, s->rope_original_seq_len, s->yarn_beta_fast, s->yarn_beta_slow });
    else
        rope_tables(m->rope_cos, m->rope_sin, max_seq, s->head_dim, s->rope_theta);

    /* Scratch for split reductions: the largest any product of this model needs at the
     * largest batch (a plan's needs only grow with the row count). */
    const int Nmax = (int)N, T = max_seq;
    size_t g = 0;
    g = max_size(g, linear_scratch_floats(Nmax, (int)C, (int)Hd, T));
    g = max_size(g, linear_scratch_floats(Nmax, (int)C, (int)KVd, T));
    g = max_size(g, linear_scratch_floats(Nmax, (int)Hd, (int)C, T));
    g = max_size(g, linear_scratch_floats(Nmax, (int)C, (int)I, T));
    g = max_size(g, linear_scratch_floats(Nmax, (int)I, (int)C, T));
    if (s->mla) g = max_size(g, mla_scratch_floats(&m->mla_shape, Nmax, T));
    if (s->n_routed_experts > 0 && shared_dim(s) > 0) {
        g = max_size(g, linear_scratch_floats(Nmax, (int)C, shared_dim(s), T));
        g = max_size(g, linear_scratch_floats(Nmax, shared_dim(s), (int)C, T));
    }
    for (int r0 = 0, rows, period; r0 < Nmax; r0 += rows) {
        head_chunk(r0, Nmax, T, &rows, &period);
        g = max_size(g, linear_scratch_floats(rows, (int)C, s->vocab_size, period));
    }
    g = max_size(g, linear_scratch_floats(HEAD_GATHER, (int)C, s->vocab_size, HEAD_GATHER));
    m->gemm.n_floats = g;
    m->gemm.buf = g ? alloc_floats(m, g) : NULL;
    if (training) {
        AttnShape as = { max_batch, max_seq, s->n_heads, s->n_kv_heads, s->head_dim, s->attn_window, NULL };
        m->attn_scratch = alloc_floats(m, attention_scratch_floats(&as));
    }
    m->aux_weight = 1.0f;
    if (s->n_routed_experts > 0) create_moe_blocks(m, lay);
    return m;
}

static void cpu_destroy(void *be)
{
    CpuModel *m = be;
    if (!m) return;
    Acts *a = &m->a;
    float *bufs[] = { m->params, m->grads, m->mom1, m->mom2, a->resid, a->attn_in, a->attn_rstd, a->q, a->k, a->v,
                      a->probs, a->attn_out, a->mid, a->ffn_in, a->ffn_rstd, a->h1, a->h3, a->hg, a->final_out,
                      a->final_rstd, a->logits, a->row_loss, a->row_lse, a->gathered, m->d.resid, m->d.norm, m->d.q,
                      m->d.k, m->d.v, m->d.attn_out, m->d.h1, m->d.h3, m->d.hg, m->d.final, m->rope_cos,
                      m->rope_sin, m->gemm.buf, m->attn_scratch, m->kcache, m->vcache, a->q_raw, a->k_raw,
                      a->q_rstd, a->k_rstd, a->sink_probs, m->d.q_raw, m->d.k_raw,
                      m->params16, a->attn_out16 };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    for (int l = 0; m->moe && l < m->s.n_layers; l++) {
        MoeBlock *b = &m->moe[l];
        moe_workspace_free(b->ws);
        free(b->ref_experts);
    }
    for (int l = 0; l < m->n_mla; l++) mla_workspace_free(m->mla[l]);
    free(m->mla);
    free(m->moe);
    free(m->state);
    free(m->moe_y);
    free(m->partials);
    for (int i = 0; i < m->muon_n_work; i++) {
        free(m->muon_work[i]);
        free(m->muon_scratch[i].buf);
    }
    free(m->muon_work);
    free(m->muon_scratch);
    if (m->s.model_bf16) free(m->wc.layers);
    free(m->w.layers);
    free(m->g.layers);
    free(m);
}

/* ---- kernel dispatch: fast path or the reference loops --------------------------- */

static void k_linear(CpuModel *m, float *y, const float *x, const float *w, int n, int in, int out, int period)
{
    if (m->reference) linear_forward_ref(y, x, w, n, in, out);
    else linear_forward(y, x, w, n, in, out, period, &m->gemm);
}

static void k_linear_acc(CpuModel *m, float *y, const float *x, const float *w, int n, int in, int out, int period)
{
    if (m->reference) linear_forward_acc_ref(y, x, w, n, in, out);
    else linear_forward_acc(y, x, w, n, in, out, period, &m->gemm);
}

static void k_linear_back(CpuModel *m, float *dx, float *dw, const float *dy, const float *x, const float *w,
                          int n, int in, int out, int period)
{
    if (m->reference) linear_backward_ref(dx, dw, dy, x, w, n, in, out);
    else linear_backward(dx, dw, dy, x, w, n, in, out, period, &m->gemm);
}

static void k_rmsnorm(CpuModel *m, float *y, float *rstd, const float *x, const float *w, int n)
{
    if (m->reference) rmsnorm_forward_ref(y, rstd, x, w, n, m->s.dim, m->s.norm_eps);
    else rmsnorm_forward(y, rstd, x, w, n, m->s.dim, m->s.norm_eps);
}

static void k_rmsnorm_back(CpuModel *m, float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int n)
{
    if (m->reference) rmsnorm_backward_ref(dx, dw, dy, x, w, rstd, n, m->s.dim);
    else rmsnorm_backward(dx, dw, dy, x, w, rstd, n, m->s.dim);
}

static void k_crossentropy(CpuModel *m, float *logits, int n, const uint32_t *targets, float *loss, uint32_t *argmax,
                           const float *grad_weight)
{
    if (m->reference) crossentropy_ref(logits, n, m->s.vocab_size, targets, loss, argmax, grad_weight);
    else crossentropy(logits, n, m->s.vocab_size, targets, loss, argmax, grad_weight);
}

/* The training head's cross-entropy with the z-loss (z_coef > 0): lse of each row too. */
static void k_crossentropy_z(CpuModel *m, float *logits, int n, const uint32_t *targets, float *loss,
                             const float *grad_weight, float z_coef, float *lse)
{
    if (m->reference) crossentropy_z_ref(logits, n, m->s.vocab_size, targets, loss, NULL, grad_weight, z_coef, lse);
    else crossentropy_z(logits, n, m->s.vocab_size, targets, loss, NULL, grad_weight, z_coef, lse);
}

/* Block l's attention: its window (the local/global pattern's, model_layer_window) and
 * its sink logits (NULL without attn_sinks). */
static AttnShape attn_shape(const CpuModel *m, int B, int T, int l)
{
    AttnShape as = { B, T, m->s.n_heads, m->s.n_kv_heads, m->s.head_dim, model_layer_window(&m->s, l),
                     m->w.layers[l].sinks };
    return as;
}

/* qk_norm: RMSNorm over head_dim of each of n rows of `heads` heads (model.h). */
static void k_head_norm(CpuModel *m, float *y, float *rstd, const float *x, const float *w, int n, int heads)
{
    if (m->reference) rmsnorm_forward_ref(y, rstd, x, w, n * heads, m->s.head_dim, m->s.norm_eps);
    else rmsnorm_forward(y, rstd, x, w, n * heads, m->s.head_dim, m->s.norm_eps);
}

static void k_head_norm_back(CpuModel *m, float *dx, float *dw, const float *dy, const float *x, const float *w,
                             const float *rstd, int n, int heads)
{
    if (m->reference) rmsnorm_backward_ref(dx, dw, dy, x, w, rstd, n * heads, m->s.head_dim);
    else rmsnorm_backward(dx, dw, dy, x, w, rstd, n * heads, m->s.head_dim);
}

/* ---- forward ------------------------------------------------------------------- */

static void check_batch(const CpuModel *m, int B, int T)
{
    if (B < 1 || B > m->max_batch || T < 1 || T > m->max_seq)
        die("model: batch of %d x %d exceeds the %d x %d it was built for", B, T, m->max_batch, m->max_seq);
}

/* The FFN of width I (a dense block's, or an MoE block's shared experts):
 * next = mid + W2 act(W1 h, W3 h), act the ffn_activation dial's (swiglu: silu(a) * b;
 * relu2: relu(a)^2, no W3; squared_reglu: relu(a)^2 * b). */
static void ffn_forward(CpuModel *m, int l, const LayerView *w, int I, const float *ffn_in, const float *mid,
                               float *next, int N, int T)
{
    const int C = m->s.dim;
    const size_t sl = act_slot(m, l);
    float *h1 = m->a.h1 + sl * m->stride_i, *h3 = m->a.h3 + sl * m->stride_i, *hg = m->a.hg + sl * m->stride_i;
    const size_t nI = (size_t)N * I;
    k_linear(m, h1, ffn_in, w->w1, N, C, I, T);
    act_bf16(m, h1, nI);
    if (w->w3) {
        k_linear(m, h3, ffn_in, w->w3, N, C, I, T);
        act_bf16(m, h3, nI);
    }
    switch (m->s.ffn_activation) {
    case FFN_ACT_SWIGLU:
        if (m->reference) swiglu_forward_ref(hg, h1, h3, nI);
        else swiglu_forward(hg, h1, h3, nI);
        break;
    case FFN_ACT_RELU2:
        if (m->reference) relu2_forward_ref(hg, h1, nI);
        else relu2_forward(hg, h1, nI);
        break;
    case FFN_ACT_SQUARED_REGLU:
        if (m->reference) squared_reglu_forward_ref(hg, h1, h3, nI);
        else squared_reglu_forward(hg, h1, h3, nI);
        break;
    }
    act_bf16(m, hg, nI);
    memcpy(next, mid, (size_t)N * C * sizeof(float));
    k_linear_acc(m, next, hg, w->w2, N, I, C, T);
}

/* Backward of ffn_forward: d->resid holds d next; d->norm receives (is set to)
 * d ffn_in; the weight gradients accumulate. */
static void ffn_backward(CpuModel *m, int l, const LayerView *w, const LayerView *g, int I,
                                const float *ffn_in, int N, int T)
{
    const int C = m->s.dim;
    DActs *d = &m->d;
    const float *h1 = m->a.h1 + l * m->stride_i, *h3 = m->a.h3 + l * m->stride_i, *hg = m->a.hg + l * m->stride_i;
    const size_t nI = (size_t)N * I;
    memset(d->hg, 0, nI * sizeof(float));
    k_linear_back(m, d->hg, g->w2, d->resid, hg, w->w2, N, I, C, T);
    memset(d->h1, 0, nI * sizeof(float));
    memset(d->h3, 0, nI * sizeof(float));
    switch (m->s.ffn_activation) {
    case FFN_ACT_SWIGLU:
        if (m->reference) swiglu_backward_ref(d->h1, d->h3, d->hg, h1, h3, nI);
        else swiglu_backward(d->h1, d->h3, d->hg, h1, h3, nI);
        break;
    case FFN_ACT_RELU2:
        if (m->reference) relu2_backward_ref(d->h1, d->hg, h1, nI);
        else relu2_backward(d->h1, d->hg, h1, nI);
        break;
    case FFN_ACT_SQUARED_REGLU:
        if (m->reference) squared_reglu_backward_ref(d->h1, d->h3, d->hg, h1, h3, nI);
        else squared_reglu_backward(d->h1, d->h3, d->hg, h1, h3, nI);
        break;
    }
    memset(d->norm, 0, (size_t)N * C * sizeof(float));
    k_linear_back(m, d->norm, g->w1, d->h1, ffn_in, w->w1, N, C, I, T);
    if (w->w3) k_linear_back(m, d->norm, g->w3, d->h3, ffn_in, w->w3, N, C, I, T);
}

static MoeParams moe_params(const CpuModel *m, const LayerView *w, int l)
{
    MoeParams p = { w->router, m->moe[l].bias, w->ew1, w->ew3, w->ew2 };
    return p;
}

/* An MoE block's FFN: next = mid + shared(ffn_in) + moe(ffn_in). The loads go into
 * the call's counters, if any. */
static void moe_ffn_forward(CpuModel *m, int l, const LayerView *w, const float *ffn_in, const float *mid, float *next,
                            int N, int T)
{
    const int C = m->s.dim, S = shared_dim(&m->s);
    MoeBlock *b = &m->moe[l];
    if (S > 0) ffn_forward(m, l, w, S, ffn_in, mid, next, N, T);
    else memcpy(next, mid, (size_t)N * C * sizeof(float));
    MoeStats *stats = m->counters ? m->counters[l] : NULL;
    const MoeParams p = moe_params(m, w, l);
    float aux;
    if (m->reference) {
        const bool held = m->hold_routing && b->ref_rows == N;
        aux = moe_reference_forward(moe_workspace_config(b->ws), &p, ffn_in, N, held ? b->ref_experts : NULL, m->moe_y,
                                    held ? NULL : b->ref_experts, NULL, NULL, stats);
        b->ref_rows = N;
    } else {
        aux = moe_forward(b->ws, &p, ffn_in, N, m->moe_y, stats, m->hold_routing ? MOE_REUSE_ROUTING : 0);
    }
    m->last_aux += aux;
    if (moe_workspace_config(b->ws)->router_z_loss > 0)
        m->last_router_z += m->reference ? moe_reference_router_z(moe_workspace_config(b->ws), &p, ffn_in, N)
                                         : moe_router_z_value(b->ws);
    const float *y = m->moe_y;
    for (size_t i = 0; i < (size_t)N * C; i++) next[i] += y[i];
}

/* Backward of moe_ffn_forward: d->resid holds d next; d->norm receives d ffn_in. */
static void moe_ffn_backward(CpuModel *m, int l, const LayerView *w, const LayerView *g, const float *ffn_in, int N, int T)
{
    const int C = m->s.dim, S = shared_dim(&m->s);
    MoeBlock *b = &m->moe[l];
    if (S > 0) ffn_backward(m, l, w, g, S, ffn_in, N, T);
    else memset(m->d.norm, 0, (size_t)N * C * sizeof(float));
    const MoeParams p = moe_params(m, w, l);
    const MoeGrads gr = { g->router, g->ew1, g->ew3, g->ew2 };
    if (m->reference)
        moe_reference_backward(moe_workspace_config(b->ws), &p, ffn_in, N, b->ref_experts, m->d.resid, m->aux_weight,
                               m->d.norm, &gr);
    else
        moe_backward(b->ws, &p, ffn_in, m->d.resid, m->aux_weight, m->d.norm, &gr);
}

/* embed_gain and logit_gain (nmoe-train(1)): scalars on the embedding output and on the
 * logits; at 1 nothing is multiplied, so the default stays bit for bit. */
static void scale_floats(float *x, size_t n, float gain)
{
    if (gain == 1.0f) return;
    for (size_t i = 0; i < n; i++) x[i] *= gain;
}

static void k_embed(CpuModel *m, float *resid, const uint32_t *tokens, int n)
{
    embedding_forward(resid, tokens, compute_view(m)->tok_embeddings, n, m->s.dim);
    scale_floats(resid, (size_t)n * m->s.dim, m->s.embed_gain);
}

/* logits = logit_gain * h W_out^T, `rows` rows. */
static void k_head(CpuModel *m, float *logits, const float *h, int rows, int period)
{
    k_linear(m, logits, h, compute_view(m)->output, rows, m->s.dim, m->s.vocab_size, period);
    scale_floats(logits, (size_t)rows * m->s.vocab_size, m->s.logit_gain);
    act_bf16(m, logits, (size_t)rows * m->s.vocab_size);
}

/* mid += attn_out Wo^T, the input rounded into a.attn_out16 under bf16 (attn_out itself
 * stays fp32 for the attention's backward: see the head comment). */
static void k_wo_forward(CpuModel *m, float *mid, const float *attn_out, const float *wo, int n, int period)
{
    const int Hd = m->s.n_heads * m->s.head_dim;
    if (m->s.model_bf16) {
        memcpy(m->a.attn_out16, attn_out, (size_t)n * Hd * sizeof(float));
        round_bf16_floats(m->a.attn_out16, (size_t)n * Hd);
        attn_out = m->a.attn_out16;
    }
    k_linear_acc(m, mid, attn_out, wo, n, Hd, m->s.dim, period);
}

/* Embedding, blocks and the final norm; leaves a.final_out for the head. */
static void forward_blocks(CpuModel *m, const uint32_t *tokens, int B, int T)
{
    check_batch(m, B, T);
    const ModelShape *s = &m->s;
    const int N = B * T, C = s->dim, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim, I = s->inter_dim;
    const int Hd = H * hd, KVd = KV * hd;
    Acts *a = &m->a;
    m->last_aux = 0.0;
    m->last_router_z = 0.0;
    for (int r = 0; r < N; r++)
        if (tokens[r] >= (uint32_t)s->vocab_size) die("model: token id %u at row %d is not below vocab_size %d", tokens[r], r, s->vocab_size);
    k_embed(m, a->resid, tokens, N);
    const ParamView *wv = compute_view(m);
    for (int l = 0; l < s->n_layers; l++) {
        const LayerView *w = &wv->layers[l];
        const size_t sl = act_slot(m, l);
        float *x = a->resid + resid_slot(m, l) * m->stride_c, *attn_in = a->attn_in + sl * m->stride_c;
        float *q = a->q + sl * m->stride_q, *k = a->k + sl * m->stride_kv, *v = a->v + sl * m->stride_kv;
        float *attn_out = a->attn_out + sl * m->stride_q, *probs = a->probs + sl * m->stride_p;
        float *mid = a->mid + sl * m->stride_c, *ffn_in = a->ffn_in + sl * m->stride_c;
        float *next = a->resid + resid_slot(m, l + 1) * m->stride_c;
        float *sink_probs = w->sinks ? a->sink_probs + sl * m->stride_sp : NULL;
        const AttnShape as = attn_shape(m, B, T, l);

        k_rmsnorm(m, attn_in, a->attn_rstd + sl * m->stride_n, x, w->attn_norm, N);
        act_bf16(m, attn_in, (size_t)N * C);
        if (s->mla) {
            memcpy(mid, x, (size_t)N * C * sizeof(float));
            mla_forward(m->mla[sl], &w->mla, attn_in, mid, B, T, m->reference, &m->gemm);
        } else {
            if (w->q_norm) {
                /* qk_norm: the projections, then each head normalized into q and k. */
                float *q_raw = a->q_raw + sl * m->stride_q, *k_raw = a->k_raw + sl * m->stride_kv;
                k_linear(m, q_raw, attn_in, w->wq, N, C, Hd, T);
                k_linear(m, k_raw, attn_in, w->wk, N, C, KVd, T);
                act_bf16(m, q_raw, (size_t)N * Hd);
                act_bf16(m, k_raw, (size_t)N * KVd);
                k_head_norm(m, q, a->q_rstd + sl * m->stride_n * H, q_raw, w->q_norm, N, H);
                k_head_norm(m, k, a->k_rstd + sl * m->stride_n * KV, k_raw, w->k_norm, N, KV);
            } else {
                k_linear(m, q, attn_in, w->wq, N, C, Hd, T);
                k_linear(m, k, attn_in, w->wk, N, C, KVd, T);
                act_bf16(m, q, (size_t)N * Hd);
                act_bf16(m, k, (size_t)N * KVd);
            }
            k_linear(m, v, attn_in, w->wv, N, C, KVd, T);
            act_bf16(m, v, (size_t)N * KVd);
            rope_forward(q, m->rope_cos, m->rope_sin, N, T, H, hd);
            rope_forward(k, m->rope_cos, m->rope_sin, N, T, KV, hd);
            act_bf16(m, q, (size_t)N * Hd);
            act_bf16(m, k, (size_t)N * KVd);
            if (m->reference) attention_forward_ref(attn_out, probs, sink_probs, q, k, v, &as);
            else attention_forward(attn_out, probs, sink_probs, q, k, v, &as);
            memcpy(mid, x, (size_t)N * C * sizeof(float));
            k_wo_forward(m, mid, attn_out, w->wo, N, T);
        }

        k_rmsnorm(m, ffn_in, a->ffn_rstd + sl * m->stride_n, mid, w->ffn_norm, N);
        act_bf16(m, ffn_in, (size_t)N * C);
        switch (w->ffn_kind) {
        case FFN_DENSE: ffn_forward(m, l, w, I, ffn_in, mid, next, N, T); break;
        case FFN_MOE: moe_ffn_forward(m, l, w, ffn_in, mid, next, N, T); break;
        }
    }
    k_rmsnorm(m, a->final_out, a->final_rstd, a->resid + resid_slot(m, s->n_layers) * m->stride_c, m->w.norm, N);
    act_bf16(m, a->final_out, (size_t)N * C);
}

/* LM head and cross-entropy over all rows, in chunks. With grad_weight, the head's
 * weight gradient accumulates and d.final receives d loss / d final_out. */
static void head_and_loss(CpuModel *m, const uint32_t *targets, const float *grad_weight, int B, int T,
                          float *loss_out, uint32_t *argmax_out)
{
    const int N = B * T, C = m->s.dim, V = m->s.vocab_size;
    for (int r = 0; r < N; r++)
        if (targets[r] >= (uint32_t)V) die("model: target id %u at row %d is not below vocab_size %d", targets[r], r, V);
    if (grad_weight) memset(m->d.final, 0, (size_t)N * C * sizeof(float));
    for (int r0 = 0, rows, period; r0 < N; r0 += rows) {
        head_chunk(r0, N, T, &rows, &period);
        const float *h = m->a.final_out + (size_t)r0 * C;
        k_head(m, m->a.logits, h, rows, period);
        if (grad_weight && m->s.z_loss != 0.0f)
            k_crossentropy_z(m, m->a.logits, rows, targets + r0, loss_out + r0, grad_weight + r0, m->s.z_loss,
                             m->a.row_lse + r0);
        else
            k_crossentropy(m, m->a.logits, rows, targets + r0, loss_out + r0, argmax_out ? argmax_out + r0 : NULL,
                           grad_weight ? grad_weight + r0 : NULL);
        if (grad_weight) {
            scale_floats(m->a.logits, (size_t)rows * V, m->s.logit_gain); /* d (h W^T) */
            k_linear_back(m, m->d.final + (size_t)r0 * C, m->g.output, m->a.logits, h, compute_view(m)->output, rows, C,
                          V, period);
        }
    }
}

/* The head and the loss at n final hidden states (scoring), gathered HEAD_GATHER at a
 * time into one fixed-shape block (see HEAD_GATHER). */
static void cpu_head_loss(void *be, const float *hidden, const uint32_t *targets, size_t n_rows, float *loss_out,
                          uint32_t *argmax_out)
{
    CpuModel *m = be;
    const int C = m->s.dim, V = m->s.vocab_size;
    for (size_t i = 0; i < n_rows; i++)
        if (targets[i] >= (uint32_t)V) die("model: target id %u of scored row %zu is not below vocab_size %d", targets[i], i, V);
    for (size_t i0 = 0; i0 < n_rows; i0 += HEAD_GATHER) {
        const int n = n_rows - i0 < HEAD_GATHER ? (int)(n_rows - i0) : HEAD_GATHER;
        memcpy(m->a.gathered, hidden + i0 * C, (size_t)n * C * sizeof(float));
        memset(m->a.gathered + (size_t)n * C, 0, (size_t)(HEAD_GATHER - n) * C * sizeof(float));
        k_head(m, m->a.logits, m->a.gathered, HEAD_GATHER, HEAD_GATHER);
        k_crossentropy(m, m->a.logits, n, targets + i0, loss_out + i0, argmax_out ? argmax_out + i0 : NULL, NULL);
    }
}

/* ---- backward ------------------------------------------------------------------ */

static void backward_blocks(CpuModel *m, const uint32_t *tokens, int B, int T)
{
    const ModelShape *s = &m->s;
    const int N = B * T, C = s->dim, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim, I = s->inter_dim;
    const int Hd = H * hd, KVd = KV * hd;
    const size_t nC = (size_t)N * C * sizeof(float);
    Acts *a = &m->a;
    DActs *d = &m->d;

    memset(d->resid, 0, nC);
    k_rmsnorm_back(m, d->resid, m->g.norm, d->final, a->resid + s->n_layers * m->stride_c, m->w.norm, a->final_rstd, N);
    const ParamView *wv = compute_view(m);
    for (int l = s->n_layers - 1; l >= 0; l--) {
        const LayerView *w = &wv->layers[l];
        const LayerView *g = &m->g.layers[l];
        float *x = a->resid + l * m->stride_c, *attn_in = a->attn_in + l * m->stride_c;
        float *q = a->q + l * m->stride_q, *k = a->k + l * m->stride_kv, *v = a->v + l * m->stride_kv;
        float *attn_out = a->attn_out + l * m->stride_q, *probs = a->probs + l * m->stride_p;
        float *mid = a->mid + l * m->stride_c, *ffn_in = a->ffn_in + l * m->stride_c;
        const float *sink_probs = w->sinks ? a->sink_probs + l * m->stride_sp : NULL;
        const AttnShape as = attn_shape(m, B, T, l);

        /* FFN: next = mid + ffn(ffn_in). d->resid holds d next (and stays: the residual
         * path), d->norm receives d ffn_in. */
        switch (w->ffn_kind) {
        case FFN_DENSE: ffn_backward(m, l, w, g, I, ffn_in, N, T); break;
        case FFN_MOE: moe_ffn_backward(m, l, w, g, ffn_in, N, T); break;
        }
        k_rmsnorm_back(m, d->resid, g->ffn_norm, d->norm, mid, w->ffn_norm, a->ffn_rstd + l * m->stride_n, N);

        /* Attention: mid = x + Wo attn_out. d->resid holds d mid and becomes d x. */
        if (s->mla) {
            memset(d->norm, 0, nC);
            mla_backward(m->mla[l], &w->mla, &g->mla, attn_in, d->resid, d->norm, B, T, m->reference, &m->gemm);
            k_rmsnorm_back(m, d->resid, g->attn_norm, d->norm, x, w->attn_norm, a->attn_rstd + l * m->stride_n, N);
            continue;
        }
        memset(d->attn_out, 0, (size_t)N * Hd * sizeof(float));
        const float *wo_in = attn_out;
        if (s->model_bf16) { /* the rounded input the forward's wo product read */
            memcpy(a->attn_out16, attn_out, (size_t)N * Hd * sizeof(float));
            round_bf16_floats(a->attn_out16, (size_t)N * Hd);
            wo_in = a->attn_out16;
        }
        k_linear_back(m, d->attn_out, g->wo, d->resid, wo_in, w->wo, N, Hd, C, T);
        memset(d->q, 0, (size_t)N * Hd * sizeof(float));
        memset(d->k, 0, (size_t)N * KVd * sizeof(float));
        memset(d->v, 0, (size_t)N * KVd * sizeof(float));
        if (m->reference)
            attention_backward_ref(d->q, d->k, d->v, g->sinks, d->attn_out, probs, sink_probs, q, k, v, attn_out, &as);
        else
            attention_backward(d->q, d->k, d->v, g->sinks, d->attn_out, probs, sink_probs, q, k, v, attn_out, &as,
                               m->attn_scratch);
        rope_backward(d->q, m->rope_cos, m->rope_sin, N, T, H, hd);
        rope_backward(d->k, m->rope_cos, m->rope_sin, N, T, KV, hd);
        /* qk_norm: d->q, d->k are of the normalized heads; back through the norms. */
        const float *dq = d->q, *dk = d->k;
        if (w->q_norm) {
            memset(d->q_raw, 0, (size_t)N * Hd * sizeof(float));
            memset(d->k_raw, 0, (size_t)N * KVd * sizeof(float));
            k_head_norm_back(m, d->q_raw, g->q_norm, d->q, a->q_raw + l * m->stride_q, w->q_norm,
                             a->q_rstd + l * m->stride_n * H, N, H);
            k_head_norm_back(m, d->k_raw, g->k_norm, d->k, a->k_raw + l * m->stride_kv, w->k_norm,
                             a->k_rstd + l * m->stride_n * KV, N, KV);
            dq = d->q_raw;
            dk = d->k_raw;
        }
        memset(d->norm, 0, nC);
        k_linear_back(m, d->norm, g->wq, dq, attn_in, w->wq, N, C, Hd, T);
        k_linear_back(m, d->norm, g->wk, dk, attn_in, w->wk, N, C, KVd, T);
        k_linear_back(m, d->norm, g->wv, d->v, attn_in, w->wv, N, C, KVd, T);
        k_rmsnorm_back(m, d->resid, g->attn_norm, d->norm, x, w->attn_norm, a->attn_rstd + l * m->stride_n, N);
    }
    scale_floats(d->resid, (size_t)N * C, m->s.embed_gain);
    embedding_backward(m->g.tok_embeddings, tokens, d->resid, N, C);
}

/* ---- the seam's entry points ------------------------------------------------------ */

static double cpu_train_micro(void *be, const uint32_t *tokens, const uint32_t *targets, const float *loss_weight,
                              int B, int T, float aux_weight, MoeCounters counters, double *aux_out)
{
    CpuModel *m = be;
    if (!m->training) die("model: training step on a model built for inference");
    m->aux_weight = aux_weight;
    m->counters = counters;
    forward_blocks(m, tokens, B, T);
    m->counters = NULL;
    head_and_loss(m, targets, loss_weight, B, T, m->a.row_loss, NULL);
    backward_blocks(m, tokens, B, T);
    double sum = 0.0;
    for (int r = 0; r < B * T; r++)
        if (loss_weight[r] != 0.0f) sum += m->a.row_loss[r];
    m->last_z = 0.0;
    if (m->s.z_loss != 0.0f)
        for (int r = 0; r < B * T; r++)
            if (loss_weight[r] != 0.0f) {
                const double l = m->a.row_lse[r];
                m->last_z += (double)loss_weight[r] * m->s.z_loss * l * l;
            }
    *aux_out = m->last_aux;
    return sum;
}

static double cpu_last_z_loss(const void *be) { return ((const CpuModel *)be)->last_z; }
static double cpu_last_router_z_loss(const void *be) { return ((const CpuModel *)be)->last_router_z; }

static void cpu_zero_grads(void *be)
{
    CpuModel *m = be;
    if (!m->training) die("model: gradients requested from a model built for inference");
    memset(m->grads, 0, m->n_params * sizeof(float));
}

static double cpu_grad_sumsq(void *be)
{
    CpuModel *m = be;
    if (!m->training) die("model: gradients requested from a model built for inference");
    return sumsq(m->grads, m->n_params, m->partials);
}

/* The rows and columns of each of a Muon tensor's n stacked matrices. */
static void muon_matrix_shape(const ParamTensor *t, int n_mats, int *rows, int *cols)
{
    if (t->cols == 0 || n_mats < 1 || t->rows % n_mats != 0)
        die("model: %s [%d, %d] is not %d stacked matrices (Muon)", t->name, t->rows, t->cols, n_mats);
    *rows = t->rows / n_mats;
    *cols = t->cols;
}

static void muon_reserve(CpuModel *m, const OptimizerStepArgs *o)
{
    size_t work = 0, scratch = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        if (o->rates[i].muon_matrices == 0) continue;
        int rows, cols;
        muon_matrix_shape(&m->tensors[i], o->rates[i].muon_matrices, &rows, &cols);
        work = max_size(work, muon_work_floats(rows, cols));
        scratch = max_size(scratch, muon_gemm_scratch_floats(rows, cols));
    }
    if (work <= m->muon_work_floats && scratch <= m->muon_scratch_floats) return;
    for (int i = 0; i < m->muon_n_work; i++) {
        free(m->muon_work[i]);
        free(m->muon_scratch[i].buf);
    }
    free(m->muon_work);
    free(m->muon_scratch);
    m->muon_n_work = omp_get_max_threads();
    m->muon_work = xcalloc((size_t)m->muon_n_work, sizeof *m->muon_work);
    m->muon_scratch = xcalloc((size_t)m->muon_n_work, sizeof *m->muon_scratch);
    for (int i = 0; i < m->muon_n_work; i++) {
        m->muon_work[i] = alloc_floats(m, work);
        m->muon_scratch[i] = (GemmScratch){ scratch ? alloc_floats(m, scratch) : NULL, scratch };
    }
    m->muon_work_floats = work;
    m->muon_scratch_floats = scratch;
}

static void cpu_optimizer_step(void *be, const OptimizerStepArgs *o)
{
    CpuModel *m = be;
    if (!m->training) die("model: optimizer step on a model built for inference");
    muon_reserve(m, o);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        const TensorRate *r = &o->rates[i];
        /* ZeRO-1: only the part of the tensor inside the moment range. */
        const size_t lo = t->offset > m->mom_lo ? t->offset : m->mom_lo;
        const size_t end = t->offset + t->numel, hi = end < m->mom_hi ? end : m->mom_hi;
        if (lo >= hi) continue;
        float *p = m->params + lo, *g = m->grads + lo, *m1 = m->mom1 + (lo - m->mom_lo), *m2 = m->mom2 + (lo - m->mom_lo);
        if (r->muon_matrices > 0) {
            if (lo != t->offset || hi != end)
                die("model: Muon tensor %s cut by the moment range [%zu, %zu) (zero.h keeps it whole)", t->name,
                    m->mom_lo, m->mom_hi);
            int rows, cols;
            muon_matrix_shape(t, r->muon_matrices, &rows, &cols);
            MuonScalars a = muon_scalars(r->lr, r->weight_decay, o->muon_momentum, o->muon_nesterov,
                                         o->muon_update_rms, o->clip_coef);
            if (m->reference)
                muon_update_ref(p, g, m1, r->muon_matrices, rows, cols, &a, m->muon_work[0]);
            else
                muon_update(p, g, m1, r->muon_matrices, rows, cols, &a, m->muon_work, m->muon_scratch, m->muon_n_work);
            continue;
        }
        AdamWScalars a = adamw_scalars(r->lr, r->weight_decay, o->beta1, r->beta2, o->eps, (long)o->step, o->clip_coef);
        if (m->reference)
            adamw_update_ref(p, g, m1, m2, hi - lo, &a);
        else
            adamw_update(p, g, m1, m2, hi - lo, &a);
    }
    m->params16_stale = true;
}

static double cpu_forward_rows(void *be, const uint32_t *tokens, const uint32_t *targets, int B, int T,
                               float *loss_out, uint32_t *argmax_out, MoeCounters counters)
{
    CpuModel *m = be;
    m->counters = counters;
    forward_blocks(m, tokens, B, T);
    m->counters = NULL;
    head_and_loss(m, targets, NULL, B, T, loss_out, argmax_out);
    return m->last_aux;
}

static double cpu_forward_hidden(void *be, const uint32_t *tokens, int B, int T, const int32_t *rows, int n_rows,
                                 float *hidden_out, MoeCounters counters)
{
    CpuModel *m = be;
    const int C = m->s.dim;
    for (int i = 0; i < n_rows; i++)
        if (rows[i] < 0 || rows[i] >= B * T) die("model: scored row %d is not in the %d x %d batch", rows[i], B, T);
    m->counters = counters;
    forward_blocks(m, tokens, B, T);
    m->counters = NULL;
    for (int i = 0; i < n_rows; i++)
        memcpy(hidden_out + (size_t)i * C, m->a.final_out + (size_t)rows[i] * C, (size_t)C * sizeof(float));
    return m->last_aux;
}

/* Incremental inference of one sequence: n new tokens at positions cache_len.. run
 * through every block, their keys and values appended to the cache, each attending to
 * the cache (kernels/cpu/attention.h attention_cached). The products run over the n
 * new rows (period n), so a token's values can differ from a whole-sequence forward
 * in the last bits. */
static double cpu_cache_extend(void *be, const uint32_t *ids, int n, float *hidden_out, MoeCounters counters)
{
    CpuModel *m = be;
    const ModelShape *s = &m->s;
    const int p0 = m->cache_len, C = s->dim, H = s->n_heads, KV = s->n_kv_heads, hd = s->head_dim, I = s->inter_dim;
    const int Hd = H * hd, KVd = KV * hd, half = hd / 2;
    if (m->training) die("model: a key/value cache on a model built for training");
    if (n < 1 || n > m->max_seq - p0)
        die("model: %d more tokens do not fit the cache (%d of %d positions used)", n, p0, m->max_seq);
    for (int r = 0; r < n; r++)
        if (ids[r] >= (uint32_t)s->vocab_size) die("model: token id %u at row %d is not below vocab_size %d", ids[r], r, s->vocab_size);
    Acts *a = &m->a;
    m->last_aux = 0.0;
    m->counters = counters;
    k_embed(m, a->resid, ids, n);
    const ParamView *wv = compute_view(m);
    for (int l = 0; l < s->n_layers; l++) {
        const LayerView *w = &wv->layers[l];
        float *x = a->resid + resid_slot(m, l) * m->stride_c, *next = a->resid + resid_slot(m, l + 1) * m->stride_c;
        k_rmsnorm(m, a->attn_in, a->attn_rstd, x, w->attn_norm, n);
        act_bf16(m, a->attn_in, (size_t)n * C);
        if (s->mla) {
            memcpy(a->mid, x, (size_t)n * C * sizeof(float));
            mla_cached(m->mla[0], &w->mla, a->attn_in, a->mid, n, p0, m->kcache + (size_t)l * m->max_seq * m->mla_kw,
                       m->vcache + (size_t)l * m->max_seq * m->mla_vw, m->reference, &m->gemm);
            goto ffn;
        }
        float *kc = m->kcache + (size_t)l * m->max_seq * KVd, *vc = m->vcache + (size_t)l * m->max_seq * KVd;
        float *k_new = kc + (size_t)p0 * KVd, *v_new = vc + (size_t)p0 * KVd;
        const AttnShape as = attn_shape(m, 1, p0 + n, l);
        if (w->q_norm) {
            k_linear(m, a->q_raw, a->attn_in, w->wq, n, C, Hd, n);
            k_linear(m, a->k_raw, a->attn_in, w->wk, n, C, KVd, n);
            act_bf16(m, a->q_raw, (size_t)n * Hd);
            act_bf16(m, a->k_raw, (size_t)n * KVd);
            k_head_norm(m, a->q, a->q_rstd, a->q_raw, w->q_norm, n, H);
            k_head_norm(m, k_new, a->k_rstd, a->k_raw, w->k_norm, n, KV);
        } else {
            k_linear(m, a->q, a->attn_in, w->wq, n, C, Hd, n);
            k_linear(m, k_new, a->attn_in, w->wk, n, C, KVd, n);
            act_bf16(m, a->q, (size_t)n * Hd);
            act_bf16(m, k_new, (size_t)n * KVd);
        }
        k_linear(m, v_new, a->attn_in, w->wv, n, C, KVd, n);
        act_bf16(m, v_new, (size_t)n * KVd);
        /* Tables from position p0: row r of the n sits at position p0 + r. */
        rope_forward(a->q, m->rope_cos + (size_t)p0 * half, m->rope_sin + (size_t)p0 * half, n, n, H, hd);
        rope_forward(k_new, m->rope_cos + (size_t)p0 * half, m->rope_sin + (size_t)p0 * half, n, n, KV, hd);
        act_bf16(m, a->q, (size_t)n * Hd);
        act_bf16(m, k_new, (size_t)n * KVd);
        attention_cached(a->attn_out, a->q, kc, vc, n, p0, &as);
        memcpy(a->mid, x, (size_t)n * C * sizeof(float));
        k_wo_forward(m, a->mid, a->attn_out, w->wo, n, n);
    ffn:
        k_rmsnorm(m, a->ffn_in, a->ffn_rstd, a->mid, w->ffn_norm, n);
        act_bf16(m, a->ffn_in, (size_t)n * C);
        switch (w->ffn_kind) {
        case FFN_DENSE: ffn_forward(m, l, w, I, a->ffn_in, a->mid, next, n, n); break;
        case FFN_MOE: moe_ffn_forward(m, l, w, a->ffn_in, a->mid, next, n, n); break;
        }
    }
    m->counters = NULL;
    k_rmsnorm(m, a->final_out, a->final_rstd, a->resid + resid_slot(m, s->n_layers) * m->stride_c, m->w.norm, n);
    act_bf16(m, a->final_out, (size_t)n * C);
    if (hidden_out) memcpy(hidden_out, a->final_out, (size_t)n * C * sizeof(float));
    m->cache_len = p0 + n;
    return m->last_aux;
}

static void cpu_cache_truncate(void *be, int len)
{
    CpuModel *m = be;
    if (len < 0 || len > m->cache_len) die("model: cannot cut a cache of %d positions to %d", m->cache_len, len);
    m->cache_len = len;
}

static int cpu_cache_len(const void *be) { return ((const CpuModel *)be)->cache_len; }

/* Logits (V floats each) at n hidden states. */
static void cpu_head_logits(void *be, const float *hidden, int n, float *logits_out)
{
    CpuModel *m = be;
    k_head(m, logits_out, hidden, n, n);
}

static void cpu_logits(void *be, const uint32_t *tokens, int B, int T, float *logits_out)
{
    CpuModel *m = be;
    forward_blocks(m, tokens, B, T);
    const int N = B * T, C = m->s.dim, V = m->s.vocab_size;
    for (int r0 = 0, rows, period; r0 < N; r0 += rows) {
        head_chunk(r0, N, T, &rows, &period);
        k_head(m, logits_out + (size_t)r0 * V, m->a.final_out + (size_t)r0 * C, rows, period);
    }
}

static void cpu_next_logits(void *be, const uint32_t *ids, int T, float *logits)
{
    CpuModel *m = be;
    const int C = m->s.dim, V = m->s.vocab_size;
    forward_blocks(m, ids, 1, T);
    /* The chunk holding the last row, tiled as scoring tiles it. */
    int r0 = 0, rows = 0, period = 0;
    for (;; r0 += rows) {
        head_chunk(r0, T, T, &rows, &period);
        if (r0 + rows >= T) break;
    }
    k_head(m, m->a.logits, m->a.final_out + (size_t)r0 * C, rows, period);
    memcpy(logits, m->a.logits + (size_t)(T - 1 - r0) * V, (size_t)V * sizeof(float));
}

static void cpu_get_params(void *be, float *dst)
{
    CpuModel *m = be;
    memcpy(dst, m->params, m->n_params * sizeof(float));
}

static void cpu_get_param_range(void *be, size_t offset, size_t numel, float *dst)
{
    CpuModel *m = be;
    if (offset > m->n_params || numel > m->n_params - offset)
        die("model: parameters [%zu, +%zu) past the %zu held", offset, numel, m->n_params);
    memcpy(dst, m->params + offset, numel * sizeof(float));
}

static void cpu_set_params(void *be, const float *src)
{
    CpuModel *m = be;
    memcpy(m->params, src, m->n_params * sizeof(float));
    m->params16_stale = true;
}

static void cpu_get_grads(void *be, float *dst)
{
    CpuModel *m = be;
    if (!m->training) die("model: gradients requested from a model built for inference");
    memcpy(dst, m->grads, m->n_params * sizeof(float));
}

static void cpu_set_grads(void *be, const float *src)
{
    CpuModel *m = be;
    if (!m->training) die("model: gradients given to a model built for inference");
    memcpy(m->grads, src, m->n_params * sizeof(float));
}

static void cpu_get_moments(void *be, float *m1, float *m2)
{
    CpuModel *m = be;
    if (!m->training) die("model: optimizer moments requested from a model built for inference");
    memcpy(m1, m->mom1, (m->mom_hi - m->mom_lo) * sizeof(float));
    memcpy(m2, m->mom2, (m->mom_hi - m->mom_lo) * sizeof(float));
}

static void cpu_set_moments(void *be, const float *m1, const float *m2)
{
    CpuModel *m = be;
    if (!m->training) die("model: optimizer moments given to a model built for inference");
    memcpy(m->mom1, m1, (m->mom_hi - m->mom_lo) * sizeof(float));
    memcpy(m->mom2, m2, (m->mom_hi - m->mom_lo) * sizeof(float));
}

static void cpu_set_moment_range(void *be, size_t lo, size_t hi)
{
    CpuModel *m = be;
    if (!m->training) die("model: a moment range for a model built for inference");
    const size_t old = m->mom_hi - m->mom_lo ? m->mom_hi - m->mom_lo : 1;
    free(m->mom1);
    free(m->mom2);
    m->bytes -= 2 * old * sizeof(float);
    /* At least one float, so that an empty range still has buffers to point at. */
    const size_t n = hi - lo ? hi - lo : 1;
    m->mom1 = alloc_floats(m, n); /* zeroed */
    m->mom2 = alloc_floats(m, n);
    m->mom_lo = lo;
    m->mom_hi = hi;
}

static void cpu_set_routing(void *be, const float *state)
{
    CpuModel *m = be;
    if (m->n_state_floats) memcpy(m->state, state, m->n_state_floats * sizeof(float));
}

static MoeBlock *moe_block(const CpuModel *m, int l)
{
    return m->moe && l >= 0 && l < m->s.n_layers && m->moe[l].ws ? &m->moe[l] : NULL;
}

static const int32_t *cpu_routing_choice(void *be, int l)
{
    CpuModel *m = be;
    MoeBlock *b = moe_block(m, l);
    if (!b) return NULL;
    return m->reference ? b->ref_experts : moe_routing_experts(b->ws);
}

static double cpu_router_grad_norm(void *be, int l)
{
    CpuModel *m = be;
    if (!moe_block(m, l) || !m->training) return 0.0;
    return moe_router_grad_norm(m->g.layers[l].router, m->s.n_routed_experts, m->s.dim);
}

static bool cpu_set_option(void *be, BackendOption opt, bool on)
{
    CpuModel *m = be;
    switch (opt) {
    case BACKEND_REFERENCE_KERNELS: m->reference = on; return true;
    case BACKEND_HOLD_ROUTING: m->hold_routing = on; return true;
    }
    return false;
}

static void cpu_set_expert_exchange(void *be, const ExpertExchange *ex)
{
    CpuModel *m = be;
    if (ex && m->reference) die("model: expert parallel has no reference-kernel path");
    for (int l = 0; l < m->s.n_layers; l++)
        if (moe_block(m, l)) moe_set_exchange(m->moe[l].ws, ex);
}

static void cpu_describe(const void *be, char *buf, size_t n)
{
    const CpuModel *m = be;
    snprintf(buf, n, "cpu: %s, %s, %d OpenMP threads", m->s.model_bf16 ? "bf16 emulated in fp32" : "fp32",
             blas_describe(), omp_get_max_threads());
}

static size_t cpu_bytes(const void *be) { return ((const CpuModel *)be)->bytes; }

const ModelBackend model_backend_cpu = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .bytes = cpu_bytes,
    .train_micro = cpu_train_micro,
    .last_z_loss = cpu_last_z_loss,
    .last_router_z_loss = cpu_last_router_z_loss,
    .zero_grads = cpu_zero_grads,
    .grad_sumsq = cpu_grad_sumsq,
    .optimizer_step = cpu_optimizer_step,
    .forward_rows = cpu_forward_rows,
    .forward_hidden = cpu_forward_hidden,
    .head_loss = cpu_head_loss,
    .head_rows = HEAD_GATHER,
    .cache_extend = cpu_cache_extend,
    .cache_truncate = cpu_cache_truncate,
    .cache_len = cpu_cache_len,
    .head_logits = cpu_head_logits,
    .logits = cpu_logits,
    .next_logits = cpu_next_logits,
    .get_params = cpu_get_params,
    .set_params = cpu_set_params,
    .get_param_range = cpu_get_param_range,
    .get_grads = cpu_get_grads,
    .set_grads = cpu_set_grads,
    .get_moments = cpu_get_moments,
    .set_moments = cpu_set_moments,
    .set_moment_range = cpu_set_moment_range,
    .set_routing = cpu_set_routing,
    .routing_choice = cpu_routing_choice,
    .router_grad_norm = cpu_router_grad_norm,
    .set_option = cpu_set_option,
    .set_expert_exchange = cpu_set_expert_exchange,
};
