/* checkpoint.c: see checkpoint.h. */
#include "train/checkpoint.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/path.h"
#include "base/hash.h"
#include "formats/ndjson.h"
#include "formats/tensor_file.h"
#include "train/run_id.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A whole small text file (state.json, latest); NULL if absent, else dies naming it. */
static char *slurp(const char *path)
{
    char why[256];
    char *text = file_slurp(path, (size_t)64 << 20, NULL, why, sizeof why);
    if (!text && errno != ENOENT) die("%s: %s", path, why);
    return text;
}

/* ---- weights and optimizer moments as tensor files ---------------------------------- */

static char *weights_meta(const Config *cfg, uint64_t vocab_id, int64_t step)
{
    char *config = config_to_json(cfg, false);
    char fp[17], vid[17];
    config_fingerprint_hex(cfg, fp);
    hash64_hex(vocab_id, vid);
    NdLine l = { 0 };
    nd_begin(&l);
    nd_int(&l, "step", step);
    nd_str(&l, "vocab_id", vid);
    nd_str(&l, "fingerprint", fp);
    nd_raw(&l, "config", config);
    nd_end(&l);
    l.buf[l.len - 1] = '\0';
    free(config);
    return l.buf;
}

static uint64_t write_weights(const char *path, const Config *cfg, const Model *m, uint64_t vocab_id, int64_t step)
{
    /* The parameters, then the state tensors (MoE routing biases). */
    int n = model_n_tensors(m), ns = model_n_state_tensors(m);
    TensorOut *t = xcalloc((size_t)(n + ns) + 1, sizeof *t);
    /* Host copies of the backend's parameters (a checkpoint is the same bytes whatever
     * the backend). */
    float *params = xaligned_alloc(model_n_params(m) * sizeof(float));
    model_get_params((Model *)m, params);
    for (int i = 0; i < n; i++) {
        const ParamTensor *pt = model_tensor(m, i);
        t[i] = (TensorOut){ pt->name, params + pt->offset, pt->rows, pt->cols };
    }
    for (int i = 0; i < ns; i++) {
        const ParamTensor *st = model_state_tensor(m, i);
        t[n + i] = (TensorOut){ st->name, model_state(m) + st->offset, st->rows, st->cols };
    }
    char *meta = weights_meta(cfg, vocab_id, step);
    uint64_t sum = tensor_file_write(path, "weights", meta, t, n + ns);
    free(meta);
    free(t);
    free(params);
    return sum;
}

void weights_save(const char *path, const Config *cfg, const Model *m, uint64_t vocab_id, int64_t step)
{
    write_weights(path, cfg, m, vocab_id, step);
}

static void read_weights(const TensorFile *f, Model *m)
{
    if (strcmp(tensor_file_kind(f), "weights") != 0) die("%s: a %s file, not weights", "model.bin", tensor_file_kind(f));
    const int n = model_n_tensors(m), ns = model_n_state_tensors(m);
    if (tensor_file_count(f) != n + ns)
        die("weights: %d tensors in the file, the model has %d", tensor_file_count(f), n + ns);
    float *params = xaligned_alloc(model_n_params(m) * sizeof(float));
    for (int i = 0; i < n; i++) {
        const ParamTensor *pt = model_tensor(m, i);
        tensor_file_read(f, pt->name, pt->rows, pt->cols, params + pt->offset);
    }
    float *state = xcalloc(model_n_state_floats(m) + 1, sizeof(float));
    for (int i = 0; i < ns; i++) {
        const ParamTensor *st = model_state_tensor(m, i);
        tensor_file_read(f, st->name, st->rows, st->cols, state + st->offset);
    }
    model_set_params(m, params);
    model_set_state(m, state);
    free(params);
    free(state);
}

void weights_load(const char *path, Config *cfg, Model *m)
{
    TensorFile *f = tensor_file_open(path);
    if (cfg) {
        char *meta = tensor_file_meta_json(f);
        cJSON *obj = cJSON_Parse(meta);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "config");
        if (!cJSON_IsObject(c)) die("%s: no config in the header's meta", path);
        char *text = cJSON_PrintUnformatted(c);
        char err[512];
        config_defaults(cfg);
        if (!config_from_json(cfg, text, path, err, sizeof err)) die("%s", err);
        cJSON_free(text);
        cJSON_Delete(obj);
        free(meta);
    }
    if (m) read_weights(f, m);
    tensor_file_close(f);
}

