/* shard.h: shard files (nmoe-shard(5)) and shard sets (a manifest of shards).
 *
 * The interface the trainer and evaluator read through. Uncompressed shards are
 * mmap'ed and read with no copy; zstd shards are decompressed once into memory on
 * open. Every open validates the header (magic, version, header checksum, sizes
 * against the file length) and the document index; shard_verify() also checks the
 * token checksum and that every id is below the vocabulary size. Any failure is a
 * fatal error `path: reason`. */
#ifndef NMOE_SHARD_H
#define NMOE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"

typedef struct Shard Shard;

typedef struct {
    uint32_t version;
    uint32_t token_bytes;   /* 2 or 4 */
    uint32_t vocab_size;
    uint64_t vocab_id;
    uint64_t n_tokens;
    uint64_t n_docs;
    bool compressed;        /* zstd */
    uint64_t file_bytes;
} ShardInfo;

Shard *shard_open(const char *path);
const ShardInfo *shard_info(const Shard *s);
const char *shard_path(const Shard *s);
/* Copy n ids starting at token index `start` into out (as uint32). */
void shard_read(const Shard *s, uint64_t start, size_t n, uint32_t *out);
/* Start token index of document d (d == n_docs gives n_tokens). */
uint64_t shard_doc_start(const Shard *s, uint64_t d);
/* Raw token bytes (little-endian, token_bytes wide), valid while open. */
const void *shard_tokens_raw(const Shard *s);
/* Full check: token checksum and id range. Returns true when good; on failure writes
 * `path: reason` into err. Never dies on bad content. */
bool shard_verify(const Shard *s, char *err, size_t cap);
/* The same check made while the tokens are read once, in order (nmoe-shard cat):
 * feed the raw bytes of documents 0, 1, ... n_docs-1 in turn to the hash that
 * shard_check_begin returns (NULL when there is nothing to feed: a zstd shard's
 * stored bytes were checked when it was opened), check each id against the
 * vocabulary size yourself, then shard_check_end compares the token checksum
 * (true when good, else `path: reason` in err) and frees the hash. */
Hash64 *shard_check_begin(const Shard *s);
bool shard_check_end(const Shard *s, Hash64 *h, char *err, size_t cap);
void shard_close(Shard *s);

/* A set of shards read as one token sequence.
 *   spec: a directory made by `nmoe-shard pack` (its manifest chooses the shards of
 *         `split`, "train" or "val"), or a single shard file (split ignored).
 * All shards must share token width, vocabulary size and vocabulary id. */
typedef struct ShardSet ShardSet;
ShardSet *shardset_open(const char *spec, const char *split);
uint64_t shardset_tokens(const ShardSet *set);
uint64_t shardset_docs(const ShardSet *set);
uint32_t shardset_vocab_size(const ShardSet *set);
uint64_t shardset_vocab_id(const ShardSet *set);
int shardset_count(const ShardSet *set);
const Shard *shardset_shard(const ShardSet *set, int i);
/* Copy n ids starting at global token position pos (may cross shard boundaries). */
void shardset_read(const ShardSet *set, uint64_t pos, size_t n, uint32_t *out);
/* shard_verify of every shard of the set, once, before its tokens are used (the
 * trainer and evaluator call it on open): the shards in parallel, the first failure
 * in set order a fatal `path: reason`. Returns the bytes of token data checked. */
uint64_t shardset_verify(const ShardSet *set);
void shardset_close(ShardSet *set);

#endif
