/* tokenizer.c: see tokenizer.h. Building a tokenizer from its parts, the identity
 * hash, encoding (one document, or many on several threads) and decoding. */
#include "tokenizer.h"
#include "error.h"
#include "hash.h"
#include "tokstream.h"

#include <omp.h>
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

/* Where the next special token starts at or after pos (len when none), and which. */
static size_t next_special(const Tokenizer *t, const uint8_t *text, size_t len, size_t pos, const SpecialToken **which)
{
    *which = NULL;
    if (t->n_special == 0) return len;
    for (; pos < len; pos++) {
        /* Cheap filter on the first byte before comparing whole strings. */
        bool maybe = false;
        for (uint32_t i = 0; i < t->n_special && !maybe; i++) maybe = (uint8_t)t->special[i].text[0] == text[pos];
        if (maybe && (*which = special_at(t, text, len, pos))) return pos;
    }
    return len;
}

void tok_encode(const Tokenizer *t, TokEncoder *e, const uint8_t *text, size_t len, bool allow_special, IdVec *out)
{
    size_t pos = 0;
    while (pos < len) {
        const SpecialToken *s = NULL;
        size_t seg_end = allow_special ? next_special(t, text, len, pos, &s) : len;
        /* The text between special tokens is its own regex subject, as in tiktoken. */
        tok_encode_pieces(t, e, text + pos, seg_end - pos, 0, seg_end - pos, out);
        pos = seg_end;
        if (s) {
            idvec_push(out, s->id);
            pos += s->len;
        }
    }
}

/* Batch encoding with exact splits -------------------------------------------
 *
 * A long text segment is cut into parts at nominal offsets (moved to just after a
 * newline). Each part is encoded from its start until a piece ends at or beyond the
 * next part's start. Its start need not be a piece boundary of the whole segment, so
 * the stitch walks on from where the previous part ended, one true piece at a time,
 * until it lands on a piece boundary that the part also produced: from there on the
 * two agree (the piece at a position depends only on the subject and that position),
 * so the rest of the part's ids are taken as they are. The first PART_MARKS
 * boundaries of each part are recorded for this; a part not met within them is
 * re-encoded from the walk position, which is still exact, only slower. */

#define SPLIT_MIN_BYTES (512u << 10)
#define PART_BYTES (256u << 10)
#define PART_MARKS 64

typedef struct {
    size_t from, to;         /* region within the segment */
    size_t end;              /* where the part's last piece ended (>= to) */
    IdVec ids;
    size_t n_marks;
    size_t *mark_pos, *mark_ids; /* NULL for the first part of a segment */
    bool marks_truncated;
    /* Set by the stitch: the true ids from the end of the previous part up to where
     * this one is taken over (bridge), the first of this part's ids that are kept,
     * and where in the document's output the bridge goes. */
    IdVec bridge;
    size_t keep_from;
    size_t out_at;
} Part;

typedef struct {
    size_t start, len;       /* in the document */
    int64_t special_id;      /* >= 0: this segment is that special token */
    size_t first_part, n_parts;
} Segment;

typedef struct {
    size_t first_seg, n_segs;
} DocSegs;

static void encode_part(const Tokenizer *t, TokEncoder *e, const uint8_t *seg, size_t seg_len, Part *p)
{
    p->ids.n = 0;
    size_t pos = p->from;
    while (pos < seg_len && pos < p->to) {
        if (p->mark_pos) {
            if (p->n_marks < PART_MARKS) {
                p->mark_pos[p->n_marks] = pos;
                p->mark_ids[p->n_marks] = p->ids.n;
                p->n_marks++;
            } else p->marks_truncated = true;
        }
        pos = tok_encode_pieces(t, e, seg, seg_len, pos, pos + 1, &p->ids);
    }
    p->end = pos;
}

/* Decide how the parts of one segment join (see the comment above): for each part,
 * the bridge of true ids before it and the first of its own ids to keep. */
