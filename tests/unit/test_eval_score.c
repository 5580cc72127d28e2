/* test_eval_score.c: CORE decisions (lowest mean loss, greedy exact match), the scored
 * token spans (common prefix / suffix / context prefix), left truncation, and the
 * accuracy, centered and CORE arithmetic, on hand-computed numbers. */
#include "check.h"
#include "eval/eval_score.h"

#include <math.h>
#include <stdlib.h>

static void test_decisions(void)
{
    /* Mean, not sum: choice 0 has the larger total loss (1.8 vs 1.0) but the lower mean
     * (0.6 vs 1.0), and CORE picks it. */
    float c0[] = { -0.6f, -0.6f, -0.6f }, c1[] = { -1.0f }, c2[] = { -0.5f, -1.5f, -2.5f };
    EvalContinuation c[3] = { { c0, NULL, 3 }, { c1, NULL, 1 }, { c2, NULL, 3 } };
    double mean[3];
    bool nonfinite = true;
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(c, 3, mean, &nonfinite), 0);
    CHECK(!nonfinite);
    CHECK_CLOSE(mean[0], 0.6, 1e-7, 0);
    CHECK_CLOSE(mean[1], 1.0, 0, 0);
    CHECK_CLOSE(mean[2], 1.5, 0, 0);
    /* Ties go to the first (Python's list.index(min(...))). */
    float t0[] = { -2.0f }, t1[] = { -1.0f, -3.0f }, t2[] = { -1.0f };
    EvalContinuation tie[3] = { { t0, NULL, 1 }, { t1, NULL, 2 }, { t2, NULL, 1 } };
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(tie, 3, NULL, NULL), 2);
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(tie, 2, NULL, NULL), 0);
    /* NaN is never picked, and is flagged; all NaN gives -1. */
    float n0[] = { NAN }, n1[] = { -4.0f };
    EvalContinuation nan_c[2] = { { n0, NULL, 1 }, { n1, NULL, 1 } };
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(nan_c, 2, mean, &nonfinite), 1);
    CHECK(nonfinite);
    CHECK(isnan(mean[0]));
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(nan_c, 1, NULL, &nonfinite), -1);
    /* -inf log-probability (impossible token) is an infinite loss, ordered last. */
    float i0[] = { -INFINITY }, i1[] = { -30.0f };
    EvalContinuation inf_c[2] = { { i0, NULL, 1 }, { i1, NULL, 1 } };
    CHECK_EQ_INT(eval_pick_lowest_mean_loss(inf_c, 2, NULL, &nonfinite), 1);
    CHECK(!nonfinite);
    CHECK(isnan(eval_mean_loss(NULL, 0)));

    bool all[] = { true, true, true }, one_off[] = { true, false, true };
    EvalContinuation g = { c0, all, 3 };
    CHECK(eval_greedy_all_match(&g));
    g.greedy_match = one_off;
    CHECK(!eval_greedy_all_match(&g));
    g.n = 0;
    CHECK(!eval_greedy_all_match(&g));
}

static EvalExample make(EvalTaskType type, const uint32_t *const *full, const size_t *lens, size_t n,
                        const uint32_t *prefix, size_t plen, size_t seq_len, int gold)
{
    EvalExample ex;
    char err[256] = "";
    bool ok = eval_example_from_tokens(type, 0, full, lens, n, prefix, plen, seq_len, gold, &ex, err, sizeof err);
    CHECK(ok);
    if (!ok) fprintf(stderr, "eval_example_from_tokens: %s\n", err);
    return ex;
}

