/* config.c: see config.h. The key table below is the single source of truth: defaults
 * live in config_defaults(), names, types, ranges and help text here. */
#include "train/config.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/ndjson.h"
#include "formats/toml.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(field) offsetof(Config, field)
/* Integers go through JSON (meta line, checkpoints), whose readers hold doubles: keep
 * them exact by staying within 2^53. */
#define I64MAX 9007199254740992LL

static const char *const router_scores[] = { "sigmoid", "softmax", NULL };
static const char *const backends[] = { "cpu", "cuda", NULL };
static const char *const expert_precisions[] = { "fp32", "bf16", "fp8_e4m3", "mxfp8", "mxfp4", "nvfp4", NULL };
static const char *const router_precisions[] = { "fp32", "bf16", NULL };
static const char *const model_precisions[] = { "fp32", "bf16", NULL };
static const char *const rope_scalings[] = { "none", "yarn", NULL };
static const char *const ffn_activations[] = { "swiglu", "relu2", "squared_reglu", NULL };
static const char *const optimizers[] = { "adamw", "muon", NULL };
static const char *const attentions[] = { "mha", "mla", NULL };

/* name, section, type, offset, imin, imax, fmin, fmax, fmin_open, fmax_open, fingerprinted, choices, help,
 * fingerprint_if_set (true for every fingerprinted key added from now on: see config.h) */
