/* eval_bpb.h: bits per byte, the tokenizer-independent loss (nanochat loss_eval.py).
 *
 *   bpb = total next-token loss in nats / (ln 2 * total bytes of the predicted tokens)
 *
 * where a predicted (target) token's bytes come from the tokenizer's byte-length table
 * (nmoe-tok writes it: bytes of each token's decoded text, 0 for special tokens). As in
 * nanochat, a target with 0 bytes (<|endoftext|> and other special tokens) adds neither
 * loss nor bytes to bpb, so the figure measures text only. The mean loss per token, the
 * number the trainer reports as its validation loss, is kept beside it over ALL targets,
 * so the two can be compared on the same sequences.
 *
 * Sums are accumulated in double (the per-token losses are the model's float32) in the
 * order given, so a fixed order of sequences gives a bit-identical result. */
#ifndef NMOE_EVAL_BPB_H
#define NMOE_EVAL_BPB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double loss_nats;       /* sum of losses over every target */
    uint64_t tokens;        /* every target */
    double text_loss_nats;  /* sum of losses over targets with bytes > 0 */
    uint64_t text_tokens;   /* targets with bytes > 0 */
    uint64_t bytes;         /* sum of the targets' byte lengths */
} EvalBpb;

/* Add n targets: loss[i] is the next-token loss in nats (-log p) of target[i]. Returns
 * false, adding nothing, when a target id is >= vocab_size (the caller reports it). */
bool eval_bpb_add(EvalBpb *acc, const float *loss, const uint32_t *target, size_t n,
                  const uint32_t *token_bytes, uint32_t vocab_size);
/* Same with log-probabilities as model_score writes them (loss = -logprob). */
bool eval_bpb_add_logprob(EvalBpb *acc, const float *logprob, const uint32_t *target, size_t n,
                          const uint32_t *token_bytes, uint32_t vocab_size);

/* text_loss_nats / (ln 2 * bytes); NaN when no bytes were seen. */
double eval_bpb_value(const EvalBpb *acc);
/* loss_nats / tokens: the mean loss per token; NaN when no tokens. */
double eval_bpb_loss_per_token(const EvalBpb *acc);

#endif