static void test_spans(void)
{
    /* multiple_choice: [BOS 5 6 7 8] and [BOS 5 6 9]: the common prefix is 3 tokens, so
     * the first scores 7 8 and the second 9. */
    const uint32_t a[] = { 5, 6, 7, 8 }, b[] = { 5, 6, 9 };
    const uint32_t *mc[] = { a, b };
    size_t mc_len[] = { 4, 3 };
    EvalExample ex = make(EVAL_MULTIPLE_CHOICE, mc, mc_len, 2, NULL, 0, 100, 0);
    CHECK_EQ_INT(ex.seqs[0].len, 5);
    CHECK_EQ_INT(ex.seqs[0].ids[0], 0); /* BOS */
    CHECK_EQ_INT(ex.seqs[0].ids[4], 8);
    CHECK_EQ_INT(ex.seqs[0].start, 3);
    CHECK_EQ_INT(ex.seqs[0].end, 5);
    CHECK_EQ_INT(ex.seqs[1].start, 3);
    CHECK_EQ_INT(ex.seqs[1].end, 4);
    CHECK(!ex.adjusted && !ex.truncated && !ex.overlong);

    /* Decide from model outputs laid out per position: logprob[s][t] scores ids[t+1].
     * Positions outside the span hold -100 so reading the wrong one changes the answer. */
    float lp0[] = { -100, -100, -0.1f, -0.1f }, lp1[] = { -100, -100, -0.5f };
    const float *lp[] = { lp0, lp1 };
    EvalDecision d;
    double mean[2];
    eval_example_decide(&ex, lp, NULL, mean, &d);
    CHECK_EQ_INT(d.pred, 0);
    CHECK(d.correct);
    CHECK_CLOSE(mean[0], 0.1, 1e-6, 0);
    CHECK_CLOSE(mean[1], 0.5, 1e-6, 0);
    ex.gold = 1;
    eval_example_decide(&ex, lp, NULL, NULL, &d);
    CHECK(!d.correct);
    eval_example_free(&ex);

    /* A choice whose tokens are a prefix of another's keeps its last token scored
     * (nanochat would average an empty slice). */
    const uint32_t p0[] = { 5, 6 }, p1[] = { 5, 6, 7 };
    const uint32_t *pre[] = { p0, p1 };
    size_t pre_len[] = { 2, 3 };
    ex = make(EVAL_MULTIPLE_CHOICE, pre, pre_len, 2, NULL, 0, 100, 1);
    CHECK(ex.adjusted);
    CHECK_EQ_INT(ex.seqs[0].start, 2);
    CHECK_EQ_INT(ex.seqs[1].start, 2);
    eval_example_free(&ex);

    /* schema: [BOS 1 2 10 11] and [BOS 3 10 11]: the shared continuation is 10 11. */
    const uint32_t s0[] = { 1, 2, 10, 11 }, s1[] = { 3, 10, 11 };
    const uint32_t *sch[] = { s0, s1 };
    size_t sch_len[] = { 4, 3 };
    ex = make(EVAL_SCHEMA, sch, sch_len, 2, NULL, 0, 100, 1);
    CHECK_EQ_INT(ex.seqs[0].start, 3);
    CHECK_EQ_INT(ex.seqs[0].end, 5);
    CHECK_EQ_INT(ex.seqs[1].start, 2);
    CHECK_EQ_INT(ex.seqs[1].end, 4);
    CHECK(!ex.adjusted);
    /* option 1 predicts the continuation better: mean loss 0.25 vs 1.0 */
    float q0[] = { -100, -100, -1.0f, -1.0f }, q1[] = { -100, -0.25f, -0.25f };
    const float *q[] = { q0, q1 };
    eval_example_decide(&ex, q, NULL, NULL, &d);
    CHECK_EQ_INT(d.pred, 1);
    CHECK(d.correct);
    eval_example_free(&ex);
    /* identical options: the suffix is capped so a token stays before it */
    const uint32_t *same[] = { s1, s1 };
    size_t same_len[] = { 3, 3 };
    ex = make(EVAL_SCHEMA, same, same_len, 2, NULL, 0, 100, 0);
    CHECK(ex.adjusted);
    CHECK_EQ_INT(ex.seqs[0].start, 1);
    eval_example_free(&ex);

    /* language_modeling: context [5 6], full [5 6 7 8]: score 7 8 at positions 2, 3. */
    const uint32_t ctx[] = { 5, 6 }, full[] = { 5, 6, 7, 8 };
    const uint32_t *lm[] = { full };
    size_t lm_len[] = { 4 };
    ex = make(EVAL_LANGUAGE_MODELING, lm, lm_len, 1, ctx, 2, 100, 3);
    CHECK_EQ_INT(ex.gold, -1);
    CHECK_EQ_INT(ex.seqs[0].start, 3);
    CHECK_EQ_INT(ex.seqs[0].end, 5);
    CHECK(!ex.adjusted);
    float llp[] = { -1, -1, -1, -1 };
    const float *llps[] = { llp };
    uint32_t am_ok[] = { 99, 99, 7, 8 }, am_bad[] = { 99, 99, 7, 9 }, am_shift[] = { 99, 7, 8, 99 };
    const uint32_t *am[] = { am_ok };
    eval_example_decide(&ex, llps, am, NULL, &d);
    CHECK(d.correct);
    CHECK_EQ_INT(d.pred, -1);
    am[0] = am_bad;
    eval_example_decide(&ex, llps, am, NULL, &d);
    CHECK(!d.correct);
    am[0] = am_shift; /* right tokens one position early: wrong */
    eval_example_decide(&ex, llps, am, NULL, &d);
    CHECK(!d.correct);
    eval_example_free(&ex);
    /* BPE merged across the boundary: context [5 6], full [5 9 8]: counted, scored 9 8. */
    const uint32_t merged[] = { 5, 9, 8 };
    lm[0] = merged;
    lm_len[0] = 3;
    ex = make(EVAL_LANGUAGE_MODELING, lm, lm_len, 1, ctx, 2, 100, -1);
    CHECK(ex.adjusted);
    CHECK_EQ_INT(ex.seqs[0].start, 2);
    eval_example_free(&ex);
    /* A continuation that adds no tokens is refused. */
    char err[256] = "";
    lm[0] = ctx;
    lm_len[0] = 2;
    CHECK(!eval_example_from_tokens(EVAL_LANGUAGE_MODELING, 0, lm, lm_len, 1, ctx, 2, 100, -1, &ex, err, sizeof err));
    CHECK(strstr(err, "adds no tokens") != NULL);
    size_t zero = 0;
    CHECK(!eval_example_from_tokens(EVAL_MULTIPLE_CHOICE, 0, mc, &zero, 1, NULL, 0, 100, 0, &ex, err, sizeof err));
    CHECK(!eval_example_from_tokens(EVAL_MULTIPLE_CHOICE, 0, mc, mc_len, 2, NULL, 0, 1, 0, &ex, err, sizeof err));
}

