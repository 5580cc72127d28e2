/* model.c: the model front (see model.h and backend.h): the tensor table, the weight
 * init, the routing state with its counters and bias update, the grouping of scoring
 * calls and provenance. Everything that touches the parameters goes to the backend. */
#include "model/model.h"
#include "model/backend.h"
#include "base/error.h"
#include "base/rng.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Model {
    ModelShape s;
    const ModelBackend *be;
    void *impl;
    ModelLayout lay;
    int max_batch, max_seq;
    bool training;
    size_t n_params;
    size_t mom_lo, mom_hi;  /* the moments the backend holds (training): all unless ZeRO-1 */
    int n_tensors;
    ParamTensor *tensors;
    /* MoE: the routing state (biases, host copy, the backend routes with it) and the
     * per-block counters (NULL for a dense block). */
    int n_moe, *moe_layers;
    ParamTensor *state_tensors;
    int n_state;
    float *state;
    MoeStats **step, **window;     /* [L] */
    MoeStats *const *sink;
    float aux_weight;
    double last_aux;
    /* model_score's rows: inputs, targets, losses, argmax of one call */
    uint32_t *row_tokens, *row_targets, *row_argmax;
    float *row_loss;
    int32_t *row_index;    /* scored rows of a model_score_from call */
    float *cache_hidden;   /* [max_seq][dim] hidden states of a model_cache_extend call */
    size_t bytes;
    /* provenance */
    uint64_t vocab_id;
    char fingerprint[17];
    int64_t step_of_checkpoint;
};

ModelShape model_shape_from_config(const Config *c)
{
    ModelShape s = {
        .vocab_size = (int)c->vocab_size, .dim = (int)c->dim, .n_layers = (int)c->n_layers,
        .n_heads = (int)c->n_heads, .n_kv_heads = (int)config_kv_heads(c), .head_dim = (int)config_head_dim(c),
        .inter_dim = (int)c->inter_dim, .seq_len = (int)c->seq_len, .attn_window = (int)c->attn_window,
        .rope_theta = c->rope_theta, .rope_yarn = strcmp(c->rope_scaling, "yarn") == 0,
        .rope_original_seq_len = (int)c->rope_original_seq_len, .rope_factor = c->rope_factor,
        .yarn_beta_fast = c->yarn_beta_fast, .yarn_beta_slow = c->yarn_beta_slow, .norm_eps = (float)c->norm_eps, .init_std = (float)c->init_std,
        .ffn_activation = ffn_activation_from_name(c->ffn_activation),
        .n_dense_layers = (int)c->n_dense_layers, .n_routed_experts = (int)c->n_routed_experts,
        .n_shared_experts = (int)c->n_shared_experts, .n_activated_experts = (int)c->n_activated_experts,
        .moe_inter_dim = (int)config_moe_inter_dim(c), .router_softmax = strcmp(c->router_score, "softmax") == 0,
        .route_scale = (float)c->route_scale, .expert_output_gain = (float)c->expert_output_gain,
        .capacity_factor = (float)c->capacity_factor, .aux_loss_alpha = (float)c->aux_loss_alpha,
        .router_bf16 = strcmp(c->router_precision, "bf16") == 0,
        .model_bf16 = strcmp(c->precision, "bf16") == 0,
        .n_expert_groups = (int)c->n_expert_groups, .n_limited_groups = (int)c->n_limited_groups,
        .embed_gain = (float)c->embed_gain, .logit_gain = (float)c->logit_gain,
        .z_loss = (float)c->z_loss, .router_z_loss = (float)c->router_z_loss,
        .qk_norm = c->qk_norm, .attn_sinks = c->attn_sinks,
        .attn_global_every = (int)c->attn_global_every, .attn_local_window = (int)c->attn_local_window,
    };
    if (strcmp(c->attention, "mla") == 0) {
        const MlaDims d = config_mla_dims(c);
        s.mla = 1;
        s.q_lora_rank = (int)d.q_lora_rank;
        s.kv_lora_rank = (int)d.kv_lora_rank;
        s.qk_nope_head_dim = (int)d.qk_nope_head_dim;
        s.qk_rope_head_dim = (int)d.qk_rope_head_dim;
        s.v_head_dim = (int)d.v_head_dim;
    }
    QuantFormat f = QUANT_FP32;
    if (!quant_format_parse(c->expert_precision, &f)) die("config: expert_precision: unknown format '%s'", c->expert_precision);
    s.expert_precision = (int)f;
    return s;
}

static bool is_moe_block(const ModelShape *s, int l) { return s->n_routed_experts > 0 && l >= s->n_dense_layers; }
/* Hidden width of the shared experts of an MoE block (one SwiGLU of n_shared * F). */
static int shared_dim(const ModelShape *s) { return s->n_shared_experts * s->moe_inter_dim; }

/* ---- parameter table ---------------------------------------------------------- */

