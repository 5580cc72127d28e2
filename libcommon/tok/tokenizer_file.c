/* tokenizer_file.c: the nmoe tokenizer file, nmoe-tokenizer(5). All integers
 * little-endian.
 *
 *   header (64 bytes)
 *     0  8  magic "NMOEVOCB"
 *     8  4  version (1)
 *    12  4  flags (0; anything else is rejected)
 *    16  4  n_ranks: mergeable tokens, ids 0 .. n_ranks-1 (at least 256)
 *    20  4  n_special: special tokens
 *    24  4  vocab_size: highest id + 1
 *    28  4  pattern: 0 custom (text in the body), 1 gpt2, 2 cl100k, 3 o200k
 *    32  8  vocab_id: identity hash (tokenizer.h); recomputed and compared on read
 *    40  8  body_bytes: bytes after the header (the file is exactly 64 + body_bytes)
 *    48  8  body_check: XXH3-64 (seed 0) of the body
 *    56  8  header_check: XXH3-64 (seed 0) of bytes 0..55
 *   body
 *     4  pattern_bytes, then the custom pattern text (0 bytes for a built-in pattern)
 *     vocab_size x 4  token byte lengths by id (0 for special tokens and unused ids)
 *     the n_ranks tokens' bytes, concatenated in rank order
 *     n_special x { 4 id, 4 length, the text (UTF-8, no NUL) }
 */
#include "tok/tokenizer.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


uint8_t *tokenizer_to_file_bytes(const Tokenizer *t, size_t *n)
{
    size_t pat = t->pattern_kind == PRETOK_CUSTOM ? strlen(t->pattern) : 0;
    size_t body = 4 + pat + (size_t)t->vocab_size * 4 + t->off[t->n_ranks];
    for (uint32_t i = 0; i < t->n_special; i++) body += 8 + t->special[i].len;
    uint8_t *b = xcalloc(1, TOKFILE_HEADER_BYTES + body);
    uint8_t *q = b + TOKFILE_HEADER_BYTES;
    put_u32le(q, (uint32_t)pat);
    memcpy(q + 4, t->pattern, pat);
    q += 4 + pat;
    for (uint32_t id = 0; id < t->vocab_size; id++, q += 4) put_u32le(q, t->token_len[id]);
    memcpy(q, t->blob, t->off[t->n_ranks]);
    q += t->off[t->n_ranks];
    for (uint32_t i = 0; i < t->n_special; i++) {
        put_u32le(q, t->special[i].id);
        put_u32le(q + 4, (uint32_t)t->special[i].len);
        memcpy(q + 8, t->special[i].text, t->special[i].len);
        q += 8 + t->special[i].len;
    }
    memcpy(b, TOKFILE_MAGIC, 8);
    put_u32le(b + 8, TOKFILE_VERSION);
    put_u32le(b + 12, 0);
    put_u32le(b + 16, t->n_ranks);
    put_u32le(b + 20, t->n_special);
    put_u32le(b + 24, t->vocab_size);
    put_u32le(b + 28, (uint32_t)t->pattern_kind);
    put_u64le(b + 32, t->vocab_id);
    put_u64le(b + 40, body);
    put_u64le(b + 48, hash64(b + TOKFILE_HEADER_BYTES, body, 0));
    put_u64le(b + 56, hash64(b, 56, 0));
    *n = TOKFILE_HEADER_BYTES + body;
    return b;
}

void tokenizer_write_file(const Tokenizer *t, const char *path)
{
    size_t n;
    uint8_t *b = tokenizer_to_file_bytes(t, &n);
    atomic_write_file(path, b, n);
    free(b);
}

