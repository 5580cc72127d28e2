#!/usr/bin/env bash
# bench/train_vs_torch.sh: training throughput of nmoe-train against an equivalent
# PyTorch CPU loop (Debian's python3-torch: same model, same batch and micro-batch,
# AdamW with clipping, same number of threads), measured in the same run, as tokens per
# second over the steps after a warmup, with the peak resident memory of each.
#
#   bench/train_vs_torch.sh [CONFIG]      default configs/tiny.toml
#   THREADS=2 STEPS=25 WARMUP=5 ROUNDS=2 bench/train_vs_torch.sh
#
# Each side runs ROUNDS times, alternating, and the best round counts (the machine may
# be shared). The data is Tiny Shakespeare in GPT-2 tokens (nmoe-train) and random ids
# of the same vocabulary (torch); the speed of either does not depend on the ids.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/bin:$PATH"
config=${1:-$top/configs/tiny.toml}
threads=${THREADS:-2} steps=${STEPS:-25} warmup=${WARMUP:-5} rounds=${ROUNDS:-2}
source "$top/bench/train_common.bash"

best_nmoe=0 best_torch=0 rss_nmoe=0 rss_torch=0
for round in $(seq 1 "$rounds"); do
    rm -rf "$tmp/out"
    /usr/bin/time -f '%M' -o "$tmp/time.txt" nmoe-train -q -T "$threads" "$config" "${sets[@]}" >"$tmp/m.ndjson"
    rate=$(train_rate "$tmp/m.ndjson")
    rss=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp/time.txt")
    echo "round $round: nmoe-train $rate tok/s, max RSS $rss MB"
    best_nmoe=$(best "$rate" "$best_nmoe")
    rss_nmoe=$rss
    line=$("$py" "$top/bench/torch_train.py" "$tmp/config.json" "$threads" "$steps" "$warmup")
    trate=$(awk '{ print $3 }' <<<"$line")
    trss=$(awk '{ print $5 }' <<<"$line")
    echo "round $round: torch      $trate tok/s, max RSS $trss MB"
    best_torch=$(best "$trate" "$best_torch")
    rss_torch=$trss
done
ratio=$(awk -v a="$best_nmoe" -v b="$best_torch" 'BEGIN { printf "%.2f", a / b }')
echo "config $(basename "$config"), $threads threads, $steps steps ($warmup warmup), best of $rounds rounds"
echo "nmoe-train: $best_nmoe tok/s, peak RSS $rss_nmoe MB"
echo "torch $("$py" -c 'import torch; print(torch.__version__)'): $best_torch tok/s, peak RSS $rss_torch MB"
echo "ratio nmoe-train / torch: ${ratio}x (target >= 1.5x)"
