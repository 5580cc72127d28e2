/* shard_format.c: encode and validate the shard header (see shard_format.h). */
#include "shard/shard_format.h"
#include "base/error.h" /* NMOE_PRINTF */
#include "base/hash.h"
#include "formats/tokstream.h" /* put/get_uXXle, token_bytes_for_vocab */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HEADER_CHECKED_BYTES 120u

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

void shard_header_layout(ShardHeader *h)
{
    h->version = SHARD_VERSION;
    h->header_bytes = SHARD_HEADER_BYTES;
    h->tokens_offset = align_up(SHARD_HEADER_BYTES, SHARD_TOKENS_ALIGN);
    h->index_offset = align_up(h->tokens_offset + h->tokens_size, 8);
    h->seq_offset = h->index_offset + 8 * (h->n_docs + 1);
    h->file_bytes = h->seq_offset + 8 * h->n_docs;
}

void shard_header_encode(ShardHeader *h, unsigned char b[SHARD_HEADER_BYTES])
{
    memset(b, 0, SHARD_HEADER_BYTES);
    memcpy(b, SHARD_MAGIC, 8);
    put_u32le(b + 8, h->version);
    put_u32le(b + 12, h->header_bytes);
    put_u32le(b + 16, h->token_bytes);
    put_u32le(b + 20, h->vocab_size);
    put_u64le(b + 24, h->vocab_id);
    put_u64le(b + 32, h->n_tokens);
    put_u64le(b + 40, h->n_docs);
    put_u32le(b + 48, h->flags);
    put_u32le(b + 52, h->stream_token_bytes);
    put_u64le(b + 56, h->tokens_offset);
    put_u64le(b + 64, h->tokens_size);
    put_u64le(b + 72, h->index_offset);
    put_u64le(b + 80, h->seq_offset);
    put_u64le(b + 88, h->file_bytes);
    put_u64le(b + 96, h->tokens_check);
    put_u64le(b + 104, h->index_check);
    put_u64le(b + 112, h->seq_check);
    h->header_check = hash64(b, HEADER_CHECKED_BYTES, 0);
    put_u64le(b + 120, h->header_check);
}


