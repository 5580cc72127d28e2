/* moe.h: the routed-expert half of a DeepSeek-V3-style MoE block on the CPU (fp32).
 *
 * INTEGRATION NOTE (for the model; read this first)
 * -------------------------------------------------
 * One MoE block's FFN is   ffn(xn) = shared(xn) + moe(xn)   where xn is the output of the
 * block's second RMSNorm. This file is moe(xn) only: router, top-K, grouped routed
 * experts, gate-weighted sum. Shared experts are a plain dense SwiGLU the model adds.
 *
 *   setup (once per MoE layer; the workspace holds that layer's saved activations):
 *     MoeConfig mc = { .dim = dim, .n_experts = n_routed_experts,
 *                      .top_k = n_activated_experts, .inter_dim = moe_inter_dim,
 *                      .score = router_score is "softmax" ? MOE_SCORE_SOFTMAX : MOE_SCORE_SIGMOID,
 *                      .route_scale = route_scale, .output_gain = expert_output_gain,
 *                      .capacity_factor = 0 (dropless) or the ablation's factor,
 *                      .aux_loss_alpha = aux_loss_alpha, .seq_len = seq_len };
 *     const char *why = moe_config_check(&mc);   // NULL or a reason naming the field
 *     MoeWorkspace *ws = moe_workspace_create(&mc, micro_batch * seq_len);
 *     MoeStats *step = moe_stats_create(E), *window = moe_stats_create(E);
 *   parameters (fp32, row-major, [out, in] like torch.nn.Linear; contiguous per expert):
 *     router_w [E, D]  (router group: own lr, no weight decay; kept fp32 always)
 *     bias     [E]     (NOT a trainable parameter: no gradient, no optimizer state;
 *                       it IS model state: checkpoint it)
 *     w1 [E, F, D] (gate), w3 [E, F, D] (up), w2 [E, D, F] (down)   (expert group)
 *
 *   each micro-batch, forward (T = micro_batch * seq_len tokens, xn [T, D]):
 *     float aux = moe_forward(ws, &params, xn, T, y, step, 0);   // y [T, D] is WRITTEN
 *     ffn_out = shared(xn) + y;   loss_total += aux (aux is 0 when aux_loss_alpha == 0)
 *   Validation/eval forwards pass stats = NULL so they do not count as training loads.
 *
 *   backward (after that layer's forward, before its next one; llm.c convention:
 *   dx and all weight gradients are ACCUMULATED, so zero them where the model zeroes
 *   its gradients):
 *     moe_backward(ws, &params, xn, dy, aux_grad, dxn, &grads);
 *   with xn the same input as the forward, dy = d objective / d y, and aux_grad =
 *   d objective / d aux (the same factor the cross-entropy gets, e.g. 1/grad_accum).
 *
 *   after each optimizer step (aux-loss-free balancing):
 *     moe_bias_update(bias, E, step->loads, &(MoeBiasUpdate){ router_bias_update_rate,
 *                     subtract_mean, max_abs }, lr_schedule_factor);  // 1 = no schedule
 *     moe_stats_add(window, step); moe_stats_reset(step);
 *   every log interval, the `router` metric line comes from `window` (loads, dropped,
 *   top1_affinity_sum / tokens) and `bias`; then moe_stats_reset(window). With the
 *   gradient-norm flag on, "router_grad_norm" = moe_router_grad_norm(grads.router_w, E, D)
 *   taken after the last micro-batch's backward (the whole step's router gradient).
 *
 *   The loads are uint64 so router_stats_compute(window->loads, bias, E, &rs) takes
 *   them as they are; mean top-1 affinity = top1_affinity_sum / tokens; drop_frac =
 *   dropped / assignments.
 *
 *   checkpoint: bias (and, to resume mid-window, the window's counters).
 *
 *   threads: the op runs its sgemm calls single-threaded on fixed tiles and spreads the
 *   tiles with OpenMP (same scheme as matmul.h's gemm_grid); if OpenBLAS was left
 *   multi-threaded it sets it to 1 for the call and restores it. Any OMP_NUM_THREADS
 *   gives the same bits.
 *
 * THE MATH (the PyTorch oracle tests/oracle/moe_reference.py says the same in torch)
 *   logits = x W_r^T; s = sigmoid(logits) (or softmax over the E experts)
 *   top-K experts per token on s + b; TIES: the lower expert index wins, so the choice
 *     never depends on threads or sort algorithms. The K chosen are listed in
 *     descending s + b (ties: ascending index); this order fixes the summation order.
 *   GROUP-LIMITED ROUTING (n_groups G > 1; DeepSeek-V3's n_expert_groups/n_limited_groups):
 *     the E experts form G contiguous groups of E/G (group g = experts [g E/G, (g+1) E/G));
 *     per token, group g's score = the sum of its two largest s + b (a group of one
 *     expert: its single s + b), as DeepSeek-V3's model.py does when the bias is present
 *     (ours always is, zero or not); the M best groups are kept (ties: the lower group
 *     index), the other groups' experts are excluded, and the top-K above is taken over
 *     the kept experts only (same order and ties). Requires E % G == 0 and M E/G >= K.
 *     The gates, the loads and the aux loss are computed from the choice as without it.
 *     (Groups of one expert, G = E, change nothing: the M >= K best singletons hold
 *     the top K.) G <= 1 runs the original choice, bit for bit.
 *   gates g_k = route_scale * s_{e_k} / sum_j s_{e_j} (sigmoid: normalized over the K),
 *     g_k = route_scale * s_{e_k} (softmax: NOT renormalized over the K, the DeepSeek-V2
 *     and DeepSeek-V3 reference convention: the softmax already sums to 1 over all E).
 *     The bias b is used only for the choice, never in the gates.
 *   y = output_gain * sum_k g_k * W2_e (silu(W1_e x) * (W3_e x)), e = e_k; with
 *     act = relu2: W2_e relu(W1_e x)^2 (no W3); squared_reglu: W2_e (relu(W1_e x)^2 * (W3_e x)).
 *   Capacity (capacity_factor cf > 0): capacity = ceil(cf * T * K / E) assignments per
 *     expert; assignments are served in token order (t, then k), so the LATEST tokens
 *     of an overfull expert are dropped. A dropped assignment adds nothing to y, the
 *     other gates of that token are NOT renormalized (its s stays in the sigmoid
 *     normalization), and it still counts in the loads (the router chose it).
 *   Auxiliary balance loss (DeepSeek-V3's complementary sequence-wise loss), alpha > 0:
 *     per sequence of S = seq_len tokens (seq_len 0: the whole call is one sequence),
 *     f_i = E / (K S) * #{tokens of the sequence that chose i}  (constant, no gradient;
 *       "chose" is the actual choice on s + b, drops not subtracted),
 *     P_i = (1/S) sum_t s'_{i,t},  s' = s / sum_j s_j (sigmoid; softmax: s' = s),
 *     aux = alpha * mean over sequences of sum_i f_i P_i.
 *   Router z-loss (router_z_loss c > 0; ST-MoE, Zoph et al. 2022), for either score:
 *     zl = c * mean over the call's T tokens of lse_t^2,  lse_t = log sum_i e^(logits_{t,i})
 *     (the router's logits before sigmoid or softmax: it keeps them small, away from
 *     where the sigmoid saturates or the softmax turns one-hot). Its weight in the
 *     objective is aux_grad, like the aux loss: d zl / d logits_{t,i} = c 2 lse_t / T
 *     softmax(logits_t)_i.
 *   Backward holds the top-K choice (and so the drops and f) fixed; the gradient reaches
 *   x and W_r through the experts, the gates (normalization, sigmoid/softmax) and aux.
 *
 * EMULATED PRECISION (expert_precision != fp32; the formats and scales: quant/quant.h)
 *   Both operands of each of an expert's three products (x W1_e^T, x W3_e^T, act W2_e^T)
 *   are quantize-dequantized, Q(.), along the reduction dimension (the rows of x, act
 *   and of each W as stored, [out, in]) before the fp32 product; the per-tensor scales
 *   (fp8_e4m3, nvfp4) are per expert: one for each W_e, one for the expert's whole
 *   group of rows of x, one for its rows of act. The SwiGLU and everything else stay
 *   fp32. The backward is straight-through: Q's Jacobian taken as the identity, so the
 *   gradients are the fp32 gradients OF THE PRODUCTS THE FORWARD COMPUTED, i.e. with the
 *   dequantized operands Q(x), Q(W), Q(act) (what autograd gives for x + (Q(x) - x)
 *   .detach()); they land on the fp32 master weights and inputs unquantized.
 *   router_bf16: logits = bf16(x) bf16(W_r)^T, the backward likewise straight-through
 *   with the rounded operands. fp32 (0) runs the original fp32 path, bit for bit.
 *
 * THE COMPUTATION (grouped, not per token): count the assignments of each expert, a
 * stable counting sort by expert gives each kept assignment a row in the permuted
 * buffers (rows of one expert are contiguous, in token order), gather the inputs, then
 * per expert one sgemm each for W1, W3 and W2 over its whole group, and scatter back
 * weighted by the gates in the fixed k order. moe_reference.c holds the readable
 * per-token loop the tests hold this against. Results are bit-identical for any thread
 * count: threads split experts or tokens, never a sum.
 */
