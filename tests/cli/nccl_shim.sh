#!/usr/bin/env bash
# dist_nccl's bookkeeping without a GPU: kernels/cuda/dist_nccl.cu and test_nccl_dist,
# built with NCCL and the CUDA runtime replaced by an MPI double on host memory
# (tests/gpu/nccl_shim), under mpirun -np 1, 2, 3 and 4: every collective (allreduce sum
# and average, allgatherv separate and in place with an empty part, the uneven
# all-to-all-v) must match MPI's on host copies. This checks the module's offsets,
# counts and groups and the test's own checks, not NCCL or a GPU (device_checks.sh).
# Then a rank fails inside a collective and the job must end, not hang.
set -euo pipefail
cd "$NMOE_TOP"
# CUDA=0 even under `make CUDA=1 check`: the double replaces CUDA, it does not sit beside it.
make -s CUDA=0 build/nccl-shim/test_nccl_dist
for np in 1 2 3 4; do
    out=$(timeout 120 mpirun --oversubscribe --allow-run-as-root -np $np build/nccl-shim/test_nccl_dist 2>&1) ||
        { echo "-np $np: exit $?: $out"; exit 1; }
    for c in allreduce_sum allreduce_avg allgatherv allgatherv_inplace alltoallv; do
        grep -Eq "^$c +[0-9]+  pass" <<<"$out" || { echo "-np $np: $c did not pass: $out"; exit 1; }
    done
done
# A rank failing inside a collective (rank 1's ncclSend in the all-to-all-v, while the
# others wait for its data): the job ends (no timeout) with the call and NCCL's detail
# named, by dist_nccl's MPI_Abort rather than mpirun noticing an exit.
set +e
NMOE_SHIM_FAIL_SEND_RANK=1 timeout 60 mpirun --oversubscribe --allow-run-as-root -x NMOE_SHIM_FAIL_SEND_RANK -np 3 \
    build/nccl-shim/test_nccl_dist >/dev/null 2>"${TMPDIR:-/tmp}/nmoe_nccl_shim.err"; rc=$?
set -e
err=$(cat "${TMPDIR:-/tmp}/nmoe_nccl_shim.err")
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { echo "failing rank: exit $rc (124: it hung): $err"; exit 1; }
grep -q '^test_nccl_dist: rank 1: ncclSend(send + s_at, sc, ncclFloat, p, d->nccl, d->stream) failed: invalid usage: nccl_shim: injected failure' \
    <<<"$err" || { echo "failing rank: no message naming the call: $err"; exit 1; }
! grep -Eq 'returned a non-zero exit code|exited with non-zero status' <<<"$err" ||
    { echo "failing rank: the job did not end by MPI_Abort: $err"; exit 1; }
echo "dist_nccl over the MPI double: -np 1 2 3 4 pass; a failing rank aborts the job"
