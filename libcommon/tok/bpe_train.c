/* bpe_train.c: see bpe_train.h for the algorithm. */
#include "tok/bpe_train.h"
#include "base/error.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Piece counts: distinct byte strings -> occurrences ---------------------------- */

typedef struct {
    uint64_t hash, off, count; /* count 0: empty slot */
    uint32_t len;
} PieceSlot;

typedef struct {
    uint8_t *arena;
    size_t arena_len, arena_cap;
    PieceSlot *slots;
    size_t cap, n;
} PieceMap;

static void piecemap_init(PieceMap *m)
{
    memset(m, 0, sizeof *m);
    m->cap = 1 << 12;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
}

static void piecemap_free(PieceMap *m)
{
    free(m->arena);
    free(m->slots);
}

static void piecemap_grow(PieceMap *m)
{
    size_t cap = m->cap * 2;
    PieceSlot *s = xcalloc(cap, sizeof *s);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].count) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].count) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

static void piecemap_add(PieceMap *m, const uint8_t *p, size_t n, uint64_t hash, uint64_t count)
{
    size_t i = hash & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        PieceSlot *s = &m->slots[i];
        if (!s->count) break;
        if (s->hash == hash && s->len == n && memcmp(m->arena + s->off, p, n) == 0) { s->count += count; return; }
    }
    if (m->arena_len + n > m->arena_cap) {
        while (m->arena_len + n > m->arena_cap) m->arena_cap = m->arena_cap ? 2 * m->arena_cap : 1 << 16;
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, p, n);
    m->slots[i] = (PieceSlot){ hash, m->arena_len, count, (uint32_t)n };
    m->arena_len += n;
    if (++m->n * 2 > m->cap) piecemap_grow(m);
}

/* Trainer ------------------------------------------------------------------------ */

struct BpeTrainer {
    BpeTrainOptions opt;
    char **special;
    uint32_t n_special;
    Pretokenizer *pre;
    PieceMap pieces;
    uint64_t bytes;
};

BpeTrainer *bpe_train_new(const BpeTrainOptions *opt)
{
    BpeTrainer *tr = xcalloc(1, sizeof *tr);
    tr->opt = *opt;
    tr->n_special = 1 + opt->n_extra_special;
    tr->special = xcalloc(tr->n_special, sizeof *tr->special);
    tr->special[0] = xstrdup(TOKENIZER_EOT_TEXT);
    for (uint32_t i = 0; i < opt->n_extra_special; i++) {
        if (!opt->extra_special[i][0]) die("special token %u is empty", i + 1);
        for (uint32_t j = 0; j <= i; j++)
            if (strcmp(tr->special[j], opt->extra_special[i]) == 0) die("special token %s given twice", opt->extra_special[i]);
        tr->special[i + 1] = xstrdup(opt->extra_special[i]);
    }
    if ((uint64_t)opt->vocab_size < 256ull + tr->n_special)
        die("vocabulary size %u is too small: 256 byte tokens and %u special token(s) need %u", opt->vocab_size,
            tr->n_special, 256 + tr->n_special);
    char err[300];
    tr->pre = pretok_new(pretok_pattern_text(opt->pattern), err, sizeof err);
    if (!tr->pre) die("split pattern %s: %s", pretok_kind_name(opt->pattern), err);
    piecemap_init(&tr->pieces);
    return tr;
}

uint64_t bpe_train_bytes(const BpeTrainer *tr) { return tr->bytes; }
uint64_t bpe_train_distinct_pieces(const BpeTrainer *tr) { return tr->pieces.n; }

