/* tokenizer_pipeline.c: `nmoe-tok encode` as a pipeline with no lock-step:
 *
 *   reader thread  ->  batches (text_input_batch.c, several read ahead)
 *   N workers      ->  each takes the next chunk of the oldest batch that has one
 *                      (tokenizer_batch.h); whoever finishes a batch's last chunk
 *                      joins it; a worker that finds no chunk takes the next batch
 *                      from the reader, decodes its JSON lines and plans it
 *   writer thread  ->  writes joined batches in order
 *
 * Batches are jobs in a ring, used in order: batch number q lives in job q % n_jobs
 * until it is written. Nothing waits for a whole batch to be done before the next
 * one starts, so the tail of one batch overlaps the start of the next, and reading
 * and writing overlap encoding. Workers sleep on a condition variable (no spinning
 * that would take a core from the reader or the writer). The output does not depend
 * on the number of workers: every chunk is encoded alone and joined exactly. */
#include "tok/tokenizer.h"
#include "base/clock.h"
#include "base/error.h"
#include "tok/tokenizer_batch.h"
#include "formats/tokstream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Text per batch: small enough that several are in flight (reading, encoding and
 * writing overlap), large enough to hold many chunks. */
#define BATCH_BYTES ((size_t)1 << 20)

enum { JOB_FREE, JOB_PLANNING, JOB_ENCODING, JOB_READY };

typedef struct {
    int state;
    TokBatch *batch;
    int text_slot;            /* the reader's slot holding the text, until joined */
    size_t n_chunks, next_chunk, chunks_done;
    uint64_t bytes;
} Job;

typedef struct {
    const Tokenizer *t;
    const TokEncodeJob *opt;
    TextBatches *tb;
    int text_slots, text_held;
    Job *jobs;
    int n_jobs;
    uint64_t n_got;           /* batches taken from the reader: jobs 0 .. n_got-1 */
    uint64_t n_written;       /* batches written */
    uint64_t oldest_open;     /* no batch before this one has chunks left to hand out */
    int getting;              /* a worker is taking a batch from the reader */
    int planning;             /* jobs being decoded and planned */
    int eof;                  /* the reader has no more */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* any change of the above; broadcast */
    /* Writer */
    FILE *fp;
    TokWriter *w;
    char *line;
    size_t line_cap;
    /* Figures */
    uint64_t docs, bytes, tokens;
    double writer_s;
} Pipe;

/* Worker ------------------------------------------------------------------------ */

typedef struct {
    Pipe *p;
    TokEncoder *enc;
    double encode_s, join_s, plan_s;
} Worker;

/* With the lock held: the job that has a chunk to hand out, oldest first, or NULL.
 * Jobs before oldest_open have handed out every chunk; a job still being planned
 * keeps oldest_open from passing it, but later jobs are looked at. */
static Job *open_job(Pipe *p)
{
    bool passable = true;
    for (uint64_t q = p->oldest_open; q < p->n_got; q++) {
        Job *j = &p->jobs[q % (uint64_t)p->n_jobs];
        if (j->state == JOB_ENCODING && j->next_chunk < j->n_chunks) return j;
        if (j->state == JOB_PLANNING) passable = false;
        if (passable) p->oldest_open = q + 1;
    }
    return NULL;
}

