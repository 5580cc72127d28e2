/* moe_reference.c: the MoE layer as a plain per-token loop, llm.c style: for each token,
 * compute its router scores, choose its experts, and run each chosen expert's SwiGLU
 * directly with dot products. Slow and obvious on purpose: the grouped path in moe.c is
 * tested against it (forward and backward), and it is tested against PyTorch. It shares
 * no code with moe.c or moe_route.c. */
#include "moe.h"

#include "base/error.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Affinities of one token: s[E] from x[D]. */
static void token_scores(const MoeConfig *c, const MoeParams *p, const float *xt, float *s)
{
    const int E = c->n_experts, D = c->dim;
    for (int i = 0; i < E; i++) s[i] = dot(p->router_w + (size_t)i * D, xt, D);
    if (c->score == MOE_SCORE_SIGMOID) {
        for (int i = 0; i < E; i++) s[i] = sigmoidf(s[i]);
    } else {
        float mx = s[0], sum = 0.0f;
        for (int i = 1; i < E; i++) mx = fmaxf(mx, s[i]);
        for (int i = 0; i < E; i++) sum += (s[i] = expf(s[i] - mx));
        for (int i = 0; i < E; i++) s[i] /= sum;
    }
}

/* The router's logits of one token and their logsumexp (router z-loss). */
static float token_logit_lse(const MoeConfig *c, const MoeParams *p, const float *xt, float *l)
{
    const int E = c->n_experts, D = c->dim;
    for (int i = 0; i < E; i++) l[i] = dot(p->router_w + (size_t)i * D, xt, D);
    float mx = l[0];
    double sum = 0.0;
    for (int i = 1; i < E; i++) mx = fmaxf(mx, l[i]);
    for (int i = 0; i < E; i++) sum += exp((double)l[i] - mx);
    return mx + (float)log(sum);
}

float moe_reference_router_z(const MoeConfig *c, const MoeParams *p, const float *x, int T)
{
    if (!(c->router_z_loss > 0)) return 0.0f;
    float *l = xmalloc((size_t)c->n_experts * sizeof *l);
    double acc = 0.0;
    for (int t = 0; t < T; t++) {
        double lse = token_logit_lse(c, p, x + (size_t)t * c->dim, l);
        acc += lse * lse;
    }
    free(l);
    return (float)(c->router_z_loss * acc / T);
}

/* Is a strictly better than b? Any number beats NaN; equal is not better. */
static bool beats(float a, float b) { return a > b || (isnan(b) && !isnan(a)); }

/* Group-limited routing (moe.h): allowed[i] = 1 for the experts of the token's
 * topk_groups best groups, a group's score being the sum of its two largest s + b
 * (one expert: its s + b), found by two arg-max scans; the groups are taken by
 * repeated arg-max, ascending scan, so the lower group index wins a tie. */
static void token_allowed(const MoeConfig *c, const float *bias, const float *s, uint8_t *allowed)
{
    const int E = c->n_experts, G = c->n_groups, per = E / G;
    float *score = xmalloc((size_t)G * sizeof *score);
    uint8_t *taken = xcalloc((size_t)G, 1);
    for (int g = 0; g < G; g++) {
        int first = -1, second = -1;
        for (int i = g * per; i < (g + 1) * per; i++)
            if (first < 0 || beats(s[i] + bias[i], s[first] + bias[first])) first = i;
        for (int i = g * per; i < (g + 1) * per; i++)
            if (i != first && (second < 0 || beats(s[i] + bias[i], s[second] + bias[second]))) second = i;
        score[g] = s[first] + bias[first];
        if (second >= 0) score[g] += s[second] + bias[second];
    }
    memset(allowed, 0, (size_t)E);
    for (int m = 0; m < c->topk_groups; m++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (!taken[g] && (best < 0 || beats(score[g], score[best]))) best = g;
        taken[best] = 1;
        for (int i = best * per; i < (best + 1) * per; i++) allowed[i] = 1;
    }
    free(taken);
    free(score);
}

/* Top-K by repeated arg-max over the experts not yet taken (and, with groups, allowed);
 * a scan in ascending index with a strict comparison makes the lower index win a tie. */
static void token_choose(const MoeConfig *c, const float *bias, const float *s, int32_t *chosen)
{
    const int E = c->n_experts;
    uint8_t *allowed = NULL;
    if (c->n_groups > 1) {
        float *zero = bias ? NULL : xcalloc((size_t)E, sizeof *zero);
        allowed = xmalloc((size_t)E);
        token_allowed(c, bias ? bias : zero, s, allowed);
        free(zero);
    }
    for (int k = 0; k < c->top_k; k++) {
        int best = -1;
        float best_v = 0.0f;
        for (int i = 0; i < E; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= chosen[j] == i;
            if (taken || (allowed && !allowed[i])) continue;
            float v = s[i] + (bias ? bias[i] : 0.0f);
            if (best < 0 || v > best_v || (isnan(best_v) && !isnan(v))) {
                best = i;
                best_v = v;
            }
        }
        chosen[k] = best;
    }
    free(allowed);
}

