/* gen_router_metrics: write a realistic nmoe metric stream (nmoe-metrics(5)) for the
 * routerstat tests: meta, train, val, checkpoint and router lines, an unknown kind,
 * and a stop line, through the real NDJSON writer and router_stats.h.
 *
 * Routing is simulated per MoE layer and log interval: expert i gets a share
 * proportional to exp(u_i + b_i + noise), capped at 1/K (a token picks K distinct
 * experts), and Poisson-like counting noise; the bias b follows the aux-loss-free
 * rule b_i += rate * sign(mean - load_i). In --mode collapse, right after --collapse-step,
 * a shock tilts one layer's router towards 7 experts, and from then on its preferences
 * feed on themselves (u_i += gain * (x_i - mean x), x = u + b) faster than the bias can
 * correct: entropy falls, CV climbs, experts die, and the stream ends with the
 * trainer's fail-fast stop line once router_collapsed() says so.
 *
 *   gen_router_metrics [--mode healthy|collapse] [--steps N] [--interval N] [--experts E]
 *       [--top-k K] [--n-layers N] [--n-dense N] [--tokens-per-step N] [--seed S]
 *       [--collapse-layer L] [--collapse-step S] [--delay-ms D] [--no-stop] [--run NAME]
 * Deterministic for a given set of options (counter-based RNG, no clock). */
#include "model/router_line.h"
#include "base/error.h"
#include "formats/ndjson.h"
#include "base/rng.h"
#include "model/router_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *mode, *run;
    int steps, interval, experts, top_k, n_layers, n_dense, tokens_per_step, collapse_layer, collapse_step, delay_ms;
    uint64_t seed;
    bool stop;
} Args;

typedef struct {
    double *u, *b;  /* router preference and balancing bias per expert */
    Rng rng;
    bool shocked;
} Layer;

static void usage(void)
{
    fprintf(stderr, "usage: gen_router_metrics [--mode healthy|collapse] [--steps N] [--interval N] [--experts E]\n"
                    "  [--top-k K] [--n-layers N] [--n-dense N] [--tokens-per-step N] [--seed S]\n"
                    "  [--collapse-layer L] [--collapse-step S] [--delay-ms D] [--no-stop] [--run NAME]\n");
    exit(2);
}

static Args parse(int argc, char **argv)
{
    Args a = { .mode = "healthy", .run = NULL, .steps = 250, .interval = 10, .experts = 64, .top_k = 6,
               .n_layers = 4, .n_dense = 1, .tokens_per_step = 8192, .collapse_layer = 2, .collapse_step = 200,
               .delay_ms = 0, .seed = 1234, .stop = true };
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--no-stop") == 0) { a.stop = false; continue; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(k, "--mode") == 0) a.mode = v;
        else if (strcmp(k, "--run") == 0) a.run = v;
        else if (strcmp(k, "--steps") == 0) a.steps = atoi(v);
        else if (strcmp(k, "--interval") == 0) a.interval = atoi(v);
        else if (strcmp(k, "--experts") == 0) a.experts = atoi(v);
        else if (strcmp(k, "--top-k") == 0) a.top_k = atoi(v);
        else if (strcmp(k, "--n-layers") == 0) a.n_layers = atoi(v);
        else if (strcmp(k, "--n-dense") == 0) a.n_dense = atoi(v);
        else if (strcmp(k, "--tokens-per-step") == 0) a.tokens_per_step = atoi(v);
        else if (strcmp(k, "--collapse-layer") == 0) a.collapse_layer = atoi(v);
        else if (strcmp(k, "--collapse-step") == 0) a.collapse_step = atoi(v);
        else if (strcmp(k, "--delay-ms") == 0) a.delay_ms = atoi(v);
        else if (strcmp(k, "--seed") == 0) a.seed = strtoull(v, NULL, 10);
        else usage();
    }
    if (strcmp(a.mode, "healthy") != 0 && strcmp(a.mode, "collapse") != 0) usage();
    if (a.steps < 1 || a.interval < 1 || a.experts < 2 || a.top_k < 1 || a.top_k > a.experts ||
        a.n_dense < 0 || a.n_layers <= a.n_dense || a.tokens_per_step < 1)
        usage();
    if (!a.run) a.run = strcmp(a.mode, "healthy") == 0 ? "healthy-64x6" : "collapse-64x6";
    return a;
}

