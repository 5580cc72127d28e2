/* config.h: the training configuration (nmoe-train(1), "CONFIGURATION").
 *
 * One flat set of keys with nmoe's names. A TOML file may give them at top level or
 * inside [model], [train] and [data] tables; the table only groups, "model.dim" and
 * "dim" are the same key. Unknown keys, wrong types, out-of-range values and a key given
 * twice are errors naming the key and file:line:col; `--set key=value` overrides after
 * the file. config_check() then checks the relations between keys.
 *
 * The canonical form is a JSON object of every key in table order (shortest decimal
 * that reads back to the same double), written into the metric stream's meta line. The
 * fingerprint is XXH3-64 (seed 0) of the canonical form restricted to the keys that
 * decide the training trajectory (model, optimizer, schedule, batch, seed, data); the
 * keys that only say how long to run, how often to log, validate or checkpoint and where
 * to write (steps, log_every, checkpoint_every, validation_*, target_loss, out_dir,
 * resume) are left out, so a run can be resumed with more steps or another out_dir.
 * Keys added after checkpoints existed (the architecture and loss dials: ffn_activation
 * and the like) enter it only when set to something other than their default, so the
 * fingerprint of every older config, and of the checkpoints it wrote, is unchanged. */
#ifndef NMOE_CONFIG_H
#define NMOE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CONFIG_STRING_MAX = 1024 };

typedef struct {
    /* model */
    int64_t vocab_size, dim, n_layers, n_heads, n_kv_heads, inter_dim, seq_len, attn_window;
    double rope_theta, norm_eps, init_std;
    char rope_scaling[16];         /* none or yarn (kernels/cpu/rope.h) */
    double rope_factor;            /* yarn: s > 1 */
    int64_t rope_original_seq_len; /* yarn: the context the frequencies were trained for */
    double yarn_beta_fast, yarn_beta_slow;
    char ffn_activation[16];   /* swiglu, relu2 or squared_reglu (model/ffn_activation.h) */
    /* attention = "mla": DeepSeek's multi-head latent attention (kernels/cpu/mla.h); the
     * dims at 0 take the defaults of config_mla_dims */
    char attention[8];         /* mha or mla */
    int64_t q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    double z_loss;             /* coefficient of mean logsumexp(logits)^2 in the objective */
    double router_z_loss;      /* MoE: coefficient of mean logsumexp(router logits)^2, per block */
    /* attention dials (model/model.h ModelShape) */
    bool qk_norm, attn_sinks;
    int64_t attn_global_every, attn_local_window;
    /* MoE (n_routed_experts > 0): blocks l >= n_dense_layers have an MoE FFN */
    int64_t n_dense_layers, n_routed_experts, n_shared_experts, n_activated_experts, moe_inter_dim;
    int64_t n_expert_groups;   /* MoE: group-limited routing's G (1 = off; divides n_routed_experts) */
    int64_t n_limited_groups;  /* MoE: the M groups a token may route to, 1 <= M <= G */
    double route_scale;
    char router_score[16];
    double router_bias_update_rate, aux_loss_alpha, expert_output_gain, capacity_factor;
    bool router_bias_center, router_bias_schedule;
    double router_bias_clamp;
    bool router_telemetry, log_router_grad_norm, stop_on_collapse;
    /* precision dials (emulated on the CPU) and muP-ish gains */
    char expert_precision[16], router_precision[16]; /* quant/quant.h names */
    char precision[16];   /* the rest of the model: "fp32" or "bf16" (kernels/cpu/model_cpu.c) */
    double embed_gain, logit_gain;
    /* optimizer and schedule */
    double lr_dense, lr_expert, lr_router, weight_decay, adam_beta1, adam_beta2, adam_eps;
    int64_t warmup_steps, hold_tokens, decay_tokens;
    double decay_floor, grad_clip;
    /* per-group warmup (-1: warmup_steps) of the dense, expert, router and Muon groups */
    int64_t warmup_steps_dense, warmup_steps_expert, warmup_steps_router, warmup_steps_muon;
    int64_t decay_tokens_dense, decay_tokens_expert, decay_tokens_router, decay_tokens_muon; /* -1: decay_tokens */
    double adam_beta2_expert;  /* AdamW beta2 of the routed experts; 0 = adam_beta2 */
    /* Muon (optimizer = "muon"): the hidden matrices; AdamW keeps the rest */
    char optimizer[8];         /* "adamw" or "muon" */
    double lr_muon, muon_momentum, muon_update_rms;
    bool muon_nesterov, muon_experts;
    /* training run */
    int64_t batch_size, micro_batch_size, steps, seed, eos_token_id;
    int64_t expert_parallel;   /* ranks per expert-parallel group (train/dist.h); 1 = off */
    int64_t zero_stage;        /* 1: ZeRO-1, the optimizer sharded over the ranks (train/zero.h); 0 = off */
    bool loss_mask_eos;
    int64_t log_every, checkpoint_every, validation_every, validation_steps;
    int64_t keep_checkpoints;  /* 0 = all; N = the newest N in out_dir (out_dir.h) */
    bool validation_log_bpb;   /* val lines carry bits per byte (needs tokenizer) */
    double target_loss;
    /* data and output */
    char data_path[CONFIG_STRING_MAX], validation_data_path[CONFIG_STRING_MAX], out_dir[CONFIG_STRING_MAX];
    char tokenizer[CONFIG_STRING_MAX]; /* the data's tokenizer, for its byte lengths */
    double holdout_fraction;
    bool resume;
    char backend[8];           /* "cpu" or "cuda" (model/backend.h) */
} Config;

