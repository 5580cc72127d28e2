/* eval_tasks.c: see eval_tasks.h. */
#include "eval/eval_tasks.h"
#include "base/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

static const char *const type_names[] = { "multiple_choice", "schema", "language_modeling" };

const char *eval_task_type_name(EvalTaskType t)
{
    return (unsigned)t < 3 ? type_names[t] : "unknown";
}

bool eval_task_type_parse(const char *name, EvalTaskType *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, type_names[i]) == 0) { *out = (EvalTaskType)i; return true; }
    return false;
}


bool eval_utf8_valid(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else goto bad;
        if (n - i < len) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_at) *bad_at = i;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Append n bytes to a growing buffer, refusing to pass max. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max)
{
    if (n > max - *len) return false;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < *len + n + 1) c *= 2;
        *buf = xrealloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
    return true;
}

char *eval_read_file(const char *path, size_t max_bytes, size_t *len_out, char *err, size_t err_cap)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { errbuf_fail(err, err_cap, "%s: %s", path, strerror(errno)); return NULL; }
    bool zst = ends_with(path, ".zst");
    char *out = NULL;
    size_t len = 0, cap = 0;
    size_t in_cap = zst ? ZSTD_DStreamInSize() : (size_t)1 << 16;
    size_t tmp_cap = zst ? ZSTD_DStreamOutSize() : 0;
    char *in = xmalloc(in_cap), *tmp = zst ? xmalloc(tmp_cap) : NULL;
    ZSTD_DCtx *dctx = zst ? ZSTD_createDCtx() : NULL;
    if (zst && !dctx) die("%s: out of memory for the zstd decoder", path);
    size_t pending = 0; /* zstd: 0 when the last frame seen is complete */
    bool ok = true, any_input = false;
    for (;;) {
        size_t got = fread(in, 1, in_cap, fp);
        if (got == 0) {
            if (ferror(fp)) { ok = errbuf_fail(err, err_cap, "%s: read error: %s", path, strerror(errno)); }
            break;
        }
        any_input = true;
        if (!zst) {
            if (!buf_append(&out, &len, &cap, in, got, max_bytes)) {
                ok = errbuf_fail(err, err_cap, "%s: larger than %zu bytes", path, max_bytes);
                break;
            }
            continue;
        }
        ZSTD_inBuffer ib = { in, got, 0 };
        while (ib.pos < ib.size && ok) {
            ZSTD_outBuffer ob = { tmp, tmp_cap, 0 };
            size_t r = ZSTD_decompressStream(dctx, &ob, &ib);
            if (ZSTD_isError(r)) {
                ok = errbuf_fail(err, err_cap, "%s: zstd: %s%s", path, ZSTD_getErrorName(r),
                          ZSTD_getErrorCode(r) == ZSTD_error_prefix_unknown ? " (not zstd data)" : "");
                break;
            }
            pending = r;
            if (!buf_append(&out, &len, &cap, tmp, ob.pos, max_bytes))
                ok = errbuf_fail(err, err_cap, "%s: larger than %zu bytes when decompressed", path, max_bytes);
        }
        if (!ok) break;
    }
    /* Flush what the decoder still holds (output larger than one buffer per input). */
    while (ok && zst && pending != 0 && any_input) {
        ZSTD_inBuffer ib = { in, 0, 0 };
        ZSTD_outBuffer ob = { tmp, tmp_cap, 0 };
        size_t r = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(r)) { ok = errbuf_fail(err, err_cap, "%s: zstd: %s", path, ZSTD_getErrorName(r)); break; }
        if (!buf_append(&out, &len, &cap, tmp, ob.pos, max_bytes)) {
            ok = errbuf_fail(err, err_cap, "%s: larger than %zu bytes when decompressed", path, max_bytes);
            break;
        }
        if (ob.pos == 0) break; /* no progress: the input ends inside a frame */
        pending = r;
    }
    if (ok && zst && !any_input) ok = errbuf_fail(err, err_cap, "%s: empty file (not zstd data)", path);
    else if (ok && zst && pending != 0) ok = errbuf_fail(err, err_cap, "%s: zstd: truncated (the last frame is incomplete)", path);
    fclose(fp);
    free(in);
    free(tmp);
    ZSTD_freeDCtx(dctx);
    if (!ok) { free(out); return NULL; }
    if (!out) out = xcalloc(1, 1);
    *len_out = len;
    return out;
}

/* Reject "\u0000" inside strings: cJSON would cut the C string there, silently. */
static bool has_nul_escape(const char *s, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!in_string) { if (c == '"') in_string = true; continue; }
        if (c == '"') { in_string = false; continue; }
        if (c != '\\' || i + 1 >= n) continue;
        if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) return true;
        i++; /* skip the escaped character */
    }
    return false;
}