/* ---- save ---------------------------------------------------------------------------- */

char *checkpoint_save(const char *out_dir, const Config *cfg, Model *m, const Optimizer *o, const TrainProgress *p,
                      const float *m1, const float *m2)
{
    char name[32];
    snprintf(name, sizeof name, "step-%08" PRId64, p->step);
    char *dir = path_join(out_dir, name);
    make_dirs(dir);

    char *model_path = path_join(dir, "model.bin");
    uint64_t model_sum = write_weights(model_path, cfg, m, p->vocab_id, p->step);

    /* AdamW moments, one pair of tensors per parameter tensor, same names. */
    int n = model_n_tensors(m);
    TensorOut *t = xcalloc((size_t)2 * n, sizeof *t);
    char (*names)[80] = xcalloc((size_t)2 * n, sizeof *names);
    for (int i = 0; i < n; i++) {
        const ParamTensor *pt = model_tensor(m, i);
        snprintf(names[2 * i], sizeof names[0], "exp_avg.%s", pt->name);
        snprintf(names[2 * i + 1], sizeof names[0], "exp_avg_sq.%s", pt->name);
        t[2 * i] = (TensorOut){ names[2 * i], m1 + pt->offset, pt->rows, pt->cols };
        t[2 * i + 1] = (TensorOut){ names[2 * i + 1], m2 + pt->offset, pt->rows, pt->cols };
    }
    char meta[64];
    snprintf(meta, sizeof meta, "{\"step\":%" PRId64 "}", o->step);
    char *opt_path = path_join(dir, "optimizer.bin");
    uint64_t opt_sum = tensor_file_write(opt_path, "optimizer", meta, t, 2 * n);
    free(t);
    free(names);

    char hex[17], *config = config_to_json(cfg, false);
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "format", "nmoe-checkpoint");
    nd_int(&l, "version", CHECKPOINT_VERSION);
    nd_int(&l, "step", p->step);
    nd_int(&l, "tokens", p->tokens);
    nd_int(&l, "optimizer_step", o->step);
    nd_str(&l, "fingerprint", p->fingerprint);
    if (p->run[0]) nd_str(&l, "run", p->run);
    hash64_hex(p->vocab_id, hex);
    nd_str(&l, "vocab_id", hex);
    /* 64-bit integers as decimal strings: JSON readers hold doubles. */
    char num[32];
    nd_obj_begin(&l, "data");
    snprintf(num, sizeof num, "%" PRIu64, p->sampler.rng.seed);
    nd_str(&l, "rng_seed", num);
    snprintf(num, sizeof num, "%" PRIu64, p->sampler.rng.stream);
    nd_str(&l, "rng_stream", num);
    snprintf(num, sizeof num, "%" PRIu64, p->sampler.rng.counter);
    nd_str(&l, "rng_counter", num);
    snprintf(num, sizeof num, "%" PRIu64, p->sampler.sequences);
    nd_str(&l, "sequences", num);
    snprintf(num, sizeof num, "%" PRIu64, p->train_tokens);
    nd_str(&l, "train_tokens", num);
    nd_obj_end(&l);
    nd_obj_begin(&l, "files");
    hash64_hex(model_sum, hex);
    nd_str(&l, "model.bin", hex);
    hash64_hex(opt_sum, hex);
    nd_str(&l, "optimizer.bin", hex);
    nd_obj_end(&l);
    nd_raw(&l, "config", config);
    if (model_n_moe_layers(m) > 0) {
        /* The open router window, so that a resumed run writes the same router lines. */
        nd_obj_begin(&l, "router");
        nd_int(&l, "from_step", p->router_from_step);
        nd_arr_begin(&l, "layers");
        for (int i = 0; i < model_n_moe_layers(m); i++) {
            const int layer = model_moe_layer(m, i);
            const MoeStats *w = model_router_window_stats(m, layer);
            nd_obj_begin(&l, NULL);
            nd_int(&l, "layer", layer);
            nd_arr_begin(&l, "loads");
            for (int e = 0; e < w->n_experts; e++) nd_elem_int(&l, (int64_t)w->loads[e]);
            nd_arr_end(&l);
            nd_int(&l, "tokens", w->tokens);
            nd_int(&l, "assignments", w->assignments);
            nd_int(&l, "dropped", w->dropped);
            nd_f64(&l, "top1_affinity_sum", w->top1_affinity_sum);
            nd_f64(&l, "aux_loss_sum", w->aux_loss_sum);
            nd_obj_end(&l);
        }
        nd_arr_end(&l);
        nd_obj_end(&l);
    }
    /* Last, the checksum of every byte before it: an edited step, RNG counter or load
     * is caught on reading, not resumed from. */
    hash64_hex(hash64(l.buf, l.len, 0), hex);
    nd_str(&l, STATE_CHECKSUM_KEY, hex);
    nd_end(&l);
    char *state_path = path_join(dir, "state.json");
    atomic_write_file(state_path, l.buf, l.len);
    nd_free(&l);
    free(config);

    char *latest = path_join(out_dir, "latest");
    char line[48];
    int len = snprintf(line, sizeof line, "%s\n", name);
    atomic_write_file(latest, line, (size_t)len);
    free(latest);
    free(state_path);
    free(opt_path);
    free(model_path);
    return dir;
}

