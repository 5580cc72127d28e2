/* shard_manifest.c: write and read DIR/manifest.json (see shard_manifest.h). */
#include "shard/shard_manifest.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/ndjson.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const split_names[N_SPLITS] = { "train", "val" };

int split_from_name(const char *name)
{
    for (int i = 0; i < N_SPLITS; i++)
        if (name && strcmp(name, split_names[i]) == 0) return i;
    return -1;
}

char *manifest_path(const char *dir) { return path_join(dir, MANIFEST_NAME); }

void manifest_add_shard(Manifest *m, int split, const ManifestShard *s)
{
    ManifestSplit *sp = &m->split[split];
    sp->shards = xrealloc(sp->shards, (size_t)(sp->n_shards + 1) * sizeof *sp->shards);
    sp->shards[sp->n_shards] = *s;
    sp->shards[sp->n_shards].file = xstrdup(s->file);
    sp->n_shards++;
    sp->n_docs += s->n_docs;
    sp->n_tokens += s->n_tokens;
    m->n_docs += s->n_docs;
    m->n_tokens += s->n_tokens;
}

void manifest_free(Manifest *m)
{
    for (int k = 0; k < N_SPLITS; k++) {
        for (int i = 0; i < m->split[k].n_shards; i++) free(m->split[k].shards[i].file);
        free(m->split[k].shards);
    }
    free(m->source);
    memset(m, 0, sizeof *m);
}

/* Writer ------------------------------------------------------------------- */

void manifest_write(const char *dir, const Manifest *m)
{
    char hex[17];
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "format", MANIFEST_FORMAT);
    nd_int(&l, "version", MANIFEST_VERSION);
    nd_str(&l, "source", m->source ? m->source : "pack");
    nd_int(&l, "vocab_size", m->vocab_size);
    hash64_hex(m->vocab_id, hex);
    nd_str(&l, "vocab_id", hex);
    nd_int(&l, "token_bytes", m->token_bytes);
    nd_int(&l, "stream_token_bytes", m->stream_token_bytes);
    nd_bool(&l, "compressed", m->compressed);
    nd_int(&l, "shard_tokens", (int64_t)m->shard_tokens);
    nd_f64(&l, "val_fraction", m->val_fraction);
    nd_int(&l, "seed", (int64_t)m->seed);
    nd_int(&l, "n_docs", (int64_t)m->n_docs);
    nd_int(&l, "n_tokens", (int64_t)m->n_tokens);
    nd_obj_begin(&l, "splits");
    for (int k = 0; k < N_SPLITS; k++) {
        const ManifestSplit *sp = &m->split[k];
        nd_obj_begin(&l, split_names[k]);
        nd_int(&l, "n_docs", (int64_t)sp->n_docs);
        nd_int(&l, "n_tokens", (int64_t)sp->n_tokens);
        nd_arr_begin(&l, "shards");
        for (int i = 0; i < sp->n_shards; i++) {
            const ManifestShard *s = &sp->shards[i];
            nd_obj_begin(&l, NULL);
            nd_str(&l, "file", s->file);
            nd_int(&l, "n_docs", (int64_t)s->n_docs);
            nd_int(&l, "n_tokens", (int64_t)s->n_tokens);
            nd_int(&l, "bytes", (int64_t)s->bytes);
            hash64_hex(s->checksum, hex);
            nd_str(&l, "checksum", hex);
            nd_obj_end(&l);
        }
        nd_arr_end(&l);
        nd_obj_end(&l);
    }
    nd_obj_end(&l);
    nd_end(&l);
    char *path = manifest_path(dir);
    atomic_write_file(path, l.buf, l.len);
    free(path);
    nd_free(&l);
}

/* Reader ------------------------------------------------------------------- */

typedef struct {
    const char *path;
    char *err;
    size_t cap;
    bool failed;
} Ctx;

