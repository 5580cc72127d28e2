/* train_loop.h: the training run of nmoe-train(1).
 *
 * Opens the data, builds (or resumes) the model and optimizer, then steps until `steps`,
 * writing the metric stream (nmoe-metrics(5)): a `meta` line first, `train` every
 * log_every steps, `val` at step 0 and every validation_every steps, `checkpoint` for
 * each checkpoint written, and a closing `stop` line with the reason and exit status.
 * Progress for people goes to stderr (one updating line on a terminal, plain lines
 * otherwise), under the verbosity of error.h.
 *
 * Stops: steps reached (status 0, final checkpoint); validation loss at or below
 * target_loss (0, checkpoint); SIGINT or SIGTERM (checkpoint of the last finished step,
 * then NMOE_EXIT_INTERRUPTED); a non-finite loss or gradient norm (no update, no new
 * checkpoint, the last good one stays `latest`; NMOE_EXIT_DIVERGED); with
 * stop_on_collapse, an MoE block whose routing collapsed over a log interval
 * (router_collapsed of router_stats.h: its router lines, a checkpoint of the step, then
 * NMOE_EXIT_COLLAPSED).
 *
 * MoE telemetry: every log_every steps (and at the last step) one `router` line per MoE
 * block for the window since the previous one, unless router_telemetry is off. */
#ifndef NMOE_TRAIN_LOOP_H
#define NMOE_TRAIN_LOOP_H

#include "train/config.h"

#include <stdbool.h>

typedef struct {
    const char *config_origin; /* the config file, for messages */
    const char *metrics_path;  /* NULL or "-": stdout; a file is appended to on resume */
    const char *resume_dir;    /* --resume DIR (a checkpoint or an out_dir), or NULL */
    bool force;                /* --force: replace checkpoints of another run in out_dir */
    const char *registry_path; /* --registry FILE (registry.h), or NULL */
} TrainOptions;

/* Runs the training; returns the exit status. Fatal errors die (error.h). */
int train_run(const Config *cfg, const TrainOptions *opt);

#endif
