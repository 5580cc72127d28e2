/* eval_summary.h: the per-task `eval` line of the metric stream (nmoe-metrics(5)), its
 * reader, and the CORE summary (`nmoe-eval summary`: a table and core.ndjson).
 *
 * One `eval` line per task, written by `nmoe-eval core`:
 *   {"kind":"eval","run":R,"step":S,"task":"arc_easy","type":"multiple_choice",
 *    "num_fewshot":10,"random_baseline":25,"seed":1234,"seq_len":1024,
 *    "examples":2376,"correct":1234,"accuracy":0.519..,"centered":0.359..,
 *    "truncated":0,"overlong":0,"adjusted":0,"nonfinite":0,
 *    "file":"pipelines/../data/eval/arc_easy.jsonl","ckpt":"run/ckpt","fingerprint":"..",
 *    "time":{"elapsed_s":12.5,"positions":2432512,"scored":37066}}
 * and "draw":"python" after "seed" when the examples were drawn as the DCLM / nanochat
 * reference draws them (eval_prompts.h); absent, the draw is philox.
 * accuracy = correct / examples; centered = (accuracy - b) / (1 - b), b = random_baseline
 * / 100; overlong examples are counted in examples and not in correct.
 *
 * The summary reads the task eval lines (kind "eval" with a "type") from any number of
 * files; other kinds and other eval lines (task "bpb") are ignored, so a whole metric
 * stream or an earlier core.ndjson can be read. It checks them (required keys
 * and types, accuracy and centered consistent with the counts, every task from the same
 * run and step, no task twice), and writes core.ndjson: every task's eval line as read,
 * then one line
 *   {"kind":"core","run":R,"step":S,"core":0.123..,"n_tasks":20,"tasks":["hellaswag_zeroshot",..]}
 * where core = the mean centered score over the tasks, in the order read. */
#ifndef NMOE_EVAL_SUMMARY_H
#define NMOE_EVAL_SUMMARY_H

#include "eval/eval_score.h"
#include "eval/eval_suite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;

typedef struct {
    /* what was run */
    char *task;
    EvalTaskType type;
    int num_fewshot;
    double random_baseline;   /* percent */
    uint64_t seed;
    EvalDraw draw;            /* written only when not EVAL_DRAW_PHILOX */
    int64_t seq_len;          /* model context used for truncation; -1 unknown */
    char *file;               /* task data file (may be NULL) */
    /* on what */
    char *run;
    int64_t step;
    char *ckpt;               /* may be NULL */
    char *fingerprint;        /* may be NULL */
    /* results */
    uint64_t examples, correct, truncated, overlong, adjusted, nonfinite;
    double accuracy, centered;
    double elapsed_s;         /* goes under "time"; < 0: not written */
    uint64_t positions, scored; /* under "time" with elapsed_s when not 0 (eval_score.h) */
    /* reader only: where the line came from, and the line itself */
    char *source;             /* "file:line" */
    struct cJSON *raw;
} EvalTaskResult;

/* Fill the task and result fields of r from a task spec and its tally (accuracy and
 * centered computed here). Strings are copied; the run fields are the caller's to set. */
void eval_result_from_tally(EvalTaskResult *r, const EvalTaskSpec *spec, uint64_t seed, const EvalTally *t);
void eval_result_free(EvalTaskResult *r);

/* Write r as one `eval` line to fp (`what` names fp in a write error). */
void eval_write_task_line(FILE *fp, const char *what, const EvalTaskResult *r);

typedef struct {
    EvalTaskResult *tasks;
    size_t n_tasks;
} EvalSummary;

/* Add the eval lines of one file ("-" = stdin) to s. False with `file:line: reason` on a
 * malformed line, a bad eval line, a task already read, or a run/step that differs from
 * the lines read before. */
bool eval_summary_read(EvalSummary *s, const char *path, char *err, size_t err_cap);
/* Mean centered score over the tasks; NaN when there are none. */
double eval_summary_core(const EvalSummary *s);
/* The table for people. */
void eval_summary_write_table(const EvalSummary *s, FILE *fp);
/* core.ndjson: the tasks' eval lines, then the `core` line. */
void eval_summary_write_ndjson(const EvalSummary *s, FILE *fp, const char *what);
/* The closing `core` line (nmoe-metrics(5)): the mean centered score over s's tasks,
 * their count and labels, for the checkpoint run/step. */
void eval_write_core_line(FILE *fp, const char *what, const char *run, int64_t step, const EvalSummary *s);
void eval_summary_free(EvalSummary *s);

/* `nmoe-eval summary`: read every input (dies with the reason on any error, or when no
 * eval line was found), write core.ndjson to ndjson_out ("-" = stdout, a path is written
 * atomically, NULL = none) and the table to table_out (NULL = none). */
void eval_summary_run(const char *const *inputs, size_t n_inputs, const char *ndjson_out, FILE *table_out);

#endif
