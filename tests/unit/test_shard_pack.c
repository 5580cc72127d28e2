/* test_shard_pack.c: a pack (pack_open/pack_doc/pack_finish) splits by document as
 * split_is_val says, never splits a document, keeps shards under the token limit
 * (but gives an oversized document a shard of its own), writes a manifest that reads
 * back equal, and a ShardSet reads each split as one sequence across shard
 * boundaries. Damaged manifests are refused with the key or reason named. */
#include "check.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "shard/shard.h"
#include "shard/shard_ext.h"
#include "shard/shard_write.h"
#include "formats/tokstream.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_shard_pack.XXXXXX";

#define N_DOCS 500
#define LIMIT 1000
#define VOCAB 30000

static size_t doc_len(int d) { return d == 77 ? 2500 : (size_t)(d * 37 % 300); } /* doc 77 is larger than a shard */
static uint32_t doc_id(int d, size_t i) { return (uint32_t)((d * 7919u + i * 104729u) % VOCAB); }

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

static bool manifest_err_has(const char *dir, const char *want)
{
    Manifest m;
    char err[512] = "";
    bool ok = manifest_read(dir, &m, err, sizeof err);
    if (ok) manifest_free(&m);
    bool good = !ok && strstr(err, "manifest.json: ") && strstr(err, want);
    if (!good) fprintf(stderr, "expected '%s', got '%s'\n", want, err);
    return good;
}

static const char *g_dir;
static void open_again_without_force(void)
{
    PackOptions o = { 0 };
    o.dir = g_dir;
    o.shard_tokens = 10;
    o.w = (ShardWriterOptions){ VOCAB, 1, 2, false, 3, 1 };
    pack_open(&o);
}

