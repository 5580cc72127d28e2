/* eval_bundle.c: see eval_bundle.h. Two small readers, one for the YAML subset of
 * core.yaml and one for RFC 4180 CSV, then the suite built from what they read. */
#include "eval/eval_bundle.h"
#include "base/error.h"
#include "base/path.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable byte string ------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
} Str;

static void str_add(Str *s, const char *b, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = 2 * (s->n + n + 1);
        s->p = xrealloc(s->p, s->cap);
    }
    memcpy(s->p + s->n, b, n);
    s->n += n;
    s->p[s->n] = 0;
}

static void str_addc(Str *s, char c) { str_add(s, &c, 1); }

/* The string so far (an empty one when nothing was added), owned by the caller. */
static char *str_take(Str *s)
{
    char *p = s->p ? s->p : xstrdup("");
    memset(s, 0, sizeof *s);
    return p;
}

static void utf8_put(Str *s, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | (cp >> 6 & 0x3F)); b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    str_add(s, b, n);
}

/* Both files may start with a UTF-8 byte order mark (PyYAML and Python's csv with
 * utf-8-sig accept one); it is not part of the first key or column name. */
static size_t bom_len(const char *t, size_t len)
{
    return len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* Refuse NUL bytes (the strings are C strings) and invalid UTF-8 (what PyYAML and
 * Python's csv refuse), naming the line. */
static bool text_ok(const char *t, size_t len, const char *name, char *err, size_t cap)
{
    size_t bad = SIZE_MAX;
    const char *nul = memchr(t, 0, len);
    const size_t nul_at = nul ? (size_t)(nul - t) : SIZE_MAX;
    if (eval_utf8_valid(t, len, &bad)) bad = SIZE_MAX;
    if (nul_at == SIZE_MAX && bad == SIZE_MAX) return true;
    const size_t at = nul_at < bad ? nul_at : bad;
    int line = 1;
    for (size_t i = 0; i < at; i++) line += t[i] == '\n';
    return errbuf_fail(err, cap, "%s:%d: %s", name, line, at == nul_at ? "a NUL byte" : "not valid UTF-8");
}

/* ---- the YAML subset --------------------------------------------------------------- */

typedef enum { YV_NULL, YV_SCALAR, YV_LIST } YamlKind;

/* A value: nothing (empty, ~ or null), a scalar, or a one-line flow list of scalars. */
typedef struct {
    YamlKind kind;
    char *s;
    bool quoted;
    char **items;
    bool *items_quoted;
    size_t n_items;
} YamlValue;

static void yaml_value_free(YamlValue *v)
{
    free(v->s);
    for (size_t i = 0; i < v->n_items; i++) free(v->items[i]);
    free(v->items);
    free(v->items_quoted);
    memset(v, 0, sizeof *v);
}

typedef struct {
    const char *name;
    int line;
    char *err;
    size_t cap;
} Yaml;

/* `name:line: reason` into the error buffer; false. */
static bool yfail(Yaml *y, const char *fmt, ...) NMOE_PRINTF(2, 3);
static bool yfail(Yaml *y, const char *fmt, ...)
{
    if (!y->err || y->cap == 0) return false;
    int n = snprintf(y->err, y->cap, "%s:%d: ", y->name, y->line);
    if (n < 0 || (size_t)n >= y->cap) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(y->err + n, y->cap - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A "double-quoted" scalar from *pp (at the opening quote) to its closing quote, on this
 * line (e is the line's end), with YAML 1.2's escapes. */
static bool yaml_double_quoted(Yaml *y, const char **pp, const char *e, Str *out)
{
    const char *p = *pp + 1;
    for (;;) {
        if (p == e) return yfail(y, "a double-quoted string does not end on its line (multi-line strings are not supported)");
        char c = *p++;
        if (c == '"') break;
        if (c != '\\') { str_addc(out, c); continue; }
        if (p == e) return yfail(y, "a double-quoted string does not end on its line (multi-line strings are not supported)");
        char x = *p++;
        int digits = 0;
        switch (x) {
        case '0': return yfail(y, "\\0 (a NUL character) is not supported in strings");
        case 'a': str_addc(out, '\a'); break;
        case 'b': str_addc(out, '\b'); break;
        case 't': case '\t': str_addc(out, '\t'); break;
        case 'n': str_addc(out, '\n'); break;
        case 'v': str_addc(out, '\v'); break;
        case 'f': str_addc(out, '\f'); break;
        case 'r': str_addc(out, '\r'); break;
        case 'e': str_addc(out, '\x1b'); break;
        case ' ': case '"': case '/': case '\\': str_addc(out, x); break;
        case 'N': utf8_put(out, 0x85); break;
        case '_': utf8_put(out, 0xA0); break;
        case 'L': utf8_put(out, 0x2028); break;
        case 'P': utf8_put(out, 0x2029); break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            return yfail(y, "unknown escape \"\\%c\" in a double-quoted string", x);
        }
        if (digits) {
            uint32_t cp = 0;
            for (int i = 0; i < digits; i++) {
                int d = p < e ? hex_digit(*p) : -1;
                if (d < 0) return yfail(y, "\\%c needs %d hex digits", x, digits);
                cp = cp << 4 | (uint32_t)d;
                p++;
            }
            if (cp == 0) return yfail(y, "\\%c0... (a NUL character) is not supported in strings", x);
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return yfail(y, "\\%c escape of U+%X is not a Unicode scalar value", x, (unsigned)cp);
            utf8_put(out, cp);
        }
    }
    *pp = p;
    return true;
}

/* A 'single-quoted' scalar ('' is a quote), on this line. */
static bool yaml_single_quoted(Yaml *y, const char **pp, const char *e, Str *out)
{
    const char *p = *pp + 1;
    for (;;) {
        if (p == e) return yfail(y, "a single-quoted string does not end on its line (multi-line strings are not supported)");
        char c = *p++;
        if (c == '\'') {
            if (p < e && *p == '\'') { str_addc(out, '\''); p++; continue; }
            break;
        }
        str_addc(out, c);
    }
    *pp = p;
    return true;
}

/* What may not start a value in this subset, with the reason; NULL when c may. */
static const char *yaml_refused_start(const char *p, const char *e)
{
    char c = *p;
    bool spaced = p + 1 == e || is_blank(p[1]);
    switch (c) {
    case '{': return "flow mappings ({...}) are not supported";
    case '|': case '>': return "block scalars (| and >) are not supported";
    case '&': return "anchors (&) are not supported";
    case '*': return "aliases (*) are not supported";
    case '!': return "tags (!) are not supported";
    case '%': case '@': case '`': return "a plain value may not start with a reserved character (%, @, `); quote it";
    case ',': case ']': case '}': return "a plain value may not start with a flow indicator (, ] }); quote it";
    case '-': return spaced ? "nested sequences are not supported" : NULL;
    case '?': return spaced ? "complex keys (?) are not supported" : NULL;
    case ':': return spaced ? "a value may not start with ': '" : NULL;
    default: return NULL;
    }
}

/* A scalar at *pp: quoted, or plain up to the end, a " #" comment or (in a flow list) a
 * ',' or ']'. Trailing blanks of a plain scalar are not part of it. */
static bool yaml_scalar(Yaml *y, const char **pp, const char *e, bool in_flow, Str *out, bool *quoted)
{
    const char *p = *pp;
    *quoted = *p == '"' || *p == '\'';
    if (*p == '"') return yaml_double_quoted(y, pp, e, out);
    if (*p == '\'') return yaml_single_quoted(y, pp, e, out);
    const char *why = yaml_refused_start(p, e);
    if (why) return yfail(y, "%s", why);
    const char *start = p, *last = p; /* last: one past the last non-blank */
    for (; p < e; p++) {
        char c = *p;
        if (c == '#' && p > start && is_blank(p[-1])) break;
        if (c == ':' && (p + 1 == e || is_blank(p[1]) || (in_flow && (p[1] == ',' || p[1] == ']'))))
            return yfail(y, "a plain value may not hold ': ' (quote it)");
        if (in_flow && (c == ',' || c == ']')) break;
        if (in_flow && (c == '[' || c == '{' || c == '}'))
            return yfail(y, "nested flow collections are not supported");
        if (!is_blank(c)) last = p + 1;
    }
    str_add(out, start, (size_t)(last - start));
    *pp = p;
    return true;
}

/* The plain scalars YAML reads as null: the value is absent. */
static bool plain_null(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *skip_blanks(const char *p, const char *e)
{
    while (p < e && is_blank(*p)) p++;
    return p;
}

/* After a value: only blanks and a comment (which needs a blank before it). */
static bool yaml_line_end(Yaml *y, const char *p, const char *e)
{
    const char *q = skip_blanks(p, e);
    if (q == e || (*q == '#' && is_blank(q[-1]))) return true;
    return yfail(y, "unexpected text after the value: \"%.*s\"", (int)(e - q > 40 ? 40 : e - q), q);
}

/* The value from p to the line's end e: nothing, a scalar or a one-line flow list. */
static bool yaml_value(Yaml *y, const char *p, const char *e, YamlValue *v)
{
    memset(v, 0, sizeof *v);
    p = skip_blanks(p, e);
    if (p == e || *p == '#') { v->kind = YV_NULL; return true; }
    Str s = { 0 };
    if (*p != '[') {
        bool ok = yaml_scalar(y, &p, e, false, &s, &v->quoted) && yaml_line_end(y, p, e);
        v->s = str_take(&s);
        v->kind = !v->quoted && plain_null(v->s) ? YV_NULL : YV_SCALAR;
        if (!ok) yaml_value_free(v);
        return ok;
    }
    v->kind = YV_LIST;
    p = skip_blanks(p + 1, e);
    if (p < e && *p == ']') return yaml_line_end(y, p + 1, e);
    for (;;) {
        p = skip_blanks(p, e);
        if (p == e || *p == '#') { yaml_value_free(v); return yfail(y, "a flow list [...] does not end on its line"); }
        if (*p == ',' || *p == ']') { yaml_value_free(v); return yfail(y, "an empty item in a flow list"); }
        bool quoted;
        if (!yaml_scalar(y, &p, e, true, &s, &quoted)) { free(str_take(&s)); yaml_value_free(v); return false; }
        v->items = xrealloc(v->items, (v->n_items + 1) * sizeof *v->items);
        v->items_quoted = xrealloc(v->items_quoted, (v->n_items + 1) * sizeof *v->items_quoted);
        v->items_quoted[v->n_items] = quoted;
        v->items[v->n_items++] = str_take(&s);
        p = skip_blanks(p, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == ']') break;
        yaml_value_free(v);
        return yfail(y, "a flow list [...] does not end on its line");
    }
    if (!yaml_line_end(y, p + 1, e)) { yaml_value_free(v); return false; }
    return true;
}

/* `key: value` from p (the key's first character) to e; the key is letters, digits and
 * _ - . / (and inner spaces), followed by ':' and a blank or the end of the line. */
static bool yaml_key(Yaml *y, const char *p, const char *e, char *key, size_t key_cap, const char **value)
{
    if (*p == '"' || *p == '\'') return yfail(y, "quoted keys are not supported");
    const char *why = yaml_refused_start(p, e);
    if (why) return yfail(y, "%s", why);
    const char *k = p;
    while (p < e && *p != ':') {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.' || c == '/' || c == ' ';
        if (!ok) return yfail(y, "expected \"key: value\", found \"%.*s\"", (int)(e - k > 40 ? 40 : e - k), k);
        p++;
    }
    if (p == e || (p + 1 < e && !is_blank(p[1])))
        return yfail(y, "expected \"key: value\", found \"%.*s\"", (int)(e - k > 40 ? 40 : e - k), k);
    const char *ke = p;
    while (ke > k && ke[-1] == ' ') ke--;
    if (ke == k) return yfail(y, "an empty key");
    if ((size_t)(ke - k) >= key_cap) return yfail(y, "key \"%.*s...\" is too long", 40, k);
    memcpy(key, k, (size_t)(ke - k));
    key[ke - k] = 0;
    *value = p + 1;
    return true;
}

/* A whole number in [0, EVAL_MAX_FEWSHOT] written as plain digits. */
static bool fewshot_value(const char *s, bool quoted, int *out)
{
    if (quoted || !*s) return false;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
        if (v > EVAL_MAX_FEWSHOT) return false;
    }
    *out = (int)v;
    return true;
}

enum { K_LABEL = 1, K_URI = 2, K_TYPE = 4, K_SHOTS = 8, K_DELIM = 16 };

/* One key of a task entry into t (seen: the keys given so far). */
static bool yaml_task_key(Yaml *y, EvalBundleTask *t, unsigned *seen, const char *key, YamlValue *v)
{
    static const struct { const char *name; unsigned bit; } known[] = {
        { "label", K_LABEL }, { "dataset_uri", K_URI }, { "icl_task_type", K_TYPE },
        { "num_fewshot", K_SHOTS }, { "continuation_delimiter", K_DELIM },
    };
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(key, known[i].name) == 0) bit = known[i].bit;
    if (!bit) return true; /* has_categories and the like: not read (nanochat ignores them) */
    if (*seen & bit) return yfail(y, "%s given twice in one task", key);
    *seen |= bit;
    if (v->kind == YV_NULL) return yfail(y, "%s has no value", key);
    if (bit == K_SHOTS) {
        size_t n = v->kind == YV_LIST ? v->n_items : 1;
        if (n == 0) return yfail(y, "num_fewshot is an empty list");
        for (size_t i = 0; i < n; i++) {
            int shots;
            const char *s = v->kind == YV_LIST ? v->items[i] : v->s;
            bool q = v->kind == YV_LIST ? v->items_quoted[i] : v->quoted;
            if (!fewshot_value(s, q, &shots))
                return yfail(y, "num_fewshot must be a list of whole numbers in [0, %d], like [10]", EVAL_MAX_FEWSHOT);
            if (i == 0) t->num_fewshot = shots;
        }
        t->n_fewshot = n;
        return true;
    }
    if (v->kind != YV_SCALAR) return yfail(y, "%s must be a string, not a list", key);
    switch (bit) {
    case K_LABEL:
        if (!eval_suite_label_ok(v->s, strlen(v->s))) return yfail(y, "label \"%s\" must be letters, digits, '_' or '-'", v->s);
        t->label = xstrdup(v->s);
        break;
    case K_URI:
        if (!v->s[0]) return yfail(y, "dataset_uri is empty");
        t->dataset_uri = xstrdup(v->s);
        break;
    case K_TYPE:
        if (!eval_task_type_parse(v->s, &t->type))
            return yfail(y, "icl_task_type \"%s\" is not supported (multiple_choice, schema or language_modeling)", v->s);
        break;
    default:
        t->delimiter = xstrdup(v->s);
        break;
    }
    return true;
}

/* The entry just read is complete: every key nanochat needs is there, its label new. */
static bool yaml_task_done(Yaml *y, EvalBundleTasks *out, unsigned seen)
{
    const EvalBundleTask *t = &out->tasks[out->n_tasks - 1];
    Yaml at = *y; /* messages name the entry's first line */
    at.line = t->line;
    if (!seen) return yfail(&at, "an empty task entry");
    const char *missing = !(seen & K_LABEL) ? "label" : !(seen & K_URI) ? "dataset_uri"
                        : !(seen & K_TYPE) ? "icl_task_type" : !(seen & K_SHOTS) ? "num_fewshot" : NULL;
    if (missing) {
        if (t->label) return yfail(&at, "task \"%s\" has no %s", t->label, missing);
        return yfail(&at, "the task has no %s", missing);
    }
    for (size_t i = 0; i + 1 < out->n_tasks; i++)
        if (strcmp(out->tasks[i].label, t->label) == 0)
            return yfail(&at, "task \"%s\" is listed twice (also at line %d)", t->label, out->tasks[i].line);
    return true;
}

void eval_bundle_tasks_free(EvalBundleTasks *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_tasks; i++) {
        free(t->tasks[i].label);
        free(t->tasks[i].dataset_uri);
        free(t->tasks[i].delimiter);
    }
    free(t->tasks);
    memset(t, 0, sizeof *t);
}

static bool seq_dash(const char *p, const char *e) { return *p == '-' && (p + 1 == e || is_blank(p[1])); }

bool eval_bundle_parse_yaml(const char *text, size_t len, const char *name, EvalBundleTasks *out, char *err,
                            size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!text_ok(text, len, name, err, cap)) return false;
    Yaml y = { name, 0, err, cap };
    enum { TOP, SKIP, TASKS } state = TOP;
    bool seen_content = false, seen_tasks = false, in_entry = false, ok = true;
    int seq_indent = -1, key_indent = -1, tasks_line = 0;
    unsigned seen = 0;
    const char *p = text + bom_len(text, len), *end = text + len;
    while (ok && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        y.line++;
        if (e > p && e[-1] == '\r') e--;
        const char *c = p;
        while (c < e && *c == ' ') c++;
        int indent = (int)(c - p);
        p = next;
        if (c < e && *c == '\t') { ok = yfail(&y, "a tab in the indentation (YAML indents with spaces only)"); break; }
        if (c == e || *c == '#') continue;
        if (indent == 0 && !seq_dash(c, e)) {
            /* a top-level key ends the block above it */
            if (in_entry) { ok = yaml_task_done(&y, out, seen); in_entry = false; if (!ok) break; }
            if (e - c >= 3 && memcmp(c, "---", 3) == 0 && (e - c == 3 || is_blank(c[3]))) {
                if (seen_content) { ok = yfail(&y, "a second YAML document (---) is not supported"); break; }
                seen_content = true;
                continue;
            }
            if (e - c >= 3 && memcmp(c, "...", 3) == 0 && (e - c == 3 || is_blank(c[3]))) {
                ok = yfail(&y, "a document end marker (...) is not supported");
                break;
            }
            seen_content = true;
            char key[256];
            const char *v;
            if (!(ok = yaml_key(&y, c, e, key, sizeof key, &v))) break;
            if (strcmp(key, "icl_tasks") != 0) { state = SKIP; continue; }
            if (seen_tasks) { ok = yfail(&y, "icl_tasks given twice (also at line %d)", tasks_line); break; }
            YamlValue val;
            if (!(ok = yaml_value(&y, v, e, &val))) break;
            bool empty = val.kind == YV_NULL;
            yaml_value_free(&val);
            if (!empty) {
                ok = yfail(&y, "icl_tasks must be a block sequence of tasks (\"- label: ...\" on the lines below it)");
                break;
            }
            seen_tasks = true;
            tasks_line = y.line;
            state = TASKS;
            seq_indent = -1;
            continue;
        }
        if (state == TOP) {
            ok = yfail(&y, "expected a top-level \"key:\" (the file is a mapping with an icl_tasks key)");
            break;
        }
        if (state == SKIP) continue; /* inside another top-level key's block: not read */
        if (seq_indent < 0) {
            if (!seq_dash(c, e)) { ok = yfail(&y, "icl_tasks: expected a task entry \"- ...\""); break; }
            seq_indent = indent;
        }
        const char *k = c;
        if (indent == seq_indent && seq_dash(c, e)) {
            if (in_entry && !(ok = yaml_task_done(&y, out, seen))) break;
            out->tasks = xrealloc(out->tasks, (out->n_tasks + 1) * sizeof *out->tasks);
            EvalBundleTask *t = &out->tasks[out->n_tasks++];
            memset(t, 0, sizeof *t);
            t->line = y.line;
            in_entry = true;
            seen = 0;
            k = skip_blanks(c + 1, e);
            if (k == e || *k == '#') { key_indent = -1; continue; }
            key_indent = indent + (int)(k - c);
        } else if (indent <= seq_indent) {
            ok = yfail(&y, indent == seq_indent ? "expected a task entry \"- ...\" at this indentation"
                                                : "this line is indented less than the icl_tasks entries");
            break;
        } else {
            if (key_indent < 0) key_indent = indent;
            if (indent != key_indent) {
                ok = yfail(&y, indent > key_indent ? "nested blocks inside a task are not supported"
                                                   : "this line is indented less than the task's keys");
                break;
            }
        }
        char key[256];
        const char *v;
        YamlValue val;
        if (!(ok = yaml_key(&y, k, e, key, sizeof key, &v))) break;
        if (!(ok = yaml_value(&y, v, e, &val))) break;
        ok = yaml_task_key(&y, &out->tasks[out->n_tasks - 1], &seen, key, &val);
        yaml_value_free(&val);
    }
    if (ok && in_entry) ok = yaml_task_done(&y, out, seen);
    if (ok && !seen_tasks) ok = errbuf_fail(err, cap, "%s: no icl_tasks key (the list of tasks)", name);
    if (ok && out->n_tasks == 0) { y.line = tasks_line; ok = yfail(&y, "icl_tasks has no tasks"); }
    if (!ok) eval_bundle_tasks_free(out);
    return ok;
}

/* ---- RFC 4180 CSV ------------------------------------------------------------------ */

typedef struct {
    char **f;
    size_t n, cap;
} Fields;

static void fields_clear(Fields *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->f[i]);
    r->n = 0;
}

static void fields_push(Fields *r, Str *s)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->f = xrealloc(r->f, r->cap * sizeof *r->f);
    }
    r->f[r->n++] = str_take(s);
}

