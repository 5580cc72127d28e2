/* matmul.h: matrix products on the CPU, and the linear layer built on them.
 *
 * A linear layer stores its weight W as [out, in], row-major, like torch.nn.Linear:
 *     forward   y[n, out]  = x[n, in] W^T
 *     backward  dx[n, in] += dy[n, out] W          (dx may be NULL)
 *               dW[out, in] += dy^T x              (llm.c convention: gradients ACCUMULATE)
 * The *_ref functions are plain loops to read against the math; the others run
 * OpenBLAS sgemm.
 *
 * Determinism. OpenBLAS's result for an element depends on how a product is cut up
 * (measured: the same element differs between a full call and row- or column-chunked
 * calls, and between 1 and 2 OpenBLAS threads). So nmoe never lets OpenBLAS choose:
 * OpenBLAS runs single-threaded (blas_use_one_thread) and gemm_grid cuts every product
 * into a grid of tiles that depends on the shape alone, one sgemm call per tile, the
 * tiles spread over OpenMP threads. A long reduction may also be cut into fixed chunks
 * whose partial products are summed in chunk order. The thread count never changes a bit.
 *
 * Batch invariance (for scoring, nmoe-eval): with row_period = T (the rows are B
 * sequences of T positions) row tiles restart at every sequence and the reduction is
 * cut by K alone, so a sequence's rows come out bit-identical whatever else is in the
 * batch. row_period = 0 means "one block of rows" (weight gradients). */
#ifndef NMOE_KERNELS_CPU_MATMUL_H
#define NMOE_KERNELS_CPU_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

/* Row tile height within a period, column tile width, and the reduction chunk used in
 * periodic products when K is long (the LM head's backward, K = vocabulary). */
enum { GEMM_TILE_ROWS = 256, GEMM_TILE_COLS = 512, GEMM_PERIODIC_K_SPLIT = 8192, GEMM_K_CHUNK = 4096 };

/* Partial products of split reductions live here; sized once by the caller from
 * gemm_grid_scratch_floats(). gemm_grid dies if it is too small (a programming error). */
typedef struct {
    float *buf;
    size_t n_floats;
} GemmScratch;

/* Make OpenBLAS single-threaded (nmoe parallelizes around it). Call once before use. */
void blas_use_one_thread(void);
/* "OpenBLAS 0.3.21 ... (pthread)" for the meta line. */
const char *blas_describe(void);

/* C[M,N] = beta*C + op(A) op(B), row-major; op(A) is M x K (A stored K x M when trans_a),
 * op(B) is K x N (B stored N x K when trans_b). */
void gemm_grid(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, int row_period,
               GemmScratch *scratch);
size_t gemm_grid_scratch_floats(int M, int N, int K, int row_period);

/* Plain loops. */
void linear_forward_ref(float *y, const float *x, const float *w, int n, int in, int out);
/* y += x W^T (a residual add fused into the product). */
void linear_forward_acc_ref(float *y, const float *x, const float *w, int n, int in, int out);
void linear_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         int n, int in, int out);

/* OpenBLAS on the fixed grid. */
void linear_forward(float *y, const float *x, const float *w, int n, int in, int out,
                    int row_period, GemmScratch *s);
void linear_forward_acc(float *y, const float *x, const float *w, int n, int in, int out,
                        int row_period, GemmScratch *s);
void linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                     int n, int in, int out, int row_period, GemmScratch *s);
/* Scratch the fast linear functions need for these sizes. */
size_t linear_scratch_floats(int n, int in, int out, int row_period);

#endif