static const ConfigKey keys[] = {
    /* model */
    { "vocab_size", "model", CONFIG_INT, OFF(vocab_size), 2, 1 << 24, 0, 0, false, false, true, NULL,
      "vocabulary size (embedding and LM head rows); the data's must not exceed it", false },
    { "dim", "model", CONFIG_INT, OFF(dim), 1, 65536, 0, 0, false, false, true, NULL, "model width", false },
    { "n_layers", "model", CONFIG_INT, OFF(n_layers), 1, 1024, 0, 0, false, false, true, NULL, "transformer blocks", false },
    { "n_heads", "model", CONFIG_INT, OFF(n_heads), 1, 4096, 0, 0, false, false, true, NULL, "attention (query) heads; dim / n_heads is the head size", false },
    { "n_kv_heads", "model", CONFIG_INT, OFF(n_kv_heads), 0, 4096, 0, 0, false, false, true, NULL,
      "key/value heads for grouped-query attention; 0 = n_heads", false },
    { "inter_dim", "model", CONFIG_INT, OFF(inter_dim), 1, 1 << 20, 0, 0, false, false, true, NULL, "hidden size of the dense SwiGLU FFN", false },
    { "seq_len", "model", CONFIG_INT, OFF(seq_len), 1, 1 << 20, 0, 0, false, false, true, NULL, "tokens per training sequence (context length)", false },
    { "attn_window", "model", CONFIG_INT, OFF(attn_window), 0, 1 << 20, 0, 0, false, false, true, NULL,
      "sliding attention window in tokens (the query's own position included); 0 = full causal", false },
    { "rope_theta", "model", CONFIG_FLOAT, OFF(rope_theta), 0, 0, 0, 1e12, true, false, true, NULL, "RoPE base", false },
    { "rope_scaling", "model", CONFIG_STRING, OFF(rope_scaling), 0, 0, 0, 0, false, false, true, rope_scalings,
      "RoPE frequency scaling for context extension: none, or yarn (YaRN: rope_factor, rope_original_seq_len, yarn_beta_fast, yarn_beta_slow, and the attention temperature 0.1 ln(rope_factor) + 1 on q and k)", true },
    { "rope_factor", "model", CONFIG_FLOAT, OFF(rope_factor), 0, 0, 1, 1e6, false, false, true, NULL,
      "yarn: the context extension factor s (> 1 with yarn)", true },
    { "rope_original_seq_len", "model", CONFIG_INT, OFF(rope_original_seq_len), 0, 1 << 24, 0, 0, false, false, true, NULL,
      "yarn: the context length the unscaled frequencies were trained for (>= 1 with yarn)", true },
    { "yarn_beta_fast", "model", CONFIG_FLOAT, OFF(yarn_beta_fast), 0, 0, 0, 1e6, true, false, true, NULL,
      "yarn: pairs turning more than this many times over rope_original_seq_len keep their frequency", true },
    { "yarn_beta_slow", "model", CONFIG_FLOAT, OFF(yarn_beta_slow), 0, 0, 0, 1e6, true, false, true, NULL,
      "yarn: pairs turning fewer than this many times are divided by rope_factor (a linear ramp between)", true },
    { "norm_eps", "model", CONFIG_FLOAT, OFF(norm_eps), 0, 0, 0, 1, true, false, true, NULL, "RMSNorm epsilon", false },
    { "init_std", "model", CONFIG_FLOAT, OFF(init_std), 0, 0, 0, 10, true, false, true, NULL,
      "standard deviation of the initial weights (output projections: / sqrt(2 n_layers))", false },
    /* architecture dials */
    { "ffn_activation", "model", CONFIG_STRING, OFF(ffn_activation), 0, 0, 0, 0, false, false, true, ffn_activations,
      "activation of every FFN (dense, shared and routed experts): swiglu, relu2 (no W3 matrix) or squared_reglu", true },
    { "attention", "model", CONFIG_STRING, OFF(attention), 0, 0, 0, 0, false, false, true, attentions,
      "attention of every block: mha (multi-head, grouped-query with n_kv_heads) or mla (DeepSeek-V2 multi-head latent attention; CPU backend)", true },
    { "q_lora_rank", "model", CONFIG_INT, OFF(q_lora_rank), 0, 65536, 0, 0, false, false, true, NULL,
      "MLA: rank of the query compression (wq_a, q_norm, wq_b); 0 = none (one wq)", true },
    { "kv_lora_rank", "model", CONFIG_INT, OFF(kv_lora_rank), 0, 65536, 0, 0, false, false, true, NULL,
      "MLA: rank of the compressed key/value latent c_kv; 0 = 4 * dim / n_heads", true },
    { "qk_nope_head_dim", "model", CONFIG_INT, OFF(qk_nope_head_dim), 0, 65536, 0, 0, false, false, true, NULL,
      "MLA: per-head query/key part without RoPE; 0 = dim / n_heads", true },
    { "qk_rope_head_dim", "model", CONFIG_INT, OFF(qk_rope_head_dim), 0, 65536, 0, 0, false, false, true, NULL,
      "MLA: per-head query/key part with RoPE (the key's is shared by all heads), even; 0 = dim / n_heads / 2, rounded up to even", true },
    { "v_head_dim", "model", CONFIG_INT, OFF(v_head_dim), 0, 65536, 0, 0, false, false, true, NULL,
      "MLA: per-head value size (wo reads n_heads * v_head_dim); 0 = dim / n_heads", true },
    { "z_loss", "train", CONFIG_FLOAT, OFF(z_loss), 0, 0, 0, 1e6, false, false, true, NULL,
      "z-loss (PaLM): adds z_loss * mean over counted targets of logsumexp(logits)^2 to the objective; 0 = off", true },
    { "router_z_loss", "train", CONFIG_FLOAT, OFF(router_z_loss), 0, 0, 0, 1e6, false, false, true, NULL,
      "MoE: router z-loss (ST-MoE): adds router_z_loss * mean over tokens of logsumexp(router logits)^2, summed over MoE blocks; 0 = off", true },
    { "qk_norm", "model", CONFIG_BOOL, OFF(qk_norm), 0, 0, 0, 0, false, false, true, NULL,
      "RMSNorm over head_dim of every query and key head before RoPE, with learned gains per layer (attn.q_norm, attn.k_norm)", true },
    { "attn_sinks", "model", CONFIG_BOOL, OFF(attn_sinks), 0, 0, 0, 0, false, false, true, NULL,
      "a learned sink logit per query head (attn.sinks, init 0) joins the softmax denominator as a column with no value", true },
    { "attn_global_every", "model", CONFIG_INT, OFF(attn_global_every), 0, 1024, 0, 0, false, false, true, NULL,
      "local/global pattern: blocks l with (l + 1) % N == 0 attend full causal, the others over attn_local_window tokens; 0 = off (every block uses attn_window)", true },
    { "attn_local_window", "model", CONFIG_INT, OFF(attn_local_window), 0, 1 << 20, 0, 0, false, false, true, NULL,
      "window in tokens of the local blocks of attn_global_every (needs it; > 0 then)", true },
    /* MoE */
    { "n_dense_layers", "model", CONFIG_INT, OFF(n_dense_layers), 0, 1024, 0, 0, false, false, true, NULL,
      "MoE: the first n_dense_layers blocks keep a dense FFN; the rest are MoE blocks", false },
    { "n_routed_experts", "model", CONFIG_INT, OFF(n_routed_experts), 0, 65536, 0, 0, false, false, true, NULL,
      "MoE: routed experts per MoE block; 0 = dense model", false },
    { "n_shared_experts", "model", CONFIG_INT, OFF(n_shared_experts), 0, 1024, 0, 0, false, false, true, NULL,
      "MoE: shared experts (SwiGLU of hidden moe_inter_dim each) that every token passes through", false },
    { "n_activated_experts", "model", CONFIG_INT, OFF(n_activated_experts), 1, 1024, 0, 0, false, false, true, NULL,
      "MoE: routed experts per token (top-K), at most n_routed_experts", false },
    { "n_expert_groups", "model", CONFIG_INT, OFF(n_expert_groups), 1, 65536, 0, 0, false, false, true, NULL,
      "MoE: group-limited routing (DeepSeek-V3): the routed experts form this many contiguous groups (it must divide n_routed_experts); 1 = off", true },
    { "n_limited_groups", "model", CONFIG_INT, OFF(n_limited_groups), 1, 65536, 0, 0, false, false, true, NULL,
      "MoE: with n_expert_groups > 1, each token routes within its n_limited_groups best groups (a group's score: the sum of its two largest s + b)", true },
    { "moe_inter_dim", "model", CONFIG_INT, OFF(moe_inter_dim), 0, 1 << 20, 0, 0, false, false, true, NULL,
      "MoE: expert hidden size; 0 = inter_dim", false },
    { "route_scale", "model", CONFIG_FLOAT, OFF(route_scale), 0, 0, 0, 1e6, true, false, true, NULL, "MoE: factor on the normalized gates", false },
    { "router_score", "model", CONFIG_STRING, OFF(router_score), 0, 0, 0, 0, false, false, true, router_scores,
      "MoE: affinity function, sigmoid or softmax", false },
    { "expert_output_gain", "model", CONFIG_FLOAT, OFF(expert_output_gain), 0, 0, 0, 1e6, false, false, true, NULL,
      "MoE: scalar on the routed experts' output", false },
    { "capacity_factor", "model", CONFIG_FLOAT, OFF(capacity_factor), 0, 0, 0, 1e6, false, false, true, NULL,
      "MoE: capacity ceil(f * tokens * K / E) assignments per expert and forward, the overflow dropped and counted; 0 = dropless", false },
    { "precision", "model", CONFIG_STRING, OFF(precision), 0, 0, 0, 0, false, false, true, model_precisions,
      "fp32, or bf16 for the model outside the routed experts and the router: the weights, the products' inputs and their stored outputs rounded to bf16 in the forward as a mixed-precision GPU run holds them (fp32 masters, optimizer state, accumulation, norms, softmax, loss and residual stream; emulated in fp32 on the cpu backend); the backward is straight-through", true },
    { "expert_precision", "model", CONFIG_STRING, OFF(expert_precision), 0, 0, 0, 0, false, false, true, expert_precisions,
      "MoE: format of both operands of the routed experts' forward products, quantize-dequantized along the reduction dimension (fp32, bf16, fp8_e4m3, mxfp8, mxfp4, nvfp4; emulated in fp32 on the cpu backend); the backward is straight-through", true },
    { "router_precision", "model", CONFIG_STRING, OFF(router_precision), 0, 0, 0, 0, false, false, true, router_precisions,
      "MoE: fp32, or bf16 (the router's weights and inputs rounded to bf16 in the forward)", true },
    { "embed_gain", "model", CONFIG_FLOAT, OFF(embed_gain), 0, 0, 0, 1e6, true, false, true, NULL,
      "scalar on the token embedding's output", true },
    { "logit_gain", "model", CONFIG_FLOAT, OFF(logit_gain), 0, 0, 0, 1e6, true, false, true, NULL,
      "scalar on the logits (the LM head's output)", true },
    { "router_bias_update_rate", "train", CONFIG_FLOAT, OFF(router_bias_update_rate), 0, 0, 0, 1, false, false, true, NULL,
      "MoE: aux-loss-free balancing step, b_i += rate * sign(mean load - load_i) after each optimizer step; 0 = off", false },
    { "router_bias_center", "train", CONFIG_BOOL, OFF(router_bias_center), 0, 0, 0, 0, false, false, true, NULL,
      "MoE: subtract the mean of the signs in the bias update, so the biases stay centred", false },
    { "router_bias_schedule", "train", CONFIG_BOOL, OFF(router_bias_schedule), 0, 0, 0, 0, false, false, true, NULL,
      "MoE: scale the bias update rate by the router learning rate over its peak (warmup and decay with it)", false },
    { "router_bias_clamp", "train", CONFIG_FLOAT, OFF(router_bias_clamp), 0, 0, 0, 1e6, false, false, true, NULL,
      "MoE: clamp every bias to [-c, c] after each update; 0 = off", false },
    { "aux_loss_alpha", "train", CONFIG_FLOAT, OFF(aux_loss_alpha), 0, 0, 0, 1e6, false, false, true, NULL,
      "MoE: sequence-wise auxiliary balance loss weight; 0 = off", false },
    { "router_telemetry", "train", CONFIG_BOOL, OFF(router_telemetry), 0, 0, 0, 0, false, false, false, NULL,
      "MoE: a router line per MoE block every log_every steps", false },
    { "log_router_grad_norm", "train", CONFIG_BOOL, OFF(log_router_grad_norm), 0, 0, 0, 0, false, false, false, NULL,
      "MoE: add router_grad_norm (the L2 norm of the router weight gradient of the interval's last step) to router lines", false },
    { "stop_on_collapse", "train", CONFIG_BOOL, OFF(stop_on_collapse), 0, 0, 0, 0, false, false, false, NULL,
      "MoE: stop with exit status 5 when a block's routing collapses over a log interval", false },
    /* optimizer and schedule */
    { "lr_dense", "train", CONFIG_FLOAT, OFF(lr_dense), 0, 0, 0, DBL_MAX, false, false, true, NULL, "peak learning rate of the dense parameters", false },
    { "lr_expert", "train", CONFIG_FLOAT, OFF(lr_expert), 0, 0, 0, DBL_MAX, false, false, true, NULL, "MoE: peak learning rate of the routed experts; 0 = lr_dense", false },
    { "lr_router", "train", CONFIG_FLOAT, OFF(lr_router), 0, 0, 0, DBL_MAX, false, false, true, NULL, "MoE: peak learning rate of the routers (no weight decay); 0 = lr_dense", false },
    { "weight_decay", "train", CONFIG_FLOAT, OFF(weight_decay), 0, 0, 0, DBL_MAX, false, false, true, NULL,
      "AdamW decoupled weight decay (matrices of attention and FFN only)", false },
    { "adam_beta1", "train", CONFIG_FLOAT, OFF(adam_beta1), 0, 0, 0, 1, false, true, true, NULL, "AdamW beta1, in [0, 1)", false },
    { "adam_beta2", "train", CONFIG_FLOAT, OFF(adam_beta2), 0, 0, 0, 1, false, true, true, NULL, "AdamW beta2, in [0, 1)", false },
    { "adam_eps", "train", CONFIG_FLOAT, OFF(adam_eps), 0, 0, 0, 1, true, false, true, NULL, "AdamW epsilon", false },
    { "warmup_steps", "train", CONFIG_INT, OFF(warmup_steps), 0, I64MAX, 0, 0, false, false, true, NULL,
      "linear warmup over this many steps", false },
    { "hold_tokens", "train", CONFIG_INT, OFF(hold_tokens), 0, I64MAX, 0, 0, false, false, true, NULL,
      "hold the peak learning rate until this many training tokens", false },
    { "decay_tokens", "train", CONFIG_INT, OFF(decay_tokens), 0, I64MAX, 0, 0, false, false, true, NULL,
      "then cosine decay to decay_floor over this many tokens", false },
    { "decay_floor", "train", CONFIG_FLOAT, OFF(decay_floor), 0, 0, 0, DBL_MAX, false, false, true, NULL,
      "learning rate at the end of the decay (absolute, not a ratio)", false },
    { "grad_clip", "train", CONFIG_FLOAT, OFF(grad_clip), 0, 0, 0, DBL_MAX, false, false, true, NULL,
      "clip the global gradient norm to this; 0 = off", false },
    { "warmup_steps_dense", "train", CONFIG_INT, OFF(warmup_steps_dense), -1, I64MAX, 0, 0, false, false, true, NULL,
      "linear warmup of the dense group's learning rate over this many steps; -1 = warmup_steps", true },
    { "warmup_steps_expert", "train", CONFIG_INT, OFF(warmup_steps_expert), -1, I64MAX, 0, 0, false, false, true, NULL,
      "MoE: linear warmup of the routed experts' learning rate (AdamW) over this many steps; -1 = warmup_steps", true },
    { "warmup_steps_router", "train", CONFIG_INT, OFF(warmup_steps_router), -1, I64MAX, 0, 0, false, false, true, NULL,
      "MoE: linear warmup of the routers' learning rate over this many steps; -1 = warmup_steps", true },
    { "warmup_steps_muon", "train", CONFIG_INT, OFF(warmup_steps_muon), -1, I64MAX, 0, 0, false, false, true, NULL,
      "optimizer muon: linear warmup of lr_muon over this many steps; -1 = warmup_steps", true },
    { "decay_tokens_dense", "train", CONFIG_INT, OFF(decay_tokens_dense), -1, I64MAX, 0, 0, false, false, true, NULL,
      "cosine decay of the dense group's learning rate over this many tokens after hold_tokens; -1 = decay_tokens", true },
    { "decay_tokens_expert", "train", CONFIG_INT, OFF(decay_tokens_expert), -1, I64MAX, 0, 0, false, false, true, NULL,
      "MoE: cosine decay of the routed experts' learning rate (AdamW) over this many tokens; -1 = decay_tokens", true },
    { "decay_tokens_router", "train", CONFIG_INT, OFF(decay_tokens_router), -1, I64MAX, 0, 0, false, false, true, NULL,
      "MoE: cosine decay of the routers' learning rate over this many tokens; -1 = decay_tokens", true },
    { "decay_tokens_muon", "train", CONFIG_INT, OFF(decay_tokens_muon), -1, I64MAX, 0, 0, false, false, true, NULL,
      "optimizer muon: cosine decay of lr_muon over this many tokens; -1 = decay_tokens", true },
    { "adam_beta2_expert", "train", CONFIG_FLOAT, OFF(adam_beta2_expert), 0, 0, 0, 1, false, true, true, NULL,
      "MoE: AdamW beta2 of the routed experts when AdamW updates them, in [0, 1); 0 = adam_beta2", true },
    { "optimizer", "train", CONFIG_STRING, OFF(optimizer), 0, 0, 0, 0, false, false, true, optimizers,
      "adamw, or muon: Muon (momentum, Newton-Schulz orthogonalisation) for the attention and FFN matrices, each routed expert's its own matrix; AdamW for embeddings, LM head, norms and routers", true },
    { "lr_muon", "train", CONFIG_FLOAT, OFF(lr_muon), 0, 0, 0, DBL_MAX, false, false, true, NULL,
      "optimizer muon: peak learning rate of the Muon matrices (their update RMS is lr_muon * muon_update_rms)", true },
    { "muon_momentum", "train", CONFIG_FLOAT, OFF(muon_momentum), 0, 0, 0, 1, false, true, true, NULL,
      "optimizer muon: momentum of the Muon buffer, in [0, 1)", true },
    { "muon_nesterov", "train", CONFIG_BOOL, OFF(muon_nesterov), 0, 0, 0, 0, false, false, true, NULL,
      "optimizer muon: Nesterov momentum (orthogonalise momentum * buffer + (1 - momentum) * gradient)", true },
    { "muon_update_rms", "train", CONFIG_FLOAT, OFF(muon_update_rms), 0, 0, 0, 1e6, true, false, true, NULL,
      "optimizer muon: RMS the orthogonalised update is scaled to before lr_muon (scale = muon_update_rms * sqrt(max(rows, cols)))", true },
    { "muon_experts", "train", CONFIG_BOOL, OFF(muon_experts), 0, 0, 0, 0, false, false, true, NULL,
      "optimizer muon: routed experts on Muon (one matrix per expert); false = AdamW with lr_expert", true },
    /* training run */
    { "batch_size", "train", CONFIG_INT, OFF(batch_size), 1, 1 << 20, 0, 0, false, false, true, NULL, "sequences per optimizer step", false },
    { "micro_batch_size", "train", CONFIG_INT, OFF(micro_batch_size), 0, 1 << 20, 0, 0, false, false, true, NULL,
      "sequences per forward/backward (gradient accumulation); 0 = batch_size", false },
    { "expert_parallel", "train", CONFIG_INT, OFF(expert_parallel), 1, 1 << 20, 0, 0, false, false, false, NULL,
      "MoE under mpirun: ranks per expert-parallel group, each computing n_routed_experts / expert_parallel of every block's experts for the group's tokens (all-to-all); must divide n_routed_experts and the rank count; 1 = off", false },
    { "zero_stage", "train", CONFIG_INT, OFF(zero_stage), 0, 1, 0, 0, false, false, false, NULL,
      "under mpirun: 1 = ZeRO-1, each rank holds the optimizer moments of 1 / ranks of the parameters and updates those, then the parameters are all-gathered (the same bits as 0); 0 = every rank holds every moment", false },
    { "steps", "train", CONFIG_INT, OFF(steps), 0, I64MAX, 0, 0, false, false, false, NULL, "optimizer steps to train", false },
    { "seed", "train", CONFIG_INT, OFF(seed), 0, I64MAX, 0, 0, false, false, true, NULL, "seed of weight init and data sampling", false },
    { "eos_token_id", "data", CONFIG_INT, OFF(eos_token_id), -1, 1 << 24, 0, 0, false, false, true, NULL,
      "end-of-text token; -1 = none", false },
    { "loss_mask_eos", "train", CONFIG_BOOL, OFF(loss_mask_eos), 0, 0, 0, 0, false, false, true, NULL,
      "leave positions whose target is eos_token_id out of the loss", false },
    { "log_every", "train", CONFIG_INT, OFF(log_every), 1, I64MAX, 0, 0, false, false, false, NULL, "a train line every this many steps", false },
    { "checkpoint_every", "train", CONFIG_INT, OFF(checkpoint_every), 0, I64MAX, 0, 0, false, false, false, NULL,
      "a checkpoint every this many steps (and at the end); 0 = only at the end", false },
    { "keep_checkpoints", "train", CONFIG_INT, OFF(keep_checkpoints), 0, 1 << 30, 0, 0, false, false, false, NULL,
      "after each checkpoint, remove all but the newest this many in out_dir (never latest's); 0 = keep all", false },
    { "validation_every", "train", CONFIG_INT, OFF(validation_every), 0, I64MAX, 0, 0, false, false, false, NULL,
      "validate every this many steps (and at step 0 and the end); 0 = never", false },
    { "validation_steps", "train", CONFIG_INT, OFF(validation_steps), 1, 1 << 20, 0, 0, false, false, false, NULL,
      "batches of batch_size sequences in the fixed validation set", false },
    { "validation_log_bpb", "train", CONFIG_BOOL, OFF(validation_log_bpb), 0, 0, 0, 0, false, false, false, NULL,
      "val lines also give bits per byte (bpb), as nmoe-eval bpb computes it, from the byte lengths of tokenizer", false },
    { "target_loss", "train", CONFIG_FLOAT, OFF(target_loss), 0, 0, 0, DBL_MAX, false, false, false, NULL,
      "stop when the validation loss is at or below this; 0 = off", false },
    /* data and output */
    { "data_path", "data", CONFIG_STRING, OFF(data_path), 0, 0, 0, 0, false, false, true, NULL,
      "training shards: a directory made by nmoe-shard pack (its train split) or one shard", false },
    { "validation_data_path", "data", CONFIG_STRING, OFF(validation_data_path), 0, 0, 0, 0, false, false, false, NULL,
      "validation shards; empty = the val split of data_path", false },
    { "holdout_fraction", "data", CONFIG_FLOAT, OFF(holdout_fraction), 0, 0, 0, 0.5, false, false, true, NULL,
      "when the data has no val split and validation_data_path is empty, this last fraction of the training tokens is the validation data, never trained on", false },
    { "tokenizer", "data", CONFIG_STRING, OFF(tokenizer), 0, 0, 0, 0, false, false, false, NULL,
      "the data's tokenizer (gpt2, or an nmoe-tok file), for validation_log_bpb; empty = none", false },
    { "out_dir", "data", CONFIG_STRING, OFF(out_dir), 0, 0, 0, 0, false, false, false, NULL, "checkpoint directory", false },
    { "backend", "train", CONFIG_STRING, OFF(backend), 0, 0, 0, 0, false, false, false, backends,
      "where the model runs: cpu (fp32, OpenBLAS) or cuda (needs a CUDA build and a GPU; never a quiet CPU run)", false },
    { "resume", "train", CONFIG_BOOL, OFF(resume), 0, 0, 0, 0, false, false, false, NULL,
      "continue from the latest checkpoint in out_dir when there is one", false },
};

