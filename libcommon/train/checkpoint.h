/* checkpoint.h: training checkpoints (nmoe-checkpoint(5)).
 *
 *   OUT_DIR/latest                      one line, "step-00000100": the newest complete checkpoint
 *   OUT_DIR/step-00000100/model.bin     weights and the MoE routing biases (tensor file, kind
 *                                       "weights"; the export format)
 *   OUT_DIR/step-00000100/optimizer.bin AdamW moments (kind "optimizer")
 *   OUT_DIR/step-00000100/state.json    step, tokens, data sampler RNG and cursor, optimizer
 *                                       step, vocabulary id, config fingerprint, run id, the whole
 *                                       config, the checksums of the two .bin files, and (MoE)
 *                                       each block's router window counters, and
 *                                       last the checksum of all of that
 * Each file is written atomically (temporary file, fsync, rename); `latest` is written
 * last, so a kill at any moment leaves `latest` naming a complete checkpoint. A reader
 * checks every file, state.json's own checksum, that the .bin checksums match
 * state.json (no mixing of files from two writes), that the step each .bin header
 * records is state.json's, and that the counts agree with the config (tokens = step x
 * tokens per step, sequences = step x batch_size, optimizer_step = step). */
#ifndef NMOE_CHECKPOINT_H
#define NMOE_CHECKPOINT_H

#include "train/config.h"
#include "train/dataloader.h"
#include "model/model.h"
#include "train/optimizer.h"

#include <stdbool.h>
#include <stdint.h>

/* Version 2: state.json ends with STATE_CHECKSUM_KEY, the XXH3-64 of the bytes before it. */
enum { CHECKPOINT_VERSION = 2 };
#define STATE_CHECKSUM_KEY "state_xxh3"

typedef struct {
    int64_t step;            /* optimizer steps completed */
    int64_t tokens;          /* training tokens consumed */
    SamplerState sampler;    /* data RNG and cursor */
    uint64_t train_tokens;   /* size of the training data it samples from */
    uint64_t vocab_id;       /* the training data's tokenizer identity (0: unknown) */
    char fingerprint[17];
    char run[17];            /* the run's id (16 hex digits; "" in checkpoints older than it) */
    int64_t router_from_step; /* MoE: first step of the open router-telemetry window */
} TrainProgress;

typedef struct {
    TrainProgress progress;
    int64_t optimizer_step;
    Config config;           /* as the run that wrote it resolved it */
    uint64_t model_xxh3, optimizer_xxh3;
} CheckpointState;

/* Writes the checkpoint of `p->step` under out_dir and points `latest` at it, with the
 * optimizer moments m1, m2 (n_params floats each, laid out like the model's table:
 * optimizer_gather_moments). Returns the checkpoint directory (malloc'ed). */
char *checkpoint_save(const char *out_dir, const Config *cfg, Model *m, const Optimizer *o, const TrainProgress *p,
                      const float *m1, const float *m2);

/* `dir` is a checkpoint directory (holds state.json) or an out_dir (holds `latest`).
 * Returns the checkpoint directory (malloc'ed), or NULL when dir holds neither. */
char *checkpoint_find(const char *dir);
/* Read and check state.json; dies with `path: reason`. */
void checkpoint_read_state(const char *ckpt_dir, CheckpointState *st);
/* Weights into m (shapes must match); checksum checked against state.json. */
void checkpoint_load_weights(const char *ckpt_dir, const CheckpointState *st, Model *m);
void checkpoint_load_optimizer(const char *ckpt_dir, const CheckpointState *st, Optimizer *o, Model *m);
/* MoE: each block's router window counters (loads since the last router line) from
 * state.json into the model, and the window's first step into *from_step. */
void checkpoint_load_router(const char *ckpt_dir, Model *m, int64_t *from_step);

/* Export / load weights alone (model.bin format), with the config in its meta. */
void weights_save(const char *path, const Config *cfg, const Model *m, uint64_t vocab_id, int64_t step);
/* Reads the config from the file's meta into cfg (when not NULL) and the weights into m
 * (when not NULL; shapes must match). */
void weights_load(const char *path, Config *cfg, Model *m);

/* For nmoe-eval: an inference model from a checkpoint directory or an out_dir, up to
 * max_batch sequences of the trained seq_len, with its provenance set. */
Model *model_load_ex(const char *dir, int max_batch);
Model *model_load(const char *dir); /* max_batch 8 */

#endif
