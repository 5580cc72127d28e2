/* nmoe-shard: pack token streams into checksummed shard files, import llm.c .bin and
 * .npy token files, and inspect, verify and read shards back (nmoe-shard(1)).
 *
 * main parses the command line and sets policy; the formats live in libcommon
 * (tokstream.h, shard.h, shard_write.h, shard_import.h, shard_manifest.h). */
#include "base/atomic_file.h"
#include "base/cli.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/ndjson.h"
#include "shard/shard.h"
#include "shard/shard_ext.h"
#include "shard/shard_import.h"
#include "shard/shard_stream.h"
#include "shard/shard_write.h"
#include "formats/tokstream.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SHARD_TOKENS "100M"
#define DEFAULT_LEVEL 3

/* Options, and which command each belongs to (a mask of commands). */
enum { CMD_PACK = 1, CMD_IMPORT = 2, CMD_INFO = 4, CMD_VERIFY = 8, CMD_CAT = 16 };

enum {
    OPT_SHARD_TOKENS = 256, OPT_VAL_FRACTION, OPT_SEED, OPT_ZSTD, OPT_LEVEL, OPT_PREFIX, OPT_FROM,
    OPT_VOCAB_SIZE, OPT_EOT, OPT_VOCAB_ID, OPT_JSON, OPT_IDS, OPT_HELP
};

typedef struct {
    int cmd;
    const char *cmd_name;
    const char *out_dir;
    uint64_t shard_tokens;
    double val_fraction;
    uint64_t seed;
    bool zstd;
    int level;
    int threads;
    const char *prefix;
    ImportFormat from;
    bool from_set;
    uint32_t vocab_size;
    int64_t eot;
    uint64_t vocab_id;
    bool json, ids, force;
    char **files;
    int n_files;
} Opts;

static void short_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: nmoe-shard pack -o DIR [OPTIONS] [FILE]\n"
            "       nmoe-shard import --from llmc|npy -o DIR [OPTIONS] FILE...\n"
            "       nmoe-shard info [--json] FILE|DIR...\n"
            "       nmoe-shard verify FILE|DIR...\n"
            "       nmoe-shard cat [--ids] FILE|DIR...\n"
            "Try 'nmoe-shard --help' for all options.\n");
}

static void long_usage(void)
{
    printf("Usage: nmoe-shard COMMAND [OPTIONS] [FILE...]\n"
           "Pack token streams (nmoe-tokens(5)) into checksummed shard files (nmoe-shard(5)),\n"
           "import llm.c and .npy token files, and inspect, verify and read shards back.\n"
           "\n"
           "Commands:\n"
           "  pack -o DIR [FILE]        read a token stream from FILE (stdin when absent or -), write\n"
           "                            DIR/train-000000.shard ..., DIR/val-000000.shard ... and,\n"
           "                            last, DIR/manifest.json\n"
           "  import --from FMT -o DIR FILE...\n"
           "                            the same from llm.c .bin (llmc) or .npy (npy) token files\n"
           "  info FILE|DIR...          header and counts (a pack DIR is summarized from its manifest)\n"
           "  verify FILE|DIR...        full check; prints 'FILE: OK' or 'FILE: FAILED: reason'\n"
           "  cat FILE|DIR...           back to one token stream on stdout; a pack DIR comes back in\n"
           "                            its original document order, byte for byte\n"
           "\n"
           "pack and import:\n"
           "  -o, --output DIR          directory to write (created when missing) [default: none, required]\n"
           "      --shard-tokens N      a shard closes before a document would take it past N tokens;\n"
           "                            K, M, G suffixes (powers of 1024) [default: %s]\n"
           "      --val-fraction F      fraction of documents that go to the val split [default: 0]\n"
           "      --seed S              seed of the train/val split, 0 .. 2^53 [default: 0]\n"
           "      --zstd                compress each shard's tokens with zstd [default: off]\n"
           "      --level L             zstd level 1..19 (needs --zstd) [default: %d]\n"
           "  -T, --threads N           zstd worker threads, 0 = one per core; the output does not\n"
           "                            depend on it [default: 0]\n"
           "      --prefix NAME         name shards NAME-train-000000.shard ... [default: none]\n"
           "import:\n"
           "      --from FMT            llmc (llm.c / modded-nanogpt .bin) or npy [default: none, required]\n"
           "      --vocab-size N        vocabulary size; every id must be below it [default: 50257, GPT-2]\n"
           "      --eot ID|none         a document starts at each ID, which stays its first token;\n"
           "                            none: each file is one document [default: 50256, GPT-2]\n"
           "      --vocab-id HEX        tokenizer identity to record, 0 = unknown [default: 0]\n"
           "info:\n"
           "      --json                one JSON object per FILE on stdout [default: a table]\n"
           "cat:\n"
           "      --ids                 text instead: one document per line, ids separated by spaces\n"
           "                            [default: off]\n"
           "common:\n"
           "  -f, --force               write binary data to a terminal, read it from one; let pack and\n"
           "                            import replace an existing pack in DIR [default: off]\n"
           "  -q, --quiet               only errors on stderr [default: off]\n"
           "  -v, --verbose             progress and detail on stderr; twice for more [default: off]\n"
           "  -h                        short usage\n"
           "      --help                this help\n"
           "  -V, --version             print the version\n"
           "\n"
           "Exit status: 0 success, 1 failure (bad input, failed verification, I/O error),\n"
           "2 usage error, 130 interrupted. See nmoe-shard(1).\n",
           DEFAULT_SHARD_TOKENS, DEFAULT_LEVEL);
}