enum { N_KEYS = sizeof keys / sizeof keys[0] };

size_t config_key_count(void) { return N_KEYS; }
const ConfigKey *config_key_at(size_t i) { return i < N_KEYS ? &keys[i] : NULL; }

const ConfigKey *config_key_find(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

void config_defaults(Config *c)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = 50257; /* GPT-2 */
    c->dim = 128;
    c->n_layers = 4;
    c->n_heads = 4;
    c->n_kv_heads = 0;
    c->inter_dim = 384;
    c->seq_len = 256;
    c->attn_window = 0;
    c->qk_norm = false;
    c->attn_sinks = false;
    c->attn_global_every = 0; /* off: every block uses attn_window */
    c->attn_local_window = 0;
    c->rope_theta = 10000.0;
    strcpy(c->rope_scaling, "none");
    c->rope_factor = 1.0;
    c->rope_original_seq_len = 0;
    c->yarn_beta_fast = 32.0;
    c->yarn_beta_slow = 1.0;
    c->norm_eps = 1e-5;
    c->init_std = 0.02;
    strcpy(c->ffn_activation, "swiglu");
    strcpy(c->attention, "mha"); /* MLA dims 0: config_mla_dims's defaults */
    /* MoE defaults follow nmoe's config.py. */
    c->n_dense_layers = 1;
    c->n_routed_experts = 0;
    c->n_shared_experts = 2;
    c->n_activated_experts = 2;
    c->n_expert_groups = 1;
    c->n_limited_groups = 1;
    c->moe_inter_dim = 0;
    c->route_scale = 1.0;
    strcpy(c->router_score, "sigmoid");
    c->router_bias_update_rate = 1e-4;
    c->aux_loss_alpha = 0.0;
    c->expert_output_gain = 1.0;
    c->capacity_factor = 0.0;
    strcpy(c->precision, "fp32");
    strcpy(c->expert_precision, "fp32");
    strcpy(c->router_precision, "fp32");
    c->embed_gain = 1.0;
    c->logit_gain = 1.0;
    c->router_bias_center = false;
    c->router_bias_schedule = false;
    c->router_bias_clamp = 0.0;
    c->router_telemetry = true;
    c->log_router_grad_norm = false;
    c->stop_on_collapse = false;
    /* Optimizer and schedule: nmoe's defaults. */
    c->lr_dense = 3.4e-4;
    c->lr_expert = 0.0; /* = lr_dense */
    c->lr_router = 0.0; /* = lr_dense */
    c->weight_decay = 0.1;
    c->adam_beta1 = 0.9;
    c->adam_beta2 = 0.95;
    c->adam_eps = 1e-8;
    c->warmup_steps = 500;
    c->hold_tokens = 10000000000LL;
    c->decay_tokens = 40000000000LL;
    c->decay_floor = 3e-5;
    c->grad_clip = 1.0;
    c->warmup_steps_dense = c->warmup_steps_expert = c->warmup_steps_router = c->warmup_steps_muon = -1;
    c->decay_tokens_dense = c->decay_tokens_expert = c->decay_tokens_router = c->decay_tokens_muon = -1;
    c->adam_beta2_expert = 0.0; /* = adam_beta2 */
    strcpy(c->optimizer, "adamw");
    c->lr_muon = 0.02;
    c->muon_momentum = 0.95;   /* muon.py's */
    c->muon_nesterov = true;
    c->muon_update_rms = 0.2;  /* Moonshot's "Muon is Scalable" */
    c->muon_experts = true;
    c->batch_size = 8;
    c->micro_batch_size = 0;
    c->expert_parallel = 1;
    c->steps = 1000;
    c->seed = 42;
    c->eos_token_id = 50256; /* GPT-2 <|endoftext|> */
    c->loss_mask_eos = true;
    c->log_every = 10;
    c->checkpoint_every = 1000;
    c->keep_checkpoints = 0; /* keep all */
    c->validation_every = 0;
    c->validation_steps = 20;
    c->target_loss = 0.0;
    c->holdout_fraction = 0.1;
    strcpy(c->out_dir, "out");
    c->resume = false;
    strcpy(c->backend, "cpu");
}