void bpe_train_add(BpeTrainer *tr, const TextSpan *docs, size_t n_docs, int n_threads)
{
    if (n_threads < 1) n_threads = 1;
    PieceMap *local = xcalloc((size_t)n_threads, sizeof *local);
    for (int k = 0; k < n_threads; k++) piecemap_init(&local[k]);
#pragma omp parallel num_threads(n_threads)
    {
        PieceMap *m = &local[omp_get_thread_num()];
        PretokScratch *s = pretok_scratch_new(tr->pre);
#pragma omp for schedule(dynamic, 1)
        for (size_t d = 0; d < n_docs; d++) {
            const uint8_t *t = docs[d].text;
            size_t len = docs[d].len, pos = 0;
            while (pos < len) {
                size_t end = pretok_next(tr->pre, s, t, len, pos);
                if (end - pos > UINT32_MAX) die("a single pre-token of %zu bytes is too long to train on", end - pos);
                piecemap_add(m, t + pos, end - pos, XXH3_64bits(t + pos, end - pos), 1);
                pos = end;
            }
        }
        pretok_scratch_free(s);
    }
    /* Sums do not depend on which thread counted what. */
    for (int k = 0; k < n_threads; k++) {
        PieceMap *m = &local[k];
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].count)
                piecemap_add(&tr->pieces, m->arena + m->slots[i].off, m->slots[i].len, m->slots[i].hash, m->slots[i].count);
        piecemap_free(m);
    }
    free(local);
    for (size_t d = 0; d < n_docs; d++) tr->bytes += docs[d].len;
}

/* Merging ----------------------------------------------------------------------- */

typedef struct {
    uint64_t key;    /* left << 32 | right; 0 with count 0 = empty */
    int64_t count;
    uint32_t *where; /* words the pair occurs in (may repeat, may be stale) */
    uint32_t n_where, cap_where;
    uint32_t pushed_step; /* last merge step at which a heap entry was pushed */
    int used;
} Pair;

typedef struct {
    Pair *slots;
    size_t cap, n;
} PairMap;

static inline uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t)a << 32 | b; }
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static Pair *pair_get(PairMap *m, uint64_t key)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        Pair *s = xcalloc(cap, sizeof *s);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].used) continue;
            size_t j = mix64(m->slots[i].key) & (cap - 1);
            while (s[j].used) j = (j + 1) & (cap - 1);
            s[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    size_t i = mix64(key) & (m->cap - 1);
    while (m->slots[i].used && m->slots[i].key != key) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].used) {
        m->slots[i].used = 1;
        m->slots[i].key = key;
        m->n++;
    }
    return &m->slots[i];
}

static Pair *pair_find(PairMap *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t i = mix64(key) & (m->cap - 1);
    while (m->slots[i].used && m->slots[i].key != key) i = (i + 1) & (m->cap - 1);
    return m->slots[i].used ? &m->slots[i] : NULL;
}

static void pair_note_word(Pair *p, uint32_t w)
{
    if (p->n_where && p->where[p->n_where - 1] == w) return;
    if (p->n_where == p->cap_where) {
        p->cap_where = p->cap_where ? 2 * p->cap_where : 4;
        p->where = xrealloc(p->where, p->cap_where * sizeof *p->where);
    }
    p->where[p->n_where++] = w;
}

typedef struct {
    int64_t count;
    uint64_t key;
} HeapItem;

/* Max by count, then min by key (smaller left id, then smaller right id). */
static inline int heap_before(HeapItem x, HeapItem y) { return x.count > y.count || (x.count == y.count && x.key < y.key); }

typedef struct {
    HeapItem *v;
    size_t n, cap;
} Heap;

static void heap_push(Heap *h, HeapItem it)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 1 << 12;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0 && heap_before(it, h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = it;
}

