/* pretokenize.h: split text into pre-tokens ("pieces") with a tokenizer's split
 * pattern, the regex step that comes before byte-pair merging.
 *
 * Patterns are compiled by PCRE2 with UTF, UCP (Unicode classes for \p{..}) and
 * MATCH_INVALID_UTF, and JIT-compiled. The three built-in patterns are those of
 * tiktoken (Rust regex / fancy-regex semantics):
 *
 *   gpt2    GPT-2 = r50k_base
 *   cl100k  cl100k_base
 *   o200k   o200k_base
 *
 * written out so PCRE2 gives the same matches: `\s` is spelled as the Unicode
 * White_Space set, which is what tiktoken's regex crate means by \s (PCRE2's own \s
 * under UCP adds U+180E; JavaScript's adds U+FEFF and drops U+0085), and the
 * case-insensitive contractions `(?i:'s|'t|...)` keep their Unicode case folding
 * (so "'ſ" is a contraction, as in tiktoken).
 *
 * Pieces tile the text: every byte belongs to exactly one piece, in order. Bytes that
 * no alternative of the pattern can match (invalid UTF-8 under every built-in
 * pattern; possibly more under a custom one) form pieces of their own, one per
 * maximal unmatched run. The piece that starts at a position depends only on the
 * text and that position (the subject is always the whole text), which is what lets
 * a long document be split across threads exactly (see tokenizer.c). */
#ifndef NMOE_PRETOKENIZE_H
#define NMOE_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PRETOK_CUSTOM = 0, /* pattern text given by the tokenizer file */
    PRETOK_GPT2 = 1,
    PRETOK_CL100K = 2,
    PRETOK_O200K = 3
} PretokKind;

/* "gpt2", "cl100k", "o200k" or "custom". */
const char *pretok_kind_name(PretokKind kind);
/* Kind for a name ("gpt2", "r50k", "r50k_base", "cl100k", "cl100k_base", "o200k",
 * "o200k_base"); -1 when unknown. */
int pretok_kind_from_name(const char *name);
/* The PCRE2 spelling of a built-in pattern (NULL for PRETOK_CUSTOM). */
const char *pretok_pattern_text(PretokKind kind);
/* The built-in kind whose tiktoken .meta.json `pat_str` (JavaScript spelling, as
 * js-tiktoken ships it) is `pat_str`; PRETOK_CUSTOM when it is none of them. */
PretokKind pretok_kind_from_meta_pattern(const char *pat_str);

typedef struct Pretokenizer Pretokenizer;
/* Compile a pattern. On error returns NULL with a message ("offset N: reason") in err. */
Pretokenizer *pretok_new(const char *pattern, char *err, size_t errlen);
void pretok_free(Pretokenizer *p);

/* Per-thread state: match data, JIT stack and a one-match look-ahead. */
typedef struct PretokScratch PretokScratch;
PretokScratch *pretok_scratch_new(const Pretokenizer *p);
void pretok_scratch_free(PretokScratch *s);

/* The piece of text[0..len) that starts at pos (< len): returns its end (> pos).
 * Dies with the offset if PCRE2 reports a matching error (e.g. a custom pattern that
 * exhausts the JIT stack). */
size_t pretok_next(const Pretokenizer *p, PretokScratch *s, const uint8_t *text, size_t len, size_t pos);

#endif
