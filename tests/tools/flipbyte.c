/* flipbyte: damage a file in place for the fault tests.
 *
 *   flipbyte FILE OFFSET [MASK]   XOR the byte at OFFSET with MASK (default 0x01);
 *                                 a negative OFFSET counts from the end (-1 = last byte)
 *   flipbyte FILE --size          print the file size
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: flipbyte FILE OFFSET [MASK] | flipbyte FILE --size\n");
        return 2;
    }
    FILE *fp = fopen(argv[1], "r+b");
    if (!fp) { fprintf(stderr, "flipbyte: %s: %s\n", argv[1], strerror(errno)); return 1; }
    if (fseek(fp, 0, SEEK_END) != 0) { fprintf(stderr, "flipbyte: %s: cannot seek\n", argv[1]); return 1; }
    long size = ftell(fp);
    if (strcmp(argv[2], "--size") == 0) { printf("%ld\n", size); return 0; }
    char *end;
    long off = strtol(argv[2], &end, 0);
    if (*end) { fprintf(stderr, "flipbyte: bad offset '%s'\n", argv[2]); return 2; }
    if (off < 0) off += size;
    if (off < 0 || off >= size) { fprintf(stderr, "flipbyte: offset %s outside the %ld-byte file\n", argv[2], size); return 2; }
    unsigned mask = argc == 4 ? (unsigned)strtoul(argv[3], NULL, 0) : 1u;
    if ((mask & 0xff) == 0) { fprintf(stderr, "flipbyte: mask must change the byte\n"); return 2; }
    fseek(fp, off, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, off, SEEK_SET);
    fputc((c ^ (int)mask) & 0xff, fp);
    if (fclose(fp) != 0) { fprintf(stderr, "flipbyte: %s: write failed\n", argv[1]); return 1; }
    return 0;
}
