/* eval_run_core.c: `nmoe-eval core`, the CORE-style in-context-learning tasks
 * (nmoe-eval(1); the decision rules and their provenance are in eval_score.h).
 *
 * Per task of the config: load and validate the task file, then for each example (all,
 * or a seeded subset of --limit, drawn by --draw / suite.draw: philox, or python as the
 * DCLM / nanochat reference draws) build the few-shot prompts (eval_prompts.h), tokenize
 * each prompt whole, turn the token sequences into an EvalExample (BOS in front, scored
 * span, left truncation), and score the sequences with the trainer's forward pass
 * (model_score_from: the head only at the scored positions), several examples per call. The decisions are tallied into one `eval`
 * line per task; a `core` line (mean centered score) closes the output.
 *
 * With --examples, an `example` line per example shows what was scored: each
 * sequence's token ids, the scored span, its mean loss and log-likelihood; the PyTorch
 * oracle (tests/oracle/eval_oracle.sh) recomputes those from the ids. */
#include "base/error.h"
#include "eval/eval_bundle.h"
#include "eval/eval_prompts.h"
#include "eval/eval_run.h"
#include "eval/eval_score.h"
#include "eval/eval_suite.h"
#include "eval/eval_summary.h"
#include "formats/ndjson.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sequences pending at most before a scoring call, whatever the head's block wants (a
 * bound on the memory of many one-position sequences). */
enum { PENDING_MAX_SEQS = 1024 };

/* ---- the task config ------------------------------------------------------------ */

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

/* --tasks, or the default: pipelines/core.toml in the current directory, else the one
 * beside the program (BINDIR/../pipelines/core.toml), so an installed tree works from
 * anywhere. The result is malloc'ed. */
static char *tasks_path(const EvalOptions *o)
{
    if (o->tasks) return xstrdup(o->tasks);
    if (file_exists(EVAL_RUN_DEFAULT_TASKS)) return xstrdup(EVAL_RUN_DEFAULT_TASKS);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            size_t need = strlen(exe) + sizeof "/../" EVAL_RUN_DEFAULT_TASKS;
            char *p = xmalloc(need);
            snprintf(p, need, "%s/../%s", exe, EVAL_RUN_DEFAULT_TASKS);
            if (file_exists(p)) return p;
            free(p);
        }
    }
    die("%s: no such file here nor beside the program; give the task config with --tasks FILE",
        EVAL_RUN_DEFAULT_TASKS);
}

/* The tasks to run: every task of the suite in its order, or the --task names in the
 * order given (an unknown or repeated name is a usage error). */
static const EvalTaskSpec **select_tasks(const EvalSuite *s, const EvalOptions *o, size_t *n_out)
{
    const EvalTaskSpec **sel;
    if (!o->n_task_names) {
        sel = xcalloc(s->n_tasks + 1, sizeof *sel);
        for (size_t i = 0; i < s->n_tasks; i++) sel[i] = &s->tasks[i];
        *n_out = s->n_tasks;
        return sel;
    }
    sel = xcalloc(o->n_task_names, sizeof *sel);
    for (size_t i = 0; i < o->n_task_names; i++) {
        const EvalTaskSpec *t = eval_suite_find(s, o->task_names[i]);
        if (!t) die_usage("--task %s: no such task in %s", o->task_names[i], s->path);
        for (size_t j = 0; j < i; j++)
            if (sel[j] == t) die_usage("--task %s given twice", o->task_names[i]);
        sel[i] = t;
    }
    *n_out = o->n_task_names;
    return sel;
}

/* The examples of a task to evaluate (eval_subset_make), with the few-shot count checked
 * against what the draw samples from. A file with too few examples is a runtime error,
 * as a bad task file is; a --limit that leaves too few under the python draw (whose
 * few-shot pool is the evaluated subset) is a usage error. */
