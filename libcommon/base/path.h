/* path.h: the one set of path and whole-file helpers every concern uses. */
#ifndef NMOE_BASE_PATH_H
#define NMOE_BASE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* "DIR/NAME" (malloc'ed); trailing slashes of DIR are dropped, "/" stays "/". */
char *path_join(const char *dir, const char *name);
/* NAME as seen from DIR (malloc'ed): NAME itself when it is absolute or DIR is ".",
 * else path_join(DIR, NAME). For files named inside a config file. */
char *path_resolve(const char *dir, const char *name);
/* The folder of path (malloc'ed): "." when it has no slash, "/" for "/name". */
char *path_dir(const char *path);
/* True when path names a directory (a regular file), following links. */
bool is_directory(const char *path);
bool is_regular_file(const char *path);

/* The whole file at path, NUL-terminated (malloc'ed), its length in *len (may be NULL).
 * limit > 0: refuse a file larger than limit bytes. On failure NULL, errno kept from
 * the failing call (ENOENT for an absent file, EFBIG past the limit), and the reason
 * WITHOUT the path in why ("No such file or directory", "read failed: ...", "larger
 * than N bytes"), so callers word the message their way. */
char *file_slurp(const char *path, size_t limit, size_t *len, char *why, size_t why_len);

#endif