static void *field(Config *c, const ConfigKey *k) { return (char *)c + k->offset; }
static const void *cfield(const Config *c, const ConfigKey *k) { return (const char *)c + k->offset; }
static size_t string_cap(const ConfigKey *k)
{
    if (strcmp(k->name, "router_score") == 0) return sizeof(((Config *)0)->router_score);
    if (strcmp(k->name, "backend") == 0) return sizeof(((Config *)0)->backend);
    if (strcmp(k->name, "precision") == 0) return sizeof(((Config *)0)->precision);
    if (strcmp(k->name, "expert_precision") == 0) return sizeof(((Config *)0)->expert_precision);
    if (strcmp(k->name, "router_precision") == 0) return sizeof(((Config *)0)->router_precision);
    if (strcmp(k->name, "ffn_activation") == 0) return sizeof(((Config *)0)->ffn_activation);
    if (strcmp(k->name, "rope_scaling") == 0) return sizeof(((Config *)0)->rope_scaling);
    if (strcmp(k->name, "optimizer") == 0) return sizeof(((Config *)0)->optimizer);
    if (strcmp(k->name, "attention") == 0) return sizeof(((Config *)0)->attention);
    return CONFIG_STRING_MAX;
}


static const char *type_name(ConfigType t)
{
    switch (t) {
    case CONFIG_INT: return "an integer";
    case CONFIG_FLOAT: return "a number";
    case CONFIG_BOOL: return "true or false";
    case CONFIG_STRING: return "a string";
    }
    return "?";
}

