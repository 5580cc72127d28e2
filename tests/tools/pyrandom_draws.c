/* pyrandom_draws: draws of libcommon/base/pyrandom.c, for comparison with Python's own
 * random module (tests/oracle/pyrandom_python.sh; tests/oracle/pyrandom_reference.py
 * prints the same lines with random.Random).
 *
 *   pyrandom_draws < CASES
 *
 * Each line of CASES is "SEED OP A B" with a fresh random.Random(SEED) per line:
 *   SEED bits K COUNT     COUNT values of getrandbits(K)
 *   SEED below N COUNT    COUNT values of _randbelow(N)
 *   SEED shuffle N 0      shuffle(list(range(N)))
 *   SEED sample N K       sample(range(N), K)
 *   SEED chain N K        sample(range(N), K), then shuffle of that list, then
 *                         _randbelow(N): one generator through all three
 *   0 setsize K 0         the population size that switches sample's algorithm
 * and gives one output line: the case, ':', the values separated by spaces. */
#include "base/error.h"
#include "base/pyrandom.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    nmoe_set_prog("pyrandom_draws");
    char line[512], op[32];
    long line_no = 0;
    while (fgets(line, sizeof line, stdin)) {
        line_no++;
        uint64_t seed, a, b;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%" SCNu64 " %31s %" SCNu64 " %" SCNu64, &seed, op, &a, &b) != 4)
            die("stdin:%ld: expected SEED OP A B", line_no);
        PyRandom r;
        pyrandom_seed(&r, seed);
        printf("%" PRIu64 " %s %" PRIu64 " %" PRIu64 ":", seed, op, a, b);
        if (strcmp(op, "bits") == 0) {
            for (uint64_t i = 0; i < b; i++) printf(" %" PRIu64, pyrandom_getrandbits(&r, (int)a));
        } else if (strcmp(op, "below") == 0) {
            for (uint64_t i = 0; i < b; i++) printf(" %" PRIu64, pyrandom_randbelow(&r, a));
        } else if (strcmp(op, "shuffle") == 0 || strcmp(op, "sample") == 0 || strcmp(op, "chain") == 0) {
            const bool shuffle = strcmp(op, "shuffle") == 0;
            size_t n = shuffle ? (size_t)a : (size_t)b;
            size_t *x = xcalloc(n + 1, sizeof *x);
            if (shuffle) {
                for (size_t i = 0; i < n; i++) x[i] = i;
                pyrandom_shuffle(&r, x, n);
            } else {
                pyrandom_sample(&r, (size_t)a, n, x);
                if (strcmp(op, "chain") == 0) pyrandom_shuffle(&r, x, n);
            }
            for (size_t i = 0; i < n; i++) printf(" %zu", x[i]);
            if (strcmp(op, "chain") == 0) printf(" %" PRIu64, pyrandom_randbelow(&r, a));
            free(x);
        } else if (strcmp(op, "setsize") == 0) {
            printf(" %zu", pyrandom_sample_setsize((size_t)a));
        } else {
            die("stdin:%ld: unknown op '%s'", line_no, op);
        }
        printf("\n");
    }
    if (fflush(stdout) != 0) die("stdout: write failed");
    return 0;
}