bool shard_header_decode(const unsigned char *b, size_t avail, uint64_t file_bytes, const char *name,
                         ShardHeader *h, char *err, size_t cap)
{
    memset(h, 0, sizeof *h);
    /* Magic and version come first: a file from a future version may lay its header
     * out differently, and "unsupported version" is the message that helps then. */
    if (avail > file_bytes) avail = (size_t)file_bytes;
    if (avail > 0 && memcmp(b, SHARD_MAGIC, avail < 8 ? avail : 8) != 0)
        return errbuf_fail_at(err, cap, name, "bad magic (not an nmoe shard)");
    if (avail < 12)
        return errbuf_fail_at(err, cap, name, "truncated: %llu bytes, shorter than the %u-byte header",
                    (unsigned long long)file_bytes, SHARD_HEADER_BYTES);
    h->version = get_u32le(b + 8);
    if (h->version != SHARD_VERSION)
        return errbuf_fail_at(err, cap, name, "unsupported shard version %u (this build reads version %u)", h->version,
                    SHARD_VERSION);
    if (avail < SHARD_HEADER_BYTES)
        return errbuf_fail_at(err, cap, name, "truncated: %llu bytes, shorter than the %u-byte header",
                    (unsigned long long)file_bytes, SHARD_HEADER_BYTES);
    h->header_check = get_u64le(b + 120);
    if (h->header_check != hash64(b, HEADER_CHECKED_BYTES, 0))
        return errbuf_fail_at(err, cap, name, "header checksum mismatch (corrupted header)");

    h->header_bytes = get_u32le(b + 12);
    h->token_bytes = get_u32le(b + 16);
    h->vocab_size = get_u32le(b + 20);
    h->vocab_id = get_u64le(b + 24);
    h->n_tokens = get_u64le(b + 32);
    h->n_docs = get_u64le(b + 40);
    h->flags = get_u32le(b + 48);
    h->stream_token_bytes = get_u32le(b + 52);
    h->tokens_offset = get_u64le(b + 56);
    h->tokens_size = get_u64le(b + 64);
    h->index_offset = get_u64le(b + 72);
    h->seq_offset = get_u64le(b + 80);
    h->file_bytes = get_u64le(b + 88);
    h->tokens_check = get_u64le(b + 96);
    h->index_check = get_u64le(b + 104);
    h->seq_check = get_u64le(b + 112);

    /* The checksum matched, so what follows catches writer bugs and hand-made files. */
    if (h->header_bytes != SHARD_HEADER_BYTES)
        return errbuf_fail_at(err, cap, name, "header size %u, expected %u", h->header_bytes, SHARD_HEADER_BYTES);
    if (h->token_bytes != 2 && h->token_bytes != 4)
        return errbuf_fail_at(err, cap, name, "token width %u is not 2 or 4", h->token_bytes);
    if (h->stream_token_bytes != 2 && h->stream_token_bytes != 4)
        return errbuf_fail_at(err, cap, name, "stream token width %u is not 2 or 4", h->stream_token_bytes);
    if (h->vocab_size == 0) return errbuf_fail_at(err, cap, name, "vocabulary size is 0");
    if (h->token_bytes == 2 && h->vocab_size > 65536u)
        return errbuf_fail_at(err, cap, name, "vocabulary size %u does not fit 16-bit ids", h->vocab_size);
    if (h->stream_token_bytes == 2 && h->vocab_size > 65536u)
        return errbuf_fail_at(err, cap, name, "vocabulary size %u does not fit the 16-bit ids of its stream", h->vocab_size);
    if (h->flags & ~SHARD_FLAG_ZSTD) return errbuf_fail_at(err, cap, name, "unknown flags 0x%x in header", h->flags);

    /* Sizes against the real file length: a truncated or padded file stops here. */
    if (file_bytes < h->file_bytes)
        return errbuf_fail_at(err, cap, name, "truncated: %llu bytes, the header says %llu", (unsigned long long)file_bytes,
                    (unsigned long long)h->file_bytes);
    if (file_bytes > h->file_bytes)
        return errbuf_fail_at(err, cap, name, "%llu bytes of trailing garbage after the %llu the header accounts for",
                    (unsigned long long)(file_bytes - h->file_bytes), (unsigned long long)h->file_bytes);
    /* Bound every count by the file size before multiplying, so nothing overflows. */
    if (h->n_docs > file_bytes / 16)
        return errbuf_fail_at(err, cap, name, "%llu documents cannot fit a file of %llu bytes", (unsigned long long)h->n_docs,
                    (unsigned long long)file_bytes);
    if (h->tokens_size > file_bytes)
        return errbuf_fail_at(err, cap, name, "token section of %llu bytes is larger than the file",
                    (unsigned long long)h->tokens_size);
    bool zstd = h->flags & SHARD_FLAG_ZSTD;
    if (!zstd) {
        if (h->n_tokens > file_bytes / h->token_bytes || h->tokens_size != h->n_tokens * h->token_bytes)
            return errbuf_fail_at(err, cap, name, "token section of %llu bytes does not hold %llu tokens of %u bytes",
                        (unsigned long long)h->tokens_size, (unsigned long long)h->n_tokens, h->token_bytes);
    } else {
        if (h->tokens_size == 0) return errbuf_fail_at(err, cap, name, "compressed token section is empty");
        if (h->n_tokens > UINT64_MAX / 4 ||
            h->n_tokens * h->token_bytes / SHARD_ZSTD_MAX_RATIO > h->tokens_size)
            return errbuf_fail_at(err, cap, name, "%llu tokens cannot come from a zstd frame of %llu bytes",
                        (unsigned long long)h->n_tokens, (unsigned long long)h->tokens_size);
    }
    ShardHeader want = *h;
    shard_header_layout(&want);
    if (h->tokens_offset != want.tokens_offset)
        return errbuf_fail_at(err, cap, name, "token section at offset %llu, expected %llu",
                    (unsigned long long)h->tokens_offset, (unsigned long long)want.tokens_offset);
    if (h->index_offset != want.index_offset)
        return errbuf_fail_at(err, cap, name, "document index at offset %llu, expected %llu",
                    (unsigned long long)h->index_offset, (unsigned long long)want.index_offset);
    if (h->seq_offset != want.seq_offset)
        return errbuf_fail_at(err, cap, name, "sequence section at offset %llu, expected %llu",
                    (unsigned long long)h->seq_offset, (unsigned long long)want.seq_offset);
    if (h->file_bytes != want.file_bytes)
        return errbuf_fail_at(err, cap, name, "header says %llu bytes, but its sections end at %llu",
                    (unsigned long long)h->file_bytes, (unsigned long long)want.file_bytes);
    return true;
}
