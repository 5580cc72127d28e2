/* routerstat_read.c: read `router` lines from a metric stream (nmoe-metrics(5)) into a
 * RouterLog, also while the trainer is still writing it. See routerstat.h. */
#include "routerstat/routerstat.h"
#include "base/error.h"
#include "formats/ndjson.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_EXPERTS = 1 << 16, MAX_LAYER = 1 << 20 };
#define MAX_EXACT 9007199254740992.0 /* 2^53: JSON numbers above it lose integer precision */

/* Fields --------------------------------------------------------------------- */

/* A whole number in [lo, hi] (JSON has one number type; 64.0 is fine, 64.5 is not). */
static bool whole_in(const cJSON *v, double lo, double hi, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi) return false;
    *out = (int64_t)d;
    return true;
}

/* A number, or one of the strings ndjson.h writes for non-finite values. */
static bool number_or_nonfinite(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) { *out = v->valuedouble; return true; }
    if (!cJSON_IsString(v)) return false;
    if (strcmp(v->valuestring, "NaN") == 0) { *out = NAN; return true; }
    if (strcmp(v->valuestring, "Infinity") == 0) { *out = INFINITY; return true; }
    if (strcmp(v->valuestring, "-Infinity") == 0) { *out = -INFINITY; return true; }
    return false;
}

static bool required_whole(const cJSON *obj, const char *key, double lo, double hi, int64_t *out,
                           char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) { snprintf(err, cap, "router line: missing '%s'", key); return false; }
    if (!whole_in(v, lo, hi, out)) {
        snprintf(err, cap, "router line: '%s' is not a whole number in [%.0f, %.0f]", key, lo, hi);
        return false;
    }
    return true;
}

/* Optional: absent gives -1; present but wrong is an error. */
static bool optional_whole(const cJSON *obj, const char *key, int64_t *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = -1;
    if (!v) return true;
    if (!whole_in(v, 0, MAX_EXACT, out)) {
        snprintf(err, cap, "router line: '%s' is not a non-negative whole number", key);
        return false;
    }
    return true;
}

/* Optional number (or NaN/Infinity string): absent gives NaN; present but not a number
 * is an error. */
static bool optional_number(const cJSON *obj, const char *key, double *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NAN;
    if (!v) return true;
    if (!number_or_nonfinite(v, out)) {
        snprintf(err, cap, "router line: '%s' is not a number", key);
        return false;
    }
    return true;
}

static const cJSON *array_of(const cJSON *obj, const char *key, int64_t experts, char *err, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!a) { snprintf(err, cap, "router line: missing '%s'", key); return NULL; }
    if (!cJSON_IsArray(a)) { snprintf(err, cap, "router line: '%s' is not an array", key); return NULL; }
    int n = cJSON_GetArraySize(a);
    if (n != experts) {
        snprintf(err, cap, "router line: '%s' has %d entries, expected %lld (experts)", key, n, (long long)experts);
        return NULL;
    }
    return a;
}

bool router_record_parse(const cJSON *obj, RouterRecord *rec, uint64_t *loads, float *bias, char *err, size_t cap)
{
    int64_t step, layer, experts, top_k;
    memset(rec, 0, sizeof *rec);
    if (!required_whole(obj, "step", 0, MAX_EXACT, &step, err, cap)) return false;
    if (!required_whole(obj, "layer", 0, MAX_LAYER, &layer, err, cap)) return false;
    if (!required_whole(obj, "experts", 1, MAX_EXPERTS, &experts, err, cap)) return false;
    if (!required_whole(obj, "top_k", 1, (double)experts, &top_k, err, cap)) return false;
    if (!optional_whole(obj, "from_step", &rec->from_step, err, cap)) return false;
    if (!optional_whole(obj, "to_step", &rec->to_step, err, cap)) return false;
    if (!optional_whole(obj, "tokens", &rec->tokens, err, cap)) return false;
    if (rec->from_step >= 0 && rec->to_step >= 0 && rec->from_step > rec->to_step) {
        snprintf(err, cap, "router line: from_step %lld is after to_step %lld",
                 (long long)rec->from_step, (long long)rec->to_step);
        return false;
    }
    if (!optional_number(obj, "router_update_ratio", &rec->update_ratio, err, cap)) return false;
    if (!optional_number(obj, "router_below_floor", &rec->below_floor, err, cap)) return false;
    if (!optional_number(obj, "expert_codes_changed", &rec->codes_changed, err, cap)) return false;
    const cJSON *la = array_of(obj, "loads", experts, err, cap);
    if (!la) return false;
    const cJSON *ba = array_of(obj, "bias", experts, err, cap);
    if (!ba) return false;
    int i = 0;
    for (const cJSON *v = la->child; v; v = v->next, i++) {
        int64_t x;
        if (!whole_in(v, 0, MAX_EXACT, &x)) {
            snprintf(err, cap, "router line: loads[%d] is not a non-negative whole number", i);
            return false;
        }
        loads[i] = (uint64_t)x;
    }
    i = 0;
    for (const cJSON *v = ba->child; v; v = v->next, i++) {
        double x;
        if (!number_or_nonfinite(v, &x)) {
            snprintf(err, cap, "router line: bias[%d] is not a number", i);
            return false;
        }
        bias[i] = (float)x;
    }
    rec->step = step;
    rec->layer = (int)layer;
    rec->top_k = (int)top_k;
    router_stats_compute(loads, bias, (int)experts, &rec->stats);
    return true;
}

