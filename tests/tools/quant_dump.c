/* quant_dump: write random matrices and libcommon/quant's quantize-dequantize of each, in
 * every format and along both axes, for the PyTorch oracle (tests/oracle/
 * quant_reference.py), as NumPy .npy files (format 1.0, little-endian, C order):
 *
 *   cases.json          {"cases": N, "formats": [...]}
 *   in_I.npy            case I's matrix [rows, cols] float32
 *   FORMAT_aA_I.npy     quant_qdq_matrix(FORMAT, in_I, axis A) [rows, cols] float32
 *
 * The cases mix shapes that are and are not multiples of the blocks, rows of very
 * different magnitudes, exact ties of the element formats, zero and tiny blocks, values
 * near fp32's extremes, signed zeros, and blocks holding a NaN or an Inf.
 *
 * usage: quant_dump OUTDIR [seed] */
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/rng.h"
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_npy_f32(const char *dir, const char *name, const float *data, size_t rows, size_t cols)
{
    char path[4096], header[256];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                       rows, cols);
    const int total = (10 + len + 1 + 63) / 64 * 64, pad = total - 10 - len - 1;
    memset(header + len, ' ', (size_t)pad);
    header[len + pad] = '\n';
    const uint16_t hlen = (uint16_t)(len + pad + 1);
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    AtomicFile *af = atomic_open(path);
    atomic_write(af, "\x93NUMPY\x01\x00", 8);
    const unsigned char hl[2] = { (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
    atomic_write(af, hl, 2);
    atomic_write(af, header, hlen);
    atomic_write(af, data, rows * cols * sizeof *data);
    atomic_commit(af);
}

/* Case i's matrix: rows of random scale; some cases add the edge values. */
static void fill_case(int i, Rng *r, float *x, size_t R, size_t C)
{
    for (size_t a = 0; a < R; a++) {
        const int e = (int)rng_below(r, 80) - 40;
        for (size_t b = 0; b < C; b++) x[a * C + b] = ldexpf(rng_normal(r), e);
    }
    if (i % 3 == 1) { /* exact ties of E2M1 and E4M3 at one scale, and zeros */
        static const float ties[] = { 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, -5.0f, -0.75f, 17.0f, 19.0f, 464.0f };
        for (size_t b = 0; b < C && b < sizeof ties / sizeof ties[0]; b++) x[b] = ties[b];
        if (R > 1) x[C] = 6.0f * 64; /* the next row's block: amax 6 * 2^6 */
        if (R > 2) memset(x + 2 * C, 0, C * sizeof *x);
    }
    if (i % 3 == 2) { /* extremes: tiny (fp32 subnormal), huge, signed zero */
        x[0] = 0x1p-140f;
        if (C > 1) x[1] = -0x1p-130f;
        if (R > 1) { x[C] = FLT_MAX; if (C > 1) x[C + 1] = -1e38f; }
        x[R * C - 1] = -0.0f;
        if (R > 3) for (size_t b = 0; b < C; b++) x[3 * C + b] = ldexpf((float)b, -135);
    }
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: quant_dump OUTDIR [seed]\n");
        return NMOE_EXIT_USAGE;
    }
    const char *dir = argv[1];
    const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    make_dirs(dir);
    static const size_t shapes[][2] = { { 7, 70 }, { 33, 16 }, { 5, 100 }, { 64, 48 }, { 1, 1 }, { 3, 31 },
                                        { 40, 33 }, { 16, 96 }, { 9, 17 }, { 128, 64 }, { 4, 32 }, { 2, 130 } };
    const int n_cases = (int)(sizeof shapes / sizeof shapes[0]) + 2;
    Rng r = rng_make(seed, 1);
    char name[64];
    for (int i = 0; i < n_cases; i++) {
        const size_t R = i < n_cases - 2 ? shapes[i][0] : 6, C = i < n_cases - 2 ? shapes[i][1] : 40;
        float *x = xmalloc(R * C * sizeof *x), *y = xmalloc(R * C * sizeof *y);
        fill_case(i, &r, x, R, C);
        if (i == n_cases - 2) x[C + 35] = NAN;      /* a NaN in row 1's second block */
        if (i == n_cases - 1) x[4 * C + 3] = -INFINITY;
        snprintf(name, sizeof name, "in_%d", i);
        write_npy_f32(dir, name, x, R, C);
        for (int f = 0; f < QUANT_FORMAT_COUNT; f++)
            for (int axis = 0; axis < 2; axis++) {
                quant_qdq_matrix((QuantFormat)f, x, y, R, C, axis);
                snprintf(name, sizeof name, "%s_a%d_%d", quant_format_name((QuantFormat)f), axis, i);
                write_npy_f32(dir, name, y, R, C);
            }
        free(x);
        free(y);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    AtomicFile *af = atomic_open(path);
    fprintf(atomic_stream(af), "{\"cases\": %d, \"formats\": [", n_cases);
    for (int f = 0; f < QUANT_FORMAT_COUNT; f++)
        fprintf(atomic_stream(af), "%s\"%s\"", f ? ", " : "", quant_format_name((QuantFormat)f));
    fprintf(atomic_stream(af), "]}\n");
    atomic_commit(af);
    return 0;
}
