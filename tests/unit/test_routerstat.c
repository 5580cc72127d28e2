/* test_routerstat.c: nmoe-routerstat's library parts: router line validation, reading
 * a stream (step completion, replaced lines, unknown kinds), gate parsing and
 * evaluation with their messages, and the collapse rule on made-up series. */
#include "check.h"
#include "base/error.h"
#include "routerstat/routerstat.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

/* Router line validation ---------------------------------------------------------- */

static bool parse_line(const char *json, RouterRecord *rec, char *err, size_t cap)
{
    cJSON *obj = cJSON_Parse(json);
    CHECK(obj != NULL);
    uint64_t loads[8];
    float bias[8];
    bool ok = obj && router_record_parse(obj, rec, loads, bias, err, cap);
    cJSON_Delete(obj);
    return ok;
}

#define CHECK_BAD_LINE(json, expected) do { RouterRecord r_; char e_[256] = ""; \
    CHECK(!parse_line((json), &r_, e_, sizeof e_)); CHECK_STR(e_, expected); } while (0)

static void test_record_parse(void)
{
    RouterRecord r;
    char err[256];
    CHECK(parse_line("{\"kind\":\"router\",\"step\":20,\"layer\":1,\"experts\":4,\"top_k\":2,\"from_step\":11,"
                     "\"to_step\":20,\"tokens\":10,\"loads\":[1,2,3,4],\"bias\":[-0.5,\"NaN\",0.25,1e-3]}",
                     &r, err, sizeof err));
    CHECK_EQ_INT(r.step, 20);
    CHECK_EQ_INT(r.layer, 1);
    CHECK_EQ_INT(r.top_k, 2);
    CHECK_EQ_INT(r.from_step, 11);
    CHECK_EQ_INT(r.to_step, 20);
    CHECK_EQ_INT(r.tokens, 10);
    CHECK_EQ_INT(r.stats.experts, 4);
    CHECK_CLOSE(r.stats.cv_pct, 44.72136, 1e-6, 0); /* recomputed from loads, as in test_router_stats */
    CHECK(isnan(r.stats.bias_min));
    /* optional fields may be absent; 64.0 is a whole number */
    CHECK(parse_line("{\"step\":5,\"layer\":2,\"experts\":2.0,\"top_k\":1,\"loads\":[0,9],\"bias\":[0,\"-Infinity\"]}",
                     &r, err, sizeof err));
    CHECK(r.from_step == -1 && r.to_step == -1 && r.tokens == -1);
    CHECK(isinf(r.stats.bias_min));
    /* no update telemetry (an older stream): NaN, and no table columns for it */
    CHECK(isnan(r.update_ratio) && isnan(r.below_floor) && isnan(r.codes_changed));
    const RouterRecord *one = &r;
    CHECK(!routerstat_has_update(&one, 1));
    /* with it */
    CHECK(parse_line("{\"step\":5,\"layer\":2,\"experts\":2,\"top_k\":1,\"loads\":[3,9],\"bias\":[0,0],"
                     "\"router_update_ratio\":0.0125,\"router_below_floor\":0.5}", &r, err, sizeof err));
    CHECK(r.update_ratio == 0.0125 && r.below_floor == 0.5 && isnan(r.codes_changed));
    CHECK(routerstat_has_update(&one, 1));
    char table[1024] = "";
    FILE *mem = fmemopen(table, sizeof table - 1, "w");
    routerstat_print_table(mem, &one, 1);
    fclose(mem);
    CHECK_STR(table, "| Layer | CV% | Entropy (norm) | Active | Bias Range | Upd/W | Below floor | Codes changed |\n"
                     "|------:|----:|---------------:|-------:|:-----------|------:|------------:|--------------:|\n"
                     "| 2 | 50.0 | 0.811 | 2/2 | [+0.00, +0.00] | 0.0125 | 50.0% | - |\n");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"expert_codes_changed\":\"x\",\"loads\":[1,2],"
                   "\"bias\":[0,0]}", "router line: 'expert_codes_changed' is not a number");

    CHECK_BAD_LINE("{\"layer\":1}", "router line: missing 'step'");
    CHECK_BAD_LINE("{\"step\":-1}", "router line: 'step' is not a whole number in [0, 9007199254740992]");
    CHECK_BAD_LINE("{\"step\":\"7\"}", "router line: 'step' is not a whole number in [0, 9007199254740992]");
    CHECK_BAD_LINE("{\"step\":1}", "router line: missing 'layer'");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":4.5}", "router line: 'experts' is not a whole number in [1, 65536]");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":0}", "router line: 'experts' is not a whole number in [1, 65536]");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":4,\"top_k\":5}", "router line: 'top_k' is not a whole number in [1, 4]");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":4,\"top_k\":2}", "router line: missing 'loads'");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":4,\"top_k\":2,\"loads\":{}}", "router line: 'loads' is not an array");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":4,\"top_k\":2,\"loads\":[1,2,3]}",
                   "router line: 'loads' has 3 entries, expected 4 (experts)");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,2]}", "router line: missing 'bias'");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,-2],\"bias\":[0,0]}",
                   "router line: loads[1] is not a non-negative whole number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,\"2\"],\"bias\":[0,0]}",
                   "router line: loads[1] is not a non-negative whole number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,1e300],\"bias\":[0,0]}",
                   "router line: loads[1] is not a non-negative whole number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,2],\"bias\":[0,true]}",
                   "router line: bias[1] is not a number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"loads\":[1,2],\"bias\":[0,\"nan\"]}",
                   "router line: bias[1] is not a number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"tokens\":-3,\"loads\":[1,2],\"bias\":[0,0]}",
                   "router line: 'tokens' is not a non-negative whole number");
    CHECK_BAD_LINE("{\"step\":1,\"layer\":1,\"experts\":2,\"top_k\":1,\"from_step\":9,\"to_step\":3,\"loads\":[1,2],\"bias\":[0,0]}",
                   "router line: from_step 9 is after to_step 3");
}

