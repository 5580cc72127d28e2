#!/usr/bin/env bash
# report.sh: a static HTML page for one run, from its metric stream (nmoe-metrics(5)),
# with PNG plots drawn by gnuplot; it works from file:// with no network.
#
#   pipelines/report.sh [-o DIR] [--core CORE.ndjson] [--peak-flops F] METRICS
#
# DIR (default: the metric stream's directory + /report) gets index.html and its plots:
# loss.png (training and validation loss against tokens), lr.png (each parameter
# group's learning rate), grad_norm.png, speed.png (tokens/s, and the model FLOP
# utilization when --peak-flops gives the hardware's peak FLOP/s; without it the
# achieved FLOP/s are drawn, since the peak of a CPU is not known here), router.png
# (MoE runs: nmoe-routerstat --plot, the load heatmaps and entropy curves per layer).
# The page gives the run id, fingerprint, program version and backend, the resolved
# config, how the run ended, the final metrics, the router table of the last step, and
# the eval results of CORE.ndjson (nmoe-eval core or summary output) when given.
# Training FLOPs per token: pipelines/lib/flops.jq. Everything is written to DIR.tmp
# first and renamed into place.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/page.sh"
here=$(cd "$(dirname "$0")" && pwd)
routerstat=${NMOE_ROUTERSTAT:-$here/../bin/nmoe-routerstat}
die() { echo "report.sh: $*" >&2; exit 1; }
usage() { echo "usage: report.sh [-o DIR] [--core CORE.ndjson] [--peak-flops F] METRICS" >&2; exit 2; }
jq() { command jq -L "$here/lib" "$@"; }

out="" core="" peak=""
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=${2:?-o needs a directory}; shift 2 ;;
        --core) core=${2:?--core needs a file}; shift 2 ;;
        --peak-flops) peak=${2:?--peak-flops needs a number}; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "report.sh: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage
metrics=$1
[ -s "$metrics" ] || die "$metrics: missing or empty"
[ -z "$core" ] || [ -s "$core" ] || die "$core: missing or empty"
if [ -n "$peak" ]; then
    command jq -en --arg p "$peak" '$p | tonumber > 0' >/dev/null 2>&1 || die "--peak-flops $peak: not a positive number"
fi
out=${out:-$(dirname "$metrics")/report}
meta=$(jq -c 'select(.kind == "meta")' "$metrics" 2>/dev/null | head -n 1) || true
[ -n "$meta" ] || die "$metrics: no meta line (not an nmoe-train metric stream)"

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Series as columns for gnuplot.
fpt=$(jq -r 'include "flops"; flops_per_token(.config)' <<<"$meta")
jq -r 'select(.kind == "train") | "\(.step) \(.tokens) \(.loss) \(.lr) \(.lr_expert // "NaN") \(.lr_router // "NaN") \(.grad_norm) \(.time.tok_per_s // "NaN")"' \
    "$metrics" >"$tmp/train.dat"
[ -s "$tmp/train.dat" ] || die "$metrics: no train lines"
{ echo "0 0"; awk '{ print $1, $2 }' "$tmp/train.dat"; } >"$tmp/tokens.map"
jq -r 'select(.kind == "val") | "\(.step) \(.loss)"' "$metrics" |
    awk 'NR == FNR { tok[$1] = $2; next } ($1 in tok) { print tok[$1], $2 }' "$tmp/tokens.map" - >"$tmp/val.dat"
moe=$(jq -r '.config.n_routed_experts > 0' <<<"$meta")

gp() { # FILE TITLE XLABEL YLABEL PLOT...
    local file=$1 title=$2 xl=$3 yl=$4
    shift 4
    gnuplot <<GP
$(png_terminal 860 380)
set output '$tmp/$file'
set title "$title"
set xlabel '$xl'
set ylabel '$yl'
set grid
set key top right
$*
GP
}
gp loss.png "loss" "training tokens" "loss (nats per token)" \
    "plot '$tmp/train.dat' using 2:3 with lines lw 2 title 'train'$( [ -s "$tmp/val.dat" ] && echo ", '$tmp/val.dat' using 1:2 with linespoints pt 7 lw 2 title 'validation'")"
if [ "$moe" = true ]; then
    gp lr.png "learning rate per parameter group" "step" "lr" \
        "plot '$tmp/train.dat' using 1:4 with lines lw 2 title 'dense', '' using 1:5 with lines lw 2 title 'experts', '' using 1:6 with lines lw 2 dt 2 title 'routers'"
else
    gp lr.png "learning rate" "step" "lr" "plot '$tmp/train.dat' using 1:4 with lines lw 2 title 'dense'"
fi
gp grad_norm.png "global gradient norm (before clipping)" "step" "grad norm" \
    "plot '$tmp/train.dat' using 1:7 with lines lw 2 title 'grad_norm'"
