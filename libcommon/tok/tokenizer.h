/* tokenizer.h: a byte-level BPE tokenizer (GPT-2 and tiktoken compatible): the
 * vocabulary, its special tokens, its split pattern, encoding and decoding.
 *
 * Ids: the mergeable tokens have ids 0 .. n_ranks-1 (id = merge rank); special tokens
 * have their own ids at or above n_ranks; ids in between that name nothing (cl100k
 * has such gaps) are never produced and cannot be decoded. vocab_size = highest id+1.
 *
 * Identity (vocab_id, written into every token stream and shard): XXH3-64, seed 0, of
 *   "nmoe-vocab-1\n", u32 n_ranks, per rank { u32 length, bytes },
 *   u32 n_special, per special in id order { u32 id, u32 length, bytes }
 * (integers little-endian). It names what the ids mean, nothing else: the same
 * vocabulary loaded from encoder.json + vocab.bpe, from r50k_base.tiktoken or from an
 * nmoe tokenizer file has the same identity. The split pattern is left out on purpose:
 * it changes how text is cut, not what an id decodes to.
 *
 * Token byte lengths (token_len): the bytes each id stands for, 0 for special tokens
 * (they stand for no text) and unused ids; nmoe-eval divides by their sum for
 * bits-per-byte. */
#ifndef NMOE_TOKENIZER_H
#define NMOE_TOKENIZER_H

#include "tok/bpe.h"
#include "tok/pretokenize.h"
#include "tok/text_input.h" /* TextSpan */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOKENIZER_EOT_TEXT "<|endoftext|>"

typedef struct {
    char *text;   /* UTF-8, NUL-terminated */
    size_t len;
    uint32_t id;
} SpecialToken;

/* Read-only after tokenizer_build. */
typedef struct {
    uint32_t n_ranks;
    uint8_t *blob;            /* token r is blob[off[r] .. off[r+1]) */
    uint64_t *off;
    uint32_t n_special;
    SpecialToken *special;    /* sorted by id */
    uint32_t vocab_size;
    uint32_t *token_len;      /* vocab_size entries */
    int64_t eot_id;           /* id of <|endoftext|>, or -1 */
    PretokKind pattern_kind;
    char *pattern;            /* PCRE2 pattern text in use */
    uint64_t vocab_id;
    BpeRanks *ranks;
    Pretokenizer *pretok;
} Tokenizer;

/* Take ownership of the token blob/offsets (n_ranks + 1 offsets, xmalloc'd), the
 * specials array and its strings, and build a tokenizer: rank table, split pattern
 * (the built-in one for kind, else custom_pattern), length table and identity.
 * Returns NULL with a message in err (and frees what it took) on invalid content;
 * *bad_rank is then the offending rank where there is one (else UINT32_MAX). */
Tokenizer *tokenizer_build(uint8_t *blob, uint64_t *off, uint32_t n_ranks, SpecialToken *special, uint32_t n_special,
                           PretokKind kind, const char *custom_pattern, uint32_t *bad_rank, char *err, size_t errlen);
void tokenizer_free(Tokenizer *t);

/* The identity hash of a vocabulary, as defined above. */
uint64_t tokenizer_identity(const uint8_t *blob, const uint64_t *off, uint32_t n_ranks, const SpecialToken *special,
                            uint32_t n_special);

/* The bytes an id decodes to (a special token decodes to its text); NULL for an id
 * that names nothing. */
const uint8_t *tokenizer_token_bytes(const Tokenizer *t, uint32_t id, size_t *len);
/* The special token with this exact text, or NULL. */
const SpecialToken *tokenizer_find_special(const Tokenizer *t, const char *text);

/* Per-thread encoding state. */
typedef struct TokEncoder TokEncoder;
TokEncoder *tok_encoder_new(const Tokenizer *t);
void tok_encoder_free(TokEncoder *e);

/* Append the ids of text to out. With allow_special, exact occurrences of special
 * token texts (leftmost, then longest) become their ids; otherwise they are plain text. */
