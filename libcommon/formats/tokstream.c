/* tokstream.c: see tokstream.h for the format. */
#include "formats/tokstream.h"
#include "base/error.h"
#include "base/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "nmoe formats assume a little-endian host");

uint32_t token_bytes_for_vocab(uint32_t vocab_size) { return vocab_size <= 65536u ? 2u : 4u; }

static uint32_t frame_check(const void *bytes, size_t n_bytes, uint32_t n_tokens)
{
    return (uint32_t)hash64(bytes, n_bytes, n_tokens);
}

static void encode_header(unsigned char b[TOKSTREAM_HEADER_BYTES], const TokHeader *h)
{
    memset(b, 0, TOKSTREAM_HEADER_BYTES);
    memcpy(b, TOKSTREAM_MAGIC, 8);
    put_u32le(b + 8, TOKSTREAM_VERSION);
    put_u32le(b + 12, h->token_bytes);
    put_u32le(b + 16, h->vocab_size);
    put_u32le(b + 20, 0);
    put_u64le(b + 24, h->vocab_id);
    put_u64le(b + 32, hash64(b, 32, 0));
}

/* Writer ------------------------------------------------------------------- */

struct TokWriter {
    FILE *fp;
    char *name;
    TokHeader h;
    uint64_t n_docs, n_tokens;
    unsigned char *buf;
    size_t cap;
};

static void wr(TokWriter *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->fp) != n) die("%s: write failed: %s", w->name, strerror(errno));
}

TokWriter *tokw_open(FILE *fp, const char *name, const TokHeader *h)
{
    if (h->token_bytes != 2 && h->token_bytes != 4) die("%s: token width %u is not 2 or 4", name, h->token_bytes);
    if (h->vocab_size == 0) die("%s: vocabulary size is 0", name);
    if (h->token_bytes == 2 && h->vocab_size > 65536u)
        die("%s: vocabulary of %u does not fit 16-bit ids", name, h->vocab_size);
    TokWriter *w = xcalloc(1, sizeof *w);
    w->fp = fp;
    w->name = xstrdup(name);
    w->h = *h;
    unsigned char b[TOKSTREAM_HEADER_BYTES];
    encode_header(b, h);
    wr(w, b, sizeof b);
    return w;
}

void tokw_doc_runs(TokWriter *w, const IdRun *runs, size_t n_runs)
{
    size_t n = 0;
    for (size_t r = 0; r < n_runs; r++) n += runs[r].n;
    if (n >= TOKSTREAM_END) die("%s: document of %zu tokens is too long for one frame", w->name, n);
    size_t nb = n * w->h.token_bytes;
    if (nb + 4 > w->cap) {
        w->cap = nb + 4 + 1024;
        w->buf = xrealloc(w->buf, w->cap);
    }
    /* Narrow into the frame buffer and find the largest id in the same pass, run by
     * run (plain loops over typed stores, which gcc vectorizes; the host is
     * little-endian and the buffer from malloc is aligned for them). */
    size_t at = 0;
    for (size_t r = 0; r < n_runs; r++) {
        const uint32_t *ids = runs[r].ids;
        size_t k = runs[r].n;
        uint32_t m = 0;
        if (w->h.token_bytes == 2) {
            uint16_t *o = (uint16_t *)(void *)w->buf + at;
            for (size_t i = 0; i < k; i++) {
                o[i] = (uint16_t)ids[i];
                m = ids[i] > m ? ids[i] : m;
            }
        } else {
            uint32_t *o = (uint32_t *)(void *)w->buf + at;
            for (size_t i = 0; i < k; i++) {
                o[i] = ids[i];
                m = ids[i] > m ? ids[i] : m;
            }
        }
        if (k && m >= w->h.vocab_size)
            die("%s: token id %u in document %llu is beyond the vocabulary size %u", w->name, m,
                (unsigned long long)w->n_docs, w->h.vocab_size);
        at += k;
    }
    tokw_frame(w, w->buf, n, frame_check(w->buf, nb, (uint32_t)n));
}

void tokw_doc(TokWriter *w, const uint32_t *ids, size_t n)
{
    IdRun run = { ids, n };
    tokw_doc_runs(w, &run, 1);
}

/* In blocks of MAX_ID_LANES lanes: a fixed-count inner loop is what gcc's -O2
 * vectorizer takes; then the lanes and the tail. */
#define MAX_ID_LANES 16
#define MAX_ID_LOOP(T, q, n, m) do { \
        T lane[MAX_ID_LANES] = { 0 }; \
        size_t i = 0; \
        for (; i + MAX_ID_LANES <= (n); i += MAX_ID_LANES) \
            for (size_t j = 0; j < MAX_ID_LANES; j++) lane[j] = (q)[i + j] > lane[j] ? (q)[i + j] : lane[j]; \
        for (size_t j = 0; j < MAX_ID_LANES; j++) (m) = lane[j] > (m) ? lane[j] : (m); \
        for (; i < (n); i++) (m) = (q)[i] > (m) ? (q)[i] : (m); \
    } while (0)