typedef enum { CONFIG_INT, CONFIG_FLOAT, CONFIG_BOOL, CONFIG_STRING } ConfigType;

/* One key of the table (for --help, the man page test and tools that list keys). */
typedef struct {
    const char *name;
    const char *section;      /* "model", "train" or "data": documentation only */
    ConfigType type;
    size_t offset;            /* into Config */
    int64_t imin, imax;       /* CONFIG_INT range, inclusive */
    double fmin, fmax;        /* CONFIG_FLOAT range */
    bool fmin_open, fmax_open; /* bound excluded (a value that must be > fmin, < fmax) */
    bool fingerprinted;
    const char *const *choices; /* CONFIG_STRING: allowed values, NULL-terminated; NULL = any */
    const char *help;
    /* A fingerprinted key added after checkpoints with fingerprints existed: it enters
     * the fingerprint only when not at its default, so a config that does not use it
     * keeps the fingerprint it had before the key existed (and old checkpoints stay
     * readable and resumable). */
    bool fingerprint_if_set;
} ConfigKey;

size_t config_key_count(void);
const ConfigKey *config_key_at(size_t i);
const ConfigKey *config_key_find(const char *name);

void config_defaults(Config *c);
/* Apply a TOML file ("-" = stdin). false with `file:line:col: key: reason` in err. */
bool config_load_file(Config *c, const char *path, char *err, size_t cap);
/* The same from text in memory; `name` stands for the file in messages. */
bool config_load_text(Config *c, const char *text, size_t len, const char *name, char *err, size_t cap);
/* Apply one "key=value" override (value as on a command line: 12, 3e-4, true, text). */
bool config_set(Config *c, const char *assignment, char *err, size_t cap);
/* Relations between keys (e.g. n_activated_experts <= n_routed_experts). `origin` names
 * the config in messages. */
bool config_check(const Config *c, const char *origin, char *err, size_t cap);

/* Set every key from a canonical JSON object (a checkpoint's state.json). Keys absent
 * from the object keep their current value; an unknown key or a wrong type is an error
 * naming `origin`. */
bool config_from_json(Config *c, const char *json, const char *origin, char *err, size_t cap);

/* Canonical JSON object (malloc'ed, no newline); all keys or only the fingerprinted ones. */
char *config_to_json(const Config *c, bool fingerprinted_only);
uint64_t config_fingerprint(const Config *c);
void config_fingerprint_hex(const Config *c, char out[17]);
/* The value of key k in canonical form (JSON), into buf. */
void config_value_json(const Config *c, const ConfigKey *k, char *buf, size_t cap);

/* Derived sizes. */
int64_t config_head_dim(const Config *c);
/* MLA (attention = "mla"): the dims with the defaults for 0 filled in, from head_dim =
 * dim / n_heads (DeepSeek-V2-Lite's ratios: head_dim 128 gives kv 512, nope 128, rope 64,
 * v 128): kv_lora_rank 4 head_dim, qk_nope_head_dim head_dim, qk_rope_head_dim
 * head_dim / 2 (rounded up to even), v_head_dim head_dim; q_lora_rank stays (0: none). */
typedef struct { int64_t q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim; } MlaDims;
MlaDims config_mla_dims(const Config *c);
int64_t config_kv_heads(const Config *c);        /* n_kv_heads, or n_heads when 0 */
int64_t config_micro_batch(const Config *c);     /* micro_batch_size, or batch_size when 0 */
int64_t config_tokens_per_step(const Config *c); /* batch_size * seq_len */
int64_t config_moe_inter_dim(const Config *c);   /* moe_inter_dim, or inter_dim when 0 */
double config_lr_expert(const Config *c);        /* lr_expert, or lr_dense when 0 */
double config_lr_router(const Config *c);        /* lr_router, or lr_dense when 0 */
double config_adam_beta2_expert(const Config *c); /* adam_beta2_expert, or adam_beta2 when 0 */
bool config_muon(const Config *c);               /* optimizer = "muon" */
int64_t config_moe_layers(const Config *c);      /* MoE blocks: 0 for a dense model */

#endif