/* ---- find and read ------------------------------------------------------------------- */

char *checkpoint_find(const char *dir)
{
    char *state = path_join(dir, "state.json");
    if (is_regular_file(state)) {
        free(state);
        return xstrdup(dir);
    }
    free(state);
    char *latest_path = path_join(dir, "latest");
    char *latest = slurp(latest_path);
    if (!latest) {
        free(latest_path);
        return NULL;
    }
    size_t n = strlen(latest);
    while (n && (latest[n - 1] == '\n' || latest[n - 1] == '\r')) latest[--n] = '\0';
    if (n == 0 || strchr(latest, '/') || strcmp(latest, "..") == 0 || strcmp(latest, ".") == 0)
        die("%s: does not name a checkpoint directory", latest_path);
    char *ckpt = path_join(dir, latest);
    char *state2 = path_join(ckpt, "state.json");
    if (!is_regular_file(state2)) die("%s: names %s, which has no state.json", latest_path, latest);
    free(state2);
    free(latest);
    free(latest_path);
    return ckpt;
}

static uint64_t parse_u64(const cJSON *obj, const char *key, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v)) die("%s: %s: missing or not a string", path, key);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v->valuestring, &end, 10);
    if (!*v->valuestring || *end || errno) die("%s: %s: '%s' is not a 64-bit integer", path, key, v->valuestring);
    return x;
}

static uint64_t parse_hex(const cJSON *obj, const char *key, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) die("%s: %s: missing or not 16 hex digits", path, key);
    char *end;
    unsigned long long x = strtoull(v->valuestring, &end, 16);
    if (*end) die("%s: %s: '%s' is not 16 hex digits", path, key, v->valuestring);
    return x;
}

static int64_t json_nonneg_int(const cJSON *obj, const char *key, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != (double)(int64_t)v->valuedouble)
        die("%s: %s: missing or not a non-negative integer", path, key);
    return (int64_t)v->valuedouble;
}

/* state.json ends `,"state_xxh3":"<16 hex>"}` and a newline; the digits are the
 * XXH3-64 of every byte before that comma. Checked on the text as read, before it is
 * parsed, so that the file's bytes (not one parser's view of them) are what is sealed. */
