/* nmoe-tok: byte-level BPE tokenizer (GPT-2 and tiktoken compatible): encode text
 * into a token stream, decode it back, train a vocabulary. main parses the command
 * line; the work is in libcommon (tokenizer, text_input, bpe_train, tokstream). */
#include "base/atomic_file.h"
#include "tok/bpe_train.h"
#include "base/cli.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "tok/text_input.h"
#include "tok/tokenizer.h"
#include "formats/tokstream.h"

#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SHORT_USAGE[] =
    "Usage: nmoe-tok encode -t TOKENIZER [--ids] [--eot] [-o FILE] [FILE...]\n"
    "       nmoe-tok decode -t TOKENIZER [-o FILE] [FILE]\n"
    "       nmoe-tok train --vocab-size N -o FILE [--pattern NAME] [FILE...]\n"
    "       nmoe-tok info -t TOKENIZER\n"
    "       nmoe-tok convert -t TOKENIZER -o FILE\n"
    "Try 'nmoe-tok --help' for all options.\n";

static const char HELP[] =
    "Usage: nmoe-tok COMMAND [OPTIONS] [FILE...]\n"
    "Byte-level BPE tokenizer, exact to GPT-2 and tiktoken: encode text into a token\n"
    "stream (nmoe-tokens(5)), decode it back to the original bytes, train a vocabulary.\n"
    "\n"
    "Commands:\n"
    "  encode     text (files, JSONL, .gz/.zst, .tar/.zip archives) -> token stream\n"
    "  decode     token stream, or the --ids text view -> the original bytes\n"
    "  train      learn a byte-level BPE vocabulary, write an nmoe tokenizer file\n"
    "  info       describe a tokenizer: sizes, identity, split pattern, special tokens\n"
    "  convert    write a tokenizer as an nmoe tokenizer file (nmoe-tokenizer(5))\n"
    "\n"
    "FILE '-' or no FILE means standard input.\n"
    "\n"
    "Options:\n"
    "  -t, --tokenizer=TOK  nmoe tokenizer file, folder with encoder.json + vocab.bpe,\n"
    "                       .tiktoken file, or a name: gpt2, r50k_base, cl100k_base,\n"
    "                       o200k_base [default: none, required by encode, decode, info, convert]\n"
    "  -o, --output=FILE    write here (atomically) instead of standard output\n"
    "                       [default: - (stdout); required by train and convert]\n"
    "      --ids            encode: write one line per document of space-separated ids\n"
    "                       [default: off, binary token stream]\n"
    "      --eot            encode: append the <|endoftext|> id after each document [default: off]\n"
    "      --allow-special  encode: special token texts in the input become their ids\n"
    "                       [default: off, encoded as plain text]\n"
    "      --field=NAME     JSONL field holding the text [default: text]\n"
    "      --jsonl          read every input, stdin included, as JSONL [default: off, by name]\n"
    "      --skip-bad       count and skip JSON lines that are bad or lack the field\n"
    "                       [default: off, stop at the first]\n"
    "  -j, --threads=N      threads for encode and train; 0 means all cores [default: 0]\n"
    "  -f, --force          write a binary token stream to a terminal [default: off]\n"
    "      --vocab-size=N   train: ids in all, special tokens included; K/M suffixes\n"
    "                       [default: none, required]\n"
    "      --pattern=NAME   train: split pattern gpt2, cl100k or o200k [default: gpt2]\n"
    "      --special=TEXT   train: another special token besides <|endoftext|>;\n"
    "                       repeat for more [default: none]\n"
    "  -q, --quiet          only errors [default: off]\n"
    "  -v, --verbose        progress and figures (documents, tokens, MB/s); twice for\n"
    "                       where the time went [default: off]\n"
    "  -h                   short usage\n"
    "      --help           this help\n"
    "  -V, --version        print the version\n"
    "\n"
    "Named tokenizers are looked up under tokenizers/ in $NMOE_DATA, then\n"
    "<bindir>/../data and <bindir>/../share/nmoe.\n";

enum {
    OPT_IDS = 256, OPT_EOT, OPT_ALLOW_SPECIAL, OPT_FIELD, OPT_JSONL, OPT_SKIP_BAD, OPT_VOCAB_SIZE, OPT_PATTERN,
    OPT_SPECIAL, OPT_HELP
};

