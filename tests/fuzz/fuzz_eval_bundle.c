/* fuzz_eval_bundle.c: libFuzzer target for the CORE eval bundle readers (eval_bundle.h).
 * The first byte picks the reader (even: core.yaml, odd: eval_meta_data.csv); the rest is
 * the file. Besides "no crash, no leak": a rejected file has a `NAME:LINE: reason` (or
 * `NAME: reason`) message with LINE inside the input, and an accepted one holds only
 * what the readers promise (valid labels, shots in range; every row's baseline can be
 * looked up without harm). */
#include "eval/eval_bundle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_error(const char *err, const char *name, const char *text, size_t len)
{
    size_t n = strlen(name);
    if (strncmp(err, name, n) != 0 || (err[n] != ':')) abort();
    long line;
    if (sscanf(err + n, ":%ld: ", &line) == 1) {
        size_t newlines = 0;
        for (size_t i = 0; i < len; i++) newlines += text[i] == '\n';
        if (line < 1 || (size_t)line > newlines + 1) abort();
    } else if (err[n + 1] != ' ') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[1024];
    if (data[0] % 2 == 0) {
        EvalBundleTasks t;
        if (!eval_bundle_parse_yaml(text, len, "fuzz.yaml", &t, err, sizeof err)) {
            if (t.n_tasks || t.tasks) abort();
            check_error(err, "fuzz.yaml", text, len);
            return 0;
        }
        if (t.n_tasks == 0) abort();
        for (size_t i = 0; i < t.n_tasks; i++) {
            const EvalBundleTask *x = &t.tasks[i];
            if (!x->label || !eval_suite_label_ok(x->label, strlen(x->label)) || !x->dataset_uri || !x->dataset_uri[0])
                abort();
            if (x->num_fewshot < 0 || x->num_fewshot > EVAL_MAX_FEWSHOT || x->n_fewshot < 1) abort();
            if ((unsigned)x->type > EVAL_LANGUAGE_MODELING) abort();
            for (size_t j = 0; j < i; j++)
                if (strcmp(t.tasks[j].label, x->label) == 0) abort();
        }
        eval_bundle_tasks_free(&t);
    } else {
        EvalBaselines b;
        if (!eval_bundle_parse_csv(text, len, "fuzz.csv", &b, err, sizeof err)) {
            if (b.n_rows || b.rows) abort();
            check_error(err, "fuzz.csv", text, len);
            return 0;
        }
        for (size_t i = 0; i < b.n_rows && i < 64; i++) {
            double v;
            if (eval_bundle_baseline(&b, b.rows[i].task, &v, err, sizeof err) && !(v >= 0 && v < 100)) abort();
        }
        eval_baselines_free(&b);
    }
    return 0;
}
