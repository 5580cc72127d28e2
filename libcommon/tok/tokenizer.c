/* tokenizer.c: see tokenizer.h. Building a tokenizer from its parts, the identity
 * hash, encoding (one document, or many on several threads) and decoding. */
#include "tok/tokenizer.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/tokstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Identity ------------------------------------------------------------------ */

static void hash_u32(Hash64 *h, uint32_t v)
{
    unsigned char b[4];
    put_u32le(b, v);
    hash64_update(h, b, 4);
}

uint64_t tokenizer_identity(const uint8_t *blob, const uint64_t *off, uint32_t n_ranks, const SpecialToken *special,
                            uint32_t n_special)
{
    static const char tag[] = "nmoe-vocab-1\n";
    Hash64 *h = hash64_new(0);
    hash64_update(h, tag, sizeof tag - 1);
    hash_u32(h, n_ranks);
    for (uint32_t r = 0; r < n_ranks; r++) {
        hash_u32(h, (uint32_t)(off[r + 1] - off[r]));
        hash64_update(h, blob + off[r], off[r + 1] - off[r]);
    }
    hash_u32(h, n_special);
    for (uint32_t i = 0; i < n_special; i++) {
        hash_u32(h, special[i].id);
        hash_u32(h, (uint32_t)special[i].len);
        hash64_update(h, special[i].text, special[i].len);
    }
    uint64_t v = hash64_digest(h);
    hash64_free(h);
    return v;
}

/* Build ---------------------------------------------------------------------- */

static int cmp_special_id(const void *a, const void *b)
{
    uint32_t x = ((const SpecialToken *)a)->id, y = ((const SpecialToken *)b)->id;
    return x < y ? -1 : x > y;
}

static void free_specials(SpecialToken *s, uint32_t n)
{
    for (uint32_t i = 0; s && i < n; i++) free(s[i].text);
    free(s);
}

Tokenizer *tokenizer_build(uint8_t *blob, uint64_t *off, uint32_t n_ranks, SpecialToken *special, uint32_t n_special,
                           PretokKind kind, const char *custom_pattern, uint32_t *bad_rank, char *err, size_t errlen)
{
    *bad_rank = UINT32_MAX;
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->blob = blob;
    t->off = off;
    t->n_ranks = n_ranks;
    t->special = special;
    t->n_special = n_special;
    t->eot_id = -1;
    if (n_special) qsort(special, n_special, sizeof *special, cmp_special_id);
    uint64_t vocab = n_ranks;
    for (uint32_t i = 0; i < n_special; i++) {
        const SpecialToken *s = &special[i];
        if (s->len == 0) { snprintf(err, errlen, "special token %u is empty", s->id); goto fail; }
        if (s->id < n_ranks) {
            snprintf(err, errlen, "special token %s has id %u, which is a mergeable token's id", s->text, s->id);
            goto fail;
        }
        if (i > 0 && special[i - 1].id == s->id) {
            snprintf(err, errlen, "special tokens %s and %s share id %u", special[i - 1].text, s->text, s->id);
            goto fail;
        }
        for (uint32_t j = 0; j < i; j++)
            if (special[j].len == s->len && memcmp(special[j].text, s->text, s->len) == 0) {
                snprintf(err, errlen, "special token %s appears twice (ids %u and %u)", s->text, special[j].id, s->id);
                goto fail;
            }
        if ((uint64_t)s->id + 1 > vocab) vocab = (uint64_t)s->id + 1;
        if (s->len == strlen(TOKENIZER_EOT_TEXT) && memcmp(s->text, TOKENIZER_EOT_TEXT, s->len) == 0) t->eot_id = s->id;
    }
    if (vocab > UINT32_MAX - 1) { snprintf(err, errlen, "vocabulary of %llu ids is too large", (unsigned long long)vocab); goto fail; }
    t->vocab_size = (uint32_t)vocab;
    t->ranks = bpe_ranks_new(blob, off, n_ranks, bad_rank, err, errlen);
    if (!t->ranks) goto fail;
    t->pattern_kind = kind;
    const char *pat = kind == PRETOK_CUSTOM ? custom_pattern : pretok_pattern_text(kind);
    if (!pat) { snprintf(err, errlen, "no split pattern"); goto fail; }
    t->pattern = xstrdup(pat);
    char perr[300];
    t->pretok = pretok_new(pat, perr, sizeof perr);
    if (!t->pretok) { snprintf(err, errlen, "split pattern: %s", perr); goto fail; }
    t->token_len = xcalloc(t->vocab_size, sizeof *t->token_len);
    for (uint32_t r = 0; r < n_ranks; r++) t->token_len[r] = (uint32_t)(off[r + 1] - off[r]);
    t->vocab_id = tokenizer_identity(blob, off, n_ranks, special, n_special);
    return t;
fail:
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t) return;
    free(t->blob);
    free(t->off);
    free_specials(t->special, t->n_special);
    free(t->token_len);
    free(t->pattern);
    bpe_ranks_free(t->ranks);
    pretok_free(t->pretok);
    free(t);
}

const uint8_t *tokenizer_token_bytes(const Tokenizer *t, uint32_t id, size_t *len)
{
    if (id < t->n_ranks) {
        *len = t->off[id + 1] - t->off[id];
        return t->blob + t->off[id];
    }
    /* Specials are few and sorted by id: binary search. */
    size_t lo = 0, hi = t->n_special;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->special[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < t->n_special && t->special[lo].id == id) {
        *len = t->special[lo].len;
        return (const uint8_t *)t->special[lo].text;
    }
    return NULL;
}

