#!/usr/bin/env bash
# bench/train_tiny_shakespeare.sh: the README's main job, measured: configs/tiny.toml on
# Tiny Shakespeare in GPT-2 tokens on THREADS cores (default 2). Prints the throughput,
# wall time and peak memory of the run, and its final validation loss next to the
# unigram entropy of the training tokens (what a model that ignores context reaches).
#
#   bench/train_tiny_shakespeare.sh [--set KEY=VALUE]...     extra overrides for nmoe-train
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/bin:$top/build/testtools:$PATH"
threads=${THREADS:-2}
for p in nmoe-train nmoe-tok nmoe-shard unigram_entropy; do
    command -v $p >/dev/null || { echo "missing $p: run make and make unit"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nmoe-tok encode -t gpt2 --eot "$top/data/tinyshakespeare.txt" | nmoe-shard pack -q -o "$tmp/data"
sets=(--set data_path="$tmp/data" --set out_dir="$tmp/train" "$@")
h=$(unigram_entropy "$top/configs/tiny.toml" "${sets[@]}" | awk '{ print $2 }')
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$tmp/time.txt" nmoe-train -T "$threads" "$top/configs/tiny.toml" "${sets[@]}" \
    --metrics "$tmp/metrics.ndjson"
end=$(date +%s.%N)
val=$(grep '"kind":"val"' "$tmp/metrics.ndjson" | tail -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
first=$(grep '"kind":"val"' "$tmp/metrics.ndjson" | head -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
tokens=$(grep '"kind":"train"' "$tmp/metrics.ndjson" | tail -n 1 | sed -E 's/.*"tokens":([0-9]+).*/\1/')
echo "configs/tiny.toml on Tiny Shakespeare, $threads threads"
awk -v t="$tokens" -v a="$start" -v b="$end" 'BEGIN { printf "trained %d tokens in %.0f s: %.0f tok/s (wall, including validation)\n", t, b - a, t / (b - a) }'
awk '{ printf "peak RSS %.0f MB\n", $1 / 1024 }' "$tmp/time.txt"
echo "validation loss $first at step 0 -> $val at the end; unigram entropy of the training tokens $h nats"
awk -v v="$val" -v h="$h" 'BEGIN { printf "final val loss is %.2f nats below the unigram entropy\n", h - v }'