/* The (step, layer) map ---------------------------------------------------------- */

static size_t key_hash(int64_t step, int layer)
{
    uint64_t h = (uint64_t)step * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uint32_t)layer * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static size_t slot_of(const RouterLog *log, int64_t step, int layer)
{
    size_t mask = log->n_slots - 1, i = key_hash(step, layer) & mask;
    while (log->slots[i]) {
        const RouterRecord *r = &log->recs[log->slots[i] - 1];
        if (r->step == step && r->layer == layer) break;
        i = (i + 1) & mask;
    }
    return i;
}

static RouterRecord *find_record(const RouterLog *log, int64_t step, int layer)
{
    if (!log->n_slots) return NULL;
    size_t s = log->slots[slot_of(log, step, layer)];
    return s ? &log->recs[s - 1] : NULL;
}

/* Store rec (taking its load_over_mean); a line for a (step, layer) already seen
 * replaces the old one: a resumed run appends the steps after its checkpoint again. */
static void store_record(RouterLog *log, const RouterRecord *rec)
{
    RouterRecord *old = find_record(log, rec->step, rec->layer);
    if (old) {
        info(NMOE_VERBOSE, "%s: %s:%ld: router line for layer %d at step %lld replaces line %ld (a resumed run?)\n",
             nmoe_prog(), log->path, rec->line_no, rec->layer, (long long)rec->step, old->line_no);
        free(old->load_over_mean);
        *old = *rec;
        return;
    }
    if (2 * (log->n + 1) > log->n_slots) {
        size_t n = log->n_slots ? 2 * log->n_slots : 256;
        free(log->slots);
        log->slots = xcalloc(n, sizeof *log->slots);
        log->n_slots = n;
        for (size_t i = 0; i < log->n; i++) log->slots[slot_of(log, log->recs[i].step, log->recs[i].layer)] = i + 1;
    }
    if (log->n == log->cap) {
        log->cap = log->cap ? 2 * log->cap : 256;
        log->recs = xrealloc(log->recs, log->cap * sizeof *log->recs);
    }
    log->recs[log->n++] = *rec;
    log->slots[slot_of(log, rec->step, rec->layer)] = log->n;
}

/* Step completion ------------------------------------------------------------------ */

typedef struct {
    int64_t pending;        /* newest step with router lines not yet complete; -1 none */
    int64_t last_complete;  /* -1 none */
    int *layers;            /* the layers every step should have; NULL until known */
    size_t n_layers;
} StepTracker;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void complete_step(RouterLog *log, StepTracker *t, const RouterReadOptions *opt, int64_t step)
{
    if (t->pending == step) t->pending = -1;
    if (step <= t->last_complete) return;
    t->last_complete = step;
    if (!t->layers) { /* learn the layer set from the first complete step */
        const RouterRecord **recs;
        size_t n = router_log_step(log, step, &recs);
        t->layers = xmalloc((n ? n : 1) * sizeof *t->layers);
        for (size_t i = 0; i < n; i++) t->layers[i] = recs[i]->layer;
        t->n_layers = n;
        free(recs);
    }
    if (opt->on_step) opt->on_step(log, step, opt->ctx);
}

