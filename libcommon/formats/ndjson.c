/* ndjson.c: see ndjson.h. */
#include "formats/ndjson.h"
#include "base/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

static void reserve(NdLine *l, size_t extra)
{
    if (l->len + extra + 1 <= l->cap) return;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + extra + 1) cap *= 2;
    l->buf = xrealloc(l->buf, cap);
    l->cap = cap;
}

static void put(NdLine *l, const char *s, size_t n)
{
    reserve(l, n);
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = 0;
}

static void puts_(NdLine *l, const char *s) { put(l, s, strlen(s)); }

void nd_append_escaped(NdLine *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    put(l, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; put(l, e, 2); i++; continue; }
        if (c < 0x20) {
            const char *e = NULL;
            switch (c) {
            case '\n': e = "\\n"; break;
            case '\r': e = "\\r"; break;
            case '\t': e = "\\t"; break;
            case '\b': e = "\\b"; break;
            case '\f': e = "\\f"; break;
            }
            if (e) put(l, e, 2);
            else { char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] }; put(l, u, 6); }
            i++;
            continue;
        }
        if (c < 0x80) { put(l, (const char *)&c, 1); i++; continue; }
        /* Validate one UTF-8 sequence; copy it whole or replace the lead byte. */
        int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++) ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len == 3) {
            if (c == 0xE0 && p[i + 1] < 0xA0) ok = false;       /* overlong */
            if (c == 0xED && p[i + 1] >= 0xA0) ok = false;      /* surrogate */
        }
        if (ok && len == 4) {
            if (c == 0xF0 && p[i + 1] < 0x90) ok = false;       /* overlong */
            if (c == 0xF4 && p[i + 1] >= 0x90) ok = false;      /* > U+10FFFF */
        }
        if (ok) { put(l, s + i, (size_t)len); i += (size_t)len; }
        else { put(l, "\xEF\xBF\xBD", 3); i++; }
    }
    put(l, "\"", 1);
}

static void key(NdLine *l, const char *k)
{
    if (l->need_comma[l->depth]) put(l, ",", 1);
    l->need_comma[l->depth] = true;
    if (k) {
        nd_append_escaped(l, k, strlen(k));
        put(l, ":", 1);
    }
}

void nd_begin(NdLine *l)
{
    l->len = 0;
    l->depth = 0;
    memset(l->need_comma, 0, sizeof l->need_comma);
    put(l, "{", 1);
}

void nd_begin_metric(NdLine *l, const char *kind, const char *run, int64_t step)
{
    nd_begin(l);
    nd_str(l, "kind", kind);
    nd_str(l, "run", run ? run : "");
    nd_int(l, "step", step);
}

void nd_str(NdLine *l, const char *k, const char *v)
{
    key(l, k);
    if (v) nd_append_escaped(l, v, strlen(v));
    else puts_(l, "null");
}

void nd_int(NdLine *l, const char *k, int64_t v)
{
    char b[32];
    key(l, k);
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(l, b);
}