/* Without the lock: join job j (all its chunks are encoded) and hand it to the writer. */
static void finish_job(Worker *wk, Job *j)
{
    Pipe *p = wk->p;
    double t0 = monotonic_s();
    tok_batch_join(j->batch, p->t, wk->enc);
    wk->join_s += monotonic_s() - t0;
    text_batches_put(p->tb, j->text_slot); /* the text is no longer needed */
    pthread_mutex_lock(&p->mu);
    p->text_held--;
    j->state = JOB_READY;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    Worker *wk = arg;
    Pipe *p = wk->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        Job *j = open_job(p);
        if (j) { /* 1. a chunk to encode */
            size_t c = j->next_chunk++;
            pthread_mutex_unlock(&p->mu);
            double t0 = monotonic_s();
            tok_batch_encode(j->batch, p->t, wk->enc, c);
            wk->encode_s += monotonic_s() - t0;
            pthread_mutex_lock(&p->mu);
            if (++j->chunks_done == j->n_chunks) {
                pthread_mutex_unlock(&p->mu);
                finish_job(wk, j);
                pthread_mutex_lock(&p->mu);
            }
            continue;
        }
        /* 2. the next batch, when a job and a reader slot are free for it (the slot
         * condition keeps the reader from waiting on a slot only we could free).
         * Taking batches is one at a time, to keep their order; decoding and
         * planning them is not, so several workers can do that at once. */
        Job *next = &p->jobs[p->n_got % (uint64_t)p->n_jobs];
        if (!p->eof && !p->getting && p->text_held < p->text_slots && next->state == JOB_FREE) {
            p->getting = 1;
            pthread_mutex_unlock(&p->mu);
            int slot;
            int got = text_batches_get(p->tb, &slot);
            pthread_mutex_lock(&p->mu);
            p->getting = 0;
            if (!got) {
                p->eof = 1;
                pthread_cond_broadcast(&p->cv);
                continue;
            }
            p->text_held++;
            p->n_got++;
            next->state = JOB_PLANNING;
            p->planning++;
            pthread_cond_broadcast(&p->cv); /* another worker may take the next batch */
            pthread_mutex_unlock(&p->mu);
            double t0 = monotonic_s();
            const TextSpan *docs;
            size_t n;
            text_batches_docs_of(p->tb, slot, &docs, &n);
            next->n_chunks = tok_batch_plan(next->batch, p->t, docs, n, p->opt->allow_special,
                                            p->opt->eot ? p->t->eot_id : -1);
            wk->plan_s += monotonic_s() - t0;
            next->bytes = 0;
            for (size_t d = 0; d < n; d++) next->bytes += docs[d].len;
            next->text_slot = slot;
            next->next_chunk = next->chunks_done = 0;
            if (next->n_chunks == 0) { /* no text: nothing to hand out */
                finish_job(wk, next);
                pthread_mutex_lock(&p->mu);
                p->planning--;
                pthread_cond_broadcast(&p->cv);
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->planning--;
            next->state = JOB_ENCODING;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        /* 3. done (no batch left to take, none being planned whose chunks we
         * should help with), or wait for something to change */
        if (p->eof && !p->getting && !p->planning) break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Writer ------------------------------------------------------------------------ */

static void write_ids_line(Pipe *p, const IdRun *runs, size_t n_runs, size_t n)
{
    if (p->line_cap < n * IDS_TEXT_MAX_BYTES + 1) {
        p->line_cap = n * IDS_TEXT_MAX_BYTES + 1;
        p->line = xrealloc(p->line, p->line_cap);
    }
    char *q = p->line;
    for (size_t r = 0; r < n_runs; r++) q = ids_text_put(q, runs[r].ids, runs[r].n, q == p->line);
    *q++ = '\n';
    if (fwrite(p->line, 1, (size_t)(q - p->line), p->fp) != (size_t)(q - p->line)) die("write failed");
}

static void *writer_main(void *arg)
{
    Pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        Job *j = &p->jobs[p->n_written % (uint64_t)p->n_jobs];
        if (p->n_written < p->n_got && j->state == JOB_READY) {
            pthread_mutex_unlock(&p->mu);
            double t0 = monotonic_s();
            size_t n_docs = tok_batch_docs(j->batch);
            for (size_t d = 0; d < n_docs; d++) {
                const IdRun *runs;
                size_t n_runs;
                size_t n = tok_batch_doc(j->batch, d, &runs, &n_runs);
                if (p->opt->ids_text) write_ids_line(p, runs, n_runs, n);
                else tokw_doc_runs(p->w, runs, n_runs);
                p->tokens += n;
            }
            p->docs += n_docs;
            p->bytes += j->bytes;
            p->writer_s += monotonic_s() - t0;
            pthread_mutex_lock(&p->mu);
            j->state = JOB_FREE;
            p->n_written++;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        if (p->eof && !p->getting && !p->planning && p->n_written == p->n_got) break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The whole run ----------------------------------------------------------------- */

void tok_encode_inputs(const Tokenizer *t, char *const *paths, int n_paths, const TokEncodeJob *job, FILE *out,
                       const char *out_name, TokEncodeStats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (job->eot && t->eot_id < 0) die("the tokenizer has no %s token for --eot", TOKENIZER_EOT_TEXT);
    int threads = job->threads > 0 ? job->threads : 1;
    Pipe p = { .t = t, .opt = job, .fp = out };
    /* Enough batches in flight that every worker finds a chunk while the reader
     * fills the next slots and the writer drains the oldest jobs. */
    p.text_slots = threads / 2 + 4;
    p.n_jobs = p.text_slots + 4;
    p.jobs = xcalloc((size_t)p.n_jobs, sizeof *p.jobs);
    for (int i = 0; i < p.n_jobs; i++) p.jobs[i].batch = tok_batch_new();
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (!job->ids_text) {
        TokHeader h = { token_bytes_for_vocab(t->vocab_size), t->vocab_size, t->vocab_id };
        p.w = tokw_open(out, out_name, &h);
    }
    double t0 = monotonic_s();
    p.tb = text_batches_open(paths, n_paths, &job->input, BATCH_BYTES, p.text_slots);
    pthread_t writer;
    int rc = pthread_create(&writer, NULL, writer_main, &p);
    if (rc != 0) die("cannot start the writer thread: %s", strerror(rc));
    Worker *wk = xcalloc((size_t)threads, sizeof *wk);
    pthread_t *tid = xcalloc((size_t)threads, sizeof *tid);
    for (int i = 0; i < threads; i++) {
        wk[i] = (Worker){ .p = &p, .enc = tok_encoder_new(t) };
        rc = i ? pthread_create(&tid[i], NULL, worker_main, &wk[i]) : 0;
        if (rc != 0) die("cannot start encoding thread %d: %s", i, strerror(rc));
    }
    worker_main(&wk[0]); /* this thread is worker 0 */
    for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
    pthread_join(writer, NULL);
    stats->wall_s = monotonic_s() - t0;
    stats->docs = text_batches_docs(p.tb);
    stats->skipped = text_batches_skipped(p.tb);
    stats->reader_s = text_batches_busy(p.tb);
    text_batches_close(p.tb);
    if (p.w) tokw_finish(p.w);
    else if (fflush(out) != 0) die("%s: write failed", out_name);
    if (p.docs != stats->docs) die("internal error: %llu documents read but %llu written", (unsigned long long)stats->docs,
                                   (unsigned long long)p.docs);
    stats->bytes = p.bytes;
    stats->tokens = p.tokens;
    stats->writer_s = p.writer_s;
    for (int i = 0; i < threads; i++) {
        stats->encode_s += wk[i].encode_s;
        stats->join_s += wk[i].join_s;
        stats->plan_s += wk[i].plan_s;
        tok_encoder_free(wk[i].enc);
    }
    free(wk);
    free(tid);
    for (int i = 0; i < p.n_jobs; i++) tok_batch_free(p.jobs[i].batch);
    free(p.jobs);
    free(p.line);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
}
