/* pretokenize.c: see pretokenize.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok/pretokenize.h"
#include "base/error.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* Unicode White_Space (PropList.txt), the members of \s for tiktoken's regex crate. */
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define S_ "[" WS "]"     /* \s */
#define NS_ "[^" WS "]"   /* \S */

/* tiktoken_ext/openai_public.py, with \s and \S written as above. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|" S_ "+(?!" NS_ ")|" S_ "+";

static const char CL100K_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|"
    S_ "*[\\r\\n]+|" S_ "+(?!" NS_ ")|" S_ "+";

static const char O200K_PATTERN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|" S_ "*[\\r\\n]+|" S_ "+(?!" NS_ ")|" S_ "+";

/* The `pat_str` of each .meta.json as js-tiktoken 1.0.21 ships it (JavaScript spelling,
 * contractions spelled out). Only used to recognise which built-in pattern a
 * .meta.json means; the PCRE2 spellings above are what runs. */
static const char GPT2_META[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
#define JS_CONTRACTIONS "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)"
static const char CL100K_META[] =
    JS_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char O200K_META[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" JS_CONTRACTIONS "?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" JS_CONTRACTIONS "?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *pretok_kind_name(PretokKind kind)
{
    switch (kind) {
    case PRETOK_GPT2: return "gpt2";
    case PRETOK_CL100K: return "cl100k";
    case PRETOK_O200K: return "o200k";
    default: return "custom";
    }
}

int pretok_kind_from_name(const char *name)
{
    if (!strcmp(name, "gpt2") || !strcmp(name, "r50k") || !strcmp(name, "r50k_base")) return PRETOK_GPT2;
    if (!strcmp(name, "cl100k") || !strcmp(name, "cl100k_base")) return PRETOK_CL100K;
    if (!strcmp(name, "o200k") || !strcmp(name, "o200k_base")) return PRETOK_O200K;
    return -1;
}

const char *pretok_pattern_text(PretokKind kind)
{
    switch (kind) {
    case PRETOK_GPT2: return GPT2_PATTERN;
    case PRETOK_CL100K: return CL100K_PATTERN;
    case PRETOK_O200K: return O200K_PATTERN;
    default: return NULL;
    }
}

PretokKind pretok_kind_from_meta_pattern(const char *pat_str)
{
    if (!strcmp(pat_str, GPT2_META)) return PRETOK_GPT2;
    if (!strcmp(pat_str, CL100K_META)) return PRETOK_CL100K;
    if (!strcmp(pat_str, O200K_META)) return PRETOK_O200K;
    return PRETOK_CUSTOM;
}

struct Pretokenizer {
    pcre2_code *code;
};

struct PretokScratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
    /* The last match found: searching from `from` in (text, len) found [mstart, mend).
     * A later call whose pos lies in [from, mstart] has the same next match. */
    const uint8_t *text;
    size_t len, from, mstart, mend;
    int have;
};

Pretokenizer *pretok_new(const char *pattern, char *err, size_t errlen)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!code) {
        char msg[256];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen, "pattern offset %zu: %s", (size_t)eo, msg);
        return NULL;
    }
    int jrc = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (jrc != 0) {
        /* Without JIT we would be silently ~10x slower; say so instead. */
        char msg[256];
        pcre2_get_error_message(jrc, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen, "PCRE2 JIT compilation failed: %s", msg);
        pcre2_code_free(code);
        return NULL;
    }
    Pretokenizer *p = xcalloc(1, sizeof *p);
    p->code = code;
    return p;
}

void pretok_free(Pretokenizer *p)
{
    if (!p) return;
    pcre2_code_free(p->code);
    free(p);
}

PretokScratch *pretok_scratch_new(const Pretokenizer *p)
{
    PretokScratch *s = xcalloc(1, sizeof *s);
    s->md = pcre2_match_data_create_from_pattern(p->code, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    /* Generous stack so custom patterns with deep backtracking still work. */
    s->stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!s->md || !s->mctx || !s->stack) die("out of memory creating PCRE2 match data");
    pcre2_jit_stack_assign(s->mctx, NULL, s->stack);
    return s;
}

void pretok_scratch_free(PretokScratch *s)
{
    if (!s) return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->stack);
    free(s);
}

/* Position after the UTF-8 character (or lone byte) at pos: how an empty match moves on. */
static size_t next_char(const uint8_t *text, size_t len, size_t pos)
{
    size_t q = pos + 1;
    while (q < len && q < pos + 4 && (text[q] & 0xC0) == 0x80) q++;
    return q;
}

size_t pretok_next(const Pretokenizer *p, PretokScratch *s, const uint8_t *text, size_t len, size_t pos)
{
    if (!(s->have && s->text == text && s->len == len && s->from <= pos && pos <= s->mstart)) {
        int rc = pcre2_jit_match(p->code, (PCRE2_SPTR)text, len, pos, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) {
            s->have = 0;
            return len; /* the rest is one unmatched run */
        }
        if (rc < 0) {
            char msg[256];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            die("split pattern failed at byte offset %zu: %s", pos, msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        s->text = text;
        s->len = len;
        s->from = pos;
        s->mstart = ov[0];
        s->mend = ov[1];
        s->have = 1;
    }
    if (s->mstart > pos) return s->mstart;        /* the unmatched run before the match */
    if (s->mend > pos) return s->mend;            /* the match itself */
    s->have = 0;                                  /* empty match at pos (custom patterns) */
    return next_char(text, len, pos);
}