static void stitch_segment(const Tokenizer *t, TokEncoder *e, const uint8_t *seg, size_t seg_len, Part *parts,
                           size_t n_parts)
{
    parts[0].bridge.n = 0;
    parts[0].keep_from = 0;
    size_t cur = parts[0].end;
    for (size_t j = 1; j < n_parts; j++) {
        Part *p = &parts[j];
        p->bridge.n = 0;
        p->keep_from = p->ids.n; /* nothing, unless the walk meets one of its boundaries */
        size_t mi = 0;
        while (cur < p->end) {
            while (mi < p->n_marks && p->mark_pos[mi] < cur) mi++;
            if (mi < p->n_marks && p->mark_pos[mi] == cur) {
                p->keep_from = p->mark_ids[mi];
                cur = p->end;
                break;
            }
            if (mi == p->n_marks) { /* past every recorded boundary: re-encode the part */
                cur = tok_encode_pieces(t, e, seg, seg_len, cur, p->end, &p->bridge);
                break;
            }
            cur = tok_encode_pieces(t, e, seg, seg_len, cur, cur + 1, &p->bridge); /* one true piece */
        }
    }
}

/* Nominal part starts moved to just after a newline (or at least off a UTF-8
 * continuation byte), so they usually fall on a piece boundary at once. Any start
 * would give the same ids; these only make the stitch short. */
static size_t part_start(const uint8_t *seg, size_t len, size_t nominal)
{
    size_t limit = nominal + 4096 < len ? nominal + 4096 : len;
    for (size_t q = nominal; q < limit; q++)
        if (seg[q] == '\n') return q + 1;
    size_t q = nominal;
    while (q < len && (seg[q] & 0xC0) == 0x80) q++;
    return q;
}

