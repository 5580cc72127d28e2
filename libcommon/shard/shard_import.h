/* shard_import.h: read the token files the ecosystem already uses, for
 * `nmoe-shard import`.
 *
 *  - llm.c / modded-nanogpt .bin: a header of 256 little-endian int32 (magic 20240520,
 *    version 1, token count), then that many uint16 ids; nothing else in the file.
 *  - .npy: NumPy's format (versions 1.0, 2.0, 3.0) holding a 1-D, C-order array of
 *    little-endian uint16, int32, uint32 or int64 ids.
 *
 * Neither carries document boundaries; import splits at an end-of-text token (see
 * import_files) or makes each file one document. */
#ifndef NMOE_SHARD_IMPORT_H
#define NMOE_SHARD_IMPORT_H

#include "shard/shard_write.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLMC_MAGIC 20240520
#define LLMC_VERSION 1
#define LLMC_HEADER_INTS 256
#define LLMC_HEADER_BYTES (LLMC_HEADER_INTS * 4)
/* GPT-2's vocabulary and its <|endoftext|>, what llm.c's .bin files hold. */
#define GPT2_VOCAB_SIZE 50257
#define GPT2_EOT 50256

/* Where the ids of a token file lie and how they are stored. */
typedef struct {
    uint64_t data_offset;
    uint64_t n_tokens;
    uint32_t item_bytes;  /* 2, 4 or 8 */
    bool is_signed;
    char descr[8];        /* e.g. "<u2", or "llmc" */
} TokenArray;

/* Validate the header in buf[0..avail) of a file of file_bytes bytes, including that
 * the data fills the rest of the file exactly. On failure `name: reason` into err;
 * never dies. */
bool llmc_parse_header(const unsigned char *buf, size_t avail, uint64_t file_bytes, const char *name,
                       TokenArray *a, char *err, size_t cap);
bool npy_parse_header(const unsigned char *buf, size_t avail, uint64_t file_bytes, const char *name,
                      TokenArray *a, char *err, size_t cap);

typedef enum { IMPORT_LLMC, IMPORT_NPY } ImportFormat;

#define IMPORT_NO_EOT (-1)

/* Read the files in order as one sequence of ids and hand documents to the pack.
 * With eot >= 0 a document starts at every eot id, which stays as its first token
 * (llm.c puts <|endoftext|> before each document), and ids before the first eot form
 * a document of their own; a document may run on from one file into the next (llm.c
 * cuts its shards at a fixed size). With IMPORT_NO_EOT each file is one document.
 * Every id is checked against vocab_size (signed types also against < 0); errors
 * name the file and the element. */
void import_files(ImportFormat fmt, char *const *files, int n_files, int64_t eot, uint32_t vocab_size, Pack *pack);

#endif
