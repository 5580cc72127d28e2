/* eval_run.h: the subcommands of nmoe-eval(1) that need a model: bpb, core, router and
 * sample (summary is eval_summary_run). tools/nmoe-eval.c parses the command line into
 * EvalOptions and calls one of these; each returns the exit status or dies (error.h).
 *
 * One file per subcommand (eval_run_bpb.c, eval_run_core.c, eval_run_router.c,
 * eval_run_sample.c); what they share, the checkpoint + tokenizer loading with its
 * identity checks and the NDJSON output sink, is in eval_run_common.c. All of them run
 * the trainer's own forward pass (model.h: model_eval_loss, model_score,
 * model_next_logits); there is no second model implementation here. */
#ifndef NMOE_EVAL_RUN_H
#define NMOE_EVAL_RUN_H

#include "base/atomic_file.h"
#include "base/clock.h"
#include "eval/eval_prompts.h"
#include "train/config.h"
#include "model/model.h"
#include "tok/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Defaults, as nmoe-eval(1) and --help state them. */
#define EVAL_RUN_DEFAULT_TOKENIZER "gpt2"
#define EVAL_RUN_DEFAULT_TASKS "pipelines/core.toml"
#define EVAL_RUN_DEFAULT_BATCH 16
#define EVAL_RUN_DEFAULT_ROUTER_TOKENS ((uint64_t)1 << 20)
#define EVAL_RUN_DEFAULT_TEMPERATURE 1.0
#define EVAL_RUN_DEFAULT_SAMPLE_SEED 42
#define EVAL_RUN_DEFAULT_MAX_TOKENS 256

/* The Philox stream of `sample` (rng.h: one stream per independent consumer). */
enum { EVAL_SAMPLE_STREAM = 7 };

typedef struct {
    /* common */
    const char *output;          /* -o FILE; NULL: stdout (unless --table) */
    bool table;                  /* --table: a table for people on stdout */
    const char *tokenizer;       /* --tokenizer SPEC */
    /* bpb, core, router, sample */
    const char *ckpt;            /* --ckpt DIR */
    int64_t seq_len;             /* --seq-len; 0: the checkpoint's */
    double context_factor;       /* --context-factor: --seq-len up to this times the checkpoint's; 0 = 1 */
    bool yarn;                   /* --yarn: YaRN with rope_factor = context_factor, original = trained */
    int batch;                   /* --batch: sequences per forward call */
    const char *backend;         /* --backend; NULL: "cpu" */
    /* bpb, router */
    const char *data;            /* --data SHARDS */
    const char *split;           /* --split: "val", "train" or "all" */
    uint64_t tokens;             /* --tokens; 0: all (bpb) */
    bool tokens_set;
    /* core */
    const char *tasks;           /* --tasks FILE; NULL: the default, looked up */
    const char *bundle;          /* --bundle PATH: a CORE eval bundle instead (eval_bundle.h) */
    const char **task_names;     /* --task NAME... in the order given */
    size_t n_task_names;
    uint64_t limit;              /* --limit; 0: all */
    uint64_t seed;               /* --seed (core: few-shot and subset; sample: sampling) */
    bool seed_set;
    EvalDraw draw;               /* --draw (core) */
    bool draw_set;
    bool list, dump_prompts;     /* --list, --dump-prompts */
    bool examples;               /* --examples: an `example` line per example */
    /* sample */
    const char *prompt;          /* --prompt TEXT; NULL: empty */
    double temperature;          /* --temperature; 0: greedy */
    int64_t top_k;               /* --top-k; 0: no limit */
    double top_p;                /* --top-p; 1: no limit */
    int64_t max_tokens;          /* --max-tokens */
} EvalOptions;

void eval_options_defaults(EvalOptions *o);

int eval_run_bpb(const EvalOptions *o);
int eval_run_core(const EvalOptions *o);
int eval_run_router(const EvalOptions *o);
int eval_run_sample(const EvalOptions *o);

/* ---- shared by the subcommands (eval_run_common.c) ------------------------------- */

/* A checkpoint loaded for inference, with its config and (when asked for) the tokenizer
 * checked against it. */
typedef struct {
    Model *model;
    Config cfg;                  /* the config the run that wrote it resolved */
    char *dir;                   /* the checkpoint directory (resolved from --ckpt) */
    const char *ckpt_arg;        /* --ckpt as given (for the output lines) */
    char run[17];                /* the run id nmoe-train wrote (the fingerprint for older checkpoints) */
    char fingerprint[17];        /* the config fingerprint */
    int64_t step;
    size_t seq_len;              /* context used: --seq-len or the checkpoint's */
    Tokenizer *tok;              /* NULL unless loaded */
} EvalModel;

/* Loads the checkpoint o->ckpt (a checkpoint directory or a run's out_dir; dies with
 * `dir: reason` on a bad one) for inference: up to o->batch sequences of o->seq_len
 * tokens (or the trained seq_len; a longer --seq-len is a usage error). With
 * load_tokenizer, also loads o->tokenizer and checks it is the checkpoint's vocabulary
 * (same identity when the checkpoint records one, no more ids than the model has). */
void eval_model_open(EvalModel *em, const EvalOptions *o, bool load_tokenizer);
void eval_model_close(EvalModel *em);
/* Checks a data set's vocabulary (size, identity) against the checkpoint and the
 * tokenizer; dies naming `what`. */
void eval_model_check_data(const EvalModel *em, const char *what, uint32_t data_vocab_size, uint64_t data_vocab_id);

/* Where the NDJSON goes: stdout, or -o FILE written atomically (committed by
 * eval_out_close, removed on a fatal error). With --table and no -o, nowhere. */
typedef struct {
    FILE *fp;                    /* NULL: NDJSON not wanted */
    AtomicFile *af;
    const char *name;            /* for write errors */
} EvalOut;

void eval_out_open(EvalOut *out, const EvalOptions *o);
void eval_out_close(EvalOut *out);

/* One `router` line (nmoe-metrics(5)) for one MoE layer over a held-out pass at the
 * checkpoint's step (from_step = to_step = step), statistics from router_stats.h. */
void eval_write_router_line(FILE *fp, const char *what, const char *run, int64_t step, int layer, int n_experts,
                            int top_k, const uint64_t *loads, const float *bias, uint64_t tokens, uint64_t dropped,
                            double top1_affinity_sum);


#endif