int main(void)
{
    nmoe_set_prog("test_shard_pack");
    nmoe_set_verbosity(NMOE_QUIET);
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/pack", tmpdir);

    PackOptions o = { 0 };
    o.dir = dir;
    o.shard_tokens = LIMIT;
    o.val_fraction = 0.25;
    o.seed = 7;
    o.source = "pack";
    o.w = (ShardWriterOptions){ VOCAB, 0xabcull, 4, false, 3, 1 };
    Pack *p = pack_open(&o);
    uint32_t *ids = malloc(3000 * sizeof *ids);
    uint64_t want_tokens[N_SPLITS] = { 0 }, want_docs[N_SPLITS] = { 0 };
    for (int d = 0; d < N_DOCS; d++) {
        for (size_t i = 0; i < doc_len(d); i++) ids[i] = doc_id(d, i);
        pack_doc(p, ids, doc_len(d));
        int k = split_is_val(7, 0.25, (uint64_t)d) ? SPLIT_VAL : SPLIT_TRAIN;
        want_tokens[k] += doc_len(d);
        want_docs[k]++;
    }
    Manifest m;
    pack_finish(p, &m);

    Manifest r;
    char err[512];
    CHECK(manifest_read(dir, &r, err, sizeof err));
    CHECK_EQ_INT(r.n_docs, N_DOCS);
    CHECK_EQ_INT(r.vocab_size, VOCAB);
    CHECK(r.vocab_id == 0xabcull);
    CHECK_EQ_INT(r.stream_token_bytes, 4);
    CHECK_EQ_INT(r.token_bytes, 2);
    CHECK_EQ_INT(r.seed, 7);
    CHECK(r.val_fraction == 0.25);
    for (int k = 0; k < N_SPLITS; k++) {
        CHECK_EQ_INT(r.split[k].n_docs, want_docs[k]);
        CHECK_EQ_INT(r.split[k].n_tokens, want_tokens[k]);
        CHECK_EQ_INT(r.split[k].n_shards, m.split[k].n_shards);
        for (int i = 0; i < r.split[k].n_shards && i < m.split[k].n_shards; i++) {
            CHECK_STR(r.split[k].shards[i].file, m.split[k].shards[i].file);
            CHECK(r.split[k].shards[i].checksum == m.split[k].shards[i].checksum);
        }
    }
    CHECK(r.split[SPLIT_TRAIN].n_shards > 3);
    CHECK(r.split[SPLIT_VAL].n_shards >= 1);
    CHECK_STR(r.split[SPLIT_TRAIN].shards[0].file, "train-000000.shard");
    CHECK_STR(r.split[SPLIT_VAL].shards[0].file, "val-000000.shard");

    /* Each split read as one sequence reproduces its documents in order; shards stay
     * under the limit unless they hold a single oversized document. */
    for (int k = 0; k < N_SPLITS; k++) {
        ShardSet *set = shardset_open(dir, split_names[k]);
        CHECK_EQ_INT(shardset_tokens(set), want_tokens[k]);
        CHECK_EQ_INT(shardset_docs(set), want_docs[k]);
        CHECK_EQ_INT(shardset_vocab_size(set), VOCAB);
        CHECK(shardset_vocab_id(set) == 0xabcull);
        CHECK_EQ_INT(shardset_count(set), r.split[k].n_shards);
        for (int i = 0; i < shardset_count(set); i++) {
            const ShardInfo *in = shard_info(shardset_shard(set, i));
            CHECK(in->n_tokens <= LIMIT || in->n_docs >= 1);
            if (in->n_tokens > LIMIT) {
                /* Only the big document: every other document of that shard is empty. */
                uint64_t nonempty = 0;
                for (uint64_t d = 0; d < in->n_docs; d++)
                    nonempty += shard_doc_start(shardset_shard(set, i), d + 1) > shard_doc_start(shardset_shard(set, i), d);
                CHECK_EQ_INT(nonempty, 1);
            }
        }
        uint32_t *all = malloc((want_tokens[k] + 1) * sizeof *all);
        shardset_read(set, 0, (size_t)want_tokens[k], all);
        uint64_t pos = 0;
        int bad = 0;
        for (int d = 0; d < N_DOCS; d++) {
            if ((split_is_val(7, 0.25, (uint64_t)d) ? SPLIT_VAL : SPLIT_TRAIN) != k) continue;
            for (size_t i = 0; i < doc_len(d); i++) bad += all[pos++] != doc_id(d, i);
        }
        CHECK_EQ_INT(bad, 0);
        /* Windows that straddle shard boundaries. */
        uint32_t win[700];
        for (uint64_t at = 0; at + 700 <= want_tokens[k]; at += 313) {
            shardset_read(set, at, 700, win);
            bad += memcmp(win, all + at, sizeof win) != 0;
        }
        CHECK_EQ_INT(bad, 0);
        free(all);
        shardset_close(set);
    }

    /* A single shard file is a set of one. */
    char one[512];
    snprintf(one, sizeof one, "%s/%s", dir, r.split[SPLIT_TRAIN].shards[1].file);
    ShardSet *single = shardset_open(one, "val");
    CHECK_EQ_INT(shardset_count(single), 1);
    CHECK_EQ_INT(shardset_tokens(single), r.split[SPLIT_TRAIN].shards[1].n_tokens);
    shardset_close(single);

    /* Packing again into the same directory needs force. */
    g_dir = dir;
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) { open_again_without_force(); _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == NMOE_EXIT_FAILURE);

    /* Damaged manifests. */
    char bad_dir[256];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", tmpdir);
    make_dirs(bad_dir);
    CHECK(manifest_err_has(bad_dir, "No such file"));
    write_file(bad_dir, "manifest.json", "{\"format\":\"nmoe-shard-manifest\",");
    CHECK(manifest_err_has(bad_dir, "not valid JSON"));
    write_file(bad_dir, "manifest.json", "[1,2]");
    CHECK(manifest_err_has(bad_dir, "not a JSON object"));
    write_file(bad_dir, "manifest.json", "{\"format\":\"nmoe-shard-manifest\",\"version\":2}");
    CHECK(manifest_err_has(bad_dir, "unsupported manifest version 2"));
    write_file(bad_dir, "manifest.json", "{\"format\":\"nmoe-shard-manifest\",\"version\":1}");
    CHECK(manifest_err_has(bad_dir, "key 'source' is missing"));
    write_file(bad_dir, "manifest.json",
               "{\"format\":\"nmoe-shard-manifest\",\"version\":1,\"source\":\"pack\",\"vocab_size\":\"big\"}");
    CHECK(manifest_err_has(bad_dir, "key 'vocab_size': expected a whole number"));
    /* A good manifest with one shard name changed to a path. */
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    FILE *fp = fopen(mpath, "r");
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    char *at = strstr(text, "train-000001.shard");
    memcpy(at, "../x", 4);
    write_file(bad_dir, "manifest.json", text);
    CHECK(manifest_err_has(bad_dir, "is not a plain file name"));
    memcpy(at, "trai", 4);
    at = strstr(text, "\"n_docs\":");
    at[9] = at[9] == '9' ? '8' : '9';
    write_file(bad_dir, "manifest.json", text);
    CHECK(manifest_err_has(bad_dir, "add up to"));

    manifest_free(&m);
    manifest_free(&r);
    free(ids);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ_INT(system(cmd), 0);
    return check_report("test_shard_pack");
}