static void add_tensor(Model *m, int *cap, const char *name, int rows, int cols, bool decay, float std)
{
    if (m->n_tensors == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        m->tensors = xrealloc(m->tensors, (size_t)*cap * sizeof *m->tensors);
    }
    ParamTensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = m->n_params;
    t->rows = rows;
    t->cols = cols;
    t->numel = (size_t)rows * (cols ? cols : 1);
    t->group = PARAM_GROUP_DENSE;
    t->weight_decay = decay;
    t->init_std = std;
    m->n_params += t->numel;
}

/* The layout, in buffer order. Names follow the LLaMA/DeepSeek PyTorch modules. A
 * backend binds its views in this order (the CPU backend's bind_view). */
static void build_tensor_table(Model *m)
{
    const ModelShape *s = &m->s;
    const int C = s->dim, Hd = s->n_heads * s->head_dim, KVd = s->n_kv_heads * s->head_dim, I = s->inter_dim;
    const float std = s->init_std, std_out = s->init_std / sqrtf(2.0f * (float)s->n_layers);
    /* relu2 has no up projection: its FFNs have no w3 tensors (model/ffn_activation.h). */
    const bool gated = ffn_activation_gated(s->ffn_activation);
    int cap = 0;
    char name[64];
    add_tensor(m, &cap, "tok_embeddings.weight", s->vocab_size, C, false, std);
    for (int l = 0; l < s->n_layers; l++) {
#define LAYER_TENSOR(suffix, rows, cols, decay, sd) \
    do { snprintf(name, sizeof name, "layers.%d.%s", l, suffix); add_tensor(m, &cap, name, rows, cols, decay, sd); } while (0)
        LAYER_TENSOR("attn_norm.weight", C, 0, false, 0.0f);
        if (s->mla) {
            /* DeepSeek-V2's names and order (kernels/cpu/mla.h); norms: ones, no decay. */
            const int H = s->n_heads, dqk = s->qk_nope_head_dim + s->qk_rope_head_dim, R = s->kv_lora_rank;
            if (s->q_lora_rank > 0) {
                LAYER_TENSOR("attn.wq_a.weight", s->q_lora_rank, C, true, std);
                LAYER_TENSOR("attn.q_norm.weight", s->q_lora_rank, 0, false, 0.0f);
                LAYER_TENSOR("attn.wq_b.weight", H * dqk, s->q_lora_rank, true, std);
            } else {
                LAYER_TENSOR("attn.wq.weight", H * dqk, C, true, std);
            }
            LAYER_TENSOR("attn.wkv_a.weight", R + s->qk_rope_head_dim, C, true, std);
            LAYER_TENSOR("attn.kv_norm.weight", R, 0, false, 0.0f);
            LAYER_TENSOR("attn.wkv_b.weight", H * (s->qk_nope_head_dim + s->v_head_dim), R, true, std);
            LAYER_TENSOR("attn.wo.weight", C, H * s->v_head_dim, true, std_out);
        } else {
            LAYER_TENSOR("attn.wq.weight", Hd, C, true, std);
            LAYER_TENSOR("attn.wk.weight", KVd, C, true, std);
            LAYER_TENSOR("attn.wv.weight", KVd, C, true, std);
            LAYER_TENSOR("attn.wo.weight", C, Hd, true, std_out);
            /* The attention dials' tensors (model.h): dense group, no weight decay. */
            if (s->qk_norm) {
                LAYER_TENSOR("attn.q_norm.weight", s->head_dim, 0, false, 0.0f);
                LAYER_TENSOR("attn.k_norm.weight", s->head_dim, 0, false, 0.0f);
            }
            if (s->attn_sinks) {
                LAYER_TENSOR("attn.sinks", s->n_heads, 0, false, 0.0f);
                m->tensors[m->n_tensors - 1].init_zeros = true;
            }
        }
        LAYER_TENSOR("ffn_norm.weight", C, 0, false, 0.0f);
        if (!is_moe_block(s, l)) {
            LAYER_TENSOR("ffn.w1.weight", I, C, true, std);
            if (gated) LAYER_TENSOR("ffn.w3.weight", I, C, true, std);
            LAYER_TENSOR("ffn.w2.weight", C, I, true, std_out);
            continue;
        }
        const int S = shared_dim(s), E = s->n_routed_experts, F = s->moe_inter_dim;
        if (S > 0) {
            LAYER_TENSOR("ffn.shared_experts.w1.weight", S, C, true, std);
            if (gated) LAYER_TENSOR("ffn.shared_experts.w3.weight", S, C, true, std);
            LAYER_TENSOR("ffn.shared_experts.w2.weight", C, S, true, std_out);
        }
        LAYER_TENSOR("ffn.router.weight", E, C, false, std);
        m->tensors[m->n_tensors - 1].group = PARAM_GROUP_ROUTER;
        /* Experts stacked: expert e's [F, C] block starts at row e * F (moe.h's layout). */
        LAYER_TENSOR("ffn.experts.w1.weight", E * F, C, true, std);
        m->tensors[m->n_tensors - 1].group = PARAM_GROUP_EXPERT;
        if (gated) {
            LAYER_TENSOR("ffn.experts.w3.weight", E * F, C, true, std);
            m->tensors[m->n_tensors - 1].group = PARAM_GROUP_EXPERT;
        }
        LAYER_TENSOR("ffn.experts.w2.weight", E * C, F, true, std_out);
        m->tensors[m->n_tensors - 1].group = PARAM_GROUP_EXPERT;
#undef LAYER_TENSOR
    }
    add_tensor(m, &cap, "norm.weight", C, 0, false, 0.0f);
    add_tensor(m, &cap, "output.weight", s->vocab_size, C, false, std);
}