static void check_state_checksum(const char *text, const char *path)
{
    static const char tag[] = ",\"" STATE_CHECKSUM_KEY "\":\"";
    const char *at = NULL;
    for (const char *p = strstr(text, tag); p; p = strstr(p + 1, tag)) at = p;
    if (!at) {
        /* An older writer's file says so by its version; anything else is damage. */
        if (strstr(text, "\"version\":1,")) die("%s: checkpoint version 1, written before state.json carried its checksum "
                                                "(this build reads version %d)", path, CHECKPOINT_VERSION);
        die("%s: no %s (truncated or edited; corrupt checkpoint)", path, STATE_CHECKSUM_KEY);
    }
    const char *hex = at + sizeof tag - 1;
    char want[17];
    for (int i = 0; i < 16; i++)
        if (!hex[i] || !strchr("0123456789abcdef", hex[i])) die("%s: %s: not 16 hex digits (corrupt checkpoint)", path, STATE_CHECKSUM_KEY);
    memcpy(want, hex, 16);
    want[16] = '\0';
    if (strcmp(hex + 16, "\"}\n") != 0 && strcmp(hex + 16, "\"}") != 0)
        die("%s: bytes after %s (state.json ends with it; corrupt checkpoint)", path, STATE_CHECKSUM_KEY);
    char got[17];
    hash64_hex(hash64(text, (size_t)(at - text), 0), got);
    if (strcmp(got, want) != 0)
        die("%s: checksum %s, but the file records %s: edited or damaged since it was written (corrupt checkpoint)", path,
            got, want);
}

/* The one reader of state.json: read, parse, check the format and version. Returns the
 * object and, in *path_out, the file's path (both the caller's to free). */
static cJSON *state_open(const char *ckpt_dir, char **path_out)
{
    char *path = path_join(ckpt_dir, "state.json");
    char *text = slurp(path);
    if (!text) die("%s: %s", path, strerror(errno));
    check_state_checksum(text, path);
    cJSON *obj = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(obj)) die("%s: not a JSON object (corrupt checkpoint)", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(obj, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "nmoe-checkpoint") != 0) die("%s: format is not nmoe-checkpoint", path);
    int64_t version = json_nonneg_int(obj, "version", path);
    if (version != CHECKPOINT_VERSION) die("%s: checkpoint version %" PRId64 " (this build reads %d)", path, version, CHECKPOINT_VERSION);
    *path_out = path;
    return obj;
}

void checkpoint_read_state(const char *ckpt_dir, CheckpointState *st)
{
    char *path;
    cJSON *obj = state_open(ckpt_dir, &path);
    memset(st, 0, sizeof *st);
    st->progress.step = json_nonneg_int(obj, "step", path);
    st->progress.tokens = json_nonneg_int(obj, "tokens", path);
    st->optimizer_step = json_nonneg_int(obj, "optimizer_step", path);
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(obj, "fingerprint");
    if (!cJSON_IsString(fp) || strlen(fp->valuestring) != 16) die("%s: fingerprint: missing or not 16 hex digits", path);
    memcpy(st->progress.fingerprint, fp->valuestring, 17);
    /* The run id came after version 2 did: optional, so older checkpoints still load. */
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(obj, "run");
    if (run) {
        if (!cJSON_IsString(run) || !run_id_valid(run->valuestring))
            die("%s: run: not 16 lowercase hex digits", path);
        memcpy(st->progress.run, run->valuestring, 17);
    }
    st->progress.vocab_id = parse_hex(obj, "vocab_id", path);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    if (!cJSON_IsObject(data)) die("%s: data: missing", path);
    st->progress.sampler.rng.seed = parse_u64(data, "rng_seed", path);
    st->progress.sampler.rng.stream = parse_u64(data, "rng_stream", path);
    st->progress.sampler.rng.counter = parse_u64(data, "rng_counter", path);
    st->progress.sampler.sequences = parse_u64(data, "sequences", path);
    st->progress.train_tokens = parse_u64(data, "train_tokens", path);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(obj, "files");
    if (!cJSON_IsObject(files)) die("%s: files: missing", path);
    st->model_xxh3 = parse_hex(files, "model.bin", path);
    st->optimizer_xxh3 = parse_hex(files, "optimizer.bin", path);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(obj, "config");
    if (!cJSON_IsObject(config)) die("%s: config: missing", path);
    char *ctext = cJSON_PrintUnformatted(config);
    char err[512];
    config_defaults(&st->config);
    if (!config_from_json(&st->config, ctext, path, err, sizeof err)) die("%s", err);
    char check[17];
    config_fingerprint_hex(&st->config, check);
    if (strcmp(check, st->progress.fingerprint) != 0)
        die("%s: the stored config's fingerprint is %s, not the recorded %s (corrupt checkpoint)", path, check,
            st->progress.fingerprint);
    /* What one step does, the counts must agree with: every step takes batch_size
     * sequences of seq_len tokens, and one AdamW step. */
    const int64_t k = st->progress.step;
    if (st->optimizer_step != k)
        die("%s: optimizer_step %" PRId64 " is not step %" PRId64 " (corrupt checkpoint)", path, st->optimizer_step, k);
    if (st->progress.tokens != k * config_tokens_per_step(&st->config))
        die("%s: tokens %" PRId64 " is not step %" PRId64 " x %" PRId64 " tokens per step (corrupt checkpoint)", path,
            st->progress.tokens, k, config_tokens_per_step(&st->config));
    if (st->progress.sampler.sequences != (uint64_t)k * (uint64_t)st->config.batch_size)
        die("%s: data.sequences %" PRIu64 " is not step %" PRId64 " x batch_size %" PRId64 " (corrupt checkpoint)", path,
            st->progress.sampler.sequences, k, st->config.batch_size);
    if (st->progress.sampler.rng.seed != (uint64_t)st->config.seed || st->progress.sampler.rng.stream != DATA_STREAM)
        die("%s: data.rng_seed/rng_stream %" PRIu64 "/%" PRIu64 " are not the config's seed %" PRId64 " and the data stream %d "
            "(corrupt checkpoint)", path, st->progress.sampler.rng.seed, st->progress.sampler.rng.stream, st->config.seed,
            DATA_STREAM);
    cJSON_free(ctext);
    cJSON_Delete(obj);
    free(path);
}

