/* shard_stream.c: see shard_stream.h. A ring of N_WINDOWS windows: the read-ahead
 * thread fills them in order (pread, then the checksum), the caller takes them in
 * the same order and gives each back when it asks for a document beyond it. */
#include "shard_stream.h"
#include "error.h"
#include "hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_BYTES ((size_t)1 << 20)
#define N_WINDOWS 4

typedef struct {
    const unsigned char *p;  /* the documents' bytes: a window buffer, or the mapping */
    uint64_t first, end;     /* documents [first, end) */
    bool full;
} Window;

struct ShardStream {
    Shard *s;
    uint32_t width;
    Hash64 *check;           /* NULL: a zstd shard, checked on open; no thread */
    unsigned char *buf[N_WINDOWS];
    Window win[N_WINDOWS];
    int fill, take, cur;     /* next to fill / to take; the one the caller holds (-1) */
    bool done, stop;         /* the reader went through every document / is told to stop */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *read_ahead(void *arg)
{
    ShardStream *ss = arg;
    const Shard *s = ss->s;
    uint64_t n_docs = shard_info(s)->n_docs, w = ss->width;
    for (uint64_t d = 0; d < n_docs;) {
        pthread_mutex_lock(&ss->mu);
        while (ss->win[ss->fill].full && !ss->stop) pthread_cond_wait(&ss->cv, &ss->mu);
        bool stop = ss->stop;
        pthread_mutex_unlock(&ss->mu);
        if (stop) return NULL;
        Window *win = &ss->win[ss->fill];
        uint64_t a = shard_doc_start(s, d), end = d + 1;
        size_t bytes = (size_t)((shard_doc_start(s, d + 1) - a) * w);
        if (bytes > WINDOW_BYTES) {
            win->p = (const unsigned char *)shard_tokens_raw(s) + a * w; /* too large to copy: mapped */
        } else {
            while (end < n_docs && (shard_doc_start(s, end + 1) - a) * w <= WINDOW_BYTES) end++;
            bytes = (size_t)((shard_doc_start(s, end) - a) * w);
            char err[1024];
            if (!shard_copy_raw(s, a, bytes / w, ss->buf[ss->fill], err, sizeof err)) die("%s", err);
            win->p = ss->buf[ss->fill];
        }
        hash64_update(ss->check, win->p, bytes);
        win->first = d;
        win->end = end;
        pthread_mutex_lock(&ss->mu);
        win->full = true;
        ss->fill = (ss->fill + 1) % N_WINDOWS;
        pthread_cond_broadcast(&ss->cv);
        pthread_mutex_unlock(&ss->mu);
        d = end;
    }
    pthread_mutex_lock(&ss->mu);
    ss->done = true;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
    return NULL;
}

ShardStream *shard_stream_open(const char *path, char *err, size_t cap)
{
    Shard *s = shard_try_open_ex(path, SHARD_OPEN_STREAM, err, cap);
    if (!s) return NULL;
    ShardStream *ss = xcalloc(1, sizeof *ss);
    ss->s = s;
    ss->width = shard_info(s)->token_bytes;
    ss->cur = -1;
    ss->check = shard_check_begin(s);
    if (!ss->check) return ss; /* zstd: the tokens are in memory, already checked */
    for (int i = 0; i < N_WINDOWS; i++) ss->buf[i] = xmalloc(WINDOW_BYTES);
    pthread_mutex_init(&ss->mu, NULL);
    pthread_cond_init(&ss->cv, NULL);
    int rc = pthread_create(&ss->thread, NULL, read_ahead, ss);
    if (rc != 0) die("%s: cannot start the read-ahead thread: %s", path, strerror(rc));
    return ss;
}

const Shard *shard_stream_shard(const ShardStream *ss) { return ss->s; }

const void *shard_stream_doc(ShardStream *ss, uint64_t d)
{
    const Shard *s = ss->s;
    if (!ss->check) return (const unsigned char *)shard_tokens_raw(s) + shard_doc_start(s, d) * ss->width;
    if (ss->cur < 0 || d >= ss->win[ss->cur].end) {
        pthread_mutex_lock(&ss->mu);
        if (ss->cur >= 0) { /* done with it: back to the reader */
            ss->win[ss->cur].full = false;
            pthread_cond_broadcast(&ss->cv);
        }
        while (!ss->win[ss->take].full) pthread_cond_wait(&ss->cv, &ss->mu);
        ss->cur = ss->take;
        ss->take = (ss->take + 1) % N_WINDOWS;
        pthread_mutex_unlock(&ss->mu);
    }
    const Window *w = &ss->win[ss->cur];
    if (d < w->first || d >= w->end) die("%s: document %llu asked for out of order", shard_path(s), (unsigned long long)d);
    return w->p + (shard_doc_start(s, d) - shard_doc_start(s, w->first)) * ss->width;
}

bool shard_stream_close(ShardStream *ss, char *err, size_t cap)
{
    bool good = true;
    if (ss->check) {
        pthread_mutex_lock(&ss->mu);
        ss->stop = true; /* in case the caller stopped early */
        pthread_cond_broadcast(&ss->cv);
        pthread_mutex_unlock(&ss->mu);
        pthread_join(ss->thread, NULL);
        if (!ss->done) {
            hash64_free(ss->check);
            good = errbuf_fail_at(err, cap, shard_path(ss->s), "closed before every document was read");
        } else good = shard_check_end(ss->s, ss->check, err, cap);
        for (int i = 0; i < N_WINDOWS; i++) free(ss->buf[i]);
        pthread_mutex_destroy(&ss->mu);
        pthread_cond_destroy(&ss->cv);
    }
    shard_close(ss->s);
    free(ss);
    return good;
}
