/* shard_ext.h: more of the shard reader than shard.h declares, for nmoe-shard itself,
 * the fuzzers and the tests: opening without dying (to report and go on), opening a
 * shard held in memory, the full header, and each document's sequence number. */
#ifndef NMOE_SHARD_EXT_H
#define NMOE_SHARD_EXT_H

#include "shard/shard.h"
#include "shard/shard_format.h"
#include "shard/shard_manifest.h"

/* Validate header, index and sequence section but leave the tokens alone (a zstd
 * shard is not decompressed): for `info`. shard_read/verify then refuse. */
#define SHARD_OPEN_HEADER_ONLY 1u
/* Keep the file open for shard_copy_raw: for a single pass over every token
 * (nmoe-shard cat), copying with pread(2) beats touching a fresh mapping, whose
 * first touch costs page faults and TLB misses (and on some virtual machines a
 * shadow page-table exit per page), while the kernel reads ahead. */
#define SHARD_OPEN_STREAM 2u

/* Like shard_open, but on failure write `path: reason` into err and return NULL. */
Shard *shard_try_open(const char *path, char *err, size_t cap);
Shard *shard_try_open_ex(const char *path, unsigned flags, char *err, size_t cap);
/* A shard held in memory (data must outlive the Shard; it is not copied); `name`
 * stands for the path in messages. */
Shard *shard_try_open_memory(const void *data, size_t n, const char *name, char *err, size_t cap);
Shard *shard_open_memory(const void *data, size_t n, const char *name);

const ShardHeader *shard_header(const Shard *s);
/* Copy the raw bytes (token_bytes each) of ids [start, start + n) into dst: by
 * pread(2) for a shard opened with SHARD_OPEN_STREAM, else from memory. False with
 * `path: reason` in err when the file cannot be read. */
bool shard_copy_raw(const Shard *s, uint64_t start, size_t n, void *dst, char *err, size_t cap);
/* Position of document d in the input of `nmoe-shard pack` (d < n_docs). */
uint64_t shard_doc_seq(const Shard *s, uint64_t d);
/* The shard is the one `ms` of manifest `m` lists: counts, size, header checksum,
 * vocabulary, widths and compression agree. Else `path: reason` into err. */
bool shard_matches_manifest(const Shard *s, const Manifest *m, const ManifestShard *ms, char *err, size_t cap);

#endif
