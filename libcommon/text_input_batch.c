/* text_input_batch.c: documents in batches, read ahead on a thread of its own.
 *
 * Two batch slots alternate: the reader thread fills one while the caller works
 * on the other. All the reading, decompressing and JSON parsing happen on the
 * reader thread, so with N encoding threads they cost no encoding time. A fatal
 * input error on the reader thread ends the process through die() as it would on
 * the main thread. */
#include "text_input.h"
#include "error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BIG_DOC (1u << 20)
#define MAX_DOCS 65536

typedef struct {
    uint8_t *arena;      /* the batch's text, documents back to back */
    size_t arena_len, arena_cap;
    uint8_t *big;        /* or one large document's own buffer */
    TextSpan *docs;
    size_t *offs;
    size_t n, cap;
    int state;           /* 0 free, 1 filled, 2 with the caller */
} Slot;

struct TextBatches {
    char *const *paths;
    int n_paths;
    TextInputOptions opt;
    size_t batch_bytes;
    Slot slot[2];
    int fill, take;      /* next slot the reader fills / the caller takes */
    int held;            /* slot the caller holds, or -1 */
    int done;            /* the reader published its last batch */
    uint64_t docs, skipped;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void slot_add(Slot *s, const uint8_t *text, size_t len)
{
    if (s->arena_len + len > s->arena_cap) {
        while (s->arena_len + len > s->arena_cap) s->arena_cap = s->arena_cap ? 2 * s->arena_cap : 1 << 20;
        s->arena = xrealloc(s->arena, s->arena_cap);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->docs = xrealloc(s->docs, s->cap * sizeof *s->docs);
        s->offs = xrealloc(s->offs, s->cap * sizeof *s->offs);
    }
    if (len) memcpy(s->arena + s->arena_len, text, len);
    s->offs[s->n] = s->arena_len;
    s->docs[s->n].len = len;
    s->n++;
    s->arena_len += len;
}

/* Wait for the slot the reader fills next to be free, and empty it. */
static Slot *reader_slot(TextBatches *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->slot[b->fill].state != 0) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    Slot *s = &b->slot[b->fill];
    free(s->big);
    s->big = NULL;
    s->n = s->arena_len = 0;
    return s;
}

static void publish(TextBatches *b, Slot *s)
{
    /* Spans point into the arena only once it stops moving. */
    if (!s->big)
        for (size_t i = 0; i < s->n; i++) s->docs[i].text = s->arena + s->offs[i];
    pthread_mutex_lock(&b->mu);
    s->state = 1;
    b->fill ^= 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *reader_main(void *arg)
{
    TextBatches *b = arg;
    static char *const stdin_only[] = { "-" };
    char *const *paths = b->n_paths ? b->paths : stdin_only;
    int n_paths = b->n_paths ? b->n_paths : 1;
    Slot *s = reader_slot(b);
    uint64_t docs = 0, skipped = 0;
    for (int i = 0; i < n_paths; i++) {
        TextInput *in = text_input_open(paths[i], &b->opt);
        const uint8_t *text;
        size_t len;
        while (text_input_next(in, &text, &len)) {
            docs++;
            if (len >= BIG_DOC) {
                if (s->n) { publish(b, s); s = reader_slot(b); }
                slot_add(s, NULL, 0); /* one span, pointing at the document's own buffer */
                s->docs[0] = (TextSpan){ text, len };
                s->big = text_input_take_doc(in);
                publish(b, s);
                s = reader_slot(b);
                continue;
            }
            slot_add(s, text, len);
            if (s->arena_len >= b->batch_bytes || s->n >= MAX_DOCS) { publish(b, s); s = reader_slot(b); }
        }
        skipped += text_input_skipped(in);
        text_input_close(in);
    }
    if (s->n) publish(b, s);
    pthread_mutex_lock(&b->mu);
    b->docs = docs;
    b->skipped = skipped;
    b->done = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

TextBatches *text_batches_open(char *const *paths, int n_paths, const TextInputOptions *opt, size_t batch_bytes)
{
    TextBatches *b = xcalloc(1, sizeof *b);
    b->paths = paths;
    b->n_paths = n_paths;
    b->opt = *opt;
    b->batch_bytes = batch_bytes ? batch_bytes : 1;
    b->held = -1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    int rc = pthread_create(&b->thread, NULL, reader_main, b);
    if (rc != 0) die("cannot start the input reader thread: %s", strerror(rc));
    return b;
}

int text_batches_next(TextBatches *b, const TextSpan **docs, size_t *n)
{
    pthread_mutex_lock(&b->mu);
    if (b->held >= 0) { /* the caller is done with the previous batch */
        b->slot[b->held].state = 0;
        b->held = -1;
        pthread_cond_broadcast(&b->cv);
    }
    while (b->slot[b->take].state != 1 && !b->done) pthread_cond_wait(&b->cv, &b->mu);
    int got = b->slot[b->take].state == 1;
    if (got) {
        Slot *s = &b->slot[b->take];
        s->state = 2;
        b->held = b->take;
        b->take ^= 1;
        *docs = s->docs;
        *n = s->n;
    }
    pthread_mutex_unlock(&b->mu);
    return got;
}

uint64_t text_batches_docs(const TextBatches *b) { return b->docs; }
uint64_t text_batches_skipped(const TextBatches *b) { return b->skipped; }

void text_batches_close(TextBatches *b)
{
    if (!b) return;
    /* Normally the reader has finished; if the caller stops early, let it run out. */
    const TextSpan *d;
    size_t n;
    while (text_batches_next(b, &d, &n)) {}
    pthread_join(b->thread, NULL);
    for (int i = 0; i < 2; i++) {
        free(b->slot[i].arena);
        free(b->slot[i].big);
        free(b->slot[i].docs);
        free(b->slot[i].offs);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}
