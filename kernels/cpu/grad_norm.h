/* grad_norm.h: the sum of squares of a long vector, in double, the same on any thread
 * count: fixed chunks of SUMSQ_CHUNK elements each summed by one thread into its own
 * partial, the partials then added in chunk order. */
#ifndef NMOE_KERNELS_CPU_GRAD_NORM_H
#define NMOE_KERNELS_CPU_GRAD_NORM_H

#include <stddef.h>

enum { SUMSQ_CHUNK = 1 << 16 };

static inline size_t sumsq_partials(size_t n) { return (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK; }
/* partials: sumsq_partials(n) doubles of scratch. */
double sumsq(const float *x, size_t n, double *partials);
double sumsq_ref(const float *x, size_t n);

#endif
