/* shard.c: read shard files and shard sets (see shard.h, shard_format.h).
 *
 * The whole file is mmap'ed. Uncompressed shards hand out ids straight from the
 * mapping (the token section is 64-byte aligned, so the ids are too); zstd shards are
 * decompressed once on open into an aligned buffer. Header, document index and
 * sequence section are validated on every open; the token checksum and id range only
 * by shard_verify(), since they cost a pass over every token. */
#include "shard/shard.h"
#include "shard/shard_ext.h"
#include "shard/shard_format.h"
#include "shard/shard_manifest.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

struct Shard {
    char *path;
    ShardInfo info;
    ShardHeader h;
    const unsigned char *base;   /* the whole file */
    size_t base_len;
    bool mapped;                 /* base is our mmap (munmap on close) */
    const unsigned char *tokens; /* n_tokens * token_bytes, or NULL when opened header-only */
    void *decompressed;          /* owned token buffer of a zstd shard (anonymous mmap) */
    size_t decompressed_len;
    const unsigned char *index;  /* n_docs + 1 uint64 */
    const unsigned char *seq;    /* n_docs uint64 */
    int fd;                      /* kept for shard_copy_raw under SHARD_OPEN_STREAM, else -1 */
};


/* Ids per block of the vectorizable loops below. */
#define SIMD_BLOCK 16

