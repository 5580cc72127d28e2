#!/usr/bin/env bash
# A non-finite loss stops the run with exit status 4 (NMOE_EXIT_DIVERGED), a `stop` line
# that says so, no checkpoint of the bad step, and `latest` still naming the last good
# checkpoint, which loads.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

expect_fail 4 "diverged: non-finite loss at step 2; the last good checkpoint is div/step-00000001" \
    nmoe-train tiny.toml --set lr_dense=1e30 --set checkpoint_every=1 --set out_dir=div
last=$(tail -n 1 cmd.out)
grep -q '"kind":"stop","run":"[0-9a-f]*","step":1,"reason":"diverged: non-finite loss at step 2","status":4,"loss":"NaN","checkpoint":"div/step-00000001"' <<<"$last" \
    || fail "stop line: $last"
[ "$(cat div/latest)" = step-00000001 ] || fail "latest is $(cat div/latest)"
[ ! -e div/step-00000002 ] || fail "a checkpoint of the diverged step was written"
# The kept checkpoint loads (and diverges again on the next step, with the same message).
expect_fail 4 "resuming from div/step-00000001 at step 1" \
    nmoe-train tiny.toml --set lr_dense=1e30 --set checkpoint_every=1 --set out_dir=div --resume div
echo "diverge: ok"
