/* toml.c: see toml.h. A small recursive-descent reader for nmoe's TOML subset.
 *
 * Two passes. The first checks the whole text for invalid UTF-8, stray control
 * characters and bare carriage returns, so the parser proper can treat the bytes
 * simply and every error still has a line and column. The second parses line by
 * line. Every table and key is recorded in a hash map under its full dotted path
 * ("model.dim"), together with how it came to exist; that is how duplicate keys and
 * redefined tables are caught, with the line of the first definition in the message.
 *
 * Restrictions beyond TOML 1.0, because the document is flattened to dotted keys:
 * a quoted key may not be empty or contain '.', and no key or string may hold a
 * control character through an escape that would break a one-line error (keys) or a
 * C string (NUL in strings). Columns count characters (UTF-8 code points), not bytes. */
#include "formats/toml.h"
#include "base/error.h"
#include "base/hash.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TOML_MAX_DEPTH = 64 };               /* array nesting; bounds the recursion */
#define TOML_MAX_FILE ((size_t)64 << 20)    /* configs are small; refuse anything huge */

typedef enum {
    NODE_VALUE,          /* key = value */
    NODE_TABLE_HEADER,   /* defined by a [header] */
    NODE_TABLE_IMPLICIT, /* a parent a header created ([a] for [a.b]); may be defined later */
    NODE_TABLE_DOTTED,   /* created by a dotted key (a.b = 1 creates table a) */
} NodeKind;

typedef struct {
    char *path;   /* full dotted path */
    NodeKind kind;
    int line;     /* where it was first set or defined */
    size_t leaf;  /* NODE_VALUE: index into the leaves */
} Node;

struct TomlDoc {
    char *filename;
    char **keys;          /* leaves in file order: keys[i] = values[i] */
    TomlValue *values;
    size_t n_leaves, cap_leaves;
    Node *nodes;
    size_t n_nodes, cap_nodes;
    size_t *slots;        /* open-addressing hash map: node index + 1, 0 = empty */
    size_t n_slots;       /* a power of two */
};

typedef struct {
    const char *s;
    size_t len, pos;
    int line, col;
    const char *filename;
    char *err;
    size_t err_cap;
    TomlDoc *doc;
    char *table;          /* path of the current [table]; "" at the root */
} Parser;

/* Errors ------------------------------------------------------------------- */

