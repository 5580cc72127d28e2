#!/usr/bin/env bash
# Malformed metric lines are reported as file:line: reason and skipped (exit 0), or,
# with --strict, rejected with exit 1; each kind of damage is checked, and binary
# garbage never crashes the reader.
source "$NMOE_TOP/tests/cli/routerstat_common.bash"

# The whole fixture: every bad line warned about by number, the good ones used.
"$R" $D/malformed.ndjson >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || { echo "FAIL malformed.ndjson: exit $rc"; fail=1; }
diff -u $D/malformed.table.expected "$tmp/out" || { echo "FAIL malformed table"; fail=1; }
diff -u $D/malformed.stderr.expected "$tmp/err" || { echo "FAIL malformed warnings"; fail=1; }
[ $fail -eq 0 ] && echo "ok   warnings and table for malformed.ndjson"

# --strict: the first bad line (4, not JSON) is fatal.
"$R" --strict $D/malformed.ndjson >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || { echo "FAIL --strict: exit $rc, want 1"; fail=1; }
[ "$(cat "$tmp/err")" = "nmoe-routerstat: tests/data/metrics/malformed.ndjson:4: not valid JSON" ] \
    || { echo "FAIL --strict message:"; cat "$tmp/err"; fail=1; }
[ ! -s "$tmp/out" ] || { echo "FAIL --strict printed a table"; fail=1; }

# Each bad line on its own after two good ones: a warning by default, exit 1 under --strict.
good=$(head -n 3 $D/malformed.ndjson)
one() { # NAME LINE REASON
    local name=$1 line=$2 reason=$3
    printf '%s\n%s\n' "$good" "$line" >"$tmp/one.ndjson"
    "$R" -q "$tmp/one.ndjson" >/dev/null 2>"$tmp/err"; local rc=$?
    # -q: errors only, so no warning; the good lines still give a table.
    [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] || { echo "FAIL $name: -q exit $rc"; cat "$tmp/err"; fail=1; return; }
    "$R" "$tmp/one.ndjson" >/dev/null 2>"$tmp/err"; rc=$?
    grep -qxF "nmoe-routerstat: warning: $tmp/one.ndjson:4: $reason (line skipped)" "$tmp/err" && [ $rc -eq 0 ] \
        || { echo "FAIL $name: default"; cat "$tmp/err"; fail=1; return; }
    "$R" --strict "$tmp/one.ndjson" >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "nmoe-routerstat: $tmp/one.ndjson:4: $reason" ] \
        || { echo "FAIL $name: --strict exit $rc"; cat "$tmp/err"; fail=1; return; }
    echo "ok   $name"
}
RL='"kind":"router","run":"bad-lines","step":20,"layer":1'
one "bad JSON" '{"kind":"router","step":20,' "not valid JSON"
one "not an object" '"router"' "not a JSON object"
one "no kind" '{"step":20,"layer":1}' "missing string 'kind'"
one "kind not a string" '{"kind":7,"step":20}' "missing string 'kind'"
one "missing loads" "{$RL,\"experts\":4,\"top_k\":2,\"bias\":[0,0,0,0]}" "router line: missing 'loads'"
one "missing bias" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,1,1,1]}" "router line: missing 'bias'"
one "missing experts" "{$RL,\"top_k\":2,\"loads\":[1,1,1,1],\"bias\":[0,0,0,0]}" "router line: missing 'experts'"
one "missing layer" '{"kind":"router","step":20,"experts":4,"top_k":2,"loads":[1,1,1,1],"bias":[0,0,0,0]}' "router line: missing 'layer'"
one "loads too short" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,1,1],\"bias\":[0,0,0,0]}" "router line: 'loads' has 3 entries, expected 4 (experts)"
one "bias too long" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,1,1,1],\"bias\":[0,0,0,0,0]}" "router line: 'bias' has 5 entries, expected 4 (experts)"
one "load not a number" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,null,1,1],\"bias\":[0,0,0,0]}" "router line: loads[1] is not a non-negative whole number"
one "fractional load" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,1,1.5,1],\"bias\":[0,0,0,0]}" "router line: loads[2] is not a non-negative whole number"
one "bias a string" "{$RL,\"experts\":4,\"top_k\":2,\"loads\":[1,1,1,1],\"bias\":[0,0,0,\"x\"]}" "router line: bias[3] is not a number"
one "experts a string" "{$RL,\"experts\":\"4\",\"top_k\":2,\"loads\":[1,1,1,1],\"bias\":[0,0,0,0]}" "router line: 'experts' is not a whole number in [1, 65536]"
one "huge experts" "{$RL,\"experts\":1e9,\"top_k\":2,\"loads\":[1],\"bias\":[0]}" "router line: 'experts' is not a whole number in [1, 65536]"
one "step negative" '{"kind":"router","step":-20,"layer":1,"experts":4,"top_k":2,"loads":[1,1,1,1],"bias":[0,0,0,0]}' "router line: 'step' is not a whole number in [0, 9007199254740992]"
one "window backwards" "{$RL,\"experts\":4,\"top_k\":2,\"from_step\":20,\"to_step\":11,\"loads\":[1,1,1,1],\"bias\":[0,0,0,0]}" "router line: from_step 20 is after to_step 11"

# Truncated last line (no newline) when not following.
{ head -n 3 $D/malformed.ndjson; printf '{"kind":"router","step":20,"layer":1,"exp'; } >"$tmp/trunc.ndjson"
"$R" "$tmp/trunc.ndjson" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -qxF "nmoe-routerstat: warning: $tmp/trunc.ndjson:4: truncated last line (no newline) (line skipped)" "$tmp/err" \
    && echo "ok   truncated last line" || { echo "FAIL truncated last line: exit $rc"; cat "$tmp/err"; fail=1; }

# Binary garbage, long lines, deep nesting, odd bytes: warnings, never a crash.
{
    head -n 3 $D/malformed.ndjson
    head -c 3000 /dev/urandom | tr -d '\n'; echo
    printf '\0\0\0{"kind":"router"}\n'
    printf '%0200000d\n' 0
    python3 -c 'print("[" * 100000 + "]" * 100000)' 2>/dev/null || echo '[[[[[]]]]]'
    printf '{"kind":"router","step":20,"layer":1,"experts":4,"top_k":2,"loads":[1,1,1,1],"bias":[0,0,0,0],"k":"\xff\xfe"}\n'
} >"$tmp/garbage.ndjson"
"$R" "$tmp/garbage.ndjson" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || [ $rc -eq 1 ] || { echo "FAIL garbage: exit $rc (a crash?)"; cat "$tmp/err"; fail=1; }
grep -q '^| 1 |' "$tmp/out" && echo "ok   garbage lines skipped" || { echo "FAIL garbage: no table"; cat "$tmp/err"; fail=1; }
exit $fail