static TensorFile *open_checked(const char *ckpt_dir, const char *name, uint64_t want)
{
    char *path = path_join(ckpt_dir, name);
    TensorFile *f = tensor_file_open(path);
    if (tensor_file_checksum(f) != want) {
        char got[17], exp[17];
        hash64_hex(tensor_file_checksum(f), got);
        hash64_hex(want, exp);
        die("%s: checksum %s, but state.json records %s (files from different checkpoints)", path, got, exp);
    }
    free(path);
    return f;
}

/* The step (and, for the weights, fingerprint and vocabulary) that a .bin file's own
 * header records must be state.json's: the second witness of where the run stood. */
static void cross_check_meta(const TensorFile *f, const char *ckpt_dir, const char *name, int64_t step,
                             const CheckpointState *st)
{
    char *meta = tensor_file_meta_json(f);
    cJSON *obj = cJSON_Parse(meta);
    char *path = path_join(ckpt_dir, name);
    if (!cJSON_IsObject(obj)) die("%s: its header's meta is not a JSON object", path);
    const int64_t got = json_nonneg_int(obj, "step", path);
    if (got != step)
        die("%s: written at step %" PRId64 ", but state.json says %" PRId64 " (state.json and the weights disagree; "
            "corrupt checkpoint)", path, got, step);
    if (st) {
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(obj, "fingerprint");
        if (!cJSON_IsString(fp) || strcmp(fp->valuestring, st->progress.fingerprint) != 0)
            die("%s: its config fingerprint is not state.json's %s (corrupt checkpoint)", path, st->progress.fingerprint);
        if (parse_hex(obj, "vocab_id", path) != st->progress.vocab_id)
            die("%s: its vocab_id is not state.json's (corrupt checkpoint)", path);
    }
    free(path);
    cJSON_Delete(obj);
    free(meta);
}

void checkpoint_load_weights(const char *ckpt_dir, const CheckpointState *st, Model *m)
{
    TensorFile *f = open_checked(ckpt_dir, "model.bin", st->model_xxh3);
    cross_check_meta(f, ckpt_dir, "model.bin", st->progress.step, st);
    read_weights(f, m);
    tensor_file_close(f);
}