static bool get_string(const cJSON *obj, const char *key, char **out, const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return errbuf_fail(err, cap, "%s: missing field \"%s\"", where, key);
    if (!cJSON_IsString(v) || !v->valuestring)
        return errbuf_fail(err, cap, "%s: field \"%s\" is not a string", where, key);
    *out = xstrdup(v->valuestring);
    return true;
}

static bool get_options(const cJSON *obj, const char *key, EvalItem *it, const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return errbuf_fail(err, cap, "%s: missing field \"%s\"", where, key);
    if (!cJSON_IsArray(v)) return errbuf_fail(err, cap, "%s: field \"%s\" is not an array", where, key);
    int n = cJSON_GetArraySize(v);
    if (n < 2) return errbuf_fail(err, cap, "%s: field \"%s\" has %d entr%s (at least 2 are needed)", where, key, n,
                           n == 1 ? "y" : "ies");
    it->options = xcalloc((size_t)n, sizeof *it->options);
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || !e->valuestring)
            return errbuf_fail(err, cap, "%s: \"%s\"[%zu] is not a string", where, key, i);
        it->options[i++] = xstrdup(e->valuestring);
        it->n_options = i;
    }
    return true;
}

static bool get_gold(const cJSON *obj, EvalItem *it, const char *where, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "gold");
    if (!v) return errbuf_fail(err, cap, "%s: missing field \"gold\"", where);
    if (!cJSON_IsNumber(v)) return errbuf_fail(err, cap, "%s: field \"gold\" is not a number", where);
    double g = v->valuedouble;
    if (g != floor(g)) return errbuf_fail(err, cap, "%s: \"gold\" %g is not a whole number", where, g);
    if (g < 0 || g >= (double)it->n_options)
        return errbuf_fail(err, cap, "%s: \"gold\" %.0f is out of range (%zu choices: 0..%zu)", where, g,
                    it->n_options, it->n_options - 1);
    it->gold = (int)g;
    return true;
}

/* Code point of the UTF-8 sequence at s[i] and its length (valid UTF-8 assumed; a
 * sequence cut off by n counts as one byte that is not a space). */
static unsigned utf8_at(const unsigned char *s, size_t i, size_t n, size_t *len)
{
    unsigned c = s[i];
    size_t need = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (need > n - i) { *len = 1; return 0xFFFD; }
    if (c < 0x80) { *len = 1; return c; }
    if (c < 0xE0) { *len = 2; return (c & 0x1F) << 6 | (s[i + 1] & 0x3F); }
    if (c < 0xF0) { *len = 3; return (c & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F); }
    *len = 4;
    return (c & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 | (s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
}

static bool py_space(unsigned cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

void eval_text_strip(const char *s, size_t n, size_t *begin, size_t *end)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t b = 0, e = 0, len;
    /* One forward pass: b = first non-space, e = just past the last non-space. */
    bool seen = false;
    for (size_t i = 0; i < n; i += len) {
        unsigned cp = utf8_at(p, i, n, &len);
        if (py_space(cp)) continue;
        if (!seen) { b = i; seen = true; }
        e = i + len;
    }
    if (!seen) b = e = n;
    *begin = b;
    *end = e;
}

static bool is_blank(const char *s)
{
    size_t b, e;
    eval_text_strip(s, strlen(s), &b, &e);
    return b == e;
}

static void item_free(EvalItem *it)
{
    free(it->query);
    free(it->context);
    free(it->continuation);
    free(it->category);
    for (size_t i = 0; i < it->n_options; i++) free(it->options[i]);
    free(it->options);
    memset(it, 0, sizeof *it);
}

/* Which format a line looks like, from its keys (-1: none), to name a config mix-up. */
static int looks_like(const cJSON *obj)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, "context_options")) return EVAL_SCHEMA;
    if (cJSON_GetObjectItemCaseSensitive(obj, "choices")) return EVAL_MULTIPLE_CHOICE;
    if (cJSON_GetObjectItemCaseSensitive(obj, "context")) return EVAL_LANGUAGE_MODELING;
    return -1;
}

