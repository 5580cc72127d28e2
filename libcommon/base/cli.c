/* cli.c: see cli.h. */
#include "base/cli.h"
#include "base/error.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t parse_size(const char *s, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) die_usage("%s: '%s' is not a size", what, s);
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; break;
        case 'm': case 'M': mult = 1024.0 * 1024; break;
        case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
        default: die_usage("%s: '%s' has an unknown suffix (use K, M or G)", what, s);
        }
        end++;
        if (*end == 'i') end++;
        if (*end == 'B') end++;
        if (*end) die_usage("%s: '%s' is not a size", what, s);
    }
    v *= mult;
    if (v > 1.8e19) die_usage("%s: '%s' is too large", what, s);
    return (uint64_t)v;
}

int64_t parse_int(const char *s, const char *what, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) die_usage("%s: '%s' is not a whole number", what, s);
    if (v < lo || v > hi) die_usage("%s: %lld is out of range [%lld, %lld]", what, v, (long long)lo, (long long)hi);
    return v;
}

double parse_double(const char *s, const char *what, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) die_usage("%s: '%s' is not a number", what, s);
    if (v < lo || v > hi) die_usage("%s: %g is out of range [%g, %g]", what, v, lo, hi);
    return v;
}

void refuse_binary_to_tty(FILE *fp, bool force)
{
    if (!force && isatty(fileno(fp)))
        die_usage("refusing to write binary data to a terminal (redirect it, or use -f to force)");
}

FILE *open_input(const char *path)
{
    if (!path || strcmp(path, "-") == 0) return stdin;
    FILE *fp = fopen(path, "rb");
    if (!fp) die("%s: %s", path, strerror(errno));
    return fp;
}

void close_input(FILE *fp)
{
    if (fp && fp != stdin) fclose(fp);
}

#define BIG_STREAM_BUFFER ((size_t)1 << 20)
#define MAX_BIG_STREAMS 8

/* Kept reachable here: stdio may write into a buffer up to exit(). */
static char *big_buffers[MAX_BIG_STREAMS];
static int big_buffers_used;

void stream_buffer_big(FILE *fp)
{
    if (big_buffers_used == MAX_BIG_STREAMS) return;
    char *b = xmalloc(BIG_STREAM_BUFFER);
    if (setvbuf(fp, b, _IOFBF, BIG_STREAM_BUFFER) != 0) { free(b); return; }
    big_buffers[big_buffers_used++] = b;
}
