#!/usr/bin/env bash
# compare_report.sh: the table and the plot of pipelines/dense_vs_moe.mk, for any number
# of metric streams (nmoe-metrics(5)); each is labelled by its directory's name.
#
#   compare_report.sh table METRICS...   markdown on stdout
#   compare_report.sh plot METRICS...    PNG on stdout (gnuplot): loss against tokens,
#                                        training FLOPs and training time
#   compare_report.sh check METRICS...   only the fairness check
#
# The fairness check (every command runs it first; ALLOW_MISMATCH=1 turns a refusal
# into a warning): the resolved configs of the meta lines agree on the keys that decide
# which tokens are trained on and how (data_path, vocab_size, seq_len, batch_size, seed,
# steps, the learning-rate schedule, weight decay, clipping, holdout), and every block
# has the same active FFN width per token (inter_dim for a dense block, (shared +
# activated experts) x moe_inter_dim for an MoE block).
#
# Training FLOPs per token: 6 N_active + 6 L T d_attn (pipelines/lib/flops.jq).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/page.sh"
what=${1:?usage: compare_report.sh table|plot|check METRICS...}
shift
[ $# -ge 1 ] || { echo "compare_report.sh: no metric streams" >&2; exit 2; }
die() { echo "compare_report.sh: $*" >&2; exit 1; }
for f in "$@"; do [ -s "$f" ] || die "$f: missing or empty"; done
label() { basename "$(dirname "$1")"; }

# Parameter and FLOP counts: pipelines/lib/flops.jq.
JQ_MODEL='include "flops"; '
lib=$(cd "$(dirname "$0")" && pwd)/lib
jq() { command jq -L "$lib" "$@"; }
FAIR_KEYS='["data_path","validation_data_path","holdout_fraction","vocab_size","seq_len","batch_size","seed","steps",
  "lr_dense","warmup_steps","hold_tokens","decay_tokens","decay_floor","weight_decay","grad_clip","eos_token_id",
  "loss_mask_eos"]'

check() {
    local first=$1 f msg=""
    for f in "$@"; do
        msg+=$(jq -rs --slurpfile a "$first" --arg fa "$first" --arg fb "$f" --argjson keys "$FAIR_KEYS" "$JQ_MODEL"'
            ($a | map(select(.kind == "meta")) | first | .config) as $x
            | (map(select(.kind == "meta")) | first | .config) as $y
            | ([$keys[] | select($x[.] != $y[.]) | "\(.) is \($x[.] | tojson) in \($fa) but \($y[.] | tojson) in \($fb)"]
               + (if widths($x) != widths($y) then
                    ["active FFN width per block is \(widths($x)) in \($fa) but \(widths($y)) in \($fb)"] else [] end))
            | .[]' "$f")${msg:+$'\n'}
    done
    msg=$(sed '/^$/d' <<<"$msg")
    [ -z "$msg" ] && return 0
    if [ "${ALLOW_MISMATCH:-0}" = 1 ]; then
        echo "compare_report.sh: warning: not a matched comparison:" >&2
        sed 's/^/  /' <<<"$msg" >&2
    else
        echo "compare_report.sh: not a matched comparison (ALLOW_MISMATCH=1 to report anyway):" >&2
        sed 's/^/  /' <<<"$msg" >&2
        exit 1
    fi
}

table() {
    printf '| model | params | active/token | FLOPs/token | tokens | train FLOPs | train loss | val loss | train s | tok/s |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    local f
    for f in "$@"; do
        jq -rs --arg name "$(label "$f")" "$JQ_MODEL"'
            (map(select(.kind == "meta")) | first) as $m
            | (map(select(.kind == "stop")) | last) as $stop
            | (map(select(.kind == "val")) | last) as $val
            | ($stop.step * $m.tokens_per_step) as $tok
            | flops_per_token($m.config) as $fpt
            | def r4: . * 10000 | round / 10000;
            "| \($name) | \($m.n_params) | \(active($m.config)) | \($fpt) | \($tok) | \($fpt * $tok) | "
            + "\($stop.loss | r4) | \(if $val then ($val.loss | r4) else "-" end) | "
            + "\($stop.time.train_s * 10 | round / 10) | \(if $stop.time.train_s > 0 then ($tok / $stop.time.train_s | round) else "-" end) |"' "$f"
    done
    echo
    echo "Matched: the same data, seed, steps and schedule, and the same active FFN width per block;"
    echo "training FLOPs per token = 6 N_active + 6 n_layers seq_len d_attn (pipelines/dense_vs_moe.mk)."
}

plot() {
    local tmp f i=0 tok="" flops="" wall=""
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/compare-plot.XXXXXX")
    trap 'rm -rf "$tmp"' RETURN
    for f in "$@"; do
        i=$((i + 1))
        jq -rs "$JQ_MODEL"'
            (map(select(.kind == "meta")) | first) as $m | flops_per_token($m.config) as $fpt
            | .[] | select(.kind == "train") | "\(.tokens) \(.tokens * $fpt) \(.time.train_s // 0) \(.loss)"' "$f" >"$tmp/$i.dat"
        local t="title '$(label "$f")'"
        tok+="${tok:+, }'$tmp/$i.dat' using 1:4 with lines lw 2 lc $i $t"
        flops+="${flops:+, }'$tmp/$i.dat' using 2:4 with lines lw 2 lc $i $t"
        wall+="${wall:+, }'$tmp/$i.dat' using 3:4 with lines lw 2 lc $i $t"
    done
    gnuplot <<GP
$(png_terminal 1400 460)
set output '$tmp/compare.png'
set multiplot layout 1,3 title 'training loss, matched models'
set grid
set ylabel 'training loss'
set key top right
set xlabel 'training tokens'
plot $tok
set xlabel 'training FLOPs (6 N_active + 6 L T d_attn per token)'
set format x '%.0s%c'
plot $flops
set format x '%g'
set xlabel 'training time, s (validation excluded)'
plot $wall
unset multiplot
GP
    cat "$tmp/compare.png"
}

case $what in
    check) check "$@" ;;
    table) check "$@"; table "$@" ;;
    plot) check "$@"; plot "$@" ;;
    *) die "'$what' is not table, plot or check" ;;
esac
