#!/usr/bin/env bash
# Every program has a man page, and every long option its --help prints appears in it,
# so the two cannot drift apart silently.
set -euo pipefail
cd "$NMOE_TOP"
n=0 bad=0
for p in bin/nmoe-*; do
    [ -x "$p" ] || continue
    name=${p##*/}
    page=man/man1/$name.1
    if [ ! -f "$page" ]; then echo "$name: no man page $page"; bad=1; continue; fi
    # roff escapes the hyphen: accept both '--opt' and '\-\-opt'.
    text=$(sed 's/\\-/-/g' "$page")
    for opt in $("$p" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        n=$((n + 1))
        grep -q -- "$opt" <<<"$text" || { echo "$name: $opt is in --help but not in $page"; bad=1; }
    done
    grep -q '^\.SH EXIT STATUS' "$page" || { echo "$page: no EXIT STATUS section"; bad=1; }
done
echo "checked $n options"
[ $n -gt 0 ] || { echo "no programs with options found in bin/"; exit 1; }
exit $bad