/* Output helpers ----------------------------------------------------------------- */

static void finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) die("stdout: write failed: %s", strerror(errno ? errno : EIO));
}

static void hex64(uint64_t v, char out[17]) { hash64_hex(v, out); }

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* pack ------------------------------------------------------------------------- */

static PackOptions pack_options(const Opts *o, uint32_t vocab_size, uint64_t vocab_id, uint32_t stream_width,
                                const char *source)
{
    PackOptions p = { 0 };
    p.dir = o->out_dir;
    p.prefix = o->prefix;
    p.shard_tokens = o->shard_tokens;
    p.val_fraction = o->val_fraction;
    p.seed = o->seed;
    p.force = o->force;
    p.source = source;
    p.w.vocab_size = vocab_size;
    p.w.vocab_id = vocab_id;
    p.w.stream_token_bytes = stream_width;
    p.w.zstd = o->zstd;
    p.w.level = o->level;
    p.w.threads = o->threads > 0 ? o->threads : online_cores();
    return p;
}

static void report_pack(const char *dir, const Manifest *m)
{
    if (nmoe_verbosity() < NMOE_NORMAL) return;
    fprintf(stderr, "%s: %s: %llu documents, %llu tokens -> %d train shard%s (%llu documents), %d val shard%s (%llu documents)\n",
            nmoe_prog(), dir, (unsigned long long)m->n_docs, (unsigned long long)m->n_tokens,
            m->split[SPLIT_TRAIN].n_shards, m->split[SPLIT_TRAIN].n_shards == 1 ? "" : "s",
            (unsigned long long)m->split[SPLIT_TRAIN].n_docs, m->split[SPLIT_VAL].n_shards,
            m->split[SPLIT_VAL].n_shards == 1 ? "" : "s", (unsigned long long)m->split[SPLIT_VAL].n_docs);
}

static int cmd_pack(const Opts *o)
{
    const char *in = o->n_files ? o->files[0] : "-";
    bool from_stdin = strcmp(in, "-") == 0;
    if (from_stdin && !o->force && isatty(STDIN_FILENO))
        die_usage("refusing to read binary data from a terminal (pipe a token stream in, or use -f)");
    atomic_install_signal_cleanup();
    FILE *fp = open_input(in);
    stream_buffer_big(fp);
    TokReader *r = tokr_open(fp, from_stdin ? "stdin" : in);
    const TokHeader *h = tokr_header(r);
    PackOptions po = pack_options(o, h->vocab_size, h->vocab_id, h->token_bytes, "pack");
    Pack *pack = pack_open(&po);
    const uint32_t *ids;
    size_t n;
    while (tokr_next(r, &ids, &n)) pack_doc(pack, ids, n);
    tokr_close(r);
    close_input(fp);
    Manifest m;
    pack_finish(pack, &m);
    report_pack(o->out_dir, &m);
    manifest_free(&m);
    return NMOE_EXIT_OK;
}

static int cmd_import(const Opts *o)
{
    if (o->eot != IMPORT_NO_EOT && o->eot >= (int64_t)o->vocab_size)
        die_usage("--eot %lld is not below the vocabulary size %u", (long long)o->eot, o->vocab_size);
    atomic_install_signal_cleanup();
    PackOptions po = pack_options(o, o->vocab_size, o->vocab_id, token_bytes_for_vocab(o->vocab_size),
                                  o->from == IMPORT_LLMC ? "import-llmc" : "import-npy");
    Pack *pack = pack_open(&po);
    import_files(o->from, o->files, o->n_files, o->eot, o->vocab_size, pack);
    Manifest m;
    pack_finish(pack, &m);
    report_pack(o->out_dir, &m);
    manifest_free(&m);
    return NMOE_EXIT_OK;
}

