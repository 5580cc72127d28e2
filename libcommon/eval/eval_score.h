/* eval_score.h: turning model outputs into CORE task decisions and scores.
 *
 * ======================================================================================
 * INTEGRATION NOTE (for wiring tools/nmoe-eval.c once the trainer and nmoe-tok land)
 * ======================================================================================
 *
 * Everything of nmoe-eval that does not need the model lives in libcommon/eval_*.c:
 *   eval_tasks    task JSONL loading and validation (.jsonl, .jsonl.zst)
 *   eval_suite    the task config (pipelines/core.toml, nmoe-eval-tasks(5))
 *   eval_prompts  CORE few-shot prompts, as (context, continuation) text pairs
 *   eval_score    (this file) token spans, left truncation, decisions, tallies, CORE
 *   eval_bpb      bits per byte from per-token losses and a byte-length table
 *   eval_summary  the per-task `eval` NDJSON line (writer and reader), the summary
 *                 table and core.ndjson
 * The tool adds three things: the model, the tokenizer and the command line.
 *
 * What the MODEL side must provide (names are suggestions; the contract is the point):
 *
 *   Model *model_load(const char *ckpt_dir);      dies with `dir: reason` on a bad checkpoint
 *   size_t   model_seq_len(const Model *m);       the context length it was trained with
 *   uint32_t model_vocab_size(const Model *m);
 *   uint64_t model_vocab_id(const Model *m);      tokenizer identity recorded in the checkpoint
 *   const char *model_fingerprint(const Model *m); config fingerprint (16 hex digits), for lines
 *   int64_t  model_step(const Model *m);          optimizer steps of the checkpoint ("step")
 *
 *   Batched next-token scoring, running the trainer's own forward pass (no second model
 *   implementation), in eval mode (no dropout, no router bias update, no grads):
 *
 *   void model_score(Model *m, size_t n_seqs,
 *                    const uint32_t *const *ids, const size_t *lens,
 *                    float *const *logprob, uint32_t *const *argmax);
 *
 *     For every sequence s (1 <= lens[s] <= model_seq_len) and every position
 *     t in [0, lens[s] - 1):
 *       logprob[s][t] = log_softmax(logits(s, t))[ids[s][t + 1]]   natural log
 *       argmax[s][t]  = argmax_v logits(s, t)[v], the lowest id on ties
 *     Each sequence is an independent causal sequence starting at position 0 (RoPE
 *     positions 0..len-1; no attention across sequences). The caller owns all buffers
 *     (logprob[s] and argmax[s] hold lens[s] - 1 entries). Sequences of unequal length
 *     are the norm (padding, packing or bucketing is the model side's business), and the
 *     result must not depend on how the caller groups sequences into calls (bit-identical
 *     on the CPU backend). The per-token loss the trainer reports is -logprob, so
 *     `nmoe-eval bpb` and the trainer's validation loss agree by construction.
 *
 *   For `sample`:  void model_next_logits(Model *m, const uint32_t *ids, size_t n,
 *                                        float *logits);    logits at position n-1
 *     (a KV cache is welcome but not required).
 *   For `router`:  a forward over held-out sequences that accumulates per-layer routed
 *     expert loads (issue 5's telemetry accumulator), so nmoe-eval can emit `router`
 *     lines with the same definitions and code as the trainer.
 *
 * What the TOKENIZER side provides (tok/tokenizer.h of nmoe-tok, as it stands):
 *
 *   Tokenizer *tokenizer_load_or_die(const char *spec);   `--tokenizer SPEC` [default: gpt2]
 *   TokEncoder *e = tok_encoder_new(t);
 *   tok_encode(t, e, text, len, false, &ids);   allow_special = false: a "<|endoftext|>"
 *       inside task text is text, not the special token (or tok_encode_batch, threaded)
 *   t->eot_id       the BOS that CORE prepends to every prompt. nanochat prepends its
 *                   <|bos|>; nmoe's training data separates documents with <|endoftext|>
 *                   (nmoe-tok --eot), so this is the token that precedes a document start
 *                   in training. Refuse a tokenizer without one (eot_id < 0).
 *   t->vocab_size   must equal model_vocab_size; t->vocab_id must equal model_vocab_id when
 *                   the checkpoint records one (else: "tokenizer X is not the one the
 *                   checkpoint was trained with")
 *   t->token_len    vocab_size entries: bytes per id, 0 for special tokens (for bpb)
 *   tokenizer_token_bytes(t, id, &len)   to decode samples
 *
 * How `nmoe-eval core` is wired (per task of the config; see nmoe-eval(1)):
 *   suite = eval_suite_load(...); task = eval_suite_find(...)        (or every task)
 *   eval_tasks_load(task->file, task->type, &data, err, cap) or die("%s", err)
 *   eval_subset_make(draw, seed, n, --limit, &sub)   (all items, or a subset; eval_prompts.h)
 *   for each item i = sub.items[j] (file order):
 *     eval_subset_fewshot(&sub, j, num_fewshot, shots)  (philox or python draw)
 *     eval_prompts_render(&data, i, shots, num_fewshot, &spec, &prompts, ...)
 *     MC/schema: full[c] = tok_encode(pairs[c].context + pairs[c].continuation)
 *     LM:        full[0] = tok_encode(context + continuation), prefix = tok_encode(context)
 *       (whole strings: CORE tokenizes whole prompts, never the two halves joined)
 *     eval_example_from_tokens(type, t->eot_id, full, lens, n, prefix, plen,
 *                              model_seq_len, prompts.gold, &ex, ...)
 *     if !ex.overlong: model_score_from(ex.seqs[*].ids, ex.seqs[*].len, from = start - 1)
 *       -> logprob, argmax at the scored positions (the head runs there only)
 *       (batch many examples' sequences into one call; results are per sequence)
 *     eval_example_decide(&ex, logprob, argmax, NULL, &dec); eval_tally_add(&tally, &ex, &dec)
 *   EvalTaskResult from the tally (eval_result_from_tally) -> eval_write_task_line()
 *   (one `eval` line per task; -o FILE through atomic_file.h; --table for people).
 *   CORE = eval_core(centered scores of the tasks run).
 *
 * `nmoe-eval bpb`: for each validation sequence of seq_len + 1 tokens from the shard set
 *   (the trainer's validation sequences, same order), model_score(ids, seq_len + 1) and
 *   eval_bpb_add_logprob(&acc, logprob, ids + 1, seq_len, t->token_len, t->vocab_size).
 *   Emit {"kind":"eval","task":"bpb",...} (nmoe-eval(1), OUTPUT).
 * `nmoe-eval sample`: model_next_logits, temperature / top-k sampling with an Rng from
 *   rng.h (seeded, so the same seed gives the same text), tokenizer_token_bytes to decode.
 * `nmoe-eval core --list` = eval_suite_write_list(); `--dump-prompts` = the same
 *   subset and prompts + eval_write_prompts_line per example (neither needs --ckpt).
 * `nmoe-eval summary FILE...`: eval_summary_run() (already complete here).
 * ======================================================================================
 *
 * Decisions (CORE as nanochat's core_eval.py computes it):
 *   multiple_choice and schema: the choice with the LOWEST MEAN LOSS over its scored
 *     tokens (mean of -log p, i.e. length-normalized log-likelihood); the first such
 *     choice on ties (Python's list.index(min(...))). llm-foundry's
 *     InContextLearningMultipleChoiceAccuracy ranks by exp(mean cross-entropy), the same
 *     order. A NaN mean loss is never picked and is counted (nonfinite).
 *   language_modeling: correct when the greedy (argmax) prediction equals every scored
 *     token, as issue 6 asks, llm-foundry's InContextLearningLMAccuracy does and nanochat
 *     core_eval.py does at commit 11493e20. (nanochat at commit e64aa826 instead compares
 *     the decoded texts case-insensitively; that rule is not used here.)
 *
 * Scored tokens (nanochat batch_sequences_*): every prompt is tokenized whole with a BOS
 * in front; multiple_choice scores the tokens after the common prefix of all choices'
 * sequences, schema the common suffix of all options' sequences, language_modeling the
 * tokens after the tokenized context. Where nanochat would fail, this code adjusts and
 * counts it (`adjusted`): a choice whose tokens are a prefix of another's (nanochat
 * averages an empty slice: NaN) keeps its last token scored; a language-modelling
 * context whose tokens are not a prefix of the full prompt's (BPE merged across the
 * boundary; nanochat asserts) scores from the end of the common prefix.
 *
 * Left truncation (nanochat: keep the last seq_len tokens): each sequence longer than
 * seq_len loses tokens from the left, the scored span kept whole; the example counts as
 * `truncated`. If the span and one token before it cannot fit, the example is
 * `overlong`: not run, counted wrong, and counted. */
