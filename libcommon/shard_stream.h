/* shard_stream.h: a shard's documents read once, in order, with the tokens read
 * ahead and their checksum computed on a thread of its own (nmoe-shard cat).
 *
 * For an uncompressed shard the read-ahead thread copies windows of whole
 * documents with pread(2) (for one pass that beats touching a fresh mapping: page
 * faults, TLB misses, on some virtual machines a shadow page-table exit per page),
 * feeds them to the token checksum in order, and hands them over; a document larger
 * than a window is read through the mapping. The caller works on one window while
 * the next is read and hashed. A zstd shard's tokens are in memory and were checked
 * when it was opened: no thread. The caller checks ids against the vocabulary
 * itself; shard_stream_close says whether the checksum matched. */
#ifndef NMOE_SHARD_STREAM_H
#define NMOE_SHARD_STREAM_H

#include "shard_ext.h"

typedef struct ShardStream ShardStream;
/* NULL with `path: reason` in err when the shard cannot be opened. */
ShardStream *shard_stream_open(const char *path, char *err, size_t cap);
const Shard *shard_stream_shard(const ShardStream *ss);
/* The raw ids of document d, asked for in order 0, 1, ... n_docs-1; valid until the
 * next call. Dies naming the file on a read error. */
const void *shard_stream_doc(ShardStream *ss, uint64_t d);
/* True when every document was read and the token checksum matched; else false with
 * `path: reason` in err. Closes the shard and frees ss either way. */
bool shard_stream_close(ShardStream *ss, char *err, size_t cap);

#endif
