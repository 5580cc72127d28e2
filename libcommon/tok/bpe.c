/* bpe.c: see bpe.h. */
#include "tok/bpe.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

void idvec_reserve(IdVec *a, size_t n)
{
    if (a->n + n <= a->cap) return;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->n + n) cap *= 2;
    a->v = xrealloc(a->v, cap * sizeof *a->v);
    a->cap = cap;
}

void idvec_free(IdVec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* Rank table ---------------------------------------------------------------- */

typedef struct {
    uint32_t tag;  /* high 32 bits of the key's hash, to skip most byte compares */
    uint32_t rank; /* BPE_NO_RANK: empty slot */
} Slot;

struct BpeRanks {
    const uint8_t *blob;
    const uint64_t *off;
    uint32_t n;
    uint32_t byte_rank[256];
    Slot *slots;
    uint64_t mask;
};

static inline uint64_t key_hash(const uint8_t *p, size_t n) { return XXH3_64bits(p, n); }

uint64_t bpe_hash(const uint8_t *p, size_t n) { return key_hash(p, n); }

uint32_t bpe_rank(const BpeRanks *r, const uint8_t *p, size_t n)
{
    if (n == 1) return r->byte_rank[p[0]];
    return bpe_rank_hashed(r, p, n, key_hash(p, n));
}

uint32_t bpe_rank_hashed(const BpeRanks *r, const uint8_t *p, size_t n, uint64_t h)
{
    if (n == 1) return r->byte_rank[p[0]];
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & r->mask;; i = (i + 1) & r->mask) {
        const Slot *s = &r->slots[i];
        if (s->rank == BPE_NO_RANK) return BPE_NO_RANK;
        if (s->tag == tag && r->off[s->rank + 1] - r->off[s->rank] == n && memcmp(r->blob + r->off[s->rank], p, n) == 0)
            return s->rank;
    }
}

BpeRanks *bpe_ranks_new(const uint8_t *blob, const uint64_t *off, uint32_t n_tokens, uint32_t *bad_token,
                        char *err, size_t errlen)
{
    *bad_token = BPE_NO_RANK;
    BpeRanks *r = xcalloc(1, sizeof *r);
    r->blob = blob;
    r->off = off;
    r->n = n_tokens;
    for (int b = 0; b < 256; b++) r->byte_rank[b] = BPE_NO_RANK;
    uint64_t cap = 1024;
    while (cap < 2ull * n_tokens) cap *= 2;
    r->slots = xmalloc(cap * sizeof *r->slots);
    for (uint64_t i = 0; i < cap; i++) r->slots[i].rank = BPE_NO_RANK;
    r->mask = cap - 1;
    for (uint32_t t = 0; t < n_tokens; t++) {
        const uint8_t *p = blob + off[t];
        size_t n = off[t + 1] - off[t];
        if (n == 0) {
            snprintf(err, errlen, "token %u is empty", t);
            *bad_token = t;
            bpe_ranks_free(r);
            return NULL;
        }
        if (bpe_rank(r, p, n) != BPE_NO_RANK) {
            snprintf(err, errlen, "token %u repeats the bytes of token %u", t, bpe_rank(r, p, n));
            *bad_token = t;
            bpe_ranks_free(r);
            return NULL;
        }
        if (n == 1) { r->byte_rank[p[0]] = t; continue; }
        uint64_t h = key_hash(p, n);
        uint64_t i = h & r->mask;
        while (r->slots[i].rank != BPE_NO_RANK) i = (i + 1) & r->mask;
        r->slots[i].tag = (uint32_t)(h >> 32);
        r->slots[i].rank = t;
    }
    for (int b = 0; b < 256; b++)
        if (r->byte_rank[b] == BPE_NO_RANK) {
            snprintf(err, errlen, "byte 0x%02x has no token (a byte-level vocabulary needs all 256)", b);
            bpe_ranks_free(r);
            return NULL;
        }
    return r;
}

void bpe_ranks_free(BpeRanks *r)
{
    if (!r) return;
    free(r->slots);
    free(r);
}

uint32_t bpe_ranks_count(const BpeRanks *r) { return r->n; }

/* Reference ------------------------------------------------------------------ */

void bpe_encode_reference(const BpeRanks *r, const uint8_t *piece, size_t n, IdVec *out)
{
    uint32_t whole = bpe_rank(r, piece, n);
    if (whole != BPE_NO_RANK) { idvec_push(out, whole); return; }
    /* bound[i] is where part i starts; bound[m] == n. */
    size_t *bound = xmalloc((n + 1) * sizeof *bound);
    size_t m = n;
    for (size_t i = 0; i <= n; i++) bound[i] = i;
    for (;;) {
        uint32_t best = BPE_NO_RANK;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            uint32_t rk = bpe_rank(r, piece + bound[i], bound[i + 2] - bound[i]);
            if (rk < best) { best = rk; at = i; }   /* strict <: the leftmost wins ties */
        }
        if (best == BPE_NO_RANK) break;
        memmove(bound + at + 1, bound + at + 2, (m - at - 1) * sizeof *bound);
        m--;
    }
    for (size_t i = 0; i < m; i++) idvec_push(out, bpe_rank(r, piece + bound[i], bound[i + 1] - bound[i]));
    free(bound);
}

/* Fast ----------------------------------------------------------------------- */

/* Pieces up to this many bytes use the array scan (tiktoken's loop, with the pair
 * ranks cached); longer ones, rare but quadratic in the scan (long runs of spaces,
 * digits or symbols), the heap. */
#define BPE_SCAN_MAX 128

typedef struct {
    uint64_t key;     /* rank << 32 | start byte of the left part: pops lowest rank, then leftmost */
    uint32_t version; /* the left part's pair version when pushed */
} HeapEntry;

