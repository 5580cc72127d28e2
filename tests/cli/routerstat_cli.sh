#!/usr/bin/env bash
# nmoe-routerstat's command line: -h, --help (every option with a [default: ...]),
# -V/--version, and usage errors with exit 2 and a hint.
source "$NMOE_TOP/tests/cli/routerstat_common.bash"

"$R" -h >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] && head -n 1 "$tmp/out" | grep -qx 'Usage: nmoe-routerstat \[OPTIONS\] \[FILE\]' && grep -q -- "--help" "$tmp/out" \
    && echo "ok   -h" || { echo "FAIL -h (exit $rc)"; fail=1; }
"$R" --help >"$tmp/help" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ ! -s "$tmp/err" ] || { echo "FAIL --help (exit $rc)"; fail=1; }
# Every option (short-and-long or long only) carries a [default: ...] at the end of its
# entry; an entry runs until the next option line.
for opt in --step --json --over-time --detect-collapse --window --entropy-drop --dead-rise --plot --require \
           --follow --until-step --strict --quiet --verbose; do
    entry=$(awk -v o="$opt" '
        /^  (-[a-zA-Z], |    )--?[a-z]/ { inside = 0 }
        $0 ~ "^  (-[a-zA-Z], |    )" o "( |$)" { inside = 1 }
        inside { print }' "$tmp/help")
    [ -n "$entry" ] || { echo "FAIL --help lacks $opt"; fail=1; continue; }
    grep -q '\[default: [^]]*\]' <<<"$entry" || { echo "FAIL --help: $opt has no [default: ...]"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok   --help lists every option with its default"
"$R" -V >"$tmp/out"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "nmoe-routerstat 0.1.0" ] && echo "ok   -V" || { echo "FAIL -V: $(cat "$tmp/out")"; fail=1; }
[ "$("$R" --version)" = "nmoe-routerstat 0.1.0" ] || { echo "FAIL --version"; fail=1; }

usage() { # WANT_MESSAGE ARGS...
    local want=$1; shift
    "$R" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -ne 2 ] || [ "$(head -n 1 "$tmp/err")" != "nmoe-routerstat: $want" ] ||
       [ "$(tail -n 1 "$tmp/err")" != "Try 'nmoe-routerstat --help' for more information." ] || [ -s "$tmp/out" ]; then
        echo "FAIL usage '$*': exit $rc"; cat "$tmp/err"; fail=1
    else
        echo "ok   usage error: $want"
    fi
}
usage "unknown option '--bogus'" --bogus $D/healthy-64x6.ndjson
usage "unknown option '-x'" -x $D/healthy-64x6.ndjson
usage "option '--step' needs a value" $D/healthy-64x6.ndjson --step
usage "--step: 'ten' is not a whole number" --step ten $D/healthy-64x6.ndjson
usage "--step: -5 is out of range [0, 9223372036854775807]" --step -5 $D/healthy-64x6.ndjson
usage "one metric stream at a time (got 'a.ndjson' and 'b.ndjson')" a.ndjson b.ndjson
usage "--step and --over-time cannot be combined (--over-time prints every step)" --step 10 --over-time $D/healthy-64x6.ndjson
usage "--step 100 is after --until-step 50" --step 100 --until-step 50 $D/healthy-64x6.ndjson
usage "--window, --entropy-drop and --dead-rise only apply to --detect-collapse" --dead-rise 3 $D/healthy-64x6.ndjson
usage "--entropy-drop: 'x' is not a number" --detect-collapse --entropy-drop x $D/healthy-64x6.ndjson

# -v adds detail on stderr (the stop reason, gates that passed); data on stdout is unchanged.
"$R" -v --require 'entropy>=0.9' $D/collapse-64x6.ndjson --step 150 >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q 'run stopped: collapsed: layer 2 active 7/64 cv 297%' "$tmp/err" \
    && grep -q 'all gates passed at step 150' "$tmp/err" && echo "ok   -v" || { echo "FAIL -v (exit $rc)"; cat "$tmp/err"; fail=1; }
exit $fail