uint32_t max_token_id(const void *raw, size_t n, uint32_t width)
{
    uint32_t m = 0;
    if (width == 2) MAX_ID_LOOP(uint16_t, (const uint16_t *)raw, n, m);
    else MAX_ID_LOOP(uint32_t, (const uint32_t *)raw, n, m);
    return m;
}

/* Bytes per block of tok_frame_scan: small enough to stay in cache between the
 * block's two reads (largest id, frame check). */
#define SCAN_BLOCK_BYTES ((size_t)32 << 10)

TokFrameScan tok_frame_scan(const void *raw, size_t n, uint32_t width)
{
    const unsigned char *p = raw;
    size_t nb = n * width;
    TokFrameScan r = { 0, 0 };
    if (nb <= SCAN_BLOCK_BYTES) {
        r.max_id = max_token_id(p, n, width);
        r.check = frame_check(p, nb, (uint32_t)n);
        return r;
    }
    /* Streaming XXH3 with the same seed gives the one-shot value. */
    Hash64 *frame = hash64_new((uint32_t)n);
    for (size_t off = 0; off < nb; off += SCAN_BLOCK_BYTES) {
        size_t len = nb - off < SCAN_BLOCK_BYTES ? nb - off : SCAN_BLOCK_BYTES;
        uint32_t m = max_token_id(p + off, len / width, width);
        if (m > r.max_id) r.max_id = m;
        hash64_update(frame, p + off, len);
    }
    r.check = (uint32_t)hash64_digest(frame);
    hash64_free(frame);
    return r;
}

void tokw_frame(TokWriter *w, const void *raw, size_t n, uint32_t check)
{
    if (n >= TOKSTREAM_END) die("%s: document of %zu tokens is too long for one frame", w->name, n);
    unsigned char len[4], chk[4];
    put_u32le(len, (uint32_t)n);
    put_u32le(chk, check);
    wr(w, len, 4);
    wr(w, raw, n * w->h.token_bytes);
    wr(w, chk, 4);
    w->n_docs++;
    w->n_tokens += n;
}

void tokw_finish(TokWriter *w)
{
    unsigned char t[20];
    put_u32le(t, TOKSTREAM_END);
    put_u64le(t + 4, w->n_docs);
    put_u64le(t + 12, w->n_tokens);
    wr(w, t, sizeof t);
    if (fflush(w->fp) != 0) die("%s: write failed: %s", w->name, strerror(errno));
    free(w->name);
    free(w->buf);
    free(w);
}

char *ids_text_put(char *p, const uint32_t *ids, size_t n, bool first)
{
    for (size_t i = 0; i < n; i++) {
        char digits[10];
        int k = 0;
        uint32_t v = ids[i];
        do { digits[k++] = (char)('0' + v % 10); v /= 10; } while (v);
        if (!first || i) *p++ = ' ';
        while (k) *p++ = digits[--k];
    }
    return p;
}

/* Reader ------------------------------------------------------------------- */

struct TokReader {
    FILE *fp;
    char *name;
    TokHeader h;
    uint64_t offset;               /* bytes consumed so far, for messages */
    uint64_t docs, tokens;         /* in the current stream, checked at its trailer */
    uint64_t total_docs, total_tokens;
    unsigned char *raw;
    uint32_t *ids;
    size_t cap;                    /* tokens the buffers hold */
};

/* Read exactly n bytes or die naming what was being read. Returns 0 on clean EOF
 * before the first byte when eof_ok. */
static int rd(TokReader *r, void *p, size_t n, const char *what, int eof_ok)
{
    size_t got = fread(p, 1, n, r->fp);
    if (got != n) {
        if (ferror(r->fp)) die("%s: read failed: %s", r->name, strerror(errno));
        if (got == 0 && eof_ok) return 0;
        die("%s: offset %llu: truncated %s (got %zu of %zu bytes)", r->name,
            (unsigned long long)(r->offset + got), what, got, n);
    }
    r->offset += n;
    return 1;
}

