/* eval_bundle.h: a CORE eval bundle, as nanochat and DCLM ship it, read as the task suite
 * of `nmoe-eval core --bundle PATH` (nmoe-eval(1), nmoe-eval-tasks(5)), so the full
 * 22-task CORE runs from the unpacked bundle with no hand conversion. Two layouts:
 *
 *   PATH a folder (nanochat's eval_bundle):  PATH/core.yaml, PATH/eval_meta_data.csv,
 *       task files at PATH/eval_data/<dataset_uri>
 *   PATH a .yaml file (a DCLM eval folder, e.g. dclm/eval/mmlu_and_lowvar.yaml):
 *       that file, eval_meta_data.csv beside it, task files at <its folder>/<dataset_uri>
 *       (dataset_uri "local_data/...", where DCLM's download_eval_data.sh puts them)
 *
 * What is read is what nanochat's base_eval.py reads: from the yaml the icl_tasks list,
 * per task label, dataset_uri, icl_task_type, num_fewshot[0] and continuation_delimiter
 * (default " "); from the csv the "Random baseline" of the row whose "Eval Task" is the
 * label. Every other key and column is ignored. The few-shot seed is the suite default.
 *
 * The YAML subset (a small reader of its own, not a YAML library): a top-level mapping;
 * its `icl_tasks:` key holds a block sequence of mappings, written `- key: value` or a
 * bare `-` with the keys indented below; values are plain, 'single' or "double" quoted
 * scalars (YAML escapes such as "\nAnswer: ") or one-line flow lists such as [10];
 * comments; other top-level keys and their indented blocks are skipped unread. Anything
 * else (tabs in indentation, nested blocks inside a task, block scalars, flow mappings,
 * anchors, tags, multi-line strings, a second document) is an error `file:line: reason`.
 * A num_fewshot list of several values uses the first, as nanochat does, with a warning.
 *
 * The CSV is RFC 4180 (quoted fields may hold commas, newlines and "" for a quote; LF or
 * CRLF line ends; blank lines skipped); the header must have "Eval Task" and "Random
 * baseline" columns and every record as many fields as the header. */
#ifndef NMOE_EVAL_BUNDLE_H
#define NMOE_EVAL_BUNDLE_H

#include "eval/eval_suite.h"
#include "eval/eval_tasks.h"

#include <stdbool.h>
#include <stddef.h>

/* Largest core.yaml / eval_meta_data.csv read (the real ones are a few KB). */
#define EVAL_BUNDLE_MAX_BYTES ((size_t)16 << 20)

/* One icl_tasks entry. */
typedef struct {
    char *label;
    char *dataset_uri;
    EvalTaskType type;
    int num_fewshot;        /* num_fewshot[0] */
    size_t n_fewshot;       /* values the num_fewshot list had (1 for a plain number) */
    char *delimiter;        /* continuation_delimiter; NULL when not given */
    int line;               /* the entry's first line */
} EvalBundleTask;

typedef struct {
    EvalBundleTask *tasks;
    size_t n_tasks;
} EvalBundleTasks;

/* Parse the yaml text (len bytes, need not be NUL-terminated; name for messages). False
 * with `name:line: reason` (or `name: reason`) in err, *out left empty. */
bool eval_bundle_parse_yaml(const char *text, size_t len, const char *name, EvalBundleTasks *out, char *err,
                            size_t err_cap);
void eval_bundle_tasks_free(EvalBundleTasks *t);

/* The "Eval Task" and "Random baseline" fields of every record of the csv. */
typedef struct {
    char *task;
    char *baseline;         /* as written; checked when looked up */
    int line;               /* the record's first line */
} EvalBaselineRow;

typedef struct {
    char *name;             /* the csv, for messages */
    EvalBaselineRow *rows;
    size_t n_rows;
} EvalBaselines;

bool eval_bundle_parse_csv(const char *text, size_t len, const char *name, EvalBaselines *out, char *err,
                           size_t err_cap);
/* The random baseline (percent, [0, 100)) of task. False with the reason naming the task
 * and the csv when no row or two rows name it, or its value is not such a number. */
bool eval_bundle_baseline(const EvalBaselines *b, const char *task, double *percent, char *err, size_t err_cap);
void eval_baselines_free(EvalBaselines *b);

/* Read the bundle at path (either layout above) into a suite: path = the yaml, data_dir =
 * the task files' folder, tasks in the yaml's order, each file checked to exist. False
 * with `file[:line]: reason` in err. */
bool eval_bundle_load(const char *path, EvalSuite *out, char *err, size_t err_cap);

#endif
