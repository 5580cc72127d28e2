/* shard_manifest.h: DIR/manifest.json, the table of contents of a directory made by
 * `nmoe-shard pack` or `import` (nmoe-shard(5)). It is written last and atomically,
 * so a directory with a manifest holds a whole pack; a directory without one holds
 * nothing a reader should trust.
 *
 * One JSON object on one line:
 *   {"format":"nmoe-shard-manifest","version":1,"source":"pack",
 *    "vocab_size":50257,"vocab_id":"<16 hex>","token_bytes":2,"stream_token_bytes":2,
 *    "compressed":false,"shard_tokens":104857600,"val_fraction":0.1,"seed":0,
 *    "n_docs":N,"n_tokens":N,
 *    "splits":{"train":{"n_docs":N,"n_tokens":N,"shards":[{"file":"train-000000.shard",
 *      "n_docs":N,"n_tokens":N,"bytes":N,"checksum":"<16 hex: the shard's header_check>"}]},
 *      "val":{...}}}
 * 64-bit identities and checksums are hex strings (JSON numbers lose bits past 2^53);
 * counts are plain numbers (below 2^53 by the reader's check). */
#ifndef NMOE_SHARD_MANIFEST_H
#define NMOE_SHARD_MANIFEST_H

#include "base/path.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_NAME "manifest.json"
#define MANIFEST_FORMAT "nmoe-shard-manifest"
#define MANIFEST_VERSION 1

enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, N_SPLITS = 2 };
extern const char *const split_names[N_SPLITS]; /* "train", "val" */
/* SPLIT_TRAIN / SPLIT_VAL for "train" / "val", -1 otherwise. */
int split_from_name(const char *name);

typedef struct {
    char *file;          /* name inside the directory, no '/' */
    uint64_t n_docs, n_tokens;
    uint64_t bytes;      /* file size */
    uint64_t checksum;   /* the shard's header_check */
} ManifestShard;

typedef struct {
    uint64_t n_docs, n_tokens;
    int n_shards;
    ManifestShard *shards;
} ManifestSplit;

typedef struct {
    uint32_t version;
    char *source;        /* "pack", "import-llmc", "import-npy" */
    uint32_t vocab_size;
    uint64_t vocab_id;
    uint32_t token_bytes, stream_token_bytes;
    bool compressed;
    uint64_t shard_tokens;
    double val_fraction;
    uint64_t seed;
    uint64_t n_docs, n_tokens;
    ManifestSplit split[N_SPLITS];
} Manifest;

/* "DIR/manifest.json" (malloc'ed). */
char *manifest_path(const char *dir);

void manifest_add_shard(Manifest *m, int split, const ManifestShard *s); /* copies s->file */
/* Atomic write of DIR/manifest.json; dies naming the file on error. */
void manifest_write(const char *dir, const Manifest *m);
/* Read and validate (every key present with the right type, counts add up, file
 * names plain). On failure writes `DIR/manifest.json: reason` into err, returns
 * false and leaves m empty; never dies on bad content. */
bool manifest_read(const char *dir, Manifest *m, char *err, size_t cap);
/* Same, dying with the message. */
void manifest_load(const char *dir, Manifest *m);
void manifest_free(Manifest *m);

#endif
