/* shard_write.c: the shard and pack writers (see shard_write.h, shard_format.h). */
#include "shard/shard_write.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/rng.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

/* Grow-only array of uint64, for the index and sequence sections. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} U64Vec;

static void u64_push(U64Vec *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

struct ShardWriter {
    AtomicFile *af;
    const char *path;            /* atomic_final_path(af) */
    ShardWriterOptions o;
    ShardHeader h;
    Hash64 *tokens_hash;         /* of the token section as stored */
    uint64_t stored;             /* token section bytes written so far */
    U64Vec index, seq;
    unsigned char *buf;          /* one document at the shard's width */
    size_t buf_cap;
    ZSTD_CCtx *cctx;             /* NULL when uncompressed */
    unsigned char *zout;
    size_t zout_cap;
};

#define ZSTD_CHECK(w, call) do { size_t rc_ = (call); if (ZSTD_isError(rc_)) \
    die("%s: zstd: %s failed: %s", (w)->path, #call, ZSTD_getErrorName(rc_)); } while (0)

ShardWriter *shardw_open(const char *path, const ShardWriterOptions *o)
{
    if (o->vocab_size == 0) die("%s: vocabulary size is 0", path);
    if (o->stream_token_bytes != 2 && o->stream_token_bytes != 4)
        die("%s: stream token width %u is not 2 or 4", path, o->stream_token_bytes);
    ShardWriter *w = xcalloc(1, sizeof *w);
    w->o = *o;
    w->af = atomic_open(path);
    w->path = atomic_final_path(w->af);
    w->h.token_bytes = token_bytes_for_vocab(o->vocab_size);
    w->h.vocab_size = o->vocab_size;
    w->h.vocab_id = o->vocab_id;
    w->h.stream_token_bytes = o->stream_token_bytes;
    w->h.flags = o->zstd ? SHARD_FLAG_ZSTD : 0;
    w->tokens_hash = hash64_new(0);
    u64_push(&w->index, 0);
    /* Room for the header, filled in at commit; the token section starts aligned. */
    unsigned char zeros[SHARD_TOKENS_ALIGN * 2] = { 0 };
    ShardHeader lay = w->h;
    shard_header_layout(&lay);
    atomic_write(w->af, zeros, (size_t)lay.tokens_offset);
    if (o->zstd) {
        w->cctx = ZSTD_createCCtx();
        if (!w->cctx) die("%s: zstd: cannot create a compression context", path);
        ZSTD_CHECK(w, ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o->level));
        ZSTD_CHECK(w, ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1));
        /* Always at least one worker: zstd's output is the same for any nbWorkers >= 1
         * but differs from single-threaded mode, and shards must not depend on -T. */
        ZSTD_CHECK(w, ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, o->threads > 0 ? o->threads : 1));
        w->zout_cap = ZSTD_CStreamOutSize();
        w->zout = xmalloc(w->zout_cap);
    }
    return w;
}

uint64_t shardw_tokens(const ShardWriter *w) { return w->h.n_tokens; }
uint64_t shardw_docs(const ShardWriter *w) { return w->h.n_docs; }

static void compress_some(ShardWriter *w, const void *src, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = { src, n, 0 };
    for (;;) {
        ZSTD_outBuffer out = { w->zout, w->zout_cap, 0 };
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left)) die("%s: zstd compression failed: %s", w->path, ZSTD_getErrorName(left));
        atomic_write(w->af, w->zout, out.pos);
        hash64_update(w->tokens_hash, w->zout, out.pos);
        w->stored += out.pos;
        bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
        if (done) break;
    }
}