static void read_header(TokReader *r, TokHeader *h)
{
    unsigned char b[TOKSTREAM_HEADER_BYTES];
    uint64_t at = r->offset;
    rd(r, b, sizeof b, "header", 0);
    if (memcmp(b, TOKSTREAM_MAGIC, 8) != 0)
        die("%s: offset %llu: bad magic (not an nmoe token stream)", r->name, (unsigned long long)at);
    if (get_u64le(b + 32) != hash64(b, 32, 0))
        die("%s: offset %llu: header checksum mismatch (corrupted header)", r->name, (unsigned long long)at);
    uint32_t version = get_u32le(b + 8);
    if (version != TOKSTREAM_VERSION)
        die("%s: unsupported token stream version %u (this build reads %u)", r->name, version, TOKSTREAM_VERSION);
    h->token_bytes = get_u32le(b + 12);
    h->vocab_size = get_u32le(b + 16);
    h->vocab_id = get_u64le(b + 24);
    if (h->token_bytes != 2 && h->token_bytes != 4) die("%s: token width %u is not 2 or 4", r->name, h->token_bytes);
    if (h->vocab_size == 0 || (h->token_bytes == 2 && h->vocab_size > 65536u))
        die("%s: vocabulary size %u does not fit the token width %u", r->name, h->vocab_size, h->token_bytes);
    if (get_u32le(b + 20) != 0) die("%s: unknown flags 0x%x in header", r->name, get_u32le(b + 20));
}

TokReader *tokr_open(FILE *fp, const char *name)
{
    TokReader *r = xcalloc(1, sizeof *r);
    r->fp = fp;
    r->name = xstrdup(name);
    read_header(r, &r->h);
    return r;
}

const TokHeader *tokr_header(const TokReader *r) { return &r->h; }
uint64_t tokr_docs_read(const TokReader *r) { return r->total_docs; }
uint64_t tokr_tokens_read(const TokReader *r) { return r->total_tokens; }

static void grow(TokReader *r, size_t n_tokens)
{
    if (n_tokens <= r->cap) return;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < n_tokens) cap *= 2;
    r->raw = xrealloc(r->raw, cap * 4);
    r->ids = xrealloc(r->ids, cap * sizeof *r->ids);
    r->cap = cap;
}

int tokr_next(TokReader *r, const uint32_t **ids, size_t *n)
{
    for (;;) {
        unsigned char b[4];
        uint64_t frame_at = r->offset;
        rd(r, b, 4, "frame length (stream ends without its trailer)", 0);
        uint32_t len = get_u32le(b);
        if (len == TOKSTREAM_END) {
            unsigned char t[16];
            rd(r, t, 16, "trailer", 0);
            uint64_t docs = get_u64le(t), toks = get_u64le(t + 8);
            if (docs != r->docs || toks != r->tokens)
                die("%s: offset %llu: trailer counts %llu documents / %llu tokens, but the stream held %llu / %llu",
                    r->name, (unsigned long long)frame_at, (unsigned long long)docs, (unsigned long long)toks,
                    (unsigned long long)r->docs, (unsigned long long)r->tokens);
            /* Another stream may follow (concatenation). */
            int c = fgetc(r->fp);
            if (c == EOF) {
                if (ferror(r->fp)) die("%s: read failed: %s", r->name, strerror(errno));
                return 0;
            }
            ungetc(c, r->fp);
            TokHeader h2;
            read_header(r, &h2);
            if (h2.token_bytes != r->h.token_bytes || h2.vocab_size != r->h.vocab_size || h2.vocab_id != r->h.vocab_id)
                die("%s: offset %llu: concatenated stream has a different vocabulary", r->name,
                    (unsigned long long)(r->offset - TOKSTREAM_HEADER_BYTES));
            r->docs = r->tokens = 0;
            continue;
        }
        /* Read in bounded chunks, so a corrupted length cannot make us allocate
         * gigabytes before the truncation or checksum error is found. */
        size_t tb = r->h.token_bytes, done = 0;
        while (done < len) {
            size_t chunk = len - done < (1u << 20) ? len - done : (1u << 20);
            grow(r, done + chunk);
            rd(r, r->raw + done * tb, chunk * tb, "document tokens", 0);
            done += chunk;
        }
        rd(r, b, 4, "frame checksum", 0);
        if (get_u32le(b) != frame_check(r->raw, (size_t)len * tb, len))
            die("%s: offset %llu: document %llu checksum mismatch (corrupted tokens)", r->name,
                (unsigned long long)frame_at, (unsigned long long)r->total_docs);
        grow(r, len);
        for (size_t i = 0; i < len; i++) {
            uint32_t id = tb == 2 ? (uint32_t)r->raw[2 * i] | (uint32_t)r->raw[2 * i + 1] << 8 : get_u32le(r->raw + 4 * i);
            if (id >= r->h.vocab_size)
                die("%s: offset %llu: token id %u beyond the vocabulary size %u", r->name,
                    (unsigned long long)(frame_at + 4 + i * tb), id, r->h.vocab_size);
            r->ids[i] = id;
        }
        r->docs++;
        r->tokens += len;
        r->total_docs++;
        r->total_tokens += len;
        *ids = r->ids;
        *n = len;
        return 1;
    }
}

void tokr_close(TokReader *r)
{
    if (!r) return;
    free(r->name);
    free(r->raw);
    free(r->ids);
    free(r);
}
