/* test_shard.c: shard files written by shardw_* read back exactly (both widths, with
 * and without zstd, empty documents), every truncation and every flipped byte is
 * caught by open or verify with a message naming the file, and the header checks
 * give the reason that applies (magic, version, checksum, sizes). */
#include "check.h"
#include "base/error.h"
#include "base/hash.h"
#include "shard/shard.h"
#include "shard/shard_ext.h"
#include "shard/shard_write.h"
#include "formats/tokstream.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_shard.XXXXXX";

/* Document d of a test set: length d*7 % 53 (so some are empty), ids spread over the vocabulary. */
static size_t doc_len(int d) { return (size_t)(d * 7 % 53); }
static uint32_t doc_id(int d, size_t i, uint32_t vocab) { return (uint32_t)(((uint64_t)d * 40503u + i * 2654435761u) % vocab); }

static char *write_shard(const char *name, uint32_t vocab, bool zstd, int n_docs, uint32_t stream_width)
{
    char *path = malloc(256);
    snprintf(path, 256, "%s/%s", tmpdir, name);
    ShardWriterOptions o = { vocab, 0xfeedbeefcafef00dull, stream_width, zstd, 3, 1 };
    ShardWriter *w = shardw_open(path, &o);
    uint32_t ids[64];
    for (int d = 0; d < n_docs; d++) {
        for (size_t i = 0; i < doc_len(d); i++) ids[i] = doc_id(d, i, vocab);
        shardw_doc(w, ids, doc_len(d), (uint64_t)d * 3 + 1);
    }
    ShardHeader h;
    shardw_commit(w, &h);
    CHECK_EQ_INT(h.n_docs, n_docs);
    return path;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    fstat(fileno(fp), &st);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    *n = fread(b, 1, (size_t)st.st_size, fp);
    fclose(fp);
    return b;
}

static void check_contents(const Shard *s, uint32_t vocab, int n_docs)
{
    const ShardInfo *in = shard_info(s);
    CHECK_EQ_INT(in->version, 1);
    CHECK_EQ_INT(in->vocab_size, vocab);
    CHECK_EQ_INT(in->token_bytes, token_bytes_for_vocab(vocab));
    CHECK(in->vocab_id == 0xfeedbeefcafef00dull);
    CHECK_EQ_INT(in->n_docs, n_docs);
    uint64_t total = 0;
    for (int d = 0; d < n_docs; d++) total += doc_len(d);
    CHECK_EQ_INT(in->n_tokens, total);
    CHECK_EQ_INT(shard_doc_start(s, (uint64_t)n_docs), total);
    uint32_t got[64];
    int bad = 0;
    for (int d = 0; d < n_docs; d++) {
        uint64_t a = shard_doc_start(s, (uint64_t)d), b = shard_doc_start(s, (uint64_t)d + 1);
        if (b - a != doc_len(d)) { bad++; continue; }
        shard_read(s, a, (size_t)(b - a), got);
        for (size_t i = 0; i < doc_len(d); i++) bad += got[i] != doc_id(d, i, vocab);
        bad += shard_doc_seq(s, (uint64_t)d) != (uint64_t)d * 3 + 1;
    }
    CHECK_EQ_INT(bad, 0);
    char err[512];
    CHECK(shard_verify(s, err, sizeof err));
}

/* Some check rejects the bytes: open fails, or verify does. The message names `name`. */
static bool rejected(const unsigned char *b, size_t n, const char *name, char *err, size_t cap)
{
    Shard *s = shard_try_open_memory(b, n, name, err, cap);
    bool caught = !s || !shard_verify(s, err, cap);
    shard_close(s);
    return caught && strncmp(err, name, strlen(name)) == 0;
}

static void damage_everywhere(const char *path)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    char err[512];
    CHECK(!rejected(b, n, "mem", err, sizeof err));
    int missed = 0;
    for (size_t len = 0; len < n; len++) missed += !rejected(b, len, "mem", err, sizeof err);
    CHECK_EQ_INT(missed, 0); /* every truncation */
    unsigned char *c = malloc(n + 8);
    memcpy(c, b, n);
    memset(c + n, 0, 8);
    CHECK(rejected(c, n + 8, "mem", err, sizeof err)); /* trailing bytes */
    CHECK(strstr(err, "trailing garbage") != NULL);
    for (size_t i = 0; i < n; i++) {
        memcpy(c, b, n);
        c[i] ^= 0x10;
        if (!rejected(c, n, "mem", err, sizeof err)) { missed++; fprintf(stderr, "flip at %zu not caught\n", i); }
    }
    CHECK_EQ_INT(missed, 0); /* every flipped byte */
    free(c);
    free(b);
}

static bool err_has(const unsigned char *b, size_t n, const char *want)
{
    char err[512] = "";
    Shard *s = shard_try_open_memory(b, n, "x.shard", err, sizeof err);
    bool bad_verify = s && !shard_verify(s, err, sizeof err);
    shard_close(s);
    bool ok = (!s || bad_verify) && strncmp(err, "x.shard: ", 9) == 0 && strstr(err, want) != NULL;
    if (!ok) fprintf(stderr, "expected '%s', got '%s'\n", want, err);
    return ok;
}

static void patch_and_rehash(unsigned char *b, size_t off, int width, uint64_t v)
{
    if (width == 4) put_u32le(b + off, (uint32_t)v);
    else put_u64le(b + off, v);
    put_u64le(b + 120, hash64(b, 120, 0));
}