static void token_gates(const MoeConfig *c, const float *s, const int32_t *chosen, float *g)
{
    float sum = 0.0f;
    for (int k = 0; k < c->top_k; k++) sum += s[chosen[k]];
    for (int k = 0; k < c->top_k; k++)
        g[k] = (c->score == MOE_SCORE_SIGMOID ? s[chosen[k]] / sum : s[chosen[k]]) * c->route_scale;
}

/* Drops in token order: each expert serves its first `capacity` assignments. */
static void mark_dropped(const MoeConfig *c, int T, const int32_t *experts, uint8_t *dropped)
{
    const int E = c->n_experts, K = c->top_k;
    int64_t cap = INT64_MAX;
    if (c->capacity_factor > 0)
        cap = (int64_t)ceil((double)c->capacity_factor * ((double)T * K) / E);
    int64_t *used = xcalloc((size_t)E, sizeof *used);
    for (int64_t a = 0; a < (int64_t)T * K; a++) {
        int e = experts[a];
        dropped[a] = used[e] >= cap;
        if (!dropped[a]) used[e]++;
    }
    free(used);
}

/* Sequence-wise aux loss counts: counts[q][i] = tokens of sequence q that chose i. */
static int seq_count(const MoeConfig *c, int T, const int32_t *experts, int32_t **counts_out)
{
    const int E = c->n_experts, K = c->top_k;
    const int nseq = c->seq_len > 0 ? T / c->seq_len : 1, S = T / nseq;
    int32_t *counts = xcalloc((size_t)nseq * E, sizeof *counts);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) counts[(size_t)(t / S) * E + experts[(size_t)t * K + k]]++;
    *counts_out = counts;
    return nseq;
}

/* One expert's FFN on one token: h1, h3, act [F] and out [D] (relu2: no h3). */
static void expert_forward(const MoeConfig *c, const MoeParams *p, int e, const float *xt,
                           float *h1, float *h3, float *act, float *out)
{
    const int D = c->dim, F = c->inter_dim;
    const float *w1 = p->w1 + (size_t)e * F * D, *w3 = p->w3 ? p->w3 + (size_t)e * F * D : NULL;
    const float *w2 = p->w2 + (size_t)e * D * F;
    for (int f = 0; f < F; f++) {
        h1[f] = dot(w1 + (size_t)f * D, xt, D);
        h3[f] = w3 ? dot(w3 + (size_t)f * D, xt, D) : 0.0f;
        const float r = h1[f] > 0.0f ? h1[f] : 0.0f;
        switch (c->act) {
        case FFN_ACT_SWIGLU: act[f] = h1[f] * sigmoidf(h1[f]) * h3[f]; break;
        case FFN_ACT_RELU2: act[f] = r * r; break;
        case FFN_ACT_SQUARED_REGLU: act[f] = r * r * h3[f]; break;
        }
    }
    for (int d = 0; d < D; d++) out[d] = dot(w2 + (size_t)d * F, act, F);
}

