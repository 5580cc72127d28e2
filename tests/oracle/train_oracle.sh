#!/usr/bin/env bash
# train_oracle.sh: the CPU trainer against an independent PyTorch model (Debian's
# python3-torch): same initial weights (exported in the nmoe tensor format), same
# batches; logits, loss, every parameter gradient, and the weights after several AdamW
# steps with clipping, micro-batches and the warmup-hold-decay schedule must agree to
# fp32 precision (tolerances in torch_reference.py: fixed normwise ones for the logits,
# loss and step-0 gradients; for the weights after several AdamW steps a bound derived
# from AdamW's sensitivity to the measured gradient differences). Two configs: grouped-query attention
# with EOS masking, clipping and gradient accumulation; and multi-head attention with a
# sliding window, sequences longer than one attention block, a vocabulary wider than one
# matrix tile, no clipping, no accumulation. And two MoE configs (tests/oracle/
# moe_reference.py's routed layer inside the PyTorch model): the same logits, loss and
# gradients (router and experts included), the same expert choice for every token of
# every micro-batch, the same routing biases after every step (bit for bit) and the same
# weights after the steps: "moe" has sigmoid routing, a shared expert, separate expert
# and router learning rates, the sequence-wise aux loss, a centred and scheduled bias
# update, micro-batches and clipping; "moe_softmax" has softmax routing, top-3 of 6, no
# shared expert, a capacity factor that drops tokens, route_scale and an expert output
# gain, a clamped bias update. Then the ffn_activation dial: "moe_relu2" and
# "moe_sqreglu" are "moe" with relu2 (no w3 tensors) and squared_reglu in its dense
# block, its shared expert and its routed experts alike. "gqa_z" is "gqa" with the
# z-loss on the logits (z_loss = 0.05: it scales the softmax gradient by about 1.2);
# "moe_rz" and "moe_softmax_rz" add the router z-loss to "moe" (sigmoid) and
# "moe_softmax" (router_z_loss = 0.05; 0.5 on the small softmax logits). The attention
# dials: "gqa_qk" is "gqa" with qk_norm, "gqa_sinks" with attn_sinks (at lr_dense 3e-3:
# a sink's gradient is a small sum over every row of its head, so AdamW's normalized
# steps amplify its last bits into the trajectory; at 1e-2 that drift alone reaches the
# fixed 1e-5 of the later steps' grad_norm check, while step 0 agrees to 3e-7), "gqa_all" with
# both under the local/global pattern (block 0 local over 7 tokens, block 1 global);
# "window_lg" is "window" (MHA, sequences longer than one attention block) with the
# pattern instead of its window (blocks 0 and 2 local over 9 tokens, block 1 global)
# and sinks. "moe_group" is "moe" with DeepSeek-V3's group-limited routing: its 8 experts in 2 groups of 4, 1 kept.
# "gqa_yarn" is "gqa" with YaRN RoPE scaling (factor 4, original length 40, betas 8 and
# 0.5: head_dim 16 puts the ramp over pairs 0..3, so pairs 1 and 2 are partly scaled),
# the temperature in nmoe's tables against model.py's softmax scale.
# "gqa_bf16" and "moe_bf16" are "gqa" and "moe" with precision = "bf16", one step: the
# reference rounds the values nmoe-train(1) lists to torch.bfloat16 and back (straight-
# through), and the tolerances are a share of bf16's own effect, measured in the same
# run, plus a share of bit-identical logits (torch_reference.py, BF16_SHARE): a C that
# skips the rounding, or one rounding of it (v, say), fails both.
set -eu
top=${NMOE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || { echo "skip: /usr/bin/python3 has no torch (apt-get install python3-torch)"; exit 77; }
dump=$top/build/testtools/train_oracle_dump
[ -x "$dump" ] || { echo "missing $dump: run make unit"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/gqa.toml" <<'TOML'
[model]
vocab_size = 97
dim = 64
n_layers = 2
n_heads = 4
n_kv_heads = 2
inter_dim = 96
seq_len = 40
init_std = 0.05
[train]
batch_size = 4
micro_batch_size = 2
steps = 6
seed = 5
lr_dense = 1e-2
weight_decay = 0.1
warmup_steps = 2
hold_tokens = 320
decay_tokens = 400
decay_floor = 1e-3
grad_clip = 0.5
loss_mask_eos = true
[data]
eos_token_id = 0
TOML

cat >"$tmp/window.toml" <<'TOML'
vocab_size = 600
dim = 48
n_layers = 3
n_heads = 3
n_kv_heads = 0
inter_dim = 80
seq_len = 70
attn_window = 9
init_std = 0.08
rope_theta = 500.0
batch_size = 3
steps = 4
seed = 11
lr_dense = 3e-3
weight_decay = 0.0
warmup_steps = 0
hold_tokens = 0
decay_tokens = 1000
decay_floor = 0.0
grad_clip = 0.0
loss_mask_eos = false
eos_token_id = 599
TOML

cat >"$tmp/moe.toml" <<'TOML'
[model]
vocab_size = 97
dim = 32
n_layers = 3
n_heads = 4
n_kv_heads = 2
inter_dim = 48
seq_len = 24
init_std = 0.1
n_dense_layers = 1
n_routed_experts = 8
n_shared_experts = 1
n_activated_experts = 2
moe_inter_dim = 16
route_scale = 1.5
[train]
batch_size = 4
micro_batch_size = 2
steps = 6
seed = 6
lr_dense = 5e-3
lr_expert = 5e-3
lr_router = 2e-2
weight_decay = 0.1
warmup_steps = 2
hold_tokens = 192
decay_tokens = 300
decay_floor = 1e-3
grad_clip = 0.5
loss_mask_eos = true
router_bias_update_rate = 1e-2
router_bias_center = true
router_bias_schedule = true
aux_loss_alpha = 0.01
[data]
eos_token_id = 0
TOML

cat >"$tmp/moe_softmax.toml" <<'TOML'
vocab_size = 120
dim = 24
n_layers = 2
n_heads = 2
inter_dim = 40
seq_len = 30
init_std = 0.2
n_dense_layers = 0
n_routed_experts = 6
n_shared_experts = 0
n_activated_experts = 3
moe_inter_dim = 20
router_score = "softmax"
route_scale = 2.0
expert_output_gain = 0.5
capacity_factor = 1.0
batch_size = 3
steps = 5
seed = 8
lr_dense = 3e-3
lr_router = 1e-3
weight_decay = 0.0
warmup_steps = 0
hold_tokens = 0
decay_tokens = 1000
decay_floor = 0.0
grad_clip = 0.0
loss_mask_eos = false
eos_token_id = -1
router_bias_update_rate = 2e-2
router_bias_clamp = 0.03
TOML

# The ffn_activation dial on the "moe" config (the key goes in its [model] table).
sed 's/^\[model\]$/[model]\nffn_activation = "relu2"/' "$tmp/moe.toml" >"$tmp/moe_relu2.toml"
sed 's/^\[model\]$/[model]\nffn_activation = "squared_reglu"/' "$tmp/moe.toml" >"$tmp/moe_sqreglu.toml"
sed 's/^\[train\]$/[train]\nz_loss = 0.05/' "$tmp/gqa.toml" >"$tmp/gqa_z.toml"
sed 's/^\[train\]$/[train]\nrouter_z_loss = 0.05/' "$tmp/moe.toml" >"$tmp/moe_rz.toml"
{ cat "$tmp/moe_softmax.toml"; echo "router_z_loss = 0.5"; } >"$tmp/moe_softmax_rz.toml"
sed 's/^\[model\]$/[model]\nqk_norm = true/' "$tmp/gqa.toml" >"$tmp/gqa_qk.toml"
sed -e "s/^\\[model\\]$/[model]\\nattn_sinks = true/" -e "s/^lr_dense = 1e-2$/lr_dense = 3e-3/" "$tmp/gqa.toml" >"$tmp/gqa_sinks.toml"
sed 's/^\[model\]$/[model]\nqk_norm = true\nattn_sinks = true\nattn_global_every = 2\nattn_local_window = 7/' \
    "$tmp/gqa.toml" >"$tmp/gqa_all.toml"
sed 's/^attn_window = 9$/attn_global_every = 2\nattn_local_window = 9\nattn_sinks = true/' "$tmp/window.toml" \
    >"$tmp/window_lg.toml"
# attention = mla (DeepSeek-V2's latent attention, the MLA module of torch_reference.py):
# "mla" is "gqa" (no grouped heads) with MLA dims and no query compression; "mla_q" has
# query compression, unequal nope/rope/v dims and a sliding window; "moe_mla" is "moe"
# with MLA and the default dims (4 head_dim latent, head_dim / 2 rope).
sed -e 's/^n_kv_heads = 2$/n_kv_heads = 0\nattention = "mla"\nkv_lora_rank = 32\nqk_nope_head_dim = 16\nqk_rope_head_dim = 8\nv_head_dim = 16/' \
    "$tmp/gqa.toml" >"$tmp/mla.toml"
sed -e 's/^n_kv_heads = 2$/n_kv_heads = 0\nattention = "mla"\nq_lora_rank = 24\nkv_lora_rank = 20\nqk_nope_head_dim = 12\nqk_rope_head_dim = 6\nv_head_dim = 10\nattn_window = 7/' \
    "$tmp/gqa.toml" >"$tmp/mla_q.toml"
sed -e 's/^n_kv_heads = 2$/n_kv_heads = 0\nattention = "mla"/' "$tmp/moe.toml" >"$tmp/moe_mla.toml"
grep -q 'attention = "mla"' "$tmp/mla.toml" && grep -q q_lora_rank "$tmp/mla_q.toml" && grep -q mla "$tmp/moe_mla.toml"
grep -q router_z_loss "$tmp/moe_rz.toml"
grep -q qk_norm "$tmp/gqa_qk.toml" && grep -q attn_sinks "$tmp/gqa_sinks.toml" && grep -q attn_local_window "$tmp/gqa_all.toml"
grep -q attn_global_every "$tmp/window_lg.toml" && ! grep -q attn_window "$tmp/window_lg.toml"
grep -q relu2 "$tmp/moe_relu2.toml" && grep -q squared_reglu "$tmp/moe_sqreglu.toml" && grep -q z_loss "$tmp/gqa_z.toml"

sed 's/^\[model\]$/[model]\nn_expert_groups = 2\nn_limited_groups = 1/' "$tmp/moe.toml" >"$tmp/moe_group.toml"
sed 's/^\[model\]$/[model]\nrope_scaling = "yarn"\nrope_factor = 4.0\nrope_original_seq_len = 40\nyarn_beta_fast = 8.0\nyarn_beta_slow = 0.5/' \
    "$tmp/gqa.toml" >"$tmp/gqa_yarn.toml"
grep -q n_limited_groups "$tmp/moe_group.toml" && grep -q yarn "$tmp/gqa_yarn.toml"
# precision = bf16 (the rest of the model; the routed experts and router stay fp32):
# "gqa_bf16" and "moe_bf16" are "gqa" and "moe" with it, one step (torch_reference.py
# rounds the same values to torch.bfloat16 and back; its bf16 tolerances say why).
sed -e 's/^\[model\]$/[model]\nprecision = "bf16"/' -e 's/^steps = 6$/steps = 1/' "$tmp/gqa.toml" >"$tmp/gqa_bf16.toml"
sed -e 's/^\[model\]$/[model]\nprecision = "bf16"/' -e 's/^steps = 6$/steps = 1/' "$tmp/moe.toml" >"$tmp/moe_bf16.toml"
grep -q bf16 "$tmp/gqa_bf16.toml" && grep -q '^steps = 1$' "$tmp/gqa_bf16.toml" && grep -q bf16 "$tmp/moe_bf16.toml"

for c in ${ORACLE_CONFIGS:-gqa window moe moe_softmax moe_relu2 moe_sqreglu gqa_z moe_rz moe_softmax_rz gqa_qk gqa_sinks gqa_all window_lg moe_group gqa_yarn mla mla_q moe_mla gqa_bf16 moe_bf16}; do
    mkdir "$tmp/$c"
    echo "== $c"
    OMP_NUM_THREADS=2 "$dump" "$tmp/$c.toml" "$tmp/$c"
    "$py" "$top/tests/oracle/torch_reference.py" "$tmp/$c"
done
