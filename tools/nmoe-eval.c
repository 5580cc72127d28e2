/* nmoe-eval: evaluate an nmoe checkpoint: bits per byte, CORE-style tasks, router health,
 * samples; and the CORE summary (nmoe-eval(1)). main parses the command line and sets
 * policy; the work is in libcommon/eval_run_*.c and eval_summary.c. */
#include "base/atomic_file.h"
#include "base/cli.h"
#include "base/error.h"
#include "eval/eval_run.h"
#include "eval/eval_summary.h"

#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void short_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: nmoe-eval bpb --ckpt DIR --data SHARDS [OPTIONS]\n"
            "       nmoe-eval core --ckpt DIR [--tasks FILE | --bundle PATH] [--task NAME]...\n"
            "                [OPTIONS]\n"
            "       nmoe-eval core [--tasks FILE | --bundle PATH] --list | --dump-prompts\n"
            "       nmoe-eval router --ckpt DIR --data SHARDS [OPTIONS]\n"
            "       nmoe-eval sample --ckpt DIR [--prompt TEXT] [OPTIONS]\n"
            "       nmoe-eval summary [-o FILE] [--table] FILE...\n"
            "Evaluate an nmoe checkpoint; results are metric-stream lines (NDJSON) on stdout.\n"
            "Try 'nmoe-eval --help' for all options.\n");
}

static void long_usage(void)
{
    printf("Usage: nmoe-eval SUBCOMMAND [OPTIONS] [FILE...]\n"
           "Evaluate an nmoe checkpoint with the trainer's own forward pass. Results are\n"
           "metric-stream lines (nmoe-metrics(5)) on stdout or -o FILE; messages on stderr.\n"
           "\n"
           "Subcommands:\n"
           "  bpb       bits per byte and loss per token on held-out shards\n"
           "  core      CORE-style in-context-learning tasks (accuracy, centered, CORE)\n"
           "  router    router loads per MoE layer on held-out shards, as `router` lines\n"
           "  sample    generate text from a prompt\n"
           "  summary   gather task `eval` lines into core.ndjson and a table\n"
           "\n"
           "Common options:\n"
           "  -o, --output FILE     write the NDJSON (sample: the text) to FILE, atomically\n"
           "                        [default: - (stdout)]\n"
           "      --table           print a table for people on stdout instead of the NDJSON\n"
           "                        (which then goes only to -o) [default: off]\n"
           "      --tokenizer SPEC  nmoe tokenizer file, encoder.json+vocab.bpe folder,\n"
           "                        .tiktoken file or name; must be the checkpoint's\n"
           "                        [default: gpt2]\n"
           "      --threads N       CPU threads; results do not depend on it\n"
           "                        [default: all cores]\n"
           "  -q, --quiet           only errors on stderr [default: off]\n"
           "  -v, --verbose         progress and detail on stderr [default: off]\n"
           "  -h                    short usage\n"
           "      --help            this help\n"
           "  -V, --version         print the version\n"
           "\n"
           "bpb, core, router and sample:\n"
           "      --ckpt DIR        checkpoint directory, or a run's out_dir (its latest)\n"
           "                        [default: none, required]\n"
           "      --seq-len N       context length, at most the checkpoint's\n"
           "                        [default: the checkpoint's seq_len]\n"
           "      --context-factor S  let --seq-len reach S times the checkpoint's seq_len\n"
           "                        (its RoPE extrapolates as trained) [default: 1]\n"
           "      --yarn            with --context-factor S > 1: YaRN RoPE scaling by S over\n"
           "                        the checkpoint's seq_len (rope_scaling = \"yarn\")\n"
           "      --batch N         sequences per forward call; dense results do not depend\n"
           "                        on it (MoE: see nmoe-eval(1))\n"
           "                        [default: 16]\n"
           "      --backend NAME    where the model runs: cpu, or cuda (a CUDA build on a\n"
           "                        machine with a GPU) [default: cpu]\n"
           "\n"
           "bpb and router:\n"
           "      --data SHARDS     held-out data: a pack directory or a shard file\n"
           "                        [default: none, required]\n"
           "      --split NAME      val (the trainer's validation tokens), train (its\n"
           "                        training tokens) or all (every token) [default: val]\n"
           "      --tokens N        score at most N tokens, in whole sequences; K/M/G\n"
           "                        [default: 0 (all) for bpb, 1M for router]\n"
           "\n"
           "core:\n"
           "      --tasks FILE      task config (nmoe-eval-tasks(5))\n"
           "                        [default: pipelines/core.toml]\n"
           "      --bundle PATH     a CORE eval bundle instead of --tasks: a nanochat\n"
           "                        eval_bundle folder (core.yaml, eval_meta_data.csv,\n"
           "                        eval_data/) or a DCLM eval .yaml file; the full 22-task\n"
           "                        CORE [default: none]\n"
           "      --task NAME       run only this task; repeat for more\n"
           "                        [default: every task, in the config's order]\n"
           "      --limit N         N examples per task, a seeded random subset; 0 = all\n"
           "                        [default: 0]\n"
           "      --seed N          few-shot and subset seed; under --draw python the\n"
           "                        few-shot base (item idx: N + idx)\n"
           "                        [default: suite.seed, 1234]\n"
           "      --draw NAME       how the --limit subset and the few-shot examples are\n"
           "                        drawn: philox, or python (as the DCLM / nanochat\n"
           "                        reference, random.Random(1337) shuffle and\n"
           "                        random.Random(N + idx).sample)\n"
           "                        [default: suite.draw, philox]\n"
           "      --examples        also write an `example` line per example (token ids,\n"
           "                        scored span, log-likelihood) [default: off]\n"
           "      --list            print the tasks (label, type, shots, baseline, file)\n"
           "                        and exit; needs no checkpoint [default: off]\n"
           "      --dump-prompts    write every example's prompts as `prompt` lines instead\n"
           "                        of scoring; needs no checkpoint [default: off]\n"
           "\n"
           "sample:\n"
           "      --prompt TEXT     text to continue [default: empty]\n"
           "      --temperature T   sampling temperature; 0 = greedy [default: 1.0]\n"
           "      --top-k K         sample among the K most likely tokens; 0 = all\n"
           "                        [default: 0]\n"
           "      --top-p P         then among the most likely tokens whose probabilities\n"
           "                        add up to P (nucleus sampling); 1 = all [default: 1.0]\n"
           "      --seed S          sampling seed [default: 42]\n"
           "      --max-tokens N    tokens to generate at most [default: 256]\n"
           "\n"
           "Exit status: 0 success, 1 runtime failure (bad checkpoint, data, task file or\n"
           "tokenizer), 2 usage error, 130 interrupted. See nmoe-eval(1).\n");
}

