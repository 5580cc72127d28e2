/* fuzz_tokenizer_file.c: arbitrary bytes as an nmoe tokenizer file. The reader must
 * reject bad input with a message, never crash. Checksums would stop almost every
 * mutation at the door, so when the first byte is odd the harness first makes both
 * checksums right, letting the fuzzer reach the body parser and tokenizer_build; the
 * rest of the input is the file. A file that loads must encode and decode. */
#include "base/error.h"
#include "base/hash.h"
#include "tok/tokenizer.h"
#include "formats/tokstream.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t n = size - 1;
    uint8_t *f = malloc(n ? n : 1);
    memcpy(f, data + 1, n);
    if ((data[0] & 1) && n >= TOKFILE_HEADER_BYTES) {
        put_u64le(f + 40, n - TOKFILE_HEADER_BYTES);
        put_u64le(f + 48, hash64(f + TOKFILE_HEADER_BYTES, n - TOKFILE_HEADER_BYTES, 0));
        put_u64le(f + 56, hash64(f, 56, 0));
    }
    char err[1024];
    Tokenizer *t = tokenizer_from_file_bytes(f, n, "fuzz", err, sizeof err);
    /* A custom pattern may legitimately fail on some text (PCRE2's match limit is a
     * fatal, reported error), so only built-in patterns are run on the sample. */
    if (t && t->pattern_kind == PRETOK_CUSTOM) {
        tokenizer_free(t);
    } else if (t) {
        static const char sample[] = "Hello, world! 123 \xff\xfe <|endoftext|> tokens\n\n";
        TokEncoder *e = tok_encoder_new(t);
        IdVec ids = { 0 };
        tok_encode(t, e, (const uint8_t *)sample, sizeof sample - 1, true, &ids);
        size_t at = 0;
        for (size_t i = 0; i < ids.n; i++) {
            size_t len;
            const uint8_t *b = tokenizer_token_bytes(t, ids.v[i], &len);
            if (!b || at + len > sizeof sample - 1 || memcmp(sample + at, b, len) != 0) abort();
            at += len;
        }
        if (at != sizeof sample - 1) abort();
        idvec_free(&ids);
        tok_encoder_free(e);
        tokenizer_free(t);
    } else if (strncmp(err, "fuzz: ", 6) != 0) {
        abort(); /* every message names the file */
    }
    free(f);
    return 0;
}
