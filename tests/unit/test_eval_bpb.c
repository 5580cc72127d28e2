/* test_eval_bpb.c: bits per byte = text loss in nats / (ln 2 * bytes of the predicted
 * tokens), special (0-byte) targets left out of bpb but kept in the loss per token, on
 * hand-computed numbers. */
#include "check.h"
#include "eval/eval_bpb.h"

#include <math.h>

int main(void)
{
    /* vocabulary of 16; ids 10..13 are 3, 1, 0 (special) and 2 bytes long */
    uint32_t bytes[16] = { 0 };
    bytes[10] = 3; bytes[11] = 1; bytes[12] = 0; bytes[13] = 2;
    float loss[] = { 1.0f, 2.0f, 0.5f, 3.0f };
    uint32_t target[] = { 10, 11, 12, 13 };
    EvalBpb acc = { 0 };
    CHECK(eval_bpb_add(&acc, loss, target, 4, bytes, 16));
    /* text loss 1 + 2 + 3 = 6 nats over 3 + 1 + 2 = 6 bytes: 1 / ln 2 bits per byte */
    CHECK_EQ_INT(acc.bytes, 6);
    CHECK_EQ_INT(acc.tokens, 4);
    CHECK_EQ_INT(acc.text_tokens, 3);
    CHECK_CLOSE(eval_bpb_value(&acc), 1.4426950408889636, 1e-15, 0);
    CHECK_CLOSE(eval_bpb_loss_per_token(&acc), 6.5 / 4, 1e-15, 0); /* all targets, special too */
    /* one more 1-byte target with loss 0.25: 6.25 nats / (ln 2 * 7 bytes) */
    float more = 0.25f;
    uint32_t t11 = 11;
    CHECK(eval_bpb_add(&acc, &more, &t11, 1, bytes, 16));
    CHECK_CLOSE(eval_bpb_value(&acc), 1.2881205722222888, 1e-15, 0);
    CHECK_CLOSE(eval_bpb_loss_per_token(&acc), 6.75 / 5, 1e-15, 0);

    /* Log-probabilities give the same sums (loss = -logprob). */
    float lp[] = { -1.0f, -2.0f, -0.5f, -3.0f, -0.25f };
    uint32_t tg[] = { 10, 11, 12, 13, 11 };
    EvalBpb acc2 = { 0 };
    CHECK(eval_bpb_add_logprob(&acc2, lp, tg, 5, bytes, 16));
    CHECK(eval_bpb_value(&acc2) == eval_bpb_value(&acc));
    CHECK(eval_bpb_loss_per_token(&acc2) == eval_bpb_loss_per_token(&acc));

    /* An id outside the vocabulary is refused, and nothing is added. */
    uint32_t bad[] = { 10, 16 };
    EvalBpb before = acc;
    CHECK(!eval_bpb_add(&acc, loss, bad, 2, bytes, 16));
    CHECK(!eval_bpb_add_logprob(&acc, lp, bad, 2, bytes, 16));
    CHECK(acc.bytes == before.bytes && acc.tokens == before.tokens && acc.loss_nats == before.loss_nats);

    /* Only special targets: no bytes, bpb undefined (NaN), loss per token defined. */
    EvalBpb sp = { 0 };
    uint32_t t12 = 12;
    CHECK(eval_bpb_add(&sp, loss, &t12, 1, bytes, 16));
    CHECK(isnan(eval_bpb_value(&sp)));
    CHECK_CLOSE(eval_bpb_loss_per_token(&sp), 1.0, 0, 0);
    EvalBpb empty = { 0 };
    CHECK(isnan(eval_bpb_loss_per_token(&empty)));

    /* Byte-level tokens (1 byte each): bpb = mean loss / ln 2. */
    uint32_t ones[4] = { 1, 1, 1, 1 };
    float bl[] = { 0.7f, 1.3f, 2.2f, 0.2f };
    uint32_t bt[] = { 0, 1, 2, 3 };
    EvalBpb byte = { 0 };
    CHECK(eval_bpb_add(&byte, bl, bt, 4, ones, 4));
    double mean = ((double)0.7f + (double)1.3f + (double)2.2f + (double)0.2f) / 4;
    CHECK_CLOSE(eval_bpb_value(&byte), mean / log(2.0), 1e-15, 0);
    return check_report("test_eval_bpb");
}
