/* dataloader.c: see dataloader.h. */
#include "train/dataloader.h"
#include "base/clock.h"
#include "base/error.h"
#include "shard/shard.h"
#include "shard/shard_manifest.h"

#include <inttypes.h>
#include <stdio.h>

#include <string.h>

static void read_memory(void *ctx, uint64_t pos, size_t n, uint32_t *out)
{
    memcpy(out, (const uint32_t *)ctx + pos, n * sizeof *out);
}

TokenSource token_source_memory(const uint32_t *tokens, uint64_t n, uint32_t vocab_size, const char *name)
{
    TokenSource s = { .name = name, .n_tokens = n, .vocab_size = vocab_size, .read = read_memory, .ctx = (void *)tokens };
    return s;
}

static void read_shards(void *ctx, uint64_t pos, size_t n, uint32_t *out) { shardset_read(ctx, pos, n, out); }

TokenSource token_source_shards(ShardSet *set, const char *name)
{
    TokenSource s = { .name = name, .n_tokens = shardset_tokens(set), .vocab_size = shardset_vocab_size(set),
                      .vocab_id = shardset_vocab_id(set), .read = read_shards, .ctx = set };
    return s;
}

static void read_checked(const TokenSource *src, uint64_t pos, size_t n, uint32_t limit, uint32_t *out)
{
    src->read(src->ctx, pos, n, out);
    for (size_t i = 0; i < n; i++)
        if (out[i] >= limit)
            die("%s: token id %u at position %llu is not below vocab_size %u", src->name, out[i],
                (unsigned long long)(pos + i), limit);
}

void sampler_init(TrainSampler *s, TokenSource src, int seq_len, uint32_t vocab_limit, uint64_t seed)
{
    if (src.n_tokens < (uint64_t)seq_len + 1)
        die("%s: %llu tokens, fewer than seq_len + 1 = %d", src.name, (unsigned long long)src.n_tokens, seq_len + 1);
    s->src = src;
    s->seq_len = seq_len;
    s->vocab_limit = vocab_limit;
    s->state.rng = rng_make(seed, DATA_STREAM);
    s->state.sequences = 0;
}

void sampler_next(TrainSampler *s, int n, uint32_t *out)
{
    const uint64_t span = (uint64_t)s->seq_len + 1;
    const uint64_t starts = s->src.n_tokens - span + 1; /* positions 0 .. n_tokens - span */
    for (int i = 0; i < n; i++) {
        uint64_t start = rng_below(&s->state.rng, starts);
        read_checked(&s->src, start, span, s->vocab_limit, out + (size_t)i * span);
        s->state.sequences++;
    }
}

void sampler_next_slice(TrainSampler *s, int n, int first, int count, uint32_t *out)
{
    if (first < 0 || count < 0 || first + count > n) die("sampler: slice [%d, %d) of %d sequences", first, first + count, n);
    const uint64_t span = (uint64_t)s->seq_len + 1;
    const uint64_t starts = s->src.n_tokens - span + 1;
    for (int i = 0; i < n; i++) {
        /* Every draw is taken, whoever reads it, so every rank's stream stays the one stream. */
        uint64_t start = rng_below(&s->state.rng, starts);
        if (i >= first && i < first + count)
            read_checked(&s->src, start, span, s->vocab_limit, out + (size_t)(i - first) * span);
        s->state.sequences++;
    }
}

SamplerState sampler_replay(const TrainSampler *fresh, uint64_t sequences)
{
    const uint64_t n = fresh->src.n_tokens - ((uint64_t)fresh->seq_len + 1) + 1, limit = UINT64_MAX - UINT64_MAX % n;
    const uint64_t seed = fresh->state.rng.seed;
    /* Draw i takes words 2i and 2i + 1 (one Philox block holds draws 2b and 2b + 1)
     * as long as no earlier draw was rejected (rng_below: x >= limit, about n / 2^64
     * per draw). So find the first rejection on that assumption, in parallel: none
     * means the assumption held throughout, and the counter is 2 x sequences; else
     * replay one by one from there. Exact either way. */
    int64_t first = (int64_t)sequences;
    const int64_t blocks = (int64_t)((sequences + 1) / 2);
    #pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t b = 0; b < blocks; b++) {
        uint32_t w[4];
        philox4x32(seed, DATA_STREAM, (uint64_t)b, w);
        for (int j = 0; j < 2; j++) {
            const int64_t i = 2 * b + j;
            if ((uint64_t)i < sequences && ((((uint64_t)w[2 * j] << 32) | w[2 * j + 1]) >= limit) && i < first) first = i;
        }
    }
    SamplerState st = { .rng = rng_make(seed, DATA_STREAM), .sequences = sequences };
    st.rng.counter = 2 * (uint64_t)first;
    for (uint64_t i = (uint64_t)first; i < sequences; i++) (void)rng_below(&st.rng, n);
    return st;
}

