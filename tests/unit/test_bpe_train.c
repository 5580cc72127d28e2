/* test_bpe_train.c: the incremental trainer learns exactly the merges of a plain
 * recount-everything trainer (same tie rule), is deterministic across thread
 * counts, places the special tokens as documented, and its tokenizer round trips. */
#include "check.h"
#include "tok/bpe_train.h"
#include "base/error.h"
#include "base/rng.h"

#include <stdlib.h>

/* The reference: words as symbol lists with counts; each step counts every pair of
 * every word, merges the best (highest count, then smaller left id, then smaller
 * right id), reusing an existing id when the bytes already are a token. */
typedef struct {
    uint32_t *sym;
    size_t len;
    uint64_t count;
} RefWord;

static uint8_t ref_blob[1 << 20];
static uint64_t ref_off[8192];

static uint32_t ref_find(uint32_t n_tok, const uint8_t *p, size_t n)
{
    for (uint32_t t = 0; t < n_tok; t++)
        if (ref_off[t + 1] - ref_off[t] == n && memcmp(ref_blob + ref_off[t], p, n) == 0) return t;
    return UINT32_MAX;
}

static uint32_t reference_train(const Tokenizer *pieces_source, const uint8_t *text, size_t len, uint32_t target)
{
    /* Cut into pieces with the same pattern and count them; the text is fed as the
     * same four documents as train() below. */
    PretokScratch *s = pretok_scratch_new(pieces_source->pretok);
    RefWord *words = NULL;
    size_t n_words = 0, q = len / 4;
    for (int d = 0; d < 4; d++) {
        const uint8_t *doc = text + q * (size_t)d;
        size_t doc_len = d == 3 ? len - 3 * q : q;
        for (size_t pos = 0; pos < doc_len;) {
            size_t end = pretok_next(pieces_source->pretok, s, doc, doc_len, pos);
            size_t w;
            for (w = 0; w < n_words; w++) {
                if (words[w].len != end - pos) continue;
                size_t i;
                for (i = 0; i < words[w].len && words[w].sym[i] == doc[pos + i]; i++) {}
                if (i == words[w].len) break;
            }
            if (w == n_words) {
                words = xrealloc(words, (n_words + 1) * sizeof *words);
                words[w].len = end - pos;
                words[w].sym = xmalloc(words[w].len * sizeof *words[w].sym);
                for (size_t i = 0; i < words[w].len; i++) words[w].sym[i] = doc[pos + i];
                words[w].count = 0;
                n_words++;
            }
            words[w].count++;
            pos = end;
        }
    }
    pretok_scratch_free(s);
    uint32_t n_tok = 256;
    for (int b = 0; b < 256; b++) { ref_blob[b] = (uint8_t)b; ref_off[b + 1] = (uint64_t)b + 1; }
    while (n_tok < target) {
        uint64_t best_count = 0, best_key = UINT64_MAX;
        for (size_t w = 0; w < n_words; w++)
            for (size_t i = 0; i + 1 < words[w].len; i++) {
                uint64_t key = (uint64_t)words[w].sym[i] << 32 | words[w].sym[i + 1];
                uint64_t c = 0;
                for (size_t v = 0; v < n_words; v++)
                    for (size_t j = 0; j + 1 < words[v].len; j++)
                        if (((uint64_t)words[v].sym[j] << 32 | words[v].sym[j + 1]) == key) c += words[v].count;
                if (c > best_count || (c == best_count && key < best_key)) { best_count = c; best_key = key; }
            }
        if (best_count == 0) break;
        uint32_t a = (uint32_t)(best_key >> 32), b = (uint32_t)best_key;
        uint8_t tmp[4096];
        size_t na = ref_off[a + 1] - ref_off[a], nb = ref_off[b + 1] - ref_off[b];
        memcpy(tmp, ref_blob + ref_off[a], na);
        memcpy(tmp + na, ref_blob + ref_off[b], nb);
        uint32_t c = ref_find(n_tok, tmp, na + nb);
        if (c == UINT32_MAX) {
            c = n_tok;
            memcpy(ref_blob + ref_off[n_tok], tmp, na + nb);
            ref_off[n_tok + 1] = ref_off[n_tok] + na + nb;
            n_tok++;
        }
        for (size_t w = 0; w < n_words; w++) {
            size_t j = 0;
            for (size_t i = 0; i < words[w].len;) {
                if (i + 1 < words[w].len && words[w].sym[i] == a && words[w].sym[i + 1] == b) { words[w].sym[j++] = c; i += 2; }
                else words[w].sym[j++] = words[w].sym[i++];
            }
            words[w].len = j;
        }
    }
    for (size_t w = 0; w < n_words; w++) free(words[w].sym);
    free(words);
    return n_tok;
}

