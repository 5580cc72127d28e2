/* text_input_batch.c: documents in batches, read ahead on a thread of its own.
 *
 * A ring of batch slots: the reader thread fills them in turn while the caller
 * works on the ones it holds. The reader reads, decompresses and cuts JSONL into
 * lines; a batch's JSON lines are decoded by whoever takes the batch (the first
 * text_batches_docs_of), so with several threads taking batches the decoding runs
 * in parallel rather than on the one reader thread. A fatal input error ends the
 * process through die() on whichever thread finds it, naming file and line. */
#include "tok/text_input.h"
#include "base/clock.h"
#include "base/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BIG_DOC (1u << 20)
#define MAX_DOCS 65536

typedef struct {
    uint8_t *arena;      /* the batch's bytes as read, documents back to back */
    size_t arena_len, arena_cap;
    TextDocBuf big;      /* or one large document's own buffer (big.p not NULL) */
    TextSpan *docs;
    size_t *offs;
    uint64_t *json_line; /* per document: its JSON line number, 0 when not a JSON line */
    int *src;            /* per document: where it came from, an index into srcs */
    size_t n, cap;
    char **srcs;         /* "path" or "path:member", for messages */
    int n_srcs, srcs_cap;
    bool decoded;        /* JSON lines turned into their text (docs final) */
    char *dec;           /* decoded text */
    size_t dec_cap;
    int state;           /* SLOT_FREE, SLOT_FILLED or SLOT_HELD (with the caller) */
} Slot;

enum { SLOT_FREE, SLOT_FILLED, SLOT_HELD };

