/* shardpatch: rewrite one field of a shard header and recompute the header checksum,
 * so a test can present a header that is intact but says something wrong (an unknown
 * version, a smaller vocabulary, ...), which a checksum alone would not catch.
 *
 *   shardpatch FILE OFFSET u32|u64 VALUE    (offsets as in nmoe-shard(5))
 *   shardpatch FILE get OFFSET u32|u64      print the field
 *   shardpatch FILE reseal                  recompute the token, index and sequence
 *                                           checksums and the header checksum, so a
 *                                           hand-made change passes every checksum
 */
#include "base/hash.h"
#include "shard/shard_format.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int reseal(const char *path)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp) { fprintf(stderr, "shardpatch: %s: %s\n", path, strerror(errno)); return 1; }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    unsigned char *b = malloc((size_t)size);
    fseek(fp, 0, SEEK_SET);
    if (size < (long)SHARD_HEADER_BYTES || fread(b, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "shardpatch: %s: short file\n", path);
        return 1;
    }
    uint64_t n_docs = get_u64le(b + 40), tokens_at = get_u64le(b + 56), tokens_size = get_u64le(b + 64);
    uint64_t index_at = get_u64le(b + 72), seq_at = get_u64le(b + 80);
    if (tokens_at + tokens_size > (uint64_t)size || index_at + 8 * (n_docs + 1) > (uint64_t)size ||
        seq_at + 8 * n_docs > (uint64_t)size) {
        fprintf(stderr, "shardpatch: %s: sections outside the file\n", path);
        return 1;
    }
    put_u64le(b + 96, hash64(b + tokens_at, tokens_size, 0));
    put_u64le(b + 104, hash64(b + index_at, 8 * (n_docs + 1), 0));
    put_u64le(b + 112, hash64(b + seq_at, 8 * n_docs, 0));
    put_u64le(b + 120, hash64(b, 120, 0));
    fseek(fp, 0, SEEK_SET);
    if (fwrite(b, 1, SHARD_HEADER_BYTES, fp) != SHARD_HEADER_BYTES || fclose(fp) != 0) {
        fprintf(stderr, "shardpatch: %s: write failed\n", path);
        return 1;
    }
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[2], "reseal") == 0) return reseal(argv[1]);
    if (argc != 5) {
        fprintf(stderr, "usage: shardpatch FILE OFFSET u32|u64 VALUE | shardpatch FILE get OFFSET u32|u64 | shardpatch FILE reseal\n");
        return 2;
    }
    FILE *fp = fopen(argv[1], "r+b");
    if (!fp) { fprintf(stderr, "shardpatch: %s: %s\n", argv[1], strerror(errno)); return 1; }
    unsigned char h[SHARD_HEADER_BYTES];
    if (fread(h, 1, sizeof h, fp) != sizeof h) { fprintf(stderr, "shardpatch: %s: short header\n", argv[1]); return 1; }
    bool get = strcmp(argv[2], "get") == 0;
    unsigned long off = strtoul(argv[get ? 3 : 2], NULL, 0);
    const char *type = argv[get ? 4 : 3];
    int width = strcmp(type, "u32") == 0 ? 4 : strcmp(type, "u64") == 0 ? 8 : 0;
    if (!width || off + (unsigned long)width > 120) { fprintf(stderr, "shardpatch: bad field\n"); return 2; }
    if (get) {
        printf("%llu\n", width == 4 ? (unsigned long long)get_u32le(h + off) : (unsigned long long)get_u64le(h + off));
        return 0;
    }
    unsigned long long v = strtoull(argv[4], NULL, 0);
    if (width == 4) put_u32le(h + off, (uint32_t)v);
    else put_u64le(h + off, v);
    put_u64le(h + 120, hash64(h, 120, 0));
    fseek(fp, 0, SEEK_SET);
    if (fwrite(h, 1, sizeof h, fp) != sizeof h || fclose(fp) != 0) {
        fprintf(stderr, "shardpatch: %s: write failed\n", argv[1]);
        return 1;
    }
    return 0;
}