void checkpoint_load_optimizer(const char *ckpt_dir, const CheckpointState *st, Optimizer *o, Model *m)
{
    TensorFile *f = open_checked(ckpt_dir, "optimizer.bin", st->optimizer_xxh3);
    if (strcmp(tensor_file_kind(f), "optimizer") != 0) die("%s/optimizer.bin: a %s file", ckpt_dir, tensor_file_kind(f));
    cross_check_meta(f, ckpt_dir, "optimizer.bin", st->optimizer_step, NULL);
    if (tensor_file_count(f) != 2 * model_n_tensors(m))
        die("%s/optimizer.bin: %d tensors, expected %d", ckpt_dir, tensor_file_count(f), 2 * model_n_tensors(m));
    const size_t np = model_n_params(m);
    float *m1 = xaligned_alloc(np * sizeof(float)), *m2 = xaligned_alloc(np * sizeof(float));
    for (int i = 0; i < model_n_tensors(m); i++) {
        const ParamTensor *pt = model_tensor(m, i);
        char name[80];
        snprintf(name, sizeof name, "exp_avg.%s", pt->name);
        tensor_file_read(f, name, pt->rows, pt->cols, m1 + pt->offset);
        snprintf(name, sizeof name, "exp_avg_sq.%s", pt->name);
        tensor_file_read(f, name, pt->rows, pt->cols, m2 + pt->offset);
    }
    optimizer_load_moments(o, m, m1, m2); /* ZeRO-1: this rank's part */
    free(m1);
    free(m2);
    o->step = st->optimizer_step;
    tensor_file_close(f);
}

static double json_number(const cJSON *obj, const char *key, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) die("%s: router: %s: missing or not a number", path, key);
    return v->valuedouble;
}

void checkpoint_load_router(const char *ckpt_dir, Model *m, int64_t *from_step)
{
    char *path;
    cJSON *obj = state_open(ckpt_dir, &path);
    const cJSON *router = cJSON_GetObjectItemCaseSensitive(obj, "router");
    const int n = model_n_moe_layers(m);
    if (n == 0) {
        if (router) die("%s: router state, but the model has no MoE blocks", path);
    } else {
        if (!cJSON_IsObject(router)) die("%s: router: missing (a checkpoint of an MoE model has one)", path);
        *from_step = json_nonneg_int(router, "from_step", path);
        const cJSON *layers = cJSON_GetObjectItemCaseSensitive(router, "layers");
        if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) != n)
            die("%s: router: layers: expected an array of %d MoE blocks", path, n);
        for (int i = 0; i < n; i++) {
            const cJSON *o = cJSON_GetArrayItem(layers, i);
            const int layer = model_moe_layer(m, i);
            if (!cJSON_IsObject(o) || json_nonneg_int(o, "layer", path) != layer)
                die("%s: router: layers[%d]: expected block %d", path, i, layer);
            MoeStats *w = model_router_window_stats(m, layer);
            const cJSON *loads = cJSON_GetObjectItemCaseSensitive(o, "loads");
            if (!cJSON_IsArray(loads) || cJSON_GetArraySize(loads) != w->n_experts)
                die("%s: router: block %d: loads: expected %d counts", path, layer, w->n_experts);
            for (int e = 0; e < w->n_experts; e++) {
                const cJSON *v = cJSON_GetArrayItem(loads, e);
                if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
                    v->valuedouble != (double)(uint64_t)v->valuedouble)
                    die("%s: router: block %d: loads[%d]: not a count", path, layer, e);
                w->loads[e] = (uint64_t)v->valuedouble;
            }
            w->tokens = json_nonneg_int(o, "tokens", path);
            w->assignments = json_nonneg_int(o, "assignments", path);
            w->dropped = json_nonneg_int(o, "dropped", path);
            w->top1_affinity_sum = json_number(o, "top1_affinity_sum", path);
            w->aux_loss_sum = json_number(o, "aux_loss_sum", path);
        }
    }
    cJSON_Delete(obj);
    free(path);
}

Model *model_load_ex(const char *dir, int max_batch)
{
    char *ckpt = checkpoint_find(dir);
    if (!ckpt) die("%s: not a checkpoint (no state.json) nor a run directory (no latest)", dir);
    CheckpointState st;
    checkpoint_read_state(ckpt, &st);
    char err[512];
    if (!config_check(&st.config, ckpt, err, sizeof err)) die("%s", err);
    ModelShape shape = model_shape_from_config(&st.config);
    Model *m = model_create(&shape, max_batch, shape.seq_len, false);
    checkpoint_load_weights(ckpt, &st, m);
    model_set_provenance(m, st.progress.vocab_id, st.progress.fingerprint, st.progress.step);
    free(ckpt);
    return m;
}

Model *model_load(const char *dir) { return model_load_ex(dir, 8); }
