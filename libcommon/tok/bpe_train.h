/* bpe_train.h: learn a byte-level BPE vocabulary from text.
 *
 * 1. Every document is cut into pieces by the split pattern (as encoding does) and
 *    each distinct piece counted (a hash map; documents may come from many threads).
 * 2. The distinct pieces, sorted by their bytes, start as sequences of byte ids
 *    (id b = the byte b). All adjacent pairs are counted, weighted by how often
 *    their piece occurs, with the pieces each pair occurs in.
 * 3. Repeatedly the pair with the highest count is merged into a new id (ties: the
 *    smaller left id, then the smaller right id). Only the pieces holding that pair
 *    are rewritten and only their pair counts changed; a max-heap with lazily
 *    refreshed entries finds the next pair. This stops at the requested size or when
 *    no pair occurs any more.
 *
 * A merge whose bytes equal an existing token (possible when the same bytes were
 * reached by another split) reuses that id instead of adding a duplicate token.
 * Same input and options give the same tokenizer, whatever the thread count.
 *
 * Special tokens: <|endoftext|> always, id = number of mergeable tokens, then the
 * extra ones in the order given. vocab_size counts them: merges = vocab_size - 256
 * - specials. */
#ifndef NMOE_BPE_TRAIN_H
#define NMOE_BPE_TRAIN_H

#include "tok/tokenizer.h"

typedef struct {
    uint32_t vocab_size;
    PretokKind pattern;
    const char *const *extra_special; /* besides <|endoftext|> */
    uint32_t n_extra_special;
} BpeTrainOptions;

typedef struct BpeTrainer BpeTrainer;
/* Dies on invalid options (vocab_size too small for 256 bytes + specials). */
BpeTrainer *bpe_train_new(const BpeTrainOptions *opt);
/* Count the pieces of some documents, on n_threads threads. */
void bpe_train_add(BpeTrainer *tr, const TextSpan *docs, size_t n_docs, int n_threads);
/* Bytes and distinct pieces counted so far. */
uint64_t bpe_train_bytes(const BpeTrainer *tr);
uint64_t bpe_train_distinct_pieces(const BpeTrainer *tr);
/* Learn the merges and build the tokenizer; frees tr. *n_merges gets the number of
 * merges learned (fewer than asked when the text runs out of pairs). */
Tokenizer *bpe_train_finish(BpeTrainer *tr, uint32_t *n_merges);

#endif
