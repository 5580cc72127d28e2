#!/usr/bin/env bash
# md_page.sh: a static HTML page from a markdown table and PNG plots in one directory,
# for the sweep's and the dense-vs-MoE comparison's results (the run page is
# pipelines/report.sh). The table's pipe rows become an HTML table; other lines become
# paragraphs. Works from file:// with no network, and marks itself, as the run page
# does, with whether every plot loaded (data-plots="ok N" or "broken NAMES").
#
#   md_page.sh TITLE TABLE.md PLOT.png... >DIR/index.html   (plots named relative to DIR)
set -euo pipefail
title=${1:?usage: md_page.sh TITLE TABLE.md PLOT.png...}
md=${2:?TABLE.md}
shift 2
[ -s "$md" ] || { echo "md_page.sh: $md: missing or empty" >&2; exit 1; }
source "$(cd "$(dirname "$0")" && pwd)/page.sh"
esc() { html_escape; }
html_begin "$title" 1400
cat <<HTML
<h1>$(esc <<<"$title")</h1>
HTML
esc <"$md" | awk '
    /^\|/ {
        if ($0 ~ /^\|[-:| ]+\|$/) next            # the separator row
        n = split(substr($0, 2, length($0) - 2), cell, /\|/)
        if (!open) { print "<table>"; open = 1; tag = "th" } else tag = "td"
        row = "<tr>"
        for (i = 1; i <= n; i++) { gsub(/^ +| +$/, "", cell[i]); row = row "<" tag ">" cell[i] "</" tag ">" }
        print row "</tr>"
        next
    }
    { if (open) { print "</table>"; open = 0 } if ($0 != "") print "<p>" $0 "</p>" }
    END { if (open) print "</table>" }'
for p in "$@"; do printf '<img src="%s" alt="%s">\n' "$(esc <<<"$p")" "$(esc <<<"$p")"; done
html_end
