/* shard_write.h: write shard files (nmoe-shard(5)) and whole packs (shards of a
 * train and a val split plus DIR/manifest.json), for `nmoe-shard pack` and `import`.
 *
 * Every file goes through atomic_file.h: the shard is written to a temporary file
 * beside its final name, its header filled in last (once the counts and checksums
 * are known), then renamed into place. The manifest is written after every shard is
 * in place, so a directory with a manifest holds a whole pack. */
#ifndef NMOE_SHARD_WRITE_H
#define NMOE_SHARD_WRITE_H

#include "shard/shard_format.h"
#include "shard/shard_manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t vocab_size;
    uint64_t vocab_id;
    uint32_t stream_token_bytes; /* width of the source token stream, for `cat` */
    bool zstd;
    int level;                   /* zstd level, 1..19 */
    int threads;                 /* zstd workers (>= 1; the output does not depend on it) */
} ShardWriterOptions;

/* One shard file. */
typedef struct ShardWriter ShardWriter;
ShardWriter *shardw_open(const char *path, const ShardWriterOptions *o);
/* Append one document; seq is its position in the pack's input (increasing). Ids
 * must be below the vocabulary size (a fatal error otherwise). */
void shardw_doc(ShardWriter *w, const uint32_t *ids, size_t n, uint64_t seq);
uint64_t shardw_tokens(const ShardWriter *w);
uint64_t shardw_docs(const ShardWriter *w);
/* Finish the sections, fill in the header, commit the file; frees w. The final
 * header goes into *out when out is not NULL. */
void shardw_commit(ShardWriter *w, ShardHeader *out);
/* Remove the temporary file; frees w. */
void shardw_abort(ShardWriter *w);

/* The train/val rule: document `doc` (0-based position in the input) goes to val
 * when the first 64 bits of Philox4x32-10(key = seed, counter = doc, stream =
 * SPLIT_RNG_STREAM), read as a fraction of 2^64, are below val_fraction. Depends
 * on nothing but the seed and the document's position. */
#define SPLIT_RNG_STREAM 0x73706c6974ull /* "split" */
bool split_is_val(uint64_t seed, double val_fraction, uint64_t doc);

typedef struct {
    const char *dir;
    const char *prefix;          /* NULL or "": train-000000.shard; else PREFIX-train-000000.shard */
    uint64_t shard_tokens;       /* a shard closes before a document would take it past this */
    double val_fraction;
    uint64_t seed;
    bool force;                  /* replace an existing pack in dir */
    const char *source;          /* recorded in the manifest: "pack", "import-llmc", ... */
    ShardWriterOptions w;
} PackOptions;

typedef struct Pack Pack;
/* Creates dir if needed. Refuses a dir that already holds a manifest unless force,
 * in which case the old manifest, then the shards it lists, are removed first (so
 * an interrupted run never leaves a manifest that points at new shards). */
Pack *pack_open(const PackOptions *o);
void pack_doc(Pack *p, const uint32_t *ids, size_t n);
/* Commit the open shards, then write the manifest; frees p. The manifest written
 * goes into *out when out is not NULL (the caller frees it with manifest_free). */
void pack_finish(Pack *p, Manifest *out);

#endif