#ifndef NMOE_KERNELS_CPU_MOE_H
#define NMOE_KERNELS_CPU_MOE_H

#include "model/expert_exchange.h"
#include "model/ffn_activation.h"
#include "model/routing.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { MOE_SCORE_SIGMOID = 0, MOE_SCORE_SOFTMAX = 1 } MoeScore;

typedef struct {
    int dim;               /* D: model width */
    int n_experts;         /* E: routed experts */
    int top_k;             /* K: experts per token, 1 <= K <= E */
    int inter_dim;         /* F: hidden size of each routed expert (moe_inter_dim) */
    MoeScore score;        /* affinity function */
    float route_scale;     /* multiplies the gate weights */
    float output_gain;     /* multiplies the routed output (expert_output_gain) */
    float capacity_factor; /* 0 = dropless; > 0: capacity = ceil(cf * T*K/E) */
    float aux_loss_alpha;  /* sequence-wise balance loss weight; 0 = off */
    int seq_len;           /* S: tokens per sequence for the aux loss; 0 = whole call */
    int expert_precision;  /* QuantFormat (quant/quant.h) of the experts' forward products; 0 = fp32 */
    int router_bf16;       /* 1: the router's product on bf16-rounded weights and inputs */
    FfnActivation act;     /* the experts' activation (0 = swiglu; relu2: w3 unused, NULL) */
    float router_z_loss;   /* router z-loss coefficient (ST-MoE); 0 = off */
    int n_groups;          /* G: expert groups for group-limited routing; 0 or 1 = off */
    int topk_groups;       /* M: groups a token may route to, 1 <= M <= G (ignored when off) */
} MoeConfig;

