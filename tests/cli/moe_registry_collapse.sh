#!/usr/bin/env bash
# A run stopped by stop_on_collapse is recorded in the run registry as collapsed, with
# exit status 5, the stop line's reason and step, and the checkpoint of that step.
# Collapse is forced as moe_collapse_stop.sh forces it.
. "$(dirname "$0")/moe_common.bash"
require_tools sqlite3
make_shakespeare
write_moe_config

rc=0
OMP_NUM_THREADS=1 nmoe-train -q moe.toml --set router_score=softmax --set n_activated_experts=1 --set lr_router=0.3 \
    --set router_bias_update_rate=0 --set log_every=5 --set steps=150 --set stop_on_collapse=true --set out_dir=out_c \
    --registry reg.db >c.ndjson || rc=$?
[ $rc = 5 ] || fail "collapsed run exited $rc, expected 5"
stop=$(tail -n 1 c.ndjson)
step=$(sed -E 's/.*"step":([0-9]+).*/\1/' <<<"$stop")
reason=$(sed -E 's/.*"reason":"([^"]*)".*/\1/' <<<"$stop")
got=$(sqlite3 reg.db "select status, exit_status, reason, steps, checkpoint like '%/out_c/' || printf('step-%08d', steps) from runs")
[ "$got" = "collapsed|5|$reason|$step|1" ] || fail "row: $got; stop line: $stop"
echo "registry collapse: ok ($reason at step $step)"