Tokenizer *tokenizer_from_file_bytes(const uint8_t *data, size_t n, const char *name, char *err, size_t errlen)
{
    if (n < TOKFILE_HEADER_BYTES) {
        errbuf_fail(err, errlen, "%s: byte %zu: truncated header (%zu of %d bytes)", name, n, n, TOKFILE_HEADER_BYTES);
        return NULL;
    }
    if (memcmp(data, TOKFILE_MAGIC, 8) != 0) { errbuf_fail(err, errlen, "%s: byte 0: bad magic (not an nmoe tokenizer file)", name); return NULL; }
    if (get_u64le(data + 56) != hash64(data, 56, 0)) { errbuf_fail(err, errlen, "%s: byte 56: header checksum mismatch (corrupted header)", name); return NULL; }
    uint32_t version = get_u32le(data + 8);
    if (version != TOKFILE_VERSION) {
        errbuf_fail(err, errlen, "%s: byte 8: unsupported version %u (this build reads %u)", name, version, TOKFILE_VERSION);
        return NULL;
    }
    if (get_u32le(data + 12) != 0) { errbuf_fail(err, errlen, "%s: byte 12: unknown flags 0x%x", name, get_u32le(data + 12)); return NULL; }
    uint32_t n_ranks = get_u32le(data + 16), n_special = get_u32le(data + 20), vocab = get_u32le(data + 24);
    uint32_t kind = get_u32le(data + 28);
    uint64_t vocab_id = get_u64le(data + 32), body = get_u64le(data + 40);
    if (body != n - TOKFILE_HEADER_BYTES) {
        errbuf_fail(err, errlen, "%s: byte 40: header says %llu body bytes but the file holds %zu (truncated or padded)", name,
                (unsigned long long)body, n - TOKFILE_HEADER_BYTES);
        return NULL;
    }
    const uint8_t *b = data + TOKFILE_HEADER_BYTES;
    if (get_u64le(data + 48) != hash64(b, body, 0)) { errbuf_fail(err, errlen, "%s: byte 48: body checksum mismatch (corrupted file)", name); return NULL; }
    if (kind > PRETOK_O200K) { errbuf_fail(err, errlen, "%s: byte 28: unknown pattern kind %u", name, kind); return NULL; }
    if (n_ranks < 256 || n_ranks > vocab) {
        errbuf_fail(err, errlen, "%s: byte 16: %u mergeable tokens (must be 256 .. vocab_size %u)", name, n_ranks, vocab);
        return NULL;
    }
    /* Sizes are checked against the body before anything is allocated from them. */
    uint64_t at = 0;
#define NEED(k, what) do { if ((uint64_t)(k) > body - at) { \
        errbuf_fail(err, errlen, "%s: byte %llu: truncated %s", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at), what); \
        goto fail; } } while (0)
    uint8_t *blob = NULL;
    uint64_t *off = NULL;
    SpecialToken *special = NULL;
    uint32_t n_sp = 0;
    char *custom = NULL;
    NEED(4, "pattern length");
    uint32_t pat = get_u32le(b + at);
    at += 4;
    NEED(pat, "pattern");
    if (kind != PRETOK_CUSTOM && pat != 0) { errbuf_fail(err, errlen, "%s: byte %llu: pattern text given for a built-in pattern", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at - 4)); goto fail; }
    if (kind == PRETOK_CUSTOM) {
        if (pat == 0 || memchr(b + at, 0, pat)) { errbuf_fail(err, errlen, "%s: byte %llu: custom pattern is empty or holds a NUL", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at)); goto fail; }
        custom = xmalloc(pat + 1);
        memcpy(custom, b + at, pat);
        custom[pat] = 0;
    }
    at += pat;
    uint64_t len_table = at;
    NEED((uint64_t)vocab * 4, "token length table");
    off = xmalloc(((size_t)n_ranks + 1) * sizeof *off);
    off[0] = 0;
    for (uint32_t r = 0; r < n_ranks; r++) {
        uint32_t l = get_u32le(b + at + 4ull * r);
        if (l == 0) { errbuf_fail(err, errlen, "%s: byte %llu: token %u has length 0", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at + 4ull * r), r); goto fail; }
        off[r + 1] = off[r] + l;
    }
    at += (uint64_t)vocab * 4;
    NEED(off[n_ranks], "token bytes");
    blob = xmalloc(off[n_ranks] ? off[n_ranks] : 1);
    memcpy(blob, b + at, off[n_ranks]);
    at += off[n_ranks];
    if ((uint64_t)n_special * 8 > body - at) { NEED((uint64_t)n_special * 8, "special tokens"); }
    special = xcalloc(n_special ? n_special : 1, sizeof *special);
    for (uint32_t i = 0; i < n_special; i++) {
        NEED(8, "special token");
        uint32_t id = get_u32le(b + at), l = get_u32le(b + at + 4);
        at += 8;
        NEED(l, "special token text");
        if (l == 0 || memchr(b + at, 0, l)) { errbuf_fail(err, errlen, "%s: byte %llu: special token text is empty or holds a NUL", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at)); goto fail; }
        if (id < n_ranks || id >= vocab) {
            errbuf_fail(err, errlen, "%s: byte %llu: special token id %u outside %u .. %u", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at - 8), id, n_ranks, vocab - 1);
            goto fail;
        }
        if (get_u32le(b + len_table + 4ull * id) != 0) {
            errbuf_fail(err, errlen, "%s: byte %llu: special token %u has a non-zero byte length", name, (unsigned long long)(TOKFILE_HEADER_BYTES + len_table + 4ull * id), id);
            goto fail;
        }
        special[i].text = xmalloc(l + 1);
        memcpy(special[i].text, b + at, l);
        special[i].text[l] = 0;
        special[i].len = l;
        special[i].id = id;
        n_sp++;
        at += l;
    }
    if (at != body) { errbuf_fail(err, errlen, "%s: byte %llu: %llu unexpected bytes after the special tokens", name, (unsigned long long)(TOKFILE_HEADER_BYTES + at), (unsigned long long)(body - at)); goto fail; }
    for (uint32_t id = n_ranks; id < vocab; id++)
        if (get_u32le(b + len_table + 4ull * id) != 0) {
            errbuf_fail(err, errlen, "%s: byte %llu: id %u is not a mergeable token but has a byte length", name, (unsigned long long)(TOKFILE_HEADER_BYTES + len_table + 4ull * id), id);
            goto fail;
        }
    {
        uint32_t bad;
        char berr[300];
        Tokenizer *t = tokenizer_build(blob, off, n_ranks, special, n_sp, (PretokKind)kind, custom, &bad, berr, sizeof berr);
        blob = NULL, off = NULL, special = NULL;
        free(custom);
        custom = NULL;
        if (!t) {
            if (bad != UINT32_MAX) errbuf_fail(err, errlen, "%s: token %u: %s", name, bad, berr);
            else errbuf_fail(err, errlen, "%s: %s", name, berr);
            return NULL;
        }
        if (t->vocab_size != vocab) {
            errbuf_fail(err, errlen, "%s: byte 24: vocab_size %u but the highest id is %u", name, vocab, t->vocab_size - 1);
            tokenizer_free(t);
            return NULL;
        }
        if (t->vocab_id != vocab_id) {
            errbuf_fail(err, errlen, "%s: byte 32: identity hash mismatch (file says %016llx, content gives %016llx)", name,
                    (unsigned long long)vocab_id, (unsigned long long)t->vocab_id);
            tokenizer_free(t);
            return NULL;
        }
        return t;
    }
fail:
    free(blob);
    free(off);
    for (uint32_t i = 0; i < n_sp; i++) free(special[i].text);
    free(special);
    free(custom);
    return NULL;
#undef NEED
}

Tokenizer *tokenizer_read_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { errbuf_fail(err, errlen, "%s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) { errbuf_fail(err, errlen, "%s: read failed", path); free(buf); return NULL; }
    Tokenizer *t = tokenizer_from_file_bytes(buf, n, path, err, errlen);
    free(buf);
    return t;
}
