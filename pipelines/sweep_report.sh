#!/usr/bin/env bash
# sweep_report.sh: the table and the plot of a sweep (pipelines/sweep.mk), from the
# metric streams OUT/<value>/metrics.ndjson (nmoe-metrics(5)).
#
#   sweep_report.sh table DIAL OUT VALUE...   markdown on stdout
#   sweep_report.sh plot DIAL OUT VALUE...    PNG on stdout (gnuplot)
#
# Table columns, per value: how the run ended (the stop line's reason), steps, training
# tokens, the final train loss (the stop line's), the last validation loss, training
# tokens/s (tokens over the stop line's train_s: validation excluded), and the router
# health of the last step with router lines over the MoE layers (nmoe-routerstat -j):
# the highest load CV%, the lowest normalized entropy, the fewest active experts, the
# widest bias range; and over the whole run (nmoe-routerstat --over-time) the lowest
# entropy of any layer with its step, and the step from which every layer kept every
# expert active ("never": not even at the end). "-" where a run has none (a dense
# model; no validation).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/page.sh"
what=${1:?usage: sweep_report.sh table|plot DIAL OUT VALUE...}
dial=${2:?DIAL}
out=${3:?OUT}
shift 3
[ $# -ge 1 ] || { echo "sweep_report.sh: no values" >&2; exit 2; }
routerstat=${NMOE_ROUTERSTAT:-nmoe-routerstat}
here=$(cd "$(dirname "$0")" && pwd)

stream() { # VALUE: its metric stream, which must exist
    local f="$out/$1/metrics.ndjson"
    [ -s "$f" ] || { echo "sweep_report.sh: $f: missing or empty" >&2; exit 1; }
    printf '%s' "$f"
}

table() {
    printf '| %s | end | steps | tokens | train loss | val loss | tok/s | max CV%% | min entropy | min active | bias range | lowest entropy (step) | all active from |\n' "$dial"
    printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    local v f
    for v in "$@"; do
        f=$(stream "$v")
        # One jq pass over the stream: the stop line, the last val line, the train lines.
        local row
        row=$(jq -rs '
            (map(select(.kind == "stop")) | last) as $stop
            | (map(select(.kind == "val")) | last) as $val
            | (map(select(.kind == "train"))) as $tr
            | ($tr | last) as $last
            | ($stop.time.train_s // 0) as $train_s
            | [ ($stop.reason // "unfinished"),
                (($stop.step // $last.step // 0) | tostring),
                (($last.tokens // 0) | tostring),
                (if $stop.loss != null then ($stop.loss * 10000 | round / 10000 | tostring)
                 elif $last.loss != null then ($last.loss * 10000 | round / 10000 | tostring) else "-" end),
                (if $val.loss != null then ($val.loss * 10000 | round / 10000 | tostring) else "-" end),
                (if $train_s > 0 then (($last.tokens // 0) / $train_s | round | tostring) else "-" end) ]
            | join("|")' "$f")
        local health="-|-|-|-" story="-|-"
        if grep -q '"kind":"router"' "$f"; then
            # Over time (lib/router_story.awk): the lowest entropy and its step, and the
            # step from which every layer kept every expert active.
            story=$("$routerstat" -q --over-time "$f" | awk -f "$here/lib/router_story.awk" |
                awk '{ printf "%s (%s)|%s", $1, $2, $4 }')
            health=$("$routerstat" -q -j "$f" | jq -rs '
                [ (map(.cv_pct) | max * 10 | round / 10 | tostring),
                  (map(.entropy) | min * 1000 | round / 1000 | tostring),
                  (map(.active) | min | tostring) + "/" + (.[0].experts | tostring),
                  (map(.bias_max - .bias_min) | max * 10000 | round / 10000 | tostring) ]
                | join("|")')
        fi
        printf '| %s | %s | %s | %s |\n' "$v" "$(sed 's/|/ | /g' <<<"$row")" "$(sed 's/|/ | /g' <<<"$health")" \
            "$(sed 's/|/ | /g' <<<"$story")"
    done
}

plot() {
    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/sweep-plot.XXXXXX")
    trap 'rm -rf "$tmp"' RETURN
    local v f i=0 lines="" vals=""
    for v in "$@"; do
        f=$(stream "$v")
        i=$((i + 1))
        jq -r 'select(.kind == "train") | "\(.tokens) \(.loss)"' "$f" >"$tmp/train$i.dat"
        jq -r 'select(.kind == "val") | "\(.step) \(.loss)"' "$f" >"$tmp/val$i.steps"
        # val lines carry steps; put them on the tokens axis through the train lines.
        { echo "0 0"; jq -r 'select(.kind == "train") | "\(.step) \(.tokens)"' "$f"; } >"$tmp/tok$i.map"
        awk 'NR == FNR { tok[$1] = $2; next } ($1 in tok) { print tok[$1], $2 }' \
            "$tmp/tok$i.map" "$tmp/val$i.steps" >"$tmp/val$i.dat"
        lines+="${lines:+, }'$tmp/train$i.dat' using 1:2 with lines lw 2 lc $i title '$dial=$v'"
        [ -s "$tmp/val$i.dat" ] && vals+=", '$tmp/val$i.dat' using 1:2 with points pt 7 ps 1.2 lc $i notitle"
    done
    gnuplot <<GP
$(png_terminal 900 560)
set output '$tmp/loss.png'
set title "sweep of $dial: training loss (lines) and validation loss (points)"
set xlabel 'training tokens'
set ylabel 'loss'
set key top right
set grid
plot $lines$vals
GP
    cat "$tmp/loss.png"
}

case $what in
    table) table "$@" ;;
    plot) plot "$@" ;;
    *) echo "sweep_report.sh: '$what' is not table or plot" >&2; exit 2 ;;
esac
