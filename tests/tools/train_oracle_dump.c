/* train_oracle_dump: the C side of tests/oracle/train_oracle.sh.
 *
 *   train_oracle_dump CONFIG.toml OUT_DIR
 *
 * Builds the model of CONFIG with its seed, and writes into OUT_DIR:
 *   init.bin     the initial weights (nmoe tensor file: the documented export format)
 *   batches.bin  `steps` batches of batch_size x (seq_len + 1) token ids, u32 little-endian,
 *                drawn from Philox stream 99 (with EOS tokens sprinkled in, so the
 *                loss mask is exercised)
 *   logits.bin   the logits of the first micro-batch at the initial weights, f32
 *   grads.bin    the gradients of the first step (tensor file, kind "gradients")
 *   steps.json   per step: loss, counted targets, grad_norm, clip coefficient, lr (and for
 *                MoE: aux_loss, and each MoE block's routing bias after the step)
 *   choices.bin  MoE only: the expert choice of every MoE block for every micro-batch of
 *                every step, i32 [steps][micro-batches][MoE blocks][micro*seq_len][K],
 *                taken by a forward-only pass at the weights and biases the step starts
 *                from (the choice the training forward makes)
 *   final.bin    the weights (and routing biases) after `steps` optimizer steps
 * using the trainer's own step (train_step.c) with micro-batches, clipping and the
 * schedule, exactly as nmoe-train runs it. */
#include "train/checkpoint.h"
#include "train/config.h"
#include "base/error.h"
#include "model/model.h"
#include "formats/ndjson.h"
#include "train/optimizer.h"
#include "base/rng.h"
#include "formats/tensor_file.h"
#include "train/train_step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_raw(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) die("%s: write failed", path);
}