static HeapItem heap_pop(Heap *h)
{
    HeapItem top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && heap_before(h->v[c + 1], h->v[c])) c++;
        if (!heap_before(h->v[c], last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* Token bytes -> id, to notice a merge that recreates an existing token. */
typedef struct {
    uint8_t *blob;
    uint64_t *off;
    uint32_t n, cap_off;
    size_t cap_blob;
    uint32_t *slots; /* id + 1; 0 empty */
    size_t cap;
} Vocab;

static uint32_t vocab_find(const Vocab *v, const uint8_t *p, size_t n, size_t *slot)
{
    size_t i = XXH3_64bits(p, n) & (v->cap - 1);
    for (;; i = (i + 1) & (v->cap - 1)) {
        uint32_t id = v->slots[i];
        if (!id) { *slot = i; return UINT32_MAX; }
        id--;
        if (v->off[id + 1] - v->off[id] == n && memcmp(v->blob + v->off[id], p, n) == 0) return id;
    }
}

static void vocab_add(Vocab *v, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (v->n + 2 > v->cap_off) {
        v->cap_off = v->cap_off ? 2 * v->cap_off : 1024;
        v->off = xrealloc(v->off, v->cap_off * sizeof *v->off);
    }
    if (v->n == 0) v->off[0] = 0;
    uint64_t at = v->off[v->n];
    while (at + na + nb > v->cap_blob) {
        v->cap_blob = v->cap_blob ? 2 * v->cap_blob : 1 << 16;
        v->blob = xrealloc(v->blob, v->cap_blob);
    }
    memcpy(v->blob + at, a, na);
    if (nb) memcpy(v->blob + at + na, b, nb);
    v->off[v->n + 1] = at + na + nb;
    size_t slot;
    vocab_find(v, v->blob + at, na + nb, &slot);
    v->slots[slot] = v->n + 1;
    v->n++;
}

static int cmp_piece(const void *x, const void *y, void *map)
{
    const PieceSlot *a = *(const PieceSlot *const *)x, *b = *(const PieceSlot *const *)y;
    const uint8_t *arena = ((const PieceMap *)map)->arena;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(arena + a->off, arena + b->off, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

Tokenizer *bpe_train_finish(BpeTrainer *tr, uint32_t *n_merges_out)
{
    uint32_t target = tr->opt.vocab_size - tr->n_special; /* mergeable tokens wanted */
    /* Words: the distinct pieces in byte order, so ids do not depend on hashing. */
    size_t n_words = tr->pieces.n;
    const PieceSlot **order = xmalloc((n_words ? n_words : 1) * sizeof *order);
    size_t k = 0, total_syms = 0;
    for (size_t i = 0; i < tr->pieces.cap; i++)
        if (tr->pieces.slots[i].count) { order[k++] = &tr->pieces.slots[i]; total_syms += tr->pieces.slots[i].len; }
    qsort_r(order, n_words, sizeof *order, cmp_piece, &tr->pieces);
    if (n_words > UINT32_MAX - 1) die("too many distinct pieces (%zu) to train on", n_words);
    uint32_t *sym = xmalloc((total_syms ? total_syms : 1) * sizeof *sym);
    uint64_t *wstart = xmalloc((n_words ? n_words : 1) * sizeof *wstart);
    uint32_t *wlen = xmalloc((n_words ? n_words : 1) * sizeof *wlen);
    int64_t *wcount = xmalloc((n_words ? n_words : 1) * sizeof *wcount);
    uint32_t *wstep = xcalloc(n_words ? n_words : 1, sizeof *wstep);
    size_t at = 0;
    for (size_t w = 0; w < n_words; w++) {
        wstart[w] = at;
        wlen[w] = order[w]->len;
        wcount[w] = (int64_t)order[w]->count;
        for (uint32_t i = 0; i < order[w]->len; i++) sym[at++] = tr->pieces.arena[order[w]->off + i];
    }
    free(order);
    piecemap_free(&tr->pieces);

    Vocab v = { 0 };
    v.cap = 1024;
    while (v.cap < 4ull * target) v.cap *= 2;
    v.slots = xcalloc(v.cap, sizeof *v.slots);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        vocab_add(&v, &byte, 1, NULL, 0);
    }

    PairMap pm = { 0 };
    for (uint32_t w = 0; w < n_words; w++)
        for (uint32_t i = 0; i + 1 < wlen[w]; i++) {
            Pair *p = pair_get(&pm, pair_key(sym[wstart[w] + i], sym[wstart[w] + i + 1]));
            p->count += wcount[w];
            pair_note_word(p, w);
        }
    Heap heap = { 0 };
    for (size_t i = 0; i < pm.cap; i++)
        if (pm.slots[i].used && pm.slots[i].count > 0) heap_push(&heap, (HeapItem){ pm.slots[i].count, pm.slots[i].key });

    uint32_t merges = 0, step = 0;
    uint64_t *touched = NULL;
    size_t n_touched = 0, cap_touched = 0;
    while (v.n < target && heap.n > 0) {
        HeapItem top = heap_pop(&heap);
        Pair *p = pair_find(&pm, top.key);
        if (!p || p->count <= 0) continue;
        if (p->count != top.count) { /* stale entry: put it back with its real count */
            heap_push(&heap, (HeapItem){ p->count, top.key });
            continue;
        }
        step++;
        uint32_t a = (uint32_t)(top.key >> 32), b = (uint32_t)top.key;
        size_t slot;
        uint32_t c;
        {
            size_t na = v.off[a + 1] - v.off[a], nb = v.off[b + 1] - v.off[b];
            uint8_t *tmp = xmalloc(na + nb);
            memcpy(tmp, v.blob + v.off[a], na);
            memcpy(tmp + na, v.blob + v.off[b], nb);
            c = vocab_find(&v, tmp, na + nb, &slot);
            if (c == UINT32_MAX) {
                c = v.n;
                vocab_add(&v, tmp, na, tmp + na, nb);
            }
            free(tmp);
        }
        merges++;
        /* The word list is taken out of the pair first: rewriting words changes the map. */
        uint32_t *where = p->where, n_where = p->n_where;
        p->where = NULL;
        p->n_where = p->cap_where = 0;
        n_touched = 0;
        for (uint32_t wi = 0; wi < n_where; wi++) {
            uint32_t w = where[wi];
            if (wstep[w] == step) continue; /* listed twice */
            wstep[w] = step;
            uint32_t *s = sym + wstart[w], L = wlen[w];
            int has = 0;
            for (uint32_t i = 0; i + 1 < L && !has; i++) has = s[i] == a && s[i + 1] == b;
            if (!has) continue; /* stale: an earlier merge took the pair apart */
            for (uint32_t i = 0; i + 1 < L; i++) pair_get(&pm, pair_key(s[i], s[i + 1]))->count -= wcount[w];
            uint32_t j = 0;
            for (uint32_t i = 0; i < L;) {
                if (i + 1 < L && s[i] == a && s[i + 1] == b) { s[j++] = c; i += 2; }
                else s[j++] = s[i++];
            }
            wlen[w] = L = j;
            for (uint32_t i = 0; i + 1 < L; i++) {
                uint64_t key = pair_key(s[i], s[i + 1]);
                Pair *q = pair_get(&pm, key);
                q->count += wcount[w];
                pair_note_word(q, w);
                /* Only pairs with the new id can have grown; they get a fresh heap entry. */
                if ((s[i] == c || s[i + 1] == c) && q->pushed_step != step) {
                    q->pushed_step = step;
                    if (n_touched == cap_touched) {
                        cap_touched = cap_touched ? 2 * cap_touched : 1024;
                        touched = xrealloc(touched, cap_touched * sizeof *touched);
                    }
                    touched[n_touched++] = key;
                }
            }
        }
        free(where);
        for (size_t i = 0; i < n_touched; i++) {
            Pair *q = pair_find(&pm, touched[i]);
            if (q && q->count > 0) heap_push(&heap, (HeapItem){ q->count, touched[i] });
        }
    }
    free(touched);
    for (size_t i = 0; i < pm.cap; i++) free(pm.slots[i].where);
    free(pm.slots);
    free(heap.v);
    free(sym);
    free(wstart);
    free(wlen);
    free(wcount);
    free(wstep);
    free(v.slots);
    *n_merges_out = merges;

    SpecialToken *sp = xcalloc(tr->n_special, sizeof *sp);
    for (uint32_t i = 0; i < tr->n_special; i++) {
        sp[i].text = tr->special[i];
        sp[i].len = strlen(tr->special[i]);
        sp[i].id = v.n + i;
    }
    free(tr->special);
    uint32_t bad;
    char err[300];
    Tokenizer *t = tokenizer_build(v.blob, v.off, v.n, sp, tr->n_special, tr->opt.pattern, NULL, &bad, err, sizeof err);
    if (!t) die("internal error: trained vocabulary is invalid: %s", err);
    pretok_free(tr->pre);
    free(tr);
    return t;
}