static bool step_has_all_layers(const RouterLog *log, const StepTracker *t, int64_t step)
{
    if (!t->layers || t->n_layers == 0) return false;
    for (size_t i = 0; i < t->n_layers; i++)
        if (!find_record(log, step, t->layers[i])) return false;
    return true;
}

/* The meta line's config names the MoE layers: blocks n_dense_layers .. n_layers-1.
 * Look for the two keys in "config" itself or in "config"."model". */
static void layers_from_meta(const cJSON *meta, StepTracker *t)
{
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(meta, "config");
    const cJSON *where[2] = { cfg, cJSON_GetObjectItemCaseSensitive(cfg, "model") };
    for (int w = 0; w < 2; w++) {
        int64_t n_layers, n_dense;
        if (!whole_in(cJSON_GetObjectItemCaseSensitive(where[w], "n_layers"), 1, MAX_LAYER, &n_layers)) continue;
        if (!whole_in(cJSON_GetObjectItemCaseSensitive(where[w], "n_dense_layers"), 0, MAX_LAYER, &n_dense)) continue;
        if (n_dense >= n_layers) return; /* a dense model: no router lines to wait for */
        free(t->layers);
        t->n_layers = (size_t)(n_layers - n_dense);
        t->layers = xmalloc(t->n_layers * sizeof *t->layers);
        for (size_t i = 0; i < t->n_layers; i++) t->layers[i] = (int)(n_dense + (int64_t)i);
        return;
    }
}

/* Reading ---------------------------------------------------------------------------- */

static void malformed(RouterLog *log, const RouterReadOptions *opt, const char *fmt, ...) NMOE_PRINTF(3, 4);
static void malformed(RouterLog *log, const RouterReadOptions *opt, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (opt->strict) die("%s", msg);
    warnx("%s (line skipped)", msg);
    log->malformed++;
}

/* Pipes and terminals block until data arrives and report EOF only when the writer
 * has gone, so following them needs no polling; regular files report EOF whenever
 * the reader catches up, so there the reader sleeps and retries. */
static bool blocks_for_data(const char *path)
{
    struct stat st;
    int rc = (!path || strcmp(path, "-") == 0) ? fstat(0, &st) : stat(path, &st);
    return rc == 0 && !S_ISREG(st.st_mode);
}

void router_log_read(RouterLog *log, const char *path, const RouterReadOptions *opt)
{
    memset(log, 0, sizeof *log);
    NdReader r;
    nd_reader_open(&r, path, opt->follow && !blocks_for_data(path));
    log->path = xstrdup(r.path);
    StepTracker t = { .pending = -1, .last_complete = -1 };
    uint64_t *loads = NULL;
    float *bias = NULL;
    int buf_cap = 0;
    bool done = false;
    while (!done) {
        cJSON *obj;
        char err[1024];
        NdStatus st = nd_reader_next(&r, &obj, err, sizeof err);
        if (st == ND_EOF) break;
        if (st == ND_BAD) { malformed(log, opt, "%s", err); continue; }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
        if (!cJSON_IsString(kind)) {
            malformed(log, opt, "%s:%ld: missing string 'kind'", r.path, r.line_no);
            cJSON_Delete(obj);
            continue;
        }
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(obj, "run");
        if (!log->run && cJSON_IsString(run)) log->run = xstrdup(run->valuestring);
        int64_t step = -1;
        bool has_step = whole_in(cJSON_GetObjectItemCaseSensitive(obj, "step"), 0, MAX_EXACT, &step);
        if (has_step && opt->until_step >= 0 && step > opt->until_step) {
            cJSON_Delete(obj); /* past the last step wanted: the ones before are complete */
            break;
        }
        if (has_step && t.pending >= 0 && step > t.pending) complete_step(log, &t, opt, t.pending);

        if (strcmp(kind->valuestring, "router") == 0) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, "experts");
            int experts = cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= MAX_EXPERTS ? (int)e->valuedouble : 1;
            if (experts > buf_cap) {
                buf_cap = experts;
                loads = xrealloc(loads, (size_t)buf_cap * sizeof *loads);
                bias = xrealloc(bias, (size_t)buf_cap * sizeof *bias);
            }
            RouterRecord rec;
            if (!router_record_parse(obj, &rec, loads, bias, err, sizeof err)) {
                malformed(log, opt, "%s:%ld: %s", r.path, r.line_no, err);
            } else {
                rec.line_no = r.line_no;
                if (opt->keep_loads) {
                    rec.load_over_mean = xmalloc((size_t)experts * sizeof *rec.load_over_mean);
                    double mean = (double)rec.stats.total / experts;
                    for (int i = 0; i < experts; i++)
                        rec.load_over_mean[i] = mean > 0 ? (float)((double)loads[i] / mean) : 0.0f;
                }
                store_record(log, &rec);
                if (rec.step > t.last_complete) {
                    t.pending = rec.step;
                    if (step_has_all_layers(log, &t, rec.step)) complete_step(log, &t, opt, rec.step);
                }
                if (opt->until_step >= 0 && t.last_complete >= opt->until_step) done = true;
            }
        } else if (strcmp(kind->valuestring, "meta") == 0) {
            layers_from_meta(obj, &t);
        } else if (strcmp(kind->valuestring, "stop") == 0) {
            const cJSON *reason = cJSON_GetObjectItemCaseSensitive(obj, "reason");
            const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
            log->stopped = true;
            free(log->stop_reason);
            log->stop_reason = xstrdup(cJSON_IsString(reason) ? reason->valuestring : "(no reason given)");
            log->stop_status = cJSON_IsNumber(status) ? status->valueint : 0;
            info(NMOE_VERBOSE, "%s: %s:%ld: run stopped: %s\n", nmoe_prog(), r.path, r.line_no, log->stop_reason);
            if (t.pending >= 0) complete_step(log, &t, opt, t.pending);
            if (opt->follow) done = true; /* the writer is finished */
        }
        cJSON_Delete(obj);
    }
    if (t.pending >= 0) complete_step(log, &t, opt, t.pending);
    free(t.layers);
    free(loads);
    free(bias);
    nd_reader_close(&r);
}

