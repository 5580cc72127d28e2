#!/usr/bin/env bash
# A rank that fails ends the whole data-parallel job within seconds, with a non-zero
# status and a message, never a hang: (A) a rank that dies on an error (here rank 1,
# launched with another config than rank 0's, which the ranks' fingerprint check
# refuses) takes the job down through MPI_Abort with its own status and a message
# naming its rank; (B) a rank killed with SIGKILL in the middle of a run.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
sed 's/^lr_dense = .*/lr_dense = 1e-3/' tiny.toml >other.toml

# A: MPMD launch, rank 0 on tiny.toml, rank 1 on other.toml.
rc=0
start=$(date +%s)
timeout 60 mpirun --oversubscribe --allow-run-as-root -np 1 nmoe-train -q tiny.toml : -np 1 nmoe-train -q other.toml \
    >a.out 2>a.err || rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat a.err >&2; fail "A: exited $rc (124: a hang)"; }
[ $rc -eq 1 ] || { cat a.err >&2; fail "A: exited $rc, expected 1 (the dying rank's status)"; }
grep -q "nmoe-train (rank 1): other.toml: config fingerprint [0-9a-f]*, but rank 0's is [0-9a-f]*: every rank of a run needs the same config" a.err \
    || { cat a.err >&2; fail "A: no message from rank 1"; }
[ $secs -lt 30 ] || fail "A: took ${secs}s to stop"

# B: kill -9 one rank of a long run once it has logged a few steps.
mpi 2 -q tiny.toml --set steps=1000000 --set checkpoint_every=0 --set validation_every=0 --set out_dir=out_b \
    >b.ndjson 2>b.err &
job=$!
for _ in $(seq 300); do
    [ "$(grep -c '"kind":"train"' b.ndjson 2>/dev/null)" -ge 3 ] && break
    sleep 0.1
done
[ "$(grep -c '"kind":"train"' b.ndjson)" -ge 3 ] || { kill $job; fail "B: the run did not start"; }
# This job's ranks only: the nmoe-train children of the mpirun under it.
launcher=$(pgrep -x mpirun -P "$(pgrep -x timeout -P $job)" || true)
victim=$(pgrep -n -x nmoe-train -P "${launcher:-0}" || true)
[ -n "$victim" ] || { kill $job; fail "B: no rank process found"; }
start=$(date +%s)
kill -9 "$victim"
rc=0
wait $job || rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat b.err >&2; fail "B: exited $rc (124: a hang)"; }
grep -q "exited on signal 9" b.err || { cat b.err >&2; fail "B: mpirun did not say a rank was killed"; }
[ $secs -lt 30 ] || fail "B: took ${secs}s to stop"
echo "train_mpi_rank_dies: ok"
