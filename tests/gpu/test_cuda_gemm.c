/* test_cuda_gemm.c (GPU only, built by `make CUDA=1`): cuBLASLt GEMM against the
 * CPU's OpenBLAS on the same inputs, FP32 and BF16, then a 4096^3 BF16 timing.
 * Tolerances: FP32 (TF32 is not enabled) 1e-4 relative to the row scale; BF16
 * inputs carry 8 mantissa bits, so 2e-2. Exits 77 (skip) without a GPU. */
#include "../unit/check.h"
#include "cuda/cuda_backend.h"
#include "base/error.h"
#include "base/rng.h"

#include <cblas.h>
#include <stdlib.h>

static double max_rel_err(const float *got, const float *want, size_t n)
{
    double scale = 0, err = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) err = fmax(err, fabs(got[i] - want[i]));
    return err / scale;
}

int main(void)
{
    nmoe_set_prog("test_cuda_gemm");
    if (cuda_device_count() == 0) { printf("no CUDA device visible\n"); return 77; }
    char desc[256];
    cuda_describe(desc, sizeof desc);
    printf("device: %s\n", desc);
    int shapes[][3] = { { 64, 48, 32 }, { 257, 129, 511 }, { 1024, 768, 512 } };
    for (int s = 0; s < 3; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n);
        float *C = malloc(sizeof(float) * m * n), *R = malloc(sizeof(float) * m * n);
        Rng r = rng_make(7, (uint64_t)s);
        for (int i = 0; i < m * k; i++) A[i] = rng_normal(&r);
        for (int i = 0; i < k * n; i++) B[i] = rng_normal(&r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, k, B, n, 0.0f, R, n);
        cuda_gemm(A, B, C, m, n, k, 0, 1);
        double e32 = max_rel_err(C, R, (size_t)m * n);
        cuda_gemm(A, B, C, m, n, k, 1, 1);
        double e16 = max_rel_err(C, R, (size_t)m * n);
        printf("gemm %dx%dx%d: fp32 max rel err %.2e, bf16 %.2e\n", m, n, k, e32, e16);
        CHECK(e32 < 1e-4);
        CHECK(e16 < 2e-2);
        free(A); free(B); free(C); free(R);
    }
    int N = 4096;
    float *A = calloc((size_t)N * N, 4), *B = calloc((size_t)N * N, 4), *C = calloc((size_t)N * N, 4);
    Rng r = rng_make(9, 0);
    for (size_t i = 0; i < (size_t)N * N; i++) { A[i] = rng_uniform(&r) - 0.5f; B[i] = rng_uniform(&r) - 0.5f; }
    double ms = cuda_gemm(A, B, C, N, N, N, 1, 20);
    printf("gemm 4096^3 bf16: %.3f ms, %.0f TFLOP/s\n", ms, 2.0 * N * N * N / (ms * 1e-3) / 1e12);
    CHECK(ms > 0);
    free(A); free(B); free(C);
    return check_report("test_cuda_gemm");
}