static bool fail_at(Parser *p, int line, int col, const char *fmt, ...) NMOE_PRINTF(4, 5);
static bool fail_at(Parser *p, int line, int col, const char *fmt, ...)
{
    if (!p->err || p->err_cap == 0) return false;
    int n = snprintf(p->err, p->err_cap, "%s:%d:%d: ", p->filename, line, col);
    if (n >= 0 && (size_t)n < p->err_cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->err_cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

#define FAIL(p, ...) fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

/* Values and the document ---------------------------------------------------- */

static void value_free(TomlValue *v)
{
    if (v->type == TOML_STRING) {
        free(v->u.s);
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) value_free(&v->u.arr.items[i]);
        free(v->u.arr.items);
    }
    v->type = TOML_BOOL; /* nothing left to free */
}

void toml_free(TomlDoc *doc)
{
    if (!doc) return;
    for (size_t i = 0; i < doc->n_leaves; i++) value_free(&doc->values[i]);
    for (size_t i = 0; i < doc->n_nodes; i++) free(doc->nodes[i].path);
    free(doc->keys);
    free(doc->values);
    free(doc->nodes);
    free(doc->slots);
    free(doc->filename);
    free(doc);
}

static size_t slot_of(const TomlDoc *d, const char *path)
{
    size_t mask = d->n_slots - 1;
    size_t i = (size_t)hash64(path, strlen(path), 0) & mask;
    while (d->slots[i] && strcmp(d->nodes[d->slots[i] - 1].path, path) != 0) i = (i + 1) & mask;
    return i;
}

static Node *node_find(const TomlDoc *d, const char *path)
{
    if (d->n_slots == 0) return NULL;
    size_t s = d->slots[slot_of(d, path)];
    return s ? &d->nodes[s - 1] : NULL;
}

/* Takes ownership of path. The returned pointer is valid until the next node_add. */
static Node *node_add(TomlDoc *d, char *path, NodeKind kind, int line)
{
    if (2 * (d->n_nodes + 1) > d->n_slots) { /* keep the map at most half full */
        size_t n = d->n_slots ? 2 * d->n_slots : 64;
        free(d->slots);
        d->slots = xcalloc(n, sizeof *d->slots);
        d->n_slots = n;
        for (size_t i = 0; i < d->n_nodes; i++) d->slots[slot_of(d, d->nodes[i].path)] = i + 1;
    }
    if (d->n_nodes == d->cap_nodes) {
        d->cap_nodes = d->cap_nodes ? 2 * d->cap_nodes : 32;
        d->nodes = xrealloc(d->nodes, d->cap_nodes * sizeof *d->nodes);
    }
    Node *nd = &d->nodes[d->n_nodes++];
    *nd = (Node){ .path = path, .kind = kind, .line = line };
    d->slots[slot_of(d, path)] = d->n_nodes;
    return nd;
}

/* Text helpers --------------------------------------------------------------- */

static int peek(const Parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }
static int peek_at(const Parser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->s[p->pos + k] : -1;
}

static void advance(Parser *p)
{
    unsigned char c = (unsigned char)p->s[p->pos++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) { /* count code points, not continuation bytes */
        p->col++;
    }
}

static void skip_ws(Parser *p)
{
    while (peek(p) == ' ' || peek(p) == '\t') advance(p);
}

static bool at_newline(const Parser *p)
{
    return peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n');
}

static void skip_comment(Parser *p)
{
    if (peek(p) != '#') return;
    while (p->pos < p->len && !at_newline(p)) advance(p);
}

/* Whitespace, newlines and comments: what may sit between array elements. */
static void skip_ws_comments_newlines(Parser *p)
{
    for (;;) {
        skip_ws(p);
        if (peek(p) == '#') skip_comment(p);
        if (peek(p) == '\r') advance(p);
        if (peek(p) == '\n') { advance(p); continue; }
        return;
    }
}

/* Describe the character at the cursor for "found X" messages. */
static const char *describe_here(const Parser *p, char buf[16])
{
    int c = peek(p);
    if (c < 0) return "end of file";
    if (at_newline(p)) return "end of line";
    size_t n = 1;
    while (n < 4 && p->pos + n < p->len && ((unsigned char)p->s[p->pos + n] & 0xC0) == 0x80) n++;
    buf[0] = '\'';
    memcpy(buf + 1, p->s + p->pos, n);
    buf[n + 1] = '\'';
    buf[n + 2] = 0;
    return buf;
}

/* Pass 1: UTF-8, control characters, line endings ------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid (overlong
 * forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

static bool check_text(Parser *p)
{
    const unsigned char *s = (const unsigned char *)p->s;
    int line = 1, col = 1;
    for (size_t i = 0; i < p->len;) {
        unsigned char c = s[i];
        if (c == '\n') {
            line++;
            col = 1;
            i++;
            continue;
        }
        if (c == '\r' && !(i + 1 < p->len && s[i + 1] == '\n'))
            return fail_at(p, line, col, "bare carriage return (lines must end in \\n or \\r\\n)");
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
            return fail_at(p, line, col, "control character U+%04X is not allowed (inside a string, write it as an escape)", c);
        size_t n = utf8_len(s + i, p->len - i);
        if (n == 0) return fail_at(p, line, col, "invalid UTF-8 byte 0x%02x", c);
        i += n;
        col++;
    }
    return true;
}

/* Strings -------------------------------------------------------------------- */

typedef struct { char *buf; size_t len, cap; } Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = b->cap ? b->cap : 32;
        while (b->len + n + 1 > b->cap) b->cap *= 2;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* \uXXXX or \UXXXXXXXX; the cursor is on the 'u' or 'U'. */
static bool parse_unicode_escape(Parser *p, Buf *b, int esc_line, int esc_col)
{
    int ndigits = peek(p) == 'u' ? 4 : 8;
    advance(p);
    uint32_t cp = 0;
    for (int i = 0; i < ndigits; i++) {
        int h = hex_digit(peek(p));
        if (h < 0)
            return fail_at(p, esc_line, esc_col, "bad unicode escape: \\%c needs %d hex digits",
                           ndigits == 4 ? 'u' : 'U', ndigits);
        cp = cp * 16 + (uint32_t)h;
        advance(p);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail_at(p, esc_line, esc_col, "bad unicode escape: U+%04" PRIX32 " is not a Unicode scalar value", cp);
    if (cp == 0) return fail_at(p, esc_line, esc_col, "strings may not contain NUL (\\u0000)");
    char out[4];
    buf_put(b, out, utf8_encode(cp, out));
    return true;
}

/* A basic ("...") or literal ('...') string on one line. The cursor is on the quote. */
static bool parse_string(Parser *p, char **out)
{
    int quote = peek(p), line = p->line, col = p->col;
    if (peek_at(p, 1) == quote && peek_at(p, 2) == quote)
        return FAIL(p, "multi-line strings are not supported");
    advance(p);
    Buf b = { 0 };
    buf_put(&b, "", 0);
    for (;;) {
        int c = peek(p);
        if (c < 0 || at_newline(p)) {
            free(b.buf);
            return fail_at(p, line, col, "unterminated string");
        }
        if (c == quote) { advance(p); break; }
        if (c == '\\' && quote == '"') {
            int esc_line = p->line, esc_col = p->col;
            advance(p);
            int e = peek(p);
            const char *rep = NULL;
            switch (e) {
            case 'b': rep = "\b"; break;
            case 't': rep = "\t"; break;
            case 'n': rep = "\n"; break;
            case 'f': rep = "\f"; break;
            case 'r': rep = "\r"; break;
            case '"': rep = "\""; break;
            case '\\': rep = "\\"; break;
            case 'u': case 'U':
                if (!parse_unicode_escape(p, &b, esc_line, esc_col)) { free(b.buf); return false; }
                continue;
            default:
                free(b.buf);
                if (e < 0 || at_newline(p))
                    return fail_at(p, esc_line, esc_col, "bad escape: '\\' at the end of the line");
                size_t n = 1; /* show the whole character after the backslash */
                while (n < 4 && p->pos + n < p->len && ((unsigned char)p->s[p->pos + n] & 0xC0) == 0x80) n++;
                return fail_at(p, esc_line, esc_col, "bad escape '\\%.*s' in string", (int)n, p->s + p->pos);
            }
            buf_put(&b, rep, 1);
            advance(p);
            continue;
        }
        buf_put(&b, p->s + p->pos, 1);
        advance(p);
    }
    *out = b.buf;
    return true;
}

/* Keys ----------------------------------------------------------------------- */

typedef struct { char **segs; size_t n, cap; int line, col; } Key;

static void key_free(Key *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->segs[i]);
    free(k->segs);
    memset(k, 0, sizeof *k);
}

static bool is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* key = simple-key *( ws '.' ws simple-key ); the cursor is on its first character. */
static bool parse_key(Parser *p, Key *k)
{
    memset(k, 0, sizeof *k);
    k->line = p->line;
    k->col = p->col;
    for (;;) {
        int line = p->line, col = p->col, c = peek(p);
        char *seg = NULL;
        if (c == '"' || c == '\'') {
            if (!parse_string(p, &seg)) return false;
            if (seg[0] == 0) { free(seg); return fail_at(p, line, col, "empty quoted key"); }
            for (const char *q = seg; *q; q++) {
                if (*q == '.') {
                    free(seg);
                    return fail_at(p, line, col, "quoted key may not contain '.' (nmoe flattens keys to dotted paths)");
                }
                if ((unsigned char)*q < 0x20 || *q == 0x7F) {
                    free(seg);
                    return fail_at(p, line, col, "quoted key may not contain control characters");
                }
            }
        } else if (is_bare_key_char(c)) {
            size_t start = p->pos;
            while (is_bare_key_char(peek(p))) advance(p);
            seg = xmalloc(p->pos - start + 1);
            memcpy(seg, p->s + start, p->pos - start);
            seg[p->pos - start] = 0;
        } else {
            char desc[16];
            return FAIL(p, "expected a key%s, found %s", k->n ? " after '.'" : "", describe_here(p, desc));
        }
        if (k->n == k->cap) {
            k->cap = k->cap ? 2 * k->cap : 4;
            k->segs = xrealloc(k->segs, k->cap * sizeof *k->segs);
        }
        k->segs[k->n++] = seg;
        skip_ws(p);
        if (peek(p) != '.') return true;
        advance(p);
        skip_ws(p);
    }
}

/* prefix + "." + segs[0..n), or without the prefix when it is empty. Caller frees. */
static char *join_path(const char *prefix, const Key *k, size_t n)
{
    Buf b = { 0 };
    buf_put(&b, prefix, strlen(prefix));
    for (size_t i = 0; i < n; i++) {
        if (b.len) buf_put(&b, ".", 1);
        buf_put(&b, k->segs[i], strlen(k->segs[i]));
    }
    return b.buf;
}

/* Values --------------------------------------------------------------------- */

static bool parse_value(Parser *p, TomlValue *v, int depth);

static bool parse_array(Parser *p, TomlValue *v, int depth)
{
    int line = p->line, col = p->col;
    if (depth >= TOML_MAX_DEPTH) return FAIL(p, "arrays nested too deeply (limit %d)", TOML_MAX_DEPTH);
    advance(p); /* '[' */
    TomlValue *items = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        skip_ws_comments_newlines(p);
        if (peek(p) < 0) { fail_at(p, line, col, "unterminated array"); goto fail; }
        if (peek(p) == ']') { advance(p); break; }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            items = xrealloc(items, cap * sizeof *items);
        }
        if (!parse_value(p, &items[n], depth + 1)) goto fail;
        n++;
        skip_ws_comments_newlines(p);
        if (peek(p) == ',') { advance(p); continue; }
        if (peek(p) == ']') { advance(p); break; }
        if (peek(p) < 0) { fail_at(p, line, col, "unterminated array"); goto fail; }
        char desc[16];
        FAIL(p, "expected ',' or ']' in array, found %s", describe_here(p, desc));
        goto fail;
    }
    v->type = TOML_ARRAY;
    v->u.arr.items = items;
    v->u.arr.n = n;
    return true;
