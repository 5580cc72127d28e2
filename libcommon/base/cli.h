/* cli.h: small command-line helpers every tool shares (zstd-style discipline). */
#ifndef NMOE_CLI_H
#define NMOE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* "123", "64K", "1.5M", "2G" (powers of 1024). Dies with a usage error naming `what`. */
uint64_t parse_size(const char *s, const char *what);
/* Whole number in [lo, hi]; usage error naming `what` otherwise. */
int64_t parse_int(const char *s, const char *what, int64_t lo, int64_t hi);
/* Finite number in [lo, hi]. */
double parse_double(const char *s, const char *what, double lo, double hi);
/* Refuse to write binary data to a terminal (usage error) unless forced. */
void refuse_binary_to_tty(FILE *fp, bool force);
/* fopen for reading where "-" means stdin; dies naming the path. */
FILE *open_input(const char *path);
void close_input(FILE *fp);
/* Give a stream that carries bulk data (a token stream on stdin or stdout) a 1 MiB
 * stdio buffer. setvbuf(fp, NULL, _IOFBF, size) does not do it: glibc ignores the
 * size when it allocates the buffer itself and keeps st_blksize, 4 KiB on a pipe,
 * which costs a system call per 4 KiB. Call before the first I/O on fp. The buffer
 * lives to the end of the process (meant for the few streams a program has; past
 * 8 calls the stream keeps its default buffer). */
void stream_buffer_big(FILE *fp);

#endif
