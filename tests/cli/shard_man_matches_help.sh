#!/usr/bin/env bash
# Every long option `nmoe-shard --help` prints appears in man/man1/nmoe-shard.1, every
# subcommand has its own part there, and the man pages of the two formats exist.
source "$NMOE_TOP/tests/cli/shard_common.bash"
page=$NMOE_TOP/man/man1/nmoe-shard.1
[ -f "$page" ] || fail "no $page"
text=$(sed 's/\\-/-/g' "$page")
n=0
for opt in $(nmoe-shard --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qF -- "$opt" <<<"$text" || fail "$opt is in --help but not in $page"
    n=$((n + 1))
done
[ $n -ge 15 ] || fail "only $n long options found in --help"
# And the other way: every long option the page documents is one --help lists.
help_opts=$(nmoe-shard --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
for opt in $(sed 's/\\-/-/g' "$page" | grep -E '^\.(B|BI|BR) ' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qxF -- "$opt" <<<"$help_opts" || fail "$page documents $opt, which --help does not list"
done
for cmd in pack import info verify cat; do
    grep -qE "^\.SS .*$cmd" "$page" || fail "$page has no subsection for $cmd"
done
for sec in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT "EXIT STATUS" EXAMPLES; do
    grep -q "^\.SH \"\?$sec" "$page" || fail "$page has no $sec section"
done
for p in man/man5/nmoe-shard.5 man/man5/nmoe-tokens.5; do
    [ -f "$NMOE_TOP/$p" ] || fail "no $p"
done
# The pages are valid roff: man renders them without warnings.
if command -v groff >/dev/null; then
    for p in "$page" "$NMOE_TOP/man/man5/nmoe-shard.5" "$NMOE_TOP/man/man5/nmoe-tokens.5"; do
        w=$(groff -t -man -Tutf8 -ww -z "$p" 2>&1)
        [ -z "$w" ] || fail "$p: groff warnings: $w"
    done
fi
echo "checked $n options"
