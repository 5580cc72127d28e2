// cuda_gemm.cu: the first CUDA piece, cuBLASLt GEMM behind a C interface, so the
// CUDA build is exercised (and tested on a GPU) from the start.
#include "cuda_backend.h"
#include "base/error.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>

#define CUDA_CHECK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) \
    die("%s:%d: %s failed: %s (is a GPU visible? check nvidia-smi)", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); } while (0)
#define CUBLAS_CHECK(call) do { cublasStatus_t s_ = (call); if (s_ != CUBLAS_STATUS_SUCCESS) \
    die("%s:%d: %s failed: cuBLAS status %d", __FILE__, __LINE__, #call, (int)s_); } while (0)
#define NCCL_CHECK(call) do { ncclResult_t r_ = (call); if (r_ != ncclSuccess) \
    die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, ncclGetErrorString(r_)); } while (0)

extern "C" int cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

extern "C" void cuda_describe(char *buf, size_t cap)
{
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    int rt = 0, nccl = 0;
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    NCCL_CHECK(ncclGetVersion(&nccl));
    snprintf(buf, cap, "%s (sm_%d%d, %.1f GiB), CUDA runtime %d, cuBLASLt %zu, NCCL %d", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1 << 30), rt, cublasLtGetVersion(), nccl);
}

__global__ void float_to_bf16(const float *in, __nv_bfloat16 *out, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16(in[i]);
}

extern "C" double cuda_gemm(const float *A, const float *B, float *C, int m, int n, int k, int bf16, int reps)
{
    // Row-major C = A B is column-major C^T = B^T A^T: pass B as the first operand.
    size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
    float *dA32, *dB32, *dC;
    void *dA, *dB;
    CUDA_CHECK(cudaMalloc(&dA32, sa * 4));
    CUDA_CHECK(cudaMalloc(&dB32, sb * 4));
    CUDA_CHECK(cudaMalloc(&dC, sc * 4));
    CUDA_CHECK(cudaMemcpy(dA32, A, sa * 4, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dB32, B, sb * 4, cudaMemcpyHostToDevice));
    cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    if (bf16) {
        CUDA_CHECK(cudaMalloc(&dA, sa * 2));
        CUDA_CHECK(cudaMalloc(&dB, sb * 2));
        float_to_bf16<<<(unsigned)((sa + 255) / 256), 256>>>(dA32, (__nv_bfloat16 *)dA, sa);
        float_to_bf16<<<(unsigned)((sb + 255) / 256), 256>>>(dB32, (__nv_bfloat16 *)dB, sb);
        CUDA_CHECK(cudaGetLastError());
    } else {
        dA = dA32;
        dB = dB32;
    }
    cublasLtHandle_t lt;
    CUBLAS_CHECK(cublasLtCreate(&lt));
    cublasLtMatmulDesc_t op;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasLtMatrixLayout_t la, lb, lc;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, in_type, n, k, n)); // B^T: n x k col-major
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, in_type, k, m, k)); // A^T: k x m col-major
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n));
    size_t ws_size = 32u << 20;
    void *ws;
    CUDA_CHECK(cudaMalloc(&ws, ws_size));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size, sizeof ws_size));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, op, lb, la, lc, lc, pref, 1, &heur, &found));
    if (!found) die("cuBLASLt: no algorithm for a %dx%dx%d %s GEMM", m, n, k, bf16 ? "BF16" : "FP32");
    float alpha = 1.0f, beta = 0.0f;
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0));
    CUDA_CHECK(cudaEventCreate(&t1));
    std::vector<float> times;
    for (int r = 0; r < (reps > 0 ? reps : 1) + 1; r++) { // first run warms up
        CUDA_CHECK(cudaEventRecord(t0));
        CUBLAS_CHECK(cublasLtMatmul(lt, op, &alpha, dB, lb, dA, la, &beta, dC, lc, dC, lc, &heur.algo, ws, ws_size, 0));
        CUDA_CHECK(cudaEventRecord(t1));
        CUDA_CHECK(cudaEventSynchronize(t1));
        float ms;
        CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
        if (r > 0) times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    CUDA_CHECK(cudaMemcpy(C, dC, sc * 4, cudaMemcpyDeviceToHost));
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cublasLtDestroy(lt);
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    if (bf16) { cudaFree(dA); cudaFree(dB); }
    cudaFree(dA32); cudaFree(dB32); cudaFree(dC); cudaFree(ws);
    return times[times.size() / 2];
}
