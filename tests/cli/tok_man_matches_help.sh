#!/usr/bin/env bash
# nmoe-tok's man page lists exactly the long options its --help lists, each with the
# same [default: ...] text, and has the required sections.
source "$NMOE_TOP/tests/cli/tok_common.bash"
page=man/man1/nmoe-tok.1
[ -f "$page" ] || fail "no $page"
# roff spells a hyphen '\-': undo that, and join lines so wrapped defaults compare.
text=$(sed 's/\\-/-/g; s/\\e/\\/g' "$page")
help=$(nmoe-tok --help)
help_opts=$(grep -o -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)
man_opts=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' <<<"$text" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
[ -n "$help_opts" ] || fail "--help lists no options"
diff <(echo "$help_opts") <(echo "$man_opts") || fail "options differ between --help (<) and the man page (>)"
# Every [default: ...] of --help appears in the OPTIONS section.
flat_man=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' <<<"$text" | tr '\n' ' ' | tr -s ' ')
flat_help=$(tr '\n' ' ' <<<"$help" | tr -s ' ')
n=0
while read -r d; do
    n=$((n + 1))
    grep -qF -- "$d" <<<"$flat_man" || fail "man page lacks '$d'"
done < <(grep -o '\[default: [^]]*\]' <<<"$flat_help")
[ $n -ge 10 ] || fail "only $n defaults in --help"
for s in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT 'EXIT STATUS' EXAMPLES; do
    grep -q "^\.SH $s" "$page" || fail "$page has no $s section"
done
[ -f man/man5/nmoe-tokenizer.5 ] || fail "no nmoe-tokenizer(5) page"
# Short options too.
for o in -t -o -j -f -q -v -h -V; do grep -q -- "$o" <<<"$help" || fail "--help lacks $o"; done
echo "ok: $(wc -l <<<"$help_opts") long options, $n defaults"
