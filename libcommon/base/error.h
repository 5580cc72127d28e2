/* error.h: the one fatal path, warnings and exit statuses shared by every nmoe program.
 *
 * Messages take the form `prog: reason` (callers put the file, offset or key into
 * the reason), go to stderr, and fatal ones exit with a status from the table below.
 * The program name and verbosity are the only process-wide settings; main sets them. */
#ifndef NMOE_ERROR_H
#define NMOE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* C linkage for C++ and CUDA translation units (the .cu files of kernels/cuda include it). */
#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses, the same for every program (documented in nmoe(7)). */
enum {
    NMOE_EXIT_OK = 0,
    NMOE_EXIT_FAILURE = 1,   /* runtime failure: bad input, I/O error, ... */
    NMOE_EXIT_USAGE = 2,     /* bad command line or config */
    NMOE_EXIT_GATE = 3,      /* a requested gate (e.g. routerstat --require) failed */
    NMOE_EXIT_DIVERGED = 4,  /* training stopped on a non-finite loss */
    NMOE_EXIT_COLLAPSED = 5, /* training stopped on router collapse */
    NMOE_EXIT_INTERRUPTED = 130
};

/* Verbosity levels, zstd style: -q lowers, -v raises. */
enum { NMOE_QUIET = 0, NMOE_NORMAL = 1, NMOE_VERBOSE = 2, NMOE_DEBUG = 3 };

void nmoe_set_prog(const char *argv0);
const char *nmoe_prog(void);
void nmoe_set_verbosity(int level);
int nmoe_verbosity(void);

#if defined(__GNUC__)
#define NMOE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NMOE_NORETURN __attribute__((noreturn))
#else
#define NMOE_PRINTF(a, b)
#define NMOE_NORETURN
#endif

/* Print `prog: msg` and exit with NMOE_EXIT_FAILURE (temp files are removed first). */
NMOE_NORETURN void die(const char *fmt, ...) NMOE_PRINTF(1, 2);
/* Same, with an explicit exit status. */
NMOE_NORETURN void die_status(int status, const char *fmt, ...) NMOE_PRINTF(2, 3);
/* Usage error: `prog: msg` plus a hint to run --help; exit NMOE_EXIT_USAGE. */
NMOE_NORETURN void die_usage(const char *fmt, ...) NMOE_PRINTF(1, 2);
/* Warning at NORMAL verbosity and above. */
void warnx(const char *fmt, ...) NMOE_PRINTF(1, 2);
/* Progress/detail message printed at level >= `level`. */
void info(int level, const char *fmt, ...) NMOE_PRINTF(2, 3);

/* For the "try" interfaces that report instead of dying: format a message into the
 * caller's buffer (nothing when cap is 0). Both return false, so a failing check can
 * read `return errbuf_fail(err, cap, "...")`. The _at form prefixes `name: `. */
bool errbuf_fail(char *err, size_t cap, const char *fmt, ...) NMOE_PRINTF(3, 4);
bool errbuf_fail_at(char *err, size_t cap, const char *name, const char *fmt, ...) NMOE_PRINTF(4, 5);

/* Hooks run by the fatal path before exit (e.g. removing temporary files). */
typedef void (*nmoe_cleanup_fn)(void);
void nmoe_on_fatal(nmoe_cleanup_fn fn);
/* The fatal path's last act, after the cleanups, in place of exit(status) (one hook; a
 * later call replaces it). nmoe-train under mpirun: MPI_Abort, so every rank stops. */
typedef void (*nmoe_exit_fn)(int status);
void nmoe_on_fatal_exit(nmoe_exit_fn fn);

/* Checked allocation: die with the size on failure; never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* 64-byte aligned, zeroed; release with free(). */
void *xaligned_alloc(size_t n);

#ifdef __cplusplus
}
#endif

#endif
