/* moe_route.c: router affinities, top-K choice, gate weights and the sequence-wise aux
 * loss, forward and backward (see moe.h for the math). Loops over tokens run in
 * parallel; every output element is computed by one thread in a fixed order, so the
 * results do not depend on the thread count. */
#include "moe_route.h"

#include <math.h>
#include <string.h>

void moe_route_scores(MoeScore score, const float *logits, int T, int E, float *s)
{
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * E;
        float *o = s + (size_t)t * E;
        if (score == MOE_SCORE_SIGMOID) {
            for (int i = 0; i < E; i++) o[i] = 1.0f / (1.0f + expf(-l[i]));
        } else {
            float mx = l[0];
            for (int i = 1; i < E; i++) mx = l[i] > mx ? l[i] : mx;
            float sum = 0.0f;
            for (int i = 0; i < E; i++) {
                o[i] = expf(l[i] - mx);
                sum += o[i];
            }
            for (int i = 0; i < E; i++) o[i] /= sum;
        }
    }
}

/* Is a strictly better than b for the choice? Equal values are not (so the expert seen
 * first, the lower index, keeps its place), and any number beats NaN. */
static int choice_better(float a, float b)
{
    return a > b || (isnan(b) && !isnan(a));
}

void moe_route_topk(const float *s, const float *bias, int T, int E, int K, int32_t *experts)
{
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *st = s + (size_t)t * E;
        int32_t *chosen = experts + (size_t)t * K;
        /* Insertion into a sorted list of at most K; the key of a listed expert is
         * recomputed from s and bias rather than kept, so no scratch is needed. */
        int n = 0;
        for (int i = 0; i < E; i++) {
            float v = st[i] + (bias ? bias[i] : 0.0f);
            int j;
            if (n < K) {
                j = n++;
            } else {
                int last = chosen[K - 1];
                if (!choice_better(v, st[last] + (bias ? bias[last] : 0.0f))) continue;
                j = K - 1;
            }
            while (j > 0) {
                int prev = chosen[j - 1];
                if (!choice_better(v, st[prev] + (bias ? bias[prev] : 0.0f))) break;
                chosen[j] = prev;
                j--;
            }
            chosen[j] = i;
        }
    }
}

void moe_route_group_limit(const float *s, const float *bias, int T, int E, int n_groups,
                           int topk_groups, float *group_scores, int32_t *group_chosen, float *keys)
{
    const int G = n_groups, M = topk_groups, per = E / G;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *st = s + (size_t)t * E;
        float *gs = group_scores + (size_t)t * G, *key = keys + (size_t)t * E;
        int32_t *kept = group_chosen + (size_t)t * M;
        /* Each group's two largest s + b in one pass (b1 first, then b2). */
        for (int g = 0; g < G; g++) {
            int b1 = -1, b2 = -1;
            for (int i = g * per; i < (g + 1) * per; i++) {
                float v = st[i] + (bias ? bias[i] : 0.0f);
                if (b1 < 0 || choice_better(v, st[b1] + (bias ? bias[b1] : 0.0f))) {
                    b2 = b1;
                    b1 = i;
                } else if (b2 < 0 || choice_better(v, st[b2] + (bias ? bias[b2] : 0.0f))) {
                    b2 = i;
                }
            }
            float top1 = st[b1] + (bias ? bias[b1] : 0.0f);
            gs[g] = b2 < 0 ? top1 : top1 + (st[b2] + (bias ? bias[b2] : 0.0f));
        }
        /* The M best groups, by insertion like moe_route_topk (ties: the lower index). */
        int n = 0;
        for (int g = 0; g < G; g++) {
            int j;
            if (n < M) {
                j = n++;
            } else {
                if (!choice_better(gs[g], gs[kept[M - 1]])) continue;
                j = M - 1;
            }
            while (j > 0 && choice_better(gs[g], gs[kept[j - 1]])) {
                kept[j] = kept[j - 1];
                j--;
            }
            kept[j] = g;
        }
        for (int i = 0; i < E; i++) key[i] = -INFINITY;
        for (int k = 0; k < M; k++)
            for (int i = kept[k] * per; i < (kept[k] + 1) * per; i++) key[i] = st[i] + (bias ? bias[i] : 0.0f);
    }
}

void moe_route_gates(const MoeConfig *cfg, const float *s, const int32_t *experts, int T,
                     float *gates)
{
    const int E = cfg->n_experts, K = cfg->top_k;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *st = s + (size_t)t * E;
        const int32_t *chosen = experts + (size_t)t * K;
        float *g = gates + (size_t)t * K;
        if (cfg->score == MOE_SCORE_SIGMOID) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++) sum += st[chosen[k]];
            for (int k = 0; k < K; k++) g[k] = st[chosen[k]] / sum * cfg->route_scale;
        } else {
            for (int k = 0; k < K; k++) g[k] = st[chosen[k]] * cfg->route_scale;
        }
    }
}

