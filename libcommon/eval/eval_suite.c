/* eval_suite.c: see eval_suite.h. */
#include "eval/eval_suite.h"
#include "base/error.h"
#include "base/path.h"
#include "formats/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


bool eval_suite_label_ok(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}


static EvalTaskSpec *task_for(EvalSuite *s, const char *label, size_t n, int line)
{
    for (size_t i = 0; i < s->n_tasks; i++)
        if (strlen(s->tasks[i].label) == n && memcmp(s->tasks[i].label, label, n) == 0) return &s->tasks[i];
    s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) * sizeof *s->tasks);
    EvalTaskSpec *t = &s->tasks[s->n_tasks++];
    memset(t, 0, sizeof *t);
    t->label = xmalloc(n + 1);
    memcpy(t->label, label, n);
    t->label[n] = 0;
    t->num_fewshot = -1;
    t->random_baseline = -1;
    t->type = EVAL_MULTIPLE_CHOICE;
    t->line = line;
    return t;
}

bool eval_suite_load(const char *path, EvalSuite *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    TomlDoc *doc = toml_parse_file(path, err, cap);
    if (!doc) return false;
    EvalSuite s = { 0 };
    s.path = xstrdup(path);
    s.seed = EVAL_SUITE_DEFAULT_SEED;
    s.draw = EVAL_DRAW_PHILOX;
    char *data_dir = NULL;
    char **files = NULL;   /* as written, per task; resolved at the end */
    bool *typed = NULL;    /* per task: icl_task_type was given */
    bool ok = true;
    for (size_t i = 0; i < toml_count(doc) && ok; i++) {
        const char *key = toml_key_at(doc, i);
        const TomlValue *v = toml_value_at(doc, i);
        if (strncmp(key, "suite.", 6) == 0) {
            const char *k = key + 6;
            if (strcmp(k, "data_dir") == 0) {
                if (v->type != TOML_STRING) ok = errbuf_fail(err, cap, "%s:%d:%d: suite.data_dir must be a string", path, v->line, v->col);
                else { free(data_dir); data_dir = xstrdup(v->u.s); }
            } else if (strcmp(k, "seed") == 0) {
                /* 2^53: the seed goes into the metric stream as a JSON number */
                if (v->type != TOML_INT || v->u.i < 0 || v->u.i > ((int64_t)1 << 53))
                    ok = errbuf_fail(err, cap, "%s:%d:%d: suite.seed must be a whole number in [0, 2^53]", path, v->line, v->col);
                else s.seed = (uint64_t)v->u.i;
            } else if (strcmp(k, "draw") == 0) {
                if (v->type != TOML_STRING || !eval_draw_parse(v->u.s, &s.draw))
                    ok = errbuf_fail(err, cap, "%s:%d:%d: suite.draw must be \"philox\" or \"python\"", path, v->line, v->col);
            } else {
                ok = errbuf_fail(err, cap, "%s:%d:%d: unknown key \"%s\" (suite keys: data_dir, seed, draw)", path, v->line, v->col, key);
            }
            continue;
        }
        const char *dot = strncmp(key, "task.", 5) == 0 ? strrchr(key + 5, '.') : NULL;
        if (!dot) {
            ok = errbuf_fail(err, cap, "%s:%d:%d: unknown key \"%s\" (expected [suite] or [task.LABEL] keys)", path, v->line, v->col, key);
            break;
        }
        const char *label = key + 5;
        size_t n_label = (size_t)(dot - label);
        if (!eval_suite_label_ok(label, n_label)) {
            ok = errbuf_fail(err, cap, "%s:%d:%d: task label \"%.*s\" must be letters, digits, '_' or '-'", path,
                      v->line, v->col, (int)n_label, label);
            break;
        }
        size_t before = s.n_tasks;
        EvalTaskSpec *t = task_for(&s, label, n_label, v->line);
        if (s.n_tasks != before) {
            files = xrealloc(files, s.n_tasks * sizeof *files);
            files[s.n_tasks - 1] = NULL;
            typed = xrealloc(typed, s.n_tasks * sizeof *typed);
            typed[s.n_tasks - 1] = false;
        }
        char **file = &files[t - s.tasks];
        const char *k = dot + 1;
        if (strcmp(k, "file") == 0) {
            if (v->type != TOML_STRING || !v->u.s[0]) ok = errbuf_fail(err, cap, "%s:%d:%d: %s must be a non-empty string", path, v->line, v->col, key);
            else *file = xstrdup(v->u.s);
        } else if (strcmp(k, "icl_task_type") == 0) {
            if (v->type != TOML_STRING || !eval_task_type_parse(v->u.s, &t->type))
                ok = errbuf_fail(err, cap, "%s:%d:%d: %s must be \"multiple_choice\", \"schema\" or \"language_modeling\"",
                          path, v->line, v->col, key);
            else typed[t - s.tasks] = true;
        } else if (strcmp(k, "num_fewshot") == 0) {
            if (v->type != TOML_INT || v->u.i < 0 || v->u.i > EVAL_MAX_FEWSHOT)
                ok = errbuf_fail(err, cap, "%s:%d:%d: %s must be a whole number in [0, %d]", path, v->line, v->col, key, EVAL_MAX_FEWSHOT);
            else t->num_fewshot = (int)v->u.i;
        } else if (strcmp(k, "random_baseline") == 0) {
            double b = v->type == TOML_INT ? (double)v->u.i : v->type == TOML_FLOAT ? v->u.f : -1;
            if ((v->type != TOML_INT && v->type != TOML_FLOAT) || !(b >= 0 && b < 100))
                ok = errbuf_fail(err, cap, "%s:%d:%d: %s must be a number of percent in [0, 100)", path, v->line, v->col, key);
            else t->random_baseline = b;
        } else if (strcmp(k, "continuation_delimiter") == 0) {
            if (v->type != TOML_STRING) ok = errbuf_fail(err, cap, "%s:%d:%d: %s must be a string", path, v->line, v->col, key);
            else { free(t->delimiter); t->delimiter = xstrdup(v->u.s); }
        } else {
            ok = errbuf_fail(err, cap, "%s:%d:%d: unknown key \"%s\" (task keys: file, icl_task_type, num_fewshot, "
                      "random_baseline, continuation_delimiter)", path, v->line, v->col, key);
        }
    }
    if (ok && s.n_tasks == 0) ok = errbuf_fail(err, cap, "%s: no [task.LABEL] tables", path);
    for (size_t i = 0; i < s.n_tasks && ok; i++) {
        EvalTaskSpec *t = &s.tasks[i];
        const char *missing = !files[i] ? "file" : !typed[i] ? "icl_task_type"
                            : t->num_fewshot < 0 ? "num_fewshot" : t->random_baseline < 0 ? "random_baseline" : NULL;
        if (missing) ok = errbuf_fail(err, cap, "%s:%d: task \"%s\" has no \"%s\"", path, t->line, t->label, missing);
        if (!t->delimiter) t->delimiter = xstrdup(" ");
    }
    if (ok) {
        char *here = path_dir(path);
        s.data_dir = data_dir ? path_resolve(here, data_dir) : xstrdup(here);
        free(here);
        for (size_t i = 0; i < s.n_tasks; i++) s.tasks[i].file = path_resolve(s.data_dir, files[i]);
    }
    for (size_t i = 0; i < s.n_tasks; i++) free(files ? files[i] : NULL);
    free(files);
    free(typed);
    free(data_dir);
    toml_free(doc);
    if (!ok) { eval_suite_free(&s); return false; }
    *out = s;
    return true;
}

const EvalTaskSpec *eval_suite_find(const EvalSuite *s, const char *label)
{
    for (size_t i = 0; i < s->n_tasks; i++)
        if (strcmp(s->tasks[i].label, label) == 0) return &s->tasks[i];
    return NULL;
}

void eval_suite_free(EvalSuite *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_tasks; i++) {
        free(s->tasks[i].label);
        free(s->tasks[i].file);
        free(s->tasks[i].delimiter);
    }
    free(s->tasks);
    free(s->path);
    free(s->data_dir);
    memset(s, 0, sizeof *s);
}

void eval_suite_write_list(const EvalSuite *s, FILE *fp)
{
    for (size_t i = 0; i < s->n_tasks; i++) {
        const EvalTaskSpec *t = &s->tasks[i];
        fprintf(fp, "%s\t%s\t%d\t%g\t%s\n", t->label, eval_task_type_name(t->type), t->num_fewshot,
                t->random_baseline, t->file);
    }
}