/* The routing-bias state tensors (one [E] per MoE block) and the blocks' counters. */
static void build_routing_state(Model *m)
{
    const ModelShape *s = &m->s;
    const int E = s->n_routed_experts, L = s->n_layers;
    m->moe_layers = xcalloc((size_t)L, sizeof *m->moe_layers);
    m->step = xcalloc((size_t)L, sizeof *m->step);
    m->window = xcalloc((size_t)L, sizeof *m->window);
    for (int l = 0; l < L; l++)
        if (is_moe_block(s, l)) m->moe_layers[m->n_moe++] = l;
    m->n_state = m->n_moe;
    m->state_tensors = xcalloc(m->n_moe ? (size_t)m->n_moe : 1, sizeof *m->state_tensors);
    m->state = xcalloc(m->n_moe ? (size_t)m->n_moe * E : 1, sizeof(float));
    for (int i = 0; i < m->n_moe; i++) {
        const int l = m->moe_layers[i];
        ParamTensor *t = &m->state_tensors[i];
        snprintf(t->name, sizeof t->name, "layers.%d.ffn.router.bias", l);
        t->offset = (size_t)i * E;
        t->numel = (size_t)E;
        t->rows = E;
        t->group = PARAM_GROUP_ROUTER;
        m->step[l] = moe_stats_create(E);
        m->window[l] = moe_stats_create(E);
    }
}

Model *model_create_on(const ModelBackend *be, const ModelShape *shape, int max_batch, int max_seq, bool training)
{
    /* A gain of 0 is a shape written without these fields (the config's are > 0): 1. */
    ModelShape given = *shape;
    if (given.embed_gain == 0.0f) given.embed_gain = 1.0f;
    if (given.logit_gain == 0.0f) given.logit_gain = 1.0f;
    const ModelShape *s = &given;
    if (s->dim <= 0 || s->n_layers <= 0 || s->n_heads <= 0 || s->n_kv_heads <= 0 || s->head_dim <= 0 ||
        s->head_dim % 2 || s->n_heads % s->n_kv_heads || s->head_dim * s->n_heads != s->dim ||
        s->inter_dim <= 0 || s->vocab_size <= 1 || max_batch <= 0 || max_seq <= 0)
        die("model: inconsistent shape (dim %d, heads %d/%d, head_dim %d)", s->dim, s->n_heads, s->n_kv_heads, s->head_dim);
    if (s->attn_window < 0 || s->attn_global_every < 0 ||
        (s->attn_global_every > 0 && (s->attn_local_window <= 0 || s->attn_window != 0)))
        die("model: attn_global_every %d needs attn_local_window > 0 (%d) and attn_window 0 (%d)", s->attn_global_every,
            s->attn_local_window, s->attn_window);
    if (s->mla && (s->q_lora_rank < 0 || s->kv_lora_rank <= 0 || s->qk_nope_head_dim <= 0 || s->qk_rope_head_dim <= 0 ||
                   s->qk_rope_head_dim % 2 || s->v_head_dim <= 0 || s->n_kv_heads != s->n_heads))
        die("model: inconsistent MLA shape (q_lora_rank %d, kv_lora_rank %d, qk_nope %d, qk_rope %d, v %d, kv heads %d)",
            s->q_lora_rank, s->kv_lora_rank, s->qk_nope_head_dim, s->qk_rope_head_dim, s->v_head_dim, s->n_kv_heads);
    if (s->n_routed_experts > 0 && (s->n_dense_layers < 0 || s->n_dense_layers >= s->n_layers || s->n_shared_experts < 0))
        die("model: n_dense_layers %d leaves no MoE block of %d", s->n_dense_layers, s->n_layers);
    if ((s->expert_precision != QUANT_FP32 || s->router_bf16 || s->model_bf16) && strcmp(be->name, "cpu") != 0)
        die("model: precision %s / expert_precision %s / router_precision %s: emulated on the cpu backend only, not on %s",
            s->model_bf16 ? "bf16" : "fp32", quant_format_name((QuantFormat)s->expert_precision),
            s->router_bf16 ? "bf16" : "fp32", be->name);
    if (s->model_bf16 && s->mla) die("model: precision bf16 is not implemented with attention = \"mla\"");

    Model *m = xcalloc(1, sizeof *m);
    m->s = *s;
    m->be = be;
    m->max_batch = max_batch;
    m->max_seq = max_seq;
    m->training = training;
    m->aux_weight = 1.0f;
    m->step_of_checkpoint = -1;
    build_tensor_table(m);
    build_routing_state(m);
    m->lay = (ModelLayout){
        .shape = *s, .n_tensors = m->n_tensors, .tensors = m->tensors, .n_params = m->n_params,
        .n_state = m->n_state, .state_tensors = m->state_tensors,
        .n_state_floats = (size_t)m->n_moe * (size_t)s->n_routed_experts,
    };
    m->impl = be->create(&m->lay, max_batch, max_seq, training);
    m->mom_hi = m->n_params;
    be->set_routing(m->impl, m->state);
    const size_t N = (size_t)max_batch * max_seq;
    m->row_tokens = xmalloc(N * sizeof *m->row_tokens);
    m->row_targets = xmalloc(N * sizeof *m->row_targets);
    m->row_argmax = xmalloc(N * sizeof *m->row_argmax);
    m->row_loss = xmalloc(N * sizeof *m->row_loss);
    m->row_index = xmalloc(N * sizeof *m->row_index);
    m->bytes = N * (3 * sizeof(uint32_t) + sizeof(float)) + m->lay.n_state_floats * sizeof(float);
    return m;
}

