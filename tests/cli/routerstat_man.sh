#!/usr/bin/env bash
# man/man1/nmoe-routerstat.1 matches --help: the same long options both ways, the same
# [default: ...] for each, the required sections, and it renders without warnings.
set -u
cd "$NMOE_TOP"
R=bin/nmoe-routerstat
page=man/man1/nmoe-routerstat.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
"$R" --help >"$tmp/help"
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$page" >"$tmp/page"

# Long options in --help and in the page's OPTIONS section.
grep -o -- '--[a-z][a-z0-9-]*' "$tmp/help" | sort -u >"$tmp/help.opts"
awk '/^\.SH OPTIONS/ { on = 1; next } /^\.SH/ { on = 0 } on && prev == ".TP" { print } { prev = $0 }' "$tmp/page" \
    | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$tmp/page.opts"
[ -s "$tmp/page.opts" ] || { echo "FAIL no options found in the page"; exit 1; }
# Every option the page documents is in --help, and every option --help names is in the page.
comm -23 "$tmp/page.opts" "$tmp/help.opts" | sed 's/^/FAIL in the man page but not in --help: /' | tee "$tmp/d1"
grep -o -- '--[a-z][a-z0-9-]*' "$tmp/help" | sort -u | while read -r o; do
    grep -q -- "$o" "$tmp/page" || echo "FAIL in --help but not in the man page: $o"
done | tee "$tmp/d2"
[ -s "$tmp/d1" ] || [ -s "$tmp/d2" ] && fail=1
# The options of --help's option lines are exactly the page's OPTIONS entries.
# (the first long option on each entry line)
grep -E '^  (-[a-zA-Z], |    )--[a-z]' "$tmp/help" | sed -E 's/^  (-[a-zA-Z], |    )(--[a-z0-9-]+).*/\2/' | sort -u >"$tmp/help.entries"
diff "$tmp/help.entries" "$tmp/page.opts" >/dev/null || { echo "FAIL option entries differ:"; diff "$tmp/help.entries" "$tmp/page.opts"; fail=1; }

# Defaults agree, option by option.
help_default() {
    awk -v o="$1" '/^  (-[a-zA-Z], |    )--?[a-z]/ { inside = 0 }
        $0 ~ "^  (-[a-zA-Z], |    )" o "( |$)" { inside = 1 } inside { print }' "$tmp/help" \
        | tr '\n' ' ' | grep -o '\[default: [^]]*\]' | head -n 1
}
page_default() {
    awk -v o="$1" '/^\.SH OPTIONS/ { on = 1; next } /^\.SH/ { on = 0 }
        on && /^\.TP/ { inside = 0; tag = 1; next }
        on && tag { tag = 0; if (index($0 " ", o " ") || index($0 " ", o ",") || index($0, o "\"")) inside = 1 }
        on && inside { print }' "$tmp/page" | tr '\n' ' ' | grep -o '\[default: [^]]*\]' | head -n 1
}
n=0
while read -r o; do
    h=$(help_default "$o"); p=$(page_default "$o")
    [ "$o" = "--help" ] || [ "$o" = "--version" ] && continue
    n=$((n + 1))
    if [ -z "$h" ] || [ "$h" != "$p" ]; then echo "FAIL $o: --help says '$h', the page says '$p'"; fail=1; fi
done <"$tmp/help.entries"
[ $n -ge 14 ] || { echo "FAIL only $n defaults compared"; fail=1; }

for s in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT "EXIT STATUS" EXAMPLES; do
    grep -q "^\.SH $s\$" "$page" || { echo "FAIL no section $s"; fail=1; }
done
if command -v groff >/dev/null; then
    for f in "$page" man/man5/nmoe-metrics.5; do
        w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$f" 2>&1)
        [ -z "$w" ] || { echo "FAIL $f: groff warnings:"; echo "$w"; fail=1; }
    done
fi
# The metric stream page documents every kind and every router field.
for k in meta train val router checkpoint eval stop; do
    grep -q "^\.SS $k\$" man/man5/nmoe-metrics.5 || { echo "FAIL nmoe-metrics.5 lacks kind $k"; fail=1; }
done
for f in layer experts top_k from_step to_step tokens loads bias cv_pct entropy active bias_min bias_max \
         max_over_mean drop_frac top1_affinity router_grad_norm fingerprint elapsed_s tok_per_s step_ms; do
    grep -q "$f" man/man5/nmoe-metrics.5 || { echo "FAIL nmoe-metrics.5 lacks field $f"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok   $(wc -l <"$tmp/page.opts") options and $n defaults match"
exit $fail