void router_log_free(RouterLog *log)
{
    for (size_t i = 0; i < log->n; i++) free(log->recs[i].load_over_mean);
    free(log->recs);
    free(log->slots);
    free(log->path);
    free(log->run);
    free(log->stop_reason);
    memset(log, 0, sizeof *log);
}

/* Queries ------------------------------------------------------------------------------ */

int64_t router_log_last_step(const RouterLog *log)
{
    int64_t s = -1;
    for (size_t i = 0; i < log->n; i++)
        if (log->recs[i].step > s) s = log->recs[i].step;
    return s;
}

int64_t router_log_first_step(const RouterLog *log)
{
    int64_t s = -1;
    for (size_t i = 0; i < log->n; i++)
        if (s < 0 || log->recs[i].step < s) s = log->recs[i].step;
    return s;
}

static int cmp_step_layer(const void *a, const void *b)
{
    const RouterRecord *x = *(const RouterRecord *const *)a, *y = *(const RouterRecord *const *)b;
    if (x->step != y->step) return (x->step > y->step) - (x->step < y->step);
    return (x->layer > y->layer) - (x->layer < y->layer);
}

/* Records matching (step or layer; -1 matches all), sorted by (step, layer). */
static size_t select_records(const RouterLog *log, int64_t step, long layer, const RouterRecord ***out)
{
    const RouterRecord **sel = xmalloc((log->n ? log->n : 1) * sizeof *sel);
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++) {
        const RouterRecord *r = &log->recs[i];
        if ((step < 0 || r->step == step) && (layer < 0 || r->layer == layer)) sel[n++] = r;
    }
    qsort(sel, n, sizeof *sel, cmp_step_layer);
    *out = sel;
    return n;
}

size_t router_log_step(const RouterLog *log, int64_t step, const RouterRecord ***out)
{
    return select_records(log, step, -1, out);
}

size_t router_log_series(const RouterLog *log, int layer, const RouterRecord ***out)
{
    return select_records(log, -1, layer, out);
}

size_t router_log_sorted(const RouterLog *log, const RouterRecord ***out)
{
    return select_records(log, -1, -1, out);
}

size_t router_log_layers(const RouterLog *log, int **out)
{
    int *layers = xmalloc((log->n ? log->n : 1) * sizeof *layers);
    for (size_t i = 0; i < log->n; i++) layers[i] = log->recs[i].layer;
    qsort(layers, log->n, sizeof *layers, cmp_int);
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        if (n == 0 || layers[n - 1] != layers[i]) layers[n++] = layers[i];
    *out = layers;
    return n;
}