struct BpeScratch {
    size_t cap;
    uint32_t *bound, *pair_rank;       /* array scan */
    uint32_t *next, *prev, *version;   /* heap path: linked list of parts by start byte */
    HeapEntry *heap;
    size_t heap_cap;
};

BpeScratch *bpe_scratch_new(void) { return xcalloc(1, sizeof(BpeScratch)); }

void bpe_scratch_free(BpeScratch *s)
{
    if (!s) return;
    free(s->bound); free(s->pair_rank); free(s->next); free(s->prev); free(s->version); free(s->heap);
    free(s);
}

static void scratch_grow(BpeScratch *s, size_t n)
{
    if (n + 1 <= s->cap) return;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n + 1) cap *= 2;
    s->bound = xrealloc(s->bound, cap * sizeof *s->bound);
    s->pair_rank = xrealloc(s->pair_rank, cap * sizeof *s->pair_rank);
    s->next = xrealloc(s->next, cap * sizeof *s->next);
    s->prev = xrealloc(s->prev, cap * sizeof *s->prev);
    s->version = xrealloc(s->version, cap * sizeof *s->version);
    s->cap = cap;
}

static void encode_scan(const BpeRanks *r, BpeScratch *s, const uint8_t *p, size_t n, IdVec *out)
{
    uint32_t *bound = s->bound, *pr = s->pair_rank;
    size_t m = n;
    for (size_t i = 0; i <= n; i++) bound[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < m; i++) pr[i] = bpe_rank(r, p + i, 2);
    for (;;) {
        uint32_t best = BPE_NO_RANK;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (pr[i] < best) { best = pr[i]; at = i; }
        if (best == BPE_NO_RANK) break;
        /* Part at+1 joins part at: drop its boundary and its pair rank. */
        memmove(bound + at + 1, bound + at + 2, (m - at - 1) * sizeof *bound);
        if (at + 2 < m) memmove(pr + at + 1, pr + at + 2, (m - at - 2) * sizeof *pr);
        m--;
        pr[at] = at + 1 < m ? bpe_rank(r, p + bound[at], bound[at + 2] - bound[at]) : BPE_NO_RANK;
        if (at > 0) pr[at - 1] = bpe_rank(r, p + bound[at - 1], bound[at + 1] - bound[at - 1]);
    }
    idvec_reserve(out, m);
    for (size_t i = 0; i < m; i++) out->v[out->n++] = bpe_rank(r, p + bound[i], bound[i + 1] - bound[i]);
}

static void heap_push(BpeScratch *s, size_t *hn, HeapEntry e)
{
    if (*hn == s->heap_cap) {
        s->heap_cap = s->heap_cap ? 2 * s->heap_cap : 1024;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    size_t i = (*hn)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].key <= e.key) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
}

static HeapEntry heap_pop(BpeScratch *s, size_t *hn)
{
    HeapEntry top = s->heap[0], last = s->heap[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && s->heap[c + 1].key < s->heap[c].key) c++;
        if (last.key <= s->heap[c].key) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

/* Parts are named by their start byte; next[i] is where the part after i starts (n
 * at the end), prev[i] the part before (UINT32_MAX at the start). A part's pair entry
 * is current only while its version matches. */
static void encode_heap(const BpeRanks *r, BpeScratch *s, const uint8_t *p, size_t n, IdVec *out)
{
    uint32_t *next = s->next, *prev = s->prev, *ver = s->version;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)i + 1;
        prev[i] = i ? (uint32_t)i - 1 : UINT32_MAX;
        ver[i] = 0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t rk = bpe_rank(r, p + i, 2);
        if (rk != BPE_NO_RANK) heap_push(s, &hn, (HeapEntry){ (uint64_t)rk << 32 | i, 0 });
    }
    while (hn > 0) {
        HeapEntry e = heap_pop(s, &hn);
        uint32_t i = (uint32_t)e.key;
        if (e.version != ver[i]) continue;          /* stale: the part or its neighbour changed */
        uint32_t j = next[i];                       /* merge part j into part i */
        uint32_t k = next[j];
        next[i] = k;
        if (k < n) prev[k] = i;
        ver[j] = UINT32_MAX;                         /* j is gone: its entries never match again */
        ver[i]++;
        if (k < n) {
            uint32_t rk = bpe_rank(r, p + i, next[k] - i);
            if (rk != BPE_NO_RANK) heap_push(s, &hn, (HeapEntry){ (uint64_t)rk << 32 | i, ver[i] });
        }
        uint32_t h = prev[i];
        if (h != UINT32_MAX) {
            ver[h]++;
            uint32_t rk = bpe_rank(r, p + h, k - h);
            if (rk != BPE_NO_RANK) heap_push(s, &hn, (HeapEntry){ (uint64_t)rk << 32 | h, ver[h] });
        }
    }
    for (size_t i = 0; i < n; i = next[i]) idvec_push(out, bpe_rank(r, p + i, next[i] - i));
}

void bpe_encode(const BpeRanks *r, BpeScratch *s, const uint8_t *piece, size_t n, IdVec *out)
{
    uint32_t whole = bpe_rank(r, piece, n);
    if (whole != BPE_NO_RANK) { idvec_push(out, whole); return; }
    bpe_encode_merges(r, s, piece, n, out);
}

void bpe_encode_merges(const BpeRanks *r, BpeScratch *s, const uint8_t *piece, size_t n, IdVec *out)
{
    scratch_grow(s, n);
    if (n <= BPE_SCAN_MAX) encode_scan(r, s, piece, n, out);
    else encode_heap(r, s, piece, n, out);
}
