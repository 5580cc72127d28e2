/* bpe.h: the byte-pair merge step of a byte-level BPE tokenizer.
 *
 * A vocabulary of mergeable tokens is a list of distinct byte strings; a token's
 * rank is its position in the list and also its id. Every single byte must be a
 * token, so any byte string can be encoded.
 *
 * The merge rule is tiktoken's (byte_pair_encode): a piece starts as its single
 * bytes; repeatedly the adjacent pair whose concatenation is the token of lowest
 * rank is merged (the leftmost such pair when two have the same rank), until no
 * adjacent concatenation is a token; the parts' ranks are the ids. A piece that is
 * itself a token is that one token (tiktoken's shortcut, part of its results).
 *
 * bpe_encode_reference is that rule as a plain loop; bpe_encode is the fast version
 * (an array scan for short pieces, a heap over a linked list for long ones), tested
 * to give the same ids. */
#ifndef NMOE_BPE_H
#define NMOE_BPE_H

#include <stddef.h>
#include <stdint.h>

#define BPE_NO_RANK UINT32_MAX

/* A growable list of ids. */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} IdVec;

void idvec_reserve(IdVec *a, size_t n); /* room for n more */
static inline void idvec_push(IdVec *a, uint32_t id)
{
    if (a->n == a->cap) idvec_reserve(a, 1);
    a->v[a->n++] = id;
}
void idvec_free(IdVec *a);

/* Byte string -> rank table over tokens[r] = blob[off[r] .. off[r+1]). The blob and
 * offsets are borrowed and must outlive the table. Returns NULL with a message in
 * err when a token is empty or repeated (*bad_token is then its rank) or a single
 * byte is missing (*bad_token is then BPE_NO_RANK). */
typedef struct BpeRanks BpeRanks;
BpeRanks *bpe_ranks_new(const uint8_t *blob, const uint64_t *off, uint32_t n_tokens, uint32_t *bad_token,
                        char *err, size_t errlen);
void bpe_ranks_free(BpeRanks *r);
uint32_t bpe_ranks_count(const BpeRanks *r);
/* Rank of the byte string, or BPE_NO_RANK. */
uint32_t bpe_rank(const BpeRanks *r, const uint8_t *p, size_t n);
/* The same with the key's hash computed once by the caller (bpe_hash), who may use
 * it again for a cache of its own. */
uint64_t bpe_hash(const uint8_t *p, size_t n);
uint32_t bpe_rank_hashed(const BpeRanks *r, const uint8_t *p, size_t n, uint64_t hash);

/* Per-thread working memory of bpe_encode (grows to the longest piece seen). */
typedef struct BpeScratch BpeScratch;
BpeScratch *bpe_scratch_new(void);
void bpe_scratch_free(BpeScratch *s);

/* Append the ids of one piece (n >= 1 bytes) to out. */
void bpe_encode(const BpeRanks *r, BpeScratch *s, const uint8_t *piece, size_t n, IdVec *out);
/* bpe_encode for a piece the caller already knows is not a token itself (n >= 2). */
void bpe_encode_merges(const BpeRanks *r, BpeScratch *s, const uint8_t *piece, size_t n, IdVec *out);
void bpe_encode_reference(const BpeRanks *r, const uint8_t *piece, size_t n, IdVec *out);

#endif