float moe_reference_forward(const MoeConfig *c, const MoeParams *p, const float *x, int T,
                            const int32_t *experts_given, float *y, int32_t *experts_out,
                            float *gates_out, uint8_t *dropped_out, MoeStats *stats)
{
    if (c->expert_precision != 0 || c->router_bf16)
        die("moe: the reference loops are fp32 only (expert_precision, router_precision)");
    const int E = c->n_experts, K = c->top_k, D = c->dim, F = c->inter_dim;
    float *s = xmalloc((size_t)T * E * sizeof *s);
    int32_t *experts = xmalloc((size_t)T * K * sizeof *experts);
    float *gates = xmalloc((size_t)T * K * sizeof *gates);
    uint8_t *dropped = xmalloc((size_t)T * K);
    float *h1 = xmalloc((size_t)F * sizeof *h1), *h3 = xmalloc((size_t)F * sizeof *h3);
    float *act = xmalloc((size_t)F * sizeof *act), *out = xmalloc((size_t)D * sizeof *out);

    for (int t = 0; t < T; t++) {
        token_scores(c, p, x + (size_t)t * D, s + (size_t)t * E);
        if (experts_given) memcpy(experts + (size_t)t * K, experts_given + (size_t)t * K, (size_t)K * sizeof *experts);
        else token_choose(c, p->bias, s + (size_t)t * E, experts + (size_t)t * K);
        token_gates(c, s + (size_t)t * E, experts + (size_t)t * K, gates + (size_t)t * K);
    }
    mark_dropped(c, T, experts, dropped);

    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        float *yt = y + (size_t)t * D;
        for (int d = 0; d < D; d++) yt[d] = 0.0f;
        for (int k = 0; k < K; k++) {
            const size_t a = (size_t)t * K + k;
            if (dropped[a]) continue;
            expert_forward(c, p, experts[a], xt, h1, h3, act, out);
            const float w = c->output_gain * gates[a];
            for (int d = 0; d < D; d++) yt[d] += w * out[d];
        }
    }

    /* aux = alpha * mean_q sum_i f_i P_i, f_i = E c_i / (K S), P_i = mean_t s'_{i,t} */
    double aux = 0.0;
    if (c->aux_loss_alpha > 0) {
        int32_t *counts;
        const int nseq = seq_count(c, T, experts, &counts), S = T / nseq;
        for (int q = 0; q < nseq; q++) {
            double lq = 0.0;
            for (int i = 0; i < E; i++) {
                double f = (double)E * counts[(size_t)q * E + i] / ((double)K * S), P = 0.0;
                for (int t = q * S; t < (q + 1) * S; t++) {
                    double z = 0.0;
                    for (int j = 0; j < E; j++) z += s[(size_t)t * E + j];
                    P += s[(size_t)t * E + i] / (c->score == MOE_SCORE_SIGMOID ? z : 1.0);
                }
                lq += f * P / S;
            }
            aux += lq;
        }
        aux = c->aux_loss_alpha * aux / nseq;
        free(counts);
    }

    if (stats) {
        for (int64_t a = 0; a < (int64_t)T * K; a++) {
            stats->loads[experts[a]]++;
            stats->dropped += dropped[a];
        }
        for (int t = 0; t < T; t++) {
            float mx = s[(size_t)t * E];
            for (int i = 1; i < E; i++) mx = fmaxf(mx, s[(size_t)t * E + i]);
            stats->top1_affinity_sum += mx;
        }
        stats->tokens += T;
        stats->assignments += (int64_t)T * K;
        stats->aux_loss_sum += (float)aux;
    }
    if (experts_out) memcpy(experts_out, experts, (size_t)T * K * sizeof *experts);
    if (gates_out) memcpy(gates_out, gates, (size_t)T * K * sizeof *gates);
    if (dropped_out) memcpy(dropped_out, dropped, (size_t)T * K);
    free(s); free(experts); free(gates); free(dropped);
    free(h1); free(h3); free(act); free(out);
    return (float)aux;
}

