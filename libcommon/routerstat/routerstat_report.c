/* routerstat_report.c: nmoe-routerstat's outputs: the per-layer table for people,
 * NDJSON for programs, and the over-time TSV for plotting. See routerstat.h. */
#include "routerstat/routerstat.h"
#include "base/error.h"
#include "formats/ndjson.h"

#include <inttypes.h>
#include <math.h>

/* "+0.42", "-0.57"; NaN spelt the way the metric stream spells it. */
static void print_bias(FILE *out, double b)
{
    if (isnan(b)) fputs("NaN", out);
    else fprintf(out, "%+.2f", b);
}

bool routerstat_has_update(const RouterRecord *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isnan(recs[i]->update_ratio) || !isnan(recs[i]->below_floor) || !isnan(recs[i]->codes_changed)) return true;
    return false;
}

/* " 0.0213 |", "-" for none; pct: a share as a percentage. */
static void print_cell(FILE *out, double v, bool pct)
{
    if (isnan(v)) fputs(" - |", out);
    else if (pct) fprintf(out, " %.1f%% |", 100.0 * v);
    else fprintf(out, " %.3g |", v);
}

void routerstat_print_table(FILE *out, const RouterRecord *const *recs, size_t n)
{
    const bool upd = routerstat_has_update(recs, n);
    fprintf(out, "| Layer | CV%% | Entropy (norm) | Active | Bias Range |%s\n", upd ? " Upd/W | Below floor | Codes changed |" : "");
    fprintf(out, "|------:|----:|---------------:|-------:|:-----------|%s\n", upd ? "------:|------------:|--------------:|" : "");
    for (size_t i = 0; i < n; i++) {
        const RouterStats *s = &recs[i]->stats;
        fprintf(out, "| %d | %.1f | %.3f | %d/%d | [", recs[i]->layer, s->cv_pct, s->entropy, s->active, s->experts);
        print_bias(out, s->bias_min);
        fputs(", ", out);
        print_bias(out, s->bias_max);
        fputs("] |", out);
        if (upd) {
            print_cell(out, recs[i]->update_ratio, false);
            print_cell(out, recs[i]->below_floor, true);
            print_cell(out, recs[i]->codes_changed, true);
        }
        fputc('\n', out);
    }
}

void routerstat_print_json(FILE *out, const RouterRecord *const *recs, size_t n, const char *run)
{
    NdLine l = { 0 };
    for (size_t i = 0; i < n; i++) {
        const RouterRecord *r = recs[i];
        const RouterStats *s = &r->stats;
        nd_begin(&l);
        if (run) nd_str(&l, "run", run);
        nd_int(&l, "step", r->step);
        nd_int(&l, "layer", r->layer);
        nd_int(&l, "experts", s->experts);
        nd_int(&l, "top_k", r->top_k);
        if (r->from_step >= 0) nd_int(&l, "from_step", r->from_step);
        if (r->to_step >= 0) nd_int(&l, "to_step", r->to_step);
        if (r->tokens >= 0) nd_int(&l, "tokens", r->tokens);
        nd_int(&l, "assignments", (int64_t)s->total);
        nd_f64(&l, "cv_pct", s->cv_pct);
        nd_f64(&l, "entropy", s->entropy);
        nd_int(&l, "active", s->active);
        nd_int(&l, "dead", s->experts - s->active);
        nd_f32(&l, "bias_min", (float)s->bias_min); /* biases are floats in the stream */
        nd_f32(&l, "bias_max", (float)s->bias_max);
        nd_f64(&l, "max_over_mean", s->max_over_mean);
        if (!isnan(r->update_ratio)) nd_f64(&l, "router_update_ratio", r->update_ratio);
        if (!isnan(r->below_floor)) nd_f64(&l, "router_below_floor", r->below_floor);
        if (!isnan(r->codes_changed)) nd_f64(&l, "expert_codes_changed", r->codes_changed);
        nd_emit(&l, out, "stdout");
    }
    nd_free(&l);
}

void routerstat_print_tsv_header(FILE *out, bool update)
{
    fprintf(out, "step\tlayer\tcv_pct\tentropy\tactive\texperts\tbias_min\tbias_max\tmax_over_mean%s\n",
            update ? "\tupdate_ratio\tbelow_floor\tcodes_changed" : "");
}

void routerstat_print_tsv(FILE *out, const RouterRecord *const *recs, size_t n, bool update)
{
    for (size_t i = 0; i < n; i++) {
        const RouterStats *s = &recs[i]->stats;
        fprintf(out, "%" PRId64 "\t%d\t%.3f\t%.6f\t%d\t%d\t%.6g\t%.6g\t%.4f", recs[i]->step, recs[i]->layer,
                s->cv_pct, s->entropy, s->active, s->experts, s->bias_min, s->bias_max, s->max_over_mean);
        if (update) /* %g spells NaN "nan": gnuplot and awk read it as not-a-number */
            fprintf(out, "\t%.6g\t%.6g\t%.6g", recs[i]->update_ratio, recs[i]->below_floor, recs[i]->codes_changed);
        fputc('\n', out);
    }
}
