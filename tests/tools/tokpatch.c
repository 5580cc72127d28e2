/* tokpatch: rewrite one 32-bit field of a token stream header (nmoe-tokens(5)) and
 * recompute the header checksum, so a test can present an intact header that says
 * something wrong (a smaller vocabulary, another version).
 *
 *   tokpatch FILE OFFSET VALUE     (OFFSET of a u32 field: 8 version, 12 width,
 *                                   16 vocab_size, 20 flags)
 */
#include "base/hash.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: tokpatch FILE OFFSET VALUE\n"); return 2; }
    FILE *fp = fopen(argv[1], "r+b");
    if (!fp) { fprintf(stderr, "tokpatch: %s: %s\n", argv[1], strerror(errno)); return 1; }
    unsigned char h[TOKSTREAM_HEADER_BYTES];
    if (fread(h, 1, sizeof h, fp) != sizeof h) { fprintf(stderr, "tokpatch: %s: short header\n", argv[1]); return 1; }
    unsigned long off = strtoul(argv[2], NULL, 0);
    if (off + 4 > 32) { fprintf(stderr, "tokpatch: offset %lu is not a header field\n", off); return 2; }
    put_u32le(h + off, (uint32_t)strtoul(argv[3], NULL, 0));
    put_u64le(h + 32, hash64(h, 32, 0));
    fseek(fp, 0, SEEK_SET);
    if (fwrite(h, 1, sizeof h, fp) != sizeof h || fclose(fp) != 0) {
        fprintf(stderr, "tokpatch: %s: write failed\n", argv[1]);
        return 1;
    }
    return 0;
}
