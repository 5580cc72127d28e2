/* fuzz_routerstat.c: libFuzzer target for nmoe-routerstat's parsers. The first line of
 * the input is a --require gate spec, every further line a metric line that goes
 * through cJSON and router_record_parse; the records that pass are then summarised as
 * the tool would (table, gates, collapse detection). Invariants checked: parsed
 * statistics are in range (entropy in [0,1], active <= experts, CV >= 0). */
#include "routerstat/routerstat.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RECORDS = 64 };

static int by_step(const void *a, const void *b)
{
    const RouterRecord *x = *(const RouterRecord *const *)a, *y = *(const RouterRecord *const *)b;
    return (x->step > y->step) - (x->step < y->step);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *save = NULL, err[512];
    char *spec = strtok_r(text, "\n", &save);
    GateList gates = { 0 };
    bool have_gates = spec && gates_parse(spec, &gates, err, sizeof err);
    if (spec && !have_gates && err[0] == 0) abort(); /* a rejection always says why */

    RouterRecord recs[MAX_RECORDS];
    const RouterRecord *ptrs[MAX_RECORDS];
    size_t n = 0;
    static uint64_t loads[1 << 16]; /* the largest "experts" a router line may have */
    static float bias[1 << 16];
    for (char *line = strtok_r(NULL, "\n", &save); line && n < MAX_RECORDS; line = strtok_r(NULL, "\n", &save)) {
        cJSON *obj = cJSON_Parse(line);
        if (!obj) continue;
        err[0] = 0;
        if (router_record_parse(obj, &recs[n], loads, bias, err, sizeof err)) {
            const RouterStats *s = &recs[n].stats;
            if (!(s->entropy >= 0 && s->entropy <= 1 + 1e-12) || s->active > s->experts || !(s->cv_pct >= 0)) abort();
            ptrs[n] = &recs[n];
            n++;
        } else if (err[0] == 0) {
            abort();
        }
        cJSON_Delete(obj);
    }
    FILE *sink = fopen("/dev/null", "w");
    if (sink) {
        routerstat_print_table(sink, ptrs, n);
        routerstat_print_tsv(sink, ptrs, n, routerstat_has_update(ptrs, n));
        if (have_gates) gates_check(&gates, ptrs, n, sink);
        fclose(sink);
    }
    /* collapse_detect wants one layer's records in step order, one per step, as
     * router_log_series gives them: keep the first layer's, sorted, deduplicated. */
    const RouterRecord *series[MAX_RECORDS];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ptrs[i]->layer == ptrs[0]->layer) series[m++] = ptrs[i];
    qsort(series, m, sizeof *series, by_step);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || series[k - 1]->step != series[i]->step) series[k++] = series[i];
    CollapseRule rule = { .window = 3, .entropy_drop = 0.05, .dead_rise = 1 };
    CollapseFinding f = collapse_detect(series, k, &rule);
    if (f.flagged && (f.began_step > f.detected_step || f.began_step <= series[0]->step)) abort();
    gates_free(&gates);
    free(text);
    return 0;
}