struct TextBatches {
    char *const *paths;
    int n_paths;
    TextInputOptions opt;
    size_t batch_bytes;
    Slot *slot;
    int n_slots;
    int fill, take;      /* next slot the reader fills / the caller takes */
    int held;            /* for text_batches_next: the slot it handed out, or -1 */
    int done;            /* the reader published its last batch */
    uint64_t docs, skipped; /* good documents and skipped lines, counted as decoded */
    double busy;         /* reader's seconds of work */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void slot_add(Slot *s, const uint8_t *text, size_t len, uint64_t json_line, int src)
{
    if (s->arena_len + len > s->arena_cap) {
        while (s->arena_len + len > s->arena_cap) s->arena_cap = s->arena_cap ? 2 * s->arena_cap : 1 << 20;
        s->arena = xrealloc(s->arena, s->arena_cap);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->docs = xrealloc(s->docs, s->cap * sizeof *s->docs);
        s->offs = xrealloc(s->offs, s->cap * sizeof *s->offs);
        s->json_line = xrealloc(s->json_line, s->cap * sizeof *s->json_line);
        s->src = xrealloc(s->src, s->cap * sizeof *s->src);
    }
    if (len) memcpy(s->arena + s->arena_len, text, len);
    s->offs[s->n] = s->arena_len;
    s->docs[s->n].len = len;
    s->json_line[s->n] = json_line;
    s->src[s->n] = src;
    s->n++;
    s->arena_len += len;
}

/* The index of `where` among the slot's sources (added when it is new). */
static int slot_source(Slot *s, const char *where)
{
    if (s->n_srcs && strcmp(s->srcs[s->n_srcs - 1], where) == 0) return s->n_srcs - 1;
    if (s->n_srcs == s->srcs_cap) {
        s->srcs_cap = s->srcs_cap ? 2 * s->srcs_cap : 4;
        s->srcs = xrealloc(s->srcs, (size_t)s->srcs_cap * sizeof *s->srcs);
    }
    s->srcs[s->n_srcs] = xstrdup(where);
    return s->n_srcs++;
}

/* Wait for the slot the reader fills next to be free, and empty it. The wait is
 * not work: it is taken off the reader's busy time (*waited). */
static Slot *reader_slot(TextBatches *b, double *waited)
{
    double t0 = monotonic_s();
    pthread_mutex_lock(&b->mu);
    while (b->slot[b->fill].state != SLOT_FREE) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    *waited += monotonic_s() - t0;
    Slot *s = &b->slot[b->fill];
    text_doc_free(&s->big);
    s->n = s->arena_len = 0;
    for (int i = 0; i < s->n_srcs; i++) free(s->srcs[i]);
    s->n_srcs = 0;
    s->decoded = false;
    return s;
}

static void publish(TextBatches *b, Slot *s)
{
    /* Spans point into the arena only once it stops moving. */
    if (!s->big.p)
        for (size_t i = 0; i < s->n; i++) s->docs[i].text = s->arena + s->offs[i];
    pthread_mutex_lock(&b->mu);
    s->state = SLOT_FILLED;
    b->fill = (b->fill + 1) % b->n_slots;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *reader_main(void *arg)
{
    TextBatches *b = arg;
    static char *const stdin_only[] = { "-" };
    char *const *paths = b->n_paths ? b->paths : stdin_only;
    int n_paths = b->n_paths ? b->n_paths : 1;
    double t0 = monotonic_s(), waited = 0;
    Slot *s = reader_slot(b, &waited);
    for (int i = 0; i < n_paths; i++) {
        TextInput *in = text_input_open(paths[i], &b->opt);
        const uint8_t *text;
        size_t len;
        uint64_t line;
        uint64_t serial = UINT64_MAX;
        char where[4200];
        int src = -1;
        while (text_input_next(in, &text, &len, &line)) {
            if (text_input_source_serial(in) != serial || src < 0) { /* a new file or member */
                serial = text_input_source_serial(in);
                text_input_where(in, where, sizeof where);
                src = -1;
            }
            if (len >= BIG_DOC && !line) { /* a document as large as a batch: no copy */
                if (s->n) { publish(b, s); s = reader_slot(b, &waited); }
                slot_add(s, NULL, 0, 0, slot_source(s, where)); /* one span, pointing at the document's own buffer */
                s->docs[0] = (TextSpan){ text, len };
                s->big = text_input_take_doc(in);
                publish(b, s);
                s = reader_slot(b, &waited);
                src = -1;
                continue;
            }
            if (src < 0) src = slot_source(s, where);
            slot_add(s, text, len, line, src);
            if (s->arena_len >= b->batch_bytes || s->n >= MAX_DOCS) {
                publish(b, s);
                s = reader_slot(b, &waited);
                src = -1; /* the new slot has its own list of sources */
            }
        }
        text_input_close(in);
    }
    if (s->n) publish(b, s);
    pthread_mutex_lock(&b->mu);
    b->busy = monotonic_s() - t0 - waited;
    b->done = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Decode the slot's JSON lines (on the calling thread) and drop the bad ones under
 * skip_bad; then count. */
static void decode_slot(TextBatches *b, Slot *s)
{
    if (s->decoded) return;
    size_t dec_len = 0, kept = 0;
    uint64_t skipped = 0;
    char err[256];
    for (size_t i = 0; i < s->n; i++) {
        if (!s->json_line[i]) { /* plain text: as it is */
            s->docs[kept] = s->docs[i];
            s->json_line[kept] = 0;
            kept++;
            continue;
        }
        long n = jsonl_extract_at((const char *)s->docs[i].text, s->docs[i].len, b->opt.field ? b->opt.field : "text",
                                  &s->dec, &s->dec_cap, dec_len, err, sizeof err);
        if (n < 0) {
            const char *w = s->srcs[s->src[i]];
            if (!b->opt.skip_bad) die("%s:%llu: %s (or use --skip-bad)", w, (unsigned long long)s->json_line[i], err);
            info(NMOE_VERBOSE, "%s: %s:%llu: skipped: %s\n", nmoe_prog(), w, (unsigned long long)s->json_line[i], err);
            skipped++;
            continue;
        }
        s->offs[kept] = dec_len; /* offsets first: dec may still move */
        s->docs[kept].len = (size_t)n;
        s->json_line[kept] = s->json_line[i];
        kept++;
        dec_len += (size_t)n;
    }
    for (size_t i = 0; i < kept; i++)
        if (s->json_line[i]) s->docs[i].text = (const uint8_t *)s->dec + s->offs[i];
    s->n = kept;
    s->decoded = true;
    pthread_mutex_lock(&b->mu);
    b->docs += kept;
    b->skipped += skipped;
    pthread_mutex_unlock(&b->mu);
}

TextBatches *text_batches_open(char *const *paths, int n_paths, const TextInputOptions *opt, size_t batch_bytes,
                               int n_slots)
{
    TextBatches *b = xcalloc(1, sizeof *b);
    b->paths = paths;
    b->n_paths = n_paths;
    b->opt = *opt;
    b->batch_bytes = batch_bytes ? batch_bytes : 1;
    b->n_slots = n_slots < 2 ? 2 : n_slots;
    b->slot = xcalloc((size_t)b->n_slots, sizeof *b->slot);
    b->held = -1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    int rc = pthread_create(&b->thread, NULL, reader_main, b);
    if (rc != 0) die("cannot start the input reader thread: %s", strerror(rc));
    return b;
}

int text_batches_get(TextBatches *b, int *slot)
{
    pthread_mutex_lock(&b->mu);
    /* The reader fills slots in ring order, so the next batch is in slot `take`
     * once it is filled; done with it not filled means there is none. */
    while (b->slot[b->take].state != SLOT_FILLED && !b->done) pthread_cond_wait(&b->cv, &b->mu);
    int got = b->slot[b->take].state == SLOT_FILLED;
    if (got) {
        b->slot[b->take].state = SLOT_HELD;
        *slot = b->take;
        b->take = (b->take + 1) % b->n_slots;
    }
    pthread_mutex_unlock(&b->mu);
    return got;
}

void text_batches_docs_of(TextBatches *b, int slot, const TextSpan **docs, size_t *n)
{
    Slot *s = &b->slot[slot];
    decode_slot(b, s);
    *docs = s->docs;
    *n = s->n;
}

void text_batches_put(TextBatches *b, int slot)
{
    pthread_mutex_lock(&b->mu);
    b->slot[slot].state = SLOT_FREE;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

int text_batches_next(TextBatches *b, const TextSpan **docs, size_t *n)
{
    if (b->held >= 0) text_batches_put(b, b->held); /* the caller is done with the previous batch */
    b->held = -1;
    int slot;
    if (!text_batches_get(b, &slot)) return 0;
    b->held = slot;
    text_batches_docs_of(b, slot, docs, n);
    return 1;
}

uint64_t text_batches_docs(const TextBatches *b) { return b->docs; }
uint64_t text_batches_skipped(const TextBatches *b) { return b->skipped; }
double text_batches_busy(const TextBatches *b) { return b->busy; }

void text_batches_close(TextBatches *b)
{
    if (!b) return;
    /* Normally the reader has finished; if the caller stops early, let it run out. */
    const TextSpan *d;
    size_t n;
    while (text_batches_next(b, &d, &n)) {}
    pthread_join(b->thread, NULL);
    for (int i = 0; i < b->n_slots; i++) {
        Slot *s = &b->slot[i];
        free(s->arena);
        text_doc_free(&s->big);
        free(s->docs);
        free(s->offs);
        free(s->json_line);
        free(s->src);
        for (int k = 0; k < s->n_srcs; k++) free(s->srcs[k]);
        free(s->srcs);
        free(s->dec);
    }
    free(b->slot);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}
