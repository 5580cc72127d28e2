#!/usr/bin/env bash
# target_loss stops a run at the first validation at or below it (not the one at step
# 0): exit 0, a checkpoint of that step, and a stop line saying so. Without it the run
# goes to `steps`.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train -q tiny.toml --set target_loss=100 >t.ndjson
last=$(tail -n 1 t.ndjson)
grep -q '"kind":"stop","run":"[0-9a-f]*","step":4,"reason":"target_loss reached: val loss [0-9.]* <= 100","status":0' <<<"$last" \
    || fail "stop line: $last"
[ "$(cat out/latest)" = step-00000004 ] || fail "latest is $(cat out/latest)"
[ "$(grep -c '"kind":"train"' t.ndjson)" = 4 ] || fail "trained past the target"
# A target never reached changes nothing: the run finishes all its steps.
rm -rf out
nmoe-train -q tiny.toml --set target_loss=0.001 >u.ndjson
tail -n 1 u.ndjson | grep_all '"step":12,"reason":"finished","status":0' || fail "did not finish: $(tail -n 1 u.ndjson)"
echo "target_loss: ok"
