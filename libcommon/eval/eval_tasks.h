/* eval_tasks.h: in-context-learning task files in the llm-foundry "local_data" JSONL
 * formats, as the CORE suite ships them (nmoe-eval-tasks(5)). One JSON object per line:
 *
 *   multiple_choice    {"query": str, "choices": [str, ...], "gold": int}
 *   schema             {"context_options": [str, ...], "continuation": str, "gold": int}
 *   language_modeling  {"context": str, "continuation": str}  (+ optional "category": str)
 *
 * Every line is validated on load, so nothing downstream ever meets a bad item: invalid
 * UTF-8, malformed JSON, a missing field, a field of the wrong type, fewer than two
 * choices, a gold index that is not a whole number in [0, n_choices), a blank context or
 * an empty continuation (language_modeling), a "\u0000" escape (strings are C strings)
 * and blank lines are all errors of the form `file:line: reason`. Keys the format does
 * not use are ignored (the upstream files carry a few). A file whose name ends in ".zst"
 * is zstd-compressed and read through libzstd.
 *
 * Loading returns false with the message in err (the caller decides whether to die), so
 * tests can check every message. */
#ifndef NMOE_EVAL_TASKS_H
#define NMOE_EVAL_TASKS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    EVAL_MULTIPLE_CHOICE,
    EVAL_SCHEMA,
    EVAL_LANGUAGE_MODELING
} EvalTaskType;

/* "multiple_choice", "schema", "language_modeling" (the llm-foundry icl_task_type names). */
const char *eval_task_type_name(EvalTaskType t);
bool eval_task_type_parse(const char *name, EvalTaskType *out);

/* One example. Which fields are set depends on the task type:
 *   multiple_choice:   query, options = choices, gold
 *   schema:            options = context_options, continuation, gold
 *   language_modeling: context, continuation, category (NULL when absent), gold = -1 */
typedef struct {
    char *query;
    char *context;
    char *continuation;
    char *category;
    char **options;
    size_t n_options;
    int gold;
    long line;          /* 1-based line in the file, for messages */
} EvalItem;

typedef struct {
    EvalTaskType type;
    char *path;         /* as given, for messages */
    EvalItem *items;
    size_t n_items;
} EvalTaskData;

/* Largest task file accepted (after decompression); the CORE files are at most ~8 MB. */
#define EVAL_TASK_MAX_BYTES ((size_t)1 << 30)

/* Load and validate every line of `path` as items of `type`. On failure returns false,
 * writes `path:line: reason` (or `path: reason`) into err and leaves *out empty. An
 * empty file is an error ("no examples"). */
bool eval_tasks_load(const char *path, EvalTaskType type, EvalTaskData *out, char *err, size_t err_cap);
/* The same on text already in memory (len bytes; need not be NUL-terminated); path
 * names it in messages. */
bool eval_tasks_parse(const char *text, size_t len, const char *path, EvalTaskType type, EvalTaskData *out,
                      char *err, size_t err_cap);
void eval_tasks_free(EvalTaskData *t);

/* Read a whole file into memory, decompressing it when its name ends in ".zst". Returns
 * a NUL-terminated buffer (the length excludes the NUL) or NULL with `path: reason`. */
char *eval_read_file(const char *path, size_t max_bytes, size_t *len, char *err, size_t err_cap);

/* True when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF). On failure *bad_at is the offset of the first bad byte. */
bool eval_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Python's str.strip() on UTF-8 text (what CORE's Jinja `trim` filter and `.strip()`
 * do): the span [*begin, *end) of s[0..n) without leading and trailing whitespace, where
 * whitespace is Python's set: U+0009..U+000D, U+001C..U+001F, U+0020, U+0085, U+00A0,
 * U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. s must be valid UTF-8. */
void eval_text_strip(const char *s, size_t n, size_t *begin, size_t *end);

#endif
