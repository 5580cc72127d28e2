/* eval_run_bpb.c: `nmoe-eval bpb`, bits per byte and the loss per token on held-out
 * shards (nmoe-eval(1)).
 *
 * The sequences are the trainer's validation windows (dataloader.h: windows of
 * seq_len + 1 tokens starting at 0, seq_len, 2 seq_len, ... of the split, read by
 * validation_sequence), and the losses come from the trainer's validation call
 * (model_eval_loss) with the trainer's loss mask (loss_mask_eos of the checkpoint's
 * config), so `loss` equals the trainer's `val` loss on the same data, up to the order
 * of a double sum. bpb itself comes from eval_bpb.h: special tokens (0 bytes) add
 * neither loss nor bytes. */
#include "train/dataloader.h"
#include "base/error.h"
#include "eval/eval_bpb.h"
#include "eval/eval_run.h"
#include "formats/ndjson.h"
#include "shard/shard.h"
#include "shard/shard_manifest.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Two token sources read as one (`--split all` of a pack: train, then val). */
typedef struct {
    TokenSource a, b;
} TokenConcat;

static void concat_read(void *ctx, uint64_t pos, size_t n, uint32_t *out)
{
    const TokenConcat *c = ctx;
    if (pos < c->a.n_tokens) {
        size_t first = (uint64_t)n < c->a.n_tokens - pos ? n : (size_t)(c->a.n_tokens - pos);
        c->a.read(c->a.ctx, pos, first, out);
        pos += first;
        out += first;
        n -= first;
    }
    if (n) c->b.read(c->b.ctx, pos - c->a.n_tokens, n, out);
}

/* What was opened for the split, so it can be closed. */
typedef struct {
    DataSources ds;              /* val, train: the trainer's sources for data_path = DATA */
    bool ds_open;
    ShardSet *sets[2];           /* all */
    TokenConcat concat;
    TokenSource src;
    char origin[CONFIG_STRING_MAX + 128];
    double verify_s;             /* the shards' one-pass check on open */
} BpbData;

static void bpb_data_open(BpbData *d, const EvalModel *em, const EvalOptions *o)
{
    memset(d, 0, sizeof *d);
    if (strcmp(o->split, "all") == 0) {
        if (is_directory(o->data)) {
            d->sets[0] = shardset_open(o->data, "train");
            d->src = token_source_shards(d->sets[0], o->data);
            Manifest mf;
            manifest_load(o->data, &mf);
            bool has_val = mf.split[SPLIT_VAL].n_shards > 0;
            manifest_free(&mf);
            if (has_val) {
                d->sets[1] = shardset_open(o->data, "val");
                d->concat.a = d->src;
                d->concat.b = token_source_shards(d->sets[1], o->data);
                if (d->concat.b.vocab_id != d->concat.a.vocab_id)
                    die("%s: its val split's tokenizer is not its train split's", o->data);
                d->src.n_tokens = d->concat.a.n_tokens + d->concat.b.n_tokens;
                d->src.read = concat_read;
                d->src.ctx = &d->concat;
            }
            snprintf(d->origin, sizeof d->origin, "%s (every split)", o->data);
        } else {
            d->sets[0] = shardset_open(o->data, "train");
            d->src = token_source_shards(d->sets[0], o->data);
            snprintf(d->origin, sizeof d->origin, "%s (all of it)", o->data);
        }
        /* As data_open does for the other splits: every token checked before use. */
        (void)data_verify(d->sets, 2, &d->verify_s);
        return;
    }
    /* val and train: the sources the trainer would use with data_path = DATA (its val
     * split, else the held-out tail of holdout_fraction; train without that tail). */
    Config c = em->cfg;
    if (strlen(o->data) >= sizeof c.data_path) die_usage("--data: path too long");
    snprintf(c.data_path, sizeof c.data_path, "%s", o->data);
    c.validation_data_path[0] = '\0';
    data_open(&d->ds, &c);
    d->ds_open = true;
    d->verify_s = d->ds.verify_s;
    if (strcmp(o->split, "val") == 0) {
        if (d->ds.val.n_tokens == 0)
            die("%s: no validation data: no val split, and the checkpoint's holdout_fraction is 0 "
                "(use --split all to score all of it)", o->data);
        d->src = d->ds.val;
        snprintf(d->origin, sizeof d->origin, "%s", d->ds.val_origin);
    } else {
        d->src = d->ds.train;
        snprintf(d->origin, sizeof d->origin, "%s (training tokens)", o->data);
    }
}

static void bpb_data_close(BpbData *d)
{
    if (d->ds_open) data_close(&d->ds);
    for (int i = 0; i < 2; i++)
        if (d->sets[i]) shardset_close(d->sets[i]);
    memset(d, 0, sizeof *d);
}

/* The trainer's rule (train_step.c): with loss_mask_eos, EOS targets are not counted. */
static bool counted(const Config *c, uint32_t target)
{
    return !(c->loss_mask_eos && c->eos_token_id >= 0 && target == (uint32_t)c->eos_token_id);
}

static void write_table(FILE *fp, const EvalModel *em, const BpbData *d, const EvalBpb *acc, double loss,
                        uint64_t counted_tokens, uint64_t n_seqs)
{
    fprintf(fp, "bpb        %.6f  (%" PRIu64 " text tokens, %" PRIu64 " bytes)\n", eval_bpb_value(acc),
            acc->text_tokens, acc->bytes);
    fprintf(fp, "loss       %.6f  nats per token over %" PRIu64 " tokens%s\n", loss, counted_tokens,
            em->cfg.loss_mask_eos ? " (EOS targets left out, as in training)" : "");
    fprintf(fp, "sequences  %" PRIu64 " x %zu tokens from %s\n", n_seqs, em->seq_len, d->origin);
    fprintf(fp, "checkpoint %s (run %s, step %" PRId64 ")\n", em->dir, em->run, em->step);
}