/* Unaligned-safe little-endian loads (the host is little-endian: tokstream.c asserts it). */
static inline uint64_t load_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load_id(const unsigned char *p, uint32_t width)
{
    if (width == 2) { uint16_t v; memcpy(&v, p, 2); return v; }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Index and sequence sections: checksums first (a flipped byte is reported as what it
 * is), then the structure the checksums cannot vouch for in a hand-made file. */
static bool check_index(Shard *s, char *err, size_t cap)
{
    const ShardHeader *h = &s->h;
    size_t index_bytes = (size_t)(8 * (h->n_docs + 1)), seq_bytes = (size_t)(8 * h->n_docs);
    if (hash64(s->index, index_bytes, 0) != h->index_check)
        return errbuf_fail_at(err, cap, s->path, "document index checksum mismatch (corrupted index)");
    if (hash64(s->seq, seq_bytes, 0) != h->seq_check)
        return errbuf_fail_at(err, cap, s->path, "sequence section checksum mismatch (corrupted document order)");
    uint64_t prev = load_u64(s->index);
    if (prev != 0) return errbuf_fail_at(err, cap, s->path, "document index starts at %llu, not 0", (unsigned long long)prev);
    for (uint64_t d = 1; d <= h->n_docs; d++) {
        uint64_t at = load_u64(s->index + 8 * d);
        if (at < prev || at > h->n_tokens)
            return errbuf_fail_at(err, cap, s->path, "document index entry %llu (%llu) is out of order or past the %llu tokens",
                        (unsigned long long)d, (unsigned long long)at, (unsigned long long)h->n_tokens);
        prev = at;
    }
    if (prev != h->n_tokens)
        return errbuf_fail_at(err, cap, s->path, "document index ends at %llu, but the shard holds %llu tokens",
                    (unsigned long long)prev, (unsigned long long)h->n_tokens);
    for (uint64_t d = 1; d < h->n_docs; d++)
        if (load_u64(s->seq + 8 * d) <= load_u64(s->seq + 8 * (d - 1)))
            return errbuf_fail_at(err, cap, s->path, "document sequence numbers are not increasing at document %llu",
                        (unsigned long long)d);
    return true;
}

static bool stored_tokens_intact(const Shard *s)
{
    return hash64(s->base + s->h.tokens_offset, (size_t)s->h.tokens_size, 0) == s->h.tokens_check;
}

/* One zstd frame, with its content checksum, exactly filling the token section; then
 * decompressed (zstd checks the content checksum as it goes). */
static bool decompress_tokens(Shard *s, char *err, size_t cap)
{
    const ShardHeader *h = &s->h;
    const unsigned char *src = s->base + h->tokens_offset;
    size_t src_len = (size_t)h->tokens_size;
    if (!stored_tokens_intact(s)) return errbuf_fail_at(err, cap, s->path, "token checksum mismatch (corrupted tokens)");
    /* RFC 8878 section 3.1.1: magic 0xFD2FB528, then the frame header descriptor,
     * whose bit 2 says the frame ends with a checksum of its content. */
    if (src_len < 5 || get_u32le(src) != ZSTD_MAGICNUMBER)
        return errbuf_fail_at(err, cap, s->path, "token section is not a zstd frame");
    if (!(src[4] & 0x04)) return errbuf_fail_at(err, cap, s->path, "zstd token frame lacks its content checksum");
    size_t frame_len = ZSTD_findFrameCompressedSize(src, src_len);
    if (ZSTD_isError(frame_len) || frame_len != src_len)
        return errbuf_fail_at(err, cap, s->path, "token section is not exactly one zstd frame");
    size_t raw = (size_t)(h->n_tokens * h->token_bytes);
    /* Page-aligned anonymous memory, not cleared by us first, and on transparent huge
     * pages where the kernel offers them: faulting in 4 KiB pages one by one costs
     * more than decompressing into them. */
    void *p = mmap(NULL, raw ? raw : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errbuf_fail_at(err, cap, s->path, "cannot allocate %zu bytes for the decompressed tokens: %s", raw, strerror(errno));
    s->decompressed = p;
    s->decompressed_len = raw ? raw : 1;
#ifdef MADV_HUGEPAGE
    if (raw >= ((size_t)2 << 20)) madvise(p, raw, MADV_HUGEPAGE); /* a hint; failure is harmless */
#endif
    size_t got = ZSTD_decompress(s->decompressed, raw, src, src_len);
    if (ZSTD_isError(got))
        return errbuf_fail_at(err, cap, s->path, "zstd token section: %s (corrupted tokens)", ZSTD_getErrorName(got));
    if (got != raw)
        return errbuf_fail_at(err, cap, s->path, "zstd token section holds %zu bytes, the header says %zu", got, raw);
    s->tokens = s->decompressed;
    return true;
}

/* Validate the mapping held in s->base and set the section pointers. */
static bool open_core(Shard *s, unsigned flags, char *err, size_t cap)
{
    if (!shard_header_decode(s->base, s->base_len, s->base_len, s->path, &s->h, err, cap)) return false;
    const ShardHeader *h = &s->h;
    s->index = s->base + h->index_offset;
    s->seq = s->base + h->seq_offset;
    /* The padding before the index is covered by no checksum; require the zeros the
     * writer puts there, so that no byte of a shard can change unnoticed. */
    for (uint64_t at = h->tokens_offset + h->tokens_size; at < h->index_offset; at++)
        if (s->base[at] != 0)
            return errbuf_fail_at(err, cap, s->path, "offset %llu: padding byte is not zero (corrupted file)", (unsigned long long)at);
    if (!check_index(s, err, cap)) return false;
    bool zstd = h->flags & SHARD_FLAG_ZSTD;
    if (!(flags & SHARD_OPEN_HEADER_ONLY)) {
        if (zstd) {
            if (!decompress_tokens(s, err, cap)) return false;
        } else {
            s->tokens = s->base + h->tokens_offset;
        }
    }
    ShardInfo *in = &s->info;
    in->version = h->version;
    in->token_bytes = h->token_bytes;
    in->vocab_size = h->vocab_size;
    in->vocab_id = h->vocab_id;
    in->n_tokens = h->n_tokens;
    in->n_docs = h->n_docs;
    in->compressed = zstd;
    in->file_bytes = h->file_bytes;
    return true;
}

static void free_shard(Shard *s)
{
    if (!s) return;
    if (s->mapped && s->base_len) munmap((void *)s->base, s->base_len);
    if (s->decompressed) munmap(s->decompressed, s->decompressed_len);
    if (s->fd >= 0) close(s->fd);
    free(s->path);
    free(s);
}

Shard *shard_try_open_ex(const char *path, unsigned flags, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) { errbuf_fail_at(err, cap, path, "%s", strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0) { errbuf_fail_at(err, cap, path, "%s", strerror(errno)); close(fd); return NULL; }
    if (S_ISDIR(st.st_mode)) { errbuf_fail_at(err, cap, path, "is a directory without %s (not a pack)", MANIFEST_NAME); close(fd); return NULL; }
    if (!S_ISREG(st.st_mode)) { errbuf_fail_at(err, cap, path, "not a regular file"); close(fd); return NULL; }
    Shard *s = xcalloc(1, sizeof *s);
    s->fd = -1;
    s->path = xstrdup(path);
    s->base_len = (size_t)st.st_size;
    if (s->base_len > 0) {
        void *p = mmap(NULL, s->base_len, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            errbuf_fail_at(err, cap, path, "mmap failed: %s", strerror(errno));
            close(fd);
            s->base_len = 0;
            free_shard(s);
            return NULL;
        }
        s->base = p;
        s->mapped = true;
    }
    if (flags & SHARD_OPEN_STREAM) s->fd = fd;
    else close(fd);
    if (!open_core(s, flags, err, cap)) {
        free_shard(s);
        return NULL;
    }
    return s;
}

Shard *shard_try_open(const char *path, char *err, size_t cap) { return shard_try_open_ex(path, 0, err, cap); }

Shard *shard_try_open_memory(const void *data, size_t n, const char *name, char *err, size_t cap)
{
    Shard *s = xcalloc(1, sizeof *s);
    s->fd = -1;
    s->path = xstrdup(name);
    s->base = data;
    s->base_len = n;
    if (!open_core(s, 0, err, cap)) {
        free_shard(s);
        return NULL;
    }
    return s;
}

Shard *shard_open(const char *path)
{
    char err[1024];
    Shard *s = shard_try_open(path, err, sizeof err);
    if (!s) die("%s", err);
    return s;
}

Shard *shard_open_memory(const void *data, size_t n, const char *name)
{
    char err[1024];
    Shard *s = shard_try_open_memory(data, n, name, err, sizeof err);
    if (!s) die("%s", err);
    return s;
}

const ShardInfo *shard_info(const Shard *s) { return &s->info; }
const char *shard_path(const Shard *s) { return s->path; }
const ShardHeader *shard_header(const Shard *s) { return &s->h; }
const void *shard_tokens_raw(const Shard *s) { return s->tokens; }

void shard_read(const Shard *s, uint64_t start, size_t n, uint32_t *out)
{
    if (!s->tokens) die("%s: opened without its tokens", s->path);
    if (n == 0 && start <= s->h.n_tokens) return;
    if (start > s->h.n_tokens || n > s->h.n_tokens - start)
        die("%s: read of tokens [%llu, %llu) past the %llu tokens of the shard", s->path, (unsigned long long)start,
            (unsigned long long)(start + n), (unsigned long long)s->h.n_tokens);
    const uint32_t w = s->h.token_bytes;
    const unsigned char *p = s->tokens + start * w;
    if (w == 4) {
        memcpy(out, p, n * 4);
    } else if (((uintptr_t)p & 1) == 0) {
        /* The usual case (mmap'ed or decompressed tokens are aligned): a plain widening
         * loop, vectorized. */
        const uint16_t *q = (const uint16_t *)(const void *)p;
        size_t i = 0;
        for (; i + SIMD_BLOCK <= n; i += SIMD_BLOCK)
            for (size_t j = 0; j < SIMD_BLOCK; j++) out[i + j] = q[i + j];
        for (; i < n; i++) out[i] = q[i];
    } else {
        for (size_t i = 0; i < n; i++) out[i] = load_id(p + 2 * i, 2);
    }
}

uint64_t shard_doc_start(const Shard *s, uint64_t d)
{
    if (d > s->h.n_docs)
        die("%s: document %llu past the %llu documents of the shard", s->path, (unsigned long long)d,
            (unsigned long long)s->h.n_docs);
    return load_u64(s->index + 8 * d);
}

uint64_t shard_doc_seq(const Shard *s, uint64_t d)
{
    if (d >= s->h.n_docs)
        die("%s: document %llu past the %llu documents of the shard", s->path, (unsigned long long)d,
            (unsigned long long)s->h.n_docs);
    return load_u64(s->seq + 8 * d);
}

/* Reference loop: the id range check, one id at a time. */
static bool first_id_beyond(const unsigned char *t, uint64_t n, uint32_t w, uint32_t vocab, uint64_t *at,
                            uint32_t *id)
{
    if (w == 2 && vocab >= 65536u) return false; /* every 16-bit id fits */
    /* Fast pass: a running maximum, vectorized, over aligned ids (the usual case);
     * only when it fails, the reference loop below finds the first offender. */
    if (((uintptr_t)t & (w - 1)) == 0) {
        uint32_t max_seen = max_token_id(t, n, w);
        if (max_seen < vocab) return false;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = load_id(t + w * i, w);
        if (v >= vocab) { *at = i; *id = v; return true; }
    }
    return false;
}

bool shard_verify(const Shard *s, char *err, size_t cap)
{
    const ShardHeader *h = &s->h;
    if (!s->tokens) return errbuf_fail_at(err, cap, s->path, "opened without its tokens");
    /* A zstd shard's ids were checked by zstd's content checksum when decompressed
     * on open; the stored frame is hashed again here, as the uncompressed ids are. */
    if (!stored_tokens_intact(s)) return errbuf_fail_at(err, cap, s->path, "token checksum mismatch (corrupted tokens)");
    uint64_t at;
    uint32_t id;
    if (first_id_beyond(s->tokens, h->n_tokens, h->token_bytes, h->vocab_size, &at, &id)) {
        /* Name the document too: that is what a person looks up next. */
        uint64_t lo = 0, hi = h->n_docs;
        while (lo + 1 < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (shard_doc_start(s, mid) <= at) lo = mid; else hi = mid;
        }
        return errbuf_fail_at(err, cap, s->path, "token %llu (document %llu): id %u is beyond the vocabulary size %u",
                    (unsigned long long)at, (unsigned long long)lo, id, h->vocab_size);
    }
    return true;
}

bool shard_copy_raw(const Shard *s, uint64_t start, size_t n, void *dst, char *err, size_t cap)
{
    if (!s->tokens) return errbuf_fail_at(err, cap, s->path, "opened without its tokens");
    size_t width = s->h.token_bytes, nb = n * width;
    if (s->fd < 0 || s->decompressed) {
        memcpy(dst, s->tokens + start * width, nb);
        return true;
    }
    off_t at = (off_t)(s->h.tokens_offset + start * width);
    for (size_t done = 0; done < nb;) {
        ssize_t got = pread(s->fd, (unsigned char *)dst + done, nb - done, at + (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return errbuf_fail_at(err, cap, s->path, "read failed: %s", strerror(errno));
        if (got == 0) return errbuf_fail_at(err, cap, s->path, "offset %llu: file ends early (truncated while open?)",
                                            (unsigned long long)(at + (off_t)done));
        done += (size_t)got;
    }
    return true;
}

Hash64 *shard_check_begin(const Shard *s)
{
    return s->decompressed ? NULL : hash64_new(0);
}

bool shard_check_end(const Shard *s, Hash64 *h, char *err, size_t cap)
{
    if (!h) return true;
    bool good = hash64_digest(h) == s->h.tokens_check;
    hash64_free(h);
    if (!good) return errbuf_fail_at(err, cap, s->path, "token checksum mismatch (corrupted tokens)");
    return true;
}

void shard_close(Shard *s) { free_shard(s); }

/* Shard sets ---------------------------------------------------------------- */

struct ShardSet {
    char *spec;
    int n;
    Shard **shards;
    uint64_t *starts; /* n + 1 cumulative token positions */
    uint64_t n_docs;
    uint32_t vocab_size;
    uint64_t vocab_id;
};

static void set_add(ShardSet *set, Shard *s)
{
    const ShardInfo *in = shard_info(s);
    if (set->n > 0) {
        const ShardInfo *first = shard_info(set->shards[0]);
        if (in->token_bytes != first->token_bytes || in->vocab_size != first->vocab_size ||
            in->vocab_id != first->vocab_id)
            die("%s: vocabulary (size %u, id %016llx, %u-byte ids) differs from %s (size %u, id %016llx, %u-byte ids)",
                shard_path(s), in->vocab_size, (unsigned long long)in->vocab_id, in->token_bytes,
                shard_path(set->shards[0]), first->vocab_size, (unsigned long long)first->vocab_id,
                first->token_bytes);
    }
    set->shards = xrealloc(set->shards, (size_t)(set->n + 1) * sizeof *set->shards);
    set->starts = xrealloc(set->starts, (size_t)(set->n + 2) * sizeof *set->starts);
    if (set->n == 0) set->starts[0] = 0;
    set->shards[set->n] = s;
    set->starts[set->n + 1] = set->starts[set->n] + in->n_tokens;
    set->n++;
    set->n_docs += in->n_docs;
    set->vocab_size = in->vocab_size;
    set->vocab_id = in->vocab_id;
}

bool shard_matches_manifest(const Shard *s, const Manifest *m, const ManifestShard *ms, char *err, size_t cap)
{
    const ShardHeader *h = shard_header(s);
    if (h->n_docs != ms->n_docs || h->n_tokens != ms->n_tokens)
        return errbuf_fail_at(err, cap, s->path, "holds %llu documents / %llu tokens, the manifest says %llu / %llu",
                    (unsigned long long)h->n_docs, (unsigned long long)h->n_tokens, (unsigned long long)ms->n_docs,
                    (unsigned long long)ms->n_tokens);
    if (h->file_bytes != ms->bytes || h->header_check != ms->checksum)
        return errbuf_fail_at(err, cap, s->path, "is not the shard the manifest lists (size or checksum differs)");
    if (h->vocab_size != m->vocab_size || h->vocab_id != m->vocab_id || h->token_bytes != m->token_bytes ||
        h->stream_token_bytes != m->stream_token_bytes)
        return errbuf_fail_at(err, cap, s->path, "vocabulary or token width differs from the manifest");
    if (!!(h->flags & SHARD_FLAG_ZSTD) != m->compressed)
        return errbuf_fail_at(err, cap, s->path, "compression differs from the manifest");
    return true;
}

ShardSet *shardset_open(const char *spec, const char *split)
{
    ShardSet *set = xcalloc(1, sizeof *set);
    set->spec = xstrdup(spec);
    if (is_directory(spec)) {
        int k = split_from_name(split ? split : "train");
        if (k < 0) die("%s: unknown split '%s' (use train or val)", spec, split);
        Manifest m;
        manifest_load(spec, &m);
        if (m.split[k].n_shards == 0)
            die("%s: the pack has no %s shards%s", spec, split_names[k],
                k == SPLIT_VAL ? " (packed with --val-fraction 0?)" : "");
        for (int i = 0; i < m.split[k].n_shards; i++) {
            const ManifestShard *ms = &m.split[k].shards[i];
            char *path = path_join(spec, ms->file);
            Shard *s = shard_open(path);
            char err[1024];
            if (!shard_matches_manifest(s, &m, ms, err, sizeof err)) die("%s", err);
            set_add(set, s);
            free(path);
        }
        manifest_free(&m);
    } else {
        set_add(set, shard_open(spec));
    }
    return set;
}

uint64_t shardset_tokens(const ShardSet *set) { return set->starts[set->n]; }
uint64_t shardset_docs(const ShardSet *set) { return set->n_docs; }
uint32_t shardset_vocab_size(const ShardSet *set) { return set->vocab_size; }
uint64_t shardset_vocab_id(const ShardSet *set) { return set->vocab_id; }
int shardset_count(const ShardSet *set) { return set->n; }

const Shard *shardset_shard(const ShardSet *set, int i)
{
    if (i < 0 || i >= set->n) die("%s: shard %d of %d", set->spec, i, set->n);
    return set->shards[i];
}

void shardset_read(const ShardSet *set, uint64_t pos, size_t n, uint32_t *out)
{
    uint64_t total = shardset_tokens(set);
    if (pos > total || n > total - pos)
        die("%s: read of tokens [%llu, %llu) past the %llu tokens of the set", set->spec, (unsigned long long)pos,
            (unsigned long long)(pos + n), (unsigned long long)total);
    /* The last shard whose start is <= pos (binary search over the cumulative starts). */
    int lo = 0, hi = set->n;
    while (lo + 1 < hi) {
        int mid = lo + (hi - lo) / 2;
        if (set->starts[mid] <= pos) lo = mid; else hi = mid;
    }
    while (n > 0) {
        uint64_t in_shard = set->starts[lo + 1] - pos;
        size_t take = n < in_shard ? n : (size_t)in_shard;
        shard_read(set->shards[lo], pos - set->starts[lo], take, out);
        out += take;
        pos += take;
        n -= take;
        lo++;
    }
}

uint64_t shardset_verify(const ShardSet *set)
{
    char (*errs)[1024] = xcalloc((size_t)set->n, sizeof *errs);
    bool *ok = xcalloc((size_t)set->n, sizeof *ok);
    uint64_t bytes = 0;
    #pragma omp parallel for schedule(dynamic, 1) reduction(+ : bytes)
    for (int i = 0; i < set->n; i++) {
        ok[i] = shard_verify(set->shards[i], errs[i], sizeof errs[i]);
        bytes += set->shards[i]->h.tokens_size;
    }
    for (int i = 0; i < set->n; i++)
        if (!ok[i]) die("%s", errs[i]);
    free(errs);
    free(ok);
    return bytes;
}

void shardset_close(ShardSet *set)
{
    if (!set) return;
    for (int i = 0; i < set->n; i++) shard_close(set->shards[i]);
    free(set->shards);
    free(set->starts);
    free(set->spec);
    free(set);
}