typedef struct {
    const float *router_w; /* [E, D] */
    const float *bias;     /* [E] routing bias (choice only) */
    const float *w1;       /* [E, F, D] gate projection */
    const float *w3;       /* [E, F, D] up projection (NULL for relu2) */
    const float *w2;       /* [E, D, F] down projection */
} MoeParams;

/* Gradients, same shapes as the parameters; backward ADDS into them. */
typedef struct {
    float *router_w;
    float *w1;
    float *w3;
    float *w2;
} MoeGrads;


typedef struct MoeWorkspace MoeWorkspace;

/* NULL if the config is usable, else a static reason naming the field. */
const char *moe_config_check(const MoeConfig *cfg);

/* All buffers for calls of up to max_tokens tokens, allocated once (dies if the config
 * is invalid). One per MoE layer: it keeps the forward's state for the backward. */
MoeWorkspace *moe_workspace_create(const MoeConfig *cfg, int max_tokens);
void moe_workspace_free(MoeWorkspace *ws);
size_t moe_workspace_bytes(const MoeWorkspace *ws);
const MoeConfig *moe_workspace_config(const MoeWorkspace *ws);

/* Flags for moe_forward. */
enum {
    /* Reuse the top-K choice already in the workspace (from the previous forward of the
     * same T, or moe_set_routing) instead of choosing on s + b: finite-difference
     * checks and oracle comparisons hold the discrete choice fixed this way. */
    MOE_REUSE_ROUTING = 1u << 0,
};

