#!/usr/bin/env bash
# nmoe-routerstat's table, NDJSON and TSV for the fixture streams match the golden files
# exactly; stdin works as '-' and as no FILE; a step without router lines is an error.
source "$NMOE_TOP/tests/cli/routerstat_common.bash"
# golden NAME EXPECTED_FILE ARGS...: stdout must equal the file and the exit status 0.
golden() {
    local name=$1 want=$2; shift 2
    "$R" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -ne 0 ]; then echo "FAIL $name: exit $rc"; cat "$tmp/err"; fail=1; return; fi
    if ! diff -u "$want" "$tmp/out"; then echo "FAIL $name: stdout differs from $want"; fail=1; return; fi
    echo "ok   $name"
}
golden "healthy last step" $D/healthy-64x6.table.expected $D/healthy-64x6.ndjson
golden "healthy step 100" $D/healthy-64x6.step100.table.expected --step 100 $D/healthy-64x6.ndjson
golden "healthy step 100 (-s)" $D/healthy-64x6.step100.table.expected -s 100 $D/healthy-64x6.ndjson
golden "collapse last step" $D/collapse-64x6.table.expected $D/collapse-64x6.ndjson
golden "healthy json step 100" $D/healthy-64x6.step100.json.expected --json --step 100 $D/healthy-64x6.ndjson
golden "healthy over time" $D/healthy-64x6.over-time.tsv.expected --over-time $D/healthy-64x6.ndjson
golden "stdin as -" $D/healthy-64x6.table.expected - <$D/healthy-64x6.ndjson
golden "stdin as no FILE" $D/healthy-64x6.table.expected <$D/healthy-64x6.ndjson
golden "stdin from a pipe" $D/collapse-64x6.table.expected - < <(cat $D/collapse-64x6.ndjson)

# The header row comes first and the example row's format is kept.
head -n 1 $D/healthy-64x6.table.expected | grep -qx '| Layer | CV% | Entropy (norm) | Active | Bias Range |' \
    || { echo "FAIL header row"; fail=1; }
grep -Eqx '\| 2 \| 296\.8 \| 0\.458 \| 7/64 \| \[-0\.82, \+1\.29\] \|' $D/collapse-64x6.table.expected \
    || { echo "FAIL collapsed row format"; fail=1; }

# The caption names the step and the run on stderr, and -q silences it.
"$R" $D/healthy-64x6.ndjson 2>"$tmp/err" >/dev/null
grep -qx 'nmoe-routerstat: step 250 of run healthy-64x6' "$tmp/err" || { echo "FAIL caption"; cat "$tmp/err"; fail=1; }
"$R" -q $D/healthy-64x6.ndjson 2>"$tmp/err" >/dev/null
[ ! -s "$tmp/err" ] || { echo "FAIL -q still writes to stderr"; cat "$tmp/err"; fail=1; }

# --over-time --json: every layer of every step, in step order.
"$R" -q --over-time --json $D/healthy-64x6.ndjson >"$tmp/all.json"
[ "$(wc -l <"$tmp/all.json")" -eq 75 ] || { echo "FAIL over-time json: $(wc -l <"$tmp/all.json") lines, want 75"; fail=1; }
head -n 1 "$tmp/all.json" | grep -q '^{"run":"healthy-64x6","step":10,"layer":1,' || { echo "FAIL over-time json order"; fail=1; }

# A step without router lines.
"$R" --step 15 $D/healthy-64x6.ndjson >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || { echo "FAIL --step 15: exit $rc, want 1"; fail=1; }
grep -qx 'nmoe-routerstat: tests/data/metrics/healthy-64x6.ndjson: no router lines for step 15 (router lines cover steps 10..250)' "$tmp/err" \
    || { echo "FAIL --step 15 message:"; cat "$tmp/err"; fail=1; }
[ ! -s "$tmp/out" ] || { echo "FAIL --step 15 wrote to stdout"; fail=1; }

# A stream without router lines (a dense run), and an empty one.
grep -v '"kind":"router"' $D/healthy-64x6.ndjson >"$tmp/dense.ndjson"
"$R" "$tmp/dense.ndjson" 2>"$tmp/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q "dense.ndjson: no router lines (is this an MoE run's metric stream?)" "$tmp/err" \
    || { echo "FAIL dense stream: exit $rc"; cat "$tmp/err"; fail=1; }
"$R" </dev/null 2>"$tmp/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -qx "nmoe-routerstat: -: no router lines (is this an MoE run's metric stream?)" "$tmp/err" \
    || { echo "FAIL empty stdin: exit $rc"; cat "$tmp/err"; fail=1; }
"$R" /nonexistent/metrics.ndjson 2>"$tmp/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -qx "nmoe-routerstat: /nonexistent/metrics.ndjson: No such file or directory" "$tmp/err" \
    || { echo "FAIL missing file: exit $rc"; cat "$tmp/err"; fail=1; }

# A resumed run appends steps again: the later lines win, with no warning.
{ cat $D/healthy-64x6.ndjson; grep '"kind":"router".*"step":250,' $D/collapse-64x6.ndjson | sed 's/collapse-64x6/healthy-64x6/'; } >"$tmp/resumed.ndjson"
"$R" -q "$tmp/resumed.ndjson" >"$tmp/out" 2>"$tmp/err"
want=$("$R" -q --step 250 $D/collapse-64x6.ndjson | grep '^| 2 |')
grep -qxF "$want" "$tmp/out" || { echo "FAIL resumed: step 250 of layer 2 not replaced by '$want'"; cat "$tmp/out"; fail=1; }
[ "$(grep -c '^| [0-9]' "$tmp/out")" -eq 3 ] || { echo "FAIL resumed: want 3 layers"; fail=1; }
[ ! -s "$tmp/err" ] || { echo "FAIL resumed: unexpected stderr"; cat "$tmp/err"; fail=1; }
exit $fail
