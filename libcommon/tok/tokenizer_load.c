/* tokenizer_load.c: reading the tokenizer formats of others (GPT-2's encoder.json +
 * vocab.bpe, tiktoken's .tiktoken + .meta.json) and resolving a -t argument. The
 * nmoe tokenizer file is in tokenizer_file.c. Every failure is reported as
 * "file: line N: reason" (or "file: byte N: reason"), never by dying here. */
#include "tok/tokenizer.h"
#include "base/error.h"
#include "base/path.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* Whole file into memory (NUL-terminated). NULL with err ("path: reason") on failure. */
static char *slurp(const char *path, size_t *n, char *err, size_t errlen)
{
    char why[256];
    char *text = file_slurp(path, 0, n, why, sizeof why);
    if (!text) errbuf_fail(err, errlen, "%s: %s", path, why);
    return text;
}

/* Growable token list: bytes + offsets. */
typedef struct {
    uint8_t *blob;
    uint64_t *off;
    uint32_t n;
    size_t blob_cap, off_cap;
} TokList;

static void toklist_add(TokList *l, const uint8_t *p, size_t n)
{
    if (l->n + 2 > l->off_cap) {
        l->off_cap = l->off_cap ? 2 * l->off_cap : 1024;
        l->off = xrealloc(l->off, l->off_cap * sizeof *l->off);
    }
    if (l->n == 0) l->off[0] = 0;
    uint64_t at = l->off[l->n];
    if (at + n > l->blob_cap) {
        while (at + n > l->blob_cap) l->blob_cap = l->blob_cap ? 2 * l->blob_cap : 1 << 16;
        l->blob = xrealloc(l->blob, l->blob_cap);
    }
    if (n) memcpy(l->blob + at, p, n);
    l->off[++l->n] = at + n;
}

static void toklist_free(TokList *l)
{
    free(l->blob);
    free(l->off);
}

/* Line and column (1-based) of byte offset `at` in text. */
static void line_col(const char *text, size_t at, size_t *line, size_t *col)
{
    *line = 1;
    size_t last_nl = 0;
    int seen = 0;
    for (size_t i = 0; i < at; i++)
        if (text[i] == '\n') { (*line)++; last_nl = i; seen = 1; }
    *col = seen ? at - last_nl : at + 1;
}

/* GPT-2 ----------------------------------------------------------------------
 * GPT-2 spells token bytes as printable characters (bytes_to_unicode in
 * openai/gpt-2 encoder.py): the printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for
 * themselves, the other 68 bytes for U+0100 onwards in byte order. Those printable
 * bytes, then the rest, are also the ranks 0..255 of the single-byte tokens. */

typedef struct {
    uint8_t rank_byte[256];      /* rank r (< 256) is this byte */
    int32_t byte_of_char[324];   /* code point -> byte, or -1 */
} Gpt2Alphabet;

static int gpt2_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static void gpt2_alphabet(Gpt2Alphabet *a)
{
    for (int c = 0; c < 324; c++) a->byte_of_char[c] = -1;
    int r = 0;
    for (int b = 0; b < 256; b++)
        if (gpt2_printable(b)) { a->rank_byte[r++] = (uint8_t)b; a->byte_of_char[b] = b; }
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!gpt2_printable(b)) { a->rank_byte[r++] = (uint8_t)b; a->byte_of_char[256 + extra++] = b; }
}

/* Decode one UTF-8 code point at s[*i]; -1 when malformed. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned c = s[*i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || *i + len > n) return -1;
    int32_t cp = len == 1 ? (int32_t)c : (int32_t)(c & (0x7Fu >> len));
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) return -1;
        cp = cp << 6 | (s[*i + k] & 0x3F);
    }
    *i += len;
    return cp;
}

/* GPT-2 alphabet string -> bytes into out (room for n bytes). Returns the length, or
 * -1 with *bad the offending code point (-1 for malformed UTF-8). */
static long gpt2_decode(const Gpt2Alphabet *a, const char *s, size_t n, uint8_t *out, int32_t *bad)
{
    size_t i = 0, k = 0;
    while (i < n) {
        int32_t cp = utf8_next((const unsigned char *)s, n, &i);
        if (cp < 0 || cp >= 324 || a->byte_of_char[cp] < 0) { *bad = cp; return -1; }
        out[k++] = (uint8_t)a->byte_of_char[cp];
    }
    return (long)k;
}

