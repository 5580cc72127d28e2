#!/usr/bin/env bash
# precision_report.sh: the table and the plot of pipelines/precision.mk, from the
# metric streams OUT/<format>-<set>/metrics.ndjson (nmoe-metrics(5)); <set> is "base"
# (the config as it is) or "gain" (the gain/no-clip set).
#
#   precision_report.sh table OUT RUN...   markdown on stdout
#   precision_report.sh plot OUT RUN...    PNG on stdout (gnuplot)
#
# Table: one row per run and MoE layer, the router health of the last step with router
# lines in the seed's format (CV%, normalized entropy, active experts, bias range;
# nmoe-routerstat -j), that step's update telemetry (router update / weight RMS ratio,
# the share of router weights below the floor of router_precision's format, the share
# of expert weight codes changed; "-" for fp32 experts), then how the run ended and
# its last validation loss.
#
# Plot, one line per run: the training loss; the normalized router entropy and the
# share of router weights below the floor, each averaged over the MoE layers; the
# share of expert codes changed (quantized experts only), over the steps.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib/page.sh"
what=${1:?usage: precision_report.sh table|plot OUT RUN...}
out=${2:?OUT}
shift 2
[ $# -ge 1 ] || { echo "precision_report.sh: no runs" >&2; exit 2; }
routerstat=${NMOE_ROUTERSTAT:-nmoe-routerstat}
die() { echo "precision_report.sh: $*" >&2; exit 1; }

stream() {
    local f="$out/$1/metrics.ndjson"
    [ -s "$f" ] || die "$f: missing or empty"
    grep -q '"kind":"router"' "$f" || die "$f: no router lines (not an MoE run?)"
    printf '%s' "$f"
}

table() {
    printf '| experts | set | layer | CV%% | Entropy (norm) | Active | Bias Range | Upd/W | Below floor | Codes changed | end | val loss |\n'
    printf '|---|---|---:|---:|---:|---:|:---|---:|---:|---:|---|---:|\n'
    local run f end val
    for run in "$@"; do
        f=$(stream "$run")
        end=$(jq -rs 'map(select(.kind == "stop")) | last | .reason // "unfinished"' "$f")
        val=$(jq -rs 'map(select(.kind == "val")) | last | if . then (.loss * 10000 | round / 10000 | tostring) else "-" end' "$f")
        "$routerstat" -q -j "$f" | jq -r '[.layer, .cv_pct, .entropy, .active, .experts, .bias_min, .bias_max,
                (.router_update_ratio // "nan"), (.router_below_floor // "nan"), (.expert_codes_changed // "nan")] | @tsv' |
            awk -F'\t' -v fmt="${run%-*}" -v set="${run##*-}" -v end="$end" -v val="$val" '
                function pct(x) { return x == "nan" ? "-" : sprintf("%.1f%%", 100 * x) }
                { printf "| %s | %s | %d | %.1f | %.3f | %d/%d | [%+.2f, %+.2f] | %s | %s | %s | %s | %s |\n",
                         fmt, set, $1, $2, $3, $4, $5, $6, $7, ($8 == "nan" ? "-" : sprintf("%.3g", $8)),
                         pct($9), pct($10), end, val }'
    done
}

plot() {
    local tmp run f i=0 loss="" ent="" below="" codes=""
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/precision-plot.XXXXXX")
    trap 'rm -rf "$tmp"' RETURN
    for run in "$@"; do
        f=$(stream "$run")
        i=$((i + 1))
        jq -r 'select(.kind == "train") | "\(.step) \(.loss)"' "$f" >"$tmp/$i.loss"
        # per step, the means over the layers: entropy, below floor %, codes changed %
        "$routerstat" -q --over-time "$f" | awk -F'\t' '
            NR == 1 { for (j = 1; j <= NF; j++) col[$j] = j; next }
            { s = $1; if (!(s in n)) order[++k] = s; n[s]++; e[s] += $4
              b[s] += col["below_floor"] ? 100 * $col["below_floor"] : 0
              if (col["codes_changed"] && $col["codes_changed"] != "nan") { c[s] += 100 * $col["codes_changed"]; nc[s]++ } }
            END { for (j = 1; j <= k; j++) { s = order[j]
                    printf "%s %.6f %.4f %s\n", s, e[s] / n[s], b[s] / n[s], nc[s] ? sprintf("%.4f", c[s] / nc[s]) : "nan" } }' \
            >"$tmp/$i.router"
        local dash=$([ "${run##*-}" = gain ] && echo 2 || echo 1) lc=$(( (i + 1) / 2 ))
        local style="with lines lw 2 lc $lc dt $dash title '$run'"
        loss+="${loss:+, }'$tmp/$i.loss' using 1:2 $style"
        ent+="${ent:+, }'$tmp/$i.router' using 1:2 $style"
        below+="${below:+, }'$tmp/$i.router' using 1:3 $style"
        [ "${run%-*}" = fp32 ] || codes+="${codes:+, }'$tmp/$i.router' using 1:4 $style"
    done
    gnuplot <<GP
$(png_terminal 1400 900)
set output '$tmp/precision.png'
set multiplot layout 2,2 title 'expert precision, with (dashed) and without (solid) the gain/no-clip set'
set grid
set xlabel 'step'
set key top right
set title 'training loss'
set ylabel 'loss'
plot $loss
set title 'normalized router entropy, mean over the MoE layers'
set ylabel 'entropy'
set key bottom right
plot $ent
set title 'router weights below the floor at the window''s last step, %, mean over layers'
set ylabel '%'
set yrange [0:*]
plot $below
set title 'expert weight codes changed by the window''s last step, %, mean over layers'
set ylabel '%'
set logscale y
set yrange [*:*]
set key top right
plot $codes
unset multiplot
GP
    cat "$tmp/precision.png"
}

case $what in
    table) table "$@" ;;
    plot) plot "$@" ;;
    *) die "'$what' is not table or plot" ;;
esac