static void number(NdLine *l, double v, const char *fmt)
{
    char b[40];
    if (isnan(v)) puts_(l, "\"NaN\"");
    else if (isinf(v)) puts_(l, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else {
        snprintf(b, sizeof b, fmt, v);
        puts_(l, b);
    }
}

void nd_f64(NdLine *l, const char *k, double v) { key(l, k); number(l, v, "%.17g"); }
void nd_f32(NdLine *l, const char *k, float v) { key(l, k); number(l, (double)v, "%.9g"); }
void nd_bool(NdLine *l, const char *k, bool v) { key(l, k); puts_(l, v ? "true" : "false"); }
void nd_null(NdLine *l, const char *k) { key(l, k); puts_(l, "null"); }
void nd_raw(NdLine *l, const char *k, const char *json) { key(l, k); puts_(l, json); }

static void open_nested(NdLine *l, const char *k, const char *bracket)
{
    key(l, k);
    puts_(l, bracket);
    if (l->depth + 1 >= (int)(sizeof l->need_comma / sizeof l->need_comma[0]))
        die("ndjson: nesting too deep");
    l->need_comma[++l->depth] = false;
}

void nd_obj_begin(NdLine *l, const char *k) { open_nested(l, k, "{"); }
void nd_arr_begin(NdLine *l, const char *k) { open_nested(l, k, "["); }
void nd_obj_end(NdLine *l) { l->depth--; put(l, "}", 1); }
void nd_arr_end(NdLine *l) { l->depth--; put(l, "]", 1); }
void nd_elem_int(NdLine *l, int64_t v) { nd_int(l, NULL, v); }
void nd_elem_f64(NdLine *l, double v) { nd_f64(l, NULL, v); }
void nd_elem_f32(NdLine *l, float v) { nd_f32(l, NULL, v); }
void nd_elem_str(NdLine *l, const char *v) { nd_str(l, NULL, v); }

const char *nd_end(NdLine *l)
{
    if (l->depth != 0) die("ndjson: unbalanced object (depth %d)", l->depth);
    put(l, "}\n", 2);
    return l->buf;
}

void nd_emit(NdLine *l, FILE *fp, const char *what)
{
    nd_end(l);
    if (fwrite(l->buf, 1, l->len, fp) != l->len || fflush(fp) != 0)
        die("%s: write failed: %s", what, strerror(errno));
}

void nd_free(NdLine *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

/* Reader ------------------------------------------------------------------ */

void nd_reader_open(NdReader *r, const char *path, bool follow)
{
    memset(r, 0, sizeof *r);
    if (!path || strcmp(path, "-") == 0) {
        r->fp = stdin;
        r->path = xstrdup("-");
    } else {
        r->fp = fopen(path, "rb");
        if (!r->fp) die("%s: %s", path, strerror(errno));
        r->path = xstrdup(path);
    }
    r->follow = follow;
}

static NdStatus parse_line(NdReader *r, const char *text, struct cJSON **obj, char *err, size_t cap)
{
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        snprintf(err, cap, "%s:%ld: not valid JSON", r->path, r->line_no);
        return ND_BAD;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, cap, "%s:%ld: not a JSON object", r->path, r->line_no);
        return ND_BAD;
    }
    *obj = j;
    return ND_OK;
}

NdStatus nd_reader_next(NdReader *r, struct cJSON **obj, char *err, size_t cap)
{
    *obj = NULL;
    for (;;) {
        ssize_t n = getline(&r->line, &r->line_cap, r->fp);
        if (n < 0) {
            if (ferror(r->fp)) die("%s: read failed: %s", r->path, strerror(errno));
            if (!r->follow) {
                if (r->partial_len) {
                    r->line_no++;
                    r->partial_len = 0;
                    snprintf(err, cap, "%s:%ld: truncated last line (no newline)", r->path, r->line_no);
                    return ND_BAD;
                }
                return ND_EOF;
            }
            clearerr(r->fp);
            usleep(200 * 1000);
            continue;
        }
        if (r->line[n - 1] != '\n') {
            /* An unfinished line: keep it; when following, the writer may finish it. */
            r->partial = xrealloc(r->partial, r->partial_len + (size_t)n + 1);
            memcpy(r->partial + r->partial_len, r->line, (size_t)n);
            r->partial_len += (size_t)n;
            r->partial[r->partial_len] = 0;
            continue;
        }
        const char *text = r->line;
        if (r->partial_len) {
            r->partial = xrealloc(r->partial, r->partial_len + (size_t)n + 1);
            memcpy(r->partial + r->partial_len, r->line, (size_t)n + 1);
            r->partial_len = 0;
            text = r->partial;
        }
        r->line_no++;
        size_t k = strspn(text, " \t\r\n");
        if (text[k] == 0) continue; /* blank line */
        return parse_line(r, text, obj, err, cap);
    }
}

void nd_reader_close(NdReader *r)
{
    if (r->fp && r->fp != stdin) fclose(r->fp);
    free(r->path);
    free(r->line);
    free(r->partial);
    memset(r, 0, sizeof *r);
}
