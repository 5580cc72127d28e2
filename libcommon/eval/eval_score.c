/* eval_score.c: see eval_score.h. */
#include "eval/eval_score.h"
#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double eval_mean_loss(const float *logprob, size_t n)
{
    if (n == 0) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += logprob[i];
    return -sum / (double)n;
}

int eval_pick_lowest_mean_loss(const EvalContinuation *c, size_t n_choices, double *mean_loss, bool *nonfinite)
{
    int best = -1;
    double best_loss = 0;
    bool bad = false;
    for (size_t i = 0; i < n_choices; i++) {
        double m = eval_mean_loss(c[i].logprob, c[i].n);
        if (mean_loss) mean_loss[i] = m;
        if (isnan(m)) { bad = true; continue; }
        /* strictly lower: the first of equal choices wins, as list.index(min(...)) */
        if (best < 0 || m < best_loss) { best = (int)i; best_loss = m; }
    }
    if (nonfinite) *nonfinite = bad;
    return best;
}

bool eval_greedy_all_match(const EvalContinuation *c)
{
    if (c->n == 0 || !c->greedy_match) return false;
    for (size_t i = 0; i < c->n; i++)
        if (!c->greedy_match[i]) return false;
    return true;
}

size_t eval_common_prefix(const uint32_t *const *seqs, const size_t *lens, size_t n)
{
    size_t min_len = lens[0];
    for (size_t s = 1; s < n; s++)
        if (lens[s] < min_len) min_len = lens[s];
    for (size_t i = 0; i < min_len; i++)
        for (size_t s = 1; s < n; s++)
            if (seqs[s][i] != seqs[0][i]) return i;
    return min_len;
}

size_t eval_common_suffix(const uint32_t *const *seqs, const size_t *lens, size_t n)
{
    size_t min_len = lens[0];
    for (size_t s = 1; s < n; s++)
        if (lens[s] < min_len) min_len = lens[s];
    for (size_t i = 0; i < min_len; i++)
        for (size_t s = 1; s < n; s++)
            if (seqs[s][lens[s] - 1 - i] != seqs[0][lens[0] - 1 - i]) return i;
    return min_len;
}

bool eval_truncate_left(size_t len, size_t start, size_t end, size_t seq_len, size_t *drop)
{
    size_t d = len > seq_len ? len - seq_len : 0;
    *drop = d;
    /* The first scored token is predicted from the token before it, which must stay. */
    return start >= 1 && start <= end && end <= len && start >= d + 1;
}

void eval_example_free(EvalExample *ex)
{
    if (!ex) return;
    for (size_t s = 0; s < ex->n_seqs; s++) free(ex->seqs[s].ids);
    free(ex->seqs);
    memset(ex, 0, sizeof *ex);
}

