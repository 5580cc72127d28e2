/* statepatch: edit a checkpoint's state.json the way a person (or a script) might, and
 * optionally seal it again, so a test can present a state.json whose checksum is
 * right but whose contents disagree with the rest of the checkpoint.
 *
 *   statepatch FILE KEY VALUE [--reseal]   replace the value of the first "KEY":
 *                                          (a number or a "string", written as is)
 *   statepatch FILE --reseal               recompute state_xxh3 only
 *
 * The checksum is the one checkpoint.c writes: XXH3-64 (seed 0) of every byte before
 * `,"state_xxh3":`. Written in place (a test fixture, not a user's file). */
#include "base/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tag[] = ",\"state_xxh3\":\"";

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { fprintf(stderr, "statepatch: %s: %s\n", path, strerror(errno)); exit(1); }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)size + 1);
    if (fread(b, 1, (size_t)size, fp) != (size_t)size) { fprintf(stderr, "statepatch: %s: short read\n", path); exit(1); }
    fclose(fp);
    b[size] = '\0';
    *n = (size_t)size;
    return b;
}

static void spill(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0) { fprintf(stderr, "statepatch: %s: write failed\n", path); exit(1); }
}

/* text with the value after `"key":` replaced (malloc'ed). */
static char *replace_value(const char *text, const char *key, const char *value)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(text, pat);
    if (!at) { fprintf(stderr, "statepatch: no key %s\n", key); exit(1); }
    const char *v = at + strlen(pat), *end = v;
    if (*end == '"') {
        end = strchr(end + 1, '"');
        if (!end) { fprintf(stderr, "statepatch: unterminated string\n"); exit(1); }
        end++;
    } else {
        while (*end && *end != ',' && *end != '}') end++;
    }
    size_t head = (size_t)(v - text);
    char *out = malloc(strlen(text) + strlen(value) + 1);
    memcpy(out, text, head);
    strcpy(out + head, value);
    strcat(out, end);
    return out;
}

static char *reseal(const char *text)
{
    const char *at = strstr(text, tag);
    if (!at) { fprintf(stderr, "statepatch: no state_xxh3 to reseal\n"); exit(1); }
    char hex[17];
    hash64_hex(hash64(text, (size_t)(at - text), 0), hex);
    char *out = malloc(strlen(text) + 1);
    strcpy(out, text);
    memcpy(out + (at - text) + strlen(tag), hex, 16);
    return out;
}

int main(int argc, char **argv)
{
    size_t n;
    if (argc == 3 && strcmp(argv[2], "--reseal") == 0) {
        char *t = slurp(argv[1], &n);
        spill(argv[1], reseal(t));
        return 0;
    }
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "--reseal") == 0)) {
        fprintf(stderr, "usage: statepatch FILE KEY VALUE [--reseal] | statepatch FILE --reseal\n");
        return 2;
    }
    char *t = replace_value(slurp(argv[1], &n), argv[2], argv[3]);
    if (argc == 5) t = reseal(t);
    spill(argv[1], t);
    return 0;
}
