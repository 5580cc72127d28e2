/* eval_offline: the parts of nmoe-eval that need no model, as a helper for the shell and
 * oracle tests until tools/nmoe-eval.c is wired (it calls the same library functions).
 *
 *   eval_offline list TASKS.toml                    = nmoe-eval core --tasks F --list
 *   eval_offline prompts TASKS.toml LABEL [N]       = nmoe-eval core --tasks F --task L
 *                                                     --dump-prompts (first N items)
 *   eval_offline summary [-o FILE] [--table] FILE...= nmoe-eval summary
 *   eval_offline first-choice TASKS.toml LABEL RUN STEP OUT
 *       A STAND-IN FOR THE MODEL, for testing pipelines/core_eval.mk only: "predicts"
 *       choice 0 of every multiple_choice/schema item and gets every language_modeling
 *       item wrong, and writes the task's eval line to OUT atomically. */
#include "base/atomic_file.h"
#include "base/error.h"
#include "eval/eval_prompts.h"
#include "eval/eval_suite.h"
#include "eval/eval_summary.h"

#include <stdlib.h>
#include <string.h>

static EvalSuite load_suite(const char *path)
{
    EvalSuite s;
    char err[4096];
    if (!eval_suite_load(path, &s, err, sizeof err)) die("%s", err);
    return s;
}

static const EvalTaskSpec *find_task(const EvalSuite *s, const char *label)
{
    const EvalTaskSpec *t = eval_suite_find(s, label);
    if (!t) die("%s: no task \"%s\"", s->path, label);
    return t;
}

static EvalTaskData load_task(const EvalTaskSpec *t)
{
    EvalTaskData d;
    char err[4096];
    if (!eval_tasks_load(t->file, t->type, &d, err, sizeof err)) die("%s", err);
    return d;
}

int main(int argc, char **argv)
{
    nmoe_set_prog("eval_offline");
    if (argc < 2) die_usage("usage: eval_offline list|prompts|summary|first-choice ...");
    const char *cmd = argv[1];
    if (strcmp(cmd, "list") == 0 && argc == 3) {
        EvalSuite s = load_suite(argv[2]);
        eval_suite_write_list(&s, stdout);
        eval_suite_free(&s);
    } else if (strcmp(cmd, "prompts") == 0 && (argc == 4 || argc == 5)) {
        EvalSuite s = load_suite(argv[2]);
        const EvalTaskSpec *t = find_task(&s, argv[3]);
        EvalTaskData d = load_task(t);
        size_t n = argc == 5 ? (size_t)strtoull(argv[4], NULL, 10) : d.n_items;
        if (n > d.n_items) n = d.n_items;
        EvalPromptSpec spec = { t->num_fewshot, t->delimiter, s.seed };
        char err[4096];
        for (size_t i = 0; i < n; i++) {
            EvalPrompts p;
            if (!eval_prompts_build(&d, i, &spec, &p, err, sizeof err)) die("%s", err);
            eval_write_prompts_line(stdout, "stdout", t->label, i, d.items[i].line, &p);
            eval_prompts_free(&p);
        }
        eval_tasks_free(&d);
        eval_suite_free(&s);
    } else if (strcmp(cmd, "summary") == 0) {
        const char *out = NULL;
        bool table = false;
        int i = 2;
        for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
            if (strcmp(argv[i], "--table") == 0) table = true;
            else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
            else die_usage("summary: unknown option %s", argv[i]);
        }
        if (i == argc) die_usage("summary: no input files");
        /* As nmoe-eval summary: NDJSON to -o, or to stdout unless --table took it. */
        if (!out && !table) out = "-";
        if (table && out && strcmp(out, "-") == 0) die_usage("summary: --table and -o - both want stdout");
        eval_summary_run((const char *const *)argv + i, (size_t)(argc - i), out, table ? stdout : NULL);
    } else if (strcmp(cmd, "first-choice") == 0 && argc == 7) {
        EvalSuite s = load_suite(argv[2]);
        const EvalTaskSpec *t = find_task(&s, argv[3]);
        EvalTaskData d = load_task(t);
        EvalTally tally = { 0 };
        for (size_t i = 0; i < d.n_items; i++) {
            tally.examples++;
            tally.correct += t->type != EVAL_LANGUAGE_MODELING && d.items[i].gold == 0;
        }
        EvalTaskResult r = { 0 };
        eval_result_from_tally(&r, t, s.seed, &tally);
        r.run = xstrdup(argv[4]);
        r.step = strtoll(argv[5], NULL, 10);
        r.seq_len = -1;
        r.elapsed_s = -1;
        AtomicFile *af = atomic_open(argv[6]);
        eval_write_task_line(atomic_stream(af), argv[6], &r);
        atomic_commit(af);
        eval_result_free(&r);
        eval_tasks_free(&d);
        eval_suite_free(&s);
    } else {
        die_usage("usage: eval_offline list|prompts|summary|first-choice ... (see the source)");
    }
    return 0;
}