/* info ------------------------------------------------------------------------- */

static void info_shard_json(const char *path, const Shard *s)
{
    const ShardHeader *h = shard_header(s);
    char hex[17];
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "file", path);
    nd_str(&l, "kind", "shard");
    nd_int(&l, "version", h->version);
    nd_int(&l, "token_bytes", h->token_bytes);
    nd_int(&l, "stream_token_bytes", h->stream_token_bytes);
    nd_int(&l, "vocab_size", h->vocab_size);
    hex64(h->vocab_id, hex);
    nd_str(&l, "vocab_id", hex);
    nd_int(&l, "n_tokens", (int64_t)h->n_tokens);
    nd_int(&l, "n_docs", (int64_t)h->n_docs);
    nd_bool(&l, "compressed", h->flags & SHARD_FLAG_ZSTD);
    nd_int(&l, "tokens_bytes", (int64_t)h->tokens_size);
    nd_int(&l, "file_bytes", (int64_t)h->file_bytes);
    if (h->n_docs) {
        nd_int(&l, "first_seq", (int64_t)shard_doc_seq(s, 0));
        nd_int(&l, "last_seq", (int64_t)shard_doc_seq(s, h->n_docs - 1));
    }
    hex64(h->header_check, hex);
    nd_str(&l, "checksum", hex);
    nd_emit(&l, stdout, "stdout");
    nd_free(&l);
}

static uint64_t split_bytes(const ManifestSplit *sp)
{
    uint64_t b = 0;
    for (int i = 0; i < sp->n_shards; i++) b += sp->shards[i].bytes;
    return b;
}

static void info_pack_json(const char *dir, const Manifest *m)
{
    char hex[17];
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "file", dir);
    nd_str(&l, "kind", "pack");
    nd_int(&l, "version", m->version);
    nd_str(&l, "source", m->source);
    nd_int(&l, "token_bytes", m->token_bytes);
    nd_int(&l, "stream_token_bytes", m->stream_token_bytes);
    nd_int(&l, "vocab_size", m->vocab_size);
    hex64(m->vocab_id, hex);
    nd_str(&l, "vocab_id", hex);
    nd_int(&l, "n_tokens", (int64_t)m->n_tokens);
    nd_int(&l, "n_docs", (int64_t)m->n_docs);
    nd_bool(&l, "compressed", m->compressed);
    nd_int(&l, "shard_tokens", (int64_t)m->shard_tokens);
    nd_f64(&l, "val_fraction", m->val_fraction);
    nd_int(&l, "seed", (int64_t)m->seed);
    nd_obj_begin(&l, "splits");
    for (int k = 0; k < N_SPLITS; k++) {
        const ManifestSplit *sp = &m->split[k];
        nd_obj_begin(&l, split_names[k]);
        nd_int(&l, "shards", sp->n_shards);
        nd_int(&l, "n_tokens", (int64_t)sp->n_tokens);
        nd_int(&l, "n_docs", (int64_t)sp->n_docs);
        nd_int(&l, "bytes", (int64_t)split_bytes(sp));
        nd_obj_end(&l);
    }
    nd_obj_end(&l);
    nd_emit(&l, stdout, "stdout");
    nd_free(&l);
}

static void info_pack_table(const char *dir, const Manifest *m)
{
    char hex[17];
    hex64(m->vocab_id, hex);
    int shards = m->split[0].n_shards + m->split[1].n_shards;
    printf("%s: pack of %d shard%s (source %s), vocab %u (id %s), %u-byte ids, zstd %s, seed %llu, val fraction %g\n",
           dir, shards, shards == 1 ? "" : "s", m->source, m->vocab_size, hex, m->token_bytes,
           m->compressed ? "yes" : "no", (unsigned long long)m->seed, m->val_fraction);
    printf("  %-6s %7s %14s %12s %14s\n", "split", "shards", "tokens", "docs", "bytes");
    uint64_t total_bytes = 0;
    for (int k = 0; k < N_SPLITS; k++) {
        const ManifestSplit *sp = &m->split[k];
        total_bytes += split_bytes(sp);
        printf("  %-6s %7d %14llu %12llu %14llu\n", split_names[k], sp->n_shards, (unsigned long long)sp->n_tokens,
               (unsigned long long)sp->n_docs, (unsigned long long)split_bytes(sp));
    }
    printf("  %-6s %7d %14llu %12llu %14llu\n", "total", shards, (unsigned long long)m->n_tokens,
           (unsigned long long)m->n_docs, (unsigned long long)total_bytes);
}

