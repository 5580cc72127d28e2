/* tokstream.h: the token stream, the pipe format from nmoe-tok to nmoe-shard
 * (nmoe-tokens(5)). All integers little-endian.
 *
 *   header (40 bytes)
 *     0  8  magic "NMOETOKS"
 *     8  4  version (1)
 *    12  4  token_bytes: 2 (uint16 ids) or 4 (uint32 ids)
 *    16  4  vocab_size: every id is < vocab_size
 *    20  4  flags: 0 (reserved; non-zero is rejected)
 *    24  8  vocab_id: identity of the tokenizer (hash of its file)
 *    32  8  header_check: XXH3-64 (seed 0) of bytes 0..31
 *   then one frame per document
 *     4  n_tokens (0 .. 0xFFFFFFFE)
 *     n_tokens * token_bytes  the ids
 *     4  frame_check: low 32 bits of XXH3-64 of the id bytes, seed n_tokens
 *   then the trailer
 *     4  0xFFFFFFFF
 *     8  n_docs   (frames in this stream)
 *     8  n_tokens (ids in this stream)
 *
 * Streams may be concatenated (`cat a.tok b.tok`): after a trailer, a reader accepts
 * another header with the same token_bytes, vocab_size and vocab_id. A stream that
 * ends without its trailer is truncated and rejected. */
#ifndef NMOE_TOKSTREAM_H
#define NMOE_TOKSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOKSTREAM_MAGIC "NMOETOKS"
#define TOKSTREAM_VERSION 1u
#define TOKSTREAM_HEADER_BYTES 40
#define TOKSTREAM_END 0xFFFFFFFFu

typedef struct {
    uint32_t token_bytes; /* 2 or 4 */
    uint32_t vocab_size;
    uint64_t vocab_id;
} TokHeader;

/* Smallest width that holds every id below vocab_size. */
uint32_t token_bytes_for_vocab(uint32_t vocab_size);

/* Writer: header now, a frame per tokw_doc, the trailer at tokw_finish. `name` is
 * used in messages ("-" for stdout). Ids >= vocab_size are a fatal error. */
typedef struct TokWriter TokWriter;
TokWriter *tokw_open(FILE *fp, const char *name, const TokHeader *h);
void tokw_doc(TokWriter *w, const uint32_t *ids, size_t n);
/* One document whose ids come in runs (in order): the same frame as tokw_doc on
 * their concatenation, with no concatenated copy made first. */
typedef struct {
    const uint32_t *ids;
    size_t n;
} IdRun;
void tokw_doc_runs(TokWriter *w, const IdRun *runs, size_t n_runs);
/* A frame from n ids already at the stream's width (little-endian), in two steps,
 * for a caller that checks ids against something of its own (nmoe-shard cat names
 * the shard and the document): tok_frame_scan reads the ids once, block by block so
 * each block is hashed while in cache, and returns their frame check and largest
 * id; tokw_frame then writes the frame with that check, straight from `raw`, once
 * the caller has made sure every id is < vocab_size. */
typedef struct {
    uint32_t check;
    uint32_t max_id;
} TokFrameScan;
TokFrameScan tok_frame_scan(const void *raw, size_t n, uint32_t width);
void tokw_frame(TokWriter *w, const void *raw, size_t n, uint32_t check);
/* Writes the trailer and flushes; does not close fp. Frees w. */
void tokw_finish(TokWriter *w);

/* The --ids text view of a document (nmoe-tok encode --ids, nmoe-shard cat --ids):
 * ids in decimal separated by single spaces, one document per line. This writes n
 * ids at p, with a space before the first unless `first`; p must have room for
 * IDS_TEXT_MAX_BYTES per id. Returns where it stopped. */
#define IDS_TEXT_MAX_BYTES 11
char *ids_text_put(char *p, const uint32_t *ids, size_t n, bool first);

/* Reader: dies with `name: offset N: reason` on any malformed input. */
typedef struct TokReader TokReader;
TokReader *tokr_open(FILE *fp, const char *name);
const TokHeader *tokr_header(const TokReader *r);
/* 1 and the next document (valid until the next call), or 0 at the final trailer. */
int tokr_next(TokReader *r, const uint32_t **ids, size_t *n);
uint64_t tokr_docs_read(const TokReader *r);
uint64_t tokr_tokens_read(const TokReader *r);
void tokr_close(TokReader *r); /* does not close fp */

/* Largest id among n little-endian ids of `width` bytes (2 or 4); 0 when n is 0. */
uint32_t max_token_id(const void *raw, size_t n, uint32_t width);

/* Little-endian helpers shared by the binary formats. */
static inline void put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void put_u64le(unsigned char *p, uint64_t v)
{
    put_u32le(p, (uint32_t)v);
    put_u32le(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64le(const unsigned char *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

#endif