Model *model_create(const ModelShape *shape, int max_batch, int max_seq, bool training)
{
    return model_create_on(&model_backend_cpu, shape, max_batch, max_seq, training);
}

void model_free(Model *m)
{
    if (!m) return;
    m->be->destroy(m->impl);
    for (int l = 0; l < m->s.n_layers; l++) {
        moe_stats_free(m->step[l]);
        moe_stats_free(m->window[l]);
    }
    free(m->step);
    free(m->window);
    free(m->moe_layers);
    free(m->state_tensors);
    free(m->state);
    free(m->row_tokens);
    free(m->row_targets);
    free(m->row_argmax);
    free(m->row_loss);
    free(m->row_index);
    free(m->cache_hidden);
    free(m->tensors);
    free(m);
}

const ModelBackend *model_backend(const Model *m) { return m->be; }
const char *model_backend_name(const Model *m) { return m->be->name; }
void model_describe(const Model *m, char *buf, size_t n) { m->be->describe(m->impl, buf, n); }
const ModelShape *model_shape(const Model *m) { return &m->s; }
size_t model_n_params(const Model *m) { return m->n_params; }
int model_n_tensors(const Model *m) { return m->n_tensors; }
const ParamTensor *model_tensor(const Model *m, int i) { return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL; }
int model_max_batch(const Model *m) { return m->max_batch; }
size_t model_bytes(const Model *m) { return m->bytes + m->be->bytes(m->impl); }

const ParamTensor *model_tensor_find(const Model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void model_get_params(Model *m, float *dst) { m->be->get_params(m->impl, dst); }
void model_set_params(Model *m, const float *src) { m->be->set_params(m->impl, src); }

void model_get_param_range(Model *m, size_t offset, size_t numel, float *dst)
{
    if (offset > m->n_params || numel > m->n_params - offset)
        die("model: parameters [%zu, +%zu) outside the %zu", offset, numel, m->n_params);
    if (numel == 0) return;
    if (m->be->get_param_range) {
        m->be->get_param_range(m->impl, offset, numel, dst);
        return;
    }
    float *all = xmalloc(m->n_params * sizeof *all);
    m->be->get_params(m->impl, all);
    memcpy(dst, all + offset, numel * sizeof *dst);
    free(all);
}

void model_get_tensor(Model *m, const ParamTensor *t, float *dst) { model_get_param_range(m, t->offset, t->numel, dst); }
void model_get_grads(Model *m, float *dst) { m->be->get_grads(m->impl, dst); }
void model_set_grads(Model *m, const float *src) { m->be->set_grads(m->impl, src); }
void model_get_moments(Model *m, float *m1, float *m2) { m->be->get_moments(m->impl, m1, m2); }
void model_set_moments(Model *m, const float *m1, const float *m2) { m->be->set_moments(m->impl, m1, m2); }

void model_set_moment_range(Model *m, size_t lo, size_t hi)
{
    if (!m->training) die("model: a moment range for a model built for inference");
    if (lo > hi || hi > m->n_params) die("model: moment range [%zu, %zu) outside the %zu parameters", lo, hi, m->n_params);
    if (lo == m->mom_lo && hi == m->mom_hi) return;
    if (!m->be->set_moment_range)
        die("model: backend %s holds every optimizer moment (it cannot shard them: zero_stage = 1)", m->be->name);
    m->be->set_moment_range(m->impl, lo, hi);
    m->mom_lo = lo;
    m->mom_hi = hi;
}

void model_moment_range(const Model *m, size_t *lo, size_t *hi)
{
    *lo = m->mom_lo;
    *hi = m->mom_hi;
}

size_t model_optimizer_state_bytes(const Model *m) { return m->training ? 2 * (m->mom_hi - m->mom_lo) * sizeof(float) : 0; }

void model_use_reference_kernels(Model *m, bool on)
{
    if (!m->be->set_option(m->impl, BACKEND_REFERENCE_KERNELS, on) && on)
        die("model: backend %s has no reference kernels", m->be->name);
}

void model_init_weights(Model *m, uint64_t seed)
{
    float *p = xaligned_alloc(m->n_params * sizeof(float));
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        float *x = p + t->offset;
        if (t->init_std == 0.0f) {
            for (size_t j = 0; j < t->numel; j++) x[j] = t->init_zeros ? 0.0f : 1.0f;
            continue;
        }
        Rng r = rng_make(seed, MODEL_INIT_STREAM + (uint64_t)i);
        for (size_t j = 0; j < t->numel; j++) x[j] = t->init_std * rng_normal(&r);
    }
    m->be->set_params(m->impl, p);
    free(p);
    memset(m->state, 0, m->lay.n_state_floats * sizeof(float));
    m->be->set_routing(m->impl, m->state);
}