void validation_init(ValidationSet *v, TokenSource src, int seq_len, uint64_t want, uint32_t vocab_limit)
{
    if (src.n_tokens < (uint64_t)seq_len + 1)
        die("%s: %llu validation tokens, fewer than seq_len + 1 = %d", src.name, (unsigned long long)src.n_tokens, seq_len + 1);
    uint64_t fit = (src.n_tokens - 1) / (uint64_t)seq_len;
    v->src = src;
    v->seq_len = seq_len;
    v->vocab_limit = vocab_limit;
    v->n_sequences = want < fit ? want : fit;
}

void validation_sequence(const ValidationSet *v, uint64_t i, uint32_t *out)
{
    if (i >= v->n_sequences) die("%s: validation sequence %llu of %llu", v->src.name, (unsigned long long)i,
                                 (unsigned long long)v->n_sequences);
    read_checked(&v->src, i * (uint64_t)v->seq_len, (size_t)v->seq_len + 1, v->vocab_limit, out);
}

/* ---- sources of a config ------------------------------------------------------- */

static void read_slice(void *ctx, uint64_t pos, size_t n, uint32_t *out)
{
    const TokenSlice *s = ctx;
    s->base.read(s->base.ctx, s->start + pos, n, out);
}

TokenSource token_source_slice(TokenSlice *slice, TokenSource base, uint64_t start, uint64_t n)
{
    if (start > base.n_tokens || n > base.n_tokens - start) die("%s: slice past the end of the tokens", base.name);
    slice->base = base;
    slice->start = start;
    TokenSource s = base;
    s.n_tokens = n;
    s.read = read_slice;
    s.ctx = slice;
    return s;
}

static bool has_val_split(const char *dir)
{
    Manifest m;
    manifest_load(dir, &m);
    bool yes = m.split[SPLIT_VAL].n_shards > 0;
    manifest_free(&m);
    return yes;
}

void data_open(DataSources *d, const Config *cfg)
{
    memset(d, 0, sizeof *d);
    if (!cfg->data_path[0]) die("data_path is not set (a directory made by nmoe-shard pack, or a shard file)");
    d->train_set = shardset_open(cfg->data_path, "train");
    d->train = token_source_shards(d->train_set, cfg->data_path);
    if (d->train.vocab_size > (uint64_t)cfg->vocab_size)
        die("%s: the data's vocabulary has %u ids, more than vocab_size = %" PRId64 " (set vocab_size to at least %u)",
            cfg->data_path, d->train.vocab_size, cfg->vocab_size, d->train.vocab_size);
    const char *vpath = cfg->validation_data_path;
    if (vpath[0]) {
        bool dir = is_directory(vpath);
        bool val_split = dir && has_val_split(vpath);
        d->val_set = shardset_open(vpath, val_split ? "val" : "train");
        d->val = token_source_shards(d->val_set, vpath);
        snprintf(d->val_origin, sizeof d->val_origin, "%s%s", vpath, val_split ? " (val split)" : "");
    } else if (is_directory(cfg->data_path) && has_val_split(cfg->data_path)) {
        d->val_set = shardset_open(cfg->data_path, "val");
        d->val = token_source_shards(d->val_set, cfg->data_path);
        snprintf(d->val_origin, sizeof d->val_origin, "%s (val split)", cfg->data_path);
    } else if (cfg->holdout_fraction > 0.0) {
        TokenSource all = d->train;
        uint64_t held = (uint64_t)((double)all.n_tokens * cfg->holdout_fraction);
        d->train = token_source_slice(&d->train_slice, all, 0, all.n_tokens - held);
        d->val = token_source_slice(&d->val_slice, all, all.n_tokens - held, held);
        snprintf(d->val_origin, sizeof d->val_origin, "%s (last %g of its tokens, held out of training)",
                 cfg->data_path, cfg->holdout_fraction);
    } else {
        snprintf(d->val_origin, sizeof d->val_origin, "none");
    }
    /* One pass over every token before the first is used: a flipped byte anywhere is
     * caught here, not only where a sampled window happens to read it. */
    ShardSet *const sets[2] = { d->train_set, d->val_set };
    d->verified_bytes = data_verify(sets, 2, &d->verify_s);
    if (d->val.n_tokens && d->val.vocab_size > (uint64_t)cfg->vocab_size)
        die("%s: the data's vocabulary has %u ids, more than vocab_size = %" PRId64, d->val.name, d->val.vocab_size, cfg->vocab_size);
    if (d->val.n_tokens && d->val.vocab_id && d->train.vocab_id && d->val.vocab_id != d->train.vocab_id)
        die("%s: its tokenizer (vocabulary id %016" PRIx64 ") is not the training data's (%016" PRIx64 ")", d->val.name,
            d->val.vocab_id, d->train.vocab_id);
}

uint64_t data_verify(ShardSet *const *sets, int n, double *seconds)
{
    const double t0 = monotonic_s();
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++)
        if (sets[i]) bytes += shardset_verify(sets[i]);
    *seconds = monotonic_s() - t0;
    return bytes;
}

void data_close(DataSources *d)
{
    if (d->val_set) shardset_close(d->val_set);
    if (d->train_set) shardset_close(d->train_set);
    memset(d, 0, sizeof *d);
}