void shardw_doc(ShardWriter *w, const uint32_t *ids, size_t n, uint64_t seq)
{
    if (w->h.n_docs > 0 && seq <= w->seq.v[w->seq.n - 1])
        die("%s: document sequence number %llu after %llu is not increasing", w->path, (unsigned long long)seq,
            (unsigned long long)w->seq.v[w->seq.n - 1]);
    const uint32_t tb = w->h.token_bytes;
    size_t nb = n * tb;
    if (nb > w->buf_cap) {
        w->buf_cap = nb + (nb >> 1) + 4096;
        w->buf = xrealloc(w->buf, w->buf_cap);
    }
    /* Narrow to the shard's width and track the largest id (buf is malloc'ed, so
     * aligned for uint16_t), in blocks with a fixed-count inner loop, which gcc's -O2
     * vectorizer takes; then the tail. */
    enum { BLOCK = 16 };
    uint32_t lane[BLOCK] = { 0 }, max_id = 0;
    size_t i = 0;
    if (tb == 2) {
        uint16_t *narrow = (uint16_t *)(void *)w->buf;
        for (; i + BLOCK <= n; i += BLOCK)
            for (size_t j = 0; j < BLOCK; j++) {
                lane[j] = ids[i + j] > lane[j] ? ids[i + j] : lane[j];
                narrow[i + j] = (uint16_t)ids[i + j];
            }
        for (; i < n; i++) {
            max_id = ids[i] > max_id ? ids[i] : max_id;
            narrow[i] = (uint16_t)ids[i];
        }
    } else {
        for (; i + BLOCK <= n; i += BLOCK)
            for (size_t j = 0; j < BLOCK; j++) lane[j] = ids[i + j] > lane[j] ? ids[i + j] : lane[j];
        for (; i < n; i++) max_id = ids[i] > max_id ? ids[i] : max_id;
        if (n) memcpy(w->buf, ids, nb);
    }
    for (size_t j = 0; j < BLOCK; j++) max_id = lane[j] > max_id ? lane[j] : max_id;
    if (n && max_id >= w->h.vocab_size)
        die("%s: document %llu: token id %u is beyond the vocabulary size %u", w->path, (unsigned long long)seq,
            max_id, w->h.vocab_size);
    if (w->cctx) compress_some(w, w->buf, nb, ZSTD_e_continue);
    else {
        hash64_update(w->tokens_hash, w->buf, nb);
        atomic_write(w->af, w->buf, nb);
        w->stored += nb;
    }
    w->h.n_tokens += n;
    w->h.n_docs++;
    u64_push(&w->index, w->h.n_tokens);
    u64_push(&w->seq, seq);
}

static void free_writer(ShardWriter *w)
{
    hash64_free(w->tokens_hash);
    ZSTD_freeCCtx(w->cctx);
    free(w->zout);
    free(w->buf);
    free(w->index.v);
    free(w->seq.v);
    free(w);
}

void shardw_commit(ShardWriter *w, ShardHeader *out)
{
    ShardHeader *h = &w->h;
    if (w->cctx) compress_some(w, NULL, 0, ZSTD_e_end);
    h->tokens_size = w->stored;
    h->tokens_check = hash64_digest(w->tokens_hash);
    shard_header_layout(h);
    unsigned char zeros[8] = { 0 };
    atomic_write(w->af, zeros, (size_t)(h->index_offset - h->tokens_offset - h->tokens_size));
    size_t index_bytes = w->index.n * 8, seq_bytes = w->seq.n * 8;
    /* The host is little-endian (asserted in tokstream.c), so the arrays are the bytes. */
    atomic_write(w->af, w->index.v, index_bytes);
    atomic_write(w->af, w->seq.v, seq_bytes);
    h->index_check = hash64(w->index.v, index_bytes, 0);
    h->seq_check = hash64(w->seq.v, seq_bytes, 0);
    unsigned char hb[SHARD_HEADER_BYTES];
    shard_header_encode(h, hb);
    FILE *fp = atomic_stream(w->af);
    /* fseek flushes what is buffered: a full disk can show up here. */
    if (fseek(fp, 0, SEEK_SET) != 0) die("%s: write failed: %s", w->path, strerror(errno));
    atomic_write(w->af, hb, sizeof hb);
    if (out) *out = *h;
    atomic_commit(w->af);
    free_writer(w);
}

void shardw_abort(ShardWriter *w)
{
    atomic_abort(w->af);
    free_writer(w);
}

/* Split rule --------------------------------------------------------------- */

bool split_is_val(uint64_t seed, double val_fraction, uint64_t doc)
{
    if (val_fraction <= 0) return false;
    if (val_fraction >= 1) return true;
    uint32_t r[4];
    philox4x32(seed, SPLIT_RNG_STREAM, doc, r);
    uint64_t x = (uint64_t)r[0] << 32 | r[1];
    return (double)x * 0x1p-64 < val_fraction;
}

/* Packs -------------------------------------------------------------------- */

struct Pack {
    PackOptions o;
    char *dir, *prefix;
    Manifest m;
    ShardWriter *open[N_SPLITS];
    char *open_name[N_SPLITS];
    int next_index[N_SPLITS];
    uint64_t n_docs;             /* documents seen, the next sequence number */
};

/* With -f, take the old pack apart in the order that keeps every moment safe: the
 * manifest first (so nothing vouches for the shards any more), then its shards. */
