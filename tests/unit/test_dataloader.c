/* test_dataloader.c: training sequences (in range, consecutive tokens, deterministic in
 * the seed, resumable from a copied state, independent of what else is drawn), the fixed
 * validation windows, slices, and where data_open takes training and validation tokens
 * from (val split, validation_data_path, holdout of a pack without a val split, a single
 * shard file); bad data dies with a message naming the file. */
#include "check.h"
#include "train/config.h"
#include "train/dataloader.h"
#include "base/error.h"
#include "shard/shard.h"
#include "shard/shard_write.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/nmoe_test_dataloader_XXXXXX";

/* Run fn in a child; it must exit with `status` and print `text` on stderr. */
static void expect_death(void (*fn)(void *), void *arg, int status, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/death.txt", dir);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(path, "w", stderr)) _exit(99);
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == status);
    FILE *f = fopen(path, "r");
    char buf[1024] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    if (!strstr(buf, text)) fprintf(stderr, "expected '%s' in: %s\n", text, buf);
    CHECK(strstr(buf, text) != NULL);
}

static void make_pack(const char *name, int n_docs, int doc_len, double val_fraction, uint32_t vocab)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    PackOptions o = { .dir = path, .shard_tokens = 1 << 20, .val_fraction = val_fraction, .seed = 3, .source = "pack",
                      .w = { .vocab_size = vocab, .vocab_id = 0xabcdef, .stream_token_bytes = 2, .level = 3, .threads = 1 } };
    Pack *p = pack_open(&o);
    uint32_t *ids = malloc((size_t)doc_len * sizeof *ids);
    for (int d = 0; d < n_docs; d++) {
        for (int i = 0; i < doc_len; i++) ids[i] = (uint32_t)((d * doc_len + i) % 50);
        pack_doc(p, ids, (size_t)doc_len);
    }
    pack_finish(p, NULL);
    free(ids);
}

