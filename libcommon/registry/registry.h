/* registry.h: the run registry, an SQLite database of training runs (nmoe-registry(5)).
 *
 * nmoe-train --registry FILE records each run as one row of FILE's `runs` table: a row
 * inserted (status "running") before the first step, updated when the run ends however
 * it ends: finished, target reached, diverged, collapsed, interrupted, or a fatal error
 * (registry_fail_on_fatal). A run resumed in its own out_dir keeps its id (run_id.h) and
 * so its row, whose `segments` counts the processes it took.
 *
 * Many trainers may share one file (parallel make targets): the database is in WAL
 * mode, every write is one BEGIN IMMEDIATE transaction, and a writer waits up to
 * REGISTRY_BUSY_MS for another's lock. `schema_version` holds the schema's version, so
 * later builds can add columns; a database of a newer schema is refused, not guessed at.
 *
 * Every failure names the file and SQLite's reason. Opening and the start row die
 * (before any training, so nothing is lost); the end row reports instead, for the
 * caller to report once the run's checkpoints and metrics are safely written. */
#ifndef NMOE_REGISTRY_H
#define NMOE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { REGISTRY_SCHEMA_VERSION = 1, REGISTRY_BUSY_MS = 30000 };

typedef struct Registry Registry;

typedef struct {
    const char *id;          /* run id, 16 hex digits */
    const char *parent;      /* the run branched from, or NULL */
    const char *fingerprint; /* config fingerprint */
    const char *config;      /* the resolved config, canonical JSON */
    const char *git_rev, *version, *host, *backend;
    const char *out_dir;     /* absolute */
    const char *metrics;     /* absolute, or NULL for standard output */
    int64_t pid;
    int64_t steps, tokens;   /* where this segment starts (0 for a fresh run) */
} RegistryStart;

typedef struct {
    const char *status;      /* registry_status() */
    int exit_status;
    const char *reason;      /* the stop line's reason */
    int64_t steps, tokens;
    double train_loss;       /* last applied step's loss; NaN: keep the row's */
    double val_loss;         /* last validation loss; NaN: keep the row's */
    double wall_s;           /* this segment's wall time, added to the row's */
    const char *checkpoint;  /* newest checkpoint, or NULL */
} RegistryEnd;

/* Opens FILE (creating it and its schema when new), in WAL mode. Dies with
 * `FILE: run registry: reason` when it cannot be opened, written, or read as one. */
Registry *registry_open(const char *path);
const char *registry_path(const Registry *g);
/* Inserts the run's row with status "running", or (a resumed run) sets its row back to
 * running, counting the segment. Dies on failure. */
void registry_start(Registry *g, const RegistryStart *s);
/* Records the end of run id. false with `FILE: run registry: reason` in err. */
bool registry_end(Registry *g, const char *id, const RegistryEnd *e, char *err, size_t cap);
void registry_close(Registry *g);

/* The status name for a trainer's exit status (error.h): 0 "completed" (or
 * "target_reached"), 4 "diverged", 5 "collapsed", 130 "interrupted", else "failed". */
const char *registry_status(int exit_status, bool target_reached);

/* From now until registry_disarm, a fatal error (error.h's die) marks run id "failed"
 * at *steps and *tokens before the process exits. One run at a time. */
void registry_fail_on_fatal(Registry *g, const char *id, const int64_t *steps, const int64_t *tokens);
void registry_disarm(void);

#endif