/* Reading a stream ------------------------------------------------------------------ */

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/nmoe-test-routerstat-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

typedef struct { int64_t steps[16]; int n; size_t layers_at[16]; } Seen;

static void record_step(const RouterLog *log, int64_t step, void *ctx)
{
    Seen *s = ctx;
    const RouterRecord **recs;
    size_t n = router_log_step(log, step, &recs);
    free(recs);
    if (s->n < 16) { s->steps[s->n] = step; s->layers_at[s->n] = n; s->n++; }
}

#define RL(step, layer, l0, l1) "{\"kind\":\"router\",\"run\":\"r\",\"step\":" #step ",\"layer\":" #layer \
    ",\"experts\":2,\"top_k\":1,\"loads\":[" #l0 "," #l1 "],\"bias\":[0,0]}\n"

static void test_read(void)
{
    /* The meta line names MoE layers 1 and 2, so step 10 is complete as soon as both arrive. */
    const char *text =
        "{\"kind\":\"meta\",\"run\":\"r\",\"step\":0,\"config\":{\"model\":{\"n_layers\":3,\"n_dense_layers\":1}}}\n"
        "{\"kind\":\"train\",\"run\":\"r\",\"step\":10,\"loss\":3.0}\n"
        RL(10, 1, 5, 5) RL(10, 2, 6, 4)
        "{\"kind\":\"mystery\",\"step\":15,\"whatever\":[1,2,3]}\n"
        RL(20, 2, 9, 1) RL(20, 1, 3, 7)
        RL(10, 1, 8, 2)                                  /* a resumed run rewrites step 10 */
        RL(30, 1, 1, 1)
        "{\"kind\":\"stop\",\"run\":\"r\",\"step\":30,\"reason\":\"finished\",\"status\":0}\n";
    char *path = write_temp(text);
    Seen seen = { .n = 0 };
    RouterReadOptions opt = { .until_step = -1, .on_step = record_step, .ctx = &seen };
    RouterLog log;
    router_log_read(&log, path, &opt);
    CHECK_EQ_INT(log.n, 5);
    CHECK_STR(log.run, "r");
    CHECK(log.stopped);
    CHECK_STR(log.stop_reason, "finished");
    CHECK_EQ_INT(log.malformed, 0);
    CHECK_EQ_INT(seen.n, 3);
    CHECK_EQ_INT(seen.steps[0], 10);
    CHECK_EQ_INT(seen.layers_at[0], 2);
    CHECK_EQ_INT(seen.steps[1], 20);
    CHECK_EQ_INT(seen.layers_at[1], 2);
    CHECK_EQ_INT(seen.steps[2], 30); /* completed by the stop line with one layer */
    CHECK_EQ_INT(seen.layers_at[2], 1);
    CHECK_EQ_INT(router_log_first_step(&log), 10);
    CHECK_EQ_INT(router_log_last_step(&log), 30);
    const RouterRecord **recs;
    size_t n = router_log_step(&log, 10, &recs);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(recs[0]->layer, 1);
        CHECK_EQ_INT(recs[0]->line_no, 8); /* the replacement */
        CHECK_CLOSE(recs[0]->stats.cv_pct, 60.0, 1e-12, 0);
    }
    free(recs);
    n = router_log_series(&log, 1, &recs);
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK(recs[0]->step == 10 && recs[1]->step == 20 && recs[2]->step == 30);
    free(recs);
    int *layers;
    n = router_log_layers(&log, &layers);
    CHECK(n == 2 && layers[0] == 1 && layers[1] == 2);
    free(layers);
    router_log_free(&log);

    /* --until-step 20: nothing after step 20 is kept */
    seen.n = 0;
    opt.until_step = 20;
    router_log_read(&log, path, &opt);
    CHECK_EQ_INT(router_log_last_step(&log), 20);
    CHECK_EQ_INT(seen.n, 2);
    router_log_free(&log);
    unlink(path);
    free(path);

    /* Without a meta line the layer set is learnt from the first complete step. */
    path = write_temp(RL(10, 1, 5, 5) RL(10, 3, 5, 5) RL(20, 1, 5, 5) RL(20, 3, 5, 5) RL(30, 1, 1, 1));
    seen.n = 0;
    opt.until_step = -1;
    router_log_read(&log, path, &opt);
    CHECK_EQ_INT(seen.n, 3);
    CHECK(seen.steps[0] == 10 && seen.steps[1] == 20 && seen.steps[2] == 30);
    router_log_free(&log);
    unlink(path);
    free(path);

    /* keep_loads: load / mean per expert */
    path = write_temp(RL(10, 1, 3, 1));
    opt.keep_loads = true;
    opt.on_step = NULL;
    router_log_read(&log, path, &opt);
    CHECK_EQ_INT(log.n, 1);
    if (log.n == 1) CHECK(log.recs[0].load_over_mean[0] == 1.5f && log.recs[0].load_over_mean[1] == 0.5f);
    router_log_free(&log);
    unlink(path);
    free(path);
}