int eval_run_bpb(const EvalOptions *o)
{
    const double t0 = monotonic_s();
    if (!o->data) die_usage("bpb: --data SHARDS is required");
    EvalModel em;
    eval_model_open(&em, o, true);
    BpbData d;
    bpb_data_open(&d, &em, o);
    eval_model_check_data(&em, o->data, d.src.vocab_size, d.src.vocab_id);

    const int T = (int)em.seq_len, B = o->batch;
    uint64_t want = UINT64_MAX;
    if (o->tokens) {
        want = o->tokens / (uint64_t)T;
        if (want == 0) die_usage("--tokens %" PRIu64 " is less than one sequence of %d tokens", o->tokens, T);
    }
    ValidationSet vs;
    validation_init(&vs, d.src, T, want, (uint32_t)em.cfg.vocab_size);
    info(NMOE_VERBOSE, "bpb: %" PRIu64 " sequences of %d tokens from %s\n", vs.n_sequences, T, d.origin);

    uint32_t *seq = xmalloc((size_t)B * (T + 1) * sizeof *seq);
    uint32_t *inputs = xmalloc((size_t)B * T * sizeof *inputs), *targets = xmalloc((size_t)B * T * sizeof *targets);
    uint8_t *mask = xmalloc((size_t)B * T);
    float *loss = xmalloc((size_t)B * T * sizeof *loss);
    EvalBpb acc = { 0 };
    double loss_sum = 0.0;
    uint64_t n_counted = 0;
    const double t_score = monotonic_s();
    double t_said = t_score;
    for (uint64_t s0 = 0; s0 < vs.n_sequences; s0 += (uint64_t)B) {
        const int nb = (int)(vs.n_sequences - s0 < (uint64_t)B ? vs.n_sequences - s0 : (uint64_t)B);
        for (int b = 0; b < nb; b++) {
            uint32_t *w = seq + (size_t)b * (T + 1);
            validation_sequence(&vs, s0 + (uint64_t)b, w);
            memcpy(inputs + (size_t)b * T, w, (size_t)T * sizeof *w);
            memcpy(targets + (size_t)b * T, w + 1, (size_t)T * sizeof *w);
        }
        for (int i = 0; i < nb * T; i++) {
            mask[i] = counted(&em.cfg, targets[i]);
            n_counted += mask[i];
        }
        loss_sum += model_eval_loss(em.model, inputs, targets, mask, nb, T, loss, NULL);
        for (int b = 0; b < nb; b++)
            if (!eval_bpb_add(&acc, loss + (size_t)b * T, targets + (size_t)b * T, (size_t)T, em.tok->token_len,
                              em.tok->vocab_size))
                die("%s: sequence %" PRIu64 " holds a token id the tokenizer %s does not have", o->data, s0 + (uint64_t)b,
                    o->tokenizer);
        const double now = monotonic_s();
        if (now - t_said > 2.0) {
            info(NMOE_VERBOSE, "bpb: %" PRIu64 "/%" PRIu64 " sequences, loss %.4f\n", s0 + (uint64_t)nb, vs.n_sequences,
                 n_counted ? loss_sum / (double)n_counted : NAN);
            t_said = now;
        }
    }
    const double score_s = monotonic_s() - t_score;
    const double mean_loss = n_counted ? loss_sum / (double)n_counted : NAN;

    EvalOut out;
    eval_out_open(&out, o);
    if (out.fp) {
        NdLine l = { 0 };
        nd_begin_metric(&l, "eval", em.run, em.step);
        nd_str(&l, "task", "bpb");
        nd_f64(&l, "bpb", eval_bpb_value(&acc));
        nd_f64(&l, "loss", mean_loss);
        nd_int(&l, "tokens", (int64_t)n_counted);
        nd_int(&l, "targets", (int64_t)acc.tokens);
        nd_int(&l, "text_tokens", (int64_t)acc.text_tokens);
        nd_int(&l, "bytes", (int64_t)acc.bytes);
        nd_int(&l, "sequences", (int64_t)vs.n_sequences);
        nd_int(&l, "seq_len", T);
        nd_bool(&l, "loss_mask_eos", em.cfg.loss_mask_eos);
        nd_str(&l, "data", o->data);
        nd_str(&l, "split", o->split);
        nd_str(&l, "ckpt", em.ckpt_arg);
        nd_str(&l, "fingerprint", em.fingerprint);
        nd_obj_begin(&l, "time");
        nd_f64(&l, "elapsed_s", monotonic_s() - t0);
        nd_f64(&l, "data_verify_s", d.verify_s);
        nd_f64(&l, "tok_per_s", score_s > 0 ? (double)acc.tokens / score_s : 0.0);
        nd_obj_end(&l);
        nd_emit(&l, out.fp, out.name);
        nd_free(&l);
    }
    eval_out_close(&out);
    if (o->table) {
        write_table(stdout, &em, &d, &acc, mean_loss, n_counted, vs.n_sequences);
        if (fflush(stdout) != 0) die("stdout: write failed");
    }
    info(NMOE_NORMAL, "bpb %.4f, loss %.4f over %" PRIu64 " tokens (%" PRIu64 " sequences of %d)\n", eval_bpb_value(&acc),
         mean_loss, n_counted, vs.n_sequences, T);

    free(seq);
    free(inputs);
    free(targets);
    free(mask);
    free(loss);
    bpb_data_close(&d);
    eval_model_close(&em);
    return NMOE_EXIT_OK;
}
