#!/usr/bin/env bash
# --require: gates pass on the healthy fixture (exit 0), fail on the collapsed one with
# exit 3 and one message per failing layer and metric naming value and bound, and bad
# gate syntax is a usage error (exit 2).
source "$NMOE_TOP/tests/cli/routerstat_common.bash"
# run WANT_RC ARGS...: output in $tmp/out and $tmp/err
run() {
    local want=$1; shift
    "$R" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -ne "$want" ]; then echo "FAIL $*: exit $rc, want $want"; cat "$tmp/err"; fail=1; return 1; fi
    return 0
}
same_err() {
    if ! diff -u "$tmp/want" "$tmp/err"; then echo "FAIL $1: stderr differs"; fail=1; else echo "ok   $1"; fi
}

run 0 -q --require 'entropy>=0.95,active=all,cv<=50' $D/healthy-64x6.ndjson && echo "ok   healthy passes"
diff -q $D/healthy-64x6.table.expected "$tmp/out" >/dev/null || { echo "FAIL the table is still printed with gates"; fail=1; }
run 0 -q --require 'entropy > 0.99 , dead = 0, active >= 64, bias_abs < 1.1, max_over_mean <= 2.5, cv_pct < 25' $D/healthy-64x6.ndjson \
    && echo "ok   healthy passes every metric"

run 3 -q --require 'entropy>=0.95,active=all,cv<=50' $D/collapse-64x6.ndjson
cat >"$tmp/want" <<'MSG'
nmoe-routerstat: gate failed at step 300: layer 2: entropy = 0.4579 (required >= 0.95)
nmoe-routerstat: gate failed at step 300: layer 2: active = 7/64 (required = all)
nmoe-routerstat: gate failed at step 300: layer 2: cv = 296.8 (required <= 50)
nmoe-routerstat: 3 gate checks failed at step 300
MSG
same_err "collapsed fails at the last step"
diff -q $D/collapse-64x6.table.expected "$tmp/out" >/dev/null || { echo "FAIL table missing on gate failure"; fail=1; }

run 3 -q --step 200 --require 'entropy>=0.95,cv<=50,active>=60' $D/collapse-64x6.ndjson
cat >"$tmp/want" <<'MSG'
nmoe-routerstat: gate failed at step 200: layer 2: entropy = 0.8831 (required >= 0.95)
nmoe-routerstat: gate failed at step 200: layer 2: cv = 126.2 (required <= 50)
nmoe-routerstat: 2 gate checks failed at step 200
MSG
same_err "collapsing at step 200 (still all active)"

run 3 -q --require 'bias_abs<=0.9' $D/healthy-64x6.ndjson
cat >"$tmp/want" <<'MSG'
nmoe-routerstat: gate failed at step 250: layer 2: bias_abs = 0.9904 (required <= 0.9)
nmoe-routerstat: 1 gate check failed at step 250
MSG
same_err "bias gate on one layer of a healthy run"

run 3 -q --require 'bias_abs<1' $D/malformed.ndjson
grep -qx 'nmoe-routerstat: gate failed at step 20: layer 2: bias_abs = NaN (required < 1)' "$tmp/err" \
    && echo "ok   a NaN bias fails its gate" || { echo "FAIL NaN bias gate"; cat "$tmp/err"; fail=1; }

# Syntax errors: exit 2 with the reason and the --help hint, nothing on stdout.
bad() {
    local spec=$1 msg=$2
    run 2 --require "$spec" $D/healthy-64x6.ndjson || return
    printf 'nmoe-routerstat: --require: %s\nTry '\''nmoe-routerstat --help'\'' for more information.\n' "$msg" >"$tmp/want"
    same_err "bad gate '$spec'"
    [ ! -s "$tmp/out" ] || { echo "FAIL bad gate wrote to stdout"; fail=1; }
}
bad 'entropy=>0.9' "gate 'entropy=>0.9': '>0.9' is not a number"
bad 'entropi>=0.9' "gate 'entropi>=0.9': unknown metric 'entropi' (use entropy, cv, active, dead, bias_abs, max_over_mean)"
bad 'cv<=50,' "empty gate in 'cv<=50,'"
bad 'cv' "gate 'cv': expected one of >=, <=, >, <, = after 'cv'"
bad 'entropy>=all' "gate 'entropy>=all': 'all' is a bound only for active"
bad '' "empty gate in ''"
exit $fail
