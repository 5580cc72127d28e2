#!/usr/bin/env bash
# The CPU MoE layer (kernels/cpu/moe.c) against a PyTorch loop-over-experts reference
# (tests/oracle/moe_reference.py) on the same weights and inputs: outputs, expert
# choices, drops, loads, gradients (router included) to fp32 precision (relative 1e-5),
# and the biases after simulated steps of the aux-loss-free update, bit for bit. Also:
# the C side's files are bit-identical with 1 and 2 threads.
# Exchange: tests/tools/moe_dump writes .npy files (documented in moe_dump.c).
set -euo pipefail
cd "$NMOE_TOP"
py=/usr/bin/python3
"$py" -c 'import torch, numpy' 2>/dev/null || { echo "skip: python3-torch or python3-numpy is not importable by $py"; exit 77; }
dump=build/testtools/moe_dump
[ -x "$dump" ] || { echo "$dump missing: run make unit"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1: sigmoid, dropless, plain bias update
OMP_NUM_THREADS=2 "$dump" "$tmp/sigmoid" tokens=256 dim=64 experts=16 topk=4 inter=48 \
    steps=20 rate=0.01 seed=1
# 2: softmax, capacity drops, aux loss, route_scale and gain
OMP_NUM_THREADS=2 "$dump" "$tmp/softmax" tokens=256 dim=64 experts=16 topk=4 inter=48 score=softmax \
    capacity=0.8 alpha=0.01 seq_len=64 route_scale=2.5 gain=0.5 steps=20 rate=0.01 seed=2
# 3: sigmoid, drops, strong aux loss, centred and clamped bias update
OMP_NUM_THREADS=2 "$dump" "$tmp/centred" tokens=192 dim=32 experts=8 topk=2 inter=40 capacity=1.0 \
    alpha=0.1 seq_len=48 gain=1.5 steps=30 rate=0.005 centre=1 max_abs=0.03 seed=3
# 5, 6: group-limited routing (DeepSeek-V3): 4 groups of 4, 2 kept, sigmoid with the
# aux loss and drops; softmax with 4 groups of 2 and one kept (K = 2: all of it).
# (Groups of one expert change nothing, as M >= K keeps the top K: test_moe_routing.)
OMP_NUM_THREADS=2 "$dump" "$tmp/groups" tokens=256 dim=64 experts=16 topk=4 inter=48 groups=4 limited=2 \
    capacity=1.0 alpha=0.01 seq_len=64 steps=20 rate=0.01 seed=5
OMP_NUM_THREADS=2 "$dump" "$tmp/groups1" tokens=128 dim=32 experts=8 topk=2 inter=24 groups=4 limited=1 \
    score=softmax steps=10 rate=0.01 seed=6
# 4: bigger, products OpenBLAS would split over threads; run with 1 and 2 threads
big="tokens=2048 dim=128 experts=8 topk=2 inter=128 alpha=0.01 seq_len=256 capacity=1.1 steps=3 seed=4"
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$dump" "$tmp/big1" $big
# shellcheck disable=SC2086
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$dump" "$tmp/big2" $big
n=0
for f in "$tmp"/big1/*; do
    cmp -s "$f" "$tmp/big2/${f##*/}" || { echo "moe_dump: ${f##*/} differs between 1 and 2 threads"; exit 1; }
    n=$((n + 1))
done
[ "$n" -gt 20 ] || { echo "moe_dump wrote only $n files"; exit 1; }
echo "threads: all $n files bit-identical with 1 and 2 threads"

"$py" tests/oracle/moe_reference.py "$tmp/sigmoid" "$tmp/softmax" "$tmp/centred" "$tmp/groups" "$tmp/groups1" "$tmp/big2"
