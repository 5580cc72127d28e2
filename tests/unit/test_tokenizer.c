/* test_tokenizer.c: exactness against the reference ids (GPT-2 from encoder.json +
 * vocab.bpe and from r50k_base.tiktoken on 200,000 bytes of Tiny Shakespeare; the 42
 * tricky strings under gpt2, cl100k_base and o200k_base), decode round trips on
 * binary junk and invalid UTF-8, special tokens, and the identity hash. */
#include "check.h"
#include "test_files.h"
#include "base/error.h"
#include "base/rng.h"
#include "tok/text_input.h"
#include "tok/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static const char *top(void) { return getenv("NMOE_TOP") ? getenv("NMOE_TOP") : "."; }

static char *path_of(const char *rel)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 4096, "%s/%s", top(), rel);
    return p;
}

static Tokenizer *load(const char *rel)
{
    char err[1024];
    Tokenizer *t = tokenizer_load(path_of(rel), err, sizeof err);
    if (!t) { fprintf(stderr, "load failed: %s\n", err); exit(1); }
    return t;
}

static void encode(const Tokenizer *t, const uint8_t *s, size_t n, bool special, IdVec *out)
{
    TokEncoder *e = tok_encoder_new(t);
    out->n = 0;
    tok_encode(t, e, s, n, special, out);
    tok_encoder_free(e);
}

/* Decode ids and compare with the original bytes. */
static int round_trips(const Tokenizer *t, const uint8_t *s, size_t n, const IdVec *ids)
{
    size_t at = 0;
    for (size_t i = 0; i < ids->n; i++) {
        size_t len;
        const uint8_t *b = tokenizer_token_bytes(t, ids->v[i], &len);
        if (!b || at + len > n || memcmp(s + at, b, len) != 0) return 0;
        at += len;
    }
    return at == n;
}

static void check_tinyshakespeare(const Tokenizer *t)
{
    size_t n, m;
    uint8_t *text = test_read_file(path_of("data/tinyshakespeare.txt"), &n);
    char *ref = (char *)test_read_file(path_of("tests/data/tokenizers/gpt2_reference_tinyshakespeare_200k.txt"), &m);
    IdVec ids = { 0 };
    encode(t, text, 200000, false, &ids);
    size_t k = 0, mismatches = 0;
    for (char *p = ref; *p; k++) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p) break;
        if (k >= ids.n || ids.v[k] != v) mismatches++;
        p = end;
        while (*p == '\n' || *p == '\r') p++;
    }
    CHECK_EQ_INT(k, 60826);
    CHECK_EQ_INT(ids.n, 60826);
    CHECK_EQ_INT(mismatches, 0);
    CHECK(round_trips(t, text, 200000, &ids));
    idvec_free(&ids);
    free(text);
    free(ref);
}

/* Every {"text", ids_field: [...]} line of a cases file must encode to exactly its ids. */
static void check_cases(const Tokenizer *t, const char *rel, const char *ids_field, int expect_cases)
{
    size_t n;
    char *all = (char *)test_read_file(path_of(rel), &n);
    int cases = 0, exact = 0;
    char *doc = NULL, err[256];
    size_t cap = 0;
    IdVec ids = { 0 };
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        long tl = jsonl_extract(line, len, "text", &doc, &cap, err, sizeof err);
        CHECK(tl >= 0);
        cJSON *j = cJSON_ParseWithLength(line, len);
        cJSON *want = cJSON_GetObjectItem(j, ids_field);
        CHECK(cJSON_IsArray(want));
        if (tl >= 0 && want) {
            encode(t, (const uint8_t *)doc, (size_t)tl, false, &ids);
            int same = (size_t)cJSON_GetArraySize(want) == ids.n;
            for (size_t i = 0; same && i < ids.n; i++) same = (uint32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble == ids.v[i];
            if (!same) fprintf(stderr, "%s: case %d differs\n", rel, cases + 1);
            exact += same;
            CHECK(round_trips(t, (const uint8_t *)doc, (size_t)tl, &ids));
        }
        cJSON_Delete(j);
        cases++;
        line = nl ? nl + 1 : line + len;
    }
    CHECK_EQ_INT(cases, expect_cases);
    CHECK_EQ_INT(exact, expect_cases);
    idvec_free(&ids);
    free(doc);
    free(all);
}

static void check_junk_round_trip(const Tokenizer *t, uint64_t seed)
{
    Rng rng = rng_make(seed, 0);
    IdVec ids = { 0 };
    uint8_t buf[4096];
    for (int trial = 0; trial < 200; trial++) {
        size_t n = rng_u64(&rng) % sizeof buf;
        int mode = trial % 4;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_u64(&rng);
            if (mode == 0) buf[i] = (uint8_t)r;                                   /* any bytes */
            else if (mode == 1) buf[i] = (uint8_t)(0x80 + r % 0x80);             /* only continuation/lead bytes */
            else if (mode == 2) buf[i] = " \n\t\r\xc3\xa9" "ab'1<|>"[r % 14];        /* pieces of UTF-8 and text */
            else buf[i] = (r % 7 == 0) ? (uint8_t)(r >> 8) : (uint8_t)("hello world "[r % 12]);
        }
        encode(t, buf, n, trial % 2 == 0, &ids);
        CHECK(round_trips(t, buf, n, &ids));
    }
    idvec_free(&ids);
}

