/* nmoe-train: train a transformer from a TOML config on the CPU (nmoe-train(1)).
 * Parses the command line and the config, then hands the run to train_loop.c. */
#include "base/cli.h"
#include "train/config.h"
#include "base/error.h"
#include "train/dist.h"
#include "train/train_loop.h"

#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void short_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: nmoe-train CONFIG.toml [--set KEY=VALUE]... [--metrics FILE] [--resume DIR] [--registry FILE] [-f] [-q] [-v]\n"
            "Train a transformer on the CPU; the metric stream (NDJSON) goes to stdout.\n"
            "Try 'nmoe-train --help' for all options.\n");
}

static void long_usage(void)
{
    printf("Usage: nmoe-train CONFIG.toml [OPTIONS]\n"
           "Train the transformer that CONFIG.toml describes (on the CPU backend unless the\n"
           "config says otherwise). The metric stream\n"
           "(nmoe-metrics(5), one JSON object per line) goes to stdout or --metrics FILE;\n"
           "progress for people goes to stderr. CONFIG '-' reads the config from stdin.\n"
           "Under mpirun -np N the N ranks train one run data parallel, with the same\n"
           "metric stream as one process (nmoe-train(1), Data parallel).\n"
           "\n"
           "Options:\n"
           "      --set KEY=VALUE   override a config key after the file; repeat for more\n"
           "                        [default: none]\n"
           "      --metrics FILE    write the metric stream to FILE (appended to when\n"
           "                        resuming) [default: - (stdout)]\n"
           "      --resume DIR      continue from a checkpoint directory, or from the latest\n"
           "                        checkpoint of an out_dir [default: none; see the resume key]\n"
           "      --registry FILE   record the run in the SQLite run registry FILE (created\n"
           "                        if new; see nmoe-registry(5)); '' = none\n"
           "                        [default: $NMOE_REGISTRY, else none]\n"
           "  -f, --force           start over checkpoints of another run in out_dir,\n"
           "                        removing them (refused otherwise) [default: off]\n"
           "      --backend NAME    where the model runs: cpu, or cuda (a CUDA build on a\n"
           "                        machine with a GPU); the same as --set backend=NAME\n"
           "                        [default: the config's backend key, else cpu]\n"
           "  -T, --threads N       OpenMP threads; results do not depend on it\n"
           "                        [default: OMP_NUM_THREADS, else one per core]\n"
           "      --print-config    print the resolved config (JSON) and its fingerprint, then\n"
           "                        exit [default: off]\n"
           "      --list-keys       list every config key with its type, default and meaning,\n"
           "                        then exit [default: off]\n"
           "  -q, --quiet           only errors on stderr [default: off]\n"
           "  -v, --verbose         more detail on stderr (data, checkpoints) [default: off]\n"
           "  -h                    short usage\n"
           "      --help            this help\n"
           "  -V, --version         print the version\n"
           "\n"
           "Exit status: 0 done (steps or target_loss reached), 1 runtime failure, 2 usage or\n"
           "config error, 4 training diverged (non-finite loss), 5 routing collapsed\n"
           "(stop_on_collapse), 130 interrupted (SIGINT or SIGTERM; a checkpoint was written).\n"
           "See nmoe-train(1).\n");
}

static void list_keys(void)
{
    Config d;
    config_defaults(&d);
    static const char *const type_names[] = { "integer", "number", "boolean", "string" };
    char value[CONFIG_STRING_MAX * 2];
    for (size_t i = 0; i < config_key_count(); i++) {
        const ConfigKey *k = config_key_at(i);
        config_value_json(&d, k, value, sizeof value);
        printf("%-24s %-7s %-8s %-16s %s%s\n", k->name, k->section, type_names[k->type], value, k->help,
               k->fingerprinted ? "" : " [not fingerprinted]");
    }
}