Tokenizer *tokenizer_load_gpt2_dir(const char *dir, char *err, size_t errlen)
{
    char bpe_path[PATH_MAX], enc_path[PATH_MAX];
    snprintf(bpe_path, sizeof bpe_path, "%s/vocab.bpe", dir);
    snprintf(enc_path, sizeof enc_path, "%s/encoder.json", dir);
    Gpt2Alphabet a;
    gpt2_alphabet(&a);
    TokList tl = { 0 };
    SpecialToken *special = NULL;
    uint32_t n_special = 0;
    cJSON *json = NULL;
    char *enc = NULL;
    size_t n;
    char *bpe = slurp(bpe_path, &n, err, errlen);
    if (!bpe) return NULL;
    if (memchr(bpe, 0, n)) { errbuf_fail(err, errlen, "%s: byte %zu: NUL byte in a text file", bpe_path, (size_t)((char *)memchr(bpe, 0, n) - bpe)); goto fail; }
    for (int r = 0; r < 256; r++) toklist_add(&tl, &a.rank_byte[r], 1);
    /* vocab.bpe: "#version: ..." then one merge "A B" per line, in rank order. */
    {
        size_t line = 0;
        uint8_t *tmp = xmalloc(n + 1);
        char *p = bpe, *end = bpe + n;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *le = nl ? nl : end;
            line++;
            size_t len = (size_t)(le - p);
            if (line == 1 && len >= 8 && memcmp(p, "#version", 8) == 0) { p = le + 1; continue; }
            char *sp = memchr(p, ' ', len);
            if (!sp || sp == p || sp == le - 1 || memchr(sp + 1, ' ', (size_t)(le - sp - 1))) {
                errbuf_fail(err, errlen, "%s: line %zu: expected a merge: two tokens separated by one space", bpe_path, line);
                free(tmp);
                goto fail;
            }
            int32_t bad;
            long l1 = gpt2_decode(&a, p, (size_t)(sp - p), tmp, &bad);
            long l2 = l1 < 0 ? -1 : gpt2_decode(&a, sp + 1, (size_t)(le - sp - 1), tmp + l1, &bad);
            if (l1 < 0 || l2 < 0) {
                if (bad < 0) errbuf_fail(err, errlen, "%s: line %zu: malformed UTF-8", bpe_path, line);
                else errbuf_fail(err, errlen, "%s: line %zu: character U+%04X is not in the GPT-2 byte alphabet", bpe_path, line, (unsigned)bad);
                free(tmp);
                goto fail;
            }
            if (tl.n == UINT32_MAX - 1) { errbuf_fail(err, errlen, "%s: line %zu: too many merges", bpe_path, line); free(tmp); goto fail; }
            toklist_add(&tl, tmp, (size_t)(l1 + l2));
            p = le + 1;
        }
        free(tmp);
    }
    /* encoder.json must give every token the id vocab.bpe implies (tiktoken checks the
     * same); entries beyond the merges are special tokens, taken as literal text. */
    enc = slurp(enc_path, &n, err, errlen);
    if (!enc) goto fail;
    const char *parse_end = NULL;
    json = cJSON_ParseWithLengthOpts(enc, n, &parse_end, 0);
    if (!json || !cJSON_IsObject(json)) {
        size_t at = json ? 0 : (parse_end ? (size_t)(parse_end - enc) : 0), line, col;
        line_col(enc, at > n ? n : at, &line, &col);
        if (json) errbuf_fail(err, errlen, "%s: expected a JSON object of token -> id", enc_path);
        else errbuf_fail(err, errlen, "%s: line %zu, column %zu: not valid JSON", enc_path, line, col);
        goto fail;
    }
    {
        uint32_t n_ranks = tl.n, seen = 0;
        uint8_t *tmp = xmalloc(n + 1);
        for (cJSON *it = json->child; it; it = it->next) {
            const char *key = it->string;
            double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
            if (v < 0 || v != (double)(uint32_t)v || v >= (double)UINT32_MAX - 1) {
                errbuf_fail(err, errlen, "%s: key \"%.40s\": id is not a whole number in range", enc_path, key);
                free(tmp);
                goto fail;
            }
            uint32_t id = (uint32_t)v;
            size_t klen = strlen(key);
            if (id < n_ranks) {
                int32_t bad;
                long bl = gpt2_decode(&a, key, klen, tmp, &bad);
                if (bl < 0 || (uint64_t)bl != tl.off[id + 1] - tl.off[id] || memcmp(tmp, tl.blob + tl.off[id], (size_t)bl) != 0) {
                    errbuf_fail(err, errlen, "%s: key \"%.40s\": id %u disagrees with vocab.bpe (which gives that id to another token)",
                            enc_path, key, id);
                    free(tmp);
                    goto fail;
                }
                seen++;
            } else {
                special = xrealloc(special, (n_special + 1) * sizeof *special);
                special[n_special++] = (SpecialToken){ xstrdup(key), klen, id };
            }
        }
        free(tmp);
        if (seen != n_ranks) {
            errbuf_fail(err, errlen, "%s: holds %u of the %u tokens that vocab.bpe defines (or repeats some)", enc_path, seen, n_ranks);
            goto fail;
        }
    }
    cJSON_Delete(json);
    free(enc);
    free(bpe);
    uint32_t bad_rank;
    char berr[300];
    Tokenizer *t = tokenizer_build(tl.blob, tl.off, tl.n, special, n_special, PRETOK_GPT2, NULL, &bad_rank, berr, sizeof berr);
    if (!t) {
        if (bad_rank != UINT32_MAX && bad_rank >= 256) errbuf_fail(err, errlen, "%s: merge %u: %s", bpe_path, bad_rank - 255, berr);
        else errbuf_fail(err, errlen, "%s: %s", dir, berr);
    }
    return t;