static void select_items(const EvalTaskSpec *spec, const EvalTaskData *data, const EvalOptions *o, EvalDraw draw,
                         uint64_t seed, EvalSubset *sub)
{
    const size_t k = (size_t)spec->num_fewshot;
    if (k >= data->n_items)
        die("%s: %zu examples are too few for %zu-shot prompts (need at least %zu)", data->path, data->n_items, k,
            k + 1);
    eval_subset_make(draw, seed, data->n_items, o->limit, sub);
    if (k >= eval_subset_fewshot_pool(sub))
        die_usage("--limit %" PRIu64 ": task %s has %zu-shot prompts, and under --draw python the few-shot examples "
                  "come from the %zu evaluated ones (need --limit %zu or more)",
                  o->limit, spec->label, k, sub->n, k + 1);
}

/* The prompts of sub->items[j]. */
static void build_prompts(const EvalTaskData *data, const EvalTaskSpec *spec, const EvalSubset *sub, size_t j,
                          EvalPrompts *pr)
{
    const size_t k = (size_t)spec->num_fewshot;
    size_t *fewshot = xcalloc(k + 1, sizeof *fewshot);
    eval_subset_fewshot(sub, j, k, fewshot);
    EvalPromptSpec ps = { spec->num_fewshot, spec->delimiter, sub->seed };
    char err[4096];
    if (!eval_prompts_render(data, sub->items[j], fewshot, k, &ps, pr, err, sizeof err)) die("%s", err);
    free(fewshot);
}

static EvalTaskData load_task(const EvalTaskSpec *t)
{
    EvalTaskData d;
    char err[4096];
    if (!eval_tasks_load(t->file, t->type, &d, err, sizeof err)) die("%s", err);
    return d;
}

/* ---- scoring ---------------------------------------------------------------------- */

/* One example waiting for the model, with room for its outputs. */
typedef struct {
    size_t item;
    EvalExample ex;
    float **logprob;     /* [n_seqs][len - 1] */
    uint32_t **argmax;
} Pending;

typedef struct {
    EvalModel *em;
    const EvalOptions *o;
    EvalOut *out;
    const EvalTaskSpec *spec;
    const EvalTaskData *data;
    EvalTally tally;
    Pending *pending;
    size_t n_pending, pending_seqs, pending_rows, cap_pending;
    /* model_score arguments, reused */
    const uint32_t **ids;
    size_t *lens, *from;
    float **lp;
    uint32_t **am;
    size_t cap_seqs;
    NdLine line;
} TaskRun;

static void write_example_line(TaskRun *r, const Pending *p, const EvalDecision *d, const double *mean_loss)
{
    const EvalExample *ex = &p->ex;
    NdLine *l = &r->line;
    nd_begin_metric(l, "example", r->em->run, r->em->step);
    nd_str(l, "task", r->spec->label);
    nd_int(l, "item", (int64_t)p->item);
    nd_int(l, "line", r->data->items[p->item].line);
    nd_int(l, "gold", ex->gold);
    nd_int(l, "pred", d->pred);
    nd_bool(l, "correct", d->correct);
    nd_bool(l, "truncated", ex->truncated);
    nd_bool(l, "overlong", ex->overlong);
    nd_bool(l, "adjusted", ex->adjusted);
    nd_arr_begin(l, "seqs");
    for (size_t s = 0; s < ex->n_seqs; s++) {
        const EvalSeq *q = &ex->seqs[s];
        nd_obj_begin(l, NULL);
        nd_arr_begin(l, "ids");
        for (size_t t = 0; t < q->len; t++) nd_elem_int(l, q->ids[t]);
        nd_arr_end(l);
        nd_int(l, "start", (int64_t)q->start);
        nd_int(l, "end", (int64_t)q->end);
        if (!ex->overlong) {
            /* log p of the scored tokens ids[start..end), predicted at start-1..end-2 */
            double sum = 0.0;
            bool greedy = true;
            for (size_t t = q->start; t < q->end; t++) {
                sum += p->logprob[s][t - 1];
                greedy = greedy && p->argmax[s][t - 1] == q->ids[t];
            }
            nd_f64(l, "logprob", sum);
            nd_f64(l, "mean_loss", mean_loss[s]);
            nd_bool(l, "greedy", greedy);
        }
        nd_obj_end(l);
    }
    nd_arr_end(l);
    nd_emit(l, r->out->fp, r->out->name);
}

