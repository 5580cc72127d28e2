/* eval_prompts.h: few-shot prompts built the way the CORE suite builds them.
 *
 * The reference is nanochat's nanochat/core_eval.py (render_prompts_mc,
 * render_prompts_schema, render_prompts_lm and evaluate_example), which renders Jinja
 * templates that come down to the following (d = the task's continuation_delimiter,
 * "\n\n" between examples, each few-shot example rendered with its gold answer):
 *
 *   multiple_choice  for each choice c:
 *       [ex.query + d + ex.choices[ex.gold] + "\n\n"] for each few-shot ex
 *       + item.query + d + c
 *   schema           for each context option o:
 *       [ex.context_options[ex.gold] + d + ex.continuation + "\n\n"] ...
 *       + o + d + item.continuation
 *   language_modeling (one prompt, scored by exact greedy match):
 *       [strip(ex.context) + d + ex.continuation + "\n\n"] ...
 *       + strip(item.context) + d + item.continuation
 *     and the prompt "without" the continuation is that text without item.continuation,
 *     then Python-stripped (so a delimiter's trailing space moves to the continuation).
 *
 * strip is Python's str.strip (eval_text_strip). Each prompt is returned as a pair
 * (context, continuation) whose concatenation is exactly the text CORE renders:
 *   multiple_choice:   context = few-shot + query + d,     continuation = choice
 *   schema:            context = few-shot + option + d,    continuation = item.continuation
 *   language_modeling: context = the stripped "without" prompt, continuation = the rest
 * CORE tokenizes whole prompts, not the two halves, and finds the scored tokens by
 * comparing the token sequences (eval_score.h: eval_example_from_tokens); the text split
 * is what a reader sees and what the language-modelling case tokenizes as its prefix.
 *
 * Few-shot examples: CORE samples num_fewshot distinct examples from the same file,
 * excluding the item being scored, seeded per item (nanochat: Python
 * random.Random(1234 + idx).sample). Here the draw is a Philox stream per item
 * (rng.h: seed = the task seed, stream = the item's index in the file), a uniform
 * ordered sample without replacement: same distribution, deterministic, independent of
 * which other items are evaluated or in what order, but not the same indices as Python's
 * Mersenne Twister would pick. */
#ifndef NMOE_EVAL_PROMPTS_H
#define NMOE_EVAL_PROMPTS_H

#include "eval/eval_tasks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CORE's default continuation delimiter (llm-foundry's default) and few-shot seed base. */
#define EVAL_DEFAULT_DELIMITER " "
#define EVAL_DEFAULT_SEED 1234u

typedef struct {
    char *context;
    char *continuation;
} EvalPromptPair;

typedef struct {
    EvalTaskType type;
    size_t n_pairs;          /* choices (multiple_choice), context options (schema), 1 (LM) */
    EvalPromptPair *pairs;
    int gold;                /* index into pairs; -1 for language_modeling */
    size_t n_fewshot;
    size_t *fewshot;         /* indices (into the task's items) of the examples, prompt order */
} EvalPrompts;

typedef struct {
    int num_fewshot;         /* >= 0 */
    const char *delimiter;   /* continuation_delimiter; NULL means EVAL_DEFAULT_DELIMITER */
    uint64_t seed;           /* few-shot sampling seed */
} EvalPromptSpec;

/* k distinct indices from {0..n_items-1} \ {item}, uniformly, in draw order, into out[k].
 * Requires k <= n_items - 1 and item < n_items. Cost O(k^2) time, O(k) memory. */
void eval_fewshot_sample(uint64_t seed, size_t item, size_t n_items, size_t k, size_t *out);

/* A seeded permutation of 0..n-1 (for evaluating a random subset: the first N entries). */
void eval_subset_order(uint64_t seed, size_t n, size_t *order);

/* Build the prompts of items[item]. False, with the reason in err, when the task has too
 * few examples for num_fewshot. */
bool eval_prompts_build(const EvalTaskData *task, size_t item, const EvalPromptSpec *spec,
                        EvalPrompts *out, char *err, size_t err_cap);
void eval_prompts_free(EvalPrompts *p);

/* `nmoe-eval core --dump-prompts`: one NDJSON line per example (not a metric-stream line):
 *   {"kind":"prompt","task":T,"item":i,"line":L,"gold":g,"fewshot":[..],
 *    "context":[..],"continuation":[..]}
 * item is the 0-based index in the file, line its 1-based line, gold -1 for LM. */
void eval_write_prompts_line(FILE *fp, const char *what, const char *task, size_t item, long line,
                             const EvalPrompts *p);

#endif