/* Length of the line end at t[i]: LF, CRLF, or a CR that ends the text; 0 if none. */
static size_t csv_eol(const char *t, size_t len, size_t i)
{
    if (i >= len) return 0;
    if (t[i] == '\n') return 1;
    if (t[i] == '\r') return i + 1 == len ? 1 : t[i + 1] == '\n' ? 2 : 0;
    return 0;
}

/* The next record from *pos into r; false at the end of the text (r empty) or on an error
 * (*bad set, the message in err). *line counts lines; *rec_line is where the record
 * starts. Blank lines are skipped. */
static bool csv_record(const char *t, size_t len, size_t *pos, int *line, int *rec_line, Fields *r, const char *name,
                       bool *bad, char *err, size_t cap)
{
    size_t i = *pos, eol;
    fields_clear(r);
    *bad = false;
    while ((eol = csv_eol(t, len, i)) != 0) {
        i += eol;
        (*line)++;
    }
    if (i >= len) { *pos = i; return false; }
    *rec_line = *line;
    Str s = { 0 };
    for (;;) {
        if (i < len && t[i] == '"') {
            int open_line = *line;
            for (i++;; ) {
                if (i >= len) {
                    free(str_take(&s));
                    *bad = true;
                    return errbuf_fail(err, cap, "%s:%d: a quoted field is never closed", name, open_line);
                }
                if (t[i] == '"') {
                    if (i + 1 < len && t[i + 1] == '"') { str_addc(&s, '"'); i += 2; continue; }
                    i++;
                    break;
                }
                if (t[i] == '\n') (*line)++;
                str_addc(&s, t[i++]);
            }
            if (i < len && t[i] != ',' && !csv_eol(t, len, i)) {
                free(str_take(&s));
                *bad = true;
                return errbuf_fail(err, cap, "%s:%d: text after the closing quote of field %zu", name, *line, r->n + 1);
            }
        } else {
            /* unquoted: up to the comma or the line end; a quote inside is kept as it is,
             * as Python's csv keeps it */
            while (i < len && t[i] != ',' && !csv_eol(t, len, i)) str_addc(&s, t[i++]);
        }
        fields_push(r, &s);
        if (i < len && t[i] == ',') { i++; continue; }
        if ((eol = csv_eol(t, len, i)) != 0) { i += eol; (*line)++; }
        break;
    }
    *pos = i;
    return true;
}

