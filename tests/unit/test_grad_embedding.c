/* test_grad_embedding.c: the embedding backward against finite differences, with
 * repeated tokens (their rows must sum), and the lookup itself. */
#include "cpu/embedding.h"
#include "gradcheck.h"

typedef struct {
    int n, dim, vocab;
    const uint32_t *tokens;
    float *wte, *out, *r;
} Emb;

static double emb_loss(void *ctx)
{
    Emb *e = ctx;
    embedding_forward(e->out, e->tokens, e->wte, e->n, e->dim);
    return dot_f64(e->out, e->r, (size_t)e->n * e->dim);
}

int main(void)
{
    Rng rng = rng_make(11, 0);
    static const uint32_t tokens[] = { 3, 1, 3, 0, 6, 3, 1 };
    Emb e = { .n = 7, .dim = 5, .vocab = 8, .tokens = tokens };
    e.wte = rand_array((size_t)e.vocab * e.dim, &rng, 1.0f);
    e.out = calloc((size_t)e.n * e.dim, sizeof(float));
    e.r = rand_array((size_t)e.n * e.dim, &rng, 1.0f);

    emb_loss(&e);
    for (int i = 0; i < e.n; i++)
        for (int c = 0; c < e.dim; c++) CHECK(e.out[i * e.dim + c] == e.wte[tokens[i] * e.dim + c]);

    float *dwte = calloc((size_t)e.vocab * e.dim, sizeof(float));
    embedding_backward(dwte, tokens, e.r, e.n, e.dim);
    gradcheck("embedding dwte", e.wte, dwte, (size_t)e.vocab * e.dim, 1, emb_loss, &e, 1e-2, 1e-3, 1e-4);
    /* Rows of tokens that never occur get nothing. */
    for (int c = 0; c < e.dim; c++) CHECK(dwte[7 * e.dim + c] == 0.0f && dwte[2 * e.dim + c] == 0.0f);
    free(e.wte); free(e.out); free(e.r); free(dwte);
    return check_report("test_grad_embedding");
}
