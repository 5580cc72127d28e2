#!/usr/bin/env bash
# bench/moe_train_vs_torch.sh: MoE training throughput of nmoe-train against the
# equivalent PyTorch CPU loop written the usual way (loop over experts; same model, same
# batch and micro-batch, AdamW groups, clipping, bias update, same threads), measured in
# the same run, as tokens per second over the steps after a warmup; and the cost of the
# router telemetry: nmoe-train with a router line per MoE block every step (the worst
# case; log_every = 1), with router_grad_norm too, and with router_telemetry = false.
#
#   bench/moe_train_vs_torch.sh [CONFIG]      default configs/tiny_moe.toml
#   THREADS=2 STEPS=20 WARMUP=4 ROUNDS=2 bench/moe_train_vs_torch.sh
#
# Each variant runs ROUNDS times, alternating, and the best round counts (the machine
# may be shared: the load average is printed). nmoe-train reads Tiny Shakespeare in
# GPT-2 tokens, torch random ids of the same vocabulary; neither's speed depends on the
# ids, but the routing does a little (how evenly the experts' groups fill).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/bin:$PATH"
config=${1:-$top/configs/tiny_moe.toml}
threads=${THREADS:-2} steps=${STEPS:-20} warmup=${WARMUP:-4} rounds=${ROUNDS:-2}
source "$top/bench/train_common.bash"
grep -q '"n_routed_experts":[1-9]' "$tmp/config.json" || { echo "$config: not an MoE config"; exit 1; }

# nmoe_rate VARIANT_SETS...: tokens per second from the train lines' clocks, step WARMUP
# to the last (router lines and their computation fall inside that interval).
nmoe_rate() {
    rm -rf "$tmp/out"
    nmoe-train -q -T "$threads" "$config" "${sets[@]}" "$@" >"$tmp/m.ndjson"
    train_rate "$tmp/m.ndjson"
}

b_on=0 b_off=0 b_grad=0 b_torch=0
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
    r=$(nmoe_rate --set router_telemetry=true); b_on=$(best "$r" "$b_on")
    n_router=$(grep -c '"kind":"router"' "$tmp/m.ndjson")
    echo "round $round: nmoe-train, router lines every step ($n_router lines): $r tok/s"
    r=$(nmoe_rate --set router_telemetry=false); b_off=$(best "$r" "$b_off")
    echo "round $round: nmoe-train, router lines off ($(grep -c '"kind":"router"' "$tmp/m.ndjson") lines): $r tok/s"
    r=$(nmoe_rate --set router_telemetry=true --set log_router_grad_norm=true); b_grad=$(best "$r" "$b_grad")
    echo "round $round: nmoe-train, router lines + router_grad_norm: $r tok/s"
    line=$("$py" "$top/bench/torch_train.py" "$tmp/config.json" "$threads" "$steps" "$warmup")
    r=$(awk '{ print $3 }' <<<"$line"); b_torch=$(best "$r" "$b_torch")
    echo "round $round: torch (loop over experts): $r tok/s, max RSS $(awk '{ print $5 }' <<<"$line") MB"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "config $(basename "$config"), $threads threads, $steps steps ($warmup warmup), best of $rounds rounds"
echo "nmoe-train (router lines every step): $b_on tok/s"
echo "torch $("$py" -c 'import torch; print(torch.__version__)') (loop over experts): $b_torch tok/s"
echo "ratio nmoe-train / torch: $(awk -v a="$b_on" -v b="$b_torch" 'BEGIN { printf "%.2f", a / b }')x (target >= 1.5x)"
echo "router telemetry overhead (lines every step vs off): $(awk -v a="$b_on" -v b="$b_off" 'BEGIN { printf "%+.1f%%", 100 * (b - a) / b }')" \
     "of $b_off tok/s; with router_grad_norm: $(awk -v a="$b_grad" -v b="$b_off" 'BEGIN { printf "%+.1f%%", 100 * (b - a) / b }')" \
     "(positive: slower with the lines; a few percent either way is run-to-run noise on a shared machine)"