static int cmd_info(const Opts *o)
{
    bool header_done = false;
    for (int i = 0; i < o->n_files; i++) {
        const char *path = o->files[i];
        if (is_directory(path)) {
            Manifest m;
            manifest_load(path, &m);
            if (o->json) info_pack_json(path, &m);
            else {
                info_pack_table(path, &m);
                header_done = false;
            }
            manifest_free(&m);
            continue;
        }
        char err[1024];
        Shard *s = shard_try_open_ex(path, SHARD_OPEN_HEADER_ONLY, err, sizeof err);
        if (!s) die("%s", err);
        if (o->json) info_shard_json(path, s);
        else {
            const ShardHeader *h = shard_header(s);
            char hex[17];
            hex64(h->vocab_id, hex);
            if (!header_done)
                printf("%14s %12s %7s %5s %4s %14s %-16s %s\n", "tokens", "docs", "vocab", "width", "zstd", "bytes",
                       "vocab_id", "file");
            header_done = true;
            printf("%14llu %12llu %7u %5u %4s %14llu %-16s %s\n", (unsigned long long)h->n_tokens,
                   (unsigned long long)h->n_docs, h->vocab_size, h->token_bytes,
                   h->flags & SHARD_FLAG_ZSTD ? "yes" : "no", (unsigned long long)h->file_bytes, hex, path);
        }
        shard_close(s);
    }
    finish_stdout();
    return NMOE_EXIT_OK;
}

/* verify ----------------------------------------------------------------------- */

/* err holds `path: reason`; print `path: FAILED: reason`. */
static void print_failed(const char *path, const char *err)
{
    size_t n = strlen(path);
    const char *reason = strncmp(err, path, n) == 0 && err[n] == ':' && err[n + 1] == ' ' ? err + n + 2 : err;
    printf("%s: FAILED: %s\n", path, reason);
}

static void print_ok(const char *path)
{
    if (nmoe_verbosity() >= NMOE_NORMAL) printf("%s: OK\n", path);
}

static bool verify_shard_file(const char *path)
{
    char err[1024];
    Shard *s = shard_try_open(path, err, sizeof err);
    bool ok = s && shard_verify(s, err, sizeof err);
    if (ok) print_ok(path);
    else print_failed(path, err);
    shard_close(s);
    return ok;
}

/* A pack: the manifest, every shard it lists (fully), and that the documents of all
 * shards are exactly 0 .. n_docs-1 in the order cat merges them. */
static bool verify_pack(const char *dir)
{
    char err[1024];
    Manifest m;
    if (!manifest_read(dir, &m, err, sizeof err)) {
        print_failed(dir, err);
        return false;
    }
    bool all_ok = true;
    unsigned char *seen = xcalloc((size_t)(m.n_docs / 8 + 1), 1);
    char pack_err[1024] = "";
    for (int k = 0; k < N_SPLITS; k++) {
        bool have_last = false;
        uint64_t last_seq = 0;
        for (int i = 0; i < m.split[k].n_shards; i++) {
            const ManifestShard *ms = &m.split[k].shards[i];
            char *path = path_join(dir, ms->file);
            Shard *s = shard_try_open(path, err, sizeof err);
            bool ok = s && shard_verify(s, err, sizeof err) && shard_matches_manifest(s, &m, ms, err, sizeof err);
            if (ok) {
                print_ok(path);
                for (uint64_t d = 0; d < shard_info(s)->n_docs && !pack_err[0]; d++) {
                    uint64_t q = shard_doc_seq(s, d);
                    if (q >= m.n_docs)
                        snprintf(pack_err, sizeof pack_err, "%s: document %llu has sequence number %llu, past the %llu documents of the pack",
                                 path, (unsigned long long)d, (unsigned long long)q, (unsigned long long)m.n_docs);
                    else if (have_last && q <= last_seq)
                        snprintf(pack_err, sizeof pack_err, "%s: document order goes back (%llu after %llu)", path,
                                 (unsigned long long)q, (unsigned long long)last_seq);
                    else if (seen[q / 8] & (1u << (q % 8)))
                        snprintf(pack_err, sizeof pack_err, "%s: document %llu appears twice in the pack", path,
                                 (unsigned long long)q);
                    seen[q / 8] |= (unsigned char)(1u << (q % 8));
                    last_seq = q;
                    have_last = true;
                }
            } else {
                print_failed(path, err);
                all_ok = false;
            }
            shard_close(s);
            free(path);
        }
    }
    if (all_ok && !pack_err[0])
        for (uint64_t q = 0; q < m.n_docs; q++)
            if (!(seen[q / 8] & (1u << (q % 8)))) {
                snprintf(pack_err, sizeof pack_err, "document %llu is in no shard", (unsigned long long)q);
                break;
            }
    free(seen);
    manifest_free(&m);
    if (pack_err[0]) {
        printf("%s: FAILED: %s\n", dir, pack_err);
        return false;
    }
    if (!all_ok) {
        printf("%s: FAILED: damaged shards (above)\n", dir);
        return false;
    }
    print_ok(dir);
    return true;
}