bool eval_example_from_tokens(EvalTaskType type, uint32_t bos,
                              const uint32_t *const *full, const size_t *full_lens, size_t n,
                              const uint32_t *prefix, size_t prefix_len,
                              size_t seq_len, int gold, EvalExample *ex, char *err, size_t err_cap)
{
    memset(ex, 0, sizeof *ex);
    if (n == 0) { snprintf(err, err_cap, "no token sequences"); return false; }
    if (seq_len < 2) { snprintf(err, err_cap, "seq_len %zu is too short to score anything", seq_len); return false; }
    if (type == EVAL_LANGUAGE_MODELING && n != 1) {
        snprintf(err, err_cap, "language_modeling takes one sequence, got %zu", n);
        return false;
    }
    for (size_t s = 0; s < n; s++)
        if (full_lens[s] == 0) { snprintf(err, err_cap, "sequence %zu has no tokens", s); return false; }

    ex->type = type;
    ex->gold = type == EVAL_LANGUAGE_MODELING ? -1 : gold;
    ex->n_seqs = n;
    ex->seqs = xcalloc(n, sizeof *ex->seqs);
    /* BOS + tokens: what CORE's tokenizer(prompts, prepend=bos) gives. */
    const uint32_t **with_bos = xcalloc(n, sizeof *with_bos);
    size_t *lens = xcalloc(n, sizeof *lens);
    for (size_t s = 0; s < n; s++) {
        uint32_t *ids = xmalloc((full_lens[s] + 1) * sizeof *ids);
        ids[0] = bos;
        memcpy(ids + 1, full[s], full_lens[s] * sizeof *ids);
        ex->seqs[s].ids = ids;
        ex->seqs[s].len = lens[s] = full_lens[s] + 1;
        with_bos[s] = ids;
    }
    size_t min_len = lens[0];
    for (size_t s = 1; s < n; s++)
        if (lens[s] < min_len) min_len = lens[s];

    bool ok = true;
    switch (type) {
    case EVAL_MULTIPLE_CHOICE: {
        /* Choices share the context: score what follows the common prefix. Keep at least
         * one token per choice (nanochat would average an empty slice). */
        size_t p = eval_common_prefix(with_bos, lens, n);
        if (p > min_len - 1) { p = min_len - 1; ex->adjusted = true; }
        for (size_t s = 0; s < n; s++) { ex->seqs[s].start = p; ex->seqs[s].end = lens[s]; }
        break;
    }
    case EVAL_SCHEMA: {
        /* Options differ in the context and share the continuation: score the common
         * suffix, keeping at least the BOS before it. */
        size_t sfx = eval_common_suffix(with_bos, lens, n);
        if (sfx > min_len - 1) { sfx = min_len - 1; ex->adjusted = true; }
        for (size_t s = 0; s < n; s++) { ex->seqs[s].start = lens[s] - sfx; ex->seqs[s].end = lens[s]; }
        break;
    }
    case EVAL_LANGUAGE_MODELING: {
        /* Score the tokens after the context's own tokens. When BPE merged across the
         * boundary the context's tokens are not a prefix; score from where they differ. */
        size_t plen = prefix_len + 1, p = 1;
        while (p < plen && p < lens[0] && prefix[p - 1] == with_bos[0][p]) p++;
        if (p != plen) ex->adjusted = true;
        if (p >= lens[0]) {
            snprintf(err, err_cap, "the continuation adds no tokens to the context");
            ok = false;
            break;
        }
        ex->seqs[0].start = p;
        ex->seqs[0].end = lens[0];
        break;
    }
    default:
        snprintf(err, err_cap, "unknown task type");
        ok = false;
    }
    free(with_bos);
    free(lens);
    if (!ok) { eval_example_free(ex); return false; }

    /* Left truncation, sequence by sequence (nanochat: t[-max_tokens:]). */
    for (size_t s = 0; s < n; s++) {
        EvalSeq *q = &ex->seqs[s];
        size_t drop;
        if (!eval_truncate_left(q->len, q->start, q->end, seq_len, &drop)) { ex->overlong = true; continue; }
        if (drop == 0) continue;
        memmove(q->ids, q->ids + drop, (q->len - drop) * sizeof *q->ids);
        q->len -= drop;
        q->start -= drop;
        q->end -= drop;
        ex->dropped += drop;
        ex->truncated = true;
    }
    return true;
}

void eval_example_decide(const EvalExample *ex, const float *const *logprob,
                         const uint32_t *const *argmax, double *mean_loss, EvalDecision *d)
{
    memset(d, 0, sizeof *d);
    d->pred = -1;
    if (ex->overlong) {
        if (mean_loss)
            for (size_t s = 0; s < ex->n_seqs; s++) mean_loss[s] = NAN;
        return;
    }
    EvalContinuation *c = xcalloc(ex->n_seqs, sizeof *c);
    bool *match = NULL;
    for (size_t s = 0; s < ex->n_seqs; s++) {
        const EvalSeq *q = &ex->seqs[s];
        /* Token t (start <= t < end) is predicted at position t - 1. */
        c[s].logprob = logprob[s] + (q->start - 1);
        c[s].n = q->end - q->start;
    }
    if (ex->type == EVAL_LANGUAGE_MODELING) {
        const EvalSeq *q = &ex->seqs[0];
        match = xcalloc(c[0].n, sizeof *match);
        for (size_t t = q->start; t < q->end; t++) match[t - q->start] = argmax[0][t - 1] == q->ids[t];
        c[0].greedy_match = match;
        d->correct = eval_greedy_all_match(&c[0]);
        double m = eval_mean_loss(c[0].logprob, c[0].n);
        if (mean_loss) mean_loss[0] = m;
        d->nonfinite = isnan(m);
    } else {
        d->pred = eval_pick_lowest_mean_loss(c, ex->n_seqs, mean_loss, &d->nonfinite);
        d->correct = d->pred >= 0 && d->pred == ex->gold;
    }
    free(match);
    free(c);
}

void eval_tally_add(EvalTally *t, const EvalExample *ex, const EvalDecision *d)
{
    t->examples++;
    t->correct += d->correct;
    t->truncated += ex->truncated;
    t->overlong += ex->overlong;
    t->adjusted += ex->adjusted;
    t->nonfinite += d->nonfinite;
    if (!ex->overlong)
        for (size_t s = 0; s < ex->n_seqs; s++) {
            t->positions += ex->seqs[s].len - 1;
            t->scored += ex->seqs[s].len - ex->seqs[s].start;
        }
}

double eval_accuracy(const EvalTally *t)
{
    return t->examples ? (double)t->correct / (double)t->examples : NAN;
}

double eval_centered(double accuracy, double random_baseline_pct)
{
    double b = 0.01 * random_baseline_pct;
    return (accuracy - b) / (1.0 - b);
}

double eval_core(const double *centered, size_t n)
{
    if (n == 0) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += centered[i];
    return sum / (double)n;
}