typedef enum { SUB_BPB, SUB_CORE, SUB_ROUTER, SUB_SAMPLE, SUB_SUMMARY, N_SUBS } Sub;
static const char *const sub_names[N_SUBS] = { "bpb", "core", "router", "sample", "summary" };

/* Which subcommands an option belongs to (bit per Sub). */
#define S(x) (1u << (x))
#define ALL_SUBS (S(SUB_BPB) | S(SUB_CORE) | S(SUB_ROUTER) | S(SUB_SAMPLE) | S(SUB_SUMMARY))
#define MODEL_SUBS (S(SUB_BPB) | S(SUB_CORE) | S(SUB_ROUTER) | S(SUB_SAMPLE))

enum {
    OPT_TABLE = 256, OPT_TOKENIZER, OPT_THREADS, OPT_HELP, OPT_CKPT, OPT_SEQ_LEN, OPT_BATCH, OPT_DATA, OPT_SPLIT,
    OPT_TOKENS, OPT_TASKS, OPT_TASK, OPT_LIMIT, OPT_SEED, OPT_EXAMPLES, OPT_LIST, OPT_DUMP, OPT_PROMPT, OPT_TEMP,
    OPT_TOPK, OPT_MAX_TOKENS, OPT_BACKEND, OPT_TOPP, OPT_DRAW, OPT_BUNDLE, OPT_CONTEXT_FACTOR, OPT_YARN
};

static const struct option longs[] = {
    { "output", required_argument, 0, 'o' },      { "table", no_argument, 0, OPT_TABLE },
    { "tokenizer", required_argument, 0, OPT_TOKENIZER }, { "threads", required_argument, 0, OPT_THREADS },
    { "quiet", no_argument, 0, 'q' },             { "verbose", no_argument, 0, 'v' },
    { "help", no_argument, 0, OPT_HELP },         { "version", no_argument, 0, 'V' },
    { "ckpt", required_argument, 0, OPT_CKPT },   { "seq-len", required_argument, 0, OPT_SEQ_LEN },
    { "batch", required_argument, 0, OPT_BATCH }, { "data", required_argument, 0, OPT_DATA },
    { "split", required_argument, 0, OPT_SPLIT }, { "tokens", required_argument, 0, OPT_TOKENS },
    { "tasks", required_argument, 0, OPT_TASKS }, { "task", required_argument, 0, OPT_TASK },
    { "limit", required_argument, 0, OPT_LIMIT }, { "seed", required_argument, 0, OPT_SEED },
    { "examples", no_argument, 0, OPT_EXAMPLES }, { "list", no_argument, 0, OPT_LIST },
    { "dump-prompts", no_argument, 0, OPT_DUMP }, { "prompt", required_argument, 0, OPT_PROMPT },
    { "temperature", required_argument, 0, OPT_TEMP }, { "top-k", required_argument, 0, OPT_TOPK },
    { "max-tokens", required_argument, 0, OPT_MAX_TOKENS }, { "backend", required_argument, 0, OPT_BACKEND },
    { "top-p", required_argument, 0, OPT_TOPP }, { "draw", required_argument, 0, OPT_DRAW },
    { "bundle", required_argument, 0, OPT_BUNDLE },
    { "context-factor", required_argument, 0, OPT_CONTEXT_FACTOR }, { "yarn", no_argument, 0, OPT_YARN },
    { 0, 0, 0, 0 },
};

