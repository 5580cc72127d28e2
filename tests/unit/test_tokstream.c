/* test_tokstream.c: round trip for both widths, concatenated streams, and that every
 * kind of damage is a fatal error (run in a child, which must exit non-zero). */
#include "check.h"
#include "error.h"
#include "tokstream.h"

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
    /* Empty stream: header + trailer only. */
    size_t n;
    unsigned char *b = make_stream(300, &n, 0);
    CHECK_EQ_INT(n, TOKSTREAM_HEADER_BYTES + 20);
    CHECK_EQ_INT(read_all(b, n, 300), 0);
    free(b);
    return check_report("test_tokstream");
}
