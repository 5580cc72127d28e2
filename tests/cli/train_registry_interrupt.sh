#!/usr/bin/env bash
# A run stopped by SIGINT is recorded as interrupted (exit status 130) at the step its
# stop line names, with the checkpoint it wrote; resumed, the same row completes.
. "$(dirname "$0")/train_common.bash"
require_tools sqlite3
make_data
write_config
q() { sqlite3 -batch reg.db "$@"; }

nmoe-train -q tiny.toml --registry reg.db --set steps=10000000 --set checkpoint_every=0 --set validation_every=0 \
    --metrics m.ndjson &
pid=$!
for _ in $(seq 1 600); do
    grep -q '"kind":"train","run":"[0-9a-f]*","step":[3-9]' m.ndjson 2>/dev/null && break
    sleep 0.05
done
[ "$(q "select status, pid from runs")" = "running|$pid" ] || fail "while it runs: $(q 'select status, pid from runs')"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "exit status $rc, expected 130"
k=$(tail -n 1 m.ndjson | sed -E 's/.*"step":([0-9]+).*/\1/')
got=$(q "select status, exit_status, reason, steps, tokens, checkpoint like '%/out/' || printf('step-%08d', $k) from runs")
[ "$got" = "interrupted|130|interrupted by SIGINT|$k|$((k * 128))|1" ] || fail "interrupted row: $got (stopped at $k)"

nmoe-train -q tiny.toml --registry reg.db --set steps=$((k + 2)) --set checkpoint_every=0 --set validation_every=0 \
    --resume out >/dev/null
[ "$(q "select count(*), status, segments, steps from runs")" = "1|completed|2|$((k + 2))" ] \
    || fail "after the resume: $(q 'select count(*), status, segments, steps from runs')"
echo "registry interrupt: ok"