void moe_route_gates_backward(const MoeConfig *cfg, const float *s, const int32_t *experts,
                              const float *dgates, int T, float *ds)
{
    const int E = cfg->n_experts, K = cfg->top_k;
    const float rs = cfg->route_scale;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *st = s + (size_t)t * E;
        const int32_t *chosen = experts + (size_t)t * K;
        const float *dg = dgates + (size_t)t * K;
        float *d = ds + (size_t)t * E;
        memset(d, 0, (size_t)E * sizeof *d);
        if (cfg->score == MOE_SCORE_SIGMOID) {
            /* g_k = rs * s_k / sum:  d s_j = rs * (dg_j - sum_k dg_k s_k / sum) / sum */
            float sum = 0.0f, dot = 0.0f;
            for (int k = 0; k < K; k++) {
                sum += st[chosen[k]];
                dot += dg[k] * st[chosen[k]];
            }
            for (int k = 0; k < K; k++) d[chosen[k]] = rs * (dg[k] - dot / sum) / sum;
        } else {
            for (int k = 0; k < K; k++) d[chosen[k]] = rs * dg[k];
        }
    }
}

void moe_route_scores_backward(MoeScore score, const float *s, const float *ds, int T, int E,
                               float *dlogits)
{
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *st = s + (size_t)t * E, *d = ds + (size_t)t * E;
        float *dl = dlogits + (size_t)t * E;
        if (score == MOE_SCORE_SIGMOID) {
            for (int i = 0; i < E; i++) dl[i] = d[i] * st[i] * (1.0f - st[i]);
        } else {
            float dot = 0.0f;
            for (int i = 0; i < E; i++) dot += st[i] * d[i];
            for (int i = 0; i < E; i++) dl[i] = st[i] * (d[i] - dot);
        }
    }
}

int moe_aux_sequences(const MoeConfig *cfg, int T)
{
    return cfg->seq_len > 0 ? T / cfg->seq_len : 1;
}

float moe_aux_loss_forward(const MoeConfig *cfg, const float *s, const int32_t *experts, int T,
                           int32_t *seq_counts)
{
    const int E = cfg->n_experts, K = cfg->top_k;
    const int nseq = moe_aux_sequences(cfg, T), S = T / nseq;
    double total = 0.0;
    for (int q = 0; q < nseq; q++) {
        int32_t *c = seq_counts + (size_t)q * E;
        memset(c, 0, (size_t)E * sizeof *c);
        for (int t = q * S; t < (q + 1) * S; t++)
            for (int k = 0; k < K; k++) c[experts[(size_t)t * K + k]]++;
        /* sum_i f_i P_i = E/(K S^2) * sum_t sum_i c_i s'_{i,t} */
        double acc = 0.0;
        for (int t = q * S; t < (q + 1) * S; t++) {
            const float *st = s + (size_t)t * E;
            double z = 1.0, dot = 0.0;
            if (cfg->score == MOE_SCORE_SIGMOID) {
                z = 0.0;
                for (int i = 0; i < E; i++) z += st[i];
            }
            for (int i = 0; i < E; i++) dot += (double)c[i] * st[i];
            acc += dot / z;
        }
        total += acc * E / ((double)K * S * S);
    }
    return (float)(cfg->aux_loss_alpha * total / nseq);
}

void moe_aux_loss_backward(const MoeConfig *cfg, const float *s, const int32_t *seq_counts,
                           int T, float scale, float *ds)
{
    const int E = cfg->n_experts, K = cfg->top_k;
    const int nseq = moe_aux_sequences(cfg, T), S = T / nseq;
    /* d aux / d s'_{i,t} = alpha/nseq * E c_i / (K S^2), the same for every t of a sequence */
    const double coef = (double)scale * cfg->aux_loss_alpha / nseq * E / ((double)K * S * S);
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const int32_t *c = seq_counts + (size_t)(t / S) * E;
        const float *st = s + (size_t)t * E;
        float *d = ds + (size_t)t * E;
        if (cfg->score == MOE_SCORE_SIGMOID) {
            /* s'_i = s_i / z:  d s_j = (d s'_j - sum_i d s'_i s'_i) / z */
            double z = 0.0, dot = 0.0;
            for (int i = 0; i < E; i++) z += st[i];
            for (int i = 0; i < E; i++) dot += coef * c[i] * (st[i] / z);
            for (int i = 0; i < E; i++) d[i] += (float)((coef * c[i] - dot) / z);
        } else {
            for (int i = 0; i < E; i++) d[i] += (float)(coef * c[i]);
        }
    }
}