/* y [T, D] = moe(x [T, D]); returns the aux loss (0 when alpha == 0). stats may be NULL;
 * otherwise this call's loads, drops, top-1 affinity and aux loss are added to it.
 * T <= max_tokens; with alpha > 0 and seq_len > 0, T must be a multiple of seq_len. */
float moe_forward(MoeWorkspace *ws, const MoeParams *p, const float *x, int T, float *y,
                  MoeStats *stats, unsigned flags);

/* Backward of the last moe_forward on ws (same p and x). Adds into dx [T, D] and g.
 * aux_grad = d objective / d aux (ignored when alpha == 0). */
void moe_backward(MoeWorkspace *ws, const MoeParams *p, const float *x, const float *dy,
                  float aux_grad, float *dx, const MoeGrads *g);

/* The last forward's routing, [T, K] row-major each: chosen experts (in the order
 * above), gate weights (route_scale included, output_gain not), and 1 where that
 * assignment was dropped by the capacity limit. Valid until the next forward. */
const int32_t *moe_routing_experts(const MoeWorkspace *ws);
const float *moe_routing_gates(const MoeWorkspace *ws);
const uint8_t *moe_routing_dropped(const MoeWorkspace *ws);
/* Install a choice [T, K] (each row K distinct experts) for a MOE_REUSE_ROUTING forward. */
void moe_set_routing(MoeWorkspace *ws, int T, const int32_t *experts);

/* Expert parallel (model/expert_exchange.h): from the next forward on, this rank computes
 * only its group share of the experts, for the tokens of every rank of the group, and
 * the others compute the rest of this rank's tokens; the results and gradients are the
 * same floats as without (moe.c "expert parallel"). Every rank of the group must then
 * call forward and backward in lockstep. ex must outlive its use; NULL: local again.
 * Dies unless ex->size >= 2 divides n_experts and expert_precision is fp32. */
void moe_set_exchange(MoeWorkspace *ws, const ExpertExchange *ex);

/* The router z-loss value of the last moe_forward (0 when router_z_loss is 0). */
float moe_router_z_value(const MoeWorkspace *ws);

/* L2 norm of a router gradient [E, D] (double accumulation, fixed order). */
double moe_router_grad_norm(const float *d_router_w, int n_experts, int dim);

/* The readable reference (moe_reference.c): a per-token loop, computing each chosen
 * expert's SwiGLU directly, allocation allowed. The tests hold the grouped path to it.
 * experts_given: [T, K] choice to use, or NULL to choose on s + b. Outputs may be NULL
 * except y. Backward recomputes the forward and ADDS into dx and g like moe_backward. */
float moe_reference_forward(const MoeConfig *cfg, const MoeParams *p, const float *x, int T,
                            const int32_t *experts_given, float *y, int32_t *experts_out,
                            float *gates_out, uint8_t *dropped_out, MoeStats *stats);
void moe_reference_backward(const MoeConfig *cfg, const MoeParams *p, const float *x, int T,
                            const int32_t *experts, const float *dy, float aux_grad, float *dx,
                            const MoeGrads *g);
/* The router z-loss value of x (0 when router_z_loss is 0); moe_reference_backward adds
 * its gradient, weighted by aux_grad. */
float moe_reference_router_z(const MoeConfig *cfg, const MoeParams *p, const float *x, int T);

#endif