static int cmd_verify(const Opts *o)
{
    int bad = 0;
    for (int i = 0; i < o->n_files; i++) {
        bool ok = is_directory(o->files[i]) ? verify_pack(o->files[i]) : verify_shard_file(o->files[i]);
        if (!ok) bad++;
        if (fflush(stdout) != 0) finish_stdout();
    }
    finish_stdout();
    if (bad) die("%d of %d checked failed verification", bad, o->n_files);
    return NMOE_EXIT_OK;
}

/* cat -------------------------------------------------------------------------- */

/* Where documents go: a token stream, or the --ids text view. */
typedef struct {
    bool text;
    TokWriter *w;
    uint32_t vocab_size;
    uint64_t vocab_id;
    bool started;
    uint32_t stream_width;
    uint32_t *ids;
    size_t cap;
    char *text_buf;
    size_t text_len, text_cap;
    const char *first_source;
} Emitter;

static void emit_start(Emitter *e, const char *source, uint32_t vocab_size, uint64_t vocab_id, uint32_t stream_width)
{
    if (e->started) {
        if (vocab_size != e->vocab_size || vocab_id != e->vocab_id)
            die("%s: vocabulary (size %u, id %016llx) differs from %s (size %u, id %016llx)", source, vocab_size,
                (unsigned long long)vocab_id, e->first_source, e->vocab_size, (unsigned long long)e->vocab_id);
        return;
    }
    e->started = true;
    e->vocab_size = vocab_size;
    e->vocab_id = vocab_id;
    e->first_source = source;
    e->stream_width = stream_width;
    if (!e->text) {
        TokHeader h = { stream_width, vocab_size, vocab_id };
        e->w = tokw_open(stdout, "stdout", &h);
    }
}

static void text_flush(Emitter *e)
{
    if (e->text_len && fwrite(e->text_buf, 1, e->text_len, stdout) != e->text_len)
        die("stdout: write failed: %s", strerror(errno));
    e->text_len = 0;
}

static void emit_text_doc(Emitter *e, const uint32_t *ids, size_t n)
{
    size_t need = n * IDS_TEXT_MAX_BYTES + 1;
    if (e->text_len + need > e->text_cap) {
        text_flush(e);
        if (need > e->text_cap) {
            e->text_cap = need > ((size_t)1 << 16) ? need : (size_t)1 << 16;
            e->text_buf = xrealloc(e->text_buf, e->text_cap);
        }
    }
    char *end = ids_text_put(e->text_buf + e->text_len, ids, n, true);
    *end++ = '\n';
    e->text_len = (size_t)(end - e->text_buf);
}

/* A shard cat is writing out. cat never passes garbage on, yet reads each token
 * once. A binary stream is checked as it goes out: every id as its document is
 * written (emit_doc), the token checksum when the shard's last document is out
 * (cat_close); the trailer comes only after all of that, so a stream cut short by a
 * bad shard is rejected by any reader as truncated. The tokens are read ahead, and
 * the checksum and frame checks computed, on threads of their own (shard_stream.h).
 * The --ids view has no trailer, so its shards are verified first and read mapped. */
typedef struct {
    Shard *s;          /* --ids: the verified shard */
    ShardStream *ss;   /* else: the stream */
} CatShard;

static void cat_open(const Emitter *e, const char *path, CatShard *c)
{
    char err[1024];
    *c = (CatShard){ 0 };
    if (e->text) {
        c->s = shard_try_open(path, err, sizeof err);
        if (!c->s || !shard_verify(c->s, err, sizeof err)) die("%s", err);
    } else {
        c->ss = shard_stream_open(path, err, sizeof err);
        if (!c->ss) die("%s", err);
        c->s = (Shard *)shard_stream_shard(c->ss);
    }
}

