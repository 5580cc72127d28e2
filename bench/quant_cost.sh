#!/usr/bin/env bash
# bench/quant_cost.sh: what the emulated precision dials (issue 14) cost on the CPU:
# configs/tiny_moe.toml on Tiny Shakespeare (GPT-2 tokens), BENCH_STEPS steps (default
# 6) at THREADS cores (default 2), per expert_precision, then precision = bf16 (the rest
# of the model: "model_bf16") and every dial at bf16 ("all_bf16": precision,
# expert_precision and router_precision), next to fp32 in the same run. The formats run in turn, BENCH_ROUNDS times (default 2); the figure is
# the fastest step (from the train lines' clocks, step 1 left out as warm-up) over all
# rounds, which a busy machine disturbs least, and the mean next to it. The emulation
# quantize-dequantizes in fp32 on top of the fp32 products, so it can only cost; the
# figure says how much. Also the last step's train loss, to show each format did
# something.
#
#   bash bench/quant_cost.sh [--set KEY=VALUE]...     extra overrides for nmoe-train
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/bin:$PATH"
threads=${THREADS:-2}
steps=${BENCH_STEPS:-6}
rounds=${BENCH_ROUNDS:-2}
for p in nmoe-train nmoe-tok nmoe-shard; do
    command -v $p >/dev/null || { echo "missing $p: run make"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nmoe-tok encode -t gpt2 --eot "$top/data/tinyshakespeare.txt" | nmoe-shard pack -q -o "$tmp/data"

# step_times NDJSON: seconds of each step after the first, one a line.
step_times() {
    awk -F'"elapsed_s":' '/"kind":"train"/ { split($2, c, /[,}]/); t = c[1] + 0
            if (n++ > 0) printf "%.6f\n", t - prev; prev = t }' "$1"
}
last_loss() { grep '"kind":"train"' "$1" | tail -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/'; }

formats="fp32 bf16 fp8_e4m3 mxfp8 mxfp4 nvfp4 model_bf16 all_bf16"
# dial_sets NAME: the nmoe-train settings of a row.
dial_sets() {
    case $1 in
        model_bf16) echo "--set precision=bf16" ;;
        all_bf16) echo "--set precision=bf16 --set expert_precision=bf16 --set router_precision=bf16" ;;
        *) echo "--set expert_precision=$1" ;;
    esac
}
for r in $(seq "$rounds"); do
    for f in $formats; do
        # shellcheck disable=SC2046 # the settings are words
        OMP_NUM_THREADS=$threads nmoe-train -q -T "$threads" "$top/configs/tiny_moe.toml" --set data_path="$tmp/data" \
            --set out_dir="$tmp/out_${f}_$r" --set steps="$steps" --set log_every=1 --set validation_every=0 \
            --set checkpoint_every=0 $(dial_sets "$f") "$@" >"$tmp/$f.$r.ndjson"
        step_times "$tmp/$f.$r.ndjson" >>"$tmp/$f.times"
    done
done

echo "configs/tiny_moe.toml, $steps steps x $rounds rounds, $threads threads: seconds per training step by precision dial"
echo "(rows fp32 ... nvfp4: expert_precision; model_bf16: precision = bf16; all_bf16: all three dials bf16)"
printf '%-10s %10s %8s %10s %12s\n' dial min_step_s vs_fp32 mean_s last_loss
base=
for f in $formats; do
    min=$(sort -g "$tmp/$f.times" | head -n 1)
    mean=$(awk '{ s += $1 } END { printf "%.4f", s / NR }' "$tmp/$f.times")
    [ -n "$base" ] || base=$min
    printf '%-10s %10.4f %7.2fx %10s %12s\n' "$f" "$min" "$(echo "$min / $base" | bc -l)" "$mean" \
        "$(last_loss "$tmp/$f.1.ndjson")"
done