fail:
    cJSON_Delete(json);
    free(enc);
    free(bpe);
    toklist_free(&tl);
    for (uint32_t i = 0; i < n_special; i++) free(special[i].text);
    free(special);
    return NULL;
}

/* tiktoken ------------------------------------------------------------------- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict standard base64 with padding; returns the decoded length or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n == 0 || n % 4) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) { v[j] = 0; pad++; continue; }
            if (pad) return -1;
            v[j] = b64_value((unsigned char)s[i + j]);
            if (v[j] < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[k++] = (uint8_t)(w >> 16);
        if (pad < 2) out[k++] = (uint8_t)(w >> 8);
        if (pad < 1) out[k++] = (uint8_t)w;
    }
    return (long)k;
}

typedef struct {
    const char *name;
    PretokKind kind;
    const char *special[5];
    uint32_t special_id[5];
} KnownEncoding;

/* tiktoken_ext/openai_public.py: used when a .tiktoken file has no .meta.json beside it. */
static const KnownEncoding KNOWN[] = {
    { "r50k_base", PRETOK_GPT2, { "<|endoftext|>" }, { 50256 } },
    { "cl100k_base", PRETOK_CL100K,
      { "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>" },
      { 100257, 100258, 100259, 100260, 100276 } },
    { "o200k_base", PRETOK_O200K, { "<|endoftext|>", "<|endofprompt|>" }, { 199999, 200018 } },
};

/* The .meta.json: {"pat_str": ..., "special_tokens": {text: id}, "explicit_n_vocab": n}. */
static int load_meta(const char *path, PretokKind *kind, char **custom, SpecialToken **special, uint32_t *n_special,
                     int64_t *explicit_n_vocab, char *err, size_t errlen)
{
    size_t n;
    char *text = slurp(path, &n, err, errlen);
    if (!text) return -1;
    const char *parse_end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, n, &parse_end, 0);
    int rc = -1;
    if (!j) {
        size_t line, col, at = parse_end ? (size_t)(parse_end - text) : 0;
        line_col(text, at > n ? n : at, &line, &col);
        errbuf_fail(err, errlen, "%s: line %zu, column %zu: not valid JSON", path, line, col);
        goto out;
    }
    cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pat_str");
    cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    cJSON *nv = cJSON_GetObjectItemCaseSensitive(j, "explicit_n_vocab");
    if (!cJSON_IsObject(j) || !cJSON_IsString(pat)) { errbuf_fail(err, errlen, "%s: no string \"pat_str\"", path); goto out; }
    if (sp && !cJSON_IsObject(sp)) { errbuf_fail(err, errlen, "%s: \"special_tokens\" is not an object", path); goto out; }
    *kind = pretok_kind_from_meta_pattern(pat->valuestring);
    *custom = *kind == PRETOK_CUSTOM ? xstrdup(pat->valuestring) : NULL;
    *explicit_n_vocab = -1;
    if (nv) {
        if (!cJSON_IsNumber(nv) || nv->valuedouble < 1 || nv->valuedouble > (double)UINT32_MAX ||
            nv->valuedouble != (double)(int64_t)nv->valuedouble) {
            errbuf_fail(err, errlen, "%s: \"explicit_n_vocab\" is not a whole number", path);
            goto out;
        }
        *explicit_n_vocab = (int64_t)nv->valuedouble;
    }
    for (cJSON *it = sp ? sp->child : NULL; it; it = it->next) {
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (v < 0 || v != (double)(uint32_t)v || v >= (double)UINT32_MAX - 1) {
            errbuf_fail(err, errlen, "%s: special token \"%.40s\": id is not a whole number in range", path, it->string);
            goto out;
        }
        *special = xrealloc(*special, (*n_special + 1) * sizeof **special);
        (*special)[(*n_special)++] = (SpecialToken){ xstrdup(it->string), strlen(it->string), (uint32_t)v };
    }
    rc = 0;