static void bad(Ctx *c, const char *fmt, ...) NMOE_PRINTF(2, 3);
static void bad(Ctx *c, const char *fmt, ...)
{
    if (c->failed) return; /* keep the first reason */
    c->failed = true;
    int n = snprintf(c->err, c->cap, "%s: ", c->path);
    if (n < 0 || (size_t)n >= c->cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Largest integer a double holds exactly; counts beyond it would be silently rounded. */
#define EXACT_INT_MAX 9007199254740992.0

static const cJSON *member(Ctx *c, const cJSON *obj, const char *where, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) bad(c, "key '%s%s' is missing", where, key);
    return v;
}

static uint64_t get_count(Ctx *c, const cJSON *obj, const char *where, const char *key, uint64_t max)
{
    const cJSON *v = member(c, obj, where, key);
    if (!v) return 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d < 0 || d > EXACT_INT_MAX || d != (double)(uint64_t)d) {
        bad(c, "key '%s%s': expected a whole number >= 0", where, key);
        return 0;
    }
    if ((uint64_t)d > max) {
        bad(c, "key '%s%s': %.0f is out of range (at most %llu)", where, key, d, (unsigned long long)max);
        return 0;
    }
    return (uint64_t)d;
}

static const char *get_string(Ctx *c, const cJSON *obj, const char *where, const char *key)
{
    const cJSON *v = member(c, obj, where, key);
    if (!v) return "";
    if (!cJSON_IsString(v)) {
        bad(c, "key '%s%s': expected a string", where, key);
        return "";
    }
    return v->valuestring;
}

static uint64_t get_hex64(Ctx *c, const cJSON *obj, const char *where, const char *key)
{
    const char *s = get_string(c, obj, where, key);
    if (c->failed) return 0;
    uint64_t v = 0;
    size_t n = strlen(s);
    bool ok = n == 16;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) ok = false;
        else v = v << 4 | (uint64_t)d;
    }
    if (!ok) bad(c, "key '%s%s': '%s' is not 16 lowercase hex digits", where, key, s);
    return v;
}

static bool plain_file_name(const char *s)
{
    return s[0] && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strcmp(s, MANIFEST_NAME) != 0;
}

static void read_split(Ctx *c, const cJSON *splits, int k, Manifest *m)
{
    char where[64];
    snprintf(where, sizeof where, "splits.%s.", split_names[k]);
    const cJSON *sp = member(c, splits, "splits.", split_names[k]);
    if (c->failed) return;
    if (!cJSON_IsObject(sp)) { bad(c, "key 'splits.%s': expected an object", split_names[k]); return; }
    uint64_t want_docs = get_count(c, sp, where, "n_docs", UINT64_MAX);
    uint64_t want_tokens = get_count(c, sp, where, "n_tokens", UINT64_MAX);
    const cJSON *arr = member(c, sp, where, "shards");
    if (c->failed) return;
    if (!cJSON_IsArray(arr)) { bad(c, "key '%sshards': expected an array", where); return; }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        char w[96];
        snprintf(w, sizeof w, "%sshards[%d].", where, i);
        if (!cJSON_IsObject(e)) { bad(c, "key '%sshards[%d]': expected an object", where, i); return; }
        ManifestShard s = { 0 };
        const char *file = get_string(c, e, w, "file");
        s.n_docs = get_count(c, e, w, "n_docs", UINT64_MAX);
        s.n_tokens = get_count(c, e, w, "n_tokens", UINT64_MAX);
        s.bytes = get_count(c, e, w, "bytes", UINT64_MAX);
        s.checksum = get_hex64(c, e, w, "checksum");
        if (c->failed) return;
        if (!plain_file_name(file)) { bad(c, "key '%sfile': '%s' is not a plain file name", w, file); return; }
        for (int kk = 0; kk <= k; kk++)
            for (int j = 0; j < m->split[kk].n_shards; j++)
                if (strcmp(m->split[kk].shards[j].file, file) == 0) {
                    bad(c, "key '%sfile': '%s' is listed twice", w, file);
                    return;
                }
        s.file = (char *)file;
        manifest_add_shard(m, k, &s);
        i++;
    }
    if (m->split[k].n_docs != want_docs || m->split[k].n_tokens != want_tokens)
        bad(c, "split '%s' says %llu documents / %llu tokens, its shards add up to %llu / %llu", split_names[k],
            (unsigned long long)want_docs, (unsigned long long)want_tokens,
            (unsigned long long)m->split[k].n_docs, (unsigned long long)m->split[k].n_tokens);
}