enum { OPT_SET = 256, OPT_BACKEND, OPT_METRICS, OPT_RESUME, OPT_REGISTRY, OPT_PRINT_CONFIG, OPT_LIST_KEYS, OPT_HELP };

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    static const struct option longs[] = {
        { "set", required_argument, 0, OPT_SET },
        { "backend", required_argument, 0, OPT_BACKEND },
        { "metrics", required_argument, 0, OPT_METRICS },
        { "resume", required_argument, 0, OPT_RESUME },
        { "registry", required_argument, 0, OPT_REGISTRY },
        { "threads", required_argument, 0, 'T' },
        { "force", no_argument, 0, 'f' },
        { "print-config", no_argument, 0, OPT_PRINT_CONFIG },
        { "list-keys", no_argument, 0, OPT_LIST_KEYS },
        { "quiet", no_argument, 0, 'q' },
        { "verbose", no_argument, 0, 'v' },
        { "help", no_argument, 0, OPT_HELP },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 },
    };
    const char **sets = xcalloc((size_t)argc, sizeof *sets);
    int n_sets = 0, verbosity = NMOE_NORMAL;
    bool print_config = false;
    const char *backend = NULL;
    TrainOptions topt = { 0 };
    /* The environment sets a default for every run of a session (make -j of a sweep);
     * the option overrides it, and '' turns it off. */
    topt.registry_path = getenv("NMOE_REGISTRY");
    int c;
    while ((c = getopt_long(argc, argv, ":T:fqvhV", longs, NULL)) != -1) {
        switch (c) {
        case OPT_SET: sets[n_sets++] = optarg; break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_METRICS: topt.metrics_path = optarg; break;
        case OPT_RESUME: topt.resume_dir = optarg; break;
        case OPT_REGISTRY: topt.registry_path = optarg; break;
        case 'T': omp_set_num_threads((int)parse_int(optarg, "--threads", 1, 4096)); break;
        case OPT_PRINT_CONFIG: print_config = true; break;
        case OPT_LIST_KEYS: list_keys(); free(sets); return NMOE_EXIT_OK;
        case 'f': topt.force = true; break;
        case 'q': verbosity = NMOE_QUIET; break;
        case 'v': verbosity = verbosity >= NMOE_VERBOSE ? NMOE_DEBUG : NMOE_VERBOSE; break;
        case 'h': short_usage(stdout); free(sets); return NMOE_EXIT_OK;
        case OPT_HELP: long_usage(); free(sets); return NMOE_EXIT_OK;
        case 'V': printf("nmoe-train %s\n", NMOE_VERSION); free(sets); return NMOE_EXIT_OK;
        case ':': die_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt && optopt < 256) die_usage("unknown option '-%c'", optopt);
            die_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    nmoe_set_verbosity(verbosity);
    if (optind == argc) {
        short_usage(stderr);
        die_usage("no config file given");
    }
    if (argc - optind > 1) die_usage("one config file, got %d ('%s' ...)", argc - optind, argv[optind + 1]);
    const char *path = argv[optind];

    Config cfg;
    config_defaults(&cfg);
    char err[2048];
    if (!config_load_file(&cfg, path, err, sizeof err)) die_usage("%s", err);
    for (int i = 0; i < n_sets; i++)
        if (!config_set(&cfg, sets[i], err, sizeof err)) die_usage("%s", err);
    free(sets);
    if (backend) {
        char kv[64];
        snprintf(kv, sizeof kv, "backend=%s", backend);
        if (strlen(backend) > 16 || !config_set(&cfg, kv, err, sizeof err))
            die_usage("--backend %s: not a backend (cpu or cuda)", backend);
    }
    if (!config_check(&cfg, path, err, sizeof err)) die_usage("%s", err);

    if (print_config) {
        char *json = config_to_json(&cfg, false);
        char fp[17];
        config_fingerprint_hex(&cfg, fp);
        printf("{\"fingerprint\":\"%s\",\"config\":%s}\n", fp, json);
        free(json);
        return NMOE_EXIT_OK;
    }
    if (topt.registry_path && !topt.registry_path[0]) topt.registry_path = NULL;
    topt.config_origin = path;
    /* Under mpirun: one rank of a data-parallel run. Rank 0 speaks for the run; the
     * others say only what goes wrong, under their rank's name. */
    static char rank_prog[64];
    if (dist_init() > 1 && dist_rank() > 0) {
        snprintf(rank_prog, sizeof rank_prog, "nmoe-train (rank %d)", dist_rank());
        nmoe_set_prog(rank_prog);
        nmoe_set_verbosity(NMOE_QUIET);
    }
    int status = train_run(&cfg, &topt);
    dist_finalize();
    return status;
}
