/* rmsnorm.h: RMSNorm over the last dimension (Zhang & Sennrich 2019).
 *   forward   r_i = 1 / sqrt(mean_j x_ij^2 + eps),  y_ij = x_ij * r_i * w_j   (rstd[i] = r_i saved)
 *   backward  with g_j = dy_ij w_j and xhat_ij = x_ij r_i:
 *             dx_ij += r_i (g_j - xhat_ij * mean_k(g_k xhat_ik)),   dw_j += sum_i dy_ij xhat_ij */
#ifndef NMOE_KERNELS_CPU_RMSNORM_H
#define NMOE_KERNELS_CPU_RMSNORM_H

void rmsnorm_forward_ref(float *y, float *rstd, const float *x, const float *w, int n, int dim, float eps);
void rmsnorm_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                          const float *rstd, int n, int dim);

/* Parallel: rows for y and dx; column blocks (each summing rows in order) for dw. */
void rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int n, int dim, float eps);
void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int n, int dim);

#endif
