#!/usr/bin/env bash
# MoE layer benchmark: forward + backward of nmoe's grouped CPU MoE layer
# (kernels/cpu/moe.c, via build/testtools/moe_layer_bench) next to the PyTorch
# loop-over-experts layer (bench/moe_layer.py, the oracle's reference layer), same shapes,
# same thread count (THREADS, default 2), measured in the same run.
#
# Each side runs ROUNDS times (default 3), alternating, and keeps its best median: on a
# shared machine the best round is the one least disturbed by other work, for both.
# Needs `make unit` (for the bench program) and python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/testtools/moe_layer_bench
[ -x "$bin" ] || { echo "moe_layer: $bin missing: run make unit first" >&2; exit 1; }
py=/usr/bin/python3
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
# glibc hands large freed blocks back to the OS, so PyTorch's per-expert [T, D] gradient
# buffers (the backward of x[tok]) page-fault afresh on every call: measured up to 5x
# slower backward, depending on the allocator's history. Keep freed memory for both
# sides, so the peer is timed at its best.
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "bench moe_layer: no python3-torch here to compare with" >&2
    exit 1
fi

# name and shape: tokens (batch*seq) dim experts topk inter
shapes=(
    "coarse   tokens=2048 dim=256 experts=8 topk=2 inter=256"
    "fine     tokens=2048 dim=256 experts=64 topk=6 inter=64"
    "fine+aux tokens=2048 dim=256 experts=64 topk=6 inter=64 alpha=0.001 seq_len=256 capacity=1.25"
)
best() { sort -g | head -n 1; }
for s in "${shapes[@]}"; do
    name=${s%% *}
    args=${s#* }
    args=$(echo $args)
    ours=() peer=()
    for r in $(seq "$rounds"); do
        # shellcheck disable=SC2086
        ours+=("$("$bin" $args repeat=5 | sed -n 's/^moe_layer_bench: fwd+bwd median \([0-9.]*\) ms.*/\1/p')")
        # shellcheck disable=SC2086
        peer+=("$("$py" bench/moe_layer.py $args repeat=5 | sed -n 's/^torch_moe_layer: fwd+bwd median \([0-9.]*\) ms.*/\1/p')")
    done
    o=$(printf '%s\n' "${ours[@]}" | best)
    p=$(printf '%s\n' "${peer[@]}" | best)
    [ -n "$o" ] && [ -n "$p" ] || { echo "moe_layer: a run printed no timing" >&2; exit 1; }
    echo "bench moe_layer $name ($args, $threads threads): nmoe ${o} ms, torch $("$py" -c 'import torch; print(torch.__version__)') ${p} ms fwd+bwd, ratio $(awk -v a="$o" -v b="$p" 'BEGIN{printf "%.2f", b/a}')x"
done