out:
    cJSON_Delete(j);
    free(text);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

Tokenizer *tokenizer_load_tiktoken(const char *path, char *err, size_t errlen)
{
    size_t n;
    char *text = slurp(path, &n, err, errlen);
    if (!text) return NULL;
    TokList tl = { 0 };
    SpecialToken *special = NULL;
    uint32_t n_special = 0;
    char *custom = NULL;
    PretokKind kind = PRETOK_CUSTOM;
    int64_t explicit_n_vocab = -1;
    uint8_t *tmp = xmalloc(n / 4 * 3 + 4);
    size_t line = 0;
    char *p = text, *end = text + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        if (le == p) { p = le + 1; continue; } /* empty lines are skipped, as tiktoken does */
        char *sp = memchr(p, ' ', (size_t)(le - p));
        long bl = sp ? b64_decode(p, (size_t)(sp - p), tmp) : -1;
        if (bl < 0) { errbuf_fail(err, errlen, "%s: line %zu: expected \"<base64 token> <rank>\"", path, line); goto fail; }
        char rank_text[16];
        size_t rl = (size_t)(le - sp - 1);
        char *rend;
        if (rl == 0 || rl >= sizeof rank_text) { errbuf_fail(err, errlen, "%s: line %zu: bad rank", path, line); goto fail; }
        memcpy(rank_text, sp + 1, rl);
        rank_text[rl] = 0;
        errno = 0;
        unsigned long rank = strtoul(rank_text, &rend, 10);
        if (*rend || errno || rank_text[0] < '0' || rank_text[0] > '9') { errbuf_fail(err, errlen, "%s: line %zu: bad rank \"%s\"", path, line, rank_text); goto fail; }
        if (rank != tl.n) {
            errbuf_fail(err, errlen, "%s: line %zu: rank %lu out of order (expected %u: ranks must run 0, 1, 2, ...)", path, line, rank, tl.n);
            goto fail;
        }
        toklist_add(&tl, tmp, (size_t)bl);
        p = le + 1;
    }
    free(tmp);
    tmp = NULL;
    free(text);
    text = NULL;
    /* Pattern and special tokens: the .meta.json beside it, else the built-in table. */
    char meta[PATH_MAX];
    snprintf(meta, sizeof meta, "%.*s.meta.json", (int)(strlen(path) - (ends_with(path, ".tiktoken") ? 9 : 0)), path);
    if (access(meta, F_OK) == 0) {
        if (load_meta(meta, &kind, &custom, &special, &n_special, &explicit_n_vocab, err, errlen) != 0) goto fail;
    } else {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        const KnownEncoding *k = NULL;
        for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) {
            size_t ln = strlen(KNOWN[i].name);
            if (strncmp(base, KNOWN[i].name, ln) == 0 && strcmp(base + ln, ".tiktoken") == 0) k = &KNOWN[i];
        }
        if (!k) {
            errbuf_fail(err, errlen, "%s: no %s beside it, and the name is not one of r50k_base, cl100k_base, o200k_base", path, meta);
            goto fail;
        }
        kind = k->kind;
        for (int i = 0; i < 5 && k->special[i]; i++) {
            special = xrealloc(special, (n_special + 1) * sizeof *special);
            special[n_special++] = (SpecialToken){ xstrdup(k->special[i]), strlen(k->special[i]), k->special_id[i] };
        }
    }
    uint32_t bad_rank;
    char berr[300];
    if (tl.n == 0) toklist_add(&tl, NULL, 0), tl.n = 0; /* keep off[0] valid */
    Tokenizer *t = tokenizer_build(tl.blob, tl.off, tl.n, special, n_special, kind, custom, &bad_rank, berr, sizeof berr);
    if (!t) {
        if (bad_rank != UINT32_MAX) errbuf_fail(err, errlen, "%s: rank %u: %s", path, bad_rank, berr);
        else errbuf_fail(err, errlen, "%s: %s", path, berr);
    } else if (explicit_n_vocab >= 0 && explicit_n_vocab != t->vocab_size) {
        errbuf_fail(err, errlen, "%s: explicit_n_vocab is %lld but the tokens and special tokens give %u", meta,
                (long long)explicit_n_vocab, t->vocab_size);
        tokenizer_free(t);
        t = NULL;
    }
    free(custom);
    return t;