static Tokenizer *train(const uint8_t *text, size_t len, uint32_t vocab, int threads, const char *const *extra, uint32_t n_extra)
{
    BpeTrainOptions opt = { vocab, PRETOK_GPT2, extra, n_extra };
    BpeTrainer *tr = bpe_train_new(&opt);
    /* Fed as several documents, so the per-thread counts are really merged. */
    TextSpan docs[4];
    size_t q = len / 4;
    for (int i = 0; i < 4; i++) docs[i] = (TextSpan){ text + q * (size_t)i, i == 3 ? len - 3 * q : q };
    bpe_train_add(tr, docs, 4, threads);
    CHECK_EQ_INT(bpe_train_bytes(tr), len);
    uint32_t merges;
    return bpe_train_finish(tr, &merges);
}

static void check_against_reference(const uint8_t *text, size_t len, uint32_t vocab)
{
    Tokenizer *t = train(text, len, vocab, 2, NULL, 0);
    uint32_t n_ref = reference_train(t, text, len, vocab - 1);
    CHECK_EQ_INT(t->n_ranks, n_ref);
    int same = t->n_ranks == n_ref;
    for (uint32_t r = 0; same && r < n_ref; r++)
        same = t->off[r + 1] - t->off[r] == ref_off[r + 1] - ref_off[r] &&
               memcmp(t->blob + t->off[r], ref_blob + ref_off[r], t->off[r + 1] - t->off[r]) == 0;
    CHECK(same);
    if (!same)
        for (uint32_t r = 256; r < n_ref && r < t->n_ranks; r++)
            if (t->off[r + 1] - t->off[r] != ref_off[r + 1] - ref_off[r] ||
                memcmp(t->blob + t->off[r], ref_blob + ref_off[r], t->off[r + 1] - t->off[r]) != 0) {
                fprintf(stderr, "first difference at token %u: '%.*s' vs reference '%.*s'\n", r,
                        (int)(t->off[r + 1] - t->off[r]), t->blob + t->off[r], (int)(ref_off[r + 1] - ref_off[r]),
                        ref_blob + ref_off[r]);
                break;
            }
    /* The result encodes and decodes the training text exactly. */
    TokEncoder *e = tok_encoder_new(t);
    IdVec ids = { 0 };
    tok_encode(t, e, text, len, false, &ids);
    size_t at = 0;
    int rt = 1;
    for (size_t i = 0; i < ids.n && rt; i++) {
        size_t l;
        const uint8_t *b = tokenizer_token_bytes(t, ids.v[i], &l);
        rt = b && at + l <= len && memcmp(text + at, b, l) == 0;
        at += l;
    }
    CHECK(rt && at == len);
    idvec_free(&ids);
    tok_encoder_free(e);
    tokenizer_free(t);
}

int main(void)
{
    nmoe_set_prog("test_bpe_train");
    /* Small alphabets make many ties and many merges of merges. */
    Rng rng = rng_make(3, 0);
    uint8_t text[3000];
    for (int trial = 0; trial < 3; trial++) {
        size_t n = 1500 + 500 * (size_t)trial;
        for (size_t i = 0; i < n; i++) text[i] = (uint8_t)(trial == 2 ? "ab \n"[rng_below(&rng, 4)] : "abcde  xy'"[rng_below(&rng, 10)]);
        check_against_reference(text, n, 256 + 60 + 1);
    }
    const char *s = "the cat sat on the mat; the cat ate the rat. aaaa aaaa aaaa bbbb";
    check_against_reference((const uint8_t *)s, strlen(s), 256 + 40 + 1);

    /* Determinism across thread counts, and the special tokens' ids. */
    const char *extra[] = { "<|pad|>", "<|user|>" };
    size_t n = 2000;
    for (size_t i = 0; i < n; i++) text[i] = (uint8_t)"hello world, it's a test\n"[rng_below(&rng, 25)];
    Tokenizer *a = train(text, n, 400, 1, extra, 2), *b = train(text, n, 400, 3, extra, 2);
    CHECK(a->vocab_id == b->vocab_id);
    CHECK_EQ_INT(a->vocab_size, 400);
    CHECK_EQ_INT(a->n_ranks, 397);
    CHECK_EQ_INT(a->eot_id, 397);
    CHECK(tokenizer_find_special(a, "<|pad|>") && tokenizer_find_special(a, "<|pad|>")->id == 398);
    CHECK(tokenizer_find_special(a, "<|user|>") && tokenizer_find_special(a, "<|user|>")->id == 399);
    size_t fa, fb;
    uint8_t *ba = tokenizer_to_file_bytes(a, &fa), *bb = tokenizer_to_file_bytes(b, &fb);
    CHECK(fa == fb && memcmp(ba, bb, fa) == 0);
    free(ba);
    free(bb);
    tokenizer_free(a);
    tokenizer_free(b);

    /* Text that runs out of pairs stops early with a smaller vocabulary. */
    Tokenizer *c = train((const uint8_t *)"abab", 4, 1000, 1, NULL, 0);
    CHECK(c->n_ranks < 1000 - 1);
    CHECK_EQ_INT(c->vocab_size, c->n_ranks + 1);
    tokenizer_free(c);
    return check_report("test_bpe_train");
}