static bool parse_item(const cJSON *obj, EvalTaskType type, EvalItem *it, const char *where, char *err, size_t cap)
{
    int seems = looks_like(obj);
    if (seems >= 0 && seems != (int)type)
        return errbuf_fail(err, cap, "%s: the line is a %s item, but the task is read as %s", where,
                    eval_task_type_name((EvalTaskType)seems), eval_task_type_name(type));
    switch (type) {
    case EVAL_MULTIPLE_CHOICE:
        return get_string(obj, "query", &it->query, where, err, cap) &&
               get_options(obj, "choices", it, where, err, cap) &&
               get_gold(obj, it, where, err, cap);
    case EVAL_SCHEMA:
        return get_options(obj, "context_options", it, where, err, cap) &&
               get_string(obj, "continuation", &it->continuation, where, err, cap) &&
               get_gold(obj, it, where, err, cap);
    case EVAL_LANGUAGE_MODELING: {
        it->gold = -1;
        if (!get_string(obj, "context", &it->context, where, err, cap) ||
            !get_string(obj, "continuation", &it->continuation, where, err, cap))
            return false;
        /* CORE's LM prompt trims the context and then cuts the prompt at the continuation;
         * a blank context or an empty continuation leaves nothing to score. */
        if (is_blank(it->context)) return errbuf_fail(err, cap, "%s: field \"context\" is blank", where);
        if (!it->continuation[0]) return errbuf_fail(err, cap, "%s: field \"continuation\" is empty", where);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "category");
        if (c) {
            if (!cJSON_IsString(c) || !c->valuestring)
                return errbuf_fail(err, cap, "%s: field \"category\" is not a string", where);
            it->category = xstrdup(c->valuestring);
        }
        return true;
    }
    }
    return errbuf_fail(err, cap, "%s: unknown task type", where);
}

bool eval_tasks_parse(const char *text, size_t len, const char *path, EvalTaskType type, EvalTaskData *out,
                      char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    EvalItem *items = NULL;
    size_t n = 0, n_cap = 0;
    bool ok = true;
    long line_no = 0;
    char where[4096 + 32];
    for (size_t pos = 0; pos < len && ok;) {
        line_no++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n_line = nl ? (size_t)(nl - line) : len - pos;
        pos += n_line + (nl ? 1 : 0);
        snprintf(where, sizeof where, "%s:%ld", path, line_no);
        size_t bad;
        if (memchr(line, 0, n_line)) { ok = errbuf_fail(err, cap, "%s: NUL byte in line", where); break; }
        if (!eval_utf8_valid(line, n_line, &bad)) {
            ok = errbuf_fail(err, cap, "%s: invalid UTF-8 at column %zu", where, bad + 1);
            break;
        }
        bool blank = true;
        for (size_t i = 0; i < n_line && blank; i++) blank = strchr(" \t\r", line[i]) != NULL;
        if (blank) { ok = errbuf_fail(err, cap, "%s: blank line (one JSON object per line expected)", where); break; }
        const char *end = NULL;
        cJSON *obj = cJSON_ParseWithLengthOpts(line, n_line, &end, 0);
        if (!obj) {
            size_t col = end && end >= line && end <= line + n_line ? (size_t)(end - line) + 1 : 1;
            ok = errbuf_fail(err, cap, "%s: malformed JSON (near column %zu)", where, col);
            break;
        }
        for (const char *p = end; p && p < line + n_line; p++)
            if (!strchr(" \t\r", *p)) {
                ok = errbuf_fail(err, cap, "%s: malformed JSON (text after the object at column %zu)", where,
                          (size_t)(p - line) + 1);
                break;
            }
        if (ok && !cJSON_IsObject(obj)) ok = errbuf_fail(err, cap, "%s: not a JSON object", where);
        if (ok && has_nul_escape(line, n_line))
            ok = errbuf_fail(err, cap, "%s: \\u0000 in a string is not supported", where);
        if (ok) {
            if (n == n_cap) {
                n_cap = n_cap ? n_cap * 2 : 1024;
                items = xrealloc(items, n_cap * sizeof *items);
            }
            memset(&items[n], 0, sizeof items[n]);
            items[n].line = line_no;
            if (parse_item(obj, type, &items[n], where, err, cap)) n++;
            else { item_free(&items[n]); ok = false; }
        }
        cJSON_Delete(obj);
    }
    if (ok && n == 0) ok = errbuf_fail(err, cap, "%s: no examples (empty file)", path);
    if (!ok) {
        for (size_t i = 0; i < n; i++) item_free(&items[i]);
        free(items);
        return false;
    }
    out->type = type;
    out->path = xstrdup(path);
    out->items = items;
    out->n_items = n;
    return true;
}

bool eval_tasks_load(const char *path, EvalTaskType type, EvalTaskData *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = eval_read_file(path, EVAL_TASK_MAX_BYTES, &len, err, cap);
    if (!text) return false;
    bool ok = eval_tasks_parse(text, len, path, type, out, err, cap);
    free(text);
    return ok;
}

void eval_tasks_free(EvalTaskData *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_items; i++) item_free(&t->items[i]);
    free(t->items);
    free(t->path);
    memset(t, 0, sizeof *t);
}
