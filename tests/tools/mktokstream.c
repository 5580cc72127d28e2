/* mktokstream: write a deterministic token stream (nmoe-tokens(5)) of random
 * documents to stdout, for the shard tests and benchmarks.
 *
 *   mktokstream [--docs N] [--tokens N] [--vocab V] [--width 2|4] [--seed S]
 *               [--max-len L] [--vocab-id HEX] [--zipf]
 *
 * Documents have a length uniform in [0, L] (so some are empty); ids are uniform in
 * [0, V), or Zipf-distributed (s = 1.1, closer to real text) with --zipf. It stops
 * after N documents or once N tokens are out, whichever comes first. Everything
 * comes from Philox streams of the seed, so the bytes depend only on the options. */
#include "base/cli.h"
#include "base/error.h"
#include "base/rng.h"
#include "formats/tokstream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    uint64_t docs = UINT64_MAX, tokens = UINT64_MAX, seed = 1, vocab_id = 0x5eedf00dull;
    uint32_t vocab = 50257, width = 0, max_len = 2000;
    int zipf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--zipf") == 0) { zipf = 1; continue; }
        if (!v) die_usage("%s needs a value", a);
        if (strcmp(a, "--docs") == 0) docs = parse_size(v, a);
        else if (strcmp(a, "--tokens") == 0) tokens = parse_size(v, a);
        else if (strcmp(a, "--vocab") == 0) vocab = (uint32_t)parse_int(v, a, 1, UINT32_MAX);
        else if (strcmp(a, "--width") == 0) width = (uint32_t)parse_int(v, a, 2, 4);
        else if (strcmp(a, "--seed") == 0) seed = (uint64_t)parse_int(v, a, 0, INT64_MAX);
        else if (strcmp(a, "--max-len") == 0) max_len = (uint32_t)parse_int(v, a, 0, 100000000);
        else if (strcmp(a, "--vocab-id") == 0) vocab_id = strtoull(v, NULL, 16);
        else die_usage("unknown option '%s'", a);
        i++;
    }
    if (docs == UINT64_MAX && tokens == UINT64_MAX) die_usage("give --docs or --tokens");
    if (width == 0) width = token_bytes_for_vocab(vocab);
    if (width == 3 || (width == 2 && vocab > 65536)) die_usage("--width %u cannot hold vocabulary %u", width, vocab);
    refuse_binary_to_tty(stdout, false);

    /* Zipf: cumulative weights 1/(r+1)^1.1, sampled by binary search. */
    double *cdf = NULL;
    if (zipf) {
        cdf = malloc(sizeof *cdf * vocab);
        double acc = 0;
        for (uint32_t r = 0; r < vocab; r++) cdf[r] = acc += pow((double)r + 1, -1.1);
        for (uint32_t r = 0; r < vocab; r++) cdf[r] /= acc;
    }
    TokHeader h = { width, vocab, vocab_id };
    TokWriter *w = tokw_open(stdout, "stdout", &h);
    Rng len_rng = rng_make(seed, 1), id_rng = rng_make(seed, 2);
    uint32_t *ids = malloc(sizeof *ids * ((size_t)max_len + 1));
    uint64_t out = 0;
    for (uint64_t d = 0; d < docs && out < tokens; d++) {
        size_t n = (size_t)rng_below(&len_rng, (uint64_t)max_len + 1);
        if (n > tokens - out) n = (size_t)(tokens - out);
        for (size_t i = 0; i < n; i++) {
            if (!zipf) { ids[i] = (uint32_t)rng_below(&id_rng, vocab); continue; }
            double u = (double)rng_u32(&id_rng) * 0x1p-32;
            uint32_t lo = 0, hi = vocab - 1;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (cdf[mid] < u) lo = mid + 1; else hi = mid;
            }
            ids[i] = lo;
        }
        tokw_doc(w, ids, n);
        out += n;
    }
    tokw_finish(w);
    free(ids);
    free(cdf);
    if (fflush(stdout) != 0) die("stdout: write failed");
    return 0;
}
