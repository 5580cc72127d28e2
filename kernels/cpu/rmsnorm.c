/* rmsnorm.c: see rmsnorm.h. */
#include "cpu/rmsnorm.h"

#include <math.h>
#include <stddef.h>

void rmsnorm_forward_ref(float *y, float *rstd, const float *x, const float *w, int n, int dim, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * dim;
        float ss = 0.0f;
        for (int j = 0; j < dim; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)dim + eps);
        rstd[i] = r;
        for (int j = 0; j < dim; j++) y[(size_t)i * dim + j] = xi[j] * r * w[j];
    }
}

void rmsnorm_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                          const float *rstd, int n, int dim)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
        float r = rstd[i];
        float dot = 0.0f;
        for (int j = 0; j < dim; j++) dot += dyi[j] * w[j] * (xi[j] * r);
        float mean = dot / (float)dim;
        for (int j = 0; j < dim; j++) {
            float xhat = xi[j] * r;
            dx[(size_t)i * dim + j] += r * (dyi[j] * w[j] - xhat * mean);
            dw[j] += dyi[j] * xhat;
        }
    }
}

void rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int n, int dim, float eps)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * dim;
        float *yi = y + (size_t)i * dim;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int j = 0; j < dim; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)dim + eps);
        rstd[i] = r;
#pragma omp simd
        for (int j = 0; j < dim; j++) yi[j] = xi[j] * r * w[j];
    }
}

/* Columns of dw per task: wide enough for vector loads, small enough to spread. */
enum { RMSNORM_DW_BLOCK = 32 };

void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int n, int dim)
{
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
            float *dxi = dx + (size_t)i * dim;
            float r = rstd[i];
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < dim; j++) dot += dyi[j] * w[j] * (xi[j] * r);
            float mean = dot / (float)dim;
#pragma omp simd
            for (int j = 0; j < dim; j++) dxi[j] += r * (dyi[j] * w[j] - (xi[j] * r) * mean);
        }
        /* dw: each block of columns is owned by one task and summed over rows in order. */
        int n_blocks = (dim + RMSNORM_DW_BLOCK - 1) / RMSNORM_DW_BLOCK;
#pragma omp for schedule(static)
        for (int blk = 0; blk < n_blocks; blk++) {
            int j0 = blk * RMSNORM_DW_BLOCK;
            int j1 = j0 + RMSNORM_DW_BLOCK < dim ? j0 + RMSNORM_DW_BLOCK : dim;
            float acc[RMSNORM_DW_BLOCK];
            for (int j = j0; j < j1; j++) acc[j - j0] = dw[j];
            for (int i = 0; i < n; i++) {
                const float *xi = x + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
                float r = rstd[i];
                for (int j = j0; j < j1; j++) acc[j - j0] += dyi[j] * (xi[j] * r);
            }
            for (int j = j0; j < j1; j++) dw[j] = acc[j - j0];
        }
    }
}
