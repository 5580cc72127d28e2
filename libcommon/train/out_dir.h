/* out_dir.h: a run's claim on its out_dir (nmoe-checkpoint(5)).
 *
 * Two runs writing one out_dir would each overwrite the other's checkpoints and
 * `latest`, both exiting 0; a fresh run pointed at an older run's out_dir would
 * replace its checkpoints. So a run holds an exclusive flock(2) on OUT_DIR/.lock for
 * its whole life (released by the kernel however the process ends, so a killed run
 * never leaves a stale lock), and a run that does not continue from OUT_DIR's own
 * checkpoints refuses to start over existing ones unless forced. */
#ifndef NMOE_OUT_DIR_H
#define NMOE_OUT_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates dir (and its parents) if needed and takes the lock; dies naming the other
 * run's pid when it is held. The lock file holds the pid of its holder. Returns the
 * descriptor, to stay open until the process exits. */
int out_dir_lock(const char *dir);

/* The checkpoints dir holds (`latest` and every step-NNNNNNNN directory), as one line
 * for a message ("latest -> step-00000012; step-00000004 step-00000008 step-00000012");
 * false when it holds none. */
bool out_dir_describe_checkpoints(const char *dir, char *out, size_t cap);

/* Removes dir's checkpoints: `latest` first (so that it never names a half-removed
 * directory), then each step directory's files (model.bin, optimizer.bin, state.json,
 * and temporaries of an interrupted write). A step directory holding any other file
 * is left alone and is an error naming it: nothing nmoe did not write is deleted.
 * Returns the number of checkpoint directories removed. */
int out_dir_remove_checkpoints(const char *dir);

/* keep_checkpoints: keeps the newest `keep` complete checkpoints of dir (keep <= 0:
 * all), removing older ones. Complete: a step directory with a state.json, at or below
 * the step `latest` names; the one latest names is always kept, and directories newer
 * than it or without state.json (a write cut short) are never touched. A directory
 * holding a file nmoe-train did not write is left, with a warning. Each removal renames
 * the directory to step-NNNNNNNN.removing before emptying it, so a kill never leaves a
 * half-removed checkpoint under a checkpoint's name; such leftovers are removed first.
 * Returns the number removed, their names space-separated into removed. */
int out_dir_prune_checkpoints(const char *dir, int64_t keep, char *removed, size_t cap);

/* True when checkpoint directory ckpt lies directly in dir (compared by realpath, so
 * "out/step-00000004" and "./out/../out/step-00000004" agree). */
bool out_dir_holds(const char *dir, const char *ckpt);

#endif
