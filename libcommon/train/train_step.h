/* train_step.h: one optimizer step, and the validation loss, for the CPU trainer.
 *
 * A step takes batch_size sequences of seq_len + 1 tokens, runs them through the model
 * in micro-batches of micro_batch_size (gradients accumulate), and applies AdamW. The
 * objective is the mean loss over the counted targets of the WHOLE batch: a target is
 * counted unless loss_mask_eos is set and it is eos_token_id. So each micro-batch's rows
 * get the weight 1/count with count taken over the whole batch, and gradient
 * accumulation gives exactly the gradient of one big batch. A non-finite loss skips the
 * optimizer (the weights stay as they were).
 *
 * MoE: the sequence-wise aux loss (aux_loss_alpha > 0) joins the objective as the mean
 * over the step's micro-batches of each block's value (so over its sequences); it is
 * reported apart (StepResult.aux_loss), `loss` stays the cross-entropy. So is the z-loss
 * (z_loss > 0): z_loss times the mean over the counted targets of logsumexp(logits)^2
 * (StepResult.z_loss), and the router z-loss (router_z_loss > 0), weighted like the aux
 * loss (StepResult.router_z_loss). After an applied
 * optimizer step every MoE block's routing bias is updated from the step's loads, summed
 * over the micro-batches (aux-loss-free balancing, moe_bias_update):
 *   rate = router_bias_update_rate, times lr_router(step) / peak lr_router when
 *   router_bias_schedule; centred when router_bias_center; clamped to
 *   +-router_bias_clamp when > 0.
 *
 * Gradient accumulation and data parallelism (dist.h, mpirun -np N): the step's
 * micro-batch gradients are each computed from zero and summed in grad_tree.h's fixed
 * pairwise order, on one rank or over N. Rank r trains the contiguous slice
 * [r B/N, (r + 1) B/N) of the global batch (B = batch_size stays the global batch; each
 * rank's micro-batches must be a power-of-two count, trainer_split_check). Every value
 * of the step is global and in the one order: the counted targets (an exact integer
 * sum), the loss and aux sums (each micro-batch's, added in micro-batch order), the
 * gradient (the tree), the MoE loads and counters (exact integer sums) that the bias
 * update and the router lines use. So -np 1, 2 and 4 give the same bits. */
#ifndef NMOE_TRAIN_STEP_H
#define NMOE_TRAIN_STEP_H

#include "train/config.h"
#include "train/dataloader.h"
#include "eval/eval_bpb.h"
#include "model/model.h"
#include "train/optimizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double loss;             /* mean over counted targets */
    int64_t counted;         /* targets counted */
    OptimizerReport opt;     /* opt.applied false: non-finite loss or gradient, nothing changed */
    double aux_loss;         /* MoE balance loss in the objective (sum over blocks); 0 when off */
    double z_loss;           /* z-loss term in the objective: z_loss * mean over counted targets
                              * of logsumexp(logits)^2; 0 when off */
    double router_z_loss;    /* MoE router z-loss in the objective (sum over blocks of each
                              * one's router_z_loss * mean over the step's tokens of
                              * logsumexp(router logits)^2); 0 when off */
    double bias_step;        /* MoE: the bias-update step applied after this step (rate times
                              * the schedule's multiplier, in float as applied); 0 when none */
    double compute_s;        /* this rank's seconds in the step (optimizer step included)
                              * outside the two below */
    double comm_s;           /* in collectives (gradient sum, gathers, ZeRO-1's all-gather) */
    double wait_s;           /* waiting at the barrier before the gradient sum */
} StepResult;

typedef struct Trainer Trainer;

Trainer *trainer_create(const Config *cfg, Model *m, Optimizer *o);
void trainer_free(Trainer *t);
/* Whether batch_size and micro_batch_size split over `ranks` (false, with the reason
 * naming the keys and origin, when not). trainer_create dies on a split that fails. */
bool trainer_split_check(const Config *cfg, int ranks, const char *origin, char *err, size_t cap);
/* This rank's slice of each global batch: sequences [*first, *first + *count). */
void trainer_local_slice(const Trainer *t, int *first, int *count);
/* batch: this rank's slice (trainer_local_slice; the whole batch_size on one rank) of
 * (seq_len + 1)-token sequences. tokens_before drives the schedule. */
StepResult trainer_step(Trainer *t, const uint32_t *batch, int64_t tokens_before);
/* Mean loss over the counted targets of the validation set; *counted receives their
 * number. Forward only, in micro-batches. With bpb (may be NULL), every target's loss
 * is also added to it (eval_bpb.h) with the tokenizer's byte lengths token_bytes, as
 * nmoe-eval bpb adds them: the same windows, the same numbers. */
double trainer_validate(Trainer *t, const ValidationSet *v, int64_t *counted, EvalBpb *bpb,
                        const uint32_t *token_bytes, uint32_t vocab_size);

#endif