static void cat_close(CatShard *c)
{
    char err[1024];
    if (c->ss) {
        if (!shard_stream_close(c->ss, err, sizeof err)) die("%s; the stream on stdout stops before its trailer", err);
    } else shard_close(c->s);
    *c = (CatShard){ 0 };
}

static uint32_t raw_id(const unsigned char *raw, size_t i, uint32_t width)
{
    return width == 2 ? (uint32_t)(raw[2 * i] | raw[2 * i + 1] << 8) : get_u32le(raw + 4 * i);
}

/* Document d of c (documents go out in order). */
static void emit_doc(Emitter *e, CatShard *c, uint64_t d)
{
    size_t n = (size_t)(shard_doc_start(c->s, d + 1) - shard_doc_start(c->s, d));
    if (n > e->cap) {
        e->cap = n + n / 2 + 1024;
        e->ids = xrealloc(e->ids, e->cap * sizeof *e->ids);
    }
    if (e->text) { /* verified whole when opened */
        shard_read(c->s, shard_doc_start(c->s, d), n, e->ids);
        emit_text_doc(e, e->ids, n);
        return;
    }
    /* The ids are checked against the vocabulary here, so a bad id is reported with
     * the shard and document that hold it. */
    uint32_t width = shard_info(c->s)->token_bytes;
    TokFrameScan sc;
    const unsigned char *raw = shard_stream_doc(c->ss, d, &sc);
    if (n && sc.max_id >= e->vocab_size) {
        size_t i = 0;
        uint32_t id;
        while ((id = raw_id(raw, i, width)) < e->vocab_size) i++;
        die("%s: token %llu (document %llu): id %u is beyond the vocabulary size %u", shard_path(c->s),
            (unsigned long long)(shard_doc_start(c->s, d) + i), (unsigned long long)d, id, e->vocab_size);
    }
    if (width == e->stream_width) { /* same width on both sides: the bytes as they are */
        tokw_frame(e->w, raw, n, sc.check);
        return;
    }
    for (size_t i = 0; i < n; i++) e->ids[i] = raw_id(raw, i, width);
    tokw_doc(e->w, e->ids, n);
}

static void emit_finish(Emitter *e)
{
    if (e->text) text_flush(e);
    else if (e->w) tokw_finish(e->w);
    free(e->ids);
    free(e->text_buf);
}

static void cat_shard(Emitter *e, const char *path)
{
    CatShard c;
    cat_open(e, path, &c);
    const ShardHeader *h = shard_header(c.s);
    emit_start(e, path, h->vocab_size, h->vocab_id, h->stream_token_bytes);
    for (uint64_t d = 0; d < h->n_docs; d++) emit_doc(e, &c, d);
    cat_close(&c);
}

/* One split's shards, read in order, a document at a time. */
typedef struct {
    const Emitter *e;
    const char *dir;
    const Manifest *m;
    int split, next_shard;
    CatShard c;               /* c.s is NULL between shards */
    uint64_t d;
} Cursor;

/* True when the cursor stands on a document (opening the next shard as needed). */
static bool cursor_ready(Cursor *c)
{
    while (!c->c.s || c->d >= shard_info(c->c.s)->n_docs) {
        if (c->c.s) cat_close(&c->c);
        const ManifestSplit *sp = &c->m->split[c->split];
        if (c->next_shard >= sp->n_shards) return false;
        const ManifestShard *ms = &sp->shards[c->next_shard++];
        char *path = path_join(c->dir, ms->file);
        cat_open(c->e, path, &c->c);
        char err[1024];
        if (!shard_matches_manifest(c->c.s, c->m, ms, err, sizeof err)) die("%s", err);
        free(path);
        c->d = 0;
    }
    return true;
}

/* Merge the train and val shards by each document's sequence number: that is the
 * order pack read them in, so the stream comes back byte for byte. */
