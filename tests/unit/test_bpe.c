/* test_bpe.c: the fast merge loop (array scan and heap) against the plain reference
 * loop, on a hand-made vocabulary with known answers and on GPT-2's vocabulary with
 * random and pathological pieces. */
#include "check.h"
#include "tok/bpe.h"
#include "base/error.h"
#include "base/rng.h"
#include "tok/tokenizer.h"

#include <stdlib.h>

/* Bytes 0..255 (rank = byte), then the given strings in rank order. */
static BpeRanks *tiny_vocab(const char **extra, int n_extra, uint8_t **blob_out, uint64_t **off_out)
{
    size_t total = 256;
    for (int i = 0; i < n_extra; i++) total += strlen(extra[i]);
    uint8_t *blob = xmalloc(total);
    uint64_t *off = xmalloc((size_t)(256 + n_extra + 1) * sizeof *off);
    off[0] = 0;
    for (int b = 0; b < 256; b++) { blob[b] = (uint8_t)b; off[b + 1] = (uint64_t)b + 1; }
    for (int i = 0; i < n_extra; i++) {
        size_t l = strlen(extra[i]);
        memcpy(blob + off[256 + i], extra[i], l);
        off[256 + i + 1] = off[256 + i] + l;
    }
    uint32_t bad;
    char err[200];
    BpeRanks *r = bpe_ranks_new(blob, off, (uint32_t)(256 + n_extra), &bad, err, sizeof err);
    if (!r) { fprintf(stderr, "%s\n", err); exit(1); }
    *blob_out = blob;
    *off_out = off;
    return r;
}

static void expect(const BpeRanks *r, BpeScratch *s, const char *piece, const uint32_t *want, size_t n_want)
{
    IdVec a = { 0 }, b = { 0 };
    bpe_encode(r, s, (const uint8_t *)piece, strlen(piece), &a);
    bpe_encode_reference(r, (const uint8_t *)piece, strlen(piece), &b);
    CHECK_EQ_INT(a.n, n_want);
    CHECK_EQ_INT(b.n, n_want);
    for (size_t i = 0; i < n_want && i < a.n && i < b.n; i++) {
        CHECK_EQ_INT(a.v[i], want[i]);
        CHECK_EQ_INT(b.v[i], want[i]);
    }
    idvec_free(&a);
    idvec_free(&b);
}

static int same_both_ways(const BpeRanks *r, BpeScratch *s, const uint8_t *p, size_t n)
{
    IdVec a = { 0 }, b = { 0 };
    bpe_encode(r, s, p, n, &a);
    bpe_encode_reference(r, p, n, &b);
    int same = a.n == b.n && memcmp(a.v, b.v, a.n * sizeof *a.v) == 0;
    idvec_free(&a);
    idvec_free(&b);
    return same;
}

static void check_known_answers(void)
{
    const char *extra[] = { "ab", "bc", "abc", "aa", "aaaa" };
    uint8_t *blob;
    uint64_t *off;
    BpeRanks *r = tiny_vocab(extra, 5, &blob, &off);
    BpeScratch *s = bpe_scratch_new();
    /* A piece that is a token is that token. */
    expect(r, s, "abc", (uint32_t[]){ 258 }, 1);
    /* "abcb": ab (256) beats bc (257); then ab+c = abc (258). */
    expect(r, s, "abcb", (uint32_t[]){ 258, 'b' }, 2);
    /* "bcab": bc and ab both possible and disjoint: ab (256) first, then bc. */
    expect(r, s, "bcab", (uint32_t[]){ 257, 256 }, 2);
    /* Equal ranks: the leftmost pair wins. "aaa" -> aa, a. */
    expect(r, s, "aaa", (uint32_t[]){ 259, 'a' }, 2);
    /* "aaaaa" -> aa aa a -> aaaa a. */
    expect(r, s, "aaaaa", (uint32_t[]){ 260, 'a' }, 2);
    expect(r, s, "xyz", (uint32_t[]){ 'x', 'y', 'z' }, 3);
    expect(r, s, "q", (uint32_t[]){ 'q' }, 1);
    /* Rank lookups. */
    CHECK_EQ_INT(bpe_rank(r, (const uint8_t *)"bc", 2), 257);
    CHECK(bpe_rank(r, (const uint8_t *)"cb", 2) == BPE_NO_RANK);
    CHECK_EQ_INT(bpe_ranks_count(r), 261);
    /* Long pieces take the heap path; it must agree with the reference. */
    char longp[1000];
    for (int n = 100; n < 1000; n += 37) {
        for (int i = 0; i < n; i++) longp[i] = "abca"[i * 7 % 4];
        CHECK(same_both_ways(r, s, (const uint8_t *)longp, (size_t)n));
        memset(longp, 'a', (size_t)n);
        CHECK(same_both_ways(r, s, (const uint8_t *)longp, (size_t)n));
    }
    bpe_scratch_free(s);
    bpe_ranks_free(r);
    free(blob);
    free(off);
}

static void check_bad_vocabularies(void)
{
    uint8_t blob[300];
    uint64_t off[260];
    for (int b = 0; b < 256; b++) { blob[b] = (uint8_t)b; off[b] = (uint64_t)b; }
    off[256] = 256;
    uint32_t bad;
    char err[200];
    /* Missing byte: only 255 single bytes. */
    BpeRanks *r = bpe_ranks_new(blob, off, 255, &bad, err, sizeof err);
    CHECK(r == NULL);
    CHECK(strstr(err, "byte 0xff") != NULL);
    /* A repeated token. */
    blob[256] = 'a';
    off[257] = 257;
    r = bpe_ranks_new(blob, off, 257, &bad, err, sizeof err);
    CHECK(r == NULL);
    CHECK_EQ_INT(bad, 256);
    /* An empty token. */
    off[257] = 256;
    r = bpe_ranks_new(blob, off, 257, &bad, err, sizeof err);
    CHECK(r == NULL);
    CHECK(strstr(err, "empty") != NULL);
}

static void check_gpt2_random(void)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/data/tokenizers/gpt2", getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".");
    Tokenizer *t = tokenizer_load(path, err, sizeof err);
    if (!t) { fprintf(stderr, "%s\n", err); exit(1); }
    BpeScratch *s = bpe_scratch_new();
    Rng rng = rng_make(42, 0);
    static const char *alphabets[] = { "abcdefghijklmnopqrstuvwxyz", "ab", " ", "0123456789", "!?.,-=*", "eths a", "\xe2\x80\x94\xc3\xa9" };
    uint8_t buf[3000];
    int agree = 0, trials = 0;
    for (int trial = 0; trial < 1500; trial++) {
        const char *al = alphabets[trial % 7];
        size_t al_n = strlen(al);
        size_t n = 1 + rng_below(&rng, trial % 10 == 0 ? 1200 : 40);
        for (size_t i = 0; i < n; i++) buf[i] = trial % 13 == 0 ? (uint8_t)rng_u32(&rng) : (uint8_t)al[rng_below(&rng, al_n)];
        agree += same_both_ways(t->ranks, s, buf, n);
        trials++;
    }
    CHECK_EQ_INT(agree, trials);
    bpe_scratch_free(s);
    tokenizer_free(t);
}

int main(void)
{
    nmoe_set_prog("test_bpe");
    check_known_answers();
    check_bad_vocabularies();
    check_gpt2_random();
    return check_report("test_bpe");
}
