/* test_tokenizer_batch.c: a TokBatch (plan, encode each chunk, join) gives exactly
 * tok_encode's ids for every document, whatever encoder takes which chunk and in
 * what order (which is all that the thread count changes), including long documents
 * cut into parts at places where pieces do not begin (runs of spaces and newlines
 * across the cut, a single piece longer than a part, special tokens, binary junk).
 * One TokBatch serves every plan, as in the pipeline, so reused memory is covered. */
#include "check.h"
#include "test_files.h"
#include "base/error.h"
#include "base/rng.h"
#include "tok/tokenizer.h"
#include "tok/tokenizer_batch.h"

#include <stdlib.h>

/* The order chunks are encoded in for `way`: forward, backward, even ones first,
 * or shuffled. */
static size_t chunk_order(int way, size_t i, size_t n, const size_t *perm)
{
    switch (way) {
    case 0: return i;
    case 1: return n - 1 - i;
    case 2: return i < (n + 1) / 2 ? 2 * i : 2 * (i - (n + 1) / 2) + 1;
    default: return perm[i];
    }
}

static void check_batch(TokBatch *b, const Tokenizer *t, const TextSpan *docs, size_t n_docs, bool special, int64_t eot)
{
    TokEncoder *one = tok_encoder_new(t);
    IdVec *want = xcalloc(n_docs, sizeof *want);
    for (size_t d = 0; d < n_docs; d++) {
        tok_encode(t, one, docs[d].text, docs[d].len, special, &want[d]);
        if (eot >= 0) idvec_push(&want[d], (uint32_t)eot);
    }
    for (int way = 0; way < 4; way++) {
        int k = way + 1; /* encoders: chunk c goes to encoder c % k */
        TokEncoder *encs[4];
        for (int i = 0; i < k; i++) encs[i] = tok_encoder_new(t);
        size_t nc = tok_batch_plan(b, t, docs, n_docs, special, eot);
        CHECK(nc > (size_t)n_docs / 2); /* the long documents are cut */
        size_t *perm = xmalloc((nc ? nc : 1) * sizeof *perm);
        Rng rng = rng_make(77, (uint64_t)way);
        for (size_t i = 0; i < nc; i++) perm[i] = i;
        for (size_t i = nc; i > 1; i--) {
            size_t j = rng_u32(&rng) % i, tmp = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = tmp;
        }
        for (size_t i = 0; i < nc; i++) {
            size_t c = chunk_order(way, i, nc, perm);
            tok_batch_encode(b, t, encs[c % (size_t)k], c);
        }
        tok_batch_join(b, t, encs[k - 1]);
        CHECK_EQ_INT(tok_batch_docs(b), n_docs);
        int same = 1;
        for (size_t d = 0; d < n_docs; d++) {
            const IdRun *runs;
            size_t n_runs, at = 0;
            size_t n = tok_batch_doc(b, d, &runs, &n_runs);
            int ok = n == want[d].n;
            for (size_t r = 0; r < n_runs && ok; r++) {
                ok = at + runs[r].n <= want[d].n && memcmp(runs[r].ids, want[d].v + at, runs[r].n * sizeof *runs[r].ids) == 0;
                at += runs[r].n;
            }
            if (!ok || at != want[d].n) {
                fprintf(stderr, "order %d, %d encoders, document %zu (%zu bytes): %zu ids, want %zu\n", way, k, d,
                        docs[d].len, n, want[d].n);
                same = 0;
            }
        }
        CHECK(same);
        free(perm);
        for (int i = 0; i < k; i++) tok_encoder_free(encs[i]);
    }
    for (size_t d = 0; d < n_docs; d++) idvec_free(&want[d]);
    free(want);
    tok_encoder_free(one);
}

int main(void)
{
    nmoe_set_prog("test_tokenizer_batch");
    const char *top = getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".";
    char path[4096], err[512];
    size_t ts_n;
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", top);
    uint8_t *ts = test_read_file(path, &ts_n);
    const char *toks[] = { "data/tokenizers/gpt2", "data/tokenizers/cl100k_base.tiktoken" };
    TokBatch *b = tok_batch_new();
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", top, toks[k]);
        Tokenizer *t = tokenizer_load(path, err, sizeof err);
        if (!t) { fprintf(stderr, "%s\n", err); return 1; }

        /* A long document whose parts start inside runs of spaces and newlines (the
         * text is rewritten so that each nominal part start, every 64 KiB, falls in
         * 200 spaces followed by 50 newlines). */
        size_t n = ts_n;
        uint8_t *doc = xmalloc(n);
        memcpy(doc, ts, n);
        for (size_t at = 65536 - 100; at + 300 < n; at += 65536) {
            memset(doc + at, ' ', 200);
            memset(doc + at + 200, '\n', 50);
        }
        /* One piece longer than a part: 300 KB of spaces, then text. */
        size_t big_n = 560000;
        uint8_t *big = xmalloc(big_n);
        memset(big, ' ', 300000);
        memcpy(big + 300000, ts, big_n - 300000);
        /* Binary junk, long. */
        size_t junk_n = 600000;
        uint8_t *junk = xmalloc(junk_n);
        Rng rng = rng_make(9, (uint64_t)k);
        for (size_t i = 0; i < junk_n; i++) {
            uint32_t r = rng_u32(&rng);
            junk[i] = r % 3 ? (uint8_t)(r >> 8) : (uint8_t)" \n\n\ra"[r % 5];
        }
        /* No newline to cut after: parts start inside a run of digits, where the
         * groups of three (cl100k) never line up again, and inside words. */
        size_t dig_n = 600000;
        uint8_t *dig = xmalloc(dig_n);
        for (size_t i = 0; i < dig_n; i++) dig[i] = i < 400000 ? (uint8_t)('0' + i % 10) : (uint8_t)"hello world 12 "[i % 15];
        /* Special tokens inside a long text. */
        uint8_t *sp = xmalloc(n);
        memcpy(sp, ts, n);
        for (size_t at = 5000; at + 20 < n; at += 99991) memcpy(sp + at, "<|endoftext|>", 13);

        TextSpan docs[] = {
            { ts, 0 }, { ts, 1 }, { ts, 5000 }, { doc, n }, { big, big_n }, { junk, junk_n }, { dig, dig_n }, { sp, n },
            { (const uint8_t *)"\n\n\n", 3 }, { ts + 100, 777 },
        };
        size_t nd = sizeof docs / sizeof docs[0];
        check_batch(b, t, docs, nd, false, -1);
        check_batch(b, t, docs, nd, true, t->eot_id);
        free(doc);
        free(big);
        free(junk);
        free(dig);
        free(sp);
        tokenizer_free(t);
    }
    tok_batch_free(b);
    free(ts);
    return check_report("test_tokenizer_batch");
}
