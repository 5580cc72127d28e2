/* eval_summary.c: see eval_summary.h. */
#include "eval/eval_summary.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "formats/ndjson.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

void eval_result_from_tally(EvalTaskResult *r, const EvalTaskSpec *spec, uint64_t seed, const EvalTally *t)
{
    r->task = xstrdup(spec->label);
    r->type = spec->type;
    r->num_fewshot = spec->num_fewshot;
    r->random_baseline = spec->random_baseline;
    r->seed = seed;
    r->file = dup_or_null(spec->file);
    r->examples = t->examples;
    r->correct = t->correct;
    r->truncated = t->truncated;
    r->overlong = t->overlong;
    r->adjusted = t->adjusted;
    r->nonfinite = t->nonfinite;
    r->positions = t->positions;
    r->scored = t->scored;
    r->accuracy = eval_accuracy(t);
    r->centered = eval_centered(r->accuracy, spec->random_baseline);
}

void eval_result_free(EvalTaskResult *r)
{
    if (!r) return;
    free(r->task);
    free(r->file);
    free(r->run);
    free(r->ckpt);
    free(r->fingerprint);
    free(r->source);
    cJSON_Delete(r->raw);
    memset(r, 0, sizeof *r);
}

void eval_write_task_line(FILE *fp, const char *what, const EvalTaskResult *r)
{
    NdLine l = { 0 };
    nd_begin_metric(&l, "eval", r->run, r->step);
    nd_str(&l, "task", r->task);
    nd_str(&l, "type", eval_task_type_name(r->type));
    nd_int(&l, "num_fewshot", r->num_fewshot);
    nd_f64(&l, "random_baseline", r->random_baseline);
    nd_int(&l, "seed", (int64_t)r->seed);
    if (r->draw != EVAL_DRAW_PHILOX) nd_str(&l, "draw", eval_draw_name(r->draw));
    if (r->seq_len >= 0) nd_int(&l, "seq_len", r->seq_len);
    nd_int(&l, "examples", (int64_t)r->examples);
    nd_int(&l, "correct", (int64_t)r->correct);
    nd_f64(&l, "accuracy", r->accuracy);
    nd_f64(&l, "centered", r->centered);
    nd_int(&l, "truncated", (int64_t)r->truncated);
    nd_int(&l, "overlong", (int64_t)r->overlong);
    nd_int(&l, "adjusted", (int64_t)r->adjusted);
    nd_int(&l, "nonfinite", (int64_t)r->nonfinite);
    if (r->file) nd_str(&l, "file", r->file);
    if (r->ckpt) nd_str(&l, "ckpt", r->ckpt);
    if (r->fingerprint) nd_str(&l, "fingerprint", r->fingerprint);
    if (r->elapsed_s >= 0) {
        nd_obj_begin(&l, "time");
        nd_f64(&l, "elapsed_s", r->elapsed_s);
        if (r->positions) nd_int(&l, "positions", (int64_t)r->positions);
        if (r->scored) nd_int(&l, "scored", (int64_t)r->scored);
        nd_obj_end(&l);
    }
    nd_emit(&l, fp, what);
    nd_free(&l);
}

/* Reader ------------------------------------------------------------------------------- */


static bool want_string(const cJSON *o, const char *key, bool required, char **out, const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return required ? errbuf_fail(err, cap, "%s: eval line has no \"%s\"", where, key) : true;
    if (!cJSON_IsString(v) || !v->valuestring) return errbuf_fail(err, cap, "%s: \"%s\" is not a string", where, key);
    *out = xstrdup(v->valuestring);
    return true;
}

static bool want_number(const cJSON *o, const char *key, double *out, const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return errbuf_fail(err, cap, "%s: eval line has no \"%s\"", where, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return errbuf_fail(err, cap, "%s: \"%s\" is not a finite number", where, key);
    *out = v->valuedouble;
    return true;
}

/* A whole number in [lo, 2^53] (exact in a double). Absent and optional: *out = dflt. */
static bool want_count(const cJSON *o, const char *key, bool required, double lo, double dflt, double *out,
                       const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) return errbuf_fail(err, cap, "%s: eval line has no \"%s\"", where, key);
        *out = dflt;
        return true;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < lo || d > 9007199254740992.0)
        return errbuf_fail(err, cap, "%s: \"%s\" is not a whole number >= %.0f", where, key, lo);
    *out = d;
    return true;
}