/* Score every pending example in one model_score call, decide and tally them. */
static void flush_pending(TaskRun *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_pending; i++) {
        Pending *p = &r->pending[i];
        if (p->ex.overlong) continue;
        for (size_t s = 0; s < p->ex.n_seqs; s++, n++) {
            r->ids[n] = p->ex.seqs[s].ids;
            r->lens[n] = p->ex.seqs[s].len;
            r->from[n] = p->ex.seqs[s].start - 1; /* the first scored token's position */
            r->lp[n] = p->logprob[s];
            r->am[n] = p->argmax[s];
        }
    }
    if (n) model_score_from(r->em->model, n, r->ids, r->lens, r->from, r->lp, r->am);
    for (size_t i = 0; i < r->n_pending; i++) {
        Pending *p = &r->pending[i];
        double *mean_loss = xcalloc(p->ex.n_seqs, sizeof *mean_loss);
        EvalDecision d;
        eval_example_decide(&p->ex, (const float *const *)p->logprob, (const uint32_t *const *)p->argmax, mean_loss, &d);
        eval_tally_add(&r->tally, &p->ex, &d);
        if (r->o->examples && r->out->fp) write_example_line(r, p, &d, mean_loss);
        free(mean_loss);
        for (size_t s = 0; s < p->ex.n_seqs; s++) {
            free(p->logprob[s]);
            free(p->argmax[s]);
        }
        free(p->logprob);
        free(p->argmax);
        eval_example_free(&p->ex);
    }
    r->n_pending = 0;
    r->pending_seqs = 0;
    r->pending_rows = 0;
}

static void add_pending(TaskRun *r, size_t item, EvalExample *ex)
{
    if (r->n_pending == r->cap_pending) {
        r->cap_pending = r->cap_pending ? 2 * r->cap_pending : 16;
        r->pending = xrealloc(r->pending, r->cap_pending * sizeof *r->pending);
    }
    Pending *p = &r->pending[r->n_pending++];
    p->item = item;
    p->ex = *ex;
    p->logprob = xcalloc(ex->n_seqs, sizeof *p->logprob);
    p->argmax = xcalloc(ex->n_seqs, sizeof *p->argmax);
    if (!ex->overlong) {
        for (size_t s = 0; s < ex->n_seqs; s++) {
            size_t n = ex->seqs[s].len - 1;
            p->logprob[s] = xmalloc((n ? n : 1) * sizeof(float));
            p->argmax[s] = xmalloc((n ? n : 1) * sizeof(uint32_t));
            r->pending_rows += ex->seqs[s].len - ex->seqs[s].start; /* positions start-1..len-2 */
        }
        r->pending_seqs += ex->n_seqs;
    }
    if (r->pending_seqs + 1 > r->cap_seqs) {
        r->cap_seqs = 2 * (r->pending_seqs + 1);
        r->ids = xrealloc(r->ids, r->cap_seqs * sizeof *r->ids);
        r->lens = xrealloc(r->lens, r->cap_seqs * sizeof *r->lens);
        r->from = xrealloc(r->from, r->cap_seqs * sizeof *r->from);
        r->lp = xrealloc(r->lp, r->cap_seqs * sizeof *r->lp);
        r->am = xrealloc(r->am, r->cap_seqs * sizeof *r->am);
    }
}

/* Tokenize context + continuation as one string (CORE tokenizes whole prompts). */
static void encode_joined(const Tokenizer *t, TokEncoder *enc, const char *a, const char *b, char **buf,
                          size_t *cap, IdVec *out)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    if (la + lb + 1 > *cap) {
        *cap = 2 * (la + lb + 1);
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf, a, la);
    if (lb) memcpy(*buf + la, b, lb);
    out->n = 0;
    tok_encode(t, enc, (const uint8_t *)*buf, la + lb, false, out);
}

