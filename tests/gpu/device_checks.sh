#!/usr/bin/env bash
# Every GPU check and benchmark in one run, for a lent GPU machine. The binaries are
# built on the CPU machine (make CUDA=1) and travel in build/gpu-bundle with the few
# shared libraries the device machine may lack.
set -uo pipefail
cd "$(dirname "$0")/../.."
export LD_LIBRARY_PATH="$PWD/build/gpu-bundle/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L || true
rc=0
for t in build/gpu-bundle/test_*; do echo "== $t"; "$t" || rc=1; done
GPU_TEST_BIN=build/gpu-bundle/test_cuda_gemm bash bench/gpu_gemm.sh || rc=1
exit $rc
