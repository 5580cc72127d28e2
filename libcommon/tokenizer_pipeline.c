/* tokenizer_pipeline.c: `nmoe-tok encode` as three stages that overlap:
 *
 *   reader thread (text_input_batch.c)  ->  encoding threads  ->  writer thread
 *
 * The encoder works on batch N+1 while the writer writes batch N, so with many
 * threads neither reading nor writing holds the encoding back. Two sets of output
 * vectors alternate between encoder and writer. */
#include "tokenizer.h"
#include "error.h"
#include "tokstream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    IdVec *outs;
    size_t n, cap;
    int full;            /* encoded and waiting for the writer */
} OutSet;

typedef struct {
    const TokEncodeJob *job;
    FILE *fp;
    TokWriter *w;
    OutSet set[2];
    int write_next;      /* set the writer takes next */
    int finished;        /* no more batches */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *line;
    size_t line_cap;
} Writer;

static void write_ids_line(FILE *fp, const uint32_t *ids, size_t n, char **buf, size_t *cap)
{
    if (*cap < n * 11 + 2) {
        *cap = n * 11 + 2;
        *buf = xrealloc(*buf, *cap);
    }
    char *p = *buf;
    for (size_t i = 0; i < n; i++) {
        char tmp[12];
        int k = 0;
        uint32_t v = ids[i];
        do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
        if (i) *p++ = ' ';
        while (k) *p++ = tmp[--k];
    }
    *p++ = '\n';
    if (fwrite(*buf, 1, (size_t)(p - *buf), fp) != (size_t)(p - *buf)) die("write failed");
}

static void *writer_main(void *arg)
{
    Writer *wr = arg;
    for (;;) {
        pthread_mutex_lock(&wr->mu);
        while (!wr->set[wr->write_next].full && !wr->finished) pthread_cond_wait(&wr->cv, &wr->mu);
        OutSet *s = &wr->set[wr->write_next];
        int have = s->full;
        pthread_mutex_unlock(&wr->mu);
        if (!have) return NULL; /* finished and nothing left */
        for (size_t d = 0; d < s->n; d++) {
            if (wr->job->ids_text) write_ids_line(wr->fp, s->outs[d].v, s->outs[d].n, &wr->line, &wr->line_cap);
            else tokw_doc(wr->w, s->outs[d].v, s->outs[d].n);
        }
        pthread_mutex_lock(&wr->mu);
        s->full = 0;
        wr->write_next ^= 1;
        pthread_cond_broadcast(&wr->cv);
        pthread_mutex_unlock(&wr->mu);
    }
}

void tok_encode_inputs(const Tokenizer *t, char *const *paths, int n_paths, const TokEncodeJob *job, FILE *out,
                       const char *out_name, TokEncodeStats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (job->eot && t->eot_id < 0) die("the tokenizer has no %s token for --eot", TOKENIZER_EOT_TEXT);
    int threads = job->threads > 0 ? job->threads : 1;
    TokEncoder **encs = xcalloc((size_t)threads, sizeof *encs);
    for (int i = 0; i < threads; i++) encs[i] = tok_encoder_new(t);
    Writer wr = { .job = job, .fp = out };
    pthread_mutex_init(&wr.mu, NULL);
    pthread_cond_init(&wr.cv, NULL);
    if (!job->ids_text) {
        TokHeader h = { token_bytes_for_vocab(t->vocab_size), t->vocab_size, t->vocab_id };
        wr.w = tokw_open(out, out_name, &h);
    }
    pthread_t writer;
    int rc = pthread_create(&writer, NULL, writer_main, &wr);
    if (rc != 0) die("cannot start the writer thread: %s", strerror(rc));

    /* Big batches keep every thread busy between hand-overs. */
    TextBatches *tb = text_batches_open(paths, n_paths, &job->input, (size_t)threads * (8u << 20));
    const TextSpan *docs;
    size_t n;
    int fill = 0;
    while (text_batches_next(tb, &docs, &n)) {
        OutSet *s = &wr.set[fill];
        pthread_mutex_lock(&wr.mu);
        while (s->full) pthread_cond_wait(&wr.cv, &wr.mu); /* the writer still has it */
        pthread_mutex_unlock(&wr.mu);
        if (n > s->cap) {
            s->outs = xrealloc(s->outs, n * sizeof *s->outs);
            memset(s->outs + s->cap, 0, (n - s->cap) * sizeof *s->outs);
            s->cap = n;
        }
        tok_encode_batch(t, encs, threads, docs, n, job->allow_special, job->eot ? t->eot_id : -1, s->outs);
        for (size_t d = 0; d < n; d++) {
            stats->bytes += docs[d].len;
            stats->tokens += s->outs[d].n;
        }
        pthread_mutex_lock(&wr.mu);
        s->n = n;
        s->full = 1;
        pthread_cond_broadcast(&wr.cv);
        pthread_mutex_unlock(&wr.mu);
        fill ^= 1;
    }
    pthread_mutex_lock(&wr.mu);
    wr.finished = 1;
    pthread_cond_broadcast(&wr.cv);
    pthread_mutex_unlock(&wr.mu);
    pthread_join(writer, NULL);
    stats->docs = text_batches_docs(tb);
    stats->skipped = text_batches_skipped(tb);
    text_batches_close(tb);
    if (wr.w) tokw_finish(wr.w);
    else if (fflush(out) != 0) die("%s: write failed", out_name);
    for (int k = 0; k < 2; k++) {
        for (size_t d = 0; d < wr.set[k].cap; d++) idvec_free(&wr.set[k].outs[d]);
        free(wr.set[k].outs);
    }
    for (int i = 0; i < threads; i++) tok_encoder_free(encs[i]);
    free(encs);
    free(wr.line);
    pthread_mutex_destroy(&wr.mu);
    pthread_cond_destroy(&wr.cv);
}
