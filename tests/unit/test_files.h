/* test_files.h: whole-file helpers for unit tests (a test that cannot read its data
 * stops at once, naming the file). */
#ifndef NMOE_TEST_FILES_H
#define NMOE_TEST_FILES_H

#include "base/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The file's bytes (NUL-terminated as well), its length in *n. */
static inline uint8_t *test_read_file(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = xmalloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, fp);
    b[*n] = 0;
    fclose(fp);
    return b;
}

static inline void test_write_file(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, n, fp) != n || fclose(fp) != 0) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
}

#endif
