/* train_loop.c: see train_loop.h. */
#include "train/train_loop.h"
#include "train/out_dir.h"
#include "tok/tokenizer.h"
#include "train/checkpoint.h"
#include "base/clock.h"
#include "train/dataloader.h"
#include "train/dist.h"
#include "base/error.h"
#include "model/backend.h"
#include "model/model.h"
#include "formats/ndjson.h"
#include "train/optimizer.h"
#include "model/router_line.h"
#include "model/router_stats.h"
#include "train/train_step.h"
#include "train/update_telemetry.h"
#include "train/run_id.h"
#include "base/git_rev.h"
#include "registry/registry.h"

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process-wide state: the signal that asked us to stop. The handler
 * only records it; the loop checks it between steps, so a step is never cut in half. */
static volatile sig_atomic_t stop_signal;
static void on_stop_signal(int sig) { stop_signal = sig; }

static double max_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

static void format_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e7) { snprintf(buf, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

/* ---- the metric stream -------------------------------------------------------------- */

typedef struct {
    FILE *fp;
    const char *name;
    NdLine l;
    char run[17];
} Metrics;

static void line_begin(Metrics *mx, const char *kind, int64_t step)
{
    nd_begin_metric(&mx->l, kind, mx->run, step);
}

/* Under mpirun only rank 0 has a stream (fp); the other ranks build the same lines. */
static void line_emit(Metrics *mx)
{
    if (mx->fp) nd_emit(&mx->l, mx->fp, mx->name);
}

/* ---- progress for people (stderr) -------------------------------------------------- */

typedef struct {
    bool tty;          /* one line updated in place */
    bool line_open;    /* the in-place line is on screen */
} Progress;

static void progress_break(Progress *p)
{
    if (p->line_open) {
        fputc('\n', stderr);
        p->line_open = false;
    }
}

static void say(Progress *p, int level, const char *fmt, ...) NMOE_PRINTF(3, 4);
static void say(Progress *p, int level, const char *fmt, ...)
{
    if (nmoe_verbosity() < level) return;
    progress_break(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Which fingerprinted keys differ, as "key a -> b, ..." (for the refusal message). */
static void describe_differences(const Config *was, const Config *now, char *buf, size_t cap)
{
    buf[0] = '\0';
    char a[CONFIG_STRING_MAX * 2], b[CONFIG_STRING_MAX * 2];
    for (size_t i = 0; i < config_key_count(); i++) {
        const ConfigKey *k = config_key_at(i);
        if (!k->fingerprinted) continue;
        config_value_json(was, k, a, sizeof a);
        config_value_json(now, k, b, sizeof b);
        if (strcmp(a, b) == 0) continue;
        /* Long values (paths) are cut: the message only has to point at the key. */
        a[64] = b[64] = '\0';
        size_t used = strlen(buf);
        if (cap - used < 200) break;
        snprintf(buf + used, cap - used, "%s%.60s %.64s -> %.64s", used ? ", " : "", k->name, a, b);
    }
}

/* ---- the run ------------------------------------------------------------------------ */

typedef struct {
    const Config *cfg;
    Model *model;
    Optimizer *opt;
    Trainer *trainer;
    TrainProgress progress;
    Metrics mx;
    Progress pg;
    char *last_checkpoint;  /* path of the newest checkpoint written or resumed from */
    int64_t last_checkpoint_step;
    double t_start;
    double train_s;         /* seconds in training steps since this process started */
    Tokenizer *tok;         /* validation_log_bpb: the byte lengths of the data's tokens */
    UpdateTelemetry *upd;   /* MoE with router_telemetry: the window's last step's updates */
    char stop_reason[256];  /* the stop line's */
} Run;

static void save_checkpoint(Run *r)
{
    if (r->last_checkpoint_step == r->progress.step) return;
    /* Rank 0 alone writes: every rank holds the same weights, and under ZeRO-1 each
     * sends rank 0 its part of the moments first (the file is the one format). */
    float *m1 = NULL, *m2 = NULL;
    const size_t np = model_n_params(r->model);
    if (dist_rank() == 0) {
        m1 = xaligned_alloc(np * sizeof(float));
        m2 = xaligned_alloc(np * sizeof(float));
    }
    optimizer_gather_moments(r->opt, r->model, m1, m2);
    if (dist_rank() != 0) {
        r->last_checkpoint_step = r->progress.step;
        return;
    }
    char *dir = checkpoint_save(r->cfg->out_dir, r->cfg, r->model, r->opt, &r->progress, m1, m2);
    free(m1);
    free(m2);
    free(r->last_checkpoint);
    r->last_checkpoint = dir;
    r->last_checkpoint_step = r->progress.step;
    line_begin(&r->mx, "checkpoint", r->progress.step);
    nd_str(&r->mx.l, "path", dir);
    line_emit(&r->mx);
    say(&r->pg, NMOE_VERBOSE, "step %" PRId64 ": checkpoint %s", r->progress.step, dir);
    char removed[1024];
    int n = out_dir_prune_checkpoints(r->cfg->out_dir, r->cfg->keep_checkpoints, removed, sizeof removed);
    if (n) say(&r->pg, NMOE_VERBOSE, "keep_checkpoints = %" PRId64 ": removed %s", r->cfg->keep_checkpoints, removed);
}

static double run_validation(Run *r, const ValidationSet *v)
{
    /* Rank 0 validates; the others only need the loss (target_loss). */
    double loss = 0.0;
    if (dist_rank() != 0) {
        dist_bcast_f64(&loss, 1);
        return loss;
    }
    double t0 = monotonic_s();
    int64_t counted = 0;
    EvalBpb bpb = { 0 };
    loss = trainer_validate(r->trainer, v, &counted, r->tok ? &bpb : NULL, r->tok ? r->tok->token_len : NULL,
                                   r->tok ? r->tok->vocab_size : 0);
    line_begin(&r->mx, "val", r->progress.step);
    nd_f64(&r->mx.l, "loss", loss);
    if (r->tok) {
        nd_f64(&r->mx.l, "bpb", eval_bpb_value(&bpb));
        nd_int(&r->mx.l, "bytes", (int64_t)bpb.bytes);
    }
    nd_int(&r->mx.l, "tokens", counted);
    nd_int(&r->mx.l, "sequences", (int64_t)v->n_sequences);
    nd_obj_begin(&r->mx.l, "time");
    nd_f64(&r->mx.l, "elapsed_s", monotonic_s() - r->t_start);
    nd_f64(&r->mx.l, "val_s", monotonic_s() - t0);
    nd_obj_end(&r->mx.l);
    line_emit(&r->mx);
    say(&r->pg, NMOE_NORMAL, "step %" PRId64 ": val loss %.4f (%" PRId64 " tokens)", r->progress.step, loss, counted);
    dist_bcast_f64(&loss, 1);
    return loss;
}

/* One `router` line per MoE block for the window [router_from_step, step] (nmoe-metrics(5)),
 * unless router_telemetry is off; then, at a multiple of log_every, the windows are
 * reset. (The last step of a run that is not one closes no window: its lines cover the
 * part so far, and the window stays open in the checkpoint, so that a resumed run
 * writes the lines an uninterrupted one would.) Returns true, with the reason, when
 * stop_on_collapse is set and a block's routing collapsed in the window
 * (router_collapsed of router_stats.h; the first such block is named). */
static bool emit_router_lines(Run *r, bool close_window, char *reason, size_t cap)
{
    const Config *cfg = r->cfg;
    Model *m = r->model;
    const int E = (int)cfg->n_routed_experts, K = (int)cfg->n_activated_experts;
    bool collapsed = false;
    for (int i = 0; i < model_n_moe_layers(m); i++) {
        const int layer = model_moe_layer(m, i);
        MoeStats *w = model_router_window_stats(m, layer);
        const float *bias = model_router_bias(m, layer);
        RouterLine line = {
            .layer = layer, .experts = E, .top_k = K, .from_step = r->progress.router_from_step,
            .to_step = r->progress.step, .tokens = w->tokens, .loads = w->loads, .bias = bias,
            .drop_frac = w->assignments ? (double)w->dropped / (double)w->assignments : 0.0,
            .top1_affinity = w->tokens ? w->top1_affinity_sum / (double)w->tokens : 0.0,
        };
        const LayerUpdate *u = update_telemetry_layer(r->upd, layer);
        if (u->valid && u->step == r->progress.step) {
            line.has_update = true;
            line.update_ratio = u->router_update_ratio;
            line.below_floor = u->router_below_floor;
            line.codes_changed = u->expert_codes_changed;
        }
        RouterStats rs;
        if (cfg->router_telemetry) {
            router_line_begin(&r->mx.l, r->mx.run, r->progress.step, &line, &rs);
            if (cfg->aux_loss_alpha > 0 && w->tokens > 0)
                nd_f64(&r->mx.l, "aux_loss", w->aux_loss_sum * (double)cfg->seq_len * (double)config_micro_batch(cfg) / (double)w->tokens);
            /* The gradient of the window's last step (still in the model after AdamW). */
            if (cfg->log_router_grad_norm) nd_f64(&r->mx.l, "router_grad_norm", model_router_grad_norm(m, layer));
            line_emit(&r->mx);
        } else {
            router_stats_compute(w->loads, bias, E, &rs);
        }
        say(&r->pg, NMOE_VERBOSE, "step %" PRId64 ": layer %d router cv %.1f%% entropy %.3f active %d/%d bias [%.3g, %.3g]",
            r->progress.step, layer, rs.cv_pct, rs.entropy, rs.active, E, rs.bias_min, rs.bias_max);
        if (cfg->stop_on_collapse && !collapsed && router_collapsed(&rs, K, ROUTER_COLLAPSE_CV_FRAC)) {
            router_collapse_reason(&rs, layer, reason, cap);
            collapsed = true;
        }
        if (close_window) moe_stats_reset(w);
    }
    if (close_window) r->progress.router_from_step = r->progress.step + 1;
    return collapsed;
}

/* Under mpirun: every rank's compute, communication and waiting in the step, in rank
 * order (a collective: every rank calls it at the same step). */
static void rank_times(Metrics *mx, const StepResult *res)
{
    const int n = dist_size();
    const double mine[3] = { 1e3 * res->compute_s, 1e3 * res->comm_s, 1e3 * res->wait_s };
    double *all = xmalloc((size_t)n * 3 * sizeof *all);
    dist_gather_f64(mine, all, 3);
    static const char *const names[3] = { "rank_compute_ms", "rank_comm_ms", "rank_wait_ms" };
    for (int k = 0; k < 3; k++) {
        nd_arr_begin(&mx->l, names[k]);
        for (int i = 0; i < n; i++) nd_elem_f64(&mx->l, dist_rank() == 0 ? all[(size_t)i * 3 + k] : 0.0);
        nd_arr_end(&mx->l);
    }
    free(all);
}

static int finish(Run *r, const char *reason, int status, double loss)
{
    snprintf(r->stop_reason, sizeof r->stop_reason, "%s", reason);
    line_begin(&r->mx, "stop", r->progress.step);
    nd_str(&r->mx.l, "reason", reason);
    nd_int(&r->mx.l, "status", status);
    if (!isnan(loss) || status == NMOE_EXIT_DIVERGED) nd_f64(&r->mx.l, "loss", loss);
    if (r->last_checkpoint) nd_str(&r->mx.l, "checkpoint", r->last_checkpoint);
    else nd_null(&r->mx.l, "checkpoint");
    nd_obj_begin(&r->mx.l, "time");
    nd_f64(&r->mx.l, "elapsed_s", monotonic_s() - r->t_start);
    nd_f64(&r->mx.l, "train_s", r->train_s);
    nd_f64(&r->mx.l, "max_rss_mb", max_rss_mb());
    nd_obj_end(&r->mx.l);
    line_emit(&r->mx);
    return status;
}

/* ---- the run registry (registry.h) --------------------------------------------------- */

/* path made absolute against the working directory (malloc'ed): a registry is read
 * from anywhere. */
static char *absolute_path(const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf)) return xstrdup(buf);
    if (path[0] == '/' || !getcwd(buf, sizeof buf)) return xstrdup(path);
    char *out = xmalloc(strlen(buf) + strlen(path) + 2);
    sprintf(out, "%s/%s", buf, path);
    return out;
}

static void registry_record_start(Run *r, Registry *reg, const TrainOptions *opt, const char *parent_run)
{
    char host[256] = "unknown";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    char *config = config_to_json(r->cfg, false), *out_dir = absolute_path(r->cfg->out_dir);
    const bool to_file = opt->metrics_path && strcmp(opt->metrics_path, "-") != 0;
    char *metrics = to_file ? absolute_path(opt->metrics_path) : NULL;
    const RegistryStart s = {
        .id = r->progress.run, .parent = parent_run, .fingerprint = r->progress.fingerprint, .config = config,
        .git_rev = nmoe_git_rev(), .version = NMOE_VERSION, .host = host, .backend = r->cfg->backend,
        .out_dir = out_dir, .metrics = metrics, .pid = (int64_t)getpid(), .steps = r->progress.step,
        .tokens = r->progress.tokens,
    };
    registry_start(reg, &s);
    registry_fail_on_fatal(reg, r->progress.run, &r->progress.step, &r->progress.tokens);
    say(&r->pg, NMOE_VERBOSE, "registry: run %s recorded in %s", r->progress.run, registry_path(reg));
    free(config);
    free(out_dir);
    free(metrics);
}

/* The end of the run into its row. The checkpoints and the metric stream are already
 * written; a registry that cannot take the row is reported, and turns a run that
 * otherwise succeeded into a runtime failure (1), never losing its output. */
static int registry_record_end(Run *r, Registry *reg, int status, bool target_reached, double train_loss, double val_loss)
{
    registry_disarm();
    char *ckpt = r->last_checkpoint ? absolute_path(r->last_checkpoint) : NULL;
    const RegistryEnd e = {
        .status = registry_status(status, target_reached), .exit_status = status, .reason = r->stop_reason,
        .steps = r->progress.step, .tokens = r->progress.tokens, .train_loss = train_loss, .val_loss = val_loss,
        .wall_s = monotonic_s() - r->t_start, .checkpoint = ckpt,
    };
    char err[1024];
    const bool ok = registry_end(reg, r->progress.run, &e, err, sizeof err);
    free(ckpt);
    if (ok) return status;
    progress_break(&r->pg);
    fprintf(stderr, "%s: %s; run %s is not recorded as ended (its checkpoints and metric stream are complete)\n",
            nmoe_prog(), err, r->progress.run);
    return status == NMOE_EXIT_OK ? NMOE_EXIT_FAILURE : status;
}

int train_run(const Config *cfg_in, const TrainOptions *opt)
{
    const Config *cfg = cfg_in;
    const char *origin = opt->config_origin ? opt->config_origin : "config";
    char err[1024];
    if (!config_check(cfg, origin, err, sizeof err)) die_usage("%s", err);
    if (!trainer_split_check(cfg, dist_size(), origin, err, sizeof err)) die_usage("%s", err);
    /* The backend first: one that cannot run is an error, never a quiet CPU run. */
    const ModelShape dials = model_shape_from_config(cfg);
    if (!backend_supports(cfg->backend, &dials, err, sizeof err)) die_usage("%s", err);
    if (!backend_supports_optimizer(cfg->backend, cfg->optimizer, err, sizeof err)) die_usage("%s", err);
    int backend_status = 0;
    const ModelBackend *backend = backend_find(cfg->backend, &backend_status, err, sizeof err);
    if (!backend) die_status(backend_status, "%s", err);
    Run r = { .cfg = cfg, .last_checkpoint_step = -1, .t_start = monotonic_s() };
    r.pg.tty = isatty(STDERR_FILENO);
    config_fingerprint_hex(cfg, r.progress.fingerprint);
    if (dist_size() > 1) { /* one run: every rank's config must be rank 0's */
        char root_fp[sizeof r.progress.fingerprint];
        memcpy(root_fp, r.progress.fingerprint, sizeof root_fp);
        dist_bcast_bytes(root_fp, sizeof root_fp);
        if (memcmp(root_fp, r.progress.fingerprint, sizeof root_fp) != 0)
            die("%s: config fingerprint %s, but rank 0's is %s: every rank of a run needs the same config", origin,
                r.progress.fingerprint, root_fp);
    }

    /* The data first: a run refused for its data leaves nothing behind, not even an
     * out_dir. */
    DataSources data;
    data_open(&data, cfg);
    const int T = (int)cfg->seq_len, B = (int)cfg->batch_size, micro = (int)config_micro_batch(cfg);
    TrainSampler sampler;
    sampler_init(&sampler, data.train, T, (uint32_t)cfg->vocab_size, (uint64_t)cfg->seed);
    bool do_val = cfg->validation_every > 0;
    ValidationSet val = { 0 };
    if (do_val) {
        if (data.val.n_tokens == 0)
            die("validation_every = %" PRId64 " but there is no validation data: pack with --val-fraction, set "
                "validation_data_path, or set holdout_fraction above 0", cfg->validation_every);
        validation_init(&val, data.val, T, (uint64_t)cfg->validation_steps * (uint64_t)B, (uint32_t)cfg->vocab_size);
    }
    if (cfg->validation_log_bpb) {
        /* Byte lengths only fit the tokenizer the data was made with. */
        r.tok = tokenizer_load_or_die(cfg->tokenizer);
        if (data.train.vocab_id && r.tok->vocab_id != data.train.vocab_id)
            die("tokenizer %s (vocabulary id %016" PRIx64 ") is not the one %s was made with (%016" PRIx64 ")",
                cfg->tokenizer, r.tok->vocab_id, cfg->data_path, data.train.vocab_id);
        if ((int64_t)r.tok->vocab_size > cfg->vocab_size)
            die("tokenizer %s has %u ids, more than vocab_size = %" PRId64, cfg->tokenizer, r.tok->vocab_size, cfg->vocab_size);
    }
    /* The registry before anything is written: one that cannot be written stops the run
     * here, before it starts. */
    Registry *reg = opt->registry_path && dist_rank() == 0 ? registry_open(opt->registry_path) : NULL; /* rank 0 records */
    /* The out_dir is this run's for its whole life (out_dir.h): taken before its
     * checkpoints are looked at, so no other run can change them under us. */
    if (!cfg->out_dir[0]) die_usage("%s: out_dir is empty (the directory for checkpoints)", origin);
    if (dist_rank() == 0) (void)out_dir_lock(cfg->out_dir); /* one run: rank 0 holds it for all */

    /* Where to resume from, and whether it is this run. */
    char *ckpt = NULL;
    if (opt->resume_dir) {
        ckpt = checkpoint_find(opt->resume_dir);
        if (!ckpt) die("%s: no checkpoint there (no state.json, and no latest)", opt->resume_dir);
    } else if (cfg->resume) {
        ckpt = checkpoint_find(cfg->out_dir);
        if (!ckpt) say(&r.pg, NMOE_VERBOSE, "resume: no checkpoint in %s yet, starting fresh", cfg->out_dir);
    }
    /* A run that does not continue from out_dir's own checkpoints would overwrite
     * them (and `latest`) as it goes: refused unless --force, which removes them once
     * every other check has passed (below), so a refused run changes nothing. */
    char others[1024];
    const bool replace = !(ckpt && out_dir_holds(cfg->out_dir, ckpt)) &&
                         out_dir_describe_checkpoints(cfg->out_dir, others, sizeof others);
    if (replace && !opt->force) {
        if (ckpt)
            die("%s: holds checkpoints of another run (%s), and this run continues from %s, outside it; "
                "choose another out_dir, or pass --force to replace them", cfg->out_dir, others, ckpt);
        die("%s: holds checkpoints of an earlier run (%s); continue it (--resume %s, or resume = true), choose "
            "another out_dir, or pass --force to replace them", cfg->out_dir, others, cfg->out_dir);
    }
    CheckpointState st;
    if (ckpt) {
        checkpoint_read_state(ckpt, &st);
        /* Named before the fingerprint's list of differences: the moments of the one
         * optimizer are not those of the other (nmoe-checkpoint(5)). */
        if (strcmp(st.config.optimizer, cfg->optimizer) != 0)
            die("%s: a checkpoint of optimizer \"%s\", and this config has optimizer = \"%s\": the optimizer cannot "
                "change on resume (optimizer.bin holds the moments of \"%s\"); resume with optimizer = \"%s\", or "
                "start a new run", ckpt, st.config.optimizer, cfg->optimizer, st.config.optimizer, st.config.optimizer);
        if (strcmp(st.progress.fingerprint, r.progress.fingerprint) != 0) {
            char diff[2048];
            describe_differences(&st.config, cfg, diff, sizeof diff);
            die("%s: a checkpoint of another config (fingerprint %s, this config's is %s): %s", ckpt,
                st.progress.fingerprint, r.progress.fingerprint, diff);
        }
    }

    /* The run's id (run_id.h): kept when the run continues in its own out_dir; a fresh
     * start, or a branch from a checkpoint elsewhere, is a new run (the branch names the
     * run it came from as its parent). */
    char parent_run[17] = "";
    if (ckpt && st.progress.run[0] && out_dir_holds(cfg->out_dir, ckpt)) {
        memcpy(r.progress.run, st.progress.run, sizeof r.progress.run);
    } else {
        run_id_new(r.progress.run);
        if (ckpt) memcpy(parent_run, st.progress.run, sizeof parent_run);
    }
    if (dist_size() > 1) dist_bcast_bytes(r.progress.run, sizeof r.progress.run); /* rank 0's id is the run's */
    memcpy(r.mx.run, r.progress.run, sizeof r.mx.run);

    r.progress.vocab_id = data.train.vocab_id;
    r.progress.train_tokens = data.train.n_tokens;
    r.progress.sampler = sampler.state;

    ModelShape shape = model_shape_from_config(cfg);
    r.model = model_create_on(backend, &shape, micro, T, true);
    OptimizerSettings os = optimizer_settings_from_config(cfg);
    r.opt = optimizer_create(&os, model_n_params(r.model));
    /* ZeRO-1 before the moments are loaded: each rank then reads its part of them. */
    if (cfg->zero_stage == 1) optimizer_shard(r.opt, r.model, dist_rank(), dist_size());
    /* The largest share of the moments one rank holds (a collective: every rank). */
    const int64_t opt_state_bytes = dist_max_i64((int64_t)model_optimizer_state_bytes(r.model));
    if (ckpt) {
        if (st.progress.vocab_id && data.train.vocab_id && st.progress.vocab_id != data.train.vocab_id)
            die("%s: trained on another tokenizer (vocabulary id %016" PRIx64 ", the data's is %016" PRIx64 ")", ckpt,
                st.progress.vocab_id, data.train.vocab_id);
        if (st.progress.train_tokens != data.train.n_tokens)
            die("%s: trained on %" PRIu64 " training tokens, but %s now holds %" PRIu64 " (the data changed)", ckpt,
                st.progress.train_tokens, cfg->data_path, data.train.n_tokens);
        checkpoint_load_weights(ckpt, &st, r.model);
        checkpoint_load_optimizer(ckpt, &st, r.opt, r.model);
        r.progress.router_from_step = st.progress.step + 1;
        checkpoint_load_router(ckpt, r.model, &r.progress.router_from_step);
        r.progress.step = st.progress.step;
        r.progress.tokens = st.progress.tokens;
        /* The sampler's state is a function of the seed and the sequences drawn: replay
         * the draws (no tokens read; about 20 ns each on one core, spread over the
         * cores) rather than trust the counter. */
        SamplerState replayed = sampler_replay(&sampler, st.progress.sampler.sequences);
        if (replayed.rng.counter != st.progress.sampler.rng.counter)
            die("%s: data.rng_counter %" PRIu64 " is not where %" PRIu64 " draws from seed %" PRId64 " end (%" PRIu64
                "; corrupt checkpoint)", ckpt, st.progress.sampler.rng.counter, st.progress.sampler.sequences, cfg->seed,
                replayed.rng.counter);
        sampler.state = st.progress.sampler;
        r.progress.sampler = sampler.state;
        r.last_checkpoint = xstrdup(ckpt);
        r.last_checkpoint_step = st.progress.step;
    } else {
        model_init_weights(r.model, (uint64_t)cfg->seed);
        r.progress.router_from_step = 1;
    }
    r.trainer = trainer_create(cfg, r.model, r.opt);
    if (cfg->router_telemetry) r.upd = update_telemetry_create(r.model, cfg);
    if (reg) registry_record_start(&r, reg, opt, parent_run);
    int slice_first, slice_count;
    trainer_local_slice(r.trainer, &slice_first, &slice_count);

    if (replace && dist_rank() == 0) {
        int n = out_dir_remove_checkpoints(cfg->out_dir);
        say(&r.pg, NMOE_NORMAL, "--force: removed %d checkpoint%s of an earlier run from %s (%s)", n, n == 1 ? "" : "s",
            cfg->out_dir, others);
    }

    /* The metric stream: stdout, or a file (appended to when resuming). */
    r.mx.fp = dist_rank() == 0 ? stdout : NULL;
    r.mx.name = "standard output";
    if (r.mx.fp && opt->metrics_path && strcmp(opt->metrics_path, "-") != 0) {
        r.mx.fp = fopen(opt->metrics_path, ckpt ? "a" : "w");
        if (!r.mx.fp) die("%s: %s", opt->metrics_path, strerror(errno));
        r.mx.name = opt->metrics_path;
    }

    char *config_json = config_to_json(cfg, false);
    line_begin(&r.mx, "meta", r.progress.step);
    nd_str(&r.mx.l, "program", "nmoe-train");
    nd_str(&r.mx.l, "version", NMOE_VERSION);
    nd_str(&r.mx.l, "git_rev", nmoe_git_rev());
    nd_str(&r.mx.l, "fingerprint", r.progress.fingerprint);
    if (parent_run[0]) nd_str(&r.mx.l, "parent_run", parent_run);
    else nd_null(&r.mx.l, "parent_run");
    nd_raw(&r.mx.l, "config", config_json);
    nd_str(&r.mx.l, "backend", model_backend_name(r.model));
    /* the precision dials, and where a reduced one is emulated (fp32 quantize-dequantize) */
    nd_obj_begin(&r.mx.l, "precision");
    nd_str(&r.mx.l, "model", cfg->precision);
    nd_str(&r.mx.l, "experts", cfg->expert_precision);
    nd_str(&r.mx.l, "router", cfg->router_precision);
    if (strcmp(cfg->precision, "fp32") != 0 || strcmp(cfg->expert_precision, "fp32") != 0 ||
        strcmp(cfg->router_precision, "fp32") != 0)
        nd_str(&r.mx.l, "emulated_on", model_backend_name(r.model));
    else nd_null(&r.mx.l, "emulated_on");
    nd_obj_end(&r.mx.l);
    nd_int(&r.mx.l, "n_params", (int64_t)model_n_params(r.model));
    nd_int(&r.mx.l, "tokens_per_step", config_tokens_per_step(cfg));
    if (dist_size() > 1) nd_int(&r.mx.l, "ranks", dist_size());
    nd_int(&r.mx.l, "optimizer_state_bytes", opt_state_bytes);
    nd_obj_begin(&r.mx.l, "data");
    nd_int(&r.mx.l, "train_tokens", (int64_t)data.train.n_tokens);
    nd_int(&r.mx.l, "val_tokens", (int64_t)data.val.n_tokens);
    nd_int(&r.mx.l, "val_sequences", (int64_t)val.n_sequences);
    nd_str(&r.mx.l, "val_source", data.val_origin);
    nd_int(&r.mx.l, "vocab_size", data.train.vocab_size);
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, data.train.vocab_id);
    nd_str(&r.mx.l, "vocab_id", hex);
    nd_int(&r.mx.l, "verified_bytes", (int64_t)data.verified_bytes);
    nd_obj_end(&r.mx.l);
    if (ckpt) nd_str(&r.mx.l, "resumed_from", ckpt);
    else nd_null(&r.mx.l, "resumed_from");
    nd_obj_begin(&r.mx.l, "time");
    nd_int(&r.mx.l, "threads", omp_get_max_threads());
    nd_int(&r.mx.l, "start_unix", (int64_t)time(NULL));
    char described[256];
    model_describe(r.model, described, sizeof described);
    nd_str(&r.mx.l, "backend_describe", described);
    nd_f64(&r.mx.l, "model_mb", (double)model_bytes(r.model) / (1 << 20));
    nd_f64(&r.mx.l, "data_verify_s", data.verify_s);
    nd_obj_end(&r.mx.l);
    line_emit(&r.mx);
    free(config_json);
    say(&r.pg, NMOE_VERBOSE, "nmoe-train: run %s, %zu parameters, %d threads, fingerprint %s", r.progress.run,
        model_n_params(r.model), omp_get_max_threads(), r.progress.fingerprint);
    say(&r.pg, NMOE_NORMAL, "train: %s (%" PRIu64 " tokens); validation: %s", cfg->data_path, data.train.n_tokens,
        data.val_origin);
    say(&r.pg, NMOE_VERBOSE, "data: %.1f MB of tokens verified (checksums, id range) in %.3f s", (double)data.verified_bytes / 1e6,
        data.verify_s);
    if (ckpt) say(&r.pg, NMOE_NORMAL, "resuming from %s at step %" PRId64, ckpt, r.progress.step);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    const int64_t tokens_per_step = config_tokens_per_step(cfg);
    uint32_t *batch = xmalloc((size_t)B * (T + 1) * sizeof *batch);
    int status = NMOE_EXIT_OK;
    double last_val = NAN, last_loss = NAN;
    const int64_t first_step = r.progress.step;
    if (do_val && !ckpt && r.progress.step == 0) last_val = run_validation(&r, &val);
    double t_log = monotonic_s();
    int64_t step_log = r.progress.step;
    bool done = false, target_reached = false;
    char line_reason[256];

    while (!done) {
        /* Every rank stops at the same step (a signal may reach them apart). */
        const int sig = dist_max_int(stop_signal);
        if (sig) {
            save_checkpoint(&r);
            snprintf(line_reason, sizeof line_reason, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
            say(&r.pg, NMOE_NORMAL, "nmoe-train: %s at step %" PRId64 "; checkpoint %s", line_reason, r.progress.step,
                r.last_checkpoint);
            status = finish(&r, line_reason, NMOE_EXIT_INTERRUPTED, last_loss);
            break;
        }
        if (r.progress.step >= cfg->steps) {
            save_checkpoint(&r);
            status = finish(&r, "finished", NMOE_EXIT_OK, last_loss);
            break;
        }
        double t_step = monotonic_s();
        sampler_next_slice(&sampler, B, slice_first, slice_count, batch);
        /* The update telemetry looks at the step that ends a log window, and only that. */
        const int64_t next = r.progress.step + 1;
        if (r.upd && (next % cfg->log_every == 0 || next == cfg->steps)) update_telemetry_before(r.upd, r.model, next);
        StepResult res = trainer_step(r.trainer, batch, r.progress.tokens);
        if (r.upd && res.opt.applied) update_telemetry_after(r.upd, r.model);
        if (!res.opt.applied) {
            snprintf(line_reason, sizeof line_reason, "diverged: non-finite %s at step %" PRId64,
                     isfinite(res.loss) ? "gradient norm" : "loss", r.progress.step + 1);
            progress_break(&r.pg);
            if (dist_rank() == 0)
                fprintf(stderr, "%s: %s; the last good checkpoint is %s\n", nmoe_prog(), line_reason,
                        r.last_checkpoint ? r.last_checkpoint : "(none yet)");
            status = finish(&r, line_reason, NMOE_EXIT_DIVERGED, res.loss);
            break;
        }
        r.progress.step++;
        r.progress.tokens += tokens_per_step;
        r.progress.sampler = sampler.state;
        last_loss = res.loss;
        double t_now = monotonic_s();
        r.train_s += t_now - t_step;

        if (r.progress.step % cfg->log_every == 0 || r.progress.step == cfg->steps) {
            double interval = t_now - t_log;
            double tok_s = interval > 0 ? (double)(r.progress.step - step_log) * (double)tokens_per_step / interval : 0;
            line_begin(&r.mx, "train", r.progress.step);
            nd_f64(&r.mx.l, "loss", res.loss);
            nd_f64(&r.mx.l, "lr", res.opt.lr[PARAM_GROUP_DENSE]);
            if (model_n_moe_layers(r.model) > 0) {
                /* Every group's rate and the bias step, so their schedules can be checked. */
                nd_f64(&r.mx.l, "lr_expert", res.opt.lr[PARAM_GROUP_EXPERT]);
                nd_f64(&r.mx.l, "lr_router", res.opt.lr[PARAM_GROUP_ROUTER]);
                nd_f64(&r.mx.l, "router_bias_step", res.bias_step);
            }
            if (config_muon(cfg)) nd_f64(&r.mx.l, "lr_muon", res.opt.lr[LR_GROUP_MUON]);
            nd_f64(&r.mx.l, "grad_norm", res.opt.grad_norm);
            nd_int(&r.mx.l, "tokens", r.progress.tokens);
            if (cfg->aux_loss_alpha > 0 && model_n_moe_layers(r.model) > 0) nd_f64(&r.mx.l, "aux_loss", res.aux_loss);
            if (cfg->z_loss > 0) nd_f64(&r.mx.l, "z_loss", res.z_loss);
            if (cfg->router_z_loss > 0 && model_n_moe_layers(r.model) > 0) nd_f64(&r.mx.l, "router_z_loss", res.router_z_loss);
            nd_obj_begin(&r.mx.l, "time");
            nd_f64(&r.mx.l, "elapsed_s", t_now - r.t_start);
            nd_f64(&r.mx.l, "step_ms", 1e3 * (t_now - t_step));
            nd_f64(&r.mx.l, "train_s", r.train_s);
            nd_f64(&r.mx.l, "tok_per_s", tok_s);
            if (dist_size() > 1) rank_times(&r.mx, &res);
            nd_obj_end(&r.mx.l);
            line_emit(&r.mx);
            if (model_n_moe_layers(r.model) > 0 && emit_router_lines(&r, r.progress.step % cfg->log_every == 0, line_reason, sizeof line_reason)) {
                /* Fail fast: the collapsed state is checkpointed for inspection (it is
                 * finite, just not what was wanted), then the run stops. */
                save_checkpoint(&r);
                progress_break(&r.pg);
                if (dist_rank() == 0)
                    fprintf(stderr, "%s: %s at step %" PRId64 "; checkpoint %s\n", nmoe_prog(), line_reason,
                            r.progress.step, r.last_checkpoint);
                status = finish(&r, line_reason, NMOE_EXIT_COLLAPSED, res.loss);
                break;
            }
            t_log = t_now; /* router lines and checkpoints count in the next interval */
            step_log = r.progress.step;
        }
        if (nmoe_verbosity() >= NMOE_NORMAL) {
            double per_step = (t_now - r.t_start) / (double)(r.progress.step - first_step);
            char eta[32];
            format_duration(per_step * (double)(cfg->steps - r.progress.step), eta, sizeof eta);
            double tok_s = (double)(r.progress.step - first_step) * (double)tokens_per_step / (t_now - r.t_start);
            if (r.pg.tty) {
                fprintf(stderr, "\r\033[Kstep %" PRId64 "/%" PRId64 " | loss %.4f | %.0f tok/s | ETA %s", r.progress.step,
                        cfg->steps, res.loss, tok_s, eta);
                r.pg.line_open = true;
            } else if (r.progress.step % cfg->log_every == 0 || r.progress.step == cfg->steps) {
                fprintf(stderr, "step %" PRId64 "/%" PRId64 " loss %.4f lr %.3g grad_norm %.3g %.0f tok/s ETA %s\n",
                        r.progress.step, cfg->steps, res.loss, res.opt.lr[PARAM_GROUP_DENSE], res.opt.grad_norm, tok_s, eta);
            }
        }

        bool reached = false;
        if (do_val && (r.progress.step % cfg->validation_every == 0 || r.progress.step == cfg->steps)) {
            last_val = run_validation(&r, &val);
            reached = cfg->target_loss > 0 && last_val <= cfg->target_loss;
        }
        if ((cfg->checkpoint_every && r.progress.step % cfg->checkpoint_every == 0) || reached) save_checkpoint(&r);
        if (reached) {
            snprintf(line_reason, sizeof line_reason, "target_loss reached: val loss %.6g <= %.6g", last_val, cfg->target_loss);
            say(&r.pg, NMOE_NORMAL, "nmoe-train: %s at step %" PRId64, line_reason, r.progress.step);
            status = finish(&r, line_reason, NMOE_EXIT_OK, last_loss);
            done = true;
            target_reached = true;
        }
    }
    progress_break(&r.pg);
    if (status == NMOE_EXIT_OK) {
        double el = monotonic_s() - r.t_start;
        char dur[32];
        format_duration(el, dur, sizeof dur);
        double tok_s = el > 0 ? (double)(r.progress.step - first_step) * (double)tokens_per_step / el : 0;
        if (!isnan(last_val))
            say(&r.pg, NMOE_NORMAL, "done: step %" PRId64 ", %.0f tok/s, %s, val loss %.4f, checkpoint %s", r.progress.step,
                tok_s, dur, last_val, r.last_checkpoint ? r.last_checkpoint : "-");
        else
            say(&r.pg, NMOE_NORMAL, "done: step %" PRId64 ", %.0f tok/s, %s, checkpoint %s", r.progress.step, tok_s, dur,
                r.last_checkpoint ? r.last_checkpoint : "-");
    }

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (r.mx.fp && r.mx.fp != stdout && fclose(r.mx.fp) != 0) die("%s: close failed", r.mx.name);
    if (reg) {
        status = registry_record_end(&r, reg, status, target_reached, last_loss, last_val);
        registry_close(reg);
    }
    nd_free(&r.mx.l);
    free(batch);
    free(ckpt);
    free(r.last_checkpoint);
    trainer_free(r.trainer);
    update_telemetry_free(r.upd);
    if (r.tok) tokenizer_free(r.tok);
    optimizer_free(r.opt);
    model_free(r.model);
    data_close(&data);
    return status;
}