static void run_task(EvalModel *em, const EvalOptions *o, EvalDraw draw, uint64_t seed, const EvalTaskSpec *spec,
                     const EvalTaskData *task_data, EvalOut *out, EvalTaskResult *res)
{
    const double t0 = monotonic_s();
    const EvalTaskData data = *task_data;
    EvalSubset sub;
    select_items(spec, &data, o, draw, seed, &sub);
    const size_t n_sel = sub.n;
    const Tokenizer *t = em->tok;
    TokEncoder *enc = tok_encoder_new(t);
    TaskRun r = { .em = em, .o = o, .out = out, .spec = spec, .data = &data };
    const size_t score_rows = model_score_rows(em->model);
    IdVec *full = NULL, prefix = { 0 };
    size_t n_full = 0;
    char *buf = NULL;
    size_t buf_cap = 0;
    char err[4096];
    double t_said = t0;

    for (size_t k = 0; k < n_sel; k++) {
        const size_t i = sub.items[k];
        EvalPrompts pr;
        build_prompts(&data, spec, &sub, k, &pr);
        if (pr.n_pairs > n_full) {
            full = xrealloc(full, pr.n_pairs * sizeof *full);
            memset(full + n_full, 0, (pr.n_pairs - n_full) * sizeof *full);
            n_full = pr.n_pairs;
        }
        const uint32_t **fv = xcalloc(pr.n_pairs, sizeof *fv);
        size_t *fl = xcalloc(pr.n_pairs, sizeof *fl);
        for (size_t c = 0; c < pr.n_pairs; c++) {
            encode_joined(t, enc, pr.pairs[c].context, pr.pairs[c].continuation, &buf, &buf_cap, &full[c]);
            fv[c] = full[c].v;
            fl[c] = full[c].n;
        }
        if (spec->type == EVAL_LANGUAGE_MODELING)
            encode_joined(t, enc, pr.pairs[0].context, NULL, &buf, &buf_cap, &prefix);
        EvalExample ex;
        if (!eval_example_from_tokens(spec->type, (uint32_t)t->eot_id, fv, fl, pr.n_pairs, prefix.v, prefix.n,
                                      em->seq_len, pr.gold, &ex, err, sizeof err))
            die("%s:%ld: %s", data.path, data.items[i].line, err);
        free(fv);
        free(fl);
        eval_prompts_free(&pr);
        add_pending(&r, i, &ex);
        /* A call holds at least --batch sequences and, so the head's blocks are full,
         * model_score_rows scored positions; at most PENDING_MAX_SEQS sequences. */
        if ((r.pending_seqs >= (size_t)o->batch && r.pending_rows >= score_rows) || r.pending_seqs >= PENDING_MAX_SEQS)
            flush_pending(&r);
        const double now = monotonic_s();
        if (now - t_said > 5.0) {
            info(NMOE_VERBOSE, "%s: %" PRIu64 "/%zu examples, accuracy so far %.4f\n", spec->label,
                 r.tally.examples + r.n_pending, n_sel, eval_accuracy(&r.tally));
            t_said = now;
        }
    }
    flush_pending(&r);

    memset(res, 0, sizeof *res);
    eval_result_from_tally(res, spec, seed, &r.tally);
    res->draw = draw;
    res->run = xstrdup(em->run);
    res->step = em->step;
    res->seq_len = (int64_t)em->seq_len;
    res->ckpt = xstrdup(em->ckpt_arg);
    res->fingerprint = xstrdup(em->fingerprint);
    res->elapsed_s = monotonic_s() - t0;
    if (out->fp) eval_write_task_line(out->fp, out->name, res);
    info(NMOE_NORMAL, "%s: accuracy %.4f (%" PRIu64 "/%" PRIu64 "), centered %.4f, %.1f s%s\n", spec->label,
         res->accuracy, res->correct, res->examples, res->centered, res->elapsed_s,
         res->truncated ? " (some prompts truncated)" : "");
    if (res->overlong) warnx("%s: %" PRIu64 " examples do not fit seq_len %zu and count as wrong", spec->label,
                             res->overlong, em->seq_len);

    for (size_t c = 0; c < n_full; c++) idvec_free(&full[c]);
    free(full);
    idvec_free(&prefix);
    free(buf);
    free(r.pending);
    free(r.ids);
    free(r.lens);
    free(r.from);
    free(r.lp);
    free(r.am);
    nd_free(&r.line);
    tok_encoder_free(enc);
    eval_subset_free(&sub);
}