fail:
    for (size_t i = 0; i < n; i++) value_free(&items[i]);
    free(items);
    return false;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* Digits of base `base` with single underscores between digits, starting at s[*i].
 * Returns the number of digits read (0 if none) or -1 on a misplaced underscore. */
static int scan_digits(const char *s, size_t n, size_t *i, int base)
{
    int count = 0;
    bool prev_digit = false;
    while (*i < n) {
        int c = (unsigned char)s[*i];
        int d = hex_digit(c);
        if (d >= 0 && d < base) {
            count++;
            prev_digit = true;
        } else if (c == '_') {
            if (!prev_digit || *i + 1 >= n || hex_digit((unsigned char)s[*i + 1]) < 0 ||
                hex_digit((unsigned char)s[*i + 1]) >= base)
                return -1;
            prev_digit = false;
        } else {
            break;
        }
        (*i)++;
    }
    return count;
}

/* Copy without underscores into out (cap bytes). False if it does not fit. */
static bool strip_underscores(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') continue;
        if (k + 1 >= cap) return false;
        out[k++] = s[i];
    }
    out[k] = 0;
    return true;
}

static bool is_token_char(int c)
{
    return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

/* Numbers, booleans, inf/nan, and the date forms we refuse: one token of
 * [A-Za-z0-9_+-.:], classified. */
static bool parse_scalar(Parser *p, TomlValue *v)
{
    size_t start = p->pos;
    while (is_token_char(peek(p))) advance(p);
    const char *t = p->s + start;
    size_t n = p->pos - start;
    int line = v->line, col = v->col;
    int shown = n > 40 ? 40 : (int)n;
    const char *more = n > 40 ? "..." : "";
    if (n == 0) {
        char desc[16];
        return fail_at(p, line, col, "expected a value, found %s", describe_here(p, desc));
    }
    if ((n == 4 && memcmp(t, "true", 4) == 0) || (n == 5 && memcmp(t, "false", 5) == 0)) {
        v->type = TOML_BOOL;
        v->u.b = n == 4;
        return true;
    }
    bool date = memchr(t, ':', n) != NULL ||
                (n >= 7 && is_digit(t[0]) && is_digit(t[1]) && is_digit(t[2]) && is_digit(t[3]) &&
                 t[4] == '-' && is_digit(t[5]) && is_digit(t[6]));
    if (date) return fail_at(p, line, col, "dates and times are not supported ('%.*s%s')", shown, t, more);

    size_t i = 0;
    bool neg = false, signed_ = false;
    if (t[0] == '+' || t[0] == '-') { neg = t[0] == '-'; signed_ = true; i = 1; }
    if (n - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        v->type = TOML_FLOAT;
        v->u.f = t[i] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        return true;
    }
    if (i >= n || !is_digit(t[i])) { /* i == n: a lone sign */
        if (!signed_ && (t[0] == '_' || (t[0] >= 'A' && t[0] <= 'Z') || (t[0] >= 'a' && t[0] <= 'z')))
            return fail_at(p, line, col, "expected a value, found '%.*s%s' (strings need quotes)", shown, t, more);
        return fail_at(p, line, col, "invalid number '%.*s%s'", shown, t, more);
    }

    /* 0x, 0o, 0b: unsigned forms. */
    if (t[i] == '0' && i + 1 < n && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
        if (signed_) return fail_at(p, line, col, "a sign is not allowed on '%.*s%s'", shown, t, more);
        size_t j = i + 2;
        if (scan_digits(t, n, &j, base) <= 0 || j != n)
            return fail_at(p, line, col, "invalid number '%.*s%s'", shown, t, more);
        uint64_t u = 0;
        for (size_t k = i + 2; k < n; k++) {
            if (t[k] == '_') continue;
            uint64_t d = (uint64_t)hex_digit((unsigned char)t[k]);
            if (u > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
                return fail_at(p, line, col, "integer %.*s%s out of range", shown, t, more);
            u = u * (uint64_t)base + d;
        }
        v->type = TOML_INT;
        v->u.i = (int64_t)u;
        return true;
    }

    /* Decimal: int-part [ '.' digits ] [ e [+-] digits ]. */
    size_t j = i;
    int int_digits = scan_digits(t, n, &j, 10);
    if (int_digits < 0) return fail_at(p, line, col, "invalid number '%.*s%s' (misplaced '_')", shown, t, more);
    if (t[i] == '0' && int_digits > 1)
        return fail_at(p, line, col, "leading zeros are not allowed in '%.*s%s'", shown, t, more);
    bool is_float = false;
    if (j < n && t[j] == '.') {
        j++;
        if (scan_digits(t, n, &j, 10) <= 0) return fail_at(p, line, col, "invalid number '%.*s%s'", shown, t, more);
        is_float = true;
    }
    if (j < n && (t[j] == 'e' || t[j] == 'E')) {
        j++;
        if (j < n && (t[j] == '+' || t[j] == '-')) j++;
        if (scan_digits(t, n, &j, 10) <= 0) return fail_at(p, line, col, "invalid number '%.*s%s'", shown, t, more);
        is_float = true;
    }
    if (j != n) return fail_at(p, line, col, "invalid number '%.*s%s'", shown, t, more);

    char digits[512];
    if (!strip_underscores(t, n, digits, sizeof digits))
        return fail_at(p, line, col, "number '%.*s%s' is too long", shown, t, more);
    char *end;
    errno = 0;
    if (is_float) {
        double f = strtod(digits, &end);
        if (isinf(f)) return fail_at(p, line, col, "float %.*s%s out of range", shown, t, more);
        v->type = TOML_FLOAT;
        v->u.f = f;
    } else {
        long long x = strtoll(digits, &end, 10);
        if (errno == ERANGE) return fail_at(p, line, col, "integer %.*s%s out of range", shown, t, more);
        v->type = TOML_INT;
        v->u.i = x;
    }
    return true;
}

static bool parse_value(Parser *p, TomlValue *v, int depth)
{
    memset(v, 0, sizeof *v);
    v->type = TOML_BOOL;
    v->line = p->line;
    v->col = p->col;
    int c = peek(p);
    if (c == '"' || c == '\'') {
        char *s;
        if (!parse_string(p, &s)) return false;
        v->type = TOML_STRING;
        v->u.s = s;
        return true;
    }
    if (c == '[') return parse_array(p, v, depth);
    if (c == '{') return FAIL(p, "inline tables are not supported");
    return parse_scalar(p, v);
}

/* Lines ---------------------------------------------------------------------- */

static bool expect_line_end(Parser *p, const char *after)
{
    skip_ws(p);
    skip_comment(p);
    if (peek(p) < 0) return true;
    if (at_newline(p)) {
        if (peek(p) == '\r') advance(p);
        advance(p);
        return true;
    }
    char desc[16];
    return FAIL(p, "expected end of line after %s, found %s", after, describe_here(p, desc));
}

static const char *kind_phrase(NodeKind k)
{
    switch (k) {
    case NODE_TABLE_HEADER: return "defined by the [table] header";
    case NODE_TABLE_IMPLICIT: return "created by the [table] header";
    case NODE_TABLE_DOTTED: return "defined by dotted keys";
    default: return "set";
    }
}

static bool parse_header(Parser *p)
{
    int line = p->line, col = p->col;
    advance(p); /* '[' */
    if (peek(p) == '[') return fail_at(p, line, col, "arrays of tables ([[...]]) are not supported");
    skip_ws(p);
    Key k;
    if (!parse_key(p, &k)) { key_free(&k); return false; }
    if (peek(p) != ']') {
        char desc[16];
        FAIL(p, "expected ']' to close the table header, found %s", describe_here(p, desc));
        key_free(&k);
        return false;
    }
    advance(p);
    TomlDoc *d = p->doc;
    bool ok = true;
    for (size_t i = 0; i < k.n && ok; i++) {
        char *path = join_path("", &k, i + 1);
        Node *nd = node_find(d, path);
        bool last = i + 1 == k.n;
        if (!nd) {
            node_add(d, path, last ? NODE_TABLE_HEADER : NODE_TABLE_IMPLICIT, line);
            continue;
        }
        char *full = join_path("", &k, k.n);
        if (nd->kind == NODE_VALUE) {
            ok = fail_at(p, line, col, "cannot define table '%s': '%s' is a value (set at line %d)", full, path, nd->line);
        } else if (last && nd->kind == NODE_TABLE_HEADER) {
            ok = fail_at(p, line, col, "table '%s' defined twice (first at line %d)", full, nd->line);
        } else if (last && nd->kind == NODE_TABLE_DOTTED) {
            ok = fail_at(p, line, col, "table '%s' was already defined by dotted keys (at line %d)", full, nd->line);
        } else if (last) { /* implicit until now: this header defines it */
            nd->kind = NODE_TABLE_HEADER;
            nd->line = line;
        }
        free(full);
        free(path);
    }
    if (ok) {
        free(p->table);
        p->table = join_path("", &k, k.n);
    }
    key_free(&k);
    return ok && expect_line_end(p, "table header");
}

static void leaf_add(TomlDoc *d, const char *path, const TomlValue *v)
{
    if (d->n_leaves == d->cap_leaves) {
        d->cap_leaves = d->cap_leaves ? 2 * d->cap_leaves : 32;
        d->keys = xrealloc(d->keys, d->cap_leaves * sizeof *d->keys);
        d->values = xrealloc(d->values, d->cap_leaves * sizeof *d->values);
    }
    d->keys[d->n_leaves] = (char *)path; /* shares the node's path */
    d->values[d->n_leaves] = *v;
    d->n_leaves++;
}

static bool parse_keyval(Parser *p)
{
    Key k;
    if (!parse_key(p, &k)) { key_free(&k); return false; }
    if (peek(p) != '=') {
        char desc[16];
        FAIL(p, "expected '=' after key, found %s", describe_here(p, desc));
        key_free(&k);
        return false;
    }
    advance(p);
    skip_ws(p);
    TomlValue v;
    if (!parse_value(p, &v, 0)) { key_free(&k); return false; }

    TomlDoc *d = p->doc;
    bool ok = true;
    for (size_t i = 0; i < k.n && ok; i++) {
        char *path = join_path(p->table, &k, i + 1);
        Node *nd = node_find(d, path);
        bool last = i + 1 == k.n;
        if (!nd) {
            nd = node_add(d, path, last ? NODE_VALUE : NODE_TABLE_DOTTED, k.line);
            if (last) {
                nd->leaf = d->n_leaves;
                leaf_add(d, nd->path, &v);
            }
            continue;
        }
        char *full = join_path(p->table, &k, k.n);
        if (last && nd->kind == NODE_VALUE)
            ok = fail_at(p, k.line, k.col, "duplicate key '%s' (first set at line %d)", full, nd->line);
        else if (last)
            ok = fail_at(p, k.line, k.col, "key '%s' is already a table (%s at line %d)", full, kind_phrase(nd->kind), nd->line);
        else if (nd->kind == NODE_VALUE)
            ok = fail_at(p, k.line, k.col, "key '%s': '%s' is already a value (set at line %d)", full, path, nd->line);
        else if (nd->kind != NODE_TABLE_DOTTED)
            ok = fail_at(p, k.line, k.col, "dotted key '%s' may not add to table '%s' (%s at line %d)", full, path,
                         kind_phrase(nd->kind), nd->line);
        free(full);
        free(path);
    }
    key_free(&k);
    if (!ok) { value_free(&v); return false; }
    return expect_line_end(p, "value");
}

/* Public API ----------------------------------------------------------------- */

TomlDoc *toml_parse(const char *text, size_t len, const char *filename, char *err, size_t err_cap)
{
    if (err && err_cap) err[0] = 0;
    TomlDoc *d = xcalloc(1, sizeof *d);
    d->filename = xstrdup(filename ? filename : "<input>");
    Parser p = { .s = text, .len = len, .line = 1, .col = 1, .filename = d->filename,
                 .err = err, .err_cap = err_cap, .doc = d, .table = xstrdup("") };
    bool ok = check_text(&p);
    if (ok && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = 3; /* a BOM is not content */
    while (ok) {
        skip_ws(&p);
        int c = peek(&p);
        if (c < 0) break;
        if (at_newline(&p) || c == '#') ok = expect_line_end(&p, "comment");
        else if (c == '[') ok = parse_header(&p);
        else ok = parse_keyval(&p);
    }
    free(p.table);
    if (!ok) { toml_free(d); return NULL; }
    return d;
}

TomlDoc *toml_parse_file(const char *path, char *err, size_t err_cap)
{
    bool use_stdin = strcmp(path, "-") == 0;
    const char *name = use_stdin ? "<stdin>" : path;
    FILE *fp = use_stdin ? stdin : fopen(path, "rb");
    if (!fp) {
        if (err && err_cap) snprintf(err, err_cap, "%s: %s", name, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool too_big = false;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16384;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n > TOML_MAX_FILE) { too_big = true; break; }
        if (got == 0) break;
    }
    int read_errno = ferror(fp) ? errno : 0;
    bool read_failed = ferror(fp) != 0;
    if (!use_stdin) fclose(fp);
    TomlDoc *d = NULL;
    if (read_failed) {
        if (err && err_cap) snprintf(err, err_cap, "%s: read failed: %s", name, strerror(read_errno));
    } else if (too_big) {
        if (err && err_cap) snprintf(err, err_cap, "%s: larger than %zu MiB, not a config file", name, TOML_MAX_FILE >> 20);
    } else {
        d = toml_parse(buf, n, name, err, err_cap);
    }
    free(buf);
    return d;
}

size_t toml_count(const TomlDoc *doc) { return doc->n_leaves; }
const char *toml_key_at(const TomlDoc *doc, size_t i) { return i < doc->n_leaves ? doc->keys[i] : NULL; }
const TomlValue *toml_value_at(const TomlDoc *doc, size_t i) { return i < doc->n_leaves ? &doc->values[i] : NULL; }
const char *toml_filename(const TomlDoc *doc) { return doc->filename; }

const TomlValue *toml_get(const TomlDoc *doc, const char *dotted_key)
{
    const Node *nd = node_find(doc, dotted_key);
    return nd && nd->kind == NODE_VALUE ? &doc->values[nd->leaf] : NULL;
}

const char *toml_type_name(TomlType t)
{
    switch (t) {
    case TOML_STRING: return "string";
    case TOML_INT: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOL: return "boolean";
    case TOML_ARRAY: return "array";
    }
    return "unknown";
}