bool manifest_read(const char *dir, Manifest *m, char *err, size_t cap)
{
    memset(m, 0, sizeof *m);
    char *path = manifest_path(dir);
    Ctx c = { path, err, cap, false };
    size_t len = 0;
    char why[256];
    char *text = file_slurp(path, (size_t)1 << 28, &len, why, sizeof why);
    if (!text) bad(&c, "%s", why);
    cJSON *root = NULL;
    if (text) {
        if (memchr(text, 0, len)) bad(&c, "holds a NUL byte (not a JSON manifest)");
        else if (!(root = cJSON_ParseWithLength(text, len))) bad(&c, "not valid JSON (corrupted manifest)");
        else if (!cJSON_IsObject(root)) bad(&c, "not a JSON object");
    }
    if (!c.failed) {
        const char *fmt = get_string(&c, root, "", "format");
        if (!c.failed && strcmp(fmt, MANIFEST_FORMAT) != 0)
            bad(&c, "format '%s' is not '%s'", fmt, MANIFEST_FORMAT);
        m->version = (uint32_t)get_count(&c, root, "", "version", UINT32_MAX);
        if (!c.failed && m->version != MANIFEST_VERSION)
            bad(&c, "unsupported manifest version %u (this build reads version %d)", m->version, MANIFEST_VERSION);
        m->source = xstrdup(get_string(&c, root, "", "source"));
        m->vocab_size = (uint32_t)get_count(&c, root, "", "vocab_size", UINT32_MAX);
        m->vocab_id = get_hex64(&c, root, "", "vocab_id");
        m->token_bytes = (uint32_t)get_count(&c, root, "", "token_bytes", 4);
        m->stream_token_bytes = (uint32_t)get_count(&c, root, "", "stream_token_bytes", 4);
        const cJSON *comp = member(&c, root, "", "compressed");
        if (comp && !cJSON_IsBool(comp)) bad(&c, "key 'compressed': expected true or false");
        m->compressed = comp && cJSON_IsTrue(comp);
        m->shard_tokens = get_count(&c, root, "", "shard_tokens", UINT64_MAX);
        const cJSON *vf = member(&c, root, "", "val_fraction");
        if (vf && (!cJSON_IsNumber(vf) || !(vf->valuedouble >= 0 && vf->valuedouble <= 1)))
            bad(&c, "key 'val_fraction': expected a number in [0, 1]");
        m->val_fraction = vf ? vf->valuedouble : 0;
        m->seed = get_count(&c, root, "", "seed", UINT64_MAX);
        uint64_t want_docs = get_count(&c, root, "", "n_docs", UINT64_MAX);
        uint64_t want_tokens = get_count(&c, root, "", "n_tokens", UINT64_MAX);
        if (!c.failed && (m->vocab_size == 0 || (m->token_bytes != 2 && m->token_bytes != 4) ||
                          (m->stream_token_bytes != 2 && m->stream_token_bytes != 4)))
            bad(&c, "vocabulary size %u / token widths %u, %u are not valid", m->vocab_size, m->token_bytes,
                m->stream_token_bytes);
        const cJSON *splits = member(&c, root, "", "splits");
        if (!c.failed && !cJSON_IsObject(splits)) bad(&c, "key 'splits': expected an object");
        for (int k = 0; k < N_SPLITS && !c.failed; k++) read_split(&c, splits, k, m);
        if (!c.failed && (m->n_docs != want_docs || m->n_tokens != want_tokens))
            bad(&c, "says %llu documents / %llu tokens, its splits add up to %llu / %llu",
                (unsigned long long)want_docs, (unsigned long long)want_tokens, (unsigned long long)m->n_docs,
                (unsigned long long)m->n_tokens);
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    if (c.failed) {
        manifest_free(m);
        return false;
    }
    return true;
}

void manifest_load(const char *dir, Manifest *m)
{
    char err[1024];
    if (!manifest_read(dir, m, err, sizeof err)) die("%s", err);
}
