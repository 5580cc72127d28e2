#!/usr/bin/env bash
# --detect-collapse finds layer 2 of the collapsing fixture and the step its decline
# began (160: the first router line after the shock at step 150), exits 3, and flags
# nothing in the healthy fixture (exit 0, empty stdout); the rule's options work.
source "$NMOE_TOP/tests/cli/routerstat_common.bash"
check() { # NAME WANT_RC WANT_STDOUT ARGS...
    local name=$1 want_rc=$2 want_out=$3; shift 3
    "$R" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -ne "$want_rc" ]; then echo "FAIL $name: exit $rc, want $want_rc"; cat "$tmp/err"; fail=1; return; fi
    if [ "$(cat "$tmp/out")" != "$want_out" ]; then
        echo "FAIL $name: stdout"; echo "  got:  $(cat "$tmp/out")"; echo "  want: $want_out"; fail=1; return
    fi
    echo "ok   $name"
}

check "collapse found" 3 "$(cat $D/collapse-64x6.collapse.expected)" --detect-collapse $D/collapse-64x6.ndjson
check "collapse found (golden)" 3 "layer 2: collapse began at step 160: entropy 0.9966 -> 0.9236 by step 190 (window 10)" \
    --detect-collapse $D/collapse-64x6.ndjson
grep -qx 'nmoe-routerstat: collapse detected in 1 of 3 layers' "$tmp/err" || { echo "FAIL collapse summary"; cat "$tmp/err"; fail=1; }
check "healthy: nothing" 0 "" --detect-collapse $D/healthy-64x6.ndjson
grep -qx 'nmoe-routerstat: no collapse detected in 3 layers (steps 10..250)' "$tmp/err" || { echo "FAIL healthy summary"; cat "$tmp/err"; fail=1; }
check "healthy, sensitive settings: still nothing" 0 "" --detect-collapse --window 25 --entropy-drop 0.01 $D/healthy-64x6.ndjson
check "json" 3 '{"layer":2,"began_step":160,"detected_step":190,"cause":"entropy","from":0.996614,"to":0.923591,"window":10}' \
    --detect-collapse --json $D/collapse-64x6.ndjson
# Dead experts alone (entropy drop set out of reach): experts start dying at step 270.
check "dead experts" 3 "layer 2: collapse began at step 270: dead experts 0 -> 2 by step 270 (window 10)" \
    --detect-collapse --entropy-drop 1 $D/collapse-64x6.ndjson
check "dead experts, rise of 10" 3 "layer 2: collapse began at step 270: dead experts 0 -> 13 by step 280 (window 10)" \
    --detect-collapse --entropy-drop 1 --dead-rise 10 $D/collapse-64x6.ndjson
# A larger threshold fires later, and its tolerance for noise (a tenth of it, 0.03) puts
# the start at the first line more than 0.03 below the peak: 180 (0.9483).
check "entropy drop 0.3" 3 "layer 2: collapse began at step 180: entropy 0.9667 -> 0.6422 by step 230 (window 10)" \
    --detect-collapse --entropy-drop 0.3 $D/collapse-64x6.ndjson
# Only up to step 180 (the decline is under way but smaller than 0.05): not yet flagged.
check "until step 180" 0 "" --detect-collapse --until-step 180 $D/collapse-64x6.ndjson
# The rule's options need --detect-collapse; two outputs at once is a usage error.
check "--window alone" 2 "" --window 5 $D/collapse-64x6.ndjson
check "--over-time and --detect-collapse" 2 "" --over-time --detect-collapse $D/collapse-64x6.ndjson
check "--window 0" 2 "" --detect-collapse --window 0 $D/collapse-64x6.ndjson
check "--entropy-drop 2" 2 "" --detect-collapse --entropy-drop 2 $D/collapse-64x6.ndjson
exit $fail
