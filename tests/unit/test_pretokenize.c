/* test_pretokenize.c: the split patterns cut text where tiktoken does (whitespace
 * runs before a word, digit groups, contractions and their case folding, the
 * Unicode White_Space set), invalid UTF-8 becomes pieces of its own, and pieces
 * always tile the text. */
#include "check.h"
#include "base/error.h"
#include "tok/pretokenize.h"
#include "base/rng.h"

#include <stdlib.h>

/* The pieces of s joined with '|' (bytes as they are). */
static char *split(PretokKind kind, const char *s, size_t n)
{
    static char out[4096];
    char err[300];
    Pretokenizer *p = pretok_new(pretok_pattern_text(kind), err, sizeof err);
    if (!p) { fprintf(stderr, "%s\n", err); exit(1); }
    PretokScratch *sc = pretok_scratch_new(p);
    size_t k = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = pretok_next(p, sc, (const uint8_t *)s, n, pos);
        if (pos) out[k++] = '|';
        memcpy(out + k, s + pos, end - pos);
        k += end - pos;
        pos = end;
    }
    out[k] = 0;
    pretok_scratch_free(sc);
    pretok_free(p);
    return out;
}

#define SPLIT(kind, s) split(kind, s, sizeof(s) - 1)

static void check_gpt2(void)
{
    CHECK_STR(SPLIT(PRETOK_GPT2, "Hello world"), "Hello| world");
    /* \s+(?!\S): a run of spaces before a word leaves its last space to the word. */
    CHECK_STR(SPLIT(PRETOK_GPT2, "a   b"), "a|  | b");
    CHECK_STR(SPLIT(PRETOK_GPT2, "x   "), "x|   ");
    CHECK_STR(SPLIT(PRETOK_GPT2, "   leading"), "  | leading");
    CHECK_STR(SPLIT(PRETOK_GPT2, "a\n\nb"), "a|\n|\n|b");
    CHECK_STR(SPLIT(PRETOK_GPT2, "I'm don't HE'S"), "I|'m| don|'t| HE|'|S");
    CHECK_STR(SPLIT(PRETOK_GPT2, "2024 12345"), "2024| 12345");
    CHECK_STR(SPLIT(PRETOK_GPT2, "ok!!! ?"), "ok|!!!| ?");
    /* U+0085 (NEL) is White_Space, as for tiktoken's regex; U+FEFF is not. */
    CHECK_STR(SPLIT(PRETOK_GPT2, "a\xc2\x85\xc2\x85" "b"), "a|\xc2\x85|\xc2\x85|b");
    CHECK_STR(SPLIT(PRETOK_GPT2, "a\xef\xbb\xbf" "b"), "a|\xef\xbb\xbf|b");
    /* Invalid UTF-8 bytes are a piece of their own. */
    CHECK_STR(SPLIT(PRETOK_GPT2, "ab\xff\xfe" "cd"), "ab|\xff\xfe|cd");
    CHECK_STR(SPLIT(PRETOK_GPT2, "caf\xc3" "e"), "caf|\xc3|e");
}

static void check_cl100k(void)
{
    CHECK_STR(SPLIT(PRETOK_CL100K, "1234567"), "123|456|7");
    CHECK_STR(SPLIT(PRETOK_CL100K, "HE'S it's"), "HE|'S| it|'s");
    /* (?i:...) folds with Unicode, as tiktoken does: 'ſ (long s) is a contraction. */
    CHECK_STR(SPLIT(PRETOK_CL100K, "x'\xc5\xbf"), "x|'\xc5\xbf");
    CHECK_STR(SPLIT(PRETOK_CL100K, "a\n\n\nb"), "a|\n\n\n|b");
    CHECK_STR(SPLIT(PRETOK_CL100K, "end.\n\nNext"), "end|.\n\n|Next");
    CHECK_STR(SPLIT(PRETOK_CL100K, "(hello)"), "(hello|)");
}

static void check_o200k(void)
{
    CHECK_STR(SPLIT(PRETOK_O200K, "camelCaseWord"), "camel|Case|Word");
    CHECK_STR(SPLIT(PRETOK_O200K, "HELLO world's"), "HELLO| world's");
    CHECK_STR(SPLIT(PRETOK_O200K, "a/b//\n"), "a|/b|//\n");
    CHECK_STR(SPLIT(PRETOK_O200K, "12345"), "123|45");
}

static void check_names(void)
{
    CHECK_EQ_INT(pretok_kind_from_name("gpt2"), PRETOK_GPT2);
    CHECK_EQ_INT(pretok_kind_from_name("r50k_base"), PRETOK_GPT2);
    CHECK_EQ_INT(pretok_kind_from_name("cl100k"), PRETOK_CL100K);
    CHECK_EQ_INT(pretok_kind_from_name("o200k_base"), PRETOK_O200K);
    CHECK_EQ_INT(pretok_kind_from_name("p50k"), -1);
    CHECK_STR(pretok_kind_name(PRETOK_O200K), "o200k");
    CHECK(pretok_pattern_text(PRETOK_CUSTOM) == NULL);
    CHECK_EQ_INT(pretok_kind_from_meta_pattern("\\s+"), PRETOK_CUSTOM);
    char err[300];
    CHECK(pretok_new("(unclosed", err, sizeof err) == NULL);
    CHECK(strstr(err, "pattern offset") != NULL);
}

/* Random bytes: pieces are non-empty, in order, and cover everything. A custom
 * pattern that can match the empty string still moves on. */
static void check_tiling(void)
{
    const char *patterns[] = { pretok_pattern_text(PRETOK_GPT2), pretok_pattern_text(PRETOK_CL100K),
                               pretok_pattern_text(PRETOK_O200K), "a*", "\\p{L}+" };
    Rng rng = rng_make(7, 0);
    uint8_t buf[2048];
    for (int k = 0; k < 5; k++) {
        char err[300];
        Pretokenizer *p = pretok_new(patterns[k], err, sizeof err);
        CHECK(p != NULL);
        PretokScratch *s = pretok_scratch_new(p);
        int ok = 1;
        for (int trial = 0; trial < 300; trial++) {
            size_t n = rng_below(&rng, sizeof buf);
            for (size_t i = 0; i < n; i++) {
                uint32_t r = rng_u32(&rng);
                buf[i] = trial % 2 ? (uint8_t)r : (uint8_t)"ab \n\t'1\xc3\xa9\xe2\x80\x85"[r % 12];
            }
            size_t pos = 0;
            while (pos < n) {
                size_t end = pretok_next(p, s, buf, n, pos);
                if (end <= pos || end > n) { ok = 0; break; }
                pos = end;
            }
        }
        CHECK(ok);
        pretok_scratch_free(s);
        pretok_free(p);
    }
}

int main(void)
{
    nmoe_set_prog("test_pretokenize");
    check_gpt2();
    check_cl100k();
    check_o200k();
    check_names();
    check_tiling();
    return check_report("test_pretokenize");
}