static void cat_pack(Emitter *e, const char *dir)
{
    Manifest m;
    manifest_load(dir, &m);
    emit_start(e, dir, m.vocab_size, m.vocab_id, m.stream_token_bytes);
    Cursor cur[N_SPLITS];
    for (int k = 0; k < N_SPLITS; k++) cur[k] = (Cursor){ .e = e, .dir = dir, .m = &m, .split = k };
    for (uint64_t q = 0; q < m.n_docs; q++) {
        int pick = -1;
        for (int k = 0; k < N_SPLITS && pick < 0; k++)
            if (cursor_ready(&cur[k]) && shard_doc_seq(cur[k].c.s, cur[k].d) == q) pick = k;
        if (pick < 0) die("%s: document %llu is in no shard (damaged pack; run nmoe-shard verify)", dir, (unsigned long long)q);
        emit_doc(e, &cur[pick].c, cur[pick].d);
        cur[pick].d++;
    }
    for (int k = 0; k < N_SPLITS; k++) {
        if (cursor_ready(&cur[k]))
            die("%s: %s holds document %llu beyond the %llu the manifest lists (damaged pack)", dir,
                shard_path(cur[k].c.s), (unsigned long long)shard_doc_seq(cur[k].c.s, cur[k].d),
                (unsigned long long)m.n_docs);
    }
    manifest_free(&m);
}

static int cmd_cat(const Opts *o)
{
    if (!o->ids) refuse_binary_to_tty(stdout, o->force);
    stream_buffer_big(stdout);
    Emitter e = { 0 };
    e.text = o->ids;
    for (int i = 0; i < o->n_files; i++) {
        if (is_directory(o->files[i])) cat_pack(&e, o->files[i]);
        else cat_shard(&e, o->files[i]);
    }
    emit_finish(&e);
    finish_stdout();
    return NMOE_EXIT_OK;
}

/* Command line ----------------------------------------------------------------- */

static uint64_t parse_hex64(const char *s, const char *what)
{
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
    size_t n = strlen(p);
    if (n == 0 || n > 16 || strspn(p, "0123456789abcdefABCDEF") != n)
        die_usage("%s: '%s' is not a hexadecimal number of at most 16 digits", what, s);
    return strtoull(p, NULL, 16);
}

