/* eval_prompts.c: see eval_prompts.h. */
#include "eval/eval_prompts.h"
#include "base/error.h"
#include "formats/ndjson.h"
#include "base/pyrandom.h"
#include "base/rng.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stream reserved for eval_subset_order; few-shot streams are item indices, which never
 * reach it. */
#define EVAL_SUBSET_STREAM UINT64_MAX

void eval_fewshot_sample(uint64_t seed, size_t item, size_t n_items, size_t k, size_t *out)
{
    /* Partial Fisher-Yates over the m = n_items - 1 candidates, virtual[j] = j < item ? j
     * : j + 1. Only touched positions are stored (pos -> value), so memory is O(k) even
     * for a 20,000-line task. */
    size_t m = n_items - 1;
    size_t *pos = xmalloc((k + 1) * sizeof *pos), *val = xmalloc((k + 1) * sizeof *val);
    size_t n_touched = 0;
    Rng r = rng_make(seed, item);
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)rng_below(&r, m - i);
        size_t vi = i < item ? i : i + 1, vj = j < item ? j : j + 1;
        ptrdiff_t sj = -1;
        for (size_t t = 0; t < n_touched; t++) {
            if (pos[t] == i) vi = val[t];
            if (pos[t] == j) { sj = (ptrdiff_t)t; vj = val[t]; }
        }
        /* Take virtual[j]; move virtual[i] into its place (position i is never read again). */
        out[i] = vj;
        if (sj >= 0) val[sj] = vi;
        else { pos[n_touched] = j; val[n_touched] = vi; n_touched++; }
    }
    free(pos);
    free(val);
}

void eval_subset_order(uint64_t seed, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++) order[i] = i;
    Rng r = rng_make(seed, EVAL_SUBSET_STREAM);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t j = i + (size_t)rng_below(&r, n - i);
        size_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
}

bool eval_draw_parse(const char *s, EvalDraw *out)
{
    if (strcmp(s, "philox") == 0) *out = EVAL_DRAW_PHILOX;
    else if (strcmp(s, "python") == 0) *out = EVAL_DRAW_PYTHON;
    else return false;
    return true;
}

const char *eval_draw_name(EvalDraw d) { return d == EVAL_DRAW_PYTHON ? "python" : "philox"; }

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

void eval_subset_make(EvalDraw draw, uint64_t seed, size_t n_items, uint64_t limit, EvalSubset *out)
{
    memset(out, 0, sizeof *out);
    out->draw = draw;
    out->seed = seed;
    out->n_items = n_items;
    out->n = limit == 0 || limit >= n_items ? n_items : (size_t)limit;
    size_t *order = xcalloc(n_items + 1, sizeof *order);
    if (draw == EVAL_DRAW_PHILOX) {
        /* All in file order, or the first `limit` of a seeded permutation, sorted. */
        if (out->n == n_items) for (size_t i = 0; i < n_items; i++) order[i] = i;
        else eval_subset_order(seed, n_items, order);
        qsort(order, out->n, sizeof *order, cmp_size);
        out->items = order;
        return;
    }
    /* data = file order; random.Random(1337).shuffle(data); data = data[:limit]. The
     * shuffle is of the whole file even without a limit, since idx (the few-shot seed
     * offset) is the position in the shuffled list. */
    for (size_t i = 0; i < n_items; i++) order[i] = i;
    PyRandom r;
    pyrandom_seed(&r, EVAL_PYTHON_SHUFFLE_SEED);
    pyrandom_shuffle(&r, order, n_items);
    out->pool = order;
    size_t *idx_of = xcalloc(n_items + 1, sizeof *idx_of);   /* file index -> idx + 1 */
    for (size_t idx = 0; idx < out->n; idx++) idx_of[order[idx]] = idx + 1;
    out->items = xcalloc(out->n + 1, sizeof *out->items);
    out->pool_pos = xcalloc(out->n + 1, sizeof *out->pool_pos);
    for (size_t i = 0, j = 0; i < n_items; i++)
        if (idx_of[i]) {
            out->items[j] = i;
            out->pool_pos[j] = idx_of[i] - 1;
            j++;
        }
    free(idx_of);
}