static void check_special(const Tokenizer *t)
{
    const char *s = "a<|endoftext|>b";
    IdVec ids = { 0 };
    encode(t, (const uint8_t *)s, strlen(s), true, &ids);
    CHECK_EQ_INT(ids.n, 3);
    if (ids.n == 3) CHECK_EQ_INT(ids.v[1], t->eot_id);
    encode(t, (const uint8_t *)s, strlen(s), false, &ids);
    CHECK(ids.n > 3);
    for (size_t i = 0; i < ids.n; i++) CHECK(ids.v[i] < t->n_ranks);
    idvec_free(&ids);
}

/* The nmoe tokenizer file holds the same tokenizer. */
static void check_file_round_trip(const Tokenizer *t)
{
    size_t n;
    uint8_t *b = tokenizer_to_file_bytes(t, &n);
    char err[512];
    Tokenizer *u = tokenizer_from_file_bytes(b, n, "mem", err, sizeof err);
    CHECK(u != NULL);
    if (u) {
        CHECK(u->vocab_id == t->vocab_id);
        CHECK_EQ_INT(u->vocab_size, t->vocab_size);
        CHECK_EQ_INT(u->pattern_kind, t->pattern_kind);
        CHECK_EQ_INT(u->eot_id, t->eot_id);
        const char *s = "Hello world, it's 2024!  \n\n  done";
        IdVec a = { 0 }, c = { 0 };
        encode(t, (const uint8_t *)s, strlen(s), false, &a);
        encode(u, (const uint8_t *)s, strlen(s), false, &c);
        CHECK(a.n == c.n && memcmp(a.v, c.v, a.n * 4) == 0);
        idvec_free(&a);
        idvec_free(&c);
        tokenizer_free(u);
    }
    /* Any damage is an error naming the file, never a crash. */
    size_t spots[] = { 0, 8, 12, 20, 33, 45, 50, 60, 64, 70, n / 2, n - 1 };
    for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
        b[spots[k]] ^= 0x40;
        err[0] = 0;
        Tokenizer *v = tokenizer_from_file_bytes(b, n, "mem", err, sizeof err);
        CHECK(v == NULL);
        CHECK(strncmp(err, "mem: byte ", 10) == 0);
        tokenizer_free(v);
        b[spots[k]] ^= 0x40;
    }
    Tokenizer *w = tokenizer_from_file_bytes(b, n - 3, "mem", err, sizeof err);
    CHECK(w == NULL);
    free(b);
}

int main(void)
{
    nmoe_set_prog("test_tokenizer");
    Tokenizer *gpt2 = load("data/tokenizers/gpt2");
    Tokenizer *r50k = load("data/tokenizers/r50k_base.tiktoken");
    Tokenizer *cl100k = load("data/tokenizers/cl100k_base.tiktoken");
    Tokenizer *o200k = load("data/tokenizers/o200k_base.tiktoken");

    CHECK_EQ_INT(gpt2->vocab_size, 50257);
    CHECK_EQ_INT(gpt2->eot_id, 50256);
    CHECK_EQ_INT(cl100k->vocab_size, 100277);
    CHECK_EQ_INT(cl100k->eot_id, 100257);
    CHECK_EQ_INT(o200k->vocab_size, 200019);
    CHECK_EQ_INT(o200k->eot_id, 199999);
    CHECK_EQ_INT(gpt2->pattern_kind, PRETOK_GPT2);
    CHECK_EQ_INT(r50k->pattern_kind, PRETOK_GPT2);
    CHECK_EQ_INT(cl100k->pattern_kind, PRETOK_CL100K);
    CHECK_EQ_INT(o200k->pattern_kind, PRETOK_O200K);
    /* Same vocabulary from two formats: same identity; others differ. */
    CHECK(gpt2->vocab_id == r50k->vocab_id);
    CHECK(gpt2->vocab_id != cl100k->vocab_id && cl100k->vocab_id != o200k->vocab_id);
    CHECK_EQ_INT(gpt2->token_len[50256], 0);
    CHECK_EQ_INT(gpt2->token_len[198], 1);
    size_t l;
    CHECK(tokenizer_token_bytes(cl100k, 100256, &l) == NULL); /* the gap below the specials */

    check_tinyshakespeare(gpt2);
    check_tinyshakespeare(r50k);
    check_cases(gpt2, "tests/data/tokenizers/gpt2_cases.jsonl", "ids", 42);
    check_cases(r50k, "tests/data/tokenizers/gpt2_cases.jsonl", "ids", 42);
    check_cases(cl100k, "tests/data/tokenizers/cl100k_base_cases.jsonl", "ids", 42);
    check_cases(o200k, "tests/data/tokenizers/o200k_base_cases.jsonl", "ids", 42);
    /* White_Space members, case folding, long runs: ids from npm tiktoken (Rust core). */
    check_cases(gpt2, "tests/data/tokenizers/tiktoken_extra_cases.jsonl", "gpt2", 21);
    check_cases(cl100k, "tests/data/tokenizers/tiktoken_extra_cases.jsonl", "cl100k_base", 21);
    check_cases(o200k, "tests/data/tokenizers/tiktoken_extra_cases.jsonl", "o200k_base", 21);
    check_junk_round_trip(gpt2, 1);
    check_junk_round_trip(cl100k, 2);
    check_junk_round_trip(o200k, 3);
    check_special(gpt2);
    check_special(o200k);
    check_file_round_trip(gpt2);
    check_file_round_trip(o200k);

    tokenizer_free(gpt2);
    tokenizer_free(r50k);
    tokenizer_free(cl100k);
    tokenizer_free(o200k);
    return check_report("test_tokenizer");
}
