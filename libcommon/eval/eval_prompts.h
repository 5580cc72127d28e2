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
 * Which examples are evaluated and which few-shot examples each gets: two draws
 * (EvalDraw; `nmoe-eval core --draw`, suite.draw in nmoe-eval-tasks(5)).
 *
 *   philox (the default): the few-shot examples of the item at file index i are a
 *     uniform ordered sample without replacement of the other items of the whole file,
 *     from a Philox stream (rng.h: seed = the task seed, stream = i); a --limit subset is
 *     the first N of a seeded permutation (eval_subset_order). Deterministic and
 *     independent of which other items are evaluated or in what order; the same
 *     distribution as the reference, not the same draws.
 *   python: the draws of the DCLM / nanochat reference, made with a port of Python's
 *     random.Random (base/pyrandom.h), so a score compares item for item with published
 *     runs. nanochat scripts/base_eval.py and core_eval.py do, per task:
 *         data = the file's items in file order
 *         random.Random(1337).shuffle(data); data = data[:limit] when limit > 0
 *         for idx in range(len(data)):
 *             rng = random.Random(seed + idx)              # seed 1234
 *             avail = [i for i in range(len(data)) if i != idx]
 *             fewshot = [data[i] for i in rng.sample(avail, num_fewshot)]
 *     so the few-shot pool is the shuffled, TRUNCATED list: with --limit the examples
 *     depend on the limit, as in the reference. The shuffle seed is always 1337; `seed`
 *     (suite.seed, --seed) is the few-shot base, 1234 by default as in the reference.
 *
 * Under both draws the examples are evaluated in file order, and items and few-shot
 * examples are named by their index in the file, never by a position in the shuffle. */
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
/* The task shuffle of the reference (nanochat scripts/base_eval.py: random.Random(1337)). */
#define EVAL_PYTHON_SHUFFLE_SEED 1337u

typedef enum { EVAL_DRAW_PHILOX, EVAL_DRAW_PYTHON } EvalDraw;

/* "philox" / "python" <-> EvalDraw; parse returns false for anything else. */
bool eval_draw_parse(const char *s, EvalDraw *out);
const char *eval_draw_name(EvalDraw d);

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

/* The examples of a task to evaluate under a draw, and where their few-shot examples
 * come from. */
typedef struct {
    EvalDraw draw;
    uint64_t seed;           /* philox: few-shot and subset seed; python: few-shot base */
    size_t n_items;          /* items in the file */
    size_t n;                /* examples to evaluate: min(limit, n_items), all when 0 */
    size_t *items;           /* [n] their file indices, ascending */
    size_t *pool;            /* python: [n] the shuffled, truncated list, file indices */
    size_t *pool_pos;        /* python: [n] items[k]'s position in pool (the reference's idx) */
} EvalSubset;

/* The subset of --limit (0: all) of a task of n_items items. */
void eval_subset_make(EvalDraw draw, uint64_t seed, size_t n_items, uint64_t limit, EvalSubset *out);
/* How many examples the few-shot examples of s's items are drawn from, the item
 * included: n_items (philox) or n (python); num_fewshot must be less. */
size_t eval_subset_fewshot_pool(const EvalSubset *s);
/* The k-shot examples of s->items[j], file indices in prompt order, into out[k]. Requires
 * k < eval_subset_fewshot_pool(s). */
void eval_subset_fewshot(const EvalSubset *s, size_t j, size_t k, size_t *out);
void eval_subset_free(EvalSubset *s);

/* Build the prompts of items[item] with the philox draw over the whole file. False, with
 * the reason in err, when the task has too few examples for num_fewshot. */
bool eval_prompts_build(const EvalTaskData *task, size_t item, const EvalPromptSpec *spec,
                        EvalPrompts *out, char *err, size_t err_cap);
/* Build the prompts of items[item] with these few-shot examples (file indices, prompt
 * order; spec->seed is not used). False, with the reason in err, for a prompt that
 * cannot be split (see eval_prompts.c). */
bool eval_prompts_render(const EvalTaskData *task, size_t item, const size_t *fewshot, size_t n_fewshot,
                         const EvalPromptSpec *spec, EvalPrompts *out, char *err, size_t err_cap);
void eval_prompts_free(EvalPrompts *p);

/* `nmoe-eval core --dump-prompts`: one NDJSON line per example (not a metric-stream line):
 *   {"kind":"prompt","task":T,"item":i,"line":L,"gold":g,"fewshot":[..],
 *    "context":[..],"continuation":[..]}
 * item is the 0-based index in the file, line its 1-based line, gold -1 for LM; fewshot
 * the few-shot examples' indices in the file, under either draw. */
void eval_write_prompts_line(FILE *fp, const char *what, const char *task, size_t item, long line,
                             const EvalPrompts *p);

#endif