typedef struct {
    const char *command;
    const char *tokenizer, *output, *field, *pattern;
    bool ids, eot, allow_special, jsonl, skip_bad, force;
    int threads;
    uint32_t vocab_size;
    const char **special;
    uint32_t n_special;
    char **inputs;
    int n_inputs;
    char *used[32]; /* long names of the options given, to check they fit the command */
    int n_used;
} Args;

/* Output: stdout, or an atomically written file. */
typedef struct {
    FILE *fp;
    AtomicFile *af;
    const char *name;
} Output;

static Output output_open(const char *path)
{
    Output o = { stdout, NULL, "-" };
    if (!path || strcmp(path, "-") == 0) stream_buffer_big(stdout);
    else {
        o.af = atomic_open(path);
        o.fp = atomic_stream(o.af);
        o.name = path;
    }
    return o;
}

static void output_close(Output *o)
{
    if (o->af) atomic_commit(o->af);
    else if (fflush(stdout) != 0) die("-: write failed");
}

/* Reading documents in batches ------------------------------------------------- */

typedef void (*BatchFn)(void *ctx, const TextSpan *docs, size_t n);

/* Feed every document of every input to fn, in order, in batches of about
 * batch_bytes read ahead on another thread. Returns the documents read. */
static uint64_t for_each_batch(const Args *a, size_t batch_bytes, BatchFn fn, void *ctx, uint64_t *skipped)
{
    TextInputOptions topt = { a->field, a->jsonl, a->skip_bad };
    TextBatches *tb = text_batches_open(a->inputs, a->n_inputs, &topt, batch_bytes, 2);
    const TextSpan *docs;
    size_t n;
    while (text_batches_next(tb, &docs, &n)) fn(ctx, docs, n);
    uint64_t total = text_batches_docs(tb);
    *skipped = text_batches_skipped(tb);
    text_batches_close(tb);
    return total;
}

/* encode ------------------------------------------------------------------------ */

static int threads_of(const Args *a) { return a->threads > 0 ? a->threads : omp_get_num_procs(); }

static int cmd_encode(const Args *a)
{
    Tokenizer *tok = tokenizer_load_or_die(a->tokenizer);
    if (a->eot && tok->eot_id < 0) die("%s: the tokenizer has no %s token for --eot", a->tokenizer, TOKENIZER_EOT_TEXT);
    Output out = output_open(a->output);
    if (!a->ids) refuse_binary_to_tty(out.fp, a->force);
    TokEncodeJob job = { a->ids, a->allow_special, a->eot, threads_of(a), { a->field, a->jsonl, a->skip_bad } };
    TokEncodeStats st;
    double t0 = monotonic_s();
    tok_encode_inputs(tok, a->inputs, a->n_inputs, &job, out.fp, out.name, &st);
    double secs = monotonic_s() - t0;
    output_close(&out);
    if (st.skipped) warnx("skipped %llu bad JSON line(s)", (unsigned long long)st.skipped);
    info(NMOE_VERBOSE, "%s: %llu documents, %llu bytes, %llu tokens in %.3f s (%.1f MB/s, %d threads)\n", nmoe_prog(),
         (unsigned long long)st.docs, (unsigned long long)st.bytes, (unsigned long long)st.tokens, secs,
         secs > 0 ? (double)st.bytes / 1e6 / secs : 0.0, job.threads);
    /* Where the time went: a reader or writer near 100% busy is the bottleneck. */
    double w = st.wall_s > 0 ? st.wall_s : 1e-9;
    info(NMOE_DEBUG, "%s: stages over %.3f s: reader %.0f%% busy, writer %.0f%% busy; %d encoding threads %.0f%% busy "
         "(encode %.3f s, join %.3f s, plan %.3f s)\n", nmoe_prog(), st.wall_s, 100 * st.reader_s / w, 100 * st.writer_s / w,
         job.threads, 100 * (st.encode_s + st.join_s + st.plan_s) / (w * job.threads), st.encode_s, st.join_s, st.plan_s);
    tokenizer_free(tok);
    return 0;
}

/* decode ------------------------------------------------------------------------ */

