#!/usr/bin/env bash
# dist_nccl's bookkeeping without a GPU: kernels/cuda/dist_nccl.cu and test_nccl_dist,
# built with NCCL and the CUDA runtime replaced by an MPI double on host memory
# (tests/gpu/nccl_shim), under mpirun -np 1, 2, 3 and 4: every collective (allreduce sum
# and average, allgatherv separate and in place with an empty part, the uneven
# all-to-all-v) must match MPI's on host copies. This checks the module's offsets,
# counts and groups and the test's own checks, not NCCL or a GPU (device_checks.sh).
set -euo pipefail
cd "$NMOE_TOP"
make -s build/nccl-shim/test_nccl_dist
for np in 1 2 3 4; do
    out=$(timeout 120 mpirun --oversubscribe --allow-run-as-root -np $np build/nccl-shim/test_nccl_dist 2>&1) ||
        { echo "-np $np: exit $?: $out"; exit 1; }
    for c in allreduce_sum allreduce_avg allgatherv allgatherv_inplace alltoallv; do
        grep -Eq "^$c +[0-9]+  pass" <<<"$out" || { echo "-np $np: $c did not pass: $out"; exit 1; }
    done
done
echo "dist_nccl over the MPI double: -np 1 2 3 4 pass"