if [ -n "$peak" ]; then
    gp speed.png "speed and model FLOP utilization (peak $peak FLOP/s)" "step" "tokens/s" \
        "set y2label 'MFU'; set y2tics; set ytics nomirror; plot '$tmp/train.dat' using 1:8 with lines lw 2 title 'tokens/s', '' using 1:(\$8 * $fpt / $peak) axes x1y2 with lines lw 2 title 'MFU'"
else
    gp speed.png "speed (achieved FLOP/s at $fpt FLOPs per token)" "step" "tokens/s" \
        "set y2label 'GFLOP/s'; set y2tics; set ytics nomirror; plot '$tmp/train.dat' using 1:8 with lines lw 2 title 'tokens/s', '' using 1:(\$8 * $fpt / 1e9) axes x1y2 with lines lw 2 title 'GFLOP/s'"
fi
plots=(loss.png lr.png grad_norm.png speed.png)
router_table=""
if [ "$moe" = true ] && grep -q '"kind":"router"' "$metrics"; then
    "$routerstat" -q --plot "$tmp/router.png" "$metrics" >"$tmp/router.txt"
    router_table=$(cat "$tmp/router.txt")
    plots+=(router.png)
fi
for p in "${plots[@]}"; do [ -s "$tmp/$p" ] || die "gnuplot drew no $p"; done

esc() { html_escape; }
{
    run=$(jq -r .run <<<"$meta")
    html_begin "nmoe run $run" 960
    cat <<HTML
<h1>Run $(esc <<<"$run")</h1>
HTML
    jq -r '"<p>fingerprint <code>\(.fingerprint)</code>, \(.program) \(.version), backend \(.backend)"
           + " (\(.time.backend_describe // "" | gsub("<"; "&lt;"))), \(.n_params) parameters</p>"' <<<"$meta"
    echo "<h2>How it ended</h2><table><tr><th>reason</th><th>status</th><th>step</th><th>tokens</th><th>train loss</th><th>validation loss</th><th>train s</th><th>wall s</th></tr>"
    jq -rs 'def r4: if type == "number" then . * 10000 | round / 10000 else . end;
            def r1: if type == "number" then . * 10 | round / 10 else . end;
            (map(select(.kind == "stop")) | last) as $s | (map(select(.kind == "val")) | last) as $v
            | (map(select(.kind == "train")) | last) as $t
            | "<tr><td>\($s.reason // "no stop line: still running or killed" | gsub("<"; "&lt;"))</td><td>\($s.status // "-")</td>"
              + "<td>\($s.step // $t.step)</td><td>\($t.tokens)</td><td>\(($s.loss // $t.loss) | r4)</td><td>\($v.loss // "-" | r4)</td>"
              + "<td>\($s.time.train_s // "-" | r1)</td><td>\($s.time.elapsed_s // "-" | r1)</td></tr>"' "$metrics"
    echo "</table>"
    echo "<h2>Loss</h2><img src=\"loss.png\" alt=\"loss\">"
    echo "<h2>Learning rates</h2><img src=\"lr.png\" alt=\"learning rates\">"
    echo "<h2>Gradient norm</h2><img src=\"grad_norm.png\" alt=\"gradient norm\">"
    echo "<h2>Speed</h2><p>training FLOPs per token: $fpt (6 N_active + 6 L T d_attn, pipelines/lib/flops.jq)</p><img src=\"speed.png\" alt=\"speed\">"
    if [[ " ${plots[*]} " == *" router.png "* ]]; then
        echo "<h2>Router health</h2><p>the last step (nmoe-routerstat):</p><pre>$(esc <<<"$router_table")</pre>"
        echo "<img src=\"router.png\" alt=\"router health over time\">"
    fi
    if [ -n "$core" ]; then
        echo "<h2>Evaluation</h2><table><tr><th>task</th><th>type</th><th>shots</th><th>examples</th><th>accuracy</th><th>centered</th></tr>"
        jq -r 'select(.kind == "eval" and .type != null)
               | "<tr><td>\(.task)</td><td>\(.type)</td><td>\(.num_fewshot)</td><td>\(.examples)</td><td>\(.accuracy * 10000 | round / 10000)</td><td>\(.centered * 10000 | round / 10000)</td></tr>"' "$core"
        jq -r 'select(.kind == "core") | "<tr><th>CORE</th><th colspan=\"4\">\(.n_tasks) tasks</th><th>\(.core * 10000 | round / 10000)</th></tr>"' "$core"
        echo "</table>"
    fi
    echo "<h2>Config</h2><pre>$(jq .config <<<"$meta" | esc)</pre>"
    html_end
} >"$tmp/index.html"

rm -f "$tmp"/*.dat "$tmp"/*.map "$tmp/router.txt"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out/index.html"
