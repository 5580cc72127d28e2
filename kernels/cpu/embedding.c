/* embedding.c: see embedding.h. The forward is a row copy per position, parallel over
 * positions; the backward scatters into shared rows, so it runs in position order on one
 * thread (n * dim additions: noise next to any matrix product). */
#include "cpu/embedding.h"

#include <string.h>

void embedding_forward(float *out, const uint32_t *tokens, const float *wte, int n, int dim)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * dim, wte + (size_t)tokens[i] * dim, (size_t)dim * sizeof *out);
}

void embedding_backward(float *dwte, const uint32_t *tokens, const float *dout, int n, int dim)
{
    for (int i = 0; i < n; i++) {
        float *row = dwte + (size_t)tokens[i] * dim;
        const float *d = dout + (size_t)i * dim;
        for (int c = 0; c < dim; c++) row[c] += d[c];
    }
}
