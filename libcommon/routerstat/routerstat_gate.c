/* routerstat_gate.c: --require gates, e.g. 'entropy>=0.95,active=all,cv<=50'.
 * Each gate is METRIC OP BOUND; every gate applies to every layer of the chosen step. */
#include "routerstat/routerstat.h"
#include "base/error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; GateMetric metric; } metric_names[] = {
    { "entropy", GATE_ENTROPY }, { "cv", GATE_CV }, { "cv_pct", GATE_CV }, { "active", GATE_ACTIVE },
    { "dead", GATE_DEAD }, { "bias_abs", GATE_BIAS_ABS }, { "max_over_mean", GATE_MAX_OVER_MEAN },
};

static const char *metric_name(GateMetric m)
{
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
        if (metric_names[i].metric == m) return metric_names[i].name;
    return "?";
}

static const char *op_text(GateOp op)
{
    switch (op) {
    case GATE_GE: return ">=";
    case GATE_LE: return "<=";
    case GATE_GT: return ">";
    case GATE_LT: return "<";
    case GATE_EQ: return "=";
    }
    return "?";
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* One gate from [s, end). */
static bool parse_one(const char *s, const char *end, Gate *g, char *err, size_t cap)
{
    int len = (int)(end - s);
    const char *p = skip_spaces(s);
    const char *name = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '_')) p++;
    size_t name_len = (size_t)(p - name);
    bool found = false;
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        if (strlen(metric_names[i].name) == name_len && strncmp(metric_names[i].name, name, name_len) == 0) {
            g->metric = metric_names[i].metric;
            found = true;
        }
    }
    if (name_len == 0) {
        snprintf(err, cap, "gate '%.*s': expected a metric (entropy, cv, active, dead, bias_abs, max_over_mean)", len, s);
        return false;
    }
    if (!found) {
        snprintf(err, cap, "gate '%.*s': unknown metric '%.*s' (use entropy, cv, active, dead, bias_abs, max_over_mean)",
                 len, s, (int)name_len, name);
        return false;
    }
    p = skip_spaces(p);
    if (p + 1 < end && p[0] == '>' && p[1] == '=') { g->op = GATE_GE; p += 2; }
    else if (p + 1 < end && p[0] == '<' && p[1] == '=') { g->op = GATE_LE; p += 2; }
    else if (p + 1 < end && p[0] == '=' && p[1] == '=') { g->op = GATE_EQ; p += 2; }
    else if (p < end && p[0] == '>') { g->op = GATE_GT; p++; }
    else if (p < end && p[0] == '<') { g->op = GATE_LT; p++; }
    else if (p < end && p[0] == '=') { g->op = GATE_EQ; p++; }
    else {
        snprintf(err, cap, "gate '%.*s': expected one of >=, <=, >, <, = after '%.*s'", len, s, (int)name_len, name);
        return false;
    }
    p = skip_spaces(p);
    const char *bound_end = end;
    while (bound_end > p && (bound_end[-1] == ' ' || bound_end[-1] == '\t')) bound_end--;
    int blen = (int)(bound_end - p);
    if (blen == 3 && strncmp(p, "all", 3) == 0) {
        if (g->metric != GATE_ACTIVE) {
            snprintf(err, cap, "gate '%.*s': 'all' is a bound only for active", len, s);
            return false;
        }
        g->all = true;
        return true;
    }
    char num[64];
    if (blen <= 0 || blen >= (int)sizeof num) {
        snprintf(err, cap, "gate '%.*s': expected a number after '%s'", len, s, op_text(g->op));
        return false;
    }
    memcpy(num, p, (size_t)blen);
    num[blen] = 0;
    char *nend;
    errno = 0;
    g->bound = strtod(num, &nend);
    if (*nend || nend == num || errno || !isfinite(g->bound)) {
        snprintf(err, cap, "gate '%.*s': '%s' is not a number", len, s, num);
        return false;
    }
    return true;
}

bool gates_parse(const char *spec, GateList *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *s = spec;
    for (;;) {
        const char *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        if (skip_spaces(s) == end) {
            snprintf(err, cap, "empty gate in '%s'", spec);
            gates_free(out);
            return false;
        }
        out->items = xrealloc(out->items, (out->n + 1) * sizeof *out->items);
        Gate *g = &out->items[out->n];
        memset(g, 0, sizeof *g);
        if (!parse_one(s, end, g, err, cap)) {
            gates_free(out);
            return false;
        }
        out->n++;
        if (!*end) return true;
        s = end + 1;
    }
}

void gates_free(GateList *g)
{
    free(g->items);
    memset(g, 0, sizeof *g);
}

static double metric_value(GateMetric m, const RouterStats *s)
{
    switch (m) {
    case GATE_ENTROPY: return s->entropy;
    case GATE_CV: return s->cv_pct;
    case GATE_ACTIVE: return s->active;
    case GATE_DEAD: return s->experts - s->active;
    case GATE_BIAS_ABS: return fmax(fabs(s->bias_min), fabs(s->bias_max));
    case GATE_MAX_OVER_MEAN: return s->max_over_mean;
    }
    return NAN;
}

static bool holds(GateOp op, double v, double bound)
{
    switch (op) { /* NaN fails every comparison, so a non-finite bias fails its gate */
    case GATE_GE: return v >= bound;
    case GATE_LE: return v <= bound;
    case GATE_GT: return v > bound;
    case GATE_LT: return v < bound;
    case GATE_EQ: return v == bound;
    }
    return false;
}

size_t gates_check(const GateList *g, const RouterRecord *const *recs, size_t n, FILE *msg)
{
    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
        const RouterStats *s = &recs[i]->stats;
        for (size_t k = 0; k < g->n; k++) {
            const Gate *gate = &g->items[k];
            double bound = gate->all ? s->experts : gate->bound;
            double v = metric_value(gate->metric, s);
            if (holds(gate->op, v, bound)) continue;
            failures++;
            fprintf(msg, "%s: gate failed at step %" PRId64 ": layer %d: ", nmoe_prog(), recs[i]->step, recs[i]->layer);
            if (gate->all)
                fprintf(msg, "active = %d/%d (required %s all)\n", s->active, s->experts, op_text(gate->op));
            else if (gate->metric == GATE_ACTIVE)
                fprintf(msg, "active = %d/%d (required %s %g)\n", s->active, s->experts, op_text(gate->op), bound);
            else if (isnan(v)) /* spelt as the metric stream spells it */
                fprintf(msg, "%s = NaN (required %s %g)\n", metric_name(gate->metric), op_text(gate->op), bound);
            else
                fprintf(msg, "%s = %.4g (required %s %g)\n", metric_name(gate->metric), v, op_text(gate->op), bound);
        }
    }
    return failures;
}