void tok_encode_batch(const Tokenizer *t, TokEncoder **encs, int n_threads, const TextSpan *docs, size_t n_docs,
                      bool allow_special, int64_t append_id, IdVec *outs)
{
    if (n_threads < 1) n_threads = 1;
    /* 1. Segments: text between special tokens, and the special tokens. */
    DocSegs *ds = xcalloc(n_docs ? n_docs : 1, sizeof *ds);
    Segment *segs = NULL;
    size_t n_segs = 0, cap_segs = 0, n_parts = 0;
    for (size_t d = 0; d < n_docs; d++) {
        ds[d].first_seg = n_segs;
        size_t pos = 0, len = docs[d].len;
        while (pos < len) {
            const SpecialToken *s = NULL;
            size_t seg_end = allow_special ? next_special(t, docs[d].text, len, pos, &s) : len;
            if (n_segs + 2 > cap_segs) {
                cap_segs = cap_segs ? 2 * cap_segs : 1024;
                segs = xrealloc(segs, cap_segs * sizeof *segs);
            }
            if (seg_end > pos) {
                size_t seg_len = seg_end - pos;
                size_t parts = seg_len > SPLIT_MIN_BYTES ? (seg_len + PART_BYTES - 1) / PART_BYTES : 1;
                segs[n_segs++] = (Segment){ pos, seg_len, -1, n_parts, parts };
                n_parts += parts;
            }
            if (s) segs[n_segs++] = (Segment){ seg_end, s->len, s->id, n_parts, 0 };
            pos = seg_end + (s ? s->len : 0);
        }
        ds[d].n_segs = n_segs - ds[d].first_seg;
    }
    /* 2. Parts of each text segment. */
    Part *parts = xcalloc(n_parts ? n_parts : 1, sizeof *parts);
    size_t *part_seg = xmalloc((n_parts ? n_parts : 1) * sizeof *part_seg);
    for (size_t d = 0; d < n_docs; d++) {
        for (size_t si = ds[d].first_seg; si < ds[d].first_seg + ds[d].n_segs; si++) {
            Segment *sg = &segs[si];
            if (sg->special_id >= 0) continue;
            const uint8_t *seg = docs[d].text + sg->start;
            size_t used = 0, prev_from = 0;
            for (size_t j = 0; j < sg->n_parts; j++) {
                size_t from = j == 0 ? 0 : part_start(seg, sg->len, j * PART_BYTES);
                if (j > 0 && (from <= prev_from || from >= sg->len)) continue; /* no room for this part */
                Part *p = &parts[sg->first_part + used];
                p->from = from;
                if (j > 0) {
                    p->mark_pos = xmalloc(PART_MARKS * sizeof *p->mark_pos);
                    p->mark_ids = xmalloc(PART_MARKS * sizeof *p->mark_ids);
                }
                part_seg[sg->first_part + used] = si;
                prev_from = from;
                used++;
            }
            for (size_t j = 0; j < used; j++)
                parts[sg->first_part + j].to = j + 1 < used ? parts[sg->first_part + j + 1].from : sg->len;
            /* Parts dropped above stay empty (from == to == 0) and are skipped. */
            for (size_t j = used; j < sg->n_parts; j++) part_seg[sg->first_part + j] = SIZE_MAX;
            sg->n_parts = used;
        }
    }
    /* 3. Encode every part. */
    size_t *seg_doc = xmalloc((n_segs ? n_segs : 1) * sizeof *seg_doc);
    for (size_t d = 0; d < n_docs; d++)
        for (size_t si = ds[d].first_seg; si < ds[d].first_seg + ds[d].n_segs; si++) seg_doc[si] = d;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (size_t i = 0; i < n_parts; i++) {
        if (part_seg[i] == SIZE_MAX) continue;
        const Segment *sg = &segs[part_seg[i]];
        encode_part(t, encs[omp_get_thread_num()], docs[seg_doc[part_seg[i]]].text + sg->start, sg->len, &parts[i]);
    }
    /* 4. Stitch each document's parts, size its output, place its special tokens. */
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads)
    for (size_t d = 0; d < n_docs; d++) {
        TokEncoder *e = encs[omp_get_thread_num()];
        size_t total = 0;
        for (size_t si = ds[d].first_seg; si < ds[d].first_seg + ds[d].n_segs; si++) {
            const Segment *sg = &segs[si];
            if (sg->special_id >= 0) { total++; continue; }
            Part *ps = &parts[sg->first_part];
            stitch_segment(t, e, docs[d].text + sg->start, sg->len, ps, sg->n_parts);
            for (size_t j = 0; j < sg->n_parts; j++) {
                ps[j].out_at = total;
                total += ps[j].bridge.n + ps[j].ids.n - ps[j].keep_from;
            }
        }
        if (append_id >= 0) total++;
        IdVec *out = &outs[d];
        out->n = 0;
        idvec_reserve(out, total);
        out->n = total;
        size_t at = 0;
        for (size_t si = ds[d].first_seg; si < ds[d].first_seg + ds[d].n_segs; si++) {
            const Segment *sg = &segs[si];
            if (sg->special_id >= 0) { out->v[at++] = (uint32_t)sg->special_id; continue; }
            for (size_t j = 0; j < sg->n_parts; j++) {
                const Part *p = &parts[sg->first_part + j];
                at += p->bridge.n + p->ids.n - p->keep_from;
            }
        }
        if (append_id >= 0) out->v[total - 1] = (uint32_t)append_id;
    }
    /* 5. Copy the kept ids into place, part by part on every thread: for one long
     * document this copy is as parallel as the encoding. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (size_t i = 0; i < n_parts; i++) {
        if (part_seg[i] == SIZE_MAX) continue;
        const Part *p = &parts[i];
        uint32_t *dst = outs[seg_doc[part_seg[i]]].v + p->out_at;
        if (p->bridge.n) memcpy(dst, p->bridge.v, p->bridge.n * sizeof *dst);
        if (p->ids.n > p->keep_from) memcpy(dst + p->bridge.n, p->ids.v + p->keep_from, (p->ids.n - p->keep_from) * sizeof *dst);
    }
    for (size_t i = 0; i < n_parts; i++) {
        idvec_free(&parts[i].ids);
        idvec_free(&parts[i].bridge);
        free(parts[i].mark_pos);
        free(parts[i].mark_ids);
    }
    free(parts);
    free(part_seg);
    free(seg_doc);
    free(segs);
    free(ds);
}
