#!/usr/bin/env bash
# Every GPU check and benchmark in one run, for a lent GPU machine. The binaries are
# built on the CPU machine (make CUDA=1) and travel in build/gpu-bundle with the few
# shared libraries the device machine may lack (tests/gpu/bundle.sh). Ends with a
# short table: one line per check.
set -uo pipefail
cd "$(dirname "$0")/../.."
export LD_LIBRARY_PATH="$PWD/build/gpu-bundle/lib:${LD_LIBRARY_PATH:-}"
# Open MPI, relocated from the bundle, as an isolated singleton (no mpirun, no daemon):
# test_nccl_dist runs as one rank on one GPU.
export OPAL_PREFIX="$PWD/build/gpu-bundle/mpi" OMPI_MCA_ess_singleton_isolated=1
nvidia-smi -L || true
# libnccl does not travel (too big): the build's rpath (/usr/local/cuda/lib64) has it
# where NCCL is installed with CUDA; else take the device's Python NCCL wheel.
deps=$(ldd build/gpu-bundle/test_cuda_gemm 2>&1)
case "$deps" in *"libnccl.so.2 => not found"*)
  nccl_dir=$(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
for root in site.getsitepackages() + [site.getusersitepackages()]:
    for f in sorted(glob.glob(os.path.join(root, "nvidia", "**", "libnccl.so.2"), recursive=True)):
        print(os.path.dirname(f)); sys.exit()
PY
  )
  if [ -n "$nccl_dir" ]; then echo "libnccl from $nccl_dir"; LD_LIBRARY_PATH="$nccl_dir:$LD_LIBRARY_PATH"
  else echo "libnccl.so.2 not found on this machine: the GPU tests cannot load"; fi ;;
esac
rc=0 names=() results=()
record() { names+=("$1"); results+=("$2"); }
for t in build/gpu-bundle/test_*; do
  echo "== $t"
  timeout 300 "$t"; s=$?
  case $s in 0) record "${t##*/}" pass ;; 77) record "${t##*/}" skip ;; 124) rc=1; record "${t##*/}" "FAIL (timed out)" ;;
    *) rc=1; record "${t##*/}" "FAIL (exit $s)" ;; esac
done
echo "== bench/gpu_gemm.sh"
if GPU_TEST_BIN=build/gpu-bundle/test_cuda_gemm bash bench/gpu_gemm.sh; then record "bench gpu_gemm" pass
else rc=1; record "bench gpu_gemm" FAIL; fi
echo "== summary (test_nccl_dist: one rank, one GPU; multi-GPU untested here)"
for i in "${!names[@]}"; do printf '%-22s %s\n' "${names[$i]}" "${results[$i]}"; done
exit $rc
