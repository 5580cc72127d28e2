/* tokenizer_batch.c: see tokenizer_batch.h.
 *
 * Exact splits. A long text segment is cut into parts at nominal offsets (moved to
 * just after a newline). Each part is encoded from its start until a piece ends at
 * or beyond the next part's start. Its start need not be a piece boundary of the
 * whole segment, so the join walks on from where the previous part ended, one true
 * piece at a time, until it lands on a piece boundary that the part also produced:
 * from there on the two agree (the piece at a position depends only on the subject
 * and that position), so the rest of the part's ids are taken as they are. The
 * first PART_MARKS boundaries of each part are recorded for this; a part not met
 * within them is re-encoded from the walk position, which is still exact, only
 * slower. */
#include "tok/tokenizer_batch.h"
#include "base/error.h"

#include <stdlib.h>
#include <string.h>

#define SPLIT_MIN_BYTES (128u << 10) /* a segment longer than this is cut into parts */
#define PART_BYTES (64u << 10)       /* nominal part length */
#define PART_MARKS 64
#define CHUNK_BYTES (64u << 10)      /* a chunk holds parts of at least this much text */

typedef struct {
    size_t seg;              /* the segment it belongs to */
    bool first;              /* the segment's first part: it starts on a piece boundary */
    size_t from, to;         /* region within the segment */
    size_t end;              /* where the part's last piece ended (>= to) */
    IdVec ids;
    size_t n_marks;
    size_t *mark_pos, *mark_ids; /* allocated once a slot is used for a later part */
    /* Set by the join: the true ids from the end of the previous part up to where
     * this one is taken over (bridge), and the first of this part's ids kept. */
    IdVec bridge;
    size_t keep_from;
} Part;

typedef struct {
    size_t doc;
    size_t start, len;       /* in the document */
    bool special;            /* this segment is the special token `id` */
    uint32_t id;
    size_t first_part, n_parts;
} Segment;

typedef struct {
    size_t first_seg, n_segs;
    size_t first_run, n_runs, n_ids;
} DocInfo;

struct TokBatch {
    const TextSpan *docs;
    size_t n_docs;
    int64_t append_id;
    uint32_t append_value;   /* what the append run points at */
    DocInfo *doc;
    size_t doc_cap;
    Segment *seg;
    size_t n_segs, seg_cap;
    Part *part;              /* slots keep their buffers from batch to batch */
    size_t n_parts, part_cap;
    size_t *chunk_first;     /* chunk c is parts [chunk_first[c], chunk_first[c + 1]) */
    size_t n_chunks, chunk_cap;
    IdRun *run;
    size_t n_runs, run_cap;
};

#define GROW(arr, cap, need) do { \
        if ((need) > (cap)) { \
            size_t old_ = (cap); \
            (cap) = (need) > 2 * (cap) ? (need) : 2 * (cap); \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr)); \
            memset((arr) + old_, 0, ((cap) - old_) * sizeof *(arr)); \
        } \
    } while (0)

TokBatch *tok_batch_new(void) { return xcalloc(1, sizeof(TokBatch)); }

void tok_batch_free(TokBatch *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->part_cap; i++) {
        idvec_free(&b->part[i].ids);
        idvec_free(&b->part[i].bridge);
        free(b->part[i].mark_pos);
        free(b->part[i].mark_ids);
    }
    free(b->part);
    free(b->doc);
    free(b->seg);
    free(b->chunk_first);
    free(b->run);
    free(b);
}

/* Nominal part starts moved to just after a newline (or at least off a UTF-8
 * continuation byte), so they usually fall on a piece boundary at once. Any start
 * would give the same ids; these only make the join short. */
static size_t part_start(const uint8_t *seg, size_t len, size_t nominal)
{
    size_t limit = nominal + 4096 < len ? nominal + 4096 : len;
    const uint8_t *nl = memchr(seg + nominal, '\n', limit - nominal);
    if (nl) return (size_t)(nl - seg) + 1;
    size_t q = nominal;
    while (q < len && (seg[q] & 0xC0) == 0x80) q++;
    return q;
}

static void add_text_segment(TokBatch *b, size_t d, size_t start, size_t len)
{
    GROW(b->seg, b->seg_cap, b->n_segs + 1);
    size_t si = b->n_segs++;
    Segment *sg = &b->seg[si];
    *sg = (Segment){ .doc = d, .start = start, .len = len, .first_part = b->n_parts };
    const uint8_t *text = b->docs[d].text + start;
    size_t nominal = len > SPLIT_MIN_BYTES ? (len + PART_BYTES - 1) / PART_BYTES : 1;
    size_t prev_from = 0;
    for (size_t j = 0; j < nominal; j++) {
        size_t from = j == 0 ? 0 : part_start(text, len, j * PART_BYTES);
        if (j > 0 && (from <= prev_from || from >= len)) continue; /* no room for this part */
        GROW(b->part, b->part_cap, b->n_parts + 1);
        Part *p = &b->part[b->n_parts++];
        p->seg = si;
        p->first = j == 0;
        p->from = from;
        p->n_marks = 0;
        if (!p->first && !p->mark_pos) {
            p->mark_pos = xmalloc(PART_MARKS * sizeof *p->mark_pos);
            p->mark_ids = xmalloc(PART_MARKS * sizeof *p->mark_ids);
        }
        prev_from = from;
    }
    sg->n_parts = b->n_parts - sg->first_part;
    for (size_t j = 0; j < sg->n_parts; j++) {
        Part *p = &b->part[sg->first_part + j];
        p->to = j + 1 < sg->n_parts ? p[1].from : len;
    }
}

