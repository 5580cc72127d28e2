#!/usr/bin/env bash
# The README's main job, on the bundled data: tokenize Tiny Shakespeare with the GPT-2
# tokenizer, pack it into shards, train the small model of $DEMO_CONFIG on the CPU, and
# print its metrics summary and router health table. Everything lands under $DEMO_OUT.
#
#   make demo                         (builds first)
#   DEMO_CONFIG=configs/tiny.toml DEMO_OUT=run/dense bash pipelines/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
config=${DEMO_CONFIG:-configs/tiny_moe.toml}
[ -f "$config" ] || config=configs/tiny.toml
out=${DEMO_OUT:-run/demo}
mkdir -p "$out"

echo "== tokenize and shard data/tinyshakespeare.txt -> $out/data" >&2
bin/nmoe-tok encode -t gpt2 --eot data/tinyshakespeare.txt | bin/nmoe-shard pack -f -q -o "$out/data"
bin/nmoe-shard info "$out/data" >&2

echo "== train $config -> $out/train (metrics: $out/metrics.ndjson)" >&2
rm -rf "$out/train" "$out/metrics.ndjson"
bin/nmoe-train "$config" --set data_path="$out/data" --set out_dir="$out/train" --metrics "$out/metrics.ndjson"

echo "== summary" >&2
first=$(grep '"kind":"val"' "$out/metrics.ndjson" | head -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
last=$(grep '"kind":"val"' "$out/metrics.ndjson" | tail -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
echo "validation loss: $first at the start -> $last at the end (nats per token)"
if grep -q '"kind":"router"' "$out/metrics.ndjson"; then
    echo "router health at the last step:"
    bin/nmoe-routerstat "$out/metrics.ndjson"
fi