/* The checks every value passes, wherever it came from; `where` prefixes messages. */
static bool set_int(Config *c, const ConfigKey *k, int64_t v, const char *where, char *err, size_t cap)
{
    if (v < k->imin || v > k->imax)
        return errbuf_fail(err, cap, "%s: %s: %lld is out of range [%lld, %lld]", where, k->name, (long long)v,
                    (long long)k->imin, (long long)k->imax);
    *(int64_t *)field(c, k) = v;
    return true;
}

static bool set_float(Config *c, const ConfigKey *k, double v, const char *where, char *err, size_t cap)
{
    if (!isfinite(v)) return errbuf_fail(err, cap, "%s: %s: must be a finite number", where, k->name);
    if (k->fmin_open ? !(v > k->fmin) : !(v >= k->fmin))
        return errbuf_fail(err, cap, "%s: %s: %g must be %s %g", where, k->name, v, k->fmin_open ? ">" : ">=", k->fmin);
    if (k->fmax_open ? !(v < k->fmax) : !(v <= k->fmax))
        return errbuf_fail(err, cap, "%s: %s: %g must be %s %g", where, k->name, v, k->fmax_open ? "<" : "<=", k->fmax);
    *(double *)field(c, k) = v;
    return true;
}

static bool set_string(Config *c, const ConfigKey *k, const char *v, const char *where, char *err, size_t cap)
{
    if (strlen(v) >= string_cap(k))
        return errbuf_fail(err, cap, "%s: %s: longer than %zu bytes", where, k->name, string_cap(k) - 1);
    if (k->choices) {
        bool ok = false;
        for (const char *const *ch = k->choices; *ch; ch++) ok |= strcmp(*ch, v) == 0;
        if (!ok) {
            char list[128] = "";
            for (const char *const *ch = k->choices; *ch; ch++) {
                if (ch != k->choices) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, *ch, sizeof list - strlen(list) - 1);
            }
            return errbuf_fail(err, cap, "%s: %s: '%s' is not one of: %s", where, k->name, v, list);
        }
    }
    strcpy(field(c, k), v);
    return true;
}