size_t eval_subset_fewshot_pool(const EvalSubset *s) { return s->draw == EVAL_DRAW_PYTHON ? s->n : s->n_items; }

void eval_subset_fewshot(const EvalSubset *s, size_t j, size_t k, size_t *out)
{
    if (k == 0) return;
    if (s->draw == EVAL_DRAW_PHILOX) {
        eval_fewshot_sample(s->seed, s->items[j], s->n_items, k, out);
        return;
    }
    /* rng = random.Random(seed + idx)
     * available_indices = [i for i in range(len(data)) if i != idx]
     * fewshot = [data[i] for i in rng.sample(available_indices, k)] */
    const size_t idx = s->pool_pos[j];
    PyRandom r;
    pyrandom_seed(&r, s->seed + idx);
    pyrandom_sample(&r, s->n - 1, k, out);
    for (size_t i = 0; i < k; i++) {
        size_t a = out[i] < idx ? out[i] : out[i] + 1;   /* available_indices[out[i]] */
        out[i] = s->pool[a];
    }
}

void eval_subset_free(EvalSubset *s)
{
    if (!s) return;
    free(s->items);
    free(s->pool);
    free(s->pool_pos);
    memset(s, 0, sizeof *s);
}

/* A growing string. */
typedef struct { char *s; size_t len, cap; } Str;

static void str_add(Str *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n + 1) c *= 2;
        b->s = xrealloc(b->s, c);
        b->cap = c;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void str_cat(Str *b, const char *s) { str_add(b, s, strlen(s)); }

