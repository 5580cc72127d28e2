/* nmoe-routerstat: per-layer router health from a metric stream (nmoe-metrics(5)):
 * the table for one step, NDJSON, an over-time series, gates, collapse detection and
 * a plot. main parses the command line and sets policy; the work is in
 * libcommon/routerstat_*.c. */
#include "base/cli.h"
#include "base/error.h"
#include "routerstat/routerstat.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_TABLE, MODE_OVER_TIME, MODE_COLLAPSE };

typedef struct {
    const char *input;
    int mode;
    bool json, follow, strict;
    int64_t step;            /* -1: the last step with router lines */
    int64_t until_step;      /* -1: none */
    const char *plot;
    const char *require;
    CollapseRule rule;
    bool rule_set;           /* --window/--entropy-drop/--dead-rise given */
    /* follow-mode printing state */
    bool printed_header;
    bool tsv_update;         /* the TSV has the update columns */
    int tables;
} Options;

static const char *short_usage =
    "Usage: nmoe-routerstat [OPTIONS] [FILE]\n"
    "Per-layer router health (CV%, entropy, active experts, bias range) from an nmoe\n"
    "metric stream. FILE '-' or absent reads stdin.\n"
    "  nmoe-routerstat run/metrics.ndjson             table for the last step\n"
    "  nmoe-routerstat --require 'entropy>=0.95,active=all' run/metrics.ndjson\n"
    "  nmoe-routerstat --detect-collapse run/metrics.ndjson\n"
    "  nmoe-routerstat --follow run/metrics.ndjson    a table per step as training runs\n"
    "Try 'nmoe-routerstat --help' for all options.\n";

static void print_help(void)
{
    printf("Usage: nmoe-routerstat [OPTIONS] [FILE]\n"
           "Per-layer router health from an nmoe metric stream (FILE, or stdin when FILE is\n"
           "'-' or absent). Statistics are recomputed from each router line's loads and biases.\n"
           "\n"
           "Output (choose one; the default is the table):\n"
           "  -s, --step N           report step N (must have router lines) [default: the last step with router lines]\n"
           "  -j, --json             NDJSON, one object per layer per step, instead of the table or TSV [default: off]\n"
           "      --over-time        every step: TSV (step, layer, cv_pct, entropy, active, ...) with a header [default: off]\n"
           "      --detect-collapse  report layers whose routing collapses, with the step it began; exit 3 if any [default: off]\n"
           "      --window N         router lines per layer that --detect-collapse looks back over [default: 10]\n"
           "      --entropy-drop X   entropy fall below the window's peak that flags a collapse [default: 0.05]\n"
           "      --dead-rise N      rise in dead experts above the window's low that flags a collapse [default: 1]\n"
           "      --plot FILE.png    also draw load heatmaps and entropy curves with gnuplot [default: none]\n"
           "\n"
           "Gates:\n"
           "      --require GATES    comma-separated METRIC OP BOUND, checked on every layer of the step;\n"
           "                         metrics entropy, cv, active, dead, bias_abs, max_over_mean; OP >=, <=, >, <, =;\n"
           "                         'active=all' needs every expert active; exit 3 if any fails [default: none]\n"
           "\n"
           "Input:\n"
           "  -f, --follow           keep reading as the stream grows, printing each step when its router lines\n"
           "                         are complete; stop at a 'stop' line [default: off]\n"
           "      --until-step N     stop reading after step N [default: none]\n"
           "      --strict           a malformed line is an error (exit 1) instead of a warning [default: off]\n"
           "\n"
           "General:\n"
           "  -q, --quiet            errors only [default: off]\n"
           "  -v, --verbose          more detail on stderr [default: off]\n"
           "  -h                     short usage\n"
           "      --help             this help\n"
           "  -V, --version          print the version\n"
           "\n"
           "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 a gate failed or a collapse was detected.\n");
}

enum { OPT_OVER_TIME = 256, OPT_DETECT, OPT_WINDOW, OPT_ENTROPY_DROP, OPT_DEAD_RISE, OPT_PLOT, OPT_REQUIRE,
       OPT_UNTIL, OPT_STRICT, OPT_HELP };