/* Edit distance for "did you mean": small strings only. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[n][m];
}

static void unknown_key_message(const char *where, const char *name, char *err, size_t cap)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < N_KEYS; i++) {
        int d = edit_distance(name, keys[i].name);
        if (d < best_d) { best_d = d; best = keys[i].name; }
    }
    if (best) errbuf_fail(err, cap, "%s: unknown key '%s' (did you mean '%s'?)", where, name, best);
    else errbuf_fail(err, cap, "%s: unknown key '%s'", where, name);
}

static const char *toml_kind(const TomlValue *v)
{
    switch (v->type) {
    case TOML_STRING: return "a string";
    case TOML_INT: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_ARRAY: return "an array";
    }
    return "?";
}

static bool apply_doc(Config *c, TomlDoc *doc, char *err, size_t cap);

bool config_load_file(Config *c, const char *path, char *err, size_t cap)
{
    TomlDoc *doc = toml_parse_file(path, err, cap);
    return doc && apply_doc(c, doc, err, cap);
}

bool config_load_text(Config *c, const char *text, size_t len, const char *name, char *err, size_t cap)
{
    TomlDoc *doc = toml_parse(text, len, name, err, cap);
    return doc && apply_doc(c, doc, err, cap);
}

/* Apply every key of a parsed document; frees the document. */
static bool apply_doc(Config *c, TomlDoc *doc, char *err, size_t cap)
{
    const char *fname = toml_filename(doc);
    int seen_line[N_KEYS] = { 0 };
    bool ok = true;
    for (size_t i = 0; ok && i < toml_count(doc); i++) {
        const char *full = toml_key_at(doc, i);
        const TomlValue *v = toml_value_at(doc, i);
        char where[CONFIG_STRING_MAX + 64];
        snprintf(where, sizeof where, "%s:%d:%d", fname, v->line, v->col);
        const char *name = full;
        const char *dot = strchr(full, '.');
        if (dot) {
            size_t tlen = (size_t)(dot - full);
            bool table_ok = (tlen == 5 && strncmp(full, "model", 5) == 0) ||
                            (tlen == 5 && strncmp(full, "train", 5) == 0) ||
                            (tlen == 4 && strncmp(full, "data", 4) == 0);
            if (!table_ok || strchr(dot + 1, '.')) {
                ok = errbuf_fail(err, cap, "%s: unknown key '%s' (keys go at top level or in [model], [train], [data])", where, full);
                break;
            }
            name = dot + 1;
        }
        const ConfigKey *k = config_key_find(name);
        if (!k) {
            unknown_key_message(where, full, err, cap);
            ok = false;
            break;
        }
        size_t ki = (size_t)(k - keys);
        if (seen_line[ki]) {
            ok = errbuf_fail(err, cap, "%s: %s: given twice (first at line %d)", where, k->name, seen_line[ki]);
            break;
        }
        seen_line[ki] = v->line;
        switch (k->type) {
        case CONFIG_INT:
            if (v->type != TOML_INT) ok = errbuf_fail(err, cap, "%s: %s: expected an integer, got %s", where, k->name, toml_kind(v));
            else ok = set_int(c, k, v->u.i, where, err, cap);
            break;
        case CONFIG_FLOAT:
            if (v->type == TOML_INT) ok = set_float(c, k, (double)v->u.i, where, err, cap);
            else if (v->type == TOML_FLOAT) ok = set_float(c, k, v->u.f, where, err, cap);
            else ok = errbuf_fail(err, cap, "%s: %s: expected a number, got %s", where, k->name, toml_kind(v));
            break;
        case CONFIG_BOOL:
            if (v->type != TOML_BOOL) ok = errbuf_fail(err, cap, "%s: %s: expected true or false, got %s", where, k->name, toml_kind(v));
            else *(bool *)field(c, k) = v->u.b;
            break;
        case CONFIG_STRING:
            if (v->type != TOML_STRING) ok = errbuf_fail(err, cap, "%s: %s: expected a string, got %s", where, k->name, toml_kind(v));
            else ok = set_string(c, k, v->u.s, where, err, cap);
            break;
        }
    }
    toml_free(doc);
    return ok;
}

bool config_set(Config *c, const char *assignment, char *err, size_t cap)
{
    char where[CONFIG_STRING_MAX + 64];
    snprintf(where, sizeof where, "--set %s", assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) return errbuf_fail(err, cap, "%s: expected key=value", where);
    char name[128];
    size_t nlen = (size_t)(eq - assignment);
    if (nlen >= sizeof name) return errbuf_fail(err, cap, "%s: key too long", where);
    memcpy(name, assignment, nlen);
    name[nlen] = '\0';
    /* "model.dim=..." is accepted like the file's tables. */
    const char *bare = name;
    if (strncmp(name, "model.", 6) == 0 || strncmp(name, "train.", 6) == 0) bare = name + 6;
    else if (strncmp(name, "data.", 5) == 0) bare = name + 5;
    const ConfigKey *k = config_key_find(bare);
    if (!k) {
        unknown_key_message(where, name, err, cap);
        return false;
    }
    const char *val = eq + 1;
    char *end = NULL;
    switch (k->type) {
    case CONFIG_INT: {
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (!*val || *end || errno) return errbuf_fail(err, cap, "%s: %s: expected %s", where, k->name, type_name(k->type));
        return set_int(c, k, v, where, err, cap);
    }
    case CONFIG_FLOAT: {
        errno = 0;
        double v = strtod(val, &end);
        if (!*val || *end || errno == EINVAL) return errbuf_fail(err, cap, "%s: %s: expected %s", where, k->name, type_name(k->type));
        return set_float(c, k, v, where, err, cap);
    }
    case CONFIG_BOOL:
        if (strcmp(val, "true") == 0) *(bool *)field(c, k) = true;
        else if (strcmp(val, "false") == 0) *(bool *)field(c, k) = false;
        else return errbuf_fail(err, cap, "%s: %s: expected %s", where, k->name, type_name(k->type));
        return true;
    case CONFIG_STRING:
        return set_string(c, k, val, where, err, cap);
    }
    return false;
}

int64_t config_head_dim(const Config *c) { return c->dim / c->n_heads; }
int64_t config_kv_heads(const Config *c) { return c->n_kv_heads ? c->n_kv_heads : c->n_heads; }
MlaDims config_mla_dims(const Config *c)
{
    const int64_t hd = config_head_dim(c);
    MlaDims d = { c->q_lora_rank, c->kv_lora_rank, c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim };
    if (!d.kv_lora_rank) d.kv_lora_rank = 4 * hd;
    if (!d.qk_nope_head_dim) d.qk_nope_head_dim = hd;
    if (!d.qk_rope_head_dim) d.qk_rope_head_dim = hd / 2 + (hd / 2) % 2;
    if (!d.v_head_dim) d.v_head_dim = hd;
    return d;
}
int64_t config_micro_batch(const Config *c) { return c->micro_batch_size ? c->micro_batch_size : c->batch_size; }
int64_t config_tokens_per_step(const Config *c) { return c->batch_size * c->seq_len; }
int64_t config_moe_inter_dim(const Config *c) { return c->moe_inter_dim ? c->moe_inter_dim : c->inter_dim; }
double config_lr_expert(const Config *c) { return c->lr_expert > 0 ? c->lr_expert : c->lr_dense; }
double config_lr_router(const Config *c) { return c->lr_router > 0 ? c->lr_router : c->lr_dense; }
double config_adam_beta2_expert(const Config *c) { return c->adam_beta2_expert > 0 ? c->adam_beta2_expert : c->adam_beta2; }
bool config_muon(const Config *c) { return strcmp(c->optimizer, "muon") == 0; }
int64_t config_moe_layers(const Config *c)
{
    return c->n_routed_experts > 0 && c->n_layers > c->n_dense_layers ? c->n_layers - c->n_dense_layers : 0;
}

