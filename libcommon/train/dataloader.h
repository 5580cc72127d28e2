/* dataloader.h: training and validation sequences from a token source.
 *
 * A TokenSource is any random-access run of token ids: a shard set (mmap'ed shards, see
 * shard.h) or, for tests, an array in memory. Sequences are seq_len + 1 consecutive
 * tokens (inputs are the first seq_len, targets the last seq_len); they may span the
 * EOS tokens between documents, as in nanoGPT and llm.c.
 *
 * Training: each sequence starts at a position drawn uniformly from
 * [0, n_tokens - seq_len - 1] with the Philox stream (seed, DATA_STREAM). The whole
 * state is the Rng (three integers) and the count of sequences drawn, so a checkpoint
 * resumes the exact same stream, on any thread count.
 *
 * Validation: a fixed set, the non-overlapping windows starting at 0, seq_len,
 * 2 seq_len, ... of the validation source, as many as asked for and as fit.
 *
 * Where the data comes from (data_open): training from data_path (a pack directory's
 * train split, or one shard file); validation from validation_data_path when set (its
 * val split, or all of it when it has none), else from data_path's val split, else
 * (a pack without a val split, e.g. one long document) from the last holdout_fraction
 * of the training tokens, which are then left out of training.
 *
 * Every id read is checked against the model's vocabulary (`path: token id X at
 * position P is not below vocab_size V`), so bad data never reaches the embedding. */
#ifndef NMOE_DATALOADER_H
#define NMOE_DATALOADER_H

#include "train/config.h"
#include "base/rng.h"

#include <stddef.h>
#include <stdint.h>

enum { DATA_STREAM = 1 };

typedef struct {
    const char *name;        /* for messages */
    uint64_t n_tokens;
    uint32_t vocab_size;     /* of the data's tokenizer */
    uint64_t vocab_id;       /* tokenizer identity (0 when unknown) */
    void (*read)(void *ctx, uint64_t pos, size_t n, uint32_t *out);
    void *ctx;
} TokenSource;

/* An array in memory (not copied; must outlive the source). */
TokenSource token_source_memory(const uint32_t *tokens, uint64_t n, uint32_t vocab_size, const char *name);
struct ShardSet;
TokenSource token_source_shards(struct ShardSet *set, const char *name);
/* Tokens [start, start + n) of base; `slice` holds the state and must outlive the result. */
typedef struct {
    TokenSource base;
    uint64_t start;
} TokenSlice;
TokenSource token_source_slice(TokenSlice *slice, TokenSource base, uint64_t start, uint64_t n);

typedef struct {
    Rng rng;
    uint64_t sequences;      /* drawn so far: the data cursor */
} SamplerState;

typedef struct {
    TokenSource src;
    int seq_len;
    uint32_t vocab_limit;    /* ids must be below this (the model's vocab_size) */
    SamplerState state;
} TrainSampler;

/* Dies when the source holds fewer than seq_len + 1 tokens. */
void sampler_init(TrainSampler *s, TokenSource src, int seq_len, uint32_t vocab_limit, uint64_t seed);
/* The next n sequences, (seq_len + 1) tokens each, into out. */
void sampler_next(TrainSampler *s, int n, uint32_t *out);
/* The same draws as sampler_next(s, n, ...), but only sequences [first, first + count)
 * of them are read, into out (count x (seq_len + 1)): one rank's slice of a global batch. */
void sampler_next_slice(TrainSampler *s, int n, int first, int count, uint32_t *out);
/* The state a freshly initialised sampler reaches after drawing `sequences` starts
 * (no tokens read): how a resumed run checks the RNG counter of its checkpoint. */
SamplerState sampler_replay(const TrainSampler *fresh, uint64_t sequences);

typedef struct {
    TokenSource src;
    int seq_len;
    uint32_t vocab_limit;
    uint64_t n_sequences;
} ValidationSet;

/* Up to `want` windows; dies when not even one fits. */
void validation_init(ValidationSet *v, TokenSource src, int seq_len, uint64_t want, uint32_t vocab_limit);
/* Window i (seq_len + 1 tokens) into out. */
void validation_sequence(const ValidationSet *v, uint64_t i, uint32_t *out);

/* The training and validation sources of a config. */
typedef struct {
    struct ShardSet *train_set, *val_set;
    TokenSource train, val;  /* val.n_tokens == 0: no validation data */
    char val_origin[CONFIG_STRING_MAX + 64]; /* for people: where validation comes from */
    TokenSlice train_slice, val_slice; /* holdout */
    uint64_t verified_bytes;           /* token data checked on open */
    double verify_s;                   /* and the time that took */
} DataSources;

/* Opens the shards (dies with `path: reason`) and verifies each one's token checksum
 * and id range before any token is read, so that training never sees corrupt data;
 * checks the vocabulary against the config's vocab_size and that training and
 * validation share a tokenizer. */
void data_open(DataSources *d, const Config *cfg); /* d must stay where it is while open */
/* shardset_verify of each set given (NULL ones skipped); returns the bytes checked and
 * the time taken in *seconds. data_open's check, for callers that open sets themselves. */
uint64_t data_verify(struct ShardSet *const *sets, int n, double *seconds);
void data_close(DataSources *d);

#endif
