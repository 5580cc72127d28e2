/* cuda_backend.h: the C interface of the CUDA side (kernels/cuda/ .cu files).
 * Only compiled with `make CUDA=1`; callers test NMOE_CUDA. Every CUDA, cuBLASLt
 * and NCCL call is checked and a failure dies with file:line and the library's text. */
#ifndef NMOE_CUDA_BACKEND_H
#define NMOE_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible devices; 0 when there is no usable driver or GPU (not fatal). */
int cuda_device_count(void);
/* One line describing device 0 and the library versions, into buf. Dies without a GPU. */
void cuda_describe(char *buf, size_t cap);

/* C[m x n] = A[m x k] * B[k x n], row-major float on the host, computed on the GPU by
 * cuBLASLt in `bf16` (inputs rounded to BF16, FP32 accumulation) or FP32 (bf16 = 0).
 * Returns the time of the GEMM alone in milliseconds, the median of `reps` runs. */
double cuda_gemm(const float *A, const float *B, float *C, int m, int n, int k, int bf16, int reps);

#ifdef __cplusplus
}
#endif
#endif