static void test_truncation(void)
{
    size_t drop;
    CHECK(eval_truncate_left(5, 3, 5, 100, &drop));
    CHECK_EQ_INT(drop, 0);
    CHECK(eval_truncate_left(10, 5, 10, 6, &drop)); /* drop 4: start 5 -> 1, BOS gone */
    CHECK_EQ_INT(drop, 4);
    CHECK(!eval_truncate_left(10, 4, 10, 6, &drop)); /* would need to cut the token before the span */
    CHECK(!eval_truncate_left(10, 0, 10, 100, &drop)); /* nothing precedes the span */

    /* An MC example over seq_len 4: [BOS 1 2 3 4 5 | 6] and [BOS 1 2 3 4 5 | 7 8]
     * (prefix 6). The first is 7 tokens: drop 3 -> [3 4 5 6], start 3. The second is 8:
     * drop 4 -> [4 5 7 8], start 2. */
    const uint32_t a[] = { 1, 2, 3, 4, 5, 6 }, b[] = { 1, 2, 3, 4, 5, 7, 8 };
    const uint32_t *mc[] = { a, b };
    size_t lens[] = { 6, 7 };
    EvalExample ex = make(EVAL_MULTIPLE_CHOICE, mc, lens, 2, NULL, 0, 4, 1);
    CHECK(ex.truncated && !ex.overlong);
    CHECK_EQ_INT(ex.dropped, 7);
    CHECK_EQ_INT(ex.seqs[0].len, 4);
    CHECK_EQ_INT(ex.seqs[0].ids[0], 3);
    CHECK_EQ_INT(ex.seqs[0].start, 3);
    CHECK_EQ_INT(ex.seqs[1].ids[0], 4);
    CHECK_EQ_INT(ex.seqs[1].start, 2);
    CHECK_EQ_INT(ex.seqs[1].end, 4);
    /* outputs of the truncated sequences: seq 0 scores position 2, seq 1 positions 1, 2 */
    float l0[] = { -9, -9, -2.0f }, l1[] = { -9, -0.5f, -0.5f };
    const float *l[] = { l0, l1 };
    EvalDecision d;
    eval_example_decide(&ex, l, NULL, NULL, &d);
    CHECK_EQ_INT(d.pred, 1);
    EvalTally t = { 0 };
    eval_tally_add(&t, &ex, &d);
    eval_example_free(&ex);

    /* Overlong: a 3-token continuation cannot be scored in a 3-token window. */
    const uint32_t c[] = { 1, 2, 3, 4 }, e[] = { 1, 5, 6, 7 };
    const uint32_t *ov[] = { c, e };
    size_t ov_len[] = { 4, 4 };
    ex = make(EVAL_MULTIPLE_CHOICE, ov, ov_len, 2, NULL, 0, 3, 0);
    CHECK(ex.overlong);
    eval_example_decide(&ex, NULL, NULL, NULL, &d);
    CHECK_EQ_INT(d.pred, -1);
    CHECK(!d.correct);
    eval_tally_add(&t, &ex, &d);
    eval_example_free(&ex);
    CHECK_EQ_INT(t.examples, 2);
    CHECK_EQ_INT(t.correct, 1);
    CHECK_EQ_INT(t.truncated, 1);
    CHECK_EQ_INT(t.overlong, 1);
    /* the work: 3 + 3 inputs, 1 + 2 scored positions; the overlong example ran nothing */
    CHECK_EQ_INT(t.positions, 6);
    CHECK_EQ_INT(t.scored, 3);
    CHECK_CLOSE(eval_accuracy(&t), 0.5, 0, 0);
}