static int command_from_name(const char *s)
{
    static const struct { const char *name; int cmd; } cmds[] = {
        { "pack", CMD_PACK }, { "import", CMD_IMPORT }, { "info", CMD_INFO }, { "verify", CMD_VERIFY }, { "cat", CMD_CAT },
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(s, cmds[i].name) == 0) return cmds[i].cmd;
    return 0;
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    static const struct option longs[] = {
        { "output", required_argument, 0, 'o' },
        { "shard-tokens", required_argument, 0, OPT_SHARD_TOKENS },
        { "val-fraction", required_argument, 0, OPT_VAL_FRACTION },
        { "seed", required_argument, 0, OPT_SEED },
        { "zstd", no_argument, 0, OPT_ZSTD },
        { "level", required_argument, 0, OPT_LEVEL },
        { "threads", required_argument, 0, 'T' },
        { "prefix", required_argument, 0, OPT_PREFIX },
        { "from", required_argument, 0, OPT_FROM },
        { "vocab-size", required_argument, 0, OPT_VOCAB_SIZE },
        { "eot", required_argument, 0, OPT_EOT },
        { "vocab-id", required_argument, 0, OPT_VOCAB_ID },
        { "json", no_argument, 0, OPT_JSON },
        { "ids", no_argument, 0, OPT_IDS },
        { "force", no_argument, 0, 'f' },
        { "quiet", no_argument, 0, 'q' },
        { "verbose", no_argument, 0, 'v' },
        { "help", no_argument, 0, OPT_HELP },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 },
    };
    /* Which commands each option applies to; anything else is a usage error. */
    const int PACKISH = CMD_PACK | CMD_IMPORT;
    Opts o = { 0 };
    o.shard_tokens = parse_size(DEFAULT_SHARD_TOKENS, "--shard-tokens");
    o.level = DEFAULT_LEVEL;
    o.vocab_size = GPT2_VOCAB_SIZE;
    o.eot = GPT2_EOT;
    bool level_set = false;
    int verbosity = NMOE_NORMAL;

    /* The command comes first, unless the first argument is an option such as --help. */
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        o.cmd = command_from_name(argv[1]);
        o.cmd_name = argv[1];
        if (!o.cmd) die_usage("unknown command '%s' (pack, import, info, verify or cat)", argv[1]);
        first = 2;
    }
    optind = first;
    opterr = 0; /* our own messages, in the house form */
    int c;
    while ((c = getopt_long(argc, argv, ":o:T:fqvhV", longs, NULL)) != -1) {
        int applies = CMD_PACK | CMD_IMPORT | CMD_INFO | CMD_VERIFY | CMD_CAT;
        const char *name = NULL;
        switch (c) {
        case 'o': o.out_dir = optarg; applies = PACKISH; name = "--output"; break;
        case OPT_SHARD_TOKENS:
            o.shard_tokens = parse_size(optarg, "--shard-tokens");
            if (o.shard_tokens == 0) die_usage("--shard-tokens: must be at least 1");
            applies = PACKISH; name = "--shard-tokens"; break;
        case OPT_VAL_FRACTION: o.val_fraction = parse_double(optarg, "--val-fraction", 0, 1); applies = PACKISH; name = "--val-fraction"; break;
        case OPT_SEED: o.seed = (uint64_t)parse_int(optarg, "--seed", 0, 9007199254740992LL); applies = PACKISH; name = "--seed"; break;
        case OPT_ZSTD: o.zstd = true; applies = PACKISH; name = "--zstd"; break;
        case OPT_LEVEL: o.level = (int)parse_int(optarg, "--level", 1, 19); level_set = true; applies = PACKISH; name = "--level"; break;
        case 'T': o.threads = (int)parse_int(optarg, "--threads", 0, 256); applies = PACKISH; name = "--threads"; break;
        case OPT_PREFIX:
            if (!optarg[0] || strchr(optarg, '/')) die_usage("--prefix: '%s' is not a plain name", optarg);
            o.prefix = optarg; applies = PACKISH; name = "--prefix"; break;
        case OPT_FROM:
            if (strcmp(optarg, "llmc") == 0) o.from = IMPORT_LLMC;
            else if (strcmp(optarg, "npy") == 0) o.from = IMPORT_NPY;
            else die_usage("--from: '%s' is not llmc or npy", optarg);
            o.from_set = true; applies = CMD_IMPORT; name = "--from"; break;
        case OPT_VOCAB_SIZE: o.vocab_size = (uint32_t)parse_int(optarg, "--vocab-size", 1, UINT32_MAX); applies = CMD_IMPORT; name = "--vocab-size"; break;
        case OPT_EOT:
            o.eot = strcmp(optarg, "none") == 0 ? IMPORT_NO_EOT : parse_int(optarg, "--eot", 0, UINT32_MAX - 1);
            applies = CMD_IMPORT; name = "--eot"; break;
        case OPT_VOCAB_ID: o.vocab_id = parse_hex64(optarg, "--vocab-id"); applies = CMD_IMPORT; name = "--vocab-id"; break;
        case OPT_JSON: o.json = true; applies = CMD_INFO; name = "--json"; break;
        case OPT_IDS: o.ids = true; applies = CMD_CAT; name = "--ids"; break;
        case 'f': o.force = true; break;
        case 'q': verbosity = NMOE_QUIET; break;
        case 'v': verbosity = verbosity < NMOE_NORMAL ? NMOE_VERBOSE : verbosity + 1; break;
        case 'h': short_usage(stdout); return NMOE_EXIT_OK;
        case OPT_HELP: long_usage(); return NMOE_EXIT_OK;
        case 'V': printf("nmoe-shard %s\n", NMOE_VERSION); return NMOE_EXIT_OK;
        case ':': die_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt && optopt < 256) die_usage("unknown option '-%c'", optopt);
            die_usage("unknown option '%s'", argv[optind - 1]);
        }
        if (o.cmd && !(applies & o.cmd)) die_usage("%s does not apply to '%s'", name, o.cmd_name);
    }
    nmoe_set_verbosity(verbosity);
    if (!o.cmd) {
        short_usage(stderr);
        die_usage("no command given");
    }
    o.files = argv + optind;
    o.n_files = argc - optind;
    if (o.cmd & PACKISH) {
        if (!o.out_dir) die_usage("%s needs -o DIR", o.cmd_name);
        if (level_set && !o.zstd) die_usage("--level needs --zstd");
    }
    switch (o.cmd) {
    case CMD_PACK:
        if (o.n_files > 1) die_usage("pack reads one token stream (give one FILE, or none for stdin)");
        return cmd_pack(&o);
    case CMD_IMPORT:
        if (!o.from_set) die_usage("import needs --from llmc or --from npy");
        if (o.n_files == 0) die_usage("import needs at least one FILE");
        return cmd_import(&o);
    case CMD_INFO:
        if (o.n_files == 0) die_usage("info needs at least one FILE or DIR");
        return cmd_info(&o);
    case CMD_VERIFY:
        if (o.n_files == 0) die_usage("verify needs at least one FILE or DIR");
        return cmd_verify(&o);
    case CMD_CAT:
        if (o.n_files == 0) die_usage("cat needs at least one FILE or DIR");
        return cmd_cat(&o);
    }
    return NMOE_EXIT_USAGE;
}
