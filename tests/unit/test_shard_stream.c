/* test_shard_stream.c: reading a shard once through shard_stream.h gives every
 * document's bytes as the mapping holds them (documents smaller than a window,
 * several windows' worth, and one larger than a window, read mapped), and the
 * checksum verdict: good for an intact shard, "token checksum mismatch" for a
 * flipped token byte, "closed before every document was read" for an early close;
 * a zstd shard (checked on open, no thread) reads the same. Each document's frame
 * check and largest id equal tok_frame_scan's. All of it with the hasher and
 * scanner threads and without (as on fewer than four cores). */
#include "check.h"
#include "base/error.h"
#include "shard/shard_ext.h"
#include "shard/shard_stream.h"
#include "shard/shard_write.h"

#include <stdlib.h>
#include <unistd.h>

#define VOCAB 50257

static size_t doc_len(int d) { return d == 40 ? 700000 : (size_t)(d * 7919 % 60000); } /* doc 40: > 1 MiB of ids */

static void make_shard(const char *path, bool zstd)
{
    ShardWriterOptions o = { VOCAB, 0x1234, 2, zstd, 3, 1 };
    ShardWriter *w = shardw_open(path, &o);
    uint32_t *ids = xmalloc(700000 * sizeof *ids);
    for (int d = 0; d < 60; d++) {
        for (size_t i = 0; i < doc_len(d); i++) ids[i] = (uint32_t)((d * 31u + i * 7u) % VOCAB);
        shardw_doc(w, ids, doc_len(d), (uint64_t)d);
    }
    free(ids);
    shardw_commit(w, NULL);
}

static int g_helpers; /* read_through opens streams with helper threads on or off */

/* Read documents [0, stop) through the stream; compare each with the mapping. */
static bool read_through(const char *path, uint64_t stop, char *err, size_t cap)
{
    ShardStream *ss = shard_stream_open_ex(path, g_helpers, err, cap);
    CHECK(ss != NULL);
    if (!ss) return false;
    const Shard *s = shard_stream_shard(ss);
    uint64_t n_docs = shard_info(s)->n_docs;
    CHECK_EQ_INT(n_docs, 60);
    int same = 1;
    for (uint64_t d = 0; d < n_docs && d < stop; d++) {
        TokFrameScan sc;
        const unsigned char *got = shard_stream_doc(ss, d, &sc);
        size_t n = (size_t)(shard_doc_start(s, d + 1) - shard_doc_start(s, d));
        const unsigned char *want = (const unsigned char *)shard_tokens_raw(s) + shard_doc_start(s, d) * 2;
        TokFrameScan ref = tok_frame_scan(want, n, 2);
        if (n && memcmp(got, want, 2 * n) != 0) same = 0;
        if (sc.check != ref.check || sc.max_id != ref.max_id) same = 0;
    }
    CHECK(same);
    return shard_stream_close(ss, err, cap);
}

int main(void)
{
    nmoe_set_prog("test_shard_stream");
    char dir[] = "/tmp/nmoe-test-stream-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[600], zpath[600], err[1024];
    snprintf(path, sizeof path, "%s/a.shard", dir);
    snprintf(zpath, sizeof zpath, "%s/z.shard", dir);
    make_shard(zpath, true);

    for (g_helpers = 0; g_helpers <= 1; g_helpers++) {
        make_shard(path, false);
        CHECK(read_through(path, UINT64_MAX, err, sizeof err));
        CHECK(read_through(zpath, UINT64_MAX, err, sizeof err));

        err[0] = 0;
        CHECK(!read_through(path, 30, err, sizeof err));
        CHECK(strstr(err, "a.shard: closed before every document was read") != NULL);

        /* Flip a byte in the middle of the tokens: the mapping and the stream agree
         * on the (damaged) bytes, and the checksum says so. */
        Shard *s = shard_open(path);
        uint64_t at = shard_header(s)->tokens_offset + shard_header(s)->tokens_size / 2;
        shard_close(s);
        FILE *fp = fopen(path, "r+b");
        fseek(fp, (long)at, SEEK_SET);
        int c = fgetc(fp);
        fseek(fp, (long)at, SEEK_SET);
        fputc(c ^ 0x01, fp);
        fclose(fp);
        err[0] = 0;
        CHECK(!read_through(path, UINT64_MAX, err, sizeof err));
        CHECK(strstr(err, "a.shard: token checksum mismatch (corrupted tokens)") != NULL);
    }

    unlink(path);
    unlink(zpath);
    rmdir(dir);
    return check_report("test_shard_stream");
}
