/* test_shard_import.c: the llm.c .bin and .npy header readers accept what llm.c and
 * NumPy write and refuse everything else with the reason named. (The CLI tests import
 * real files written by NumPy; these cover the corners one at a time.) */
#include "check.h"
#include "base/error.h"
#include "shard/shard_import.h"
#include "formats/tokstream.h"

#include <stdlib.h>

/* A .npy v1.0 file image: header dict padded with spaces to 64 bytes, then n_data bytes. */
static unsigned char *npy(const char *dict, int major, size_t n_data, size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = (pre + dl + 1 + 63) / 64 * 64 - pre;
    unsigned char *b = calloc(1, pre + hl + n_data + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) { b[8] = (unsigned char)hl; b[9] = (unsigned char)(hl >> 8); }
    else put_u32le(b + 8, (uint32_t)hl);
    memset(b + pre, ' ', hl);
    memcpy(b + pre, dict, dl);
    b[pre + hl - 1] = '\n';
    *len = pre + hl + n_data;
    return b;
}

static bool npy_ok(const char *dict, int major, size_t n_data, TokenArray *a)
{
    size_t len;
    unsigned char *b = npy(dict, major, n_data, &len);
    char err[512] = "";
    bool ok = npy_parse_header(b, len, len, "t.npy", a, err, sizeof err);
    if (!ok) fprintf(stderr, "unexpected: %s\n", err);
    free(b);
    return ok;
}

static bool npy_err(const char *dict, int major, size_t n_data, const char *want)
{
    size_t len;
    unsigned char *b = npy(dict, major, n_data, &len);
    char err[512] = "";
    TokenArray a;
    bool ok = npy_parse_header(b, len, len, "t.npy", &a, err, sizeof err);
    free(b);
    bool good = !ok && strncmp(err, "t.npy: ", 7) == 0 && strstr(err, want);
    if (!good) fprintf(stderr, "for %s: expected '%s', got '%s'\n", dict, want, err);
    return good;
}

static bool llmc_err(int32_t magic, int32_t version, int32_t count, size_t n_data, const char *want)
{
    size_t len = LLMC_HEADER_BYTES + n_data;
    unsigned char *b = calloc(1, len);
    put_u32le(b, (uint32_t)magic);
    put_u32le(b + 4, (uint32_t)version);
    put_u32le(b + 8, (uint32_t)count);
    TokenArray a;
    char err[512] = "";
    bool ok = llmc_parse_header(b, len, len, "t.bin", &a, err, sizeof err);
    free(b);
    if (want == NULL) {
        if (!ok) fprintf(stderr, "unexpected: %s\n", err);
        return ok && a.n_tokens == (uint64_t)count && a.item_bytes == 2 && a.data_offset == 1024;
    }
    bool good = !ok && strncmp(err, "t.bin: ", 7) == 0 && strstr(err, want);
    if (!good) fprintf(stderr, "expected '%s', got '%s'\n", want, err);
    return good;
}

int main(void)
{
    nmoe_set_prog("test_shard_import");
    TokenArray a;
    CHECK(npy_ok("{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }", 1, 20, &a));
    CHECK_EQ_INT(a.n_tokens, 10);
    CHECK_EQ_INT(a.item_bytes, 2);
    CHECK_EQ_INT(a.data_offset, 128); /* 10 + 59 + newline, padded to 64 */
    CHECK(!a.is_signed);
    CHECK(npy_ok("{'descr': '<i8', 'fortran_order': False, 'shape': (3,)}", 2, 24, &a));
    CHECK_EQ_INT(a.item_bytes, 8);
    CHECK(a.is_signed);
    CHECK(npy_ok("{\"shape\": (5L,), \"descr\": \"<u4\", \"fortran_order\": False}", 3, 20, &a));
    CHECK_EQ_INT(a.n_tokens, 5);
    CHECK(npy_ok("{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", 1, 0, &a));
    CHECK_EQ_INT(a.n_tokens, 0);

    CHECK(npy_err("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", 1, 40, "'<f4' is not a token type"));
    CHECK(npy_err("{'descr': '>u2', 'fortran_order': False, 'shape': (10,), }", 1, 20, "big-endian"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 5), }", 1, 20, "2 dimensions"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (), }", 1, 2, "0 dimensions"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': True, 'shape': (10,), }", 1, 20, "Fortran order"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }", 1, 19, "truncated"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }", 1, 22, "bytes after the 10 tokens"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False}", 1, 0, "lacks 'shape'"));
    CHECK(npy_err("{'descr': '<u2', 'descr': '<u2', 'fortran_order': False, 'shape': (1,)}", 1, 2, "repeated key 'descr'"));
    CHECK(npy_err("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (1,)}", 1, 2, "structured"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (99999999999999999999,)}", 1, 2, "tuple of sizes"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (10,), } x", 1, 20, "bytes after the dict"));
    CHECK(npy_err("{'descr': '<u2', 'fortran_order': False, 'shape': (4611686018427387904,), }", 1, 20, "truncated"));
    {
        size_t len;
        unsigned char *b = npy("{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }", 1, 20, &len);
        char err[256];
        b[6] = 4;
        CHECK(!npy_parse_header(b, len, len, "t.npy", &a, err, sizeof err) && strstr(err, "unsupported .npy version 4.0"));
        b[6] = 1;
        b[1] = 'X';
        CHECK(!npy_parse_header(b, len, len, "t.npy", &a, err, sizeof err) && strstr(err, "bad magic"));
        b[1] = 'N';
        CHECK(!npy_parse_header(b, 30, 30, "t.npy", &a, err, sizeof err) && strstr(err, "truncated"));
        CHECK(!npy_parse_header(b, 4, 4, "t.npy", &a, err, sizeof err) && strstr(err, "truncated"));
        free(b);
    }

    CHECK(llmc_err(LLMC_MAGIC, 1, 100, 200, NULL));
    CHECK(llmc_err(LLMC_MAGIC, 1, 0, 0, NULL));
    CHECK(llmc_err(20240801, 7, 100, 400, "bad magic 20240801"));
    CHECK(llmc_err(LLMC_MAGIC, 2, 100, 200, "unsupported llm.c version 2"));
    CHECK(llmc_err(LLMC_MAGIC, 1, -5, 0, "negative token count"));
    CHECK(llmc_err(LLMC_MAGIC, 1, 100, 199, "truncated"));
    CHECK(llmc_err(LLMC_MAGIC, 1, 100, 202, "bytes after the 100 tokens"));
    {
        unsigned char b[16] = { 0 };
        put_u32le(b, LLMC_MAGIC);
        char err[256];
        CHECK(!llmc_parse_header(b, 16, 16, "t.bin", &a, err, sizeof err) && strstr(err, "truncated"));
    }
    return check_report("test_shard_import");
}
