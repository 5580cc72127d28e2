/* rope.c: see rope.h. Elementwise, so one loop serves as reference and fast path
 * (parallel over rows; each row is owned by one thread). */
#include "cpu/rope.h"

#include <math.h>
#include <stddef.h>

void rope_tables(float *cos_t, float *sin_t, int max_seq, int head_dim, double theta)
{
    int half = head_dim / 2;
    for (int p = 0; p < max_seq; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * i / head_dim);
            double angle = (double)p * freq;
            cos_t[(size_t)p * half + i] = (float)cos(angle);
            sin_t[(size_t)p * half + i] = (float)sin(angle);
        }
}

static double yarn_correction_dim(double rotations, int head_dim, double theta, int original_seq_len)
{
    return head_dim * log(original_seq_len / (rotations * 2.0 * M_PI)) / (2.0 * log(theta));
}

double rope_yarn_freq(int i, int head_dim, double theta, const RopeYarn *y)
{
    double low = floor(yarn_correction_dim(y->beta_fast, head_dim, theta, y->original_seq_len));
    double high = ceil(yarn_correction_dim(y->beta_slow, head_dim, theta, y->original_seq_len));
    low = low > 0 ? low : 0;
    high = high < head_dim - 1 ? high : head_dim - 1;
    if (low == high) high += 0.001; /* model.py's guard against a zero-width ramp */
    double ramp = (i - low) / (high - low);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    double f = pow(theta, -2.0 * i / head_dim);
    return f / y->factor * ramp + f * (1.0 - ramp);
}

double rope_yarn_mscale(double factor) { return 0.1 * log(factor) + 1.0; }

void rope_tables_yarn(float *cos_t, float *sin_t, int max_seq, int head_dim, double theta, const RopeYarn *y)
{
    int half = head_dim / 2;
    double m = rope_yarn_mscale(y->factor);
    for (int i = 0; i < half; i++) {
        double freq = rope_yarn_freq(i, head_dim, theta, y);
        for (int p = 0; p < max_seq; p++) {
            double angle = (double)p * freq;
            cos_t[(size_t)p * half + i] = (float)(m * cos(angle));
            sin_t[(size_t)p * half + i] = (float)(m * sin(angle));
        }
    }
}

static void rotate(float *x, const float *cos_t, const float *sin_t, int n, int T, int n_heads,
                   int head_dim, float sign)
{
    int half = head_dim / 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *c = cos_t + (size_t)(r % T) * half, *s = sin_t + (size_t)(r % T) * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)r * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float x0 = v[2 * i], x1 = v[2 * i + 1], si = sign * s[i];
                v[2 * i] = x0 * c[i] - x1 * si;
                v[2 * i + 1] = x0 * si + x1 * c[i];
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim)
{
    rotate(x, cos_t, sin_t, n, T, n_heads, head_dim, 1.0f);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int n, int T, int n_heads, int head_dim)
{
    rotate(dx, cos_t, sin_t, n, T, n_heads, head_dim, -1.0f);
}
