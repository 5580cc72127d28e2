/* fuzz_shard_header.c: libFuzzer target for the shard reader. The input is taken as a
 * whole shard file (through shard_try_open_memory, no temp file); whatever opens is
 * then verified and read end to end, so header, index, sequence section and zstd
 * token section are all exercised. The reader must never crash, hang, read out of
 * bounds or die: a bad shard is a `name: reason` message and a NULL.
 *
 * Random bytes almost never carry valid 64-bit checksums, so the input is tried a
 * second time "re-sealed": a copy whose section checksums (where the header's
 * offsets point inside the input) and header checksum are recomputed. That lets the
 * fuzzer reach the structural checks behind the checksums. */
#include "base/hash.h"
#include "shard/shard.h"
#include "shard/shard_ext.h"
#include "formats/tokstream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t hash_range(const uint8_t *b, size_t size, uint64_t off, uint64_t len)
{
    if (off > size || len > size - off) return 0;
    return hash64(b + off, (size_t)len, 0);
}

static void open_and_read(const uint8_t *data, size_t size)
{
    char err[512];
    Shard *s = shard_try_open_memory(data, size, "fuzz.shard", err, sizeof err);
    if (!s) return;
    const ShardInfo *in = shard_info(s);
    if (shard_verify(s, err, sizeof err)) {
        uint32_t buf[256];
        for (uint64_t d = 0; d < in->n_docs; d++) {
            uint64_t a = shard_doc_start(s, d), b = shard_doc_start(s, d + 1);
            (void)shard_doc_seq(s, d);
            for (uint64_t at = a; at < b; at += 256) shard_read(s, at, (size_t)(b - at < 256 ? b - at : 256), buf);
        }
    }
    shard_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    open_and_read(data, size);
    if (size < SHARD_HEADER_BYTES) return 0;
    uint8_t *b = malloc(size);
    memcpy(b, data, size);
    uint64_t n_docs = get_u64le(b + 40), tokens_offset = get_u64le(b + 56), tokens_size = get_u64le(b + 64);
    uint64_t index_offset = get_u64le(b + 72), seq_offset = get_u64le(b + 80);
    if (n_docs < size) {
        put_u64le(b + 96, hash_range(b, size, tokens_offset, tokens_size));
        put_u64le(b + 104, hash_range(b, size, index_offset, 8 * (n_docs + 1)));
        put_u64le(b + 112, hash_range(b, size, seq_offset, 8 * n_docs));
    }
    put_u64le(b + 120, hash64(b, 120, 0));
    open_and_read(b, size);
    free(b);
    return 0;
}