/* ---- --list and --dump-prompts (no model) -------------------------------------------- */

static void dump_prompts(const EvalTaskSpec *const *sel, size_t n_sel, const EvalOptions *o, EvalDraw draw,
                         uint64_t seed)
{
    EvalOut out;
    eval_out_open(&out, o);
    if (!out.fp) die_usage("--dump-prompts writes NDJSON: it does not go with --table");
    for (size_t k = 0; k < n_sel; k++) {
        const EvalTaskSpec *spec = sel[k];
        EvalTaskData data = load_task(spec);
        EvalSubset sub;
        select_items(spec, &data, o, draw, seed, &sub);
        for (size_t j = 0; j < sub.n; j++) {
            EvalPrompts p;
            build_prompts(&data, spec, &sub, j, &p);
            eval_write_prompts_line(out.fp, out.name, spec->label, sub.items[j], data.items[sub.items[j]].line, &p);
            eval_prompts_free(&p);
        }
        eval_subset_free(&sub);
        eval_tasks_free(&data);
    }
    eval_out_close(&out);
}

int eval_run_core(const EvalOptions *o)
{
    EvalSuite suite;
    char err[4096];
    if (o->bundle) {
        if (!eval_bundle_load(o->bundle, &suite, err, sizeof err)) die("%s", err);
    } else {
        char *path = tasks_path(o);
        if (!eval_suite_load(path, &suite, err, sizeof err)) die("%s", err);
        free(path);
    }
    const uint64_t seed = o->seed_set ? o->seed : suite.seed;
    const EvalDraw draw = o->draw_set ? o->draw : suite.draw;

    if (o->list) {
        eval_suite_write_list(&suite, stdout);
        if (fflush(stdout) != 0) die("stdout: write failed");
        eval_suite_free(&suite);
        return NMOE_EXIT_OK;
    }
    size_t n_sel;
    const EvalTaskSpec **sel = select_tasks(&suite, o, &n_sel);
    if (o->dump_prompts) {
        dump_prompts(sel, n_sel, o, draw, seed);
        free(sel);
        eval_suite_free(&suite);
        return NMOE_EXIT_OK;
    }

    /* Every task file is checked before the model is loaded and any task is scored, so
     * a bad line in the last task fails in a second, not after an hour of scoring. */
    EvalTaskData *data = xcalloc(n_sel + 1, sizeof *data);
    for (size_t k = 0; k < n_sel; k++) {
        data[k] = load_task(sel[k]);
        EvalSubset sub;
        select_items(sel[k], &data[k], o, draw, seed, &sub);
        eval_subset_free(&sub);
    }
    EvalModel em;
    eval_model_open(&em, o, true);
    if (em.tok->eot_id < 0)
        die("tokenizer %s has no <|endoftext|>: CORE puts it in front of every prompt", o->tokenizer);

    EvalOut out;
    eval_out_open(&out, o);
    EvalSummary sum = { 0 };
    sum.tasks = xcalloc(n_sel + 1, sizeof *sum.tasks);
    for (size_t k = 0; k < n_sel; k++) {
        run_task(&em, o, draw, seed, sel[k], &data[k], &out, &sum.tasks[k]);
        sum.n_tasks++;
        eval_tasks_free(&data[k]);
    }
    if (out.fp) {
        /* The closing `core` line: the mean centered score over the tasks run. */
        eval_write_core_line(out.fp, out.name, em.run, em.step, &sum);
    }
    /* How many tasks the score covers: the shipped suite has 20, a bundle 22. */
    if (n_sel > 1)
        info(NMOE_NORMAL, "CORE %.4f over %zu of the %zu tasks of %s%s\n", eval_summary_core(&sum), n_sel,
             suite.n_tasks, suite.path, n_sel == 22 ? "" : " (CORE proper is the mean over 22)");
    eval_out_close(&out);
    if (o->table) {
        eval_summary_write_table(&sum, stdout);
        if (fflush(stdout) != 0) die("stdout: write failed");
    }
    eval_summary_free(&sum);
    free(data);
    free(sel);
    eval_suite_free(&suite);
    eval_model_close(&em);
    return NMOE_EXIT_OK;
}
