/* atomic_file.h: write a file so that readers see either the old file or the whole
 * new one, never a part. Data goes to a temporary file beside the target; commit
 * flushes, fsyncs, renames over the target and fsyncs the directory.
 *
 * Every write is checked (a full disk is an error naming the file). On any fatal
 * error, or SIGINT/SIGTERM/SIGHUP once atomic_install_signal_cleanup() ran, the
 * temporary files still open are removed, so no partial file is ever left under a
 * final name.
 *
 * A target that exists and is not a regular file or directory (/dev/null, a FIFO)
 * is written in place instead: renaming a file over it would replace the device. */
#ifndef NMOE_ATOMIC_FILE_H
#define NMOE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct AtomicFile AtomicFile;

AtomicFile *atomic_open(const char *final_path);
void atomic_write(AtomicFile *af, const void *data, size_t n);
FILE *atomic_stream(AtomicFile *af); /* for fprintf; errors caught at commit */
const char *atomic_temp_path(const AtomicFile *af);
const char *atomic_final_path(const AtomicFile *af);
/* Flush, fsync, rename, fsync the directory; frees af. Dies (removing the temp) on error. */
void atomic_commit(AtomicFile *af);
/* Remove the temporary file; frees af. */
void atomic_abort(AtomicFile *af);

/* Whole-buffer convenience. */
void atomic_write_file(const char *path, const void *data, size_t n);

/* Remove temp files and exit 130 on SIGINT/SIGTERM/SIGHUP. */
void atomic_install_signal_cleanup(void);

/* fsync the directory holding `path` (after a rename or unlink in it). */
void fsync_parent_dir(const char *path);
/* mkdir -p; dies with the path on error. */
void make_dirs(const char *path);

#endif