void moe_reference_backward(const MoeConfig *c, const MoeParams *p, const float *x, int T,
                            const int32_t *experts, const float *dy, float aux_grad, float *dx,
                            const MoeGrads *g)
{
    if (c->expert_precision != 0 || c->router_bf16)
        die("moe: the reference loops are fp32 only (expert_precision, router_precision)");
    const int E = c->n_experts, K = c->top_k, D = c->dim, F = c->inter_dim;
    uint8_t *dropped = xmalloc((size_t)T * K);
    mark_dropped(c, T, experts, dropped);
    int32_t *counts = NULL;
    const int nseq = c->aux_loss_alpha > 0 ? seq_count(c, T, experts, &counts) : 1, S = T / nseq;
    float *s = xmalloc((size_t)E * sizeof *s), *ds = xmalloc((size_t)E * sizeof *ds);
    float *gates = xmalloc((size_t)K * sizeof *gates), *dgates = xmalloc((size_t)K * sizeof *dgates);
    float *h1 = xmalloc((size_t)F * sizeof *h1), *h3 = xmalloc((size_t)F * sizeof *h3);
    float *act = xmalloc((size_t)F * sizeof *act), *out = xmalloc((size_t)D * sizeof *out);
    float *dout = xmalloc((size_t)D * sizeof *dout);
    float *zl = xmalloc((size_t)E * sizeof *zl);

    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D, *dyt = dy + (size_t)t * D;
        const int32_t *chosen = experts + (size_t)t * K;
        float *dxt = dx + (size_t)t * D;
        token_scores(c, p, xt, s);
        token_gates(c, s, chosen, gates);

        /* the experts: y += gain g_k out_k */
        for (int k = 0; k < K; k++) {
            dgates[k] = 0.0f;
            if (dropped[(size_t)t * K + k]) continue;
            const int e = chosen[k];
            const float *w1 = p->w1 + (size_t)e * F * D, *w3 = p->w3 ? p->w3 + (size_t)e * F * D : NULL;
            const float *w2 = p->w2 + (size_t)e * D * F;
            float *gw1 = g->w1 + (size_t)e * F * D, *gw3 = g->w3 ? g->w3 + (size_t)e * F * D : NULL;
            float *gw2 = g->w2 + (size_t)e * D * F;
            expert_forward(c, p, e, xt, h1, h3, act, out);
            dgates[k] = c->output_gain * dot(dyt, out, D);
            for (int d = 0; d < D; d++) dout[d] = c->output_gain * gates[k] * dyt[d];
            for (int f = 0; f < F; f++) {
                float dact = 0.0f;
                for (int d = 0; d < D; d++) {
                    dact += dout[d] * w2[(size_t)d * F + f];
                    gw2[(size_t)d * F + f] += dout[d] * act[f];
                }
                float dh1 = 0.0f, dh3 = 0.0f;
                const float r = h1[f] > 0.0f ? h1[f] : 0.0f;
                switch (c->act) {
                case FFN_ACT_SWIGLU: {
                    float sig = sigmoidf(h1[f]);
                    dh1 = dact * h3[f] * sig * (1.0f + h1[f] * (1.0f - sig));
                    dh3 = dact * h1[f] * sig;
                    break;
                }
                case FFN_ACT_RELU2: dh1 = dact * 2.0f * r; break;
                case FFN_ACT_SQUARED_REGLU:
                    dh1 = dact * h3[f] * 2.0f * r;
                    dh3 = dact * r * r;
                    break;
                }
                if (!w3) {
                    for (int d = 0; d < D; d++) {
                        gw1[(size_t)f * D + d] += dh1 * xt[d];
                        dxt[d] += dh1 * w1[(size_t)f * D + d];
                    }
                    continue;
                }
                for (int d = 0; d < D; d++) {
                    gw1[(size_t)f * D + d] += dh1 * xt[d];
                    gw3[(size_t)f * D + d] += dh3 * xt[d];
                    dxt[d] += dh1 * w1[(size_t)f * D + d] + dh3 * w3[(size_t)f * D + d];
                }
            }
        }

        /* the gates: d s of the chosen experts */
        for (int i = 0; i < E; i++) ds[i] = 0.0f;
        if (c->score == MOE_SCORE_SIGMOID) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++) sum += s[chosen[k]];
            for (int k = 0; k < K; k++)      /* g_k = rs s_k / sum */
                for (int j = 0; j < K; j++) {
                    float dgk_dsj = c->route_scale * ((j == k ? 1.0f : 0.0f) / sum - s[chosen[k]] / (sum * sum));
                    ds[chosen[j]] += dgates[k] * dgk_dsj;
                }
        } else {
            for (int k = 0; k < K; k++) ds[chosen[k]] += dgates[k] * c->route_scale;
        }

        /* the aux loss: d aux / d s'_{i,t} = alpha/nseq * f_i / S */
        if (c->aux_loss_alpha > 0) {
            const int32_t *cq = counts + (size_t)(t / S) * E;
            double z = 0.0;
            for (int j = 0; j < E; j++) z += s[j];
            for (int i = 0; i < E; i++) {
                double dsp = (double)aux_grad * c->aux_loss_alpha / nseq * ((double)E * cq[i] / ((double)K * S)) / S;
                if (c->score == MOE_SCORE_SIGMOID) {
                    /* s'_i = s_i / z: d s'_i / d s_j = (i == j) / z - s_i / z^2 */
                    for (int j = 0; j < E; j++) ds[j] += (float)(dsp * ((i == j ? 1.0 : 0.0) / z - s[i] / (z * z)));
                } else {
                    ds[i] += (float)dsp;
                }
            }
        }

        /* the router z-loss: d / d l_i of aux_grad c mean_t lse_t^2 */
        float zlse = 0.0f;
        if (c->router_z_loss > 0) zlse = token_logit_lse(c, p, xt, zl);

        /* through sigmoid / softmax to the logits, then to W_r and x */
        for (int i = 0; i < E; i++) {
            float dl;
            if (c->score == MOE_SCORE_SIGMOID) {
                dl = ds[i] * s[i] * (1.0f - s[i]);
            } else {
                dl = 0.0f;  /* d s_j / d l_i = s_j ((i == j) - s_i) */
                for (int j = 0; j < E; j++) dl += ds[j] * s[j] * ((i == j ? 1.0f : 0.0f) - s[i]);
            }
            if (c->router_z_loss > 0)
                dl += aux_grad * c->router_z_loss * 2.0f * zlse / (float)T * expf(zl[i] - zlse);
            const float *wr = p->router_w + (size_t)i * D;
            float *gwr = g->router_w + (size_t)i * D;
            for (int d = 0; d < D; d++) {
                gwr[d] += dl * xt[d];
                dxt[d] += dl * wr[d];
            }
        }
    }
    free(dropped); free(counts); free(s); free(ds); free(gates); free(dgates);
    free(h1); free(h3); free(act); free(out); free(dout); free(zl);
}
