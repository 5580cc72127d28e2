/* eval_bpb.c: see eval_bpb.h. */
#include "eval/eval_bpb.h"

#include <math.h>

static bool targets_in_range(const uint32_t *target, size_t n, uint32_t vocab_size)
{
    for (size_t i = 0; i < n; i++)
        if (target[i] >= vocab_size) return false;
    return true;
}

bool eval_bpb_add(EvalBpb *acc, const float *loss, const uint32_t *target, size_t n,
                  const uint32_t *token_bytes, uint32_t vocab_size)
{
    if (!targets_in_range(target, n, vocab_size)) return false;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = token_bytes[target[i]];
        acc->loss_nats += loss[i];
        acc->tokens++;
        if (b == 0) continue; /* special token: not text, not in bpb */
        acc->text_loss_nats += loss[i];
        acc->text_tokens++;
        acc->bytes += b;
    }
    return true;
}

bool eval_bpb_add_logprob(EvalBpb *acc, const float *logprob, const uint32_t *target, size_t n,
                          const uint32_t *token_bytes, uint32_t vocab_size)
{
    if (!targets_in_range(target, n, vocab_size)) return false;
    for (size_t i = 0; i < n; i++) {
        float loss = -logprob[i];
        eval_bpb_add(acc, &loss, &target[i], 1, token_bytes, vocab_size);
    }
    return true;
}

double eval_bpb_value(const EvalBpb *acc)
{
    if (acc->bytes == 0) return NAN;
    return acc->text_loss_nats / (log(2.0) * (double)acc->bytes);
}

double eval_bpb_loss_per_token(const EvalBpb *acc)
{
    return acc->tokens ? acc->loss_nats / (double)acc->tokens : NAN;
}
