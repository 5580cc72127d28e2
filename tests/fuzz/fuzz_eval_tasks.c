/* fuzz_eval_tasks.c: libFuzzer target for the task-file reader and the prompt builder.
 * The first byte picks the task type, the few-shot count and the delimiter; the rest is
 * the file. Besides "no crash, no leak": a rejected file has a `fuzz.jsonl:LINE: reason`
 * message with LINE inside the input, and an accepted one gives prompts whose context +
 * continuation hold the item's own text. */
#include "eval/eval_prompts.h"
#include "eval/eval_tasks.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const delims[] = { " ", "\nAnswer: ", "\n", "" };
    EvalTaskType type = (EvalTaskType)(data[0] % 3);
    int shots = (data[0] >> 2) % 4;
    const char *delim = delims[(data[0] >> 4) % 4];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    EvalTaskData t;
    char err[1024];
    if (!eval_tasks_parse(text, len, "fuzz.jsonl", type, &t, err, sizeof err)) {
        if (strncmp(err, "fuzz.jsonl", 10) != 0) abort();
        long line;
        if (sscanf(err, "fuzz.jsonl:%ld: ", &line) == 1) {
            size_t newlines = 0;
            for (size_t i = 0; i < len; i++) newlines += text[i] == '\n';
            if (line < 1 || (size_t)line > newlines + 1) abort();
        } else if (strstr(err, "no examples") == NULL) {
            abort(); /* only the empty-file error has no line */
        }
        return 0;
    }
    if (t.n_items == 0) abort();
    EvalPromptSpec spec = { shots, delim, 1234 };
    for (size_t i = 0; i < t.n_items && i < 16; i++) {
        EvalPrompts p;
        if (!eval_prompts_build(&t, i, &spec, &p, err, sizeof err)) {
            if ((size_t)shots < t.n_items) abort(); /* only "too few examples" may fail */
            break;
        }
        const EvalItem *it = &t.items[i];
        for (size_t c = 0; c < p.n_pairs; c++) {
            const char *ctx = p.pairs[c].context, *cont = p.pairs[c].continuation;
            if (type == EVAL_MULTIPLE_CHOICE && (strcmp(cont, it->options[c]) != 0 || !strstr(ctx, it->query))) abort();
            if (type == EVAL_SCHEMA && (strcmp(cont, it->continuation) != 0 || !strstr(ctx, it->options[c]))) abort();
            if (type == EVAL_LANGUAGE_MODELING) {
                size_t a = strlen(cont), b = strlen(it->continuation);
                if (a < b || strcmp(cont + a - b, it->continuation) != 0 || !ctx[0]) abort();
            }
        }
        eval_prompts_free(&p);
    }
    eval_tasks_free(&t);
    return 0;
}