/* Gates ---------------------------------------------------------------------------- */

#define CHECK_BAD_GATE(spec, expected) do { GateList g_; char e_[256] = ""; \
    CHECK(!gates_parse((spec), &g_, e_, sizeof e_)); CHECK_STR(e_, expected); } while (0)

static RouterRecord make_record(int64_t step, int layer, const uint64_t *loads, const float *bias, int e)
{
    RouterRecord r = { .step = step, .layer = layer, .top_k = 2, .from_step = -1, .to_step = -1, .tokens = -1 };
    router_stats_compute(loads, bias, e, &r.stats);
    return r;
}

static void test_gates(void)
{
    GateList g;
    char err[256];
    CHECK(gates_parse("entropy>=0.95,active=all,cv<=50", &g, err, sizeof err));
    CHECK_EQ_INT(g.n, 3);
    if (g.n == 3) {
        CHECK(g.items[0].metric == GATE_ENTROPY && g.items[0].op == GATE_GE && g.items[0].bound == 0.95);
        CHECK(g.items[1].metric == GATE_ACTIVE && g.items[1].op == GATE_EQ && g.items[1].all);
        CHECK(g.items[2].metric == GATE_CV && g.items[2].op == GATE_LE && g.items[2].bound == 50);
    }
    gates_free(&g);
    CHECK(gates_parse(" active >= 60 , bias_abs<1.5,max_over_mean<3, dead==0, cv_pct>1e-3 ,entropy>0.5", &g, err, sizeof err));
    CHECK_EQ_INT(g.n, 6);
    if (g.n == 6) {
        CHECK(g.items[0].metric == GATE_ACTIVE && g.items[0].op == GATE_GE && g.items[0].bound == 60);
        CHECK(g.items[1].metric == GATE_BIAS_ABS && g.items[1].op == GATE_LT);
        CHECK(g.items[3].metric == GATE_DEAD && g.items[3].op == GATE_EQ && g.items[3].bound == 0);
        CHECK(g.items[4].metric == GATE_CV && g.items[4].op == GATE_GT && g.items[4].bound == 1e-3);
        CHECK(g.items[5].op == GATE_GT);
    }
    gates_free(&g);
    CHECK_BAD_GATE("", "empty gate in ''");
    CHECK_BAD_GATE("entropy>=0.9,", "empty gate in 'entropy>=0.9,'");
    CHECK_BAD_GATE("entropy>=0.9,,cv<5", "empty gate in 'entropy>=0.9,,cv<5'");
    CHECK_BAD_GATE("entropi>=0.9", "gate 'entropi>=0.9': unknown metric 'entropi' (use entropy, cv, active, dead, bias_abs, max_over_mean)");
    CHECK_BAD_GATE(">=0.9", "gate '>=0.9': expected a metric (entropy, cv, active, dead, bias_abs, max_over_mean)");
    CHECK_BAD_GATE("entropy", "gate 'entropy': expected one of >=, <=, >, <, = after 'entropy'");
    CHECK_BAD_GATE("entropy=>0.9", "gate 'entropy=>0.9': '>0.9' is not a number");
    CHECK_BAD_GATE("entropy!=0.9", "gate 'entropy!=0.9': expected one of >=, <=, >, <, = after 'entropy'");
    CHECK_BAD_GATE("entropy>=", "gate 'entropy>=': expected a number after '>='");
    CHECK_BAD_GATE("entropy>=high", "gate 'entropy>=high': 'high' is not a number");
    CHECK_BAD_GATE("cv<=50%", "gate 'cv<=50%': '50%' is not a number");
    CHECK_BAD_GATE("cv<=inf", "gate 'cv<=inf': 'inf' is not a number");
    CHECK_BAD_GATE("entropy=all", "gate 'entropy=all': 'all' is a bound only for active");

    /* Evaluation: layer 1 balanced, layer 2 with a dead expert and a big bias. */
    uint64_t good[4] = { 10, 10, 10, 10 }, bad[4] = { 20, 10, 10, 0 };
    float small_bias[4] = { -0.1f, 0.1f, 0, 0 }, big_bias[4] = { -2.5f, 0.5f, 0, 0 };
    RouterRecord r1 = make_record(200, 1, good, small_bias, 4), r2 = make_record(200, 2, bad, big_bias, 4);
    const RouterRecord *recs[2] = { &r1, &r2 };
    char *buf = NULL;
    size_t len = 0;
    FILE *msg = open_memstream(&buf, &len);
    nmoe_set_prog("nmoe-routerstat");
    CHECK(gates_parse("entropy>=0.95,active=all,cv<=50,bias_abs<=1,dead=0,max_over_mean<2,active>=3", &g, err, sizeof err));
    CHECK_EQ_INT(gates_check(&g, recs, 2, msg), 6);
    fclose(msg);
    /* layer 2: entropy = (0.5 ln 2 + 2 * 0.25 ln 4) / ln 4 = 0.75; CV = 100 * sqrt(50)/10 = 70.71 */
    CHECK_STR(buf,
              "nmoe-routerstat: gate failed at step 200: layer 2: entropy = 0.75 (required >= 0.95)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: active = 3/4 (required = all)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: cv = 70.71 (required <= 50)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: bias_abs = 2.5 (required <= 1)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: dead = 1 (required = 0)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: max_over_mean = 2 (required < 2)\n");
    free(buf);
    gates_free(&g);
    /* the same gates pass on the balanced layer alone */
    CHECK(gates_parse("entropy>=0.95,active=all,cv<=50,bias_abs<=1,dead=0,max_over_mean<2", &g, err, sizeof err));
    msg = open_memstream(&buf, &len);
    CHECK_EQ_INT(gates_check(&g, recs, 1, msg), 0);
    fclose(msg);
    CHECK_STR(buf, "");
    free(buf);
    gates_free(&g);
    /* strict comparisons, and active with a number */
    CHECK(gates_parse("max_over_mean>2,active<3,cv>70.8", &g, err, sizeof err));
    msg = open_memstream(&buf, &len);
    CHECK_EQ_INT(gates_check(&g, recs + 1, 1, msg), 3);
    fclose(msg);
    CHECK_STR(buf,
              "nmoe-routerstat: gate failed at step 200: layer 2: max_over_mean = 2 (required > 2)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: active = 3/4 (required < 3)\n"
              "nmoe-routerstat: gate failed at step 200: layer 2: cv = 70.71 (required > 70.8)\n");
    free(buf);
    gates_free(&g);
}