/* Equal up to rounding of a different writer; ours round-trip exactly. */
static bool close_enough(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

static bool parse_eval_line(cJSON *o, EvalTaskResult *r, const char *where, char *err, size_t cap)
{
    char *type = NULL, *draw = NULL;
    double step, examples, correct, nfs, seed, seq_len, trunc, over, adj, nonf;
    bool ok = want_string(o, "run", true, &r->run, where, err, cap) &&
              want_count(o, "step", true, 0, 0, &step, where, err, cap) &&
              want_string(o, "task", true, &r->task, where, err, cap) &&
              want_string(o, "type", true, &type, where, err, cap);
    if (ok && !eval_task_type_parse(type, &r->type))
        ok = errbuf_fail(err, cap, "%s: \"type\" \"%s\" is not a task type", where, type);
    free(type);
    ok = ok && want_count(o, "num_fewshot", true, 0, 0, &nfs, where, err, cap) &&
         want_number(o, "random_baseline", &r->random_baseline, where, err, cap) &&
         want_count(o, "seed", false, 0, 0, &seed, where, err, cap) &&
         want_string(o, "draw", false, &draw, where, err, cap) &&
         want_count(o, "seq_len", false, 1, -1, &seq_len, where, err, cap) &&
         want_count(o, "examples", true, 1, 0, &examples, where, err, cap) &&
         want_count(o, "correct", true, 0, 0, &correct, where, err, cap) &&
         want_number(o, "accuracy", &r->accuracy, where, err, cap) &&
         want_number(o, "centered", &r->centered, where, err, cap) &&
         want_count(o, "truncated", false, 0, 0, &trunc, where, err, cap) &&
         want_count(o, "overlong", false, 0, 0, &over, where, err, cap) &&
         want_count(o, "adjusted", false, 0, 0, &adj, where, err, cap) &&
         want_count(o, "nonfinite", false, 0, 0, &nonf, where, err, cap) &&
         want_string(o, "file", false, &r->file, where, err, cap) &&
         want_string(o, "ckpt", false, &r->ckpt, where, err, cap) &&
         want_string(o, "fingerprint", false, &r->fingerprint, where, err, cap);
    r->draw = EVAL_DRAW_PHILOX;
    if (ok && draw && !eval_draw_parse(draw, &r->draw))
        ok = errbuf_fail(err, cap, "%s: \"draw\" \"%s\" is not philox or python", where, draw);
    free(draw);
    if (!ok) return false;
    r->step = (int64_t)step;
    r->num_fewshot = (int)fmin(nfs, EVAL_MAX_FEWSHOT + 1.0);
    r->seed = (uint64_t)seed;
    r->seq_len = (int64_t)seq_len;
    r->examples = (uint64_t)examples;
    r->correct = (uint64_t)correct;
    r->truncated = (uint64_t)trunc;
    r->overlong = (uint64_t)over;
    r->adjusted = (uint64_t)adj;
    r->nonfinite = (uint64_t)nonf;
    r->elapsed_s = -1;
    if (!(r->random_baseline >= 0 && r->random_baseline < 100))
        return errbuf_fail(err, cap, "%s: \"random_baseline\" %g is not in [0, 100)", where, r->random_baseline);
    if (r->correct > r->examples)
        return errbuf_fail(err, cap, "%s: \"correct\" %.0f is more than \"examples\" %.0f", where, correct, examples);
    EvalTally t = { .examples = r->examples, .correct = r->correct };
    double acc = eval_accuracy(&t), cen = eval_centered(acc, r->random_baseline);
    if (!close_enough(r->accuracy, acc))
        return errbuf_fail(err, cap, "%s: \"accuracy\" %.17g is not correct/examples = %.17g", where, r->accuracy, acc);
    if (!close_enough(r->centered, cen))
        return errbuf_fail(err, cap, "%s: \"centered\" %.17g is not (accuracy - b)/(1 - b) = %.17g", where, r->centered, cen);
    return true;
}

bool eval_summary_read(EvalSummary *s, const char *path, char *err, size_t cap)
{
    NdReader rd;
    nd_reader_open(&rd, path, false);
    cJSON *o;
    NdStatus st;
    bool ok = true;
    char where[4096 + 32];
    while (ok && (st = nd_reader_next(&rd, &o, err, cap)) != ND_EOF) {
        if (st == ND_BAD) { ok = false; break; }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
        /* CORE task results are the eval lines with a task "type"; other eval lines
         * (task "bpb", ...) and other kinds are not part of the summary. */
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "eval") != 0 ||
            !cJSON_GetObjectItemCaseSensitive(o, "type")) {
            cJSON_Delete(o);
            continue;
        }
        snprintf(where, sizeof where, "%s:%ld", rd.path, rd.line_no);
        EvalTaskResult r = { 0 };
        r.source = xstrdup(where);
        r.raw = o;
        ok = parse_eval_line(o, &r, where, err, cap);
        for (size_t i = 0; ok && i < s->n_tasks; i++) {
            const EvalTaskResult *p = &s->tasks[i];
            if (strcmp(p->task, r.task) == 0)
                ok = errbuf_fail(err, cap, "%s: task \"%s\" again (first at %s)", where, r.task, p->source);
            else if (i == 0 && (strcmp(p->run, r.run) != 0 || p->step != r.step))
                ok = errbuf_fail(err, cap, "%s: task \"%s\" is from run \"%s\" step %lld, but %s is from run \"%s\" step %lld",
                          where, r.task, r.run, (long long)r.step, p->source, p->run, (long long)p->step);
            else if (i == 0 && p->draw != r.draw)
                /* One CORE, one way of drawing the few-shot examples and subsets. */
                ok = errbuf_fail(err, cap, "%s: task \"%s\" was drawn with %s, but %s with %s: one summary, one --draw",
                                 where, r.task, eval_draw_name(r.draw), p->source, eval_draw_name(p->draw));
        }
        if (!ok) { eval_result_free(&r); break; }
        s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) * sizeof *s->tasks);
        s->tasks[s->n_tasks++] = r;
    }
    nd_reader_close(&rd);
    return ok;
}