const SpecialToken *tokenizer_find_special(const Tokenizer *t, const char *text)
{
    for (uint32_t i = 0; i < t->n_special; i++)
        if (strcmp(t->special[i].text, text) == 0) return &t->special[i];
    return NULL;
}

/* Encoding ------------------------------------------------------------------ */

/* Most pieces of real text are a token themselves (one table lookup); of the rest,
 * the same words come back again and again, so their ids are kept in a small
 * direct-mapped cache per encoder. A piece's ids depend only on its bytes, so the
 * cache cannot change a result. */
#define CACHE_SLOTS (1u << 14)
#define CACHE_MAX_BYTES 30
#define CACHE_MAX_IDS 8

typedef struct {
    uint64_t hash;
    uint8_t len, n_ids; /* len 0: empty */
    uint8_t bytes[CACHE_MAX_BYTES];
    uint32_t ids[CACHE_MAX_IDS];
} CacheEntry;

struct TokEncoder {
    PretokScratch *pre;
    BpeScratch *bpe;
    CacheEntry *cache;
};

TokEncoder *tok_encoder_new(const Tokenizer *t)
{
    TokEncoder *e = xcalloc(1, sizeof *e);
    e->pre = pretok_scratch_new(t->pretok);
    e->bpe = bpe_scratch_new();
    e->cache = xcalloc(CACHE_SLOTS, sizeof *e->cache);
    return e;
}

void tok_encoder_free(TokEncoder *e)
{
    if (!e) return;
    pretok_scratch_free(e->pre);
    bpe_scratch_free(e->bpe);
    free(e->cache);
    free(e);
}

static void encode_piece(const Tokenizer *t, TokEncoder *e, const uint8_t *p, size_t n, IdVec *out)
{
    if (n > CACHE_MAX_BYTES) {
        bpe_encode(t->ranks, e->bpe, p, n, out);
        return;
    }
    uint64_t h = bpe_hash(p, n);
    uint32_t whole = bpe_rank_hashed(t->ranks, p, n, h);
    if (whole != BPE_NO_RANK) {
        idvec_push(out, whole);
        return;
    }
    CacheEntry *c = &e->cache[h & (CACHE_SLOTS - 1)];
    if (c->len == n && c->hash == h && memcmp(c->bytes, p, n) == 0) {
        idvec_reserve(out, c->n_ids);
        memcpy(out->v + out->n, c->ids, c->n_ids * sizeof *c->ids);
        out->n += c->n_ids;
        return;
    }
    size_t start = out->n;
    bpe_encode_merges(t->ranks, e->bpe, p, n, out);
    size_t k = out->n - start;
    if (k <= CACHE_MAX_IDS) {
        c->hash = h;
        c->len = (uint8_t)n;
        c->n_ids = (uint8_t)k;
        memcpy(c->bytes, p, n);
        memcpy(c->ids, out->v + start, k * sizeof *c->ids);
    }
}

size_t tok_encode_pieces(const Tokenizer *t, TokEncoder *e, const uint8_t *text, size_t len, size_t pos, size_t stop,
                         IdVec *out)
{
    while (pos < len && pos < stop) {
        size_t end = pretok_next(t->pretok, e->pre, text, len, pos);
        if (end - pos > UINT32_MAX - 1) die("a single pre-token of %zu bytes is too long to encode", end - pos);
        encode_piece(t, e, text + pos, end - pos, out);
        pos = end;
    }
    return pos;
}

/* The special token that starts at text[pos] (longest if several), or NULL. */
static const SpecialToken *special_at(const Tokenizer *t, const uint8_t *text, size_t len, size_t pos)
{
    const SpecialToken *best = NULL;
    for (uint32_t i = 0; i < t->n_special; i++) {
        const SpecialToken *s = &t->special[i];
        if (s->len <= len - pos && (!best || s->len > best->len) && memcmp(text + pos, s->text, s->len) == 0) best = s;
    }
    return best;
}

size_t tok_next_special(const Tokenizer *t, const uint8_t *text, size_t len, size_t pos, const SpecialToken **which)
{
    *which = NULL;
    if (t->n_special == 0) return len;
    /* Usually every special token starts with the same byte ('<'): memchr for it. */
    bool one_first = true;
    for (uint32_t i = 1; i < t->n_special && one_first; i++) one_first = t->special[i].text[0] == t->special[0].text[0];
    while (pos < len) {
        if (one_first) {
            const uint8_t *q = memchr(text + pos, (uint8_t)t->special[0].text[0], len - pos);
            if (!q) return len;
            pos = (size_t)(q - text);
        } else {
            /* Cheap filter on the first byte before comparing whole strings. */
            bool maybe = false;
            for (uint32_t i = 0; i < t->n_special && !maybe; i++) maybe = (uint8_t)t->special[i].text[0] == text[pos];
            if (!maybe) { pos++; continue; }
        }
        if ((*which = special_at(t, text, len, pos))) return pos;
        pos++;
    }
    return len;
}

void tok_encode(const Tokenizer *t, TokEncoder *e, const uint8_t *text, size_t len, bool allow_special, IdVec *out)
{
    size_t pos = 0;
    while (pos < len) {
        const SpecialToken *s = NULL;
        size_t seg_end = allow_special ? tok_next_special(t, text, len, pos, &s) : len;
        /* The text between special tokens is its own regex subject, as in tiktoken. */
        tok_encode_pieces(t, e, text + pos, seg_end - pos, 0, seg_end - pos, out);
        pos = seg_end;
        if (s) {
            idvec_push(out, s->id);
            pos += s->len;
        }
    }
}
