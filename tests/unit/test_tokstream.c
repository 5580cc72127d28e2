/* test_tokstream.c: round trip for both widths, concatenated streams, and that every
 * kind of damage is a fatal error (run in a child, which must exit non-zero). */
#include "check.h"
#include "base/error.h"
#include "formats/tokstream.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char *make_stream(uint32_t vocab, size_t *len, int n_docs)
{
    char *buf = NULL;
    FILE *fp = open_memstream(&buf, len);
    TokHeader h = { token_bytes_for_vocab(vocab), vocab, 0x1234abcdull };
    TokWriter *w = tokw_open(fp, "mem", &h);
    uint32_t ids[100];
    for (int d = 0; d < n_docs; d++) {
        for (int i = 0; i < d * 7 % 100; i++) ids[i] = (uint32_t)(d * 131 + i * 17) % vocab;
        tokw_doc(w, ids, (size_t)(d * 7 % 100));
    }
    tokw_finish(w);
    fclose(fp);
    return (unsigned char *)buf;
}

/* Read every document; returns documents read. */
static int read_all(const unsigned char *b, size_t n, uint32_t vocab)
{
    FILE *fp = fmemopen((void *)b, n, "rb");
    TokReader *r = tokr_open(fp, "mem");
    const uint32_t *ids;
    size_t len;
    int docs = 0;
    while (tokr_next(r, &ids, &len)) {
        for (size_t i = 0; i < len; i++) CHECK(ids[i] == (uint32_t)(docs % 20 * 131 + (int)i * 17) % vocab);
        CHECK_EQ_INT(len, docs % 20 * 7 % 100);
        docs++;
    }
    tokr_close(r);
    fclose(fp);
    return docs;
}

/* 1 when reading the damaged bytes makes the reader die with a non-zero status. */
static int rejects(const unsigned char *b, size_t n, uint32_t vocab)
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        read_all(b, n, vocab);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == NMOE_EXIT_FAILURE;
}

/* tok_frame_scan on documents around and beyond its 32 KiB block: the frames it
 * checks are accepted by the reader (whose frame check is the one-shot hash), and
 * the largest id is found wherever it sits. */
static void test_frame_scan(uint32_t width)
{
    uint32_t vocab = width == 2 ? 50257 : 100277;
    size_t block_ids = ((size_t)32 << 10) / width;
    size_t sizes[] = { 0, 1, block_ids - 1, block_ids, block_ids + 1, 3 * block_ids + 7 };
    size_t n_sizes = sizeof sizes / sizeof sizes[0];
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    TokHeader h = { width, vocab, 7 };
    TokWriter *w = tokw_open(fp, "mem", &h);
    unsigned char *raw = malloc((3 * block_ids + 7) * width);
    for (size_t k = 0; k < n_sizes; k++) {
        size_t n = sizes[k];
        for (size_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(i * 2654435761u % 1000);
            if (i == n - 1 - n / 3) id = vocab - 1 - (uint32_t)k; /* the largest, somewhere inside */
            if (width == 2) { raw[2 * i] = (unsigned char)id; raw[2 * i + 1] = (unsigned char)(id >> 8); }
            else put_u32le(raw + 4 * i, id);
        }
        TokFrameScan sc = tok_frame_scan(raw, n, width);
        CHECK_EQ_INT(sc.max_id, n ? vocab - 1 - (uint32_t)k : 0);
        tokw_frame(w, raw, n, sc.check);
    }
    tokw_finish(w);
    fclose(fp);
    FILE *in = fmemopen(buf, len, "rb");
    TokReader *r = tokr_open(in, "mem");
    const uint32_t *ids;
    size_t n;
    size_t k = 0;
    while (tokr_next(r, &ids, &n)) { /* dies on a wrong frame check */
        CHECK(k < n_sizes && n == sizes[k]);
        k++;
    }
    CHECK_EQ_INT(k, n_sizes);
    tokr_close(r);
    fclose(in);
    free(buf);
    free(raw);
}

int main(void)
{
    nmoe_set_prog("test_tokstream");
    uint32_t vocabs[] = { 50257, 100277 };
    for (int v = 0; v < 2; v++) {
        size_t n;
        unsigned char *b = make_stream(vocabs[v], &n, 20);
        CHECK_EQ_INT(read_all(b, n, vocabs[v]), 20);

        /* cat a b: two streams back to back read as one. */
        unsigned char *two = malloc(2 * n);
        memcpy(two, b, n);
        memcpy(two + n, b, n);
        CHECK_EQ_INT(read_all(two, 2 * n, vocabs[v]), 40);
        free(two);

        CHECK(rejects(b, n - 1, vocabs[v]));          /* truncated trailer */
        CHECK(rejects(b, n / 2, vocabs[v]));          /* truncated mid-document */
        CHECK(rejects(b, 10, vocabs[v]));             /* truncated header */
        unsigned char *c = malloc(n);
        size_t flips[] = { 0, 9, 13, 17, 25, 35, TOKSTREAM_HEADER_BYTES + 14, n - 10 };
        for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
            memcpy(c, b, n);
            c[flips[k]] ^= 0x40;
            CHECK(rejects(c, n, vocabs[v]));
        }
        free(c);
        free(b);
    }
    test_frame_scan(2);
    test_frame_scan(4);
    /* Empty stream: header + trailer only. */
    size_t n;
    unsigned char *b = make_stream(300, &n, 0);
    CHECK_EQ_INT(n, TOKSTREAM_HEADER_BYTES + 20);
    CHECK_EQ_INT(read_all(b, n, 300), 0);
    free(b);
    return check_report("test_tokstream");
}