void tok_encode(const Tokenizer *t, TokEncoder *e, const uint8_t *text, size_t len, bool allow_special, IdVec *out);

/* Encode the pieces of text[0..len) that start at pos and after, stopping at the
 * first piece boundary >= stop; returns that boundary. The building block of the
 * exact parallel split of long documents. */
size_t tok_encode_pieces(const Tokenizer *t, TokEncoder *e, const uint8_t *text, size_t len, size_t pos, size_t stop,
                         IdVec *out);

/* Where the next special token starts at or after pos (len when none), and which
 * (leftmost, then longest; NULL when none). */
size_t tok_next_special(const Tokenizer *t, const uint8_t *text, size_t len, size_t pos, const SpecialToken **which);

/* The whole of `nmoe-tok encode` (tokenizer_pipeline.c): documents from the inputs
 * (read ahead on one thread, see text_input.h), encoded on `threads` threads in
 * chunks of batches that are cut so the result does not depend on the thread count
 * (tokenizer_batch.h), written in order on another thread, so reading, encoding and
 * writing overlap. Output: a token stream (nmoe-tokens(5)) or, with ids_text, one line of
 * space-separated ids per document. Dies on bad input or a write error. */
typedef struct {
    bool ids_text;
    bool allow_special;
    bool eot;             /* append <|endoftext|> after each document (must exist) */
    int threads;
    TextInputOptions input;
} TokEncodeJob;
typedef struct {
    uint64_t docs, bytes, tokens, skipped;
    /* Where the time went: wall clock from the first read to the last write; the
     * reader's and the writer's busy seconds; the encoding threads' seconds encoding
     * chunks, joining batches and planning them (summed over threads). */
    double wall_s, reader_s, writer_s, encode_s, join_s, plan_s;
} TokEncodeStats;
void tok_encode_inputs(const Tokenizer *t, char *const *paths, int n_paths, const TokEncodeJob *job, FILE *out,
                       const char *out_name, TokEncodeStats *stats);

/* Loading (tokenizer_load.c). spec: an nmoe tokenizer file, a folder holding
 * encoder.json and vocab.bpe, a .tiktoken file (pattern and special tokens from the
 * .meta.json beside it, or built in for r50k_base, cl100k_base and o200k_base), or a
 * name: gpt2, r50k_base, cl100k_base or o200k_base, found in the data folder (see
 * tokenizer_data_dirs). Returns NULL with "file: position: reason" in err. */
Tokenizer *tokenizer_load(const char *spec, char *err, size_t errlen);
/* tokenizer_load, dying with the message on failure. */
Tokenizer *tokenizer_load_or_die(const char *spec);
/* The folders searched for named tokenizers, in order: $NMOE_DATA, then beside the
 * running program <bindir>/../data and <bindir>/../share/nmoe. Writes up to max
 * NUL-terminated paths into dirs[i] (each PATH_MAX long); returns the count. */
int tokenizer_data_dirs(char dirs[][4096], int max);

Tokenizer *tokenizer_load_gpt2_dir(const char *dir, char *err, size_t errlen);
Tokenizer *tokenizer_load_tiktoken(const char *path, char *err, size_t errlen);

/* The nmoe tokenizer file (tokenizer_file.c, nmoe-tokenizer(5)). */
#define TOKFILE_MAGIC "NMOEVOCB"
#define TOKFILE_VERSION 1u
#define TOKFILE_HEADER_BYTES 64
/* Parse a whole file held in memory; never dies on bad bytes. */
Tokenizer *tokenizer_from_file_bytes(const uint8_t *data, size_t n, const char *name, char *err, size_t errlen);
Tokenizer *tokenizer_read_file(const char *path, char *err, size_t errlen);
/* Serialize (malloc'd buffer) and write atomically. */
uint8_t *tokenizer_to_file_bytes(const Tokenizer *t, size_t *n);
void tokenizer_write_file(const Tokenizer *t, const char *path);

#endif