/* The subcommands each option applies to; one given to another is a usage error. */
static unsigned option_subs(int c)
{
    switch (c) {
    case OPT_TOKENIZER: return MODEL_SUBS;
    case OPT_THREADS: return MODEL_SUBS;
    case OPT_CKPT: case OPT_SEQ_LEN: case OPT_BATCH: case OPT_BACKEND: return MODEL_SUBS;
    case OPT_CONTEXT_FACTOR: case OPT_YARN: return MODEL_SUBS;
    case OPT_DATA: case OPT_SPLIT: case OPT_TOKENS: return S(SUB_BPB) | S(SUB_ROUTER);
    case OPT_TASKS: case OPT_TASK: case OPT_LIMIT: case OPT_EXAMPLES: case OPT_LIST: case OPT_DUMP: case OPT_DRAW:
    case OPT_BUNDLE:
        return S(SUB_CORE);
    case OPT_SEED: return S(SUB_CORE) | S(SUB_SAMPLE);
    case OPT_PROMPT: case OPT_TEMP: case OPT_TOPK: case OPT_TOPP: case OPT_MAX_TOKENS: return S(SUB_SAMPLE);
    case OPT_TABLE: return S(SUB_BPB) | S(SUB_CORE) | S(SUB_SUMMARY);
    default: return ALL_SUBS;
    }
}

