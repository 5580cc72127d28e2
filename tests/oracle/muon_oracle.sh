#!/usr/bin/env bash
# muon_oracle.sh: optimizer = "muon" against tests/oracle/torch_reference.py's own Muon
# (written from nmoe-train(1)'s formulas: momentum, Nesterov, Frobenius normalisation,
# 5 quintic Newton-Schulz steps, the update-RMS scale, decoupled decay), the rest on
# torch.optim.AdamW: the loss, gradient norm and every group's rate of every step and
# the weights after the steps agree within fp32 bounds (torch_reference.py: the Muon
# bound is the Newton-Schulz amplification of the measured step-0 gradient
# disagreement plus its own rounding). "dense": a dense model with grouped-query
# attention, clipping and micro-batches; "moe": shared and routed experts on Muon (each
# expert its own matrix), routers on AdamW with their own warmup; "moe_adamexp": the
# experts on AdamW with their own beta2, plain momentum.
set -eu
top=${NMOE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || { echo "skip: /usr/bin/python3 has no torch (apt-get install python3-torch)"; exit 77; }
dump=$top/build/testtools/train_oracle_dump
[ -x "$dump" ] || { echo "missing $dump: run make unit"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/dense.toml" <<'TOML'
vocab_size = 97
dim = 64
n_layers = 2
n_heads = 4
n_kv_heads = 2
inter_dim = 96
seq_len = 40
init_std = 0.05
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
eos_token_id = 0
optimizer = "muon"
lr_muon = 0.02
TOML

cat >"$tmp/moe.toml" <<'TOML'
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
batch_size = 4
micro_batch_size = 2
steps = 6
seed = 6
lr_dense = 5e-3
lr_router = 2e-2
weight_decay = 0.1
warmup_steps = 2
warmup_steps_router = 4
decay_tokens_router = 120
decay_tokens_muon = 200
hold_tokens = 192
decay_tokens = 300
decay_floor = 1e-3
grad_clip = 0.5
loss_mask_eos = true
eos_token_id = 0
router_bias_update_rate = 1e-2
optimizer = "muon"
lr_muon = 0.02
TOML
{ cat "$tmp/moe.toml"; printf 'muon_experts = false\nadam_beta2_expert = 0.99\nmuon_nesterov = false\nlr_expert = 8e-3\n'; } >"$tmp/moe_adamexp.toml"

# "mla": "dense" with attention = "mla" and query compression, so Muon also takes
# MLA's wq_a, wq_b, wkv_a and wkv_b (its q_norm and kv_norm stay on AdamW).
sed -e 's/^n_kv_heads = 2$/n_kv_heads = 0\nattention = "mla"\nq_lora_rank = 24\nkv_lora_rank = 32\nqk_nope_head_dim = 16\nqk_rope_head_dim = 8\nv_head_dim = 16/' \
    "$tmp/dense.toml" >"$tmp/mla.toml"
grep -q q_lora_rank "$tmp/mla.toml"

for c in ${MUON_ORACLE_CONFIGS:-dense moe moe_adamexp mla}; do
    mkdir "$tmp/$c"
    echo "== $c"
    OMP_NUM_THREADS=2 "$dump" "$tmp/$c.toml" "$tmp/$c"
    "$py" "$top/tests/oracle/torch_reference.py" "$tmp/$c"
done
