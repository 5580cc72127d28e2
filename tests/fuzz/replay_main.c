/* replay_main.c: run a libFuzzer target over saved inputs without libFuzzer, so the
 * crashes fuzzing once found stay fixed (run under ASan+UBSan by `make check`).
 * With no arguments it replays tests/fuzz/regress/<target>/ and tests/fuzz/seeds/<target>/. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { perror(path); return 1; }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) { cap = cap ? cap * 2 : 4096; buf = realloc(buf, cap); }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    fclose(fp);
    /* An exact-size copy, so ASan sees any read past the end of the input. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc |= replay_file(path);
        (*count)++;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0, rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) { rc |= replay_file(argv[i]); count++; }
    } else {
        const char *top = getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".";
        const char *base = strrchr(argv[0], '/'); /* build/asan/fuzz/replay_<target> */
        base = base ? base + 1 : argv[0];
        const char *name = strncmp(base, "replay_", 7) == 0 ? base + 7 : base;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", top, name);
        rc |= replay_dir(dir, &count);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/seeds/%s", top, name);
        rc |= replay_dir(dir, &count);
    }
    fprintf(stderr, "replayed %d inputs\n", count);
    if (count == 0) { fprintf(stderr, "no inputs to replay\n"); return 1; }
    return rc;
}