static void remove_old_pack(const char *dir, bool force)
{
    char *mpath = manifest_path(dir);
    if (access(mpath, F_OK) != 0) { free(mpath); return; }
    if (!force) die("%s: already holds a pack (%s); use -f to replace it", dir, MANIFEST_NAME);
    Manifest old;
    char err[1024];
    bool readable = manifest_read(dir, &old, err, sizeof err);
    if (unlink(mpath) != 0) die("%s: cannot remove: %s", mpath, strerror(errno));
    fsync_parent_dir(mpath);
    if (readable) {
        for (int k = 0; k < N_SPLITS; k++)
            for (int i = 0; i < old.split[k].n_shards; i++) {
                char *p = path_join(dir, old.split[k].shards[i].file);
                if (unlink(p) != 0 && errno != ENOENT) die("%s: cannot remove: %s", p, strerror(errno));
                free(p);
            }
        fsync_parent_dir(mpath);
        manifest_free(&old);
    }
    info(NMOE_VERBOSE, "%s: removed the old pack\n", dir);
    free(mpath);
}

Pack *pack_open(const PackOptions *o)
{
    if (o->shard_tokens == 0) die("%s: shard size of 0 tokens", o->dir);
    if (!(o->val_fraction >= 0 && o->val_fraction <= 1)) die("%s: val fraction %g is not in [0, 1]", o->dir, o->val_fraction);
    if (o->prefix && (strchr(o->prefix, '/') || strlen(o->prefix) > 200))
        die("%s: prefix '%s' must be a plain name", o->dir, o->prefix);
    make_dirs(o->dir);
    remove_old_pack(o->dir, o->force);
    Pack *p = xcalloc(1, sizeof *p);
    p->o = *o;
    p->dir = xstrdup(o->dir);
    p->prefix = xstrdup(o->prefix ? o->prefix : "");
    p->o.dir = p->dir;
    p->o.prefix = p->prefix;
    Manifest *m = &p->m;
    m->source = xstrdup(o->source ? o->source : "pack");
    m->vocab_size = o->w.vocab_size;
    m->vocab_id = o->w.vocab_id;
    m->token_bytes = token_bytes_for_vocab(o->w.vocab_size);
    m->stream_token_bytes = o->w.stream_token_bytes;
    m->compressed = o->w.zstd;
    m->shard_tokens = o->shard_tokens;
    m->val_fraction = o->val_fraction;
    m->seed = o->seed;
    return p;
}

static void close_shard(Pack *p, int k)
{
    ShardWriter *w = p->open[k];
    if (!w) return;
    ShardHeader h;
    shardw_commit(w, &h);
    ManifestShard ms = { p->open_name[k], h.n_docs, h.n_tokens, h.file_bytes, h.header_check };
    manifest_add_shard(&p->m, k, &ms);
    info(NMOE_VERBOSE, "%s/%s: %llu documents, %llu tokens, %llu bytes\n", p->dir, p->open_name[k],
         (unsigned long long)h.n_docs, (unsigned long long)h.n_tokens, (unsigned long long)h.file_bytes);
    free(p->open_name[k]);
    p->open[k] = NULL;
    p->open_name[k] = NULL;
}

static void open_shard(Pack *p, int k)
{
    size_t n = strlen(p->prefix) + 64;
    char *name = xmalloc(n);
    snprintf(name, n, "%s%s%s-%06d.shard", p->prefix, p->prefix[0] ? "-" : "", split_names[k], p->next_index[k]++);
    char *path = path_join(p->dir, name);
    p->open[k] = shardw_open(path, &p->o.w);
    p->open_name[k] = name;
    free(path);
}

void pack_doc(Pack *p, const uint32_t *ids, size_t n)
{
    uint64_t seq = p->n_docs++;
    int k = split_is_val(p->o.seed, p->o.val_fraction, seq) ? SPLIT_VAL : SPLIT_TRAIN;
    /* Documents are never split: the shard closes when this one would take it past
     * the limit; a document larger than the limit then gets a shard of its own. */
    ShardWriter *w = p->open[k];
    if (w && shardw_tokens(w) > 0 && shardw_tokens(w) + n > p->o.shard_tokens) close_shard(p, k);
    if (!p->open[k]) open_shard(p, k);
    shardw_doc(p->open[k], ids, n, seq);
}

void pack_finish(Pack *p, Manifest *out)
{
    for (int k = 0; k < N_SPLITS; k++) close_shard(p, k);
    manifest_write(p->dir, &p->m);
    if (out) *out = p->m;
    else manifest_free(&p->m);
    free(p->dir);
    free(p->prefix);
    free(p);
}