/* ---- training ---- */

void model_zero_grads(Model *m)
{
    if (!m->training) die("model: gradients requested from a model built for inference");
    m->be->zero_grads(m->impl);
}

double model_grad_sumsq(Model *m) { return m->be->grad_sumsq(m->impl); }
void model_optimizer_step(Model *m, const OptimizerStepArgs *a) { m->be->optimizer_step(m->impl, a); }

double model_train_micro(Model *m, const uint32_t *tokens, const uint32_t *targets,
                         const float *loss_weight, int B, int T)
{
    if (!m->training) die("model: training step on a model built for inference");
    return m->be->train_micro(m->impl, tokens, targets, loss_weight, B, T, m->aux_weight, m->step, &m->last_aux);
}

void model_set_aux_weight(Model *m, float w) { m->aux_weight = w; }
double model_last_aux_loss(const Model *m) { return m->last_aux; }
double model_last_z_loss(const Model *m) { return m->be->last_z_loss ? m->be->last_z_loss(m->impl) : 0.0; }
double model_last_router_z_loss(const Model *m)
{
    return m->be->last_router_z_loss ? m->be->last_router_z_loss(m->impl) : 0.0;
}

/* ---- forward only ---- */

double model_eval_loss(Model *m, const uint32_t *tokens, const uint32_t *targets, const uint8_t *mask,
                       int B, int T, float *loss_out, uint32_t *argmax_out)
{
    m->last_aux = m->be->forward_rows(m->impl, tokens, targets, B, T, loss_out, argmax_out, m->sink);
    double sum = 0.0;
    for (int r = 0; r < B * T; r++)
        if (!mask || mask[r]) sum += loss_out[r];
    return sum;
}

void model_logits(Model *m, const uint32_t *tokens, int B, int T, float *logits_out)
{
    m->be->logits(m->impl, tokens, B, T, logits_out);
}

/* Sequences of one length go through together, up to max_batch at a time. A sequence
 * of len tokens runs its first len - 1 as inputs (the last one is only a target),
 * exactly as the trainer runs a validation window of seq_len + 1 tokens. */
static size_t next_group(Model *m, size_t n_seqs, const size_t *lens, bool *done, size_t first, size_t *batch, int *B_out)
{
    const size_t len = lens[first];
    if (len < 1 || len > (size_t)m->max_seq + 1) die("model: sequence of %zu tokens (1 to %d fit)", len, m->max_seq + 1);
    int B = 0;
    for (size_t s = first; s < n_seqs && B < m->max_batch; s++)
        if (!done[s] && lens[s] == len) { batch[B++] = s; done[s] = true; }
    *B_out = B;
    return len;
}

/* Every position, through the backend's forward_rows (the trainer's validation path). */
static void score_all_positions(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens,
                                float *const *logprob, uint32_t *const *argmax)
{
    bool *done = xcalloc(n_seqs ? n_seqs : 1, sizeof *done);
    size_t *batch = xmalloc((size_t)m->max_batch * sizeof *batch);
    for (size_t first = 0; first < n_seqs; first++) {
        if (done[first]) continue;
        int B;
        const size_t len = next_group(m, n_seqs, lens, done, first, batch, &B);
        if (len == 1) continue; /* nothing to score */
        const int T = (int)len - 1;
        uint32_t *tok = m->row_tokens, *tgt = m->row_targets;
        for (int b = 0; b < B; b++) {
            memcpy(tok + (size_t)b * T, ids[batch[b]], (size_t)T * sizeof(uint32_t));
            memcpy(tgt + (size_t)b * T, ids[batch[b]] + 1, (size_t)T * sizeof(uint32_t));
        }
        m->last_aux = m->be->forward_rows(m->impl, tok, tgt, B, T, m->row_loss, argmax ? m->row_argmax : NULL, m->sink);
        for (int b = 0; b < B; b++) {
            size_t s = batch[b];
            for (int t = 0; t < T; t++) {
                logprob[s][t] = -m->row_loss[(size_t)b * T + t];
                if (argmax) argmax[s][t] = m->row_argmax[(size_t)b * T + t];
            }
        }
    }
    free(batch);
    free(done);
}