fail:
    free(tmp);
    free(text);
    free(custom);
    toklist_free(&tl);
    for (uint32_t i = 0; i < n_special; i++) free(special[i].text);
    free(special);
    return NULL;
}

/* Resolving -t ------------------------------------------------------------------ */

int tokenizer_data_dirs(char dirs[][4096], int max)
{
    int n = 0;
    const char *env = getenv("NMOE_DATA");
    if (env && *env && n < max) snprintf(dirs[n++], 4096, "%s", env);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (n < max) snprintf(dirs[n++], 4096, "%.4000s/../data", exe);
        if (n < max) snprintf(dirs[n++], 4096, "%.4000s/../share/nmoe", exe);
    }
    return n;
}

static Tokenizer *load_path(const char *spec, const struct stat *st, char *err, size_t errlen)
{
    if (S_ISDIR(st->st_mode)) return tokenizer_load_gpt2_dir(spec, err, errlen);
    FILE *fp = fopen(spec, "rb");
    if (!fp) { errbuf_fail(err, errlen, "%s: %s", spec, strerror(errno)); return NULL; }
    char magic[8] = { 0 };
    size_t got = fread(magic, 1, 8, fp);
    fclose(fp);
    if (got == 8 && memcmp(magic, TOKFILE_MAGIC, 8) == 0) return tokenizer_read_file(spec, err, errlen);
    if (ends_with(spec, ".tiktoken")) return tokenizer_load_tiktoken(spec, err, errlen);
    errbuf_fail(err, errlen, "%s: not a tokenizer (expected an nmoe tokenizer file, a .tiktoken file, or a folder with encoder.json and vocab.bpe)", spec);
    return NULL;
}

Tokenizer *tokenizer_load(const char *spec, char *err, size_t errlen)
{
    struct stat st;
    if (stat(spec, &st) == 0) return load_path(spec, &st, err, errlen);
    static const char *names[] = { "gpt2", "r50k_base", "cl100k_base", "o200k_base" };
    int known = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(spec, names[i]) == 0) known = i;
    if (known < 0) {
        errbuf_fail(err, errlen, "%s: no such file or folder, and not a known tokenizer name (gpt2, r50k_base, cl100k_base, o200k_base)", spec);
        return NULL;
    }
    char dirs[3][4096];
    int nd = tokenizer_data_dirs(dirs, 3);
    for (int i = 0; i < nd; i++) {
        char path[PATH_MAX];
        if (known == 0) snprintf(path, sizeof path, "%.3800s/tokenizers/gpt2", dirs[i]);
        else snprintf(path, sizeof path, "%.3800s/tokenizers/%s.tiktoken", dirs[i], names[known]);
        if (stat(path, &st) == 0) return load_path(path, &st, err, errlen);
    }
    errbuf_fail(err, errlen, "%s: tokenizer files not found in $NMOE_DATA, <bindir>/../data or <bindir>/../share/nmoe (under tokenizers/)", spec);
    return NULL;
}

Tokenizer *tokenizer_load_or_die(const char *spec)
{
    char err[1024];
    Tokenizer *t = tokenizer_load(spec, err, sizeof err);
    if (!t) die("%s", err);
    return t;
}