void eval_baselines_free(EvalBaselines *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n_rows; i++) {
        free(b->rows[i].task);
        free(b->rows[i].baseline);
    }
    free(b->rows);
    free(b->name);
    memset(b, 0, sizeof *b);
}

bool eval_bundle_parse_csv(const char *text, size_t len, const char *name, EvalBaselines *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!text_ok(text, len, name, err, cap)) return false;
    size_t pos = bom_len(text, len);
    int line = 1, rec_line = 1;
    bool bad;
    Fields r = { 0 };
    if (!csv_record(text, len, &pos, &line, &rec_line, &r, name, &bad, err, cap)) {
        fields_clear(&r);
        free(r.f);
        return bad ? false : errbuf_fail(err, cap, "%s: empty (expected a header with \"Eval Task\" and \"Random baseline\")", name);
    }
    const size_t n_cols = r.n;
    size_t task_col = SIZE_MAX, base_col = SIZE_MAX;
    for (size_t i = 0; i < r.n; i++) {
        if (strcmp(r.f[i], "Eval Task") == 0 && task_col == SIZE_MAX) task_col = i;
        if (strcmp(r.f[i], "Random baseline") == 0 && base_col == SIZE_MAX) base_col = i;
    }
    bool ok = true;
    if (task_col == SIZE_MAX || base_col == SIZE_MAX)
        ok = errbuf_fail(err, cap, "%s:%d: the header has no \"%s\" column", name, rec_line,
                         task_col == SIZE_MAX ? "Eval Task" : "Random baseline");
    out->name = xstrdup(name);
    while (ok && csv_record(text, len, &pos, &line, &rec_line, &r, name, &bad, err, cap)) {
        if (r.n != n_cols) {
            ok = errbuf_fail(err, cap, "%s:%d: %zu field%s, the header has %zu", name, rec_line, r.n, r.n == 1 ? "" : "s",
                             n_cols);
            break;
        }
        out->rows = xrealloc(out->rows, (out->n_rows + 1) * sizeof *out->rows);
        EvalBaselineRow *row = &out->rows[out->n_rows++];
        row->task = r.f[task_col];
        row->baseline = r.f[base_col];
        r.f[task_col] = r.f[base_col] = NULL;
        row->line = rec_line;
    }
    if (ok && bad) ok = false;
    fields_clear(&r);
    free(r.f);
    if (!ok) eval_baselines_free(out);
    return ok;
}