/* The positions from from[s] on: the blocks per group of equal lengths, keeping the
 * final hidden states of the scored rows, then the head once over all of them. */
/* Shared contexts. The choices of a multiple-choice item are consecutive sequences
 * whose first P inputs agree (the context, when each choice fits or all are cut alike).
 * Such a family runs those P positions once through the key/value cache and then each
 * member's own rest on top of them, when that saves at least half of its positions and
 * P >= SHARE_MIN (below that, batching equal lengths wins over the one-sequence cache
 * path). A position's hidden state is then the cache path's: equal to the batched one
 * to rounding (attention_cached), not bit for bit. */
enum { SHARE_MIN = 64 };

static size_t common_inputs(const uint32_t *a, size_t len_a, const uint32_t *b, size_t len_b)
{
    const size_t n = (len_a < len_b ? len_a : len_b) - 1; /* inputs: all but the last token */
    size_t k = 0;
    while (k < n && a[k] == b[k]) k++;
    return k;
}

/* The family that starts at `first`: its size, and P in *shared (0: none worth it). */
static size_t share_family(const Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens,
                           const bool *done, size_t first, size_t *shared)
{
    *shared = 0;
    if (!model_has_cache(m) || lens[first] < 2) return 1;
    size_t P = lens[first] - 1, k = 1, total = lens[first] - 1;
    for (size_t s = first + 1; s < n_seqs && !done[s] && lens[s] >= 2; s++) {
        const size_t c = common_inputs(ids[first], lens[first], ids[s], lens[s]);
        if (c < SHARE_MIN) break;
        P = c < P ? c : P;
        total += lens[s] - 1;
        k++;
    }
    if (k < 2 || P < SHARE_MIN || 2 * (k - 1) * P < total) return 1;
    *shared = P;
    return k;
}

/* Buckets of similar lengths (scoring only). A sequence of len tokens runs as
 * padded_inputs(len) >= len - 1 inputs, padded on the right (causal attention: the
 * padding's rows change nothing before them): a multiple of 8 up to 64, of 16 above,
 * at most max_seq. The padded length depends on the sequence alone, so sequences of
 * similar lengths batch together and a position's values still do not depend on the
 * other sequences of the call (dense models). MoE models with a capacity factor run
 * unpadded: padded rows would compete for the experts' capacity. */
static size_t padded_inputs(const Model *m, size_t len)
{
    const size_t T = len - 1;
    if (m->s.n_routed_experts > 0 && m->s.capacity_factor > 0.0f) return T;
    const size_t step = T <= 64 ? 8 : 16, up = (T + step - 1) / step * step;
    return up < (size_t)m->max_seq ? up : (size_t)m->max_seq;
}

