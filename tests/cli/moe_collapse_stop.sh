#!/usr/bin/env bash
# stop_on_collapse: a run whose routing collapses stops with exit status 5, a stderr
# message and a `stop` line naming the block and its values, after the router line of
# the window that showed it, with a checkpoint of that step. Collapse is forced the
# classic way: softmax top-1 routing with a high router learning rate and no balancing
# (a few experts take every token within ~30 steps). The same run without the option
# trains to the end, and the option does not trip on a healthy run (moe.toml as it is:
# sigmoid top-2 with aux-loss-free balancing).
. "$(dirname "$0")/moe_common.bash"
make_shakespeare
write_moe_config
collapse=(--set router_score=softmax --set n_activated_experts=1 --set lr_router=0.3 --set router_bias_update_rate=0
          --set log_every=5 --set steps=150)

rc=0
OMP_NUM_THREADS=1 nmoe-train -q moe.toml "${collapse[@]}" --set stop_on_collapse=true --set out_dir=out_c \
    >c.ndjson 2>c.err || rc=$?
[ $rc = 5 ] || { cat c.err; fail "collapsed run exited $rc, expected 5"; }
grep -qE '^nmoe-train: collapsed: layer 1 active [0-9]+/8 cv [0-9]+% at step [0-9]+; checkpoint out_c/step-' c.err \
    || fail "stderr: $(cat c.err)"
stop=$(tail -n 1 c.ndjson)
grep -qE '"kind":"stop".*"reason":"collapsed: layer 1 active [12]/8 cv [0-9]+%","status":5' <<<"$stop" || fail "stop line: $stop"
step=$(sed -E 's/.*"step":([0-9]+).*/\1/' <<<"$stop")
[ "$step" -lt 150 ] && [ $((step % 5)) = 0 ] || fail "stopped at step $step: not at a log point before the end"
# The router line of that window is in the stream, and routerstat sees the collapse too.
last_router=$(grep '"kind":"router"' c.ndjson | tail -n 1)
grep -q "\"step\":$step," <<<"$last_router" || fail "no router line at the stop step $step"
nmoe-routerstat -q --require 'active=all' c.ndjson >/dev/null 2>&1 && fail "routerstat's gate passes a collapsed window"
[ "$(cat out_c/latest)" = "$(printf 'step-%08d' "$step")" ] || fail "latest is $(cat out_c/latest), not the stop step $step"
echo "stopped: $(sed -E 's/.*"reason":"([^"]*)".*/\1/' <<<"$stop") at step $step"

# Without stop_on_collapse the same run goes on to the end; a healthy run does not trip.
OMP_NUM_THREADS=1 nmoe-train -q moe.toml "${collapse[@]}" --set out_dir=out_n >n.ndjson || fail "run without stop_on_collapse failed"
tail -n 1 n.ndjson | grep_all '"step":150,"reason":"finished","status":0' || fail "run without the option: $(tail -n 1 n.ndjson)"
OMP_NUM_THREADS=1 nmoe-train -q moe.toml --set log_every=5 --set stop_on_collapse=true --set out_dir=out_b >b.ndjson \
    || fail "healthy run with stop_on_collapse exited $?"
echo "collapse stop: ok"