/* Collapse detection ------------------------------------------------------------------- */

/* A series from entropies and dead counts, E = 64: loads chosen to give each entropy is
 * awkward, so set the statistics directly (collapse_detect reads only these). */
static void make_series(RouterRecord *recs, const RouterRecord **ptrs, size_t n, const double *entropy,
                        const int *dead, int64_t first_step)
{
    for (size_t i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].step = first_step + 10 * (int64_t)i;
        recs[i].layer = 2;
        recs[i].stats.experts = 64;
        recs[i].stats.entropy = entropy[i];
        recs[i].stats.active = 64 - (dead ? dead[i] : 0);
        ptrs[i] = &recs[i];
    }
}

static void test_collapse(void)
{
    CollapseRule rule = { .window = 5, .entropy_drop = 0.05, .dead_rise = 1 };
    RouterRecord recs[32];
    const RouterRecord *ptrs[32];

    /* healthy: noise well under the threshold */
    double healthy[12] = { 0.995, 0.994, 0.996, 0.993, 0.995, 0.997, 0.994, 0.995, 0.996, 0.994, 0.995, 0.993 };
    make_series(recs, ptrs, 12, healthy, NULL, 10);
    CHECK(!collapse_detect(ptrs, 12, &rule).flagged);

    /* a decline starting at the 7th line (step 70): 0.985 is already more than the
     * noise tolerance (0.005) below the peak 0.996, so the decline began there */
    double falling[12] = { 0.995, 0.994, 0.996, 0.993, 0.995, 0.996, 0.985, 0.97, 0.95, 0.93, 0.90, 0.85 };
    make_series(recs, ptrs, 12, falling, NULL, 10);
    CollapseFinding f = collapse_detect(ptrs, 12, &rule);
    CHECK(f.flagged);
    CHECK_EQ_INT(f.layer, 2);
    CHECK_EQ_INT(f.began_step, 70);
    CHECK_EQ_INT(f.detected_step, 100);  /* 0.996 - 0.95 = 0.046 is not enough; 0.93 is */
    CHECK_STR(f.cause, "entropy");
    CHECK_CLOSE(f.from, 0.996, 0, 1e-12);
    CHECK_CLOSE(f.to, 0.93, 0, 1e-12);

    /* a slow drift that never loses 0.05 within any window of 5 is not flagged... */
    double drift[20];
    for (int i = 0; i < 20; i++) drift[i] = 0.995 - 0.008 * i;
    make_series(recs, ptrs, 20, drift, NULL, 10);
    CHECK(!collapse_detect(ptrs, 20, &rule).flagged);
    /* ...but is with a longer window; it began at the second line */
    CollapseRule wide = { .window = 10, .entropy_drop = 0.05, .dead_rise = 1 };
    f = collapse_detect(ptrs, 20, &wide);
    CHECK(f.flagged);
    CHECK_EQ_INT(f.detected_step, 80);   /* 0.995 - 0.939 = 0.056 after 7 lines */
    CHECK_EQ_INT(f.began_step, 20);

    /* dead experts appearing, entropy barely moving */
    double flat[10] = { 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99 };
    int dead[10] = { 0, 0, 0, 0, 0, 0, 2, 3, 5, 8 };
    make_series(recs, ptrs, 10, flat, dead, 100);
    f = collapse_detect(ptrs, 10, &rule);
    CHECK(f.flagged);
    CHECK_STR(f.cause, "dead_experts");
    CHECK_EQ_INT(f.began_step, 160);
    CHECK_EQ_INT(f.detected_step, 160);
    CHECK_CLOSE(f.from, 0, 0, 0);
    CHECK_CLOSE(f.to, 2, 0, 0);
    CollapseRule tolerant = { .window = 5, .entropy_drop = 0.05, .dead_rise = 4 };
    f = collapse_detect(ptrs, 10, &tolerant);
    CHECK(f.flagged && f.detected_step == 180 && f.began_step == 160);
    /* a dead expert that was already dead is no rise */
    int always[10] = { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 };
    make_series(recs, ptrs, 10, flat, always, 100);
    CHECK(!collapse_detect(ptrs, 10, &rule).flagged);
    /* an empty or one-line series has nothing to compare */
    CHECK(!collapse_detect(ptrs, 0, &rule).flagged);
    CHECK(!collapse_detect(ptrs, 1, &rule).flagged);
}

int main(void)
{
    nmoe_set_verbosity(NMOE_QUIET);
    test_record_parse();
    test_read();
    test_gates();
    test_collapse();
    return check_report("test_routerstat");
}