static void parse_args(int argc, char **argv, Options *o)
{
    static const struct option longs[] = {
        { "step", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "over-time", no_argument, NULL, OPT_OVER_TIME },
        { "detect-collapse", no_argument, NULL, OPT_DETECT },
        { "window", required_argument, NULL, OPT_WINDOW },
        { "entropy-drop", required_argument, NULL, OPT_ENTROPY_DROP },
        { "dead-rise", required_argument, NULL, OPT_DEAD_RISE },
        { "plot", required_argument, NULL, OPT_PLOT },
        { "require", required_argument, NULL, OPT_REQUIRE },
        { "follow", no_argument, NULL, 'f' },
        { "until-step", required_argument, NULL, OPT_UNTIL },
        { "strict", no_argument, NULL, OPT_STRICT },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    bool over_time = false, detect = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":s:jfqvhV", longs, NULL)) != -1) {
        switch (c) {
        case 's': o->step = parse_int(optarg, "--step", 0, INT64_MAX); break;
        case 'j': o->json = true; break;
        case OPT_OVER_TIME: over_time = true; break;
        case OPT_DETECT: detect = true; break;
        case OPT_WINDOW: o->rule.window = (int)parse_int(optarg, "--window", 1, 1000000); o->rule_set = true; break;
        case OPT_ENTROPY_DROP: o->rule.entropy_drop = parse_double(optarg, "--entropy-drop", 0, 1); o->rule_set = true; break;
        case OPT_DEAD_RISE: o->rule.dead_rise = (int)parse_int(optarg, "--dead-rise", 1, 1 << 16); o->rule_set = true; break;
        case OPT_PLOT: o->plot = optarg; break;
        case OPT_REQUIRE: o->require = optarg; break;
        case 'f': o->follow = true; break;
        case OPT_UNTIL: o->until_step = parse_int(optarg, "--until-step", 0, INT64_MAX); break;
        case OPT_STRICT: o->strict = true; break;
        case 'q': nmoe_set_verbosity(NMOE_QUIET); break;
        case 'v': nmoe_set_verbosity(nmoe_verbosity() + 1); break;
        case 'h': fputs(short_usage, stdout); exit(NMOE_EXIT_OK);
        case OPT_HELP: print_help(); exit(NMOE_EXIT_OK);
        case 'V': printf("nmoe-routerstat %s\n", NMOE_VERSION); exit(NMOE_EXIT_OK);
        case ':': die_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt) die_usage("unknown option '-%c'", optopt);
            die_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) die_usage("one metric stream at a time (got '%s' and '%s')", o->input, argv[optind]);
    if (over_time && detect) die_usage("--over-time and --detect-collapse are different outputs; choose one");
    o->mode = over_time ? MODE_OVER_TIME : detect ? MODE_COLLAPSE : MODE_TABLE;
    if (o->step >= 0 && o->mode == MODE_OVER_TIME) die_usage("--step and --over-time cannot be combined (--over-time prints every step)");
    if (o->rule_set && !detect) die_usage("--window, --entropy-drop and --dead-rise only apply to --detect-collapse");
    if (o->plot && strcmp(o->plot, "-") == 0) die_usage("--plot needs a file name (stdout carries the report)");
    if (o->step >= 0 && o->until_step >= 0 && o->step > o->until_step)
        die_usage("--step %" PRId64 " is after --until-step %" PRId64, o->step, o->until_step);
}

/* Follow mode: called as each step's set of router lines completes. */
static void on_step(const RouterLog *log, int64_t step, void *ctx)
{
    Options *o = ctx;
    if (o->mode == MODE_COLLAPSE) return; /* judged once the stream ends */
    if (o->step >= 0 && step != o->step) return;
    const RouterRecord **recs;
    size_t n = router_log_step(log, step, &recs);
    if (o->json) {
        routerstat_print_json(stdout, recs, n, log->run);
    } else if (o->mode == MODE_OVER_TIME) {
        /* the columns are fixed by the first step printed (a trainer writes them from its first line) */
        if (!o->printed_header) o->tsv_update = routerstat_has_update(recs, n);
        if (!o->printed_header) routerstat_print_tsv_header(stdout, o->tsv_update);
        o->printed_header = true;
        routerstat_print_tsv(stdout, recs, n, o->tsv_update);
    } else {
        if (o->tables++) fputc('\n', stdout);
        info(NMOE_NORMAL, "%s: step %" PRId64 "%s%s\n", nmoe_prog(), step, log->run ? " of run " : "", log->run ? log->run : "");
        routerstat_print_table(stdout, recs, n);
    }
    fflush(stdout);
    free(recs);
}

static void print_step_report(const Options *o, const RouterLog *log, int64_t step)
{
    const RouterRecord **recs;
    size_t n = router_log_step(log, step, &recs);
    if (o->json) {
        routerstat_print_json(stdout, recs, n, log->run);
    } else {
        info(NMOE_NORMAL, "%s: step %" PRId64 "%s%s\n", nmoe_prog(), step, log->run ? " of run " : "", log->run ? log->run : "");
        routerstat_print_table(stdout, recs, n);
    }
    free(recs);
}

static void print_over_time(const Options *o, const RouterLog *log)
{
    const RouterRecord **recs;
    size_t n = router_log_sorted(log, &recs);
    if (o->json) {
        routerstat_print_json(stdout, recs, n, log->run);
    } else {
        const bool update = routerstat_has_update(recs, n);
        routerstat_print_tsv_header(stdout, update);
        routerstat_print_tsv(stdout, recs, n, update);
    }
    free(recs);
}

