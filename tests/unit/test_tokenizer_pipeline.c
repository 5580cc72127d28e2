/* test_tokenizer_pipeline.c: the whole of `nmoe-tok encode` (reader thread, workers,
 * writer thread) run in-process under the sanitizers: the token stream is the same
 * for 1, 2, 3 and 8 threads, and each document's ids are tok_encode's. Inputs: a
 * small file, an empty one, a file over MMAP_MIN_BYTES (read mapped, one document
 * cut into many parts), and JSONL of several batches with blank lines and bad lines
 * (skipped under skip_bad and counted). */
#include "check.h"
#include "test_files.h"
#include "base/error.h"
#include "tok/text_input.h"
#include "tok/tokenizer.h"
#include "formats/tokstream.h"

#include <stdlib.h>
#include <unistd.h>

/* The stream for `threads` threads, in memory. */
static char *encode(const Tokenizer *t, char **paths, int n, int threads, size_t *len, TokEncodeStats *st)
{
    char *buf = NULL;
    FILE *fp = open_memstream(&buf, len);
    TokEncodeJob job = { .eot = true, .threads = threads, .input = { .field = "text", .skip_bad = true } };
    tok_encode_inputs(t, paths, n, &job, fp, "mem", st);
    fclose(fp);
    return buf;
}

int main(void)
{
    nmoe_set_prog("test_tokenizer_pipeline");
    const char *top = getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".";
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/data/tokenizers/gpt2", top);
    Tokenizer *t = tokenizer_load(path, err, sizeof err);
    if (!t) { fprintf(stderr, "%s\n", err); return 1; }
    size_t ts_n;
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", top);
    uint8_t *ts = test_read_file(path, &ts_n);
    CHECK(ts_n > MMAP_MIN_BYTES);

    char dir[] = "/tmp/nmoe-test-pipeline-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char small[600], empty[600], big[600], jsonl[600];
    snprintf(small, sizeof small, "%s/small.txt", dir);
    snprintf(empty, sizeof empty, "%s/empty.txt", dir);
    snprintf(big, sizeof big, "%s/big.txt", dir);
    snprintf(jsonl, sizeof jsonl, "%s/d.jsonl", dir);
    test_write_file(small, ts, 5000);
    test_write_file(empty, "", 0);
    test_write_file(big, ts, ts_n);
    /* JSONL: Tiny Shakespeare twice, in documents of 300 bytes (escaped), with a
     * blank line and a bad line every so often: about 2.5 MB, several batches. */
    size_t cap = 3 * ts_n + 100000, jn = 0, docs_want = 0, bad_want = 0;
    char *j = xmalloc(cap);
    for (int rep = 0; rep < 2; rep++)
        for (size_t at = 0; at < ts_n; at += 300, docs_want++) {
            if (docs_want % 97 == 5) { jn += (size_t)snprintf(j + jn, cap - jn, "{\"text\": oops}\n\n"); bad_want++; }
            jn += (size_t)snprintf(j + jn, cap - jn, "{\"id\": %zu, \"text\": \"", docs_want);
            for (size_t i = at; i < at + 300 && i < ts_n; i++) {
                uint8_t c = ts[i];
                if (c == '\n') { j[jn++] = '\\'; j[jn++] = 'n'; }
                else if (c == '"' || c == '\\') { j[jn++] = '\\'; j[jn++] = (char)c; }
                else j[jn++] = (char)c;
            }
            jn += (size_t)snprintf(j + jn, cap - jn, "\"}\n");
        }
    test_write_file(jsonl, j, jn);
    free(j);

    char *paths[] = { small, empty, big, jsonl, small };
    int n_paths = 5;
    size_t len1;
    TokEncodeStats st1;
    char *one = encode(t, paths, n_paths, 1, &len1, &st1);
    CHECK_EQ_INT(st1.docs, 4 + docs_want);
    CHECK_EQ_INT(st1.skipped, bad_want);
    int threads[] = { 2, 3, 8 };
    for (int k = 0; k < 3; k++) {
        size_t len;
        TokEncodeStats st;
        char *got = encode(t, paths, n_paths, threads[k], &len, &st);
        CHECK(len == len1 && memcmp(got, one, len) == 0);
        CHECK_EQ_INT(st.docs, st1.docs);
        CHECK_EQ_INT(st.tokens, st1.tokens);
        CHECK_EQ_INT(st.skipped, bad_want);
        free(got);
    }

    /* Each document against tok_encode: the files, then the JSON texts in order. */
    FILE *fp = fmemopen(one, len1, "rb");
    TokReader *r = tokr_open(fp, "mem");
    TokEncoder *e = tok_encoder_new(t);
    IdVec want = { 0 };
    const uint32_t *ids;
    size_t n;
    size_t d = 0, mismatches = 0;
    while (tokr_next(r, &ids, &n)) {
        want.n = 0;
        const uint8_t *text = ts;
        size_t tl = 0;
        if (d == 0 || d == 3 + docs_want) tl = 5000;                    /* small.txt, first and last */
        else if (d == 1) tl = 0;                                        /* empty.txt */
        else if (d == 2) tl = ts_n;                                     /* big.txt */
        else {                                                          /* a JSON document */
            size_t q = (d - 3) % ((ts_n + 299) / 300);
            text = ts + q * 300;
            tl = q * 300 + 300 <= ts_n ? 300 : ts_n - q * 300;
        }
        tok_encode(t, e, text, tl, false, &want);
        idvec_push(&want, (uint32_t)t->eot_id);
        if (want.n != n || memcmp(want.v, ids, n * sizeof *ids) != 0) mismatches++;
        d++;
    }
    CHECK_EQ_INT(d, st1.docs);
    CHECK_EQ_INT(mismatches, 0);
    tokr_close(r);
    fclose(fp);
    idvec_free(&want);
    tok_encoder_free(e);
    free(one);

    unlink(small);
    unlink(empty);
    unlink(big);
    unlink(jsonl);
    rmdir(dir);
    free(ts);
    tokenizer_free(t);
    return check_report("test_tokenizer_pipeline");
}
