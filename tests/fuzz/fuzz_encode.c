/* fuzz_encode.c: arbitrary bytes through encoding. The first byte picks the
 * tokenizer (gpt2, cl100k_base, o200k_base), whether special tokens are allowed,
 * and whether the rest is first read as a JSON line (text_input's parser). Every
 * encoding must decode to exactly the input; anything else aborts. */
#include "base/error.h"
#include "tok/text_input.h"
#include "tok/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Tokenizer *toks[3];
static TokEncoder *encs[3];

static void load_all(void)
{
    const char *top = getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".";
    const char *rel[3] = { "data/tokenizers/gpt2", "data/tokenizers/cl100k_base.tiktoken", "data/tokenizers/o200k_base.tiktoken" };
    for (int i = 0; i < 3; i++) {
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", top, rel[i]);
        toks[i] = tokenizer_load(path, err, sizeof err);
        if (!toks[i]) { fprintf(stderr, "fuzz_encode: %s (run from the repository root or set NMOE_TOP)\n", err); abort(); }
        encs[i] = tok_encoder_new(toks[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!toks[0]) load_all();
    if (size == 0) return 0;
    int mode = data[0];
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    char *json_buf = NULL, err[256];
    size_t cap = 0;
    if (mode & 8) {
        long got = jsonl_extract((const char *)text, n, "text", &json_buf, &cap, err, sizeof err);
        if (got < 0) { free(json_buf); return 0; }
        text = (const uint8_t *)json_buf;
        n = (size_t)got;
    }
    int k = (mode & 3) % 3;
    bool special = mode & 4;
    IdVec ids = { 0 };
    tok_encode(toks[k], encs[k], text, n, special, &ids);
    size_t at = 0;
    for (size_t i = 0; i < ids.n; i++) {
        size_t len;
        const uint8_t *b = tokenizer_token_bytes(toks[k], ids.v[i], &len);
        if (!b || at + len > n || memcmp(text + at, b, len) != 0) abort();
        if (!special && ids.v[i] >= toks[k]->n_ranks) abort(); /* specials only when allowed */
        at += len;
    }
    if (at != n) abort();
    idvec_free(&ids);
    free(json_buf);
    return 0;
}