static void sampler_checks(void)
{
    enum { N = 5000, T = 16 };
    uint32_t *tok = malloc(N * sizeof *tok);
    for (int i = 0; i < N; i++) tok[i] = (uint32_t)(i % 1000);
    TokenSource src = token_source_memory(tok, N, 1000, "mem");
    TrainSampler a, b, c;
    sampler_init(&a, src, T, 1000, 42);
    sampler_init(&b, src, T, 1000, 42);
    sampler_init(&c, src, T, 1000, 43);
    uint32_t sa[4 * (T + 1)], sb[4 * (T + 1)], sc[4 * (T + 1)];
    int bad = 0, same_as_other_seed = 0;
    for (int round = 0; round < 50; round++) {
        sampler_next(&a, 4, sa);
        sampler_next(&b, 4, sb);
        sampler_next(&c, 4, sc);
        CHECK(memcmp(sa, sb, sizeof sa) == 0);
        same_as_other_seed += memcmp(sa, sc, sizeof sa) == 0;
        for (int s = 0; s < 4; s++)
            for (int i = 1; i <= T; i++) bad += (sa[s * (T + 1) + i] - sa[s * (T + 1) + i - 1] + 1000) % 1000 != 1;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(same_as_other_seed, 0);
    CHECK_EQ_INT(a.state.sequences, 200);
    /* A copied state continues the same stream (what a checkpoint holds). */
    TrainSampler resumed;
    sampler_init(&resumed, src, T, 1000, 42);
    resumed.state = a.state;
    sampler_next(&a, 4, sa);
    sampler_next(&resumed, 4, sb);
    CHECK(memcmp(sa, sb, sizeof sa) == 0);
    /* Drawing in batches of 4 or 1 gives the same sequences. */
    TrainSampler one, four;
    sampler_init(&one, src, T, 1000, 7);
    sampler_init(&four, src, T, 1000, 7);
    uint32_t s1[4 * (T + 1)];
    for (int i = 0; i < 4; i++) sampler_next(&one, 1, s1 + i * (T + 1));
    sampler_next(&four, 4, sa);
    CHECK(memcmp(s1, sa, sizeof sa) == 0);
    /* A rank's slice: the same draws, only its sequences read, the same state after. */
    TrainSampler slr;
    sampler_init(&slr, src, T, 1000, 7);
    uint32_t mid[2 * (T + 1)];
    sampler_next_slice(&slr, 4, 1, 2, mid);
    CHECK(memcmp(mid, sa + (T + 1), sizeof mid) == 0);
    CHECK(slr.state.sequences == four.state.sequences && slr.state.rng.counter == four.state.rng.counter);
    /* Starts cover the whole range, the last position included. */
    uint32_t small[3] = { 7, 8, 9 };
    TokenSource tiny = token_source_memory(small, 3, 10, "tiny");
    TrainSampler t2;
    sampler_init(&t2, tiny, 2, 10, 1);
    uint32_t seq[3];
    sampler_next(&t2, 1, seq);
    CHECK(seq[0] == 7 && seq[1] == 8 && seq[2] == 9);

    /* Validation windows: non-overlapping, in order, as many as fit. */
    ValidationSet v;
    validation_init(&v, src, T, 1000000, 1000);
    CHECK_EQ_INT(v.n_sequences, (N - 1) / T);
    uint32_t w[T + 1];
    validation_sequence(&v, 3, w);
    CHECK(w[0] == 3 * T && w[T] == 4 * T);
    validation_init(&v, src, T, 5, 1000);
    CHECK_EQ_INT(v.n_sequences, 5);

    /* Slices. */
    TokenSlice sl;
    TokenSource part = token_source_slice(&sl, src, 100, 50);
    CHECK_EQ_INT(part.n_tokens, 50);
    uint32_t x[2];
    part.read(part.ctx, 49, 1, x);
    CHECK_EQ_INT(x[0], 149);
    free(tok);
}

static uint32_t bad_tokens[40];

static void draw_bad(void *arg)
{
    (void)arg;
    TokenSource src = token_source_memory(bad_tokens, 40, 1000, "bad.shard");
    TrainSampler s;
    sampler_init(&s, src, 39, 100, 1);
    uint32_t out[40];
    sampler_next(&s, 1, out);
}

static void too_short(void *arg)
{
    (void)arg;
    TokenSource src = token_source_memory(bad_tokens, 40, 1000, "short.shard");
    TrainSampler s;
    sampler_init(&s, src, 40, 1000, 1);
}

static void open_config(void *arg) { DataSources d; data_open(&d, arg); }

static void sources(void)
{
    make_pack("one_doc", 1, 1000, 0.0, 64);
    make_pack("many", 200, 20, 0.3, 64);
    Config c;
    config_defaults(&c);
    c.vocab_size = 64;
    c.eos_token_id = -1;
    char path[512];

    /* One document, no val split: the last 10% is held out. */
    snprintf(c.data_path, sizeof c.data_path, "%s/one_doc", dir);
    DataSources d;
    data_open(&d, &c);
    CHECK_EQ_INT(d.train.n_tokens, 900);
    CHECK_EQ_INT(d.val.n_tokens, 100);
    CHECK(strstr(d.val_origin, "held out") != NULL);
    uint32_t t[2];
    d.val.read(d.val.ctx, 0, 2, t);
    CHECK(t[0] == 900 % 50 && t[1] == 901 % 50);
    d.train.read(d.train.ctx, 899, 1, t);
    CHECK_EQ_INT(t[0], 899 % 50);
    CHECK_EQ_INT(d.train.vocab_id, 0xabcdef);
    data_close(&d);
    /* Without holdout: all of it trains, no validation data. */
    c.holdout_fraction = 0.0;
    data_open(&d, &c);
    CHECK_EQ_INT(d.train.n_tokens, 1000);
    CHECK_EQ_INT(d.val.n_tokens, 0);
    data_close(&d);
    c.holdout_fraction = 0.1;

    /* A pack with a val split: that is the validation data, training keeps all its train split. */
    snprintf(c.data_path, sizeof c.data_path, "%s/many", dir);
    data_open(&d, &c);
    CHECK(d.val.n_tokens > 0 && d.train.n_tokens > 0);
    CHECK_EQ_INT(d.train.n_tokens + d.val.n_tokens, 4000);
    CHECK(strstr(d.val_origin, "(val split)") != NULL);
    data_close(&d);

    /* validation_data_path: a pack without a val split gives all its tokens. */
    snprintf(c.validation_data_path, sizeof c.validation_data_path, "%s/one_doc", dir);
    data_open(&d, &c);
    CHECK_EQ_INT(d.val.n_tokens, 1000);
    data_close(&d);
    c.validation_data_path[0] = '\0';

    /* A single shard file. */
    snprintf(c.data_path, sizeof c.data_path, "%s/one_doc/train-000000.shard", dir);
    data_open(&d, &c);
    CHECK_EQ_INT(d.train.n_tokens, 900);
    data_close(&d);

    /* The data's vocabulary must fit the model's. */
    c.vocab_size = 32;
    snprintf(path, sizeof path, "the data's vocabulary has 64 ids, more than vocab_size = 32");
    expect_death(open_config, &c, 1, path);
    c.vocab_size = 64;
    c.data_path[0] = '\0';
    expect_death(open_config, &c, 1, "data_path is not set");
}

/* sampler_replay reaches the state that drawing does, with no rejection (a small
 * source) and with many (a source of 2^63 + 1 starts, where rng_below rejects about
 * half of its 64-bit words). The replay reads no tokens, so the huge source is fake. */
static void replay_checks(void)
{
    static const uint64_t sizes[] = { 1000, ((uint64_t)1 << 63) + 1 + 8 };
    for (size_t k = 0; k < 2; k++) {
        TokenSource src = { .name = "fake", .n_tokens = sizes[k], .vocab_size = 10 };
        TrainSampler s;
        sampler_init(&s, src, 8, 10, 77);
        const uint64_t starts = sizes[k] - 9 + 1;
        Rng r = rng_make(77, DATA_STREAM);
        for (uint64_t n = 0; n <= 2001; n++) {
            if (n == 0 || n == 1 || n == 2 || n == 999 || n == 2000 || n == 2001) {
                SamplerState got = sampler_replay(&s, n);
                CHECK(got.sequences == n);
                CHECK(got.rng.counter == r.counter);
                CHECK(got.rng.seed == 77 && got.rng.stream == DATA_STREAM);
            }
            (void)rng_below(&r, starts);
        }
        /* The huge source really rejected: its counter ran ahead of 2 x draws. */
        if (k == 1) CHECK(r.counter > 2 * 2002 + 100);
        else CHECK(r.counter == 2 * 2002);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    nmoe_set_prog("test_dataloader");
    sampler_checks();
    replay_checks();
    for (int i = 0; i < 40; i++) bad_tokens[i] = (uint32_t)i;
    bad_tokens[20] = 500;
    expect_death(draw_bad, NULL, 1, "bad.shard: token id 500 at position 20 is not below vocab_size 100");
    expect_death(too_short, NULL, 1, "short.shard: 40 tokens, fewer than seq_len + 1 = 41");
    sources();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return check_report("test_dataloader");
}