/* Python-stripped copy of s appended to b (Jinja's `trim` filter). */
static void str_cat_stripped(Str *b, const char *s)
{
    size_t lo, hi;
    eval_text_strip(s, strlen(s), &lo, &hi);
    str_add(b, s + lo, hi - lo);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* The few-shot block: each example with its answer, then a blank line. */
static void render_fewshot(Str *b, const EvalTaskData *task, const size_t *idx, size_t n, const char *d)
{
    for (size_t i = 0; i < n; i++) {
        const EvalItem *ex = &task->items[idx[i]];
        switch (task->type) {
        case EVAL_MULTIPLE_CHOICE:
            str_cat(b, ex->query); str_cat(b, d); str_cat(b, ex->options[ex->gold]);
            break;
        case EVAL_SCHEMA:
            str_cat(b, ex->options[ex->gold]); str_cat(b, d); str_cat(b, ex->continuation);
            break;
        case EVAL_LANGUAGE_MODELING:
            str_cat_stripped(b, ex->context); str_cat(b, d); str_cat(b, ex->continuation);
            break;
        }
        str_cat(b, "\n\n");
    }
}

bool eval_prompts_build(const EvalTaskData *task, size_t item, const EvalPromptSpec *spec,
                        EvalPrompts *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (spec->num_fewshot < 0 || (size_t)spec->num_fewshot >= task->n_items) {
        snprintf(err, err_cap, "%s: %zu examples are too few for %d-shot prompts (need at least %d)",
                 task->path, task->n_items, spec->num_fewshot, spec->num_fewshot + 1);
        return false;
    }
    size_t k = (size_t)spec->num_fewshot;
    size_t *fewshot = xcalloc(k + 1, sizeof *fewshot);
    if (k) eval_fewshot_sample(spec->seed, item, task->n_items, k, fewshot);
    bool ok = eval_prompts_render(task, item, fewshot, k, spec, out, err, err_cap);
    free(fewshot);
    return ok;
}

bool eval_prompts_render(const EvalTaskData *task, size_t item, const size_t *fewshot, size_t n_fewshot,
                         const EvalPromptSpec *spec, EvalPrompts *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    const char *d = spec->delimiter ? spec->delimiter : EVAL_DEFAULT_DELIMITER;
    const EvalItem *it = &task->items[item];
    out->type = task->type;
    out->gold = it->gold;
    out->n_fewshot = n_fewshot;
    out->fewshot = xcalloc(out->n_fewshot + 1, sizeof *out->fewshot);
    if (n_fewshot) memcpy(out->fewshot, fewshot, n_fewshot * sizeof *fewshot);

    Str shots = { 0 };
    str_add(&shots, "", 0);
    render_fewshot(&shots, task, out->fewshot, out->n_fewshot, d);

    if (task->type == EVAL_LANGUAGE_MODELING) {
        Str without = { 0 };
        str_add(&without, shots.s, shots.len);
        str_cat_stripped(&without, it->context);
        str_cat(&without, d);
        /* prompt_without = strip(without); prompt_with = without + continuation. */
        size_t lo, hi;
        eval_text_strip(without.s, without.len, &lo, &hi);
        if (lo != 0 || hi == 0) {
            /* Cannot happen for validated items (contexts are not blank), but the split
             * below relies on it, so say so rather than build a wrong pair. */
            snprintf(err, err_cap, "%s:%ld: the prompt starts with whitespace or is empty", task->path, it->line);
            free(without.s);
            free(shots.s);
            eval_prompts_free(out);
            return false;
        }
        Str rest = { 0 };
        str_add(&rest, without.s + hi, without.len - hi);
        str_cat(&rest, it->continuation);
        out->n_pairs = 1;
        out->pairs = xcalloc(1, sizeof *out->pairs);
        out->pairs[0].context = dup_n(without.s, hi);
        out->pairs[0].continuation = rest.s;
        free(without.s);
    } else {
        out->n_pairs = it->n_options;
        out->pairs = xcalloc(it->n_options, sizeof *out->pairs);
        for (size_t c = 0; c < it->n_options; c++) {
            Str ctx = { 0 };
            str_add(&ctx, shots.s, shots.len);
            if (task->type == EVAL_MULTIPLE_CHOICE) {
                str_cat(&ctx, it->query);
                str_cat(&ctx, d);
                out->pairs[c].continuation = xstrdup(it->options[c]);
            } else {
                str_cat(&ctx, it->options[c]);
                str_cat(&ctx, d);
                out->pairs[c].continuation = xstrdup(it->continuation);
            }
            out->pairs[c].context = ctx.s;
        }
    }
    free(shots.s);
    return true;
}

void eval_prompts_free(EvalPrompts *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_pairs; i++) {
        free(p->pairs[i].context);
        free(p->pairs[i].continuation);
    }
    free(p->pairs);
    free(p->fewshot);
    memset(p, 0, sizeof *p);
}

void eval_write_prompts_line(FILE *fp, const char *what, const char *task, size_t item, long line,
                             const EvalPrompts *p)
{
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "kind", "prompt");
    nd_str(&l, "task", task);
    nd_int(&l, "item", (int64_t)item);
    nd_int(&l, "line", line);
    nd_int(&l, "gold", p->gold);
    nd_arr_begin(&l, "fewshot");
    for (size_t i = 0; i < p->n_fewshot; i++) nd_elem_int(&l, (int64_t)p->fewshot[i]);
    nd_arr_end(&l);
    nd_arr_begin(&l, "context");
    for (size_t i = 0; i < p->n_pairs; i++) nd_elem_str(&l, p->pairs[i].context);
    nd_arr_end(&l);
    nd_arr_begin(&l, "continuation");
    for (size_t i = 0; i < p->n_pairs; i++) nd_elem_str(&l, p->pairs[i].continuation);
    nd_arr_end(&l);
    nd_emit(&l, fp, what);
    nd_free(&l);
}
