/* shard_stream.c: see shard_stream.h. A ring of N_WINDOWS windows passes through
 * up to four hands in order: the reader (pread), the hasher (the shard's checksum,
 * which must see the windows in order), the scanner (each document's frame check
 * and largest id), then the caller (writes). Each hand works on its own window
 * while the others work on theirs, so a pass costs about the slowest hand, not the
 * sum. On fewer than four cores more busy threads would only take turns: there the
 * reader also hashes, and the caller scans each document as it asks for it. */
#include "shard/shard_stream.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/tokstream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW_BYTES ((size_t)1 << 20)
#define N_WINDOWS 6 /* with helper threads; without, 4 are enough and stay warmer in cache */

/* What has been done to a window; each hand moves it one state on. */
enum { WIN_EMPTY, WIN_READ, WIN_HASHED, WIN_SCANNED };

typedef struct {
    const unsigned char *p;  /* the documents' bytes: a window buffer, or the mapping */
    size_t bytes;
    uint64_t first, end;     /* documents [first, end) */
    TokFrameScan *scan;      /* per document, from the scanner */
    size_t scan_cap;
    int state;
} Window;

struct ShardStream {
    Shard *s;
    uint32_t width;
    uint64_t n_docs;
    Hash64 *check;           /* NULL: a zstd shard, checked on open; no threads */
    unsigned char *buf[N_WINDOWS];
    Window win[N_WINDOWS];
    int n_win;               /* windows in use */
    int cur;                 /* the window the caller holds, or -1 */
    int take;                /* next window for the caller */
    bool helpers;            /* hasher and scanner threads (else see the top) */
    int ready;               /* the state in which the caller takes a window */
    int n_threads, finished; /* threads started / done with every document */
    bool stop;               /* the threads are told to stop (an early close) */
    bool asked_all;          /* the caller has asked for the last document */
    pthread_t thread[3];
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Wait until window k is in `state` (or stop); false on stop. */
static bool wait_state(ShardStream *ss, int k, int state)
{
    pthread_mutex_lock(&ss->mu);
    while (ss->win[k].state != state && !ss->stop) pthread_cond_wait(&ss->cv, &ss->mu);
    bool go = !ss->stop;
    pthread_mutex_unlock(&ss->mu);
    return go;
}

static void set_state(ShardStream *ss, int k, int state)
{
    pthread_mutex_lock(&ss->mu);
    ss->win[k].state = state;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
}

static void *finished(ShardStream *ss)
{
    pthread_mutex_lock(&ss->mu);
    ss->finished++;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
    return NULL;
}

static void *read_ahead(void *arg)
{
    ShardStream *ss = arg;
    const Shard *s = ss->s;
    uint64_t w = ss->width;
    int k = 0;
    for (uint64_t d = 0; d < ss->n_docs; k = (k + 1) % ss->n_win) {
        if (!wait_state(ss, k, WIN_EMPTY)) return NULL;
        Window *win = &ss->win[k];
        uint64_t a = shard_doc_start(s, d), end = d + 1;
        size_t bytes = (size_t)((shard_doc_start(s, d + 1) - a) * w);
        if (bytes > WINDOW_BYTES) {
            win->p = (const unsigned char *)shard_tokens_raw(s) + a * w; /* too large to copy: mapped */
        } else {
            while (end < ss->n_docs && (shard_doc_start(s, end + 1) - a) * w <= WINDOW_BYTES) end++;
            bytes = (size_t)((shard_doc_start(s, end) - a) * w);
            char err[1024];
            if (!shard_copy_raw(s, a, bytes / w, ss->buf[k], err, sizeof err)) die("%s", err);
            win->p = ss->buf[k];
        }
        win->bytes = bytes;
        win->first = d;
        win->end = end;
        if (!ss->helpers) hash64_update(ss->check, win->p, bytes);
        set_state(ss, k, ss->helpers ? WIN_READ : WIN_HASHED);
        d = end;
    }
    return finished(ss);
}

static void *hash_ahead(void *arg)
{
    ShardStream *ss = arg;
    int k = 0;
    for (uint64_t d = 0; d < ss->n_docs; k = (k + 1) % ss->n_win) {
        if (!wait_state(ss, k, WIN_READ)) return NULL;
        hash64_update(ss->check, ss->win[k].p, ss->win[k].bytes);
        d = ss->win[k].end;
        set_state(ss, k, WIN_HASHED);
    }
    return finished(ss);
}

static void *scan_ahead(void *arg)
{
    ShardStream *ss = arg;
    const Shard *s = ss->s;
    int k = 0;
    for (uint64_t d = 0; d < ss->n_docs; k = (k + 1) % ss->n_win) {
        if (!wait_state(ss, k, WIN_HASHED)) return NULL;
        Window *win = &ss->win[k];
        size_t n = (size_t)(win->end - win->first);
        if (n > win->scan_cap) {
            win->scan_cap = n;
            win->scan = xrealloc(win->scan, n * sizeof *win->scan);
        }
        uint64_t base = shard_doc_start(s, win->first);
        for (size_t i = 0; i < n; i++) {
            uint64_t a = shard_doc_start(s, win->first + i), b = shard_doc_start(s, win->first + i + 1);
            win->scan[i] = tok_frame_scan(win->p + (a - base) * ss->width, (size_t)(b - a), ss->width);
        }
        d = win->end;
        set_state(ss, k, WIN_SCANNED);
    }
    return finished(ss);
}

ShardStream *shard_stream_open(const char *path, char *err, size_t cap)
{
    return shard_stream_open_ex(path, -1, err, cap);
}

ShardStream *shard_stream_open_ex(const char *path, int helpers, char *err, size_t cap)
{
    Shard *s = shard_try_open_ex(path, SHARD_OPEN_STREAM, err, cap);
    if (!s) return NULL;
    ShardStream *ss = xcalloc(1, sizeof *ss);
    ss->s = s;
    ss->width = shard_info(s)->token_bytes;
    ss->n_docs = shard_info(s)->n_docs;
    ss->cur = -1;
    ss->check = shard_check_begin(s);
    if (!ss->check) return ss; /* zstd: the tokens are in memory, already checked */
    ss->helpers = helpers < 0 ? sysconf(_SC_NPROCESSORS_ONLN) >= 4 : helpers > 0;
    ss->n_win = ss->helpers ? N_WINDOWS : 4;
    for (int i = 0; i < ss->n_win; i++) ss->buf[i] = xmalloc(WINDOW_BYTES);
    pthread_mutex_init(&ss->mu, NULL);
    pthread_cond_init(&ss->cv, NULL);
    ss->ready = ss->helpers ? WIN_SCANNED : WIN_HASHED;
    void *(*fns[3])(void *) = { read_ahead, hash_ahead, scan_ahead };
    ss->n_threads = ss->helpers ? 3 : 1;
    for (int i = 0; i < ss->n_threads; i++) {
        int rc = pthread_create(&ss->thread[i], NULL, fns[i], ss);
        if (rc != 0) die("%s: cannot start the read-ahead threads: %s", path, strerror(rc));
    }
    return ss;
}

const Shard *shard_stream_shard(const ShardStream *ss) { return ss->s; }

const void *shard_stream_doc(ShardStream *ss, uint64_t d, TokFrameScan *scan)
{
    const Shard *s = ss->s;
    size_t n = (size_t)(shard_doc_start(s, d + 1) - shard_doc_start(s, d));
    if (!ss->check) {
        const unsigned char *p = (const unsigned char *)shard_tokens_raw(s) + shard_doc_start(s, d) * ss->width;
        *scan = tok_frame_scan(p, n, ss->width);
        return p;
    }
    if (ss->cur < 0 || d >= ss->win[ss->cur].end) {
        if (ss->cur >= 0) set_state(ss, ss->cur, WIN_EMPTY); /* done with it: back to the reader */
        wait_state(ss, ss->take, ss->ready);
        ss->cur = ss->take;
        ss->take = (ss->take + 1) % ss->n_win;
    }
    const Window *w = &ss->win[ss->cur];
    if (d < w->first || d >= w->end) die("%s: document %llu asked for out of order", shard_path(s), (unsigned long long)d);
    if (d + 1 == ss->n_docs) ss->asked_all = true;
    const unsigned char *p = w->p + (shard_doc_start(s, d) - shard_doc_start(s, w->first)) * ss->width;
    /* Without a scanner, scan the document now, just before it is written: it is
     * then in cache for both. */
    *scan = ss->helpers ? w->scan[d - w->first] : tok_frame_scan(p, n, ss->width);
    return p;
}

bool shard_stream_close(ShardStream *ss, char *err, size_t cap)
{
    bool good = true;
    if (ss->check) {
        pthread_mutex_lock(&ss->mu);
        bool all = ss->asked_all || ss->n_docs == 0;
        if (all) /* the threads are finishing: let them */
            while (ss->finished < ss->n_threads) pthread_cond_wait(&ss->cv, &ss->mu);
        ss->stop = true; /* in case the caller stopped early */
        pthread_cond_broadcast(&ss->cv);
        pthread_mutex_unlock(&ss->mu);
        for (int i = 0; i < ss->n_threads; i++) pthread_join(ss->thread[i], NULL);
        if (!all) {
            hash64_free(ss->check);
            good = errbuf_fail_at(err, cap, shard_path(ss->s), "closed before every document was read");
        } else good = shard_check_end(ss->s, ss->check, err, cap);
        for (int i = 0; i < N_WINDOWS; i++) {
            free(ss->buf[i]);
            free(ss->win[i].scan);
        }
        pthread_mutex_destroy(&ss->mu);
        pthread_cond_destroy(&ss->cv);
    }
    shard_close(ss->s);
    free(ss);
    return good;
}
