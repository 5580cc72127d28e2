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
    # The story over time, not only the healthy last step (pipelines/lib/router_story.awk).
    read -r low low_step low_layer all_from < <(bin/nmoe-routerstat -q --over-time "$out/metrics.ndjson" |
        awk -f pipelines/lib/router_story.awk)
    if [ "$all_from" = never ]; then all_text="some expert of some layer was still idle at the last step"
    else all_text="every expert of every layer active from step $all_from on"; fi
    echo "router over time: lowest normalized entropy $low (layer $low_layer, step $low_step); $all_text"
    echo "router health at the last step:"
    bin/nmoe-routerstat "$out/metrics.ndjson"
    bin/nmoe-routerstat -q --plot "$out/router.png" "$out/metrics.ndjson" >/dev/null
    echo "router plot: $out/router.png"
fi
if command -v gnuplot >/dev/null && command -v jq >/dev/null; then
    echo "run report: $(bash pipelines/report.sh -o "$out/report" "$out/metrics.ndjson")"
fi