static void put_bytes(FILE *fp, const uint8_t *b, size_t n)
{
    if (n && fwrite(b, 1, n, fp) != n) die("write failed");
}

static const uint8_t *token_or_die(const Tokenizer *tok, uint32_t id, size_t *len, const char *name, uint64_t line)
{
    const uint8_t *b = tokenizer_token_bytes(tok, id, len);
    if (!b) {
        if (line) die("%s:%llu: id %u names no token of this tokenizer", name, (unsigned long long)line, id);
        die("%s: id %u names no token of this tokenizer", name, id);
    }
    return b;
}

static int cmd_decode(const Args *a)
{
    if (a->n_inputs > 1) die_usage("decode reads one input");
    Tokenizer *tok = tokenizer_load_or_die(a->tokenizer);
    const char *name = a->n_inputs ? a->inputs[0] : "-";
    FILE *in = open_input(name);
    stream_buffer_big(in);
    Output out = output_open(a->output);
    int c = fgetc(in);
    if (c == 'N') { /* a token stream: "NMOETOKS"; the text view holds digits and spaces */
        ungetc(c, in);
        TokReader *r = tokr_open(in, name);
        const TokHeader *h = tokr_header(r);
        if (h->vocab_id != tok->vocab_id || h->vocab_size != tok->vocab_size) {
            char x[17], y[17];
            hash64_hex(h->vocab_id, x);
            hash64_hex(tok->vocab_id, y);
            die("%s: the stream was made with vocabulary %s (%u ids), but %s is %s (%u ids)", name, x, h->vocab_size,
                a->tokenizer, y, tok->vocab_size);
        }
        const uint32_t *ids;
        size_t n;
        while (tokr_next(r, &ids, &n))
            for (size_t i = 0; i < n; i++) {
                size_t len;
                const uint8_t *b = token_or_die(tok, ids[i], &len, name, 0);
                put_bytes(out.fp, b, len);
            }
        tokr_close(r);
    } else if (c != EOF) {
        ungetc(c, in);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        uint64_t lineno = 0;
        while ((n = getline(&line, &cap, in)) >= 0) {
            lineno++;
            char *p = line, *end = line + n;
            if (end > p && end[-1] == '\n') end--;
            while (p < end) {
                if (*p == ' ') { p++; continue; }
                if (*p < '0' || *p > '9')
                    die("%s:%llu: column %zu: expected a token id (the --ids view holds ids and spaces only)", name,
                        (unsigned long long)lineno, (size_t)(p - line) + 1);
                uint64_t v = 0;
                while (p < end && *p >= '0' && *p <= '9' && v <= UINT32_MAX) v = v * 10 + (uint64_t)(*p++ - '0');
                if (v > UINT32_MAX) die("%s:%llu: id out of range", name, (unsigned long long)lineno);
                size_t len;
                const uint8_t *b = token_or_die(tok, (uint32_t)v, &len, name, lineno);
                put_bytes(out.fp, b, len);
            }
        }
        if (ferror(in)) die("%s: read failed", name);
        free(line);
    }
    close_input(in);
    output_close(&out);
    tokenizer_free(tok);
    return 0;
}

/* train ------------------------------------------------------------------------- */

typedef struct {
    BpeTrainer *tr;
    int threads;
} TrainCtx;

static void train_batch(void *vctx, const TextSpan *docs, size_t n)
{
    TrainCtx *c = vctx;
    bpe_train_add(c->tr, docs, n, c->threads);
}