static void header_messages(const char *path)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    unsigned char *c = malloc(n);
    memcpy(c, b, n); c[0] = 'X';
    CHECK(err_has(c, n, "bad magic (not an nmoe shard)"));
    memcpy(c, b, n); patch_and_rehash(c, 8, 4, 2);
    CHECK(err_has(c, n, "unsupported shard version 2"));
    memcpy(c, b, n); c[8] ^= 1; /* version field flipped, checksum not redone */
    CHECK(err_has(c, n, "unsupported shard version"));
    memcpy(c, b, n); c[33] ^= 1;
    CHECK(err_has(c, n, "header checksum mismatch"));
    CHECK(err_has(b, n - 1, "truncated"));
    CHECK(err_has(b, 100, "truncated"));
    memcpy(c, b, n); patch_and_rehash(c, 48, 4, 6);
    CHECK(err_has(c, n, "unknown flags"));
    memcpy(c, b, n); patch_and_rehash(c, 16, 4, 3);
    CHECK(err_has(c, n, "token width 3"));
    memcpy(c, b, n); patch_and_rehash(c, 40, 8, UINT64_MAX);
    CHECK(err_has(c, n, "documents cannot fit"));
    memcpy(c, b, n); patch_and_rehash(c, 32, 8, get_u64le(b + 32) + 1);
    CHECK(err_has(c, n, "does not hold"));
    memcpy(c, b, n); patch_and_rehash(c, 20, 4, 1000); /* vocabulary shrunk: ids now beyond it */
    CHECK(err_has(c, n, "is beyond the vocabulary size 1000"));
    memcpy(c, b, n); c[SHARD_HEADER_BYTES + 3] ^= 0x40;
    CHECK(err_has(c, n, "token checksum mismatch"));
    memcpy(c, b, n); c[get_u64le(b + 72) + 9] ^= 1;
    CHECK(err_has(c, n, "document index checksum mismatch"));
    memcpy(c, b, n); c[n - 3] ^= 1;
    CHECK(err_has(c, n, "sequence section checksum mismatch"));
    free(c);
    free(b);
}

static int dies(void (*fn)(void))
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) { fn(); _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == NMOE_EXIT_FAILURE;
}

static const char *g_path;
static void read_past_end(void)
{
    Shard *s = shard_open(g_path);
    uint32_t x[4];
    shard_read(s, shard_info(s)->n_tokens - 1, 2, x);
}
static void open_missing(void) { shard_open("/nonexistent/dir/x.shard"); }
static void id_beyond_vocab(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/bad.shard", tmpdir);
    ShardWriterOptions o = { 100, 0, 2, false, 3, 1 };
    ShardWriter *w = shardw_open(path, &o);
    uint32_t ids[2] = { 5, 100 };
    shardw_doc(w, ids, 2, 0);
}

static void split_rule(void)
{
    int val = 0, diff = 0;
    for (uint64_t d = 0; d < 100000; d++) {
        bool v = split_is_val(42, 0.1, d);
        val += v;
        CHECK(v == split_is_val(42, 0.1, d)); /* a pure function */
        diff += v != split_is_val(43, 0.1, d);
    }
    CHECK(val > 9500 && val < 10500);
    CHECK(diff > 5000); /* another seed, another split */
    bool any0 = false, all1 = true;
    for (uint64_t d = 0; d < 1000; d++) { any0 |= split_is_val(1, 0, d); all1 &= split_is_val(1, 1, d); }
    CHECK(!any0);
    CHECK(all1);
}

int main(void)
{
    nmoe_set_prog("test_shard");
    nmoe_set_verbosity(NMOE_QUIET);
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    uint32_t vocabs[] = { 50257, 65536, 100277 };
    for (int v = 0; v < 3; v++)
        for (int z = 0; z < 2; z++) {
            char name[64];
            snprintf(name, sizeof name, "v%d_z%d.shard", v, z);
            char *path = write_shard(name, vocabs[v], z, 200, token_bytes_for_vocab(vocabs[v]));
            Shard *s = shard_open(path);
            check_contents(s, vocabs[v], 200);
            CHECK_EQ_INT(shard_info(s)->compressed, z);
            /* Uncompressed tokens come straight from the mapping, 64-byte aligned. */
            CHECK(((uintptr_t)shard_tokens_raw(s) & 63) == 0);
            shard_close(s);
            /* The same bytes through the in-memory entry point. */
            size_t n;
            unsigned char *b = slurp(path, &n);
            s = shard_open_memory(b, n, "mem");
            check_contents(s, vocabs[v], 200);
            shard_close(s);
            free(b);
            free(path);
        }

    /* Small shards for the exhaustive damage checks (each byte, each length). */
    char *small = write_shard("small.shard", 50257, false, 9, 2);
    char *small_z = write_shard("small_z.shard", 100277, true, 9, 4);
    char *empty = write_shard("empty.shard", 50257, false, 0, 2);
    damage_everywhere(small);
    damage_everywhere(small_z);
    damage_everywhere(empty);
    header_messages(small);

    Shard *e = shard_open(empty);
    CHECK_EQ_INT(shard_info(e)->n_tokens, 0);
    CHECK_EQ_INT(shard_doc_start(e, 0), 0);
    shard_close(e);

    g_path = small;
    CHECK(dies(read_past_end));
    CHECK(dies(open_missing));
    CHECK(dies(id_beyond_vocab));
    split_rule();

    free(small);
    free(small_z);
    free(empty);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ_INT(system(cmd), 0);
    return check_report("test_shard");
}
