/* error.c: see error.h. */
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog_name = "nmoe";
static int verbosity = NMOE_NORMAL;
static nmoe_cleanup_fn cleanups[8];
static int n_cleanups;
static nmoe_exit_fn fatal_exit_fn;

void nmoe_set_prog(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    prog_name = slash ? slash + 1 : (argv0 ? argv0 : "nmoe");
}

const char *nmoe_prog(void) { return prog_name; }
void nmoe_set_verbosity(int level) { verbosity = level; }
int nmoe_verbosity(void) { return verbosity; }

void nmoe_on_fatal(nmoe_cleanup_fn fn)
{
    for (int i = 0; i < n_cleanups; i++)
        if (cleanups[i] == fn) return;
    if (n_cleanups < (int)(sizeof cleanups / sizeof cleanups[0])) cleanups[n_cleanups++] = fn;
}

static void run_cleanups(void)
{
    /* Run once: a cleanup that itself fails must not recurse forever. */
    int n = n_cleanups;
    n_cleanups = 0;
    for (int i = n - 1; i >= 0; i--) cleanups[i]();
}

void nmoe_on_fatal_exit(nmoe_exit_fn fn) { fatal_exit_fn = fn; }

/* The end of every fatal path: the hook (which may not return), else exit. */
static NMOE_NORETURN void fatal_exit(int status)
{
    if (fatal_exit_fn) fatal_exit_fn(status);
    exit(status);
}

static void vreport(const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    run_cleanups();
    fatal_exit(NMOE_EXIT_FAILURE);
}

void die_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    run_cleanups();
    fatal_exit(status);
}

void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
    run_cleanups();
    fatal_exit(NMOE_EXIT_USAGE);
}

void warnx(const char *fmt, ...)
{
    if (verbosity < NMOE_NORMAL) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void info(int level, const char *fmt, ...)
{
    if (verbosity < level) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

bool errbuf_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return false;
}

bool errbuf_fail_at(char *err, size_t cap, const char *name, const char *fmt, ...)
{
    if (!err || cap == 0) return false;
    int n = snprintf(err, cap, "%s: ", name);
    if (n < 0 || (size_t)n >= cap) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory reallocating to %zu bytes", n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void *xaligned_alloc(size_t n)
{
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    int rc = posix_memalign(&p, 64, rounded ? rounded : 64);
    if (rc != 0) die("out of memory allocating %zu aligned bytes: %s", n, strerror(rc));
    memset(p, 0, rounded ? rounded : 64);
    return p;
}