/* Shares p_i proportional to w_i, none above 1/K: clamp, then share the rest out again. */
static void capped_shares(const double *w, int e, int k, double *p)
{
    bool *capped = xcalloc((size_t)e, sizeof *capped);
    for (;;) {
        double free_mass = 1.0, free_w = 0;
        for (int i = 0; i < e; i++) {
            if (capped[i]) free_mass -= 1.0 / k;
            else free_w += w[i];
        }
        bool changed = false;
        for (int i = 0; i < e; i++) {
            if (capped[i]) { p[i] = 1.0 / k; continue; }
            p[i] = free_w > 0 ? free_mass * w[i] / free_w : 0;
            if (p[i] > 1.0 / k) { capped[i] = true; changed = true; }
        }
        if (!changed) break;
    }
    free(capped);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    Args a = parse(argc, argv);
    bool collapse = strcmp(a.mode, "collapse") == 0;
    int e = a.experts, n_moe = a.n_layers - a.n_dense;
    const double rate = 0.002;       /* bias update per optimizer step */
    const double shock = 0.8, feedback_gain = 0.25; /* collapse: the kick, and how fast it grows */
    Layer *layers = xcalloc((size_t)n_moe, sizeof *layers);
    for (int l = 0; l < n_moe; l++) {
        layers[l].u = xcalloc((size_t)e, sizeof(double));
        layers[l].b = xcalloc((size_t)e, sizeof(double));
        layers[l].rng = rng_make(a.seed, (uint64_t)l + 1);
        for (int i = 0; i < e; i++) layers[l].u[i] = 0.3 * rng_normal(&layers[l].rng);
        /* The biases start where balancing has brought them (as after a warm-up), with
         * the per-interval wobble the sign rule leaves. */
        for (int i = 0; i < e; i++) layers[l].b[i] = -layers[l].u[i] + 0.02 * rng_normal(&layers[l].rng);
    }
    Rng train_rng = rng_make(a.seed, 1000);
    double *w = xcalloc((size_t)e, sizeof *w), *p = xcalloc((size_t)e, sizeof *p);
    uint64_t *loads = xcalloc((size_t)e, sizeof *loads);
    float *bias = xcalloc((size_t)e, sizeof *bias);
    NdLine l = { 0 };

    nd_begin_metric(&l, "meta", a.run, 0);
    nd_str(&l, "program", "gen_router_metrics");
    nd_str(&l, "version", NMOE_VERSION);
    nd_str(&l, "fingerprint", collapse ? "5e1f0c2ab9d37e41" : "9a0b7c3d2e1f4a56");
    nd_obj_begin(&l, "config");
    nd_obj_begin(&l, "model");
    nd_int(&l, "n_layers", a.n_layers);
    nd_int(&l, "n_dense_layers", a.n_dense);
    nd_int(&l, "n_routed_experts", e);
    nd_int(&l, "n_activated_experts", a.top_k);
    nd_obj_end(&l);
    nd_obj_begin(&l, "optim");
    nd_f64(&l, "router_bias_update_rate", rate);
    nd_obj_end(&l);
    nd_obj_end(&l);
    nd_str(&l, "backend", "cpu");
    nd_int(&l, "n_params", 12345678);
    nd_emit(&l, stdout, "stdout");

    int64_t tokens_done = 0;
    char stop_reason[256] = "finished";
    int stop_status = 0;
    for (int step = 1; step <= a.steps; step++) {
        tokens_done += a.tokens_per_step;
        double loss = 4.2 * exp(-step / 400.0) + 1.6 + 0.02 * rng_normal(&train_rng);
        nd_begin_metric(&l, "train", a.run, step);
        nd_f64(&l, "loss", round(loss * 1e4) / 1e4);
        nd_f64(&l, "lr", 3e-4);
        nd_f64(&l, "grad_norm", round((0.8 + 0.1 * rng_normal(&train_rng)) * 1e4) / 1e4);
        nd_int(&l, "tokens", tokens_done);
        nd_obj_begin(&l, "time");
        nd_f64(&l, "elapsed_s", step * 0.25);
        nd_f64(&l, "tok_per_s", a.tokens_per_step / 0.25);
        nd_f64(&l, "step_ms", 250.0);
        nd_obj_end(&l);
        nd_emit(&l, stdout, "stdout");
        if (step == 50) { /* a kind from a future version: readers must skip it */
            nd_begin_metric(&l, "future_kind", a.run, step);
            nd_str(&l, "note", "readers ignore kinds they do not know");
            nd_emit(&l, stdout, "stdout");
        }
        if (step % a.interval != 0) continue;

        bool collapsed = false;
        int64_t window_tokens = (int64_t)a.tokens_per_step * a.interval;
        for (int li = 0; li < n_moe; li++) {
            Layer *L = &layers[li];
            int layer = a.n_dense + li;
            bool feeding = collapse && layer == a.collapse_layer && step > a.collapse_step;
            if (feeding) {
                /* A shock (think of a loss spike) tilts the router towards a few experts,
                 * then the preferences feed on themselves faster than the bias corrects. */
                if (!L->shocked)
                    for (int i = 0; i < e; i++) L->u[i] += i % 9 == 3 ? shock : 0.0; /* 7 of 64 */
                L->shocked = true;
                double mean_x = 0;
                for (int i = 0; i < e; i++) mean_x += (L->u[i] + L->b[i]) / e;
                for (int i = 0; i < e; i++) L->u[i] += feedback_gain * (L->u[i] + L->b[i] - mean_x);
            }
            double max_x = -INFINITY;
            for (int i = 0; i < e; i++) {
                w[i] = L->u[i] + L->b[i] + 0.18 * rng_normal(&L->rng);
                max_x = fmax(max_x, w[i]);
            }
            for (int i = 0; i < e; i++) w[i] = exp(w[i] - max_x); /* shifted: exp cannot overflow */
            capped_shares(w, e, a.top_k, p);
            int64_t assignments = window_tokens * a.top_k, sum = 0;
            int biggest = 0;
            for (int i = 0; i < e; i++) {
                double m = p[i] * (double)assignments;
                double x = round(m + sqrt(m) * rng_normal(&L->rng));
                if (x < 0) x = 0;
                if (x > (double)window_tokens) x = (double)window_tokens;
                loads[i] = (uint64_t)x;
                sum += (int64_t)loads[i];
                if (loads[i] > loads[biggest]) biggest = i;
            }
            /* Dropless top-K: the assignments add up to tokens * K exactly. */
            int64_t fixed = (int64_t)loads[biggest] + (assignments - sum);
            loads[biggest] = fixed < 0 ? 0 : (uint64_t)fixed;
            double mean = (double)assignments / e;
            for (int i = 0; i < e; i++) {
                double sign = (double)loads[i] < mean ? 1.0 : (double)loads[i] > mean ? -1.0 : 0.0;
                L->b[i] += rate * a.interval * sign;
                bias[i] = (float)L->b[i];
            }
            RouterStats s;
            router_stats_compute(loads, bias, e, &s);
            double top1 = 0.3 + 0.7 * s.max_over_mean / e * a.top_k; /* a plausible mean top-1 affinity */
            const RouterLine line = {
                .layer = layer, .experts = e, .top_k = a.top_k, .from_step = step - a.interval + 1, .to_step = step,
                .tokens = window_tokens, .loads = loads, .bias = bias, .drop_frac = 0.0,
                .top1_affinity = round(fmin(top1, 1.0) * 1e4) / 1e4,
            };
            router_line_begin(&l, a.run, step, &line, NULL);
            nd_emit(&l, stdout, "stdout");
            if (!collapsed && router_collapsed(&s, a.top_k, ROUTER_COLLAPSE_CV_FRAC)) {
                router_collapse_reason(&s, layer, stop_reason, sizeof stop_reason);
                stop_status = NMOE_EXIT_COLLAPSED;
                collapsed = true;
            }
        }
        if (step % 50 == 0) {
            nd_begin_metric(&l, "val", a.run, step);
            nd_f64(&l, "loss", round((4.3 * exp(-step / 400.0) + 1.7) * 1e4) / 1e4);
            nd_int(&l, "tokens", 65536);
            nd_emit(&l, stdout, "stdout");
        }
        if (step % 100 == 0) {
            char path[64];
            snprintf(path, sizeof path, "run/ckpt/step%06d.ckpt", step);
            nd_begin_metric(&l, "checkpoint", a.run, step);
            nd_str(&l, "path", path);
            nd_emit(&l, stdout, "stdout");
        }
        if (a.delay_ms) sleep_ms(a.delay_ms);
        if (collapsed) break;
    }
    if (a.stop) {
        int64_t last = tokens_done / a.tokens_per_step;
        nd_begin_metric(&l, "stop", a.run, last);
        nd_str(&l, "reason", stop_reason);
        nd_int(&l, "status", stop_status);
        nd_emit(&l, stdout, "stdout");
    }
    nd_free(&l);
    for (int li = 0; li < n_moe; li++) { free(layers[li].u); free(layers[li].b); }
    free(layers);
    free(w);
    free(p);
    free(loads);
    free(bias);
    return 0;
}
