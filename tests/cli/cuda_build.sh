#!/usr/bin/env bash
# The CUDA backend compiles and links (nvcc, sm_90, cuBLASLt, NCCL) even on a machine
# without a GPU, so the CUDA build never rots; its GPU test then skips cleanly (77).
set -euo pipefail
cd "$NMOE_TOP"
nvcc=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc
if [ ! -x "$nvcc" ]; then echo "no CUDA toolkit at ${CUDA_HOME:-/usr/local/cuda}"; exit 77; fi
make -s CUDA=1 BIN=build/cuda/bin all
ls build/cuda/gpu/test_cuda_gemm >/dev/null
# Programs built with CUDA still link and run their CPU path.
for p in build/cuda/bin/nmoe-*; do [ -e "$p" ] && "$p" --version >/dev/null; done
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    build/cuda/gpu/test_cuda_gemm
else
    set +e
    build/cuda/gpu/test_cuda_gemm; rc=$?
    [ $rc -eq 77 ] || { echo "expected skip status 77 without a GPU, got $rc"; exit 1; }
    # backend = "cuda" on a machine without a GPU: a runtime failure (exit 1) naming it,
    # never a quiet CPU run.
    printf '[train]\nbackend = "cuda"\n' >"${TMPDIR:-/tmp}/nmoe_cuda_backend.toml"
    build/cuda/bin/nmoe-train -q "${TMPDIR:-/tmp}/nmoe_cuda_backend.toml" >/dev/null 2>"${TMPDIR:-/tmp}/nmoe_cuda_backend.err"; rc=$?
    set -e
    [ $rc -eq 1 ] && grep -q 'no CUDA device' "${TMPDIR:-/tmp}/nmoe_cuda_backend.err" ||
        { echo "backend cuda without a GPU: exit $rc: $(cat "${TMPDIR:-/tmp}/nmoe_cuda_backend.err")"; exit 1; }
fi
