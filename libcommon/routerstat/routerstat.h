/* routerstat.h: nmoe-routerstat's logic, one concern per file:
 *   routerstat_read.c      reading `router` lines from a metric stream (also while it grows)
 *   routerstat_report.c    the per-layer table, NDJSON and the over-time TSV
 *   routerstat_gate.c      --require gates
 *   routerstat_collapse.c  collapse detection over a window of router lines
 *   routerstat_plot.c      the gnuplot heatmap and entropy curves
 * The statistics themselves come from router_stats.h, recomputed from each line's
 * loads and biases, so the table never trusts a writer's summary fields. */
#ifndef NMOE_ROUTERSTAT_H
#define NMOE_ROUTERSTAT_H

#include "model/router_stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reading ------------------------------------------------------------------ */

/* One `router` line: one MoE layer over one window of steps. */
typedef struct {
    int64_t step;            /* optimizer steps completed when the line was written */
    int64_t from_step, to_step; /* the window the loads cover; -1 when the line omits them */
    int64_t tokens;          /* tokens routed in the window; -1 when omitted */
    int layer, top_k;
    long line_no;            /* for messages */
    RouterStats stats;       /* recomputed from loads and bias */
    /* The update telemetry of the window's last step (nmoe-metrics(5)); NaN when the
     * line has none (older streams, nmoe-eval's lines, fp32 experts for the codes). */
    double update_ratio, below_floor, codes_changed;
    float *load_over_mean;   /* E values, load_i / mean load; only kept for plotting */
} RouterRecord;

typedef struct {
    RouterRecord *recs;      /* in arrival order; a later line for the same (step, layer) replaces the earlier */
    size_t n, cap;
    size_t *slots;           /* hash map (step, layer) -> record index + 1 */
    size_t n_slots;
    char *path;              /* the stream, for messages */
    char *run;               /* first "run" seen */
    bool stopped;            /* a "stop" line was read */
    char *stop_reason;
    int stop_status;
    long malformed;          /* lines warned about and skipped */
} RouterLog;

/* Called in follow mode each time a step's set of router lines is complete. */
typedef void (*RouterStepFn)(const RouterLog *log, int64_t step, void *ctx);

typedef struct {
    bool follow;             /* keep reading as the stream grows; stop at a "stop" line */
    bool strict;             /* a malformed line is fatal (exit 1) instead of a warning */
    bool keep_loads;         /* keep per-expert loads (for --plot) */
    int64_t until_step;      /* stop after this step; -1 for no limit */
    RouterStepFn on_step;
    void *ctx;
} RouterReadOptions;

/* Read the stream at path ("-" or NULL: stdin). A step is complete when every layer
 * the run has (learnt from the meta line's config or from the first complete step)
 * has a router line for it, or when any later step, a "stop" line or the end arrives.
 * Unknown kinds are ignored. Malformed lines are reported as `path:line: reason`. */
void router_log_read(RouterLog *log, const char *path, const RouterReadOptions *opt);
void router_log_free(RouterLog *log);

/* Check one parsed `router` object; on success fill rec (loads and bias into the
 * caller's buffers of cap entries), else write the reason into err. Exposed for tests. */
struct cJSON;
bool router_record_parse(const struct cJSON *obj, RouterRecord *rec, uint64_t *loads, float *bias,
                         char *err, size_t err_cap);

int64_t router_log_last_step(const RouterLog *log); /* -1 when there are no router lines */
int64_t router_log_first_step(const RouterLog *log);
/* Records of one step, sorted by layer, into a new array (free it). */
size_t router_log_step(const RouterLog *log, int64_t step, const RouterRecord ***out);
/* Records of one layer, sorted by step, into a new array (free it). */
size_t router_log_series(const RouterLog *log, int layer, const RouterRecord ***out);
/* Distinct layers, sorted, into a new array (free it). */
size_t router_log_layers(const RouterLog *log, int **out);
/* All records sorted by (step, layer), into a new array (free it). */
size_t router_log_sorted(const RouterLog *log, const RouterRecord ***out);

/* Reports ------------------------------------------------------------------- */

/* | Layer | CV% | Entropy (norm) | Active | Bias Range |, header row first; then, when
 * any of the records has update telemetry, | Upd/W | Below floor | Codes changed |
 * (the shares in percent, "-" where a record lacks one). */
void routerstat_print_table(FILE *out, const RouterRecord *const *recs, size_t n);
/* One JSON object per record. run may be NULL. */
void routerstat_print_json(FILE *out, const RouterRecord *const *recs, size_t n, const char *run);
/* The over-time TSV: header, then one row per record. With update (any record of the
 * stream has update telemetry) three more columns: update_ratio, below_floor,
 * codes_changed (shares in [0, 1], "NaN" where a record lacks one). */
bool routerstat_has_update(const RouterRecord *const *recs, size_t n);
void routerstat_print_tsv_header(FILE *out, bool update);
void routerstat_print_tsv(FILE *out, const RouterRecord *const *recs, size_t n, bool update);

/* Gates --------------------------------------------------------------------- */

typedef enum { GATE_ENTROPY, GATE_CV, GATE_ACTIVE, GATE_DEAD, GATE_BIAS_ABS, GATE_MAX_OVER_MEAN } GateMetric;
typedef enum { GATE_GE, GATE_LE, GATE_GT, GATE_LT, GATE_EQ } GateOp;

typedef struct {
    GateMetric metric;
    GateOp op;
    double bound;
    bool all;                /* active=all / active>=all: the bound is the layer's E */
} Gate;

typedef struct { Gate *items; size_t n; } GateList;

/* "entropy>=0.95,active=all,cv<=50". False with the reason in err on bad syntax. */
bool gates_parse(const char *spec, GateList *out, char *err, size_t err_cap);
void gates_free(GateList *g);
/* Evaluate every gate on every record; print one line per failure to msg
 * ("gate failed at step S: layer L: entropy = 0.912 (required >= 0.95)").
 * Returns the number of failures. */
size_t gates_check(const GateList *g, const RouterRecord *const *recs, size_t n, FILE *msg);

/* Collapse detection ---------------------------------------------------------- */

typedef struct {
    int window;              /* router lines of the layer to look back over */
    double entropy_drop;     /* flag a fall of more than this below the window's peak */
    int dead_rise;           /* flag a rise of this many dead experts above the window's low */
} CollapseRule;

typedef struct {
    bool flagged;
    int layer;
    int64_t began_step;      /* first step of the decline */
    int64_t detected_step;   /* the line where the rule fired */
    const char *cause;       /* "entropy" or "dead_experts" */
    double from, to;         /* the metric at the start and at detection */
} CollapseFinding;

/* series: one layer's records sorted by step. A layer is flagged at the first line i
 * whose entropy is more than entropy_drop below the highest of the previous `window`
 * lines, or whose dead-expert count is at least dead_rise above the lowest of them.
 * The decline began at the line after the last one still at the peak (within a tenth
 * of entropy_drop, so sampling noise does not move it) or at the low dead count. */
CollapseFinding collapse_detect(const RouterRecord *const *series, size_t n, const CollapseRule *rule);

/* Plot ------------------------------------------------------------------------ */

/* Path of the gnuplot executable found in PATH, or NULL. Caller frees. */
char *routerstat_find_gnuplot(void);
/* Heatmap of load/mean per expert for each layer over time, then the entropy curves,
 * and, when the stream has update telemetry, the update ratio (log scale) and the
 * below-the-floor and codes-changed shares per layer;
 * the PNG is written atomically. Records must have load_over_mean. Dies on failure. */
void routerstat_plot(const RouterLog *log, const char *gnuplot, const char *png_path);

#endif
