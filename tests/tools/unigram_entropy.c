/* unigram_entropy: the entropy (in nats) of the token distribution of a config's
 * training tokens, the loss of the best model that ignores context: a trained language
 * model must end well below it.
 *
 *   unigram_entropy CONFIG.toml [--set KEY=VALUE]...
 *
 * Reads the same training tokens nmoe-train trains on (data_open: the train split, less
 * any holdout) and prints one line: "unigram_entropy_nats X tokens N distinct D". */
#include "train/config.h"
#include "train/dataloader.h"
#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc < 2) die_usage("usage: unigram_entropy CONFIG.toml [--set KEY=VALUE]...");
    Config cfg;
    config_defaults(&cfg);
    char err[1024];
    if (!config_load_file(&cfg, argv[1], err, sizeof err)) die_usage("%s", err);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--set") != 0 || i + 1 >= argc) die_usage("expected --set KEY=VALUE, got '%s'", argv[i]);
        if (!config_set(&cfg, argv[++i], err, sizeof err)) die_usage("%s", err);
    }
    DataSources d;
    data_open(&d, &cfg);
    uint64_t *count = xcalloc((size_t)cfg.vocab_size, sizeof *count);
    enum { CHUNK = 1 << 16 };
    uint32_t *buf = xmalloc(CHUNK * sizeof *buf);
    for (uint64_t pos = 0; pos < d.train.n_tokens; pos += CHUNK) {
        size_t n = d.train.n_tokens - pos < CHUNK ? (size_t)(d.train.n_tokens - pos) : CHUNK;
        d.train.read(d.train.ctx, pos, n, buf);
        for (size_t i = 0; i < n; i++) {
            if (buf[i] >= (uint64_t)cfg.vocab_size) die("%s: token id %u out of range", d.train.name, buf[i]);
            count[buf[i]]++;
        }
    }
    double h = 0.0, n = (double)d.train.n_tokens;
    uint64_t distinct = 0;
    for (int64_t v = 0; v < cfg.vocab_size; v++)
        if (count[v]) {
            double p = (double)count[v] / n;
            h -= p * log(p);
            distinct++;
        }
    printf("unigram_entropy_nats %.6f tokens %llu distinct %llu\n", h, (unsigned long long)d.train.n_tokens,
           (unsigned long long)distinct);
    free(buf);
    free(count);
    data_close(&d);
    return 0;
}