static void test_scores(void)
{
    /* centered = (acc - b) / (1 - b), b = baseline / 100 */
    CHECK_CLOSE(eval_centered(0.5, 25), 1.0 / 3.0, 1e-15, 0);
    CHECK_CLOSE(eval_centered(0.25, 25), 0.0, 0, 1e-15);
    CHECK_CLOSE(eval_centered(1.0, 9.1), 1.0, 1e-15, 0);
    CHECK_CLOSE(eval_centered(0.0, 50), -1.0, 1e-15, 0);
    CHECK_CLOSE(eval_centered(0.4, 0), 0.4, 0, 0);
    CHECK_CLOSE(eval_centered(0.81, 62), (0.81 - 0.62) / 0.38, 1e-15, 0);
    /* bit-identical to nanochat's expression */
    double acc = 0.6431, base = 62;
    CHECK(eval_centered(acc, base) == (acc - 0.01 * base) / (1.0 - 0.01 * base));
    double cen[] = { 1.0 / 3.0, 0.0, 1.0 };
    CHECK_CLOSE(eval_core(cen, 3), 4.0 / 9.0, 1e-15, 0);
    CHECK(isnan(eval_core(cen, 0)));
    EvalTally t = { .examples = 8, .correct = 3 };
    CHECK_CLOSE(eval_accuracy(&t), 0.375, 0, 0);
    EvalTally none = { 0 };
    CHECK(isnan(eval_accuracy(&none)));
}

int main(void)
{
    test_decisions();
    test_spans();
    test_truncation();
    test_scores();
    return check_report("test_eval_score");
}