/* "--name" of an option code, for messages. */
static const char *option_name(int c, char *buf, size_t cap)
{
    for (const struct option *l = longs; l->name; l++)
        if (l->val == c) {
            snprintf(buf, cap, "--%s", l->name);
            return buf;
        }
    snprintf(buf, cap, "-%c", c);
    return buf;
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    atomic_install_signal_cleanup();
    /* nmoe-eval --help / -h / -V without a subcommand. */
    if (argc >= 2 && argv[1][0] == '-') {
        if (strcmp(argv[1], "--help") == 0) { long_usage(); return NMOE_EXIT_OK; }
        if (strcmp(argv[1], "-h") == 0) { short_usage(stdout); return NMOE_EXIT_OK; }
        if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
            printf("nmoe-eval %s\n", NMOE_VERSION);
            return NMOE_EXIT_OK;
        }
    }
    if (argc < 2) {
        short_usage(stderr);
        die_usage("no subcommand given (bpb, core, router, sample or summary)");
    }
    Sub sub = N_SUBS;
    for (int i = 0; i < N_SUBS; i++)
        if (strcmp(argv[1], sub_names[i]) == 0) sub = (Sub)i;
    if (sub == N_SUBS) die_usage("unknown subcommand '%s' (bpb, core, router, sample or summary)", argv[1]);

    EvalOptions o;
    eval_options_defaults(&o);
    const char **task_names = xcalloc((size_t)argc, sizeof *task_names);
    o.task_names = task_names;
    int verbosity = NMOE_NORMAL;
    bool output_set = false;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, ":o:qvhV", longs, NULL)) != -1) {
        char name[32];
        if (c != ':' && c != '?' && !(option_subs(c) & S(sub)))
            die_usage("%s does not apply to '%s'", option_name(c, name, sizeof name), sub_names[sub]);
        switch (c) {
        case 'o': o.output = optarg; output_set = true; break;
        case OPT_TABLE: o.table = true; break;
        case OPT_TOKENIZER: o.tokenizer = optarg; break;
        case OPT_THREADS: omp_set_num_threads((int)parse_int(optarg, "--threads", 1, 4096)); break;
        case 'q': verbosity = NMOE_QUIET; break;
        case 'v': verbosity = verbosity >= NMOE_VERBOSE ? NMOE_DEBUG : NMOE_VERBOSE; break;
        case 'h': short_usage(stdout); free(task_names); return NMOE_EXIT_OK;
        case OPT_HELP: long_usage(); free(task_names); return NMOE_EXIT_OK;
        case 'V': printf("nmoe-eval %s\n", NMOE_VERSION); free(task_names); return NMOE_EXIT_OK;
        case OPT_CKPT: o.ckpt = optarg; break;
        case OPT_SEQ_LEN: o.seq_len = parse_int(optarg, "--seq-len", 2, 1 << 20); break;
        case OPT_CONTEXT_FACTOR: o.context_factor = parse_double(optarg, "--context-factor", 1, 1024); break;
        case OPT_YARN: o.yarn = true; break;
        case OPT_BATCH: o.batch = (int)parse_int(optarg, "--batch", 1, 4096); break;
        case OPT_BACKEND: o.backend = optarg; break;
        case OPT_DATA: o.data = optarg; break;
        case OPT_SPLIT:
            if (strcmp(optarg, "val") && strcmp(optarg, "train") && strcmp(optarg, "all"))
                die_usage("--split %s: expected val, train or all", optarg);
            o.split = optarg;
            break;
        case OPT_TOKENS: o.tokens = parse_size(optarg, "--tokens"); o.tokens_set = true; break;
        case OPT_TASKS: o.tasks = optarg; break;
        case OPT_BUNDLE: o.bundle = optarg; break;
        case OPT_TASK: task_names[o.n_task_names++] = optarg; break;
        case OPT_LIMIT: o.limit = (uint64_t)parse_int(optarg, "--limit", 0, INT64_MAX); break;
        case OPT_SEED: o.seed = (uint64_t)parse_int(optarg, "--seed", 0, (int64_t)1 << 53); o.seed_set = true; break;
        case OPT_DRAW:
            if (!eval_draw_parse(optarg, &o.draw)) die_usage("--draw %s: expected philox or python", optarg);
            o.draw_set = true;
            break;
        case OPT_EXAMPLES: o.examples = true; break;
        case OPT_LIST: o.list = true; break;
        case OPT_DUMP: o.dump_prompts = true; break;
        case OPT_PROMPT: o.prompt = optarg; break;
        case OPT_TEMP: o.temperature = parse_double(optarg, "--temperature", 0.0, 1e6); break;
        case OPT_TOPK: o.top_k = parse_int(optarg, "--top-k", 0, INT32_MAX); break;
        case OPT_TOPP:
            o.top_p = parse_double(optarg, "--top-p", 0.0, 1.0);
            if (o.top_p <= 0.0) die_usage("--top-p %s: must be above 0 (1 = no limit)", optarg);
            break;
        case OPT_MAX_TOKENS: o.max_tokens = parse_int(optarg, "--max-tokens", 0, 1 << 30); break;
        case ':': die_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt && optopt < 256) die_usage("unknown option '-%c'", optopt);
            die_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    nmoe_set_verbosity(verbosity);
    const bool to_stdout = !o.output || strcmp(o.output, "-") == 0;
    if (o.table && output_set && to_stdout) die_usage("--table and -o - both want stdout");

    int status;
    if (sub == SUB_SUMMARY) {
        if (optind == argc) die_usage("summary: no input files");
        /* NDJSON to -o, or to stdout unless --table took it. */
        const char *out = o.output ? o.output : (o.table ? NULL : "-");
        eval_summary_run((const char *const *)argv + optind, (size_t)(argc - optind), out, o.table ? stdout : NULL);
        free(task_names);
        return NMOE_EXIT_OK;
    }
    if (optind < argc) die_usage("%s takes no file arguments ('%s')", sub_names[sub], argv[optind]);
    if (sub == SUB_CORE && o.list && o.dump_prompts) die_usage("--list and --dump-prompts do not go together");
    if (sub == SUB_CORE && o.tasks && o.bundle) die_usage("--tasks and --bundle do not go together: give one suite");
    if (sub == SUB_ROUTER && !o.tokens_set) o.tokens = EVAL_RUN_DEFAULT_ROUTER_TOKENS;
    if (sub == SUB_SAMPLE && o.table) die_usage("--table does not apply to 'sample'");
    if (sub != SUB_CORE || !(o.list || o.dump_prompts))
        if (!o.ckpt) die_usage("%s: --ckpt DIR is required", sub_names[sub]);

    switch (sub) {
    case SUB_BPB: status = eval_run_bpb(&o); break;
    case SUB_CORE: status = eval_run_core(&o); break;
    case SUB_ROUTER: status = eval_run_router(&o); break;
    case SUB_SAMPLE: status = eval_run_sample(&o); break;
    default: status = NMOE_EXIT_USAGE;
    }
    free(task_names);
    return status;
}
