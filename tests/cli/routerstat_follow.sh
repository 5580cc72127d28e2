#!/usr/bin/env bash
# --follow: routerstat reads a stream while it is appended to, prints each step's table
# as soon as that step's router lines are complete, holds an unfinished last line until
# the writer completes it, and stops at the stop line, at --until-step, or when a pipe
# closes. Every wait here is bounded, so the test ends within seconds even on failure.
set -u
cd "$NMOE_TOP"
D=tests/data/metrics
R=bin/nmoe-routerstat
G=build/testtools/gen_router_metrics
[ -x "$G" ] || { echo "FAIL $G missing (make unit builds it)"; exit 1; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail=0
# wait_for COUNT FILE: until FILE holds COUNT table headers (at most 10 s)
wait_for() {
    local want=$1 file=$2 i
    for i in $(seq 100); do
        [ "$(grep -c '^| Layer' "$file" 2>/dev/null)" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
# wait_exit PID: until PID exits (at most 10 s); its status in $rc
wait_exit() {
    local i
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; rc=$?; return 0; }
        sleep 0.1
    done
    rc=124
    return 1
}

# 1. Step by step: the table for a step appears while the stream is still open, before
#    any later line exists; a line written in two pieces is read whole.
S=$D/healthy-64x6.ndjson
upto() { awk -v s="$1" '{ match($0, /"step":[0-9]+/); n = substr($0, RSTART + 7, RLENGTH - 7) + 0; if (n <= s) print }' "$S"; }
upto 10 >"$tmp/s.ndjson"
"$R" --follow "$tmp/s.ndjson" >"$tmp/s.out" 2>"$tmp/s.err" & pid=$!; pids+=($pid)
wait_for 1 "$tmp/s.out" && echo "ok   step 10 printed while the stream is open" || { echo "FAIL no table for step 10"; fail=1; }
upto 20 | tail -n +$(( $(wc -l <"$tmp/s.ndjson") + 1 )) >"$tmp/more"
cat "$tmp/more" >>"$tmp/s.ndjson"
wait_for 2 "$tmp/s.out" && echo "ok   step 20 printed after it was appended" || { echo "FAIL no table for step 20"; fail=1; }
line=$(grep -m1 '"kind":"train","run":"healthy-64x6","step":21,' "$S")
printf '%s' "${line:0:40}" >>"$tmp/s.ndjson"; sleep 0.5
printf '%s\n' "${line:40}" >>"$tmp/s.ndjson"
printf '{"kind":"stop","run":"healthy-64x6","step":21,"reason":"finished","status":0}\n' >>"$tmp/s.ndjson"
wait_exit $pid && [ $rc -eq 0 ] && echo "ok   stops at the stop line" || { echo "FAIL did not stop at the stop line (exit $rc)"; fail=1; }
[ "$(grep -c '^| Layer' "$tmp/s.out")" -eq 2 ] || { echo "FAIL want 2 tables"; fail=1; }
grep -q warning "$tmp/s.err" && { echo "FAIL warnings for a line written in two pieces:"; cat "$tmp/s.err"; fail=1; }
diff <("$R" -q --step 20 "$S") <(tail -n 5 "$tmp/s.out") >/dev/null || { echo "FAIL step 20 table differs"; fail=1; }

# 2. A background writer appends a whole run; one table per log interval, the last equal
#    to the table of the finished file, a blank line between tables.
: >"$tmp/w.ndjson"
"$G" --steps 100 --delay-ms 30 >>"$tmp/w.ndjson" & wpid=$!; pids+=($wpid)
timeout 20 "$R" --follow "$tmp/w.ndjson" >"$tmp/w.out" 2>"$tmp/w.err"; rc=$?
wait $wpid
[ $rc -eq 0 ] || { echo "FAIL background writer: exit $rc"; cat "$tmp/w.err"; fail=1; }
[ "$(grep -c '^| Layer' "$tmp/w.out")" -eq 10 ] || { echo "FAIL background writer: $(grep -c '^| Layer' "$tmp/w.out") tables, want 10"; fail=1; }
[ "$(grep -c '^$' "$tmp/w.out")" -eq 9 ] || { echo "FAIL background writer: blank lines"; fail=1; }
diff <("$R" -q "$tmp/w.ndjson") <(tail -n 5 "$tmp/w.out") || { echo "FAIL last followed table differs"; fail=1; }
[ "$(grep -c '^nmoe-routerstat: step [0-9]* of run healthy-64x6$' "$tmp/w.err")" -eq 10 ] || { echo "FAIL captions"; cat "$tmp/w.err"; fail=1; }
[ $fail -eq 0 ] && echo "ok   background writer: 10 tables"

# 3. --until-step on a stream that never ends: stops after step 50, long before the writer.
: >"$tmp/u.ndjson"
"$G" --steps 400 --delay-ms 50 --no-stop >>"$tmp/u.ndjson" & wpid=$!; pids+=($wpid)
timeout 20 "$R" --follow --until-step 50 --json "$tmp/u.ndjson" >"$tmp/u.out" 2>"$tmp/u.err"; rc=$?
kill -0 $wpid 2>/dev/null && still=1 || still=0
kill $wpid 2>/dev/null
[ $rc -eq 0 ] && [ $still -eq 1 ] || { echo "FAIL --until-step: exit $rc, writer still running $still"; fail=1; }
[ "$(wc -l <"$tmp/u.out")" -eq 15 ] && tail -n 1 "$tmp/u.out" | grep -q '"step":50,"layer":3,' \
    && echo "ok   --until-step 50 --json: 15 objects, then stops" || { echo "FAIL --until-step output"; cat "$tmp/u.out"; fail=1; }

# 4. --step N with --follow waits for step N, prints it alone and stops.
: >"$tmp/n.ndjson"
"$G" --steps 400 --delay-ms 50 --no-stop >>"$tmp/n.ndjson" & wpid=$!; pids+=($wpid)
timeout 20 "$R" -q --follow --step 30 "$tmp/n.ndjson" >"$tmp/n.out"; rc=$?
kill $wpid 2>/dev/null
[ $rc -eq 0 ] && [ "$(grep -c '^| Layer' "$tmp/n.out")" -eq 1 ] && diff -q <("$R" -q --step 30 "$tmp/n.ndjson") "$tmp/n.out" >/dev/null \
    && echo "ok   --follow --step 30" || { echo "FAIL --follow --step 30 (exit $rc)"; cat "$tmp/n.out"; fail=1; }

# 5. A pipe: reading ends when the writer closes it (no stop line needed).
timeout 20 bash -c "'$G' --steps 60 --delay-ms 20 --no-stop | '$R' -q --follow --over-time -" >"$tmp/p.out"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/p.out")" -eq 19 ] && head -n 1 "$tmp/p.out" | grep -q '^step' \
    && echo "ok   pipe: over-time rows as they come, ends at EOF" || { echo "FAIL pipe (exit $rc)"; cat "$tmp/p.out"; fail=1; }

# 6. A writer killed mid-line on a pipe: the truncated last line is reported with its number.
{ head -n 3 $D/malformed.ndjson; printf '{"kind":"router","step":20,"layer":1,"expe'; } >"$tmp/t.ndjson"
timeout 20 bash -c "cat '$tmp/t.ndjson' | '$R' --follow -" >"$tmp/t.out" 2>"$tmp/t.err"; rc=$?
[ $rc -eq 0 ] && grep -qx 'nmoe-routerstat: warning: -:4: truncated last line (no newline) (line skipped)' "$tmp/t.err" \
    && echo "ok   truncated last line on a pipe" || { echo "FAIL truncated pipe (exit $rc)"; cat "$tmp/t.err"; fail=1; }
timeout 20 bash -c "cat '$tmp/t.ndjson' | '$R' --follow --strict -" >/dev/null 2>"$tmp/t.err"; rc=$?
[ $rc -eq 1 ] && grep -qx 'nmoe-routerstat: -:4: truncated last line (no newline)' "$tmp/t.err" \
    && echo "ok   truncated last line on a pipe, --strict" || { echo "FAIL truncated pipe --strict (exit $rc)"; cat "$tmp/t.err"; fail=1; }

# 7. A file whose writer died mid-line and was resumed: the resumed writer's first line
#    (its meta line) completes the torn one; that line is reported by number and
#    skipped, and the lines after it, up to the stop line, are read as usual.
cp "$tmp/t.ndjson" "$tmp/r.ndjson"
"$R" --follow "$tmp/r.ndjson" >"$tmp/r.out" 2>"$tmp/r.err" & pid=$!; pids+=($pid)
wait_for 1 "$tmp/r.out" || { echo "FAIL torn file: no table for step 10"; fail=1; }
sleep 0.3
{ head -n 1 $D/malformed.ndjson; sed -n '16,17p' $D/malformed.ndjson
  printf '{"kind":"stop","run":"bad-lines","step":20,"reason":"finished","status":0}\n'; } >>"$tmp/r.ndjson"
wait_exit $pid
[ "$(grep -c '^| Layer' "$tmp/r.out")" -eq 2 ] || { echo "FAIL torn file: want tables for steps 10 and 20"; cat "$tmp/r.out"; fail=1; }
[ $rc -eq 0 ] && grep -qxF "nmoe-routerstat: warning: $tmp/r.ndjson:4: not valid JSON (line skipped)" "$tmp/r.err" \
    && echo "ok   torn line in a followed file" || { echo "FAIL torn line in a followed file (exit $rc)"; cat "$tmp/r.err"; fail=1; }
# 8. Waiting for data does not spin: 2 s idle on a regular file costs almost no CPU time.
cp $D/malformed.ndjson "$tmp/idle.ndjson"
sed -i '$d' "$tmp/idle.ndjson"   # drop the truncated last line
"$R" -q --follow "$tmp/idle.ndjson" >/dev/null & pid=$!; pids+=($pid)
sleep 2
if [ -r /proc/$pid/stat ]; then
    ticks=$(awk '{ print $14 + $15 }' /proc/$pid/stat)   # utime + stime, in clock ticks
    hz=$(getconf CLK_TCK)
    [ "$ticks" -le $(( hz / 5 )) ] && echo "ok   idle follow used $ticks ticks of CPU in 2 s" \
        || { echo "FAIL idle follow used $ticks ticks of CPU in 2 s (spinning?)"; fail=1; }
else
    echo "FAIL follow process exited early"; fail=1
fi
kill $pid 2>/dev/null
exit $fail