bool eval_bundle_baseline(const EvalBaselines *b, const char *task, double *percent, char *err, size_t cap)
{
    const EvalBaselineRow *row = NULL;
    for (size_t i = 0; i < b->n_rows; i++) {
        if (strcmp(b->rows[i].task, task) != 0) continue;
        if (row)
            return errbuf_fail(err, cap, "%s:%d: a second row for task \"%s\" (the first is at line %d)", b->name,
                               b->rows[i].line, task, row->line);
        row = &b->rows[i];
    }
    if (!row)
        return errbuf_fail(err, cap, "%s: no row for task \"%s\" (no random baseline for it; \"Eval Task\" must be its label)",
                           b->name, task);
    /* a number as Python's float() reads one, blanks around it allowed */
    const char *s = row->baseline, *e = s + strlen(s);
    while (s < e && is_blank(*s)) s++;
    while (e > s && is_blank(e[-1])) e--;
    bool chars_ok = s < e;
    for (const char *p = s; p < e; p++)
        chars_ok = chars_ok && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-');
    char *stop = NULL;
    double v = chars_ok ? strtod(s, &stop) : NAN;
    if (!chars_ok || stop != e || !(v >= 0 && v < 100))
        return errbuf_fail(err, cap, "%s:%d: task \"%s\": Random baseline \"%s\" is not a number of percent in [0, 100)",
                           b->name, row->line, task, row->baseline);
    *percent = v;
    return true;
}