int main(int argc, char **argv)
{
    nmoe_set_prog(argv[0]);
    if (argc != 3) die_usage("usage: train_oracle_dump CONFIG.toml OUT_DIR");
    Config cfg;
    config_defaults(&cfg);
    char err[1024];
    if (!config_load_file(&cfg, argv[1], err, sizeof err) || !config_check(&cfg, argv[1], err, sizeof err)) die("%s", err);
    const char *out = argv[2];
    const int B = (int)cfg.batch_size, T = (int)cfg.seq_len, micro = (int)config_micro_batch(&cfg);
    const int V = (int)cfg.vocab_size, steps = (int)cfg.steps;

    ModelShape shape = model_shape_from_config(&cfg);
    Model *m = model_create(&shape, micro, T, true);
    model_init_weights(m, (uint64_t)cfg.seed);
    char path[4096];
    snprintf(path, sizeof path, "%s/init.bin", out);
    weights_save(path, &cfg, m, 0, 0);

    size_t per_batch = (size_t)B * (T + 1);
    uint32_t *batches = xmalloc((size_t)steps * per_batch * sizeof *batches);
    Rng r = rng_make((uint64_t)cfg.seed, 99);
    for (size_t i = 0; i < (size_t)steps * per_batch; i++) {
        batches[i] = (uint32_t)rng_below(&r, (uint64_t)V);
        if (cfg.eos_token_id >= 0 && rng_below(&r, 10) == 0) batches[i] = (uint32_t)cfg.eos_token_id;
    }
    write_raw(out, "batches.bin", batches, (size_t)steps * per_batch * sizeof *batches);

    /* Logits of the first micro-batch at the initial weights. */
    uint32_t *inputs = xmalloc((size_t)micro * T * sizeof *inputs);
    for (int b = 0; b < micro; b++) memcpy(inputs + (size_t)b * T, batches + (size_t)b * (T + 1), (size_t)T * sizeof *inputs);
    float *logits = xmalloc((size_t)micro * T * V * sizeof *logits);
    model_logits(m, inputs, micro, T, logits);
    write_raw(out, "logits.bin", logits, (size_t)micro * T * V * sizeof *logits);

    OptimizerSettings os = optimizer_settings_from_config(&cfg);
    Optimizer *o = optimizer_create(&os, model_n_params(m));
    Trainer *t = trainer_create(&cfg, m, o);
    NdLine l = { 0 };
    snprintf(path, sizeof path, "%s/steps.json", out);
    FILE *sj = fopen(path, "w");
    if (!sj) die("%s: cannot write", path);
    int64_t tokens = 0;
    const int n_moe = model_n_moe_layers(m), K = (int)cfg.n_activated_experts, E = (int)cfg.n_routed_experts;
    FILE *cf = NULL;
    if (n_moe) {
        snprintf(path, sizeof path, "%s/choices.bin", out);
        cf = fopen(path, "wb");
        if (!cf) die("%s: cannot write", path);
    }
    for (int s = 0; s < steps; s++) {
        for (int b0 = 0; n_moe && b0 < B; b0 += micro) {
            const uint32_t *seqs = batches + (size_t)s * per_batch + (size_t)b0 * (T + 1);
            for (int b = 0; b < micro; b++) memcpy(inputs + (size_t)b * T, seqs + (size_t)b * (T + 1), (size_t)T * sizeof *inputs);
            model_logits(m, inputs, micro, T, logits);
            for (int i = 0; i < n_moe; i++) {
                size_t n = (size_t)micro * T * K;
                if (fwrite(model_router_choice(m, model_moe_layer(m, i)), sizeof(int32_t), n, cf) != n) die("choices.bin: write failed");
            }
        }
        StepResult res = trainer_step(t, batches + (size_t)s * per_batch, tokens);
        if (!res.opt.applied) die("step %d: not applied (loss %g)", s, res.loss);
        tokens += (int64_t)B * T;
        if (s == 0) {
            /* The gradients stay in the model after the step (clipping scales inside AdamW). */
            int n = model_n_tensors(m);
            float *grads = xaligned_alloc(model_n_params(m) * sizeof(float));
            model_get_grads(m, grads);
            TensorOut *to = xcalloc((size_t)n, sizeof *to);
            for (int i = 0; i < n; i++) {
                const ParamTensor *pt = model_tensor(m, i);
                to[i] = (TensorOut){ pt->name, grads + pt->offset, pt->rows, pt->cols };
            }
            snprintf(path, sizeof path, "%s/grads.bin", out);
            tensor_file_write(path, "gradients", NULL, to, n);
            free(to);
            free(grads);
        }
        nd_begin(&l);
        nd_int(&l, "step", s);
        nd_f64(&l, "loss", res.loss);
        nd_int(&l, "counted", res.counted);
        nd_f64(&l, "grad_norm", res.opt.grad_norm);
        nd_f64(&l, "clip_coef", res.opt.clip_coef);
        nd_f64(&l, "lr", res.opt.lr[PARAM_GROUP_DENSE]);
        if (config_muon(&cfg)) nd_f64(&l, "lr_muon", res.opt.lr[LR_GROUP_MUON]);
        if (cfg.z_loss > 0) nd_f64(&l, "z_loss", res.z_loss);
        if (cfg.router_z_loss > 0) nd_f64(&l, "router_z_loss", res.router_z_loss);
        if (n_moe) {
            nd_f64(&l, "lr_expert", res.opt.lr[PARAM_GROUP_EXPERT]);
            nd_f64(&l, "lr_router", res.opt.lr[PARAM_GROUP_ROUTER]);
            nd_f64(&l, "aux_loss", res.aux_loss);
            nd_arr_begin(&l, "bias");
            for (int i = 0; i < n_moe; i++) {
                const float *bias = model_router_bias(m, model_moe_layer(m, i));
                for (int e = 0; e < E; e++) nd_elem_f32(&l, bias[e]);
            }
            nd_arr_end(&l);
        }
        nd_emit(&l, sj, path);
    }
    fclose(sj);
    if (cf && fclose(cf) != 0) die("choices.bin: write failed");
    nd_free(&l);
    snprintf(path, sizeof path, "%s/final.bin", out);
    weights_save(path, &cfg, m, 0, steps);
    trainer_free(t);
    optimizer_free(o);
    model_free(m);
    free(batches);
    free(inputs);
    free(logits);
    return 0;
}
