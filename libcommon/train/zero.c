/* zero.c: see zero.h. */
#include "train/zero.h"
#include "base/error.h"

/* Where a cut at c goes: the nearer end of a whole span that holds c strictly inside. */
static size_t move_cut(const ZeroSpan *spans, int n_spans, size_t c)
{
    for (int i = 0; i < n_spans; i++) {
        const ZeroSpan *s = &spans[i];
        if (!s->whole || c <= s->offset || c >= s->offset + s->numel) continue;
        const size_t end = s->offset + s->numel;
        return c - s->offset < end - c ? s->offset : end;
    }
    return c;
}

void zero_split(const ZeroSpan *spans, int n_spans, size_t n_params, int ranks, ZeroRange *out)
{
    if (ranks < 1) die("zero_split: %d ranks", ranks);
    for (int i = 0; i < n_spans; i++) {
        if (spans[i].offset + spans[i].numel > n_params || spans[i].offset + spans[i].numel < spans[i].offset)
            die("zero_split: span %d [%zu, +%zu) outside the %zu parameters", i, spans[i].offset, spans[i].numel, n_params);
        if (i > 0 && spans[i].offset < spans[i - 1].offset + spans[i - 1].numel)
            die("zero_split: span %d at %zu overlaps or precedes span %d", i, spans[i].offset, i - 1);
    }
    size_t lo = 0;
    for (int r = 0; r < ranks; r++) {
        /* floor(n_params (r + 1) / ranks), without overflowing */
        const size_t k = (size_t)r + 1, ideal = n_params / (size_t)ranks * k + n_params % (size_t)ranks * k / (size_t)ranks;
        const size_t hi = r + 1 == ranks ? n_params : move_cut(spans, n_spans, ideal);
        /* Cuts only move to span ends, and ideal cuts increase, so hi >= lo. */
        out[r] = (ZeroRange){ lo, hi };
        lo = hi;
    }
}
