#!/usr/bin/env bash
# train_oracle.sh: the CPU trainer against an independent PyTorch model (Debian's
# python3-torch): same initial weights (exported in the nmoe tensor format), same
# batches; logits, loss, every parameter gradient, and the weights after several AdamW
# steps with clipping, micro-batches and the warmup-hold-decay schedule must agree to
# fp32 precision (tolerances in torch_reference.py). Two configs: grouped-query attention
# with EOS masking, clipping and gradient accumulation; and multi-head attention with a
# sliding window, sequences longer than one attention block, a vocabulary wider than one
# matrix tile, no clipping, no accumulation.
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

for c in gqa window; do
    mkdir "$tmp/$c"
    echo "== $c"
    OMP_NUM_THREADS=2 "$dump" "$tmp/$c.toml" "$tmp/$c"
    "$py" "$top/tests/oracle/torch_reference.py" "$tmp/$c"
done