#ifndef NMOE_EVAL_SCORE_H
#define NMOE_EVAL_SCORE_H

#include "eval/eval_tasks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Model-independent decision rules --------------------------------------------------- */

/* Mean loss -sum(logprob)/n, accumulated in double; NaN when n == 0. */
double eval_mean_loss(const float *logprob, size_t n);

/* The continuation tokens of one choice as the model scored them. */
typedef struct {
    const float *logprob;        /* n: log p(token | everything before it) */
    const bool *greedy_match;    /* n: argmax at the previous position == token (may be NULL) */
    size_t n;
} EvalContinuation;

/* Index of the choice with the lowest mean loss (first on ties); choices with a NaN mean
 * loss are skipped and set *nonfinite. -1 when none is usable. mean_loss (n_choices
 * entries, may be NULL) receives every choice's mean loss. */
int eval_pick_lowest_mean_loss(const EvalContinuation *c, size_t n_choices, double *mean_loss, bool *nonfinite);

/* Language modelling: every token greedily matched (false for n == 0). */
bool eval_greedy_all_match(const EvalContinuation *c);

/* Token spans and truncation ------------------------------------------------------------- */

/* Length of the common prefix (or suffix) of n sequences (n >= 1). */
size_t eval_common_prefix(const uint32_t *const *seqs, const size_t *lens, size_t n);
size_t eval_common_suffix(const uint32_t *const *seqs, const size_t *lens, size_t n);