static int cmd_train(const Args *a)
{
    if (!a->vocab_size) die_usage("train needs --vocab-size");
    if (!a->output || strcmp(a->output, "-") == 0) die_usage("train needs -o FILE");
    int kind = pretok_kind_from_name(a->pattern ? a->pattern : "gpt2");
    if (kind < 0) die_usage("--pattern: '%s' is not gpt2, cl100k or o200k", a->pattern);
    BpeTrainOptions opt = { a->vocab_size, (PretokKind)kind, a->special, a->n_special };
    TrainCtx c = { bpe_train_new(&opt), threads_of(a) };
    double t0 = monotonic_s();
    uint64_t skipped;
    uint64_t docs = for_each_batch(a, (size_t)c.threads * (8u << 20), train_batch, &c, &skipped);
    double t_count = monotonic_s() - t0;
    uint64_t bytes = bpe_train_bytes(c.tr), pieces = bpe_train_distinct_pieces(c.tr);
    uint32_t merges;
    Tokenizer *tok = bpe_train_finish(c.tr, &merges);
    double secs = monotonic_s() - t0;
    tokenizer_write_file(tok, a->output);
    if (skipped) warnx("skipped %llu bad JSON line(s)", (unsigned long long)skipped);
    if (tok->vocab_size < a->vocab_size)
        warnx("the text held only enough pairs for %u merges: the vocabulary has %u ids, not %u", merges,
              tok->vocab_size, a->vocab_size);
    char id[17];
    hash64_hex(tok->vocab_id, id);
    info(NMOE_VERBOSE, "%s: %llu documents, %llu bytes, %llu distinct pieces; %u merges; counting %.3f s, total %.3f s (%.2f MB/s)\n",
         nmoe_prog(), (unsigned long long)docs, (unsigned long long)bytes, (unsigned long long)pieces, merges, t_count,
         secs, secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
    info(NMOE_NORMAL, "%s: wrote %s: %u ids, vocab_id %s\n", nmoe_prog(), a->output, tok->vocab_size, id);
    tokenizer_free(tok);
    return 0;
}

/* info, convert ------------------------------------------------------------------ */

static int cmd_info(const Args *a)
{
    Tokenizer *tok = tokenizer_load_or_die(a->tokenizer);
    char id[17];
    hash64_hex(tok->vocab_id, id);
    uint64_t total = 0, longest = 0;
    for (uint32_t r = 0; r < tok->n_ranks; r++) {
        total += tok->token_len[r];
        if (tok->token_len[r] > longest) longest = tok->token_len[r];
    }
    printf("tokenizer: %s\nvocab_size: %u\nmergeable_tokens: %u\nspecial_tokens: %u\nvocab_id: %s\n", a->tokenizer,
           tok->vocab_size, tok->n_ranks, tok->n_special, id);
    printf("pattern: %s\nmean_token_bytes: %.3f\nlongest_token_bytes: %llu\n", pretok_kind_name(tok->pattern_kind),
           tok->n_ranks ? (double)total / tok->n_ranks : 0.0, (unsigned long long)longest);
    for (uint32_t i = 0; i < tok->n_special; i++) printf("special: %u %s\n", tok->special[i].id, tok->special[i].text);
    if (fflush(stdout) != 0) die("-: write failed");
    tokenizer_free(tok);
    return 0;
}

static int cmd_convert(const Args *a)
{
    if (!a->output || strcmp(a->output, "-") == 0) die_usage("convert needs -o FILE");
    Tokenizer *tok = tokenizer_load_or_die(a->tokenizer);
    tokenizer_write_file(tok, a->output);
    char id[17];
    hash64_hex(tok->vocab_id, id);
    info(NMOE_NORMAL, "%s: wrote %s: %u ids, vocab_id %s\n", nmoe_prog(), a->output, tok->vocab_size, id);
    tokenizer_free(tok);
    return 0;
}

/* main --------------------------------------------------------------------------- */

static void require_fit(const Args *a, const char *allowed)
{
    for (int i = 0; i < a->n_used; i++) {
        char key[40];
        snprintf(key, sizeof key, " %s ", a->used[i]);
        if (!strstr(allowed, key)) die_usage("option --%s does not apply to '%s'", a->used[i], a->command);
    }
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    atomic_install_signal_cleanup();
    static const struct option longs[] = {
        { "tokenizer", required_argument, 0, 't' }, { "output", required_argument, 0, 'o' },
        { "ids", no_argument, 0, OPT_IDS }, { "eot", no_argument, 0, OPT_EOT },
        { "allow-special", no_argument, 0, OPT_ALLOW_SPECIAL }, { "field", required_argument, 0, OPT_FIELD },
        { "jsonl", no_argument, 0, OPT_JSONL }, { "skip-bad", no_argument, 0, OPT_SKIP_BAD },
        { "threads", required_argument, 0, 'j' }, { "force", no_argument, 0, 'f' },
        { "vocab-size", required_argument, 0, OPT_VOCAB_SIZE }, { "pattern", required_argument, 0, OPT_PATTERN },
        { "special", required_argument, 0, OPT_SPECIAL }, { "quiet", no_argument, 0, 'q' },
        { "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, OPT_HELP }, { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 }
    };
    Args a = { 0 };
    a.field = "text";
    int verbosity = NMOE_NORMAL, opt;
    /* The command comes first, but -h, --help and -V work alone too. */
    if (argc >= 2 && argv[1][0] != '-') {
        a.command = argv[1];
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    while ((opt = getopt_long(argc, argv, "t:o:j:fqvhV", longs, NULL)) != -1) {
        const char *name = NULL;
        switch (opt) {
        case 't': a.tokenizer = optarg; name = "tokenizer"; break;
        case 'o': a.output = optarg; name = "output"; break;
        case OPT_IDS: a.ids = true; name = "ids"; break;
        case OPT_EOT: a.eot = true; name = "eot"; break;
        case OPT_ALLOW_SPECIAL: a.allow_special = true; name = "allow-special"; break;
        case OPT_FIELD: a.field = optarg; name = "field"; break;
        case OPT_JSONL: a.jsonl = true; name = "jsonl"; break;
        case OPT_SKIP_BAD: a.skip_bad = true; name = "skip-bad"; break;
        case 'j': a.threads = (int)parse_int(optarg, "--threads", 0, 4096); name = "threads"; break;
        case 'f': a.force = true; name = "force"; break;
        case OPT_VOCAB_SIZE: {
            uint64_t v = parse_size(optarg, "--vocab-size");
            if (v < 257 || v > 0x7FFFFFFFu) die_usage("--vocab-size: %llu is out of range [257, 2147483647]", (unsigned long long)v);
            a.vocab_size = (uint32_t)v;
            name = "vocab-size";
            break;
        }
        case OPT_PATTERN: a.pattern = optarg; name = "pattern"; break;
        case OPT_SPECIAL:
            a.special = xrealloc(a.special, (a.n_special + 1) * sizeof *a.special);
            a.special[a.n_special++] = optarg;
            name = "special";
            break;
        case 'q': verbosity = NMOE_QUIET; break;
        case 'v': verbosity = verbosity < NMOE_VERBOSE ? NMOE_VERBOSE : verbosity + 1; break;
        case 'h': fputs(SHORT_USAGE, stdout); return 0;
        case OPT_HELP: fputs(HELP, stdout); return 0;
        case 'V': printf("nmoe-tok %s\n", NMOE_VERSION); return 0;
        default: fputs(SHORT_USAGE, stderr); return NMOE_EXIT_USAGE;
        }
        if (name && a.n_used < 32) a.used[a.n_used++] = (char *)name;
    }
    nmoe_set_verbosity(verbosity);
    a.inputs = argv + optind;
    a.n_inputs = argc - optind;
    if (!a.command) die_usage("no command given (encode, decode, train, info or convert)");
    int rc;
    if (!strcmp(a.command, "encode")) {
        require_fit(&a, " tokenizer output ids eot allow-special field jsonl skip-bad threads force ");
        if (!a.tokenizer) die_usage("encode needs -t TOKENIZER");
        rc = cmd_encode(&a);
    } else if (!strcmp(a.command, "decode")) {
        require_fit(&a, " tokenizer output ");
        if (!a.tokenizer) die_usage("decode needs -t TOKENIZER");
        rc = cmd_decode(&a);
    } else if (!strcmp(a.command, "train")) {
        require_fit(&a, " output field jsonl skip-bad threads vocab-size pattern special ");
        rc = cmd_train(&a);
    } else if (!strcmp(a.command, "info")) {
        require_fit(&a, " tokenizer ");
        if (!a.tokenizer) die_usage("info needs -t TOKENIZER");
        if (a.n_inputs) die_usage("info takes no FILE");
        rc = cmd_info(&a);
    } else if (!strcmp(a.command, "convert")) {
        require_fit(&a, " tokenizer output ");
        if (!a.tokenizer) die_usage("convert needs -t TOKENIZER");
        if (a.n_inputs) die_usage("convert takes no FILE");
        rc = cmd_convert(&a);
    } else {
        die_usage("unknown command '%s' (encode, decode, train, info or convert)", a.command);
    }
    free(a.special);
    return rc;
}
