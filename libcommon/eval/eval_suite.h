/* eval_suite.h: the task config of `nmoe-eval core` (pipelines/core.toml; format in
 * nmoe-eval-tasks(5)). A TOML file with an optional [suite] table and one [task.LABEL]
 * table per task, in the order they are run and reported:
 *
 *   [suite]
 *   data_dir = "../data/eval"   # task files are found here; relative to this file
 *                               # [default: the folder of this file]
 *   seed = 1234                 # few-shot sampling seed, 0..2^53 [default: 1234]
 *   draw = "philox"             # "philox" or "python": how the --limit subset and the
 *                               # few-shot examples are drawn (eval_prompts.h)
 *                               # [default: "philox"]
 *
 *   [task.arc_easy]
 *   file = "arc_easy.jsonl"                 # .jsonl or .jsonl.zst, relative to data_dir
 *   icl_task_type = "multiple_choice"       # multiple_choice | schema | language_modeling
 *   num_fewshot = 10                        # 0..1000
 *   random_baseline = 25                    # percent, [0, 100)
 *   continuation_delimiter = "\nAnswer: "   # [default: " "]
 *
 * Labels are [A-Za-z0-9_-]+ (they name output files). Unknown keys, missing keys, wrong
 * types and out-of-range values are errors naming the file, line and key. */
#ifndef NMOE_EVAL_SUITE_H
#define NMOE_EVAL_SUITE_H

#include "eval/eval_prompts.h"
#include "eval/eval_tasks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EVAL_MAX_FEWSHOT 1000
/* suite.seed when the config sets none (nanochat seeds example i with 1234 + i). */
#define EVAL_SUITE_DEFAULT_SEED 1234

typedef struct {
    char *label;
    char *file;              /* resolved: data_dir/file unless file is absolute */
    EvalTaskType type;
    int num_fewshot;
    double random_baseline;  /* percent */
    char *delimiter;         /* continuation_delimiter */
    int line;                /* line of the [task.LABEL] table's first key, for messages */
} EvalTaskSpec;

typedef struct {
    char *path;              /* the config file */
    char *data_dir;          /* resolved */
    uint64_t seed;
    EvalDraw draw;
    EvalTaskSpec *tasks;
    size_t n_tasks;
} EvalSuite;

/* Parse and validate a task config. False with `file:line:col: reason` (or `file: reason`)
 * in err. */
bool eval_suite_load(const char *path, EvalSuite *out, char *err, size_t err_cap);
/* A task label: s[0..n) is non-empty and made of [A-Za-z0-9_-] (labels name output files). */
bool eval_suite_label_ok(const char *s, size_t n);
/* The task with this label, or NULL. */
const EvalTaskSpec *eval_suite_find(const EvalSuite *s, const char *label);
void eval_suite_free(EvalSuite *s);

/* `nmoe-eval core --list`: one line per task, tab-separated:
 *   label  icl_task_type  num_fewshot  random_baseline  file
 * (pipelines/core_eval.mk reads it to learn the tasks and their data files). */
void eval_suite_write_list(const EvalSuite *s, FILE *fp);

#endif