double eval_summary_core(const EvalSummary *s)
{
    double *c = xcalloc(s->n_tasks + 1, sizeof *c);
    for (size_t i = 0; i < s->n_tasks; i++) c[i] = s->tasks[i].centered;
    double core = eval_core(c, s->n_tasks);
    free(c);
    return core;
}

void eval_summary_write_table(const EvalSummary *s, FILE *fp)
{
    char label[64];
    snprintf(label, sizeof label, "CORE (%zu task%s)", s->n_tasks, s->n_tasks == 1 ? "" : "s");
    int w = (int)strlen(label);
    for (size_t i = 0; i < s->n_tasks; i++) {
        int n = (int)strlen(s->tasks[i].task);
        if (n > w) w = n;
    }
    fprintf(fp, "%-*s  %-17s  %5s  %8s  %8s  %8s  %8s  %9s  %8s\n", w, "task", "type", "shots", "examples",
            "baseline", "accuracy", "centered", "truncated", "overlong");
    uint64_t over = 0, nonf = 0;
    for (size_t i = 0; i < s->n_tasks; i++) {
        const EvalTaskResult *r = &s->tasks[i];
        fprintf(fp, "%-*s  %-17s  %5d  %8llu  %8.1f  %8.4f  %8.4f  %9llu  %8llu\n", w, r->task,
                eval_task_type_name(r->type), r->num_fewshot, (unsigned long long)r->examples,
                r->random_baseline, r->accuracy, r->centered, (unsigned long long)r->truncated,
                (unsigned long long)r->overlong);
        over += r->overlong;
        nonf += r->nonfinite;
    }
    fprintf(fp, "%-*s  %-17s  %5s  %8s  %8s  %8s  %8.4f\n", w, label, "", "", "", "", "", eval_summary_core(s));
    if (s->n_tasks)
        fprintf(fp, "run %s, step %lld%s\n", s->tasks[0].run, (long long)s->tasks[0].step,
                s->n_tasks != 22 ? "; CORE proper is the mean over 22 tasks" : "");
    if (over) fprintf(fp, "note: %llu examples did not fit the context and were counted wrong\n", (unsigned long long)over);
    if (nonf) fprintf(fp, "note: %llu examples met a NaN score\n", (unsigned long long)nonf);
}

void eval_summary_write_ndjson(const EvalSummary *s, FILE *fp, const char *what)
{
    for (size_t i = 0; i < s->n_tasks; i++) {
        char *text = cJSON_PrintUnformatted(s->tasks[i].raw);
        if (!text) die("%s: out of memory printing an eval line", what);
        if (fputs(text, fp) == EOF || fputc('\n', fp) == EOF || fflush(fp) != 0)
            die("%s: write failed", what);
        cJSON_free(text);
    }
    eval_write_core_line(fp, what, s->n_tasks ? s->tasks[0].run : "", s->n_tasks ? s->tasks[0].step : 0, s);
}

void eval_write_core_line(FILE *fp, const char *what, const char *run, int64_t step, const EvalSummary *s)
{
    NdLine l = { 0 };
    nd_begin_metric(&l, "core", run, step);
    nd_f64(&l, "core", eval_summary_core(s));
    nd_int(&l, "n_tasks", (int64_t)s->n_tasks);
    nd_arr_begin(&l, "tasks");
    for (size_t i = 0; i < s->n_tasks; i++) nd_elem_str(&l, s->tasks[i].task);
    nd_arr_end(&l);
    nd_emit(&l, fp, what);
    nd_free(&l);
}

void eval_summary_free(EvalSummary *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_tasks; i++) eval_result_free(&s->tasks[i]);
    free(s->tasks);
    memset(s, 0, sizeof *s);
}

void eval_summary_run(const char *const *inputs, size_t n_inputs, const char *ndjson_out, FILE *table_out)
{
    EvalSummary s = { 0 };
    char err[8192];
    for (size_t i = 0; i < n_inputs; i++)
        if (!eval_summary_read(&s, inputs[i], err, sizeof err)) die("%s", err);
    if (s.n_tasks == 0) die("no eval lines in the input");
    if (ndjson_out && strcmp(ndjson_out, "-") == 0) {
        eval_summary_write_ndjson(&s, stdout, "stdout");
    } else if (ndjson_out) {
        AtomicFile *af = atomic_open(ndjson_out);
        eval_summary_write_ndjson(&s, atomic_stream(af), ndjson_out);
        atomic_commit(af);
    }
    if (table_out) {
        eval_summary_write_table(&s, table_out);
        if (fflush(table_out) != 0) die("write failed: the table");
    }
    eval_summary_free(&s);
}