typedef struct { size_t T, seq; } InputsSeq;
static int by_inputs_desc(const void *pa, const void *pb)
{
    const InputsSeq *a = pa, *b = pb;
    if (a->T != b->T) return a->T > b->T ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void score_from_positions(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens,
                                 const size_t *from, float *const *logprob, uint32_t *const *argmax)
{
    const size_t C = (size_t)m->s.dim;
    size_t total = 0;
    for (size_t s = 0; s < n_seqs; s++)
        if (lens[s] >= 1 && from[s] + 1 < lens[s]) total += lens[s] - 1 - from[s];
    if (total == 0) return;
    for (size_t s = 0; s < n_seqs; s++)
        if (lens[s] < 1 || lens[s] > (size_t)m->max_seq + 1)
            die("model: sequence of %zu tokens (1 to %d fit)", lens[s], m->max_seq + 1);
    float *hidden = xmalloc(total * C * sizeof *hidden);
    uint32_t *targets = xmalloc(total * sizeof *targets);
    size_t *seq_of = xmalloc(total * sizeof *seq_of), *pos_of = xmalloc(total * sizeof *pos_of);
    bool *done = xcalloc(n_seqs, sizeof *done);
    size_t *batch = xmalloc((size_t)m->max_batch * sizeof *batch);
    size_t at = 0;
    /* First the families with a shared context, through the cache. */
    float *prefix = NULL, *rest = NULL;
    for (size_t first = 0; first < n_seqs; first++) {
        size_t P;
        const size_t k = share_family(m, n_seqs, ids, lens, done, first, &P);
        if (P == 0) continue;
        if (!prefix) {
            prefix = xmalloc((size_t)m->max_seq * C * sizeof *prefix);
            rest = xmalloc((size_t)m->max_seq * C * sizeof *rest);
        }
        m->be->cache_truncate(m->impl, 0);
        m->last_aux = m->be->cache_extend(m->impl, ids[first], (int)P, prefix, m->sink);
        for (size_t s = first; s < first + k; s++) {
            const size_t T = lens[s] - 1;
            m->be->cache_truncate(m->impl, (int)P);
            if (T > P) m->last_aux = m->be->cache_extend(m->impl, ids[s] + P, (int)(T - P), rest, m->sink);
            for (size_t t = from[s]; t < T; t++) {
                memcpy(hidden + at * C, t < P ? prefix + t * C : rest + (t - P) * C, C * sizeof *hidden);
                seq_of[at] = s;
                pos_of[at] = t;
                targets[at++] = ids[s][t + 1];
            }
            done[s] = true;
        }
        first += k - 1;
    }
    if (prefix) m->be->cache_truncate(m->impl, 0);
    free(prefix);
    free(rest);
    InputsSeq *order = xmalloc(n_seqs * sizeof *order);
    size_t n_order = 0;
    for (size_t s = 0; s < n_seqs; s++)
        if (!done[s] && lens[s] >= 2) order[n_order++] = (InputsSeq){ padded_inputs(m, lens[s]), s };
    qsort(order, n_order, sizeof *order, by_inputs_desc);
    for (size_t i = 0; i < n_order;) {
        const int T = (int)order[i].T;
        int B = 0;
        for (; i < n_order && order[i].T == (size_t)T && B < m->max_batch; i++) batch[B++] = order[i].seq;
        int n = 0;
        for (int b = 0; b < B; b++) {
            const size_t s = batch[b], Ts = lens[s] - 1;
            uint32_t *row = m->row_tokens + (size_t)b * T;
            memcpy(row, ids[s], Ts * sizeof(uint32_t));
            for (size_t t = Ts; t < (size_t)T; t++) row[t] = ids[s][Ts]; /* padding: any valid id */
            for (size_t t = from[s]; t < Ts; t++) {
                m->row_index[n++] = (int32_t)((size_t)b * T + t);
                seq_of[at] = s;
                pos_of[at] = t;
                targets[at++] = ids[s][t + 1];
            }
        }
        if (n == 0) continue;
        m->last_aux = m->be->forward_hidden(m->impl, m->row_tokens, B, T, m->row_index, n, hidden + (at - n) * C,
                                            m->sink);
    }
    free(order);
    float *loss = xmalloc(total * sizeof *loss);
    uint32_t *am = argmax ? xmalloc(total * sizeof *am) : NULL;
    m->be->head_loss(m->impl, hidden, targets, total, loss, am);
    for (size_t i = 0; i < total; i++) {
        logprob[seq_of[i]][pos_of[i]] = -loss[i];
        if (argmax) argmax[seq_of[i]][pos_of[i]] = am[i];
    }
    free(loss);
    free(am);
    free(batch);
    free(done);
    free(seq_of);
    free(pos_of);
    free(targets);
    free(hidden);
}

void model_score(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens,
                 float *const *logprob, uint32_t *const *argmax)
{
    score_all_positions(m, n_seqs, ids, lens, logprob, argmax);
}

size_t model_score_rows(const Model *m)
{
    return m->be->head_loss && m->be->head_rows > 0 ? (size_t)m->be->head_rows : 1;
}

void model_score_from(Model *m, size_t n_seqs, const uint32_t *const *ids, const size_t *lens, const size_t *from,
                      float *const *logprob, uint32_t *const *argmax)
{
    if (!m->be->forward_hidden || !m->be->head_loss) {
        /* A backend without the scoring halves: every position, then keep the asked ones. */
        float **lp = xcalloc(n_seqs ? n_seqs : 1, sizeof *lp);
        uint32_t **am = argmax ? xcalloc(n_seqs ? n_seqs : 1, sizeof *am) : NULL;
        for (size_t s = 0; s < n_seqs; s++) {
            lp[s] = xmalloc((lens[s] ? lens[s] : 1) * sizeof **lp);
            if (am) am[s] = xmalloc((lens[s] ? lens[s] : 1) * sizeof **am);
        }
        score_all_positions(m, n_seqs, ids, lens, lp, am);
        for (size_t s = 0; s < n_seqs; s++) {
            for (size_t t = from[s]; t + 1 < lens[s]; t++) {
                logprob[s][t] = lp[s][t];
                if (am) argmax[s][t] = am[s][t];
            }
            free(lp[s]);
            if (am) free(am[s]);
        }
        free(lp);
        free(am);
        return;
    }
    score_from_positions(m, n_seqs, ids, lens, from, logprob, argmax);
}

void model_next_logits(Model *m, const uint32_t *ids, size_t n, float *logits)
{
    if (n < 1 || n > (size_t)m->max_seq) die("model: context of %zu tokens (1 to %d fit)", n, m->max_seq);
    m->be->next_logits(m->impl, ids, (int)n, logits);
}

/* ---- incremental inference ---- */

bool model_has_cache(const Model *m) { return !m->training && m->be->cache_extend != NULL; }

static void need_cache(const Model *m)
{
    if (!model_has_cache(m))
        die("model: no key/value cache (%s backend, %s model)", m->be->name, m->training ? "training" : "inference");
}

size_t model_cache_len(const Model *m)
{
    need_cache(m);
    return (size_t)m->be->cache_len(m->impl);
}

void model_cache_truncate(Model *m, size_t len)
{
    need_cache(m);
    const size_t used = model_cache_len(m);
    if (len > used) die("model: cannot cut a cache of %zu positions to %zu", used, len);
    m->be->cache_truncate(m->impl, (int)len);
}

void model_cache_extend(Model *m, const uint32_t *ids, size_t n, float *logits_last)
{
    need_cache(m);
    const size_t used = model_cache_len(m);
    if (n < 1 || n > (size_t)m->max_seq - used)
        die("model: %zu more tokens do not fit the cache (%zu of %d positions used)", n, used, m->max_seq);
    if (!m->cache_hidden) m->cache_hidden = xmalloc((size_t)m->max_seq * m->s.dim * sizeof *m->cache_hidden);
    m->last_aux = m->be->cache_extend(m->impl, ids, (int)n, m->cache_hidden, m->sink);
    if (logits_last) m->be->head_logits(m->impl, m->cache_hidden + (n - 1) * (size_t)m->s.dim, 1, logits_last);
}

/* ---- provenance ---- */

size_t model_seq_len(const Model *m) { return (size_t)m->s.seq_len; }
uint32_t model_vocab_size(const Model *m) { return (uint32_t)m->s.vocab_size; }
uint64_t model_vocab_id(const Model *m) { return m->vocab_id; }
const char *model_fingerprint(const Model *m) { return m->fingerprint; }
int64_t model_step(const Model *m) { return m->step_of_checkpoint; }

void model_set_provenance(Model *m, uint64_t vocab_id, const char *fingerprint, int64_t step)
{
    m->vocab_id = vocab_id;
    snprintf(m->fingerprint, sizeof m->fingerprint, "%s", fingerprint ? fingerprint : "");
    m->step_of_checkpoint = step;
}

/* ---- MoE blocks: routing state and counters ---- */

int model_n_moe_layers(const Model *m) { return m->n_moe; }
int model_moe_layer(const Model *m, int i) { return i >= 0 && i < m->n_moe ? m->moe_layers[i] : -1; }

static int moe_index(const Model *m, int l)
{
    for (int i = 0; i < m->n_moe; i++)
        if (m->moe_layers[i] == l) return i;
    return -1;
}

const float *model_router_bias(const Model *m, int l)
{
    int i = moe_index(m, l);
    return i < 0 ? NULL : m->state + m->state_tensors[i].offset;
}

MoeStats *model_router_step_stats(Model *m, int l) { return l >= 0 && l < m->s.n_layers ? m->step[l] : NULL; }
MoeStats *model_router_window_stats(Model *m, int l) { return l >= 0 && l < m->s.n_layers ? m->window[l] : NULL; }

void model_router_after_step(Model *m, const MoeBiasUpdate *u, float rate_multiplier)
{
    for (int i = 0; i < m->n_moe; i++) {
        const int l = m->moe_layers[i];
        if (u->rate > 0)
            moe_bias_update(m->state + m->state_tensors[i].offset, m->s.n_routed_experts, m->step[l]->loads, u,
                            rate_multiplier);
        moe_stats_add(m->window[l], m->step[l]);
        moe_stats_reset(m->step[l]);
    }
    if (m->n_moe) m->be->set_routing(m->impl, m->state);
}

double model_router_grad_norm(const Model *m, int l) { return m->be->router_grad_norm(m->impl, l); }
const int32_t *model_router_choice(const Model *m, int l) { return m->be->routing_choice(m->impl, l); }
void model_set_router_sink(Model *m, MoeStats *const *sink) { m->sink = sink; }

void model_hold_routing(Model *m, bool on)
{
    if (!m->be->set_option(m->impl, BACKEND_HOLD_ROUTING, on) && on)
        die("model: backend %s cannot hold its routing", m->be->name);
}

void model_set_expert_exchange(Model *m, const ExpertExchange *ex)
{
    if (!m->n_moe) return;
    if (!m->be->set_expert_exchange) {
        if (ex) die("backend \"%s\": expert_parallel is not in the %s backend; use backend = \"cpu\"", m->be->name, m->be->name);
        return;
    }
    m->be->set_expert_exchange(m->impl, ex);
}

int model_n_state_tensors(const Model *m) { return m->n_state; }
const ParamTensor *model_state_tensor(const Model *m, int i) { return i >= 0 && i < m->n_state ? &m->state_tensors[i] : NULL; }
const float *model_state(const Model *m) { return m->state; }
size_t model_n_state_floats(const Model *m) { return m->lay.n_state_floats; }

void model_set_state(Model *m, const float *src)
{
    if (m->lay.n_state_floats) memcpy(m->state, src, m->lay.n_state_floats * sizeof(float));
    m->be->set_routing(m->impl, m->state);
}
