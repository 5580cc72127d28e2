/* text_input_json.c: pull one string field out of a JSON line, exactly.
 *
 * cJSON would do for the parsing, but it returns strings as C strings, so a text
 * holding \u0000 would be cut short without a word. This strict parser keeps every
 * byte, and costs one pass over the line. */
#include "tok/text_input.h"
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 512

typedef struct {
    const unsigned char *s;
    size_t n, i;
    char *err;
    size_t errlen;
    int failed;
} JP;

static void jp_fail(JP *p, const char *fmt, ...) NMOE_PRINTF(2, 3);
static void jp_fail(JP *p, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "not JSON: column %zu: %s", p->i + 1, msg);
}

static void skip_ws(JP *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int hex4(JP *p, unsigned *v)
{
    if (p->n - p->i < 4) { jp_fail(p, "truncated \\u escape"); return -1; }
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int c = p->s[p->i + k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else { jp_fail(p, "bad \\u escape"); return -1; }
        *v = *v << 4 | (unsigned)d;
    }
    p->i += 4;
    return 0;
}

typedef struct {
    char **buf;
    size_t *cap, base, len; /* the string goes to (*buf)[base ..]; len is where it ends */
} Out;

static void out_put(Out *o, const void *b, size_t k)
{
    if (!o) return;
    if (o->len + k + 1 > *o->cap) {
        size_t c = *o->cap ? *o->cap : 256;
        while (c < o->len + k + 1) c *= 2;
        *o->buf = xrealloc(*o->buf, c);
        *o->cap = c;
    }
    memcpy(*o->buf + o->len, b, k);
    o->len += k;
}

/* The lowest byte of an 8-byte little-endian word that is '"', '\\' or below 0x20
 * (as a bit mask over bit 7 of each byte; 0 when there is none): the has-zero-byte
 * test of w ^ '"' and w ^ '\\', and the has-less-than test. A borrow can flag a byte
 * above a true hit, never one below it, so the lowest flag is exact. This is what
 * makes the scan of a long string run 8 bytes at a time. */
static inline uint64_t string_stop_bytes(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs;
}

/* A string at p->i (on the opening quote); decoded into o when o is not NULL. */
static void parse_string(JP *p, Out *o)
{
    p->i++;
    for (;;) {
        size_t run = p->i;
        while (p->i + 8 <= p->n) {
            uint64_t w;
            memcpy(&w, p->s + p->i, 8);
            uint64_t m = string_stop_bytes(w);
            if (m) { p->i += (size_t)__builtin_ctzll(m) / 8; break; }
            p->i += 8;
        }
        while (p->i < p->n && p->s[p->i] != '"' && p->s[p->i] != '\\' && p->s[p->i] >= 0x20) p->i++;
        out_put(o, p->s + run, p->i - run);
        if (p->i >= p->n) { jp_fail(p, "unterminated string"); return; }
        unsigned char c = p->s[p->i];
        if (c == '"') { p->i++; return; }
        if (c < 0x20) { jp_fail(p, "control character 0x%02x in a string", c); return; }
        p->i++; /* backslash */
        if (p->i >= p->n) { jp_fail(p, "unterminated escape"); return; }
        c = p->s[p->i++];
        char ch;
        switch (c) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, &cp)) return;
            if (cp >= 0xDC00 && cp <= 0xDFFF) { jp_fail(p, "lone low surrogate \\u%04X", cp); return; }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') { jp_fail(p, "lone high surrogate \\u%04X", cp); return; }
                p->i += 2;
                if (hex4(p, &lo)) return;
                if (lo < 0xDC00 || lo > 0xDFFF) { jp_fail(p, "high surrogate \\u%04X not followed by a low one", cp); return; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            unsigned char u[4];
            size_t k;
            if (cp < 0x80) { u[0] = (unsigned char)cp; k = 1; }
            else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 0x3F)); k = 2; }
            else if (cp < 0x10000) { u[0] = (unsigned char)(0xE0 | cp >> 12); u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); u[2] = (unsigned char)(0x80 | (cp & 0x3F)); k = 3; }
            else { u[0] = (unsigned char)(0xF0 | cp >> 18); u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)); u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); u[3] = (unsigned char)(0x80 | (cp & 0x3F)); k = 4; }
            out_put(o, u, k);
            continue;
        }
        default: p->i--; jp_fail(p, "bad escape \\%c", c >= 0x20 && c < 0x7F ? c : '?'); return;
        }
        out_put(o, &ch, 1);
    }
}

