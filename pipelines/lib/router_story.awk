# router_story.awk: the router's story over a run, from `nmoe-routerstat --over-time`
# (TSV: step, layer, cv_pct, entropy, active, experts, ...; one header line). Prints
#   LOWEST_ENTROPY STEP LAYER ALL_ACTIVE_FROM
# the lowest normalized entropy of any layer at any step (with its step and layer), and
# the first step from which every layer had every expert active at every later step
# ("never" when even the last step had a starved expert). Used by sweep_report.sh and
# demo.sh.
BEGIN { FS = "\t" }
NR == 1 { next }
{
    if (min == "" || $4 < min) { min = $4; at = $1; layer = $2 }
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1; full[$1] = 1 }
    if ($5 < $6) full[$1] = 0
}
END {
    if (n == 0) { print "- - - -"; exit }
    from = "never"
    for (i = n; i >= 1 && full[order[i]]; i--) from = order[i]
    printf "%.3f %s %s %s\n", min, at, layer, from
}
