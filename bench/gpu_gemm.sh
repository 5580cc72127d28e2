#!/usr/bin/env bash
# GPU GEMM benchmark: nmoe's cuBLASLt BF16 GEMM (4096^3) next to PyTorch's torch.matmul
# on the same device in the same run. Needs `make CUDA=1` and a GPU; PyTorch is the peer
# when importable (skipped with a note otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GPU_TEST_BIN:-build/cuda/gpu/test_cuda_gemm}
[ -x "$bin" ] || { echo "gpu_gemm: $bin missing: run make CUDA=1 first" >&2; exit 1; }
ours=$("$bin" | tee /dev/stderr | sed -n 's/^gemm 4096^3 bf16: .* ms, \([0-9.]*\) TFLOP\/s$/\1/p')
peer=""
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    peer=$("$py" - <<'PY'
import torch
n = 4096
a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) - 0.5
times = []
for i in range(21):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); c = a @ b; e.record(); torch.cuda.synchronize()
    if i: times.append(s.elapsed_time(e))
times.sort()
ms = times[len(times) // 2]
print(f"{2 * n**3 / (ms * 1e-3) / 1e12:.0f}", torch.__version__)
PY
)
    break
  fi
done
if [ -n "$peer" ]; then
  set -- $peer
  echo "bench gpu_gemm 4096^3 bf16: nmoe ${ours} TFLOP/s, torch $2 ${1} TFLOP/s, ratio $(awk -v a="$ours" -v b="$1" 'BEGIN{printf "%.2f", a/b}')"
else
  echo "bench gpu_gemm 4096^3 bf16: nmoe ${ours} TFLOP/s (no CUDA PyTorch here to compare with)"
fi