static void parse_number(JP *p)
{
    size_t start = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9') while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    else { p->i = start; jp_fail(p, "unexpected character"); return; }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!(p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')) { jp_fail(p, "digit expected"); return; }
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!(p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')) { jp_fail(p, "digit expected"); return; }
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
}

/* Any value. At depth 0 (the line's object) a member named `field` whose value is a
 * string is decoded into o and *found set; its last occurrence wins, as in most
 * JSON readers. */
static void parse_value(JP *p, int depth, const char *field, Out *o, int *found)
{
    if (depth > JSON_MAX_DEPTH) { jp_fail(p, "nested deeper than %d", JSON_MAX_DEPTH); return; }
    skip_ws(p);
    if (p->i >= p->n) { jp_fail(p, "value expected"); return; }
    unsigned char c = p->s[p->i];
    if (c == '{') {
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') { p->i++; return; }
        for (;;) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') { jp_fail(p, "member name expected"); return; }
            size_t key_start = p->i + 1;
            parse_string(p, NULL);
            if (p->failed) return;
            size_t key_len = p->i - 1 - key_start;
            /* Keys are compared as written: a field name spelled with escapes is not matched. */
            int is_field = depth == 0 && field && key_len == strlen(field) && memcmp(p->s + key_start, field, key_len) == 0;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') { jp_fail(p, "':' expected"); return; }
            p->i++;
            skip_ws(p);
            if (is_field && p->i < p->n && p->s[p->i] == '"') {
                o->len = o->base;
                parse_string(p, o);
                *found = 1;
            } else {
                if (is_field) *found = 0;
                parse_value(p, depth + 1, NULL, NULL, NULL);
            }
            if (p->failed) return;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == '}') { p->i++; return; }
            jp_fail(p, "',' or '}' expected");
            return;
        }
    }
    if (c == '[') {
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') { p->i++; return; }
        for (;;) {
            parse_value(p, depth + 1, NULL, NULL, NULL);
            if (p->failed) return;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == ']') { p->i++; return; }
            jp_fail(p, "',' or ']' expected");
            return;
        }
    }
    if (c == '"') { parse_string(p, NULL); return; }
    static const char *lits[] = { "true", "false", "null" };
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (p->n - p->i >= l && memcmp(p->s + p->i, lits[k], l) == 0) { p->i += l; return; }
    }
    parse_number(p);
}

long jsonl_extract(const char *line, size_t n, const char *field, char **out, size_t *cap, char *err, size_t errlen)
{
    return jsonl_extract_at(line, n, field, out, cap, 0, err, errlen);
}

long jsonl_extract_at(const char *line, size_t n, const char *field, char **out, size_t *cap, size_t at, char *err,
                      size_t errlen)
{
    JP p = { (const unsigned char *)line, n, 0, err, errlen, 0 };
    Out o = { out, cap, at, at };
    int found = 0;
    skip_ws(&p);
    int is_object = p.i < n && line[p.i] == '{';
    parse_value(&p, 0, is_object ? field : NULL, &o, &found);
    if (!p.failed) {
        skip_ws(&p);
        if (p.i != n) jp_fail(&p, "unexpected text after the JSON value");
    }
    if (p.failed) return -1;
    if (!is_object) { snprintf(err, errlen, "not a JSON object"); return -1; }
    if (!found) { snprintf(err, errlen, "no string field \"%s\"", field); return -1; }
    out_put(&o, "", 0); /* make sure the buffer exists for an empty string */
    return (long)(o.len - o.base);
}
