# train_common.bash: sourced by bench/train_vs_torch.sh and bench/moe_train_vs_torch.sh
# (not a benchmark itself). Needs $top, $config, $steps and $warmup. Checks for the
# programs and for torch, makes $tmp (removed on exit) with Tiny Shakespeare packed in
# GPT-2 tokens, the nmoe-train arguments in sets[], and the resolved config in
# $tmp/config.json for the torch side (bench/torch_train.py, run as "$py").
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || { echo "bench needs /usr/bin/python3 with torch (python3-torch)"; exit 1; }
for p in nmoe-train nmoe-tok nmoe-shard; do command -v $p >/dev/null || { echo "missing $p: run make"; exit 1; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nmoe-tok encode -t gpt2 --eot "$top/data/tinyshakespeare.txt" | nmoe-shard pack -q -o "$tmp/data"
sets=(--set data_path="$tmp/data" --set out_dir="$tmp/out" --set steps="$steps" --set log_every=1
      --set validation_every=0 --set checkpoint_every=1000000000)
nmoe-train "$config" "${sets[@]}" --print-config >"$tmp/config.json"

# train_rate NDJSON: tokens per second from the train lines' clocks, from step $warmup
# to the last.
train_rate() {
    awk -v w="$warmup" -F'"elapsed_s":' '/"kind":"train"/ {
            split($0, a, "\"step\":"); split(a[2], b, ","); s = b[1] + 0
            split($2, c, ","); t = c[1] + 0
            split($0, d, "\"tokens\":"); split(d[2], e, ","); k = e[1] + 0
            if (s == w) { t0 = t; k0 = k } last_t = t; last_k = k }
          END { printf "%.1f", (last_k - k0) / (last_t - t0) }' "$1"
}

# best A B: the larger.
best() { awk -v r="$1" -v b="$2" 'BEGIN { print (r > b ? r : b) }'; }