/* The MoE relations; only checked for a MoE model (a dense one ignores these keys). */
static bool check_moe(const Config *c, const char *origin, char *err, size_t cap)
{
    if (c->n_activated_experts > c->n_routed_experts)
        return errbuf_fail(err, cap, "%s: n_activated_experts (%lld) must not exceed n_routed_experts (%lld)", origin,
                    (long long)c->n_activated_experts, (long long)c->n_routed_experts);
    if (c->n_dense_layers >= c->n_layers)
        return errbuf_fail(err, cap, "%s: n_dense_layers (%lld) leaves no MoE block of the n_layers (%lld); set n_routed_experts = 0 for a dense model",
                    origin, (long long)c->n_dense_layers, (long long)c->n_layers);
    if (c->n_expert_groups > 1 || c->n_limited_groups > 1) {
        if (c->n_routed_experts % c->n_expert_groups != 0)
            return errbuf_fail(err, cap, "%s: n_expert_groups (%lld) must divide n_routed_experts (%lld)", origin,
                               (long long)c->n_expert_groups, (long long)c->n_routed_experts);
        if (c->n_limited_groups > c->n_expert_groups)
            return errbuf_fail(err, cap, "%s: n_limited_groups (%lld) must not exceed n_expert_groups (%lld)", origin,
                               (long long)c->n_limited_groups, (long long)c->n_expert_groups);
        if (c->n_limited_groups * (c->n_routed_experts / c->n_expert_groups) < c->n_activated_experts)
            return errbuf_fail(err, cap, "%s: n_limited_groups (%lld) groups of %lld experts hold fewer than "
                               "n_activated_experts (%lld)", origin, (long long)c->n_limited_groups,
                               (long long)(c->n_routed_experts / c->n_expert_groups), (long long)c->n_activated_experts);
    }
    if (c->batch_size * c->seq_len > INT32_MAX / c->n_activated_experts)
        return errbuf_fail(err, cap, "%s: n_activated_experts: batch_size * seq_len * n_activated_experts is too large", origin);
    return true;
}

bool config_check(const Config *c, const char *origin, char *err, size_t cap)
{
    if (c->n_routed_experts > 0 && !check_moe(c, origin, err, cap)) return false;
    if (c->expert_parallel > 1) {
        if (c->n_routed_experts == 0)
            return errbuf_fail(err, cap, "%s: expert_parallel = %lld needs an MoE model (n_routed_experts > 0)", origin,
                               (long long)c->expert_parallel);
        if (c->n_routed_experts % c->expert_parallel != 0)
            return errbuf_fail(err, cap, "%s: expert_parallel (%lld) must divide n_routed_experts (%lld)", origin,
                               (long long)c->expert_parallel, (long long)c->n_routed_experts);
        if (strcmp(c->expert_precision, "fp32") != 0)
            return errbuf_fail(err, cap, "%s: expert_parallel > 1 runs the experts in fp32 only; expert_precision is \"%s\"",
                               origin, c->expert_precision);
        if (strcmp(c->backend, "cuda") == 0)
            return errbuf_fail(err, cap, "%s: backend \"cuda\": expert_parallel %lld is not in the CUDA backend (it has "
                               "expert_parallel = 1 only); use backend = \"cpu\"", origin, (long long)c->expert_parallel);
    }
    if (c->zero_stage == 1 && strcmp(c->backend, "cuda") == 0)
        return errbuf_fail(err, cap, "%s: backend \"cuda\": zero_stage 1 is not in the CUDA backend (it has zero_stage = 0 "
                           "only); use backend = \"cpu\"", origin);
    if (strcmp(c->rope_scaling, "yarn") == 0) {
        if (!(c->rope_factor > 1))
            return errbuf_fail(err, cap, "%s: rope_factor (%g) must be > 1 with rope_scaling = \"yarn\"", origin, c->rope_factor);
        if (c->rope_original_seq_len < 1)
            return errbuf_fail(err, cap, "%s: rope_original_seq_len must be set (>= 1) with rope_scaling = \"yarn\"", origin);
        if (!(c->yarn_beta_fast > c->yarn_beta_slow))
            return errbuf_fail(err, cap, "%s: yarn_beta_fast (%g) must be greater than yarn_beta_slow (%g)", origin,
                               c->yarn_beta_fast, c->yarn_beta_slow);
    }
    if (c->dim % c->n_heads != 0)
        return errbuf_fail(err, cap, "%s: dim (%lld) must be a multiple of n_heads (%lld)", origin, (long long)c->dim,
                    (long long)c->n_heads);
    if (config_head_dim(c) % 2 != 0)
        return errbuf_fail(err, cap, "%s: dim / n_heads (%lld) must be even for rotary embeddings", origin,
                    (long long)config_head_dim(c));
    if (c->n_heads % config_kv_heads(c) != 0)
        return errbuf_fail(err, cap, "%s: n_heads (%lld) must be a multiple of n_kv_heads (%lld)", origin,
                    (long long)c->n_heads, (long long)config_kv_heads(c));
    if (c->attn_global_every > 0 && c->attn_local_window <= 0)
        return errbuf_fail(err, cap, "%s: attn_global_every (%lld) needs attn_local_window > 0 (the window of the local blocks)",
                           origin, (long long)c->attn_global_every);
    if (c->attn_global_every > 0 && c->attn_window != 0)
        return errbuf_fail(err, cap, "%s: attn_window (%lld) with attn_global_every (%lld) is ambiguous: the pattern sets "
                           "each block's window; give the local blocks' as attn_local_window and leave attn_window 0",
                           origin, (long long)c->attn_window, (long long)c->attn_global_every);
    if (c->attn_local_window > 0 && c->attn_global_every == 0)
        return errbuf_fail(err, cap, "%s: attn_local_window (%lld) is used only with attn_global_every > 0; for one window "
                           "in every block use attn_window", origin, (long long)c->attn_local_window);
    if (c->attn_global_every > c->n_layers || c->attn_global_every == 1)
        return errbuf_fail(err, cap, "%s: attn_global_every (%lld) leaves %s of the n_layers (%lld); use attn_window "
                           "for one window everywhere, attn_global_every = 0 for none", origin,
                           (long long)c->attn_global_every, c->attn_global_every == 1 ? "no local block" : "no global block",
                           (long long)c->n_layers);
    if (strcmp(c->attention, "mla") == 0) {
        if (strcmp(c->precision, "fp32") != 0)
            return errbuf_fail(err, cap, "%s: precision \"%s\" is not implemented with attention = \"mla\" (MLA's products "
                               "run in fp32 only); use precision = \"fp32\" or attention = \"mha\"", origin, c->precision);
        /* MLA has its own attention: the mha dials do not reach it (yet). */
        const char *k = c->qk_norm ? "qk_norm" : c->attn_sinks ? "attn_sinks" : c->attn_global_every ? "attn_global_every"
                      : strcmp(c->rope_scaling, "none") != 0 ? "rope_scaling" : NULL;
        if (k)
            return errbuf_fail(err, cap, "%s: %s is a dial of attention = \"mha\"; attention = \"mla\" does not have it "
                               "(MLA has its own q_norm and kv_norm and one window, attn_window)", origin, k);
        if (config_mla_dims(c).qk_rope_head_dim % 2 != 0)
            return errbuf_fail(err, cap, "%s: qk_rope_head_dim (%lld) must be even for rotary embeddings", origin,
                               (long long)c->qk_rope_head_dim);
        if (c->n_kv_heads != 0 && c->n_kv_heads != c->n_heads)
            return errbuf_fail(err, cap, "%s: n_kv_heads (%lld): attention = \"mla\" has no grouped-query heads (its keys "
                               "and values come from one shared latent); leave n_kv_heads at 0", origin,
                               (long long)c->n_kv_heads);
    } else if (c->q_lora_rank || c->kv_lora_rank || c->qk_nope_head_dim || c->qk_rope_head_dim || c->v_head_dim) {
        const char *k = c->q_lora_rank ? "q_lora_rank" : c->kv_lora_rank ? "kv_lora_rank"
                      : c->qk_nope_head_dim ? "qk_nope_head_dim" : c->qk_rope_head_dim ? "qk_rope_head_dim" : "v_head_dim";
        return errbuf_fail(err, cap, "%s: %s is an MLA dimension: set attention = \"mla\" (or leave it at 0)", origin, k);
    }
    if (c->validation_log_bpb && !c->tokenizer[0])
        return errbuf_fail(err, cap, "%s: validation_log_bpb needs tokenizer (the data's tokenizer, for its byte lengths)",
                           origin);
    if (c->eos_token_id >= c->vocab_size)
        return errbuf_fail(err, cap, "%s: eos_token_id (%lld) must be below vocab_size (%lld), or -1 for none", origin,
                    (long long)c->eos_token_id, (long long)c->vocab_size);
    if (c->batch_size % config_micro_batch(c) != 0)
        return errbuf_fail(err, cap, "%s: batch_size (%lld) must be a multiple of micro_batch_size (%lld)", origin,
                    (long long)c->batch_size, (long long)config_micro_batch(c));
    if (c->decay_floor > c->lr_dense)
        return errbuf_fail(err, cap, "%s: decay_floor (%g) must not exceed lr_dense (%g)", origin, c->decay_floor, c->lr_dense);
    if (c->seq_len > INT32_MAX / c->batch_size)
        return errbuf_fail(err, cap, "%s: batch_size * seq_len is too large", origin);
    return true;
}