/* Returns the number of layers flagged. */
static int detect_collapse(const Options *o, const RouterLog *log)
{
    int *layers;
    size_t n_layers = router_log_layers(log, &layers);
    int flagged = 0;
    for (size_t l = 0; l < n_layers; l++) {
        const RouterRecord **series;
        size_t n = router_log_series(log, layers[l], &series);
        CollapseFinding f = collapse_detect(series, n, &o->rule);
        free(series);
        if (!f.flagged) continue;
        flagged++;
        bool by_entropy = strcmp(f.cause, "entropy") == 0;
        if (o->json) {
            printf("{\"layer\":%d,\"began_step\":%" PRId64 ",\"detected_step\":%" PRId64 ",\"cause\":\"%s\","
                   "\"from\":%.6g,\"to\":%.6g,\"window\":%d}\n",
                   f.layer, f.began_step, f.detected_step, f.cause, f.from, f.to, o->rule.window);
        } else if (by_entropy) {
            printf("layer %d: collapse began at step %" PRId64 ": entropy %.4f -> %.4f by step %" PRId64 " (window %d)\n",
                   f.layer, f.began_step, f.from, f.to, f.detected_step, o->rule.window);
        } else {
            printf("layer %d: collapse began at step %" PRId64 ": dead experts %.0f -> %.0f by step %" PRId64 " (window %d)\n",
                   f.layer, f.began_step, f.from, f.to, f.detected_step, o->rule.window);
        }
    }
    if (flagged)
        fprintf(stderr, "%s: collapse detected in %d of %zu layers\n", nmoe_prog(), flagged, n_layers);
    else
        info(NMOE_NORMAL, "%s: no collapse detected in %zu layers (steps %" PRId64 "..%" PRId64 ")\n", nmoe_prog(),
             n_layers, router_log_first_step(log), router_log_last_step(log));
    free(layers);
    return flagged;
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    Options o = { .step = -1, .until_step = -1, .rule = { .window = 10, .entropy_drop = 0.05, .dead_rise = 1 } };
    parse_args(argc, argv, &o);

    GateList gates = { 0 };
    char err[512];
    if (o.require && !gates_parse(o.require, &gates, err, sizeof err)) die_usage("--require: %s", err);
    char *gnuplot = NULL;
    if (o.plot && !(gnuplot = routerstat_find_gnuplot()))
        die("--plot needs gnuplot, which is not in PATH (install gnuplot-nox)");

    RouterReadOptions ro = { .follow = o.follow, .strict = o.strict, .keep_loads = o.plot != NULL,
                             .until_step = o.until_step, .on_step = o.follow ? on_step : NULL, .ctx = &o };
    if (o.follow && o.step >= 0 && (ro.until_step < 0 || ro.until_step > o.step)) ro.until_step = o.step;
    RouterLog log;
    router_log_read(&log, o.input, &ro);
    if (log.malformed) warnx("%s: %ld malformed line%s skipped", log.path, log.malformed, log.malformed == 1 ? "" : "s");
    if (log.n == 0) die("%s: no router lines (is this an MoE run's metric stream?)", log.path);

    int64_t step = o.step >= 0 ? o.step : router_log_last_step(&log);
    const RouterRecord **at_step;
    size_t n_at_step = router_log_step(&log, step, &at_step);
    if (n_at_step == 0)
        die("%s: no router lines for step %" PRId64 " (router lines cover steps %" PRId64 "..%" PRId64 ")", log.path,
            step, router_log_first_step(&log), router_log_last_step(&log));

    int status = NMOE_EXIT_OK;
    if (o.mode == MODE_COLLAPSE) {
        if (detect_collapse(&o, &log)) status = NMOE_EXIT_GATE;
    } else if (!o.follow) {
        if (o.mode == MODE_OVER_TIME) print_over_time(&o, &log);
        else print_step_report(&o, &log, step);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) die("stdout: write failed");

    if (o.plot) routerstat_plot(&log, gnuplot, o.plot);
    if (gates.n) {
        size_t failed = gates_check(&gates, at_step, n_at_step, stderr);
        if (failed) {
            fprintf(stderr, "%s: %zu gate check%s failed at step %" PRId64 "\n", nmoe_prog(), failed, failed == 1 ? "" : "s", step);
            status = NMOE_EXIT_GATE;
        } else {
            info(NMOE_VERBOSE, "%s: all gates passed at step %" PRId64 " (%s)\n", nmoe_prog(), step, o.require);
        }
    }
    if (log.stopped) info(NMOE_VERBOSE, "%s: the run stopped: %s\n", nmoe_prog(), log.stop_reason);
    free(at_step);
    free(gnuplot);
    gates_free(&gates);
    router_log_free(&log);
    return status;
}
