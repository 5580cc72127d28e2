#!/usr/bin/env bash
# SIGTERM to the ranks in the middle of a data-parallel run (as a batch scheduler sends
# it; see nmoe-train(1) on mpirun's own handling of SIGINT): every rank stops at the same
# step, rank 0 writes that step's checkpoint and a stop line with status 130, the job
# ends within seconds, and the checkpoint resumes into what one process that never
# stopped writes. One rank signalled alone must stop the others at the same step too.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
long=(--set steps=1000000 --set checkpoint_every=0 --set validation_every=0 --set log_every=1)
mpi 2 -q tiny.toml "${long[@]}" --set out_dir=out >a.ndjson 2>a.err &
job=$!
for _ in $(seq 300); do
    [ "$(grep -c '"kind":"train"' a.ndjson 2>/dev/null)" -ge 3 ] && break
    sleep 0.1
done
launcher=$(pgrep -x mpirun -P "$(pgrep -x timeout -P $job)" || true)
[ -n "$launcher" ] || { kill $job; fail "no mpirun found"; }
ranks=$(pgrep -x nmoe-train -P "$launcher" | tr '\n' ' ')
[ "$(wc -w <<<"$ranks")" = 2 ] || { kill $job; fail "expected 2 ranks under mpirun, found: $ranks"; }
start=$(date +%s)
# shellcheck disable=SC2086
kill -TERM ${ranks%% *} # one rank: the others must follow it at the same step
rc=0
wait $job || rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat a.err >&2; fail "exited $rc (0: not interrupted; 124: a hang)"; }
[ $secs -lt 30 ] || fail "took ${secs}s to stop"
tail -n 1 a.ndjson | grep_all '"kind":"stop".*"reason":"interrupted by SIGTERM","status":130' \
    || { tail -n 2 a.ndjson >&2; cat a.err >&2; fail "no stop line with status 130"; }
k=$(tail -n 1 a.ndjson | sed 's/.*"step":\([0-9]*\).*/\1/')
[ "$(cat out/latest)" = "$(printf 'step-%08d' "$k")" ] || fail "latest is not the checkpoint of step $k"
[ "$(grep -c '"kind":"checkpoint"' a.ndjson)" = 1 ] || fail "expected one checkpoint line (rank 0's)"

# The checkpoint continues (2 ranks, 3 more steps) as one uninterrupted process runs.
to=$((k + 3))
short=(--set steps=$to --set checkpoint_every=0 --set validation_every=0 --set log_every=1)
nmoe-train -q tiny.toml "${short[@]}" --set out_dir=out_one >one.ndjson
mpi 2 -q tiny.toml "${short[@]}" --set out_dir=out --resume out >b.ndjson
diff <(after_step "$k" one.ndjson | norm_paths) <(after_step "$k" b.ndjson | norm_paths) \
    || fail "resumed after the interrupt: steps after $k differ"
echo "train_mpi_signal: ok"