/* Tokens to drop from the left so a sequence of len tokens, scored on [start, end), fits
 * seq_len with at least one token before start. False when it cannot. */
bool eval_truncate_left(size_t len, size_t start, size_t end, size_t seq_len, size_t *drop);

typedef struct {
    uint32_t *ids;     /* what the model sees: BOS + prompt tokens, left-truncated */
    size_t len;
    size_t start, end; /* scored tokens ids[start..end), predicted at positions start-1..end-2 */
} EvalSeq;

typedef struct {
    EvalTaskType type;
    size_t n_seqs;     /* choices / context options, or 1 */
    EvalSeq *seqs;
    int gold;          /* -1 for language modelling */
    size_t dropped;    /* tokens cut from the left over all sequences */
    bool truncated;    /* some sequence was cut from the left */
    bool overlong;     /* cannot be scored within seq_len: do not run, counts as wrong */
    bool adjusted;     /* span boundary adjusted where nanochat would fail (see above) */
} EvalExample;

/* Build an example from token ids (without BOS; it is prepended here).
 *   multiple_choice / schema: full[c] = tokens of pairs[c].context + pairs[c].continuation,
 *     n = number of choices (>= 1); prefix unused (NULL, 0).
 *   language_modeling: full[0] = tokens of context + continuation, n = 1, and prefix =
 *     tokens of the context alone.
 * seq_len >= 2. False with the reason in err on unusable input (n == 0, an empty
 * sequence, a continuation that tokenizes to nothing). */
bool eval_example_from_tokens(EvalTaskType type, uint32_t bos,
                              const uint32_t *const *full, const size_t *full_lens, size_t n,
                              const uint32_t *prefix, size_t prefix_len,
                              size_t seq_len, int gold, EvalExample *ex, char *err, size_t err_cap);
void eval_example_free(EvalExample *ex);

typedef struct {
    int pred;          /* chosen index (multiple_choice/schema); -1 for LM or unscorable */
    bool correct;
    bool nonfinite;    /* a NaN score was met */
} EvalDecision;

/* Decide one example from the model outputs of its sequences, laid out as model_score
 * writes them: logprob[s][t], argmax[s][t] for t in [0, seqs[s].len - 1). For an overlong
 * example the outputs are not read (may be NULL): pred -1, wrong. mean_loss (n_seqs
 * entries, may be NULL) receives the choices' mean losses. */
void eval_example_decide(const EvalExample *ex, const float *const *logprob,
                         const uint32_t *const *argmax, double *mean_loss, EvalDecision *d);

/* Tallies and scores --------------------------------------------------------------------- */

typedef struct {
    uint64_t examples, correct;
    uint64_t truncated, overlong, adjusted, nonfinite;
    uint64_t positions, scored; /* the work: inputs of the scored sequences, and their
                                   positions the head ran at */
} EvalTally;

void eval_tally_add(EvalTally *t, const EvalExample *ex, const EvalDecision *d);
/* correct / examples; NaN when no examples. */
double eval_accuracy(const EvalTally *t);
/* Centered accuracy (acc - b) / (1 - b), b = random_baseline_pct / 100 (CORE, DCLM):
 * 0 at chance, 1 when perfect. random_baseline_pct must be in [0, 100). */
double eval_centered(double accuracy, double random_baseline_pct);
/* CORE: the mean centered score over the tasks run; NaN when n == 0. */
double eval_core(const double *centered, size_t n);

#endif
