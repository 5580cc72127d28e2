/* head_rate: how fast this machine runs the scoring head of nmoe-eval core, the
 * product of the CPU backend's head blocks (256 rows x dim -> vocab, OpenBLAS on the
 * fixed grid) and the loss over each row's vocab, for bench/core_time.sh to turn the
 * suite's scored positions into the head's arithmetic floor:
 *
 *   head_rate DIM VOCAB THREADS
 *   head_rate: rows/s R, product GFLOP/s G (dim D, vocab V, threads N)
 *
 * One warm-up block, then blocks for about two seconds. */
#include "base/clock.h"
#include "base/error.h"
#include "base/rng.h"
#include "cpu/crossentropy.h"
#include "cpu/matmul.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { ROWS = 256 }; /* kernels/cpu/model_cpu.c HEAD_GATHER */

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc != 4) {
        fprintf(stderr, "usage: head_rate DIM VOCAB THREADS\n");
        return 2;
    }
    const int C = atoi(argv[1]), V = atoi(argv[2]), threads = atoi(argv[3]);
    if (C < 1 || V < 2 || threads < 1) die("head_rate: DIM >= 1, VOCAB >= 2, THREADS >= 1");
    omp_set_num_threads(threads);
    blas_use_one_thread();
    float *x = xaligned_alloc((size_t)ROWS * C * sizeof *x), *w = xaligned_alloc((size_t)V * C * sizeof *w);
    float *logits = xaligned_alloc((size_t)ROWS * V * sizeof *logits), loss[ROWS];
    uint32_t targets[ROWS], argmax[ROWS];
    Rng r = rng_make(1, 2);
    for (size_t i = 0; i < (size_t)ROWS * C; i++) x[i] = rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < (size_t)V * C; i++) w[i] = 0.02f * (rng_uniform(&r) - 0.5f);
    for (int i = 0; i < ROWS; i++) targets[i] = (uint32_t)rng_below(&r, (uint64_t)V);
    size_t n_scratch = linear_scratch_floats(ROWS, C, V, ROWS);
    GemmScratch s = { n_scratch ? xaligned_alloc(n_scratch * sizeof(float)) : NULL, n_scratch };
    double t_gemm = 0.0, t_all = 0.0;
    long blocks = 0;
    for (int warm = 1; warm >= 0; warm--) {
        const double t_end = monotonic_s() + (warm ? 0.0 : 2.0);
        do {
            const double t0 = monotonic_s();
            linear_forward(logits, x, w, ROWS, C, V, ROWS, &s);
            const double t1 = monotonic_s();
            crossentropy(logits, ROWS, V, targets, loss, argmax, NULL);
            if (!warm) {
                t_gemm += t1 - t0;
                t_all += monotonic_s() - t0;
                blocks++;
            }
        } while (monotonic_s() < t_end);
    }
    printf("head_rate: rows/s %.0f, product GFLOP/s %.1f (dim %d, vocab %d, threads %d)\n",
           blocks * ROWS / t_all, 2.0 * ROWS * C * (double)V * blocks / t_gemm / 1e9, C, V, threads);
    return 0;
}
