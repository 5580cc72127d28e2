/* eval_run_common.c: what the nmoe-eval subcommands share (eval_run.h): loading a
 * checkpoint for inference with its config, the tokenizer identity checks, and the
 * NDJSON output sink. */
#include "eval/eval_run.h"
#include "train/checkpoint.h"
#include "model/backend.h"
#include "base/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void eval_options_defaults(EvalOptions *o)
{
    memset(o, 0, sizeof *o);
    o->tokenizer = EVAL_RUN_DEFAULT_TOKENIZER;
    o->batch = EVAL_RUN_DEFAULT_BATCH;
    o->split = "val";
    o->temperature = EVAL_RUN_DEFAULT_TEMPERATURE;
    o->max_tokens = EVAL_RUN_DEFAULT_MAX_TOKENS;
    o->top_p = 1.0;
}

void eval_model_open(EvalModel *em, const EvalOptions *o, bool load_tokenizer)
{
    memset(em, 0, sizeof *em);
    if (!o->ckpt) die_usage("--ckpt DIR is required");
    em->ckpt_arg = o->ckpt;
    em->dir = checkpoint_find(o->ckpt);
    if (!em->dir) die("%s: not a checkpoint (no state.json) nor a run directory (no latest)", o->ckpt);
    CheckpointState st;
    checkpoint_read_state(em->dir, &st);
    em->cfg = st.config;
    char err[2048];
    if (!config_check(&em->cfg, em->dir, err, sizeof err)) die("%s", err);

    const size_t trained = (size_t)em->cfg.seq_len;
    /* Context extension: --context-factor S lets --seq-len reach S times the trained
     * length (RoPE as trained extrapolates); --yarn also rescales the frequencies
     * (kernels/cpu/rope.h) for factor S over the trained length. */
    const double factor = o->context_factor > 0 ? o->context_factor : 1.0;
    const double longest = floor(factor * (double)trained);
    if (o->yarn) {
        if (!(factor > 1)) die_usage("--yarn needs --context-factor above 1");
        if (strcmp(em->cfg.rope_scaling, "none") != 0)
            die_usage("--yarn: %s was trained with rope_scaling \"%s\" already", em->dir, em->cfg.rope_scaling);
        snprintf(em->cfg.rope_scaling, sizeof em->cfg.rope_scaling, "yarn");
        em->cfg.rope_factor = factor;
        em->cfg.rope_original_seq_len = em->cfg.seq_len;
        if (!config_check(&em->cfg, em->dir, err, sizeof err)) die_usage("--yarn: %s", err);
    }
    if (o->seq_len > 0 && (double)o->seq_len > longest) {
        if (factor == 1.0)
            die_usage("--seq-len %" PRId64 " is longer than the checkpoint's seq_len %zu", o->seq_len, trained);
        die_usage("--seq-len %" PRId64 " is longer than --context-factor %g times the checkpoint's seq_len %zu",
                  o->seq_len, factor, trained);
    }
    em->seq_len = o->seq_len > 0 ? (size_t)o->seq_len : trained;
    if (em->seq_len < 2) die_usage("--seq-len must be at least 2");
    /* Where it runs is this program's choice, not the checkpoint's: any backend reads
     * any backend's checkpoint. One that cannot run is an error, never a CPU run. */
    ModelShape shape = model_shape_from_config(&em->cfg);
    if (!backend_supports(o->backend ? o->backend : "cpu", &shape, err, sizeof err)) die_usage("%s", err);
    int backend_status = 0;
    const ModelBackend *backend = backend_find(o->backend ? o->backend : "cpu", &backend_status, err, sizeof err);
    if (!backend) die_status(backend_status, "%s", err);

    /* The trainer's own model, built for inference (no gradients) and loaded the way
     * model_load_ex loads it, but for the context and batch asked for. */
    em->model = model_create_on(backend, &shape, o->batch, (int)em->seq_len, false);
    checkpoint_load_weights(em->dir, &st, em->model);
    model_set_provenance(em->model, st.progress.vocab_id, st.progress.fingerprint, st.progress.step);
    /* Eval lines join the trainer's by its run id (older checkpoints have none). */
    snprintf(em->run, sizeof em->run, "%s", st.progress.run[0] ? st.progress.run : st.progress.fingerprint);
    snprintf(em->fingerprint, sizeof em->fingerprint, "%s", st.progress.fingerprint);
    em->step = st.progress.step;
    char described[256];
    model_describe(em->model, described, sizeof described);
    info(NMOE_VERBOSE, "%s: step %" PRId64 ", %zu parameters, seq_len %zu, vocabulary %" PRId64 " (id %016" PRIx64 "); %s\n",
         em->dir, em->step, model_n_params(em->model), em->seq_len, em->cfg.vocab_size, st.progress.vocab_id, described);

    if (!load_tokenizer) return;
    em->tok = tokenizer_load_or_die(o->tokenizer);
    const Tokenizer *t = em->tok;
    if (st.progress.vocab_id && t->vocab_id != st.progress.vocab_id)
        die("%s: tokenizer %s (vocabulary id %016" PRIx64 ") is not the one the checkpoint was trained with "
            "(vocabulary id %016" PRIx64 "); pass that one with --tokenizer",
            em->dir, o->tokenizer, t->vocab_id, st.progress.vocab_id);
    if ((int64_t)t->vocab_size > em->cfg.vocab_size)
        die("%s: tokenizer %s has %u ids, more than the model's vocab_size %" PRId64, em->dir, o->tokenizer,
            t->vocab_size, em->cfg.vocab_size);
    if (!st.progress.vocab_id)
        warnx("%s: the checkpoint records no tokenizer identity; assuming tokenizer %s is the right one", em->dir,
              o->tokenizer);
}

void eval_model_check_data(const EvalModel *em, const char *what, uint32_t data_vocab_size, uint64_t data_vocab_id)
{
    const uint64_t ckpt_id = model_vocab_id(em->model);
    if (data_vocab_id && ckpt_id && data_vocab_id != ckpt_id)
        die("%s: its tokenizer (vocabulary id %016" PRIx64 ") is not the checkpoint's (%016" PRIx64 ")", what,
            data_vocab_id, ckpt_id);
    if (data_vocab_id && em->tok && data_vocab_id != em->tok->vocab_id)
        die("%s: its tokenizer (vocabulary id %016" PRIx64 ") is not the --tokenizer's (%016" PRIx64 ")", what,
            data_vocab_id, em->tok->vocab_id);
    if ((int64_t)data_vocab_size > em->cfg.vocab_size)
        die("%s: the data's vocabulary has %u ids, more than the model's vocab_size %" PRId64, what, data_vocab_size,
            em->cfg.vocab_size);
}

void eval_model_close(EvalModel *em)
{
    if (em->model) model_free(em->model);
    if (em->tok) tokenizer_free(em->tok);
    free(em->dir);
    memset(em, 0, sizeof *em);
}

void eval_out_open(EvalOut *out, const EvalOptions *o)
{
    memset(out, 0, sizeof *out);
    const bool to_stdout = !o->output || strcmp(o->output, "-") == 0;
    if (to_stdout && o->table) return; /* the table has stdout; no -o: no NDJSON */
    if (to_stdout) {
        out->fp = stdout;
        out->name = "stdout";
        return;
    }
    out->af = atomic_open(o->output);
    out->fp = atomic_stream(out->af);
    out->name = o->output;
}

void eval_out_close(EvalOut *out)
{
    if (out->af) atomic_commit(out->af);
    else if (out->fp && fflush(out->fp) != 0) die("%s: write failed", out->name);
    memset(out, 0, sizeof *out);
}
