/* shard_stream.h: a shard's documents read once, in order, for writing them out as
 * a token stream (nmoe-shard cat), with the reading and checking done ahead on
 * threads of their own.
 *
 * For an uncompressed shard a reader thread copies windows of whole documents with
 * pread(2) (for one pass that beats touching a fresh mapping: page faults, TLB
 * misses, on some virtual machines a shadow page-table exit per page); a hasher
 * thread feeds them to the token checksum in order; a scanner thread computes each
 * document's frame check and largest id (tok_frame_scan); the caller gets windows
 * after all three. On fewer than four cores the reader also hashes and the caller
 * scans. A document larger than a window is read through the mapping. A zstd
 * shard's tokens are in memory and were checked when it was opened: no threads,
 * the scan is done on the caller's. The caller checks ids against the vocabulary
 * itself; shard_stream_close says whether the checksum matched. */
#ifndef NMOE_SHARD_STREAM_H
#define NMOE_SHARD_STREAM_H

#include "shard/shard_ext.h"
#include "formats/tokstream.h"

typedef struct ShardStream ShardStream;
/* NULL with `path: reason` in err when the shard cannot be opened. */
ShardStream *shard_stream_open(const char *path, char *err, size_t cap);
/* The same with the hasher and scanner threads chosen: 1 on, 0 off, -1 by the
 * number of cores (what shard_stream_open does); for tests of both ways. */
ShardStream *shard_stream_open_ex(const char *path, int helpers, char *err, size_t cap);
const Shard *shard_stream_shard(const ShardStream *ss);
/* The raw ids of document d, asked for in order 0, 1, ... n_docs-1, valid until the
 * next call; their frame check and largest id in *scan. Dies naming the file on a
 * read error. */
const void *shard_stream_doc(ShardStream *ss, uint64_t d, TokFrameScan *scan);
/* True when every document was read and the token checksum matched; else false with
 * `path: reason` in err. Closes the shard and frees ss either way. */
bool shard_stream_close(ShardStream *ss, char *err, size_t cap);

#endif