/* Shortest "%.{15,16,17}g" that reads back to the same double; integral values keep a
 * ".0" so JSON readers see a float. */
static void format_double(double v, char *buf, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

void config_value_json(const Config *c, const ConfigKey *k, char *buf, size_t cap)
{
    switch (k->type) {
    case CONFIG_INT: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)cfield(c, k)); break;
    case CONFIG_FLOAT: format_double(*(const double *)cfield(c, k), buf, cap); break;
    case CONFIG_BOOL: snprintf(buf, cap, "%s", *(const bool *)cfield(c, k) ? "true" : "false"); break;
    case CONFIG_STRING: {
        NdLine l = { 0 };
        const char *s = (const char *)cfield(c, k);
        nd_append_escaped(&l, s, strlen(s));
        snprintf(buf, cap, "%s", l.buf);
        nd_free(&l);
        break;
    }
    }
}

char *config_to_json(const Config *c, bool fingerprinted_only)
{
    NdLine l = { 0 };
    nd_begin(&l);
    char buf[CONFIG_STRING_MAX * 6 + 64];
    Config d;
    config_defaults(&d);
    char dbuf[sizeof buf];
    for (size_t i = 0; i < N_KEYS; i++) {
        if (fingerprinted_only && !keys[i].fingerprinted) continue;
        config_value_json(c, &keys[i], buf, sizeof buf);
        if (fingerprinted_only && keys[i].fingerprint_if_set) {
            config_value_json(&d, &keys[i], dbuf, sizeof dbuf);
            if (strcmp(buf, dbuf) == 0) continue;
        }
        nd_raw(&l, keys[i].name, buf);
    }
    nd_end(&l);
    l.buf[l.len - 1] = '\0'; /* drop the newline */
    return l.buf;            /* the NdLine's buffer becomes the caller's */
}

uint64_t config_fingerprint(const Config *c)
{
    char *json = config_to_json(c, true);
    uint64_t h = hash64(json, strlen(json), 0);
    free(json);
    return h;
}

void config_fingerprint_hex(const Config *c, char out[17]) { hash64_hex(config_fingerprint(c), out); }

bool config_from_json(Config *c, const char *json, const char *origin, char *err, size_t cap)
{
    cJSON *obj = cJSON_Parse(json);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return errbuf_fail(err, cap, "%s: config is not a JSON object", origin);
    }
    bool ok = true;
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        const ConfigKey *k = config_key_find(item->string);
        if (!k) { ok = errbuf_fail(err, cap, "%s: config: unknown key '%s'", origin, item->string); break; }
        switch (k->type) {
        case CONFIG_INT:
            if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int64_t)item->valuedouble)
                ok = errbuf_fail(err, cap, "%s: config: %s: expected an integer", origin, k->name);
            else ok = set_int(c, k, (int64_t)item->valuedouble, origin, err, cap);
            break;
        case CONFIG_FLOAT:
            if (!cJSON_IsNumber(item)) ok = errbuf_fail(err, cap, "%s: config: %s: expected a number", origin, k->name);
            else ok = set_float(c, k, item->valuedouble, origin, err, cap);
            break;
        case CONFIG_BOOL:
            if (!cJSON_IsBool(item)) ok = errbuf_fail(err, cap, "%s: config: %s: expected true or false", origin, k->name);
            else *(bool *)field(c, k) = cJSON_IsTrue(item);
            break;
        case CONFIG_STRING:
            if (!cJSON_IsString(item)) ok = errbuf_fail(err, cap, "%s: config: %s: expected a string", origin, k->name);
            else ok = set_string(c, k, item->valuestring, origin, err, cap);
            break;
        }
        if (!ok) break;
    }
    cJSON_Delete(obj);
    return ok;
}