/* ---- the suite ---------------------------------------------------------------------- */

bool eval_bundle_load(const char *path, EvalSuite *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    char *yaml_path = NULL, *csv_path = NULL, *root = NULL, *text = NULL;
    EvalBundleTasks tasks = { 0 };
    EvalBaselines base = { 0 };
    EvalSuite s = { 0 };
    char why[512];
    size_t len;
    bool ok = false;
    errno = 0;
    if (is_directory(path)) {
        /* nanochat's eval_bundle */
        yaml_path = path_join(path, "core.yaml");
        csv_path = path_join(path, "eval_meta_data.csv");
        root = path_join(path, "eval_data");
        if (!is_regular_file(yaml_path)) {
            errbuf_fail(err, cap, "%s: no core.yaml in this folder (a nanochat eval bundle holds core.yaml, "
                        "eval_meta_data.csv and eval_data/; for a DCLM eval folder give its .yaml file)", path);
            goto done;
        }
    } else if (is_regular_file(path)) {
        /* a DCLM-style eval yaml: the csv and the dataset_uri paths are beside it */
        yaml_path = xstrdup(path);
        root = path_dir(path);
        csv_path = path_join(root, "eval_meta_data.csv");
    } else {
        errbuf_fail(err, cap, "%s: %s (--bundle wants a nanochat eval_bundle folder or a DCLM eval .yaml file)", path,
                    errno ? strerror(errno) : "not a folder or a regular file");
        goto done;
    }
    if (!(text = file_slurp(yaml_path, EVAL_BUNDLE_MAX_BYTES, &len, why, sizeof why))) {
        errbuf_fail(err, cap, "%s: %s", yaml_path, why);
        goto done;
    }
    if (!eval_bundle_parse_yaml(text, len, yaml_path, &tasks, err, cap)) goto done;
    free(text);
    if (!(text = file_slurp(csv_path, EVAL_BUNDLE_MAX_BYTES, &len, why, sizeof why))) {
        errbuf_fail(err, cap, "%s: %s (the random baselines of %s are read from it)", csv_path, why, yaml_path);
        goto done;
    }
    if (!eval_bundle_parse_csv(text, len, csv_path, &base, err, cap)) goto done;

    s.path = xstrdup(yaml_path);
    s.data_dir = xstrdup(root);
    s.seed = EVAL_SUITE_DEFAULT_SEED;
    s.tasks = xcalloc(tasks.n_tasks, sizeof *s.tasks);
    for (size_t i = 0; i < tasks.n_tasks; i++) {
        const EvalBundleTask *b = &tasks.tasks[i];
        EvalTaskSpec *t = &s.tasks[s.n_tasks++];
        t->label = xstrdup(b->label);
        t->file = path_resolve(root, b->dataset_uri);
        t->type = b->type;
        t->num_fewshot = b->num_fewshot;
        t->delimiter = xstrdup(b->delimiter ? b->delimiter : " ");
        t->line = b->line;
        char why_base[1024];
        if (!eval_bundle_baseline(&base, b->label, &t->random_baseline, why_base, sizeof why_base)) {
            errbuf_fail(err, cap, "%s:%d: task \"%s\": %s", yaml_path, b->line, b->label, why_base);
            goto done;
        }
        errno = 0;
        if (!is_regular_file(t->file)) {
            int e = errno;
            errbuf_fail(err, cap, "%s:%d: task \"%s\": data file %s: %s", yaml_path, b->line, b->label, t->file,
                        e ? strerror(e) : "not a regular file");
            goto done;
        }
    }
    /* only for a bundle that loads: a failing one says one thing, its error */
    for (size_t i = 0; i < tasks.n_tasks; i++) {
        const EvalBundleTask *b = &tasks.tasks[i];
        if (b->n_fewshot > 1)
            warnx("%s:%d: task \"%s\": num_fewshot lists %zu values; CORE uses the first, %d, as nanochat does",
                  yaml_path, b->line, b->label, b->n_fewshot, b->num_fewshot);
    }
    *out = s;
    memset(&s, 0, sizeof s);
    ok = true;
done:
    eval_suite_free(&s);
    eval_bundle_tasks_free(&tasks);
    eval_baselines_free(&base);
    free(text);
    free(yaml_path);
    free(csv_path);
    free(root);
    return ok;
}
