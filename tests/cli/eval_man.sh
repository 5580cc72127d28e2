#!/usr/bin/env bash
# nmoe-eval(1) documents every subcommand of issue 6 and has every required section;
# every nmoe-eval option that pipelines/core_eval.mk uses is documented there; both
# eval man pages render without groff errors.
set -euo pipefail
cd "$NMOE_TOP"
page=man/man1/nmoe-eval.1
page5=man/man5/nmoe-eval-tasks.5
bad=0
for sec in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT 'EXIT STATUS' EXAMPLES; do
    grep -q "^\.SH $sec\$" "$page" || { echo "$page: no $sec section"; bad=1; }
done
for sub in bpb core router sample summary; do
    grep -q "^\.SS $sub\$" "$page" || { echo "$page: subcommand $sub not described"; bad=1; }
    grep -q "^\.B nmoe-eval $sub\$" "$page" || { echo "$page: subcommand $sub not in SYNOPSIS"; bad=1; }
done
text=$(sed 's/\\-/-/g' "$page")
# options the pipeline passes to nmoe-eval
for opt in $(grep -o -- '--[a-z][a-z-]*' pipelines/core_eval.mk | sort -u) -o; do
    grep -q -- "$opt" <<<"$text" || { echo "$page: $opt (used by core_eval.mk) is not documented"; bad=1; }
done
# options of issue 6's command lines
for opt in --ckpt --data --tokens --tasks --task --prompt --temperature --top-k --seed --max-tokens \
           --table --output --help --version --quiet --verbose; do
    # an option entry is a line after .TP that starts with .B/.BI/.BR or \fB
    grep -q -- "$opt" <<<"$(grep -A1 '^\.TP' "$page" | sed 's/\\-/-/g' | grep -E '^(\.B|\\fB)')" ||
        { echo "$page: $opt has no option entry"; bad=1; }
done
for p in "$page" "$page5"; do
    err=$(groff -man -z "$p" 2>&1 | grep -v 'warning' || true)
    [ -z "$err" ] || { echo "$p: groff: $err"; bad=1; }
done
[ $bad = 0 ] && echo "nmoe-eval(1): sections, subcommands and the pipeline's options documented"
exit $bad
