/* shard_format.h: the on-disk layout of a shard file (nmoe-shard(5)), shared by the
 * reader (shard.c) and the writer (shard_write.c). All integers little-endian.
 *
 *   header (128 bytes)
 *     0   8  magic "NMOESHRD"
 *     8   4  version (1)
 *    12   4  header_bytes (128)
 *    16   4  token_bytes: 2 (uint16 ids) or 4 (uint32 ids)
 *    20   4  vocab_size: every id is < vocab_size
 *    24   8  vocab_id: identity of the tokenizer (copied from the token stream)
 *    32   8  n_tokens
 *    40   8  n_docs
 *    48   4  flags: bit 0 = token section is one zstd frame; other bits must be 0
 *    52   4  stream_token_bytes: id width of the token stream the shard came from
 *              (2 or 4), so `nmoe-shard cat` gives back the same bytes
 *    56   8  tokens_offset (= 128: 64-byte aligned, so an mmap'ed shard hands out
 *              aligned ids)
 *    64   8  tokens_size: bytes of the token section as stored (n_tokens *
 *              token_bytes uncompressed, the zstd frame's size compressed)
 *    72   8  index_offset = tokens_offset + tokens_size rounded up to 8 (zero padding)
 *    80   8  seq_offset = index_offset + 8 * (n_docs + 1)
 *    88   8  file_bytes = seq_offset + 8 * n_docs: the exact length of the file
 *    96   8  tokens_check: XXH3-64 (seed 0) of the token section as stored (the
 *              zstd frame of a compressed shard: every stored byte is covered, even
 *              those zstd itself ignores; the frame must carry zstd's own checksum
 *              of the ids it holds)
 *   104   8  index_check: XXH3-64 (seed 0) of the document index bytes
 *   112   8  seq_check: XXH3-64 (seed 0) of the sequence section bytes
 *   120   8  header_check: XXH3-64 (seed 0) of bytes 0..119
 *   token section
 *   document index: n_docs + 1 uint64, doc_start[d] = token index where document d
 *     starts; doc_start[0] = 0, non-decreasing, doc_start[n_docs] = n_tokens
 *   sequence section: n_docs uint64, the position of each document in the input of
 *     `nmoe-shard pack` (0-based), strictly increasing within a shard; merging the
 *     train and val shards of a pack by this number restores the input order
 */
#ifndef NMOE_SHARD_FORMAT_H
#define NMOE_SHARD_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHARD_MAGIC "NMOESHRD"
#define SHARD_VERSION 1u
#define SHARD_HEADER_BYTES 128u
#define SHARD_TOKENS_ALIGN 64u
#define SHARD_FLAG_ZSTD 1u
/* zstd's densest encoding is an RLE block: 4 bytes (3 of block header, 1 of data)
 * for the 128 KiB maximum block, so no frame expands more than 32768 times. A header
 * that claims more is lying, and we refuse it before allocating anything. */
#define SHARD_ZSTD_MAX_RATIO 32768u

typedef struct {
    uint32_t version;
    uint32_t header_bytes;
    uint32_t token_bytes;
    uint32_t vocab_size;
    uint64_t vocab_id;
    uint64_t n_tokens;
    uint64_t n_docs;
    uint32_t flags;
    uint32_t stream_token_bytes;
    uint64_t tokens_offset;
    uint64_t tokens_size;
    uint64_t index_offset;
    uint64_t seq_offset;
    uint64_t file_bytes;
    uint64_t tokens_check;
    uint64_t index_check;
    uint64_t seq_check;
    uint64_t header_check;
} ShardHeader;

/* Fill version, header_bytes, the section offsets and file_bytes from token_bytes,
 * n_tokens, n_docs and tokens_size (which the writer knows once the tokens are out). */
void shard_header_layout(ShardHeader *h);
/* Serialize h (its header_check is computed here and stored back into h). */
void shard_header_encode(ShardHeader *h, unsigned char out[SHARD_HEADER_BYTES]);
/* Parse and validate the first `avail` bytes of a file of `file_bytes` bytes: magic,
 * version, header checksum, widths, flags, and that every section lies where the
 * layout puts it and the file ends exactly after the last one. On failure writes
 * `name: reason` into err and returns false; never dies, never reads past avail. */
bool shard_header_decode(const unsigned char *buf, size_t avail, uint64_t file_bytes, const char *name,
                         ShardHeader *h, char *err, size_t cap);

#endif