size_t tok_batch_plan(TokBatch *b, const Tokenizer *t, const TextSpan *docs, size_t n_docs, bool allow_special,
                      int64_t append_id)
{
    b->docs = docs;
    b->n_docs = n_docs;
    b->append_id = append_id;
    b->append_value = append_id >= 0 ? (uint32_t)append_id : 0;
    b->n_segs = b->n_parts = b->n_chunks = b->n_runs = 0;
    GROW(b->doc, b->doc_cap, n_docs);
    for (size_t d = 0; d < n_docs; d++) {
        b->doc[d].first_seg = b->n_segs;
        size_t pos = 0, len = docs[d].len;
        while (pos < len) {
            const SpecialToken *s = NULL;
            size_t seg_end = allow_special ? tok_next_special(t, docs[d].text, len, pos, &s) : len;
            if (seg_end > pos) add_text_segment(b, d, pos, seg_end - pos);
            if (s) {
                GROW(b->seg, b->seg_cap, b->n_segs + 1);
                b->seg[b->n_segs++] = (Segment){ .doc = d, .start = seg_end, .len = s->len, .special = true, .id = s->id };
            }
            pos = seg_end + (s ? s->len : 0);
        }
        b->doc[d].n_segs = b->n_segs - b->doc[d].first_seg;
    }
    /* Chunks: consecutive parts, at least CHUNK_BYTES of text each. */
    size_t acc = 0;
    for (size_t i = 0; i < b->n_parts; i++) {
        if (acc == 0) {
            GROW(b->chunk_first, b->chunk_cap, b->n_chunks + 2);
            b->chunk_first[b->n_chunks++] = i;
        }
        acc += b->part[i].to - b->part[i].from;
        if (acc >= CHUNK_BYTES) acc = 0;
    }
    if (b->n_chunks) b->chunk_first[b->n_chunks] = b->n_parts;
    return b->n_chunks;
}

static void encode_part(const Tokenizer *t, TokEncoder *e, const uint8_t *seg, size_t seg_len, Part *p)
{
    /* Work on copies and store them once: neighbouring Parts in the array belong to
     * other threads, and a push into p->ids on every id would bounce the cache line
     * they share between cores. */
    IdVec ids = p->ids;
    size_t n_marks = 0;
    ids.n = 0;
    size_t pos = p->from;
    /* A later part records where its first PART_MARKS pieces start (for the join),
     * one piece at a time; the rest goes in one call. */
    while (!p->first && n_marks < PART_MARKS && pos < seg_len && pos < p->to) {
        p->mark_pos[n_marks] = pos;
        p->mark_ids[n_marks] = ids.n;
        n_marks++;
        pos = tok_encode_pieces(t, e, seg, seg_len, pos, pos + 1, &ids);
    }
    if (pos < seg_len && pos < p->to) pos = tok_encode_pieces(t, e, seg, seg_len, pos, p->to, &ids);
    p->ids = ids;
    p->n_marks = n_marks;
    p->end = pos;
}

void tok_batch_encode(TokBatch *b, const Tokenizer *t, TokEncoder *e, size_t chunk)
{
    for (size_t i = b->chunk_first[chunk]; i < b->chunk_first[chunk + 1]; i++) {
        Part *p = &b->part[i];
        const Segment *sg = &b->seg[p->seg];
        encode_part(t, e, b->docs[sg->doc].text + sg->start, sg->len, p);
    }
}

/* Decide how the parts of one segment join (see the top of this file): for each
 * part, the bridge of true ids before it and the first of its own ids to keep. */
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

static void add_run(TokBatch *b, const uint32_t *ids, size_t n)
{
    if (!n) return;
    GROW(b->run, b->run_cap, b->n_runs + 1);
    b->run[b->n_runs++] = (IdRun){ ids, n };
}

void tok_batch_join(TokBatch *b, const Tokenizer *t, TokEncoder *e)
{
    for (size_t d = 0; d < b->n_docs; d++) {
        DocInfo *di = &b->doc[d];
        di->first_run = b->n_runs;
        for (size_t si = di->first_seg; si < di->first_seg + di->n_segs; si++) {
            Segment *sg = &b->seg[si];
            if (sg->special) { add_run(b, &sg->id, 1); continue; }
            Part *ps = &b->part[sg->first_part];
            stitch_segment(t, e, b->docs[d].text + sg->start, sg->len, ps, sg->n_parts);
            for (size_t j = 0; j < sg->n_parts; j++) {
                add_run(b, ps[j].bridge.v, ps[j].bridge.n);
                add_run(b, ps[j].ids.v + ps[j].keep_from, ps[j].ids.n - ps[j].keep_from);
            }
        }
        if (b->append_id >= 0) add_run(b, &b->append_value, 1);
        di->n_runs = b->n_runs - di->first_run;
        di->n_ids = 0;
        for (size_t r = di->first_run; r < b->n_runs; r++) di->n_ids += b->run[r].n;
    }
}

size_t tok_batch_docs(const TokBatch *b) { return b->n_docs; }

size_t tok_batch_doc(const TokBatch *b, size_t d, const IdRun **runs, size_t *n_runs)
{
    *runs = b->run + b->doc[d].first_run;
    *n_runs = b->doc[d].n_runs;
    return b->doc[d].n_ids;
}
