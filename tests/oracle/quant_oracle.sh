#!/usr/bin/env bash
# The precision formats (libcommon/quant) and the MoE layer's emulated expert precision
# (kernels/cpu/moe.c) against PyTorch (tests/oracle/quant_reference.py): every format's
# quantize-dequantize of random and edge-case matrices, along both axes, bit for bit; and
# the straight-through gradients of small MoE layers with fp8_e4m3, nvfp4, mxfp4 (with a
# bf16 router) and mxfp8 experts against torch autograd of the same Q() with STE, to fp32
# precision (relative 1e-5). Also: a quantized layer's files are bit-identical with 1 and
# 2 threads. Exchange: tests/tools/quant_dump and moe_dump write .npy files.
set -euo pipefail
cd "$NMOE_TOP"
py=/usr/bin/python3
"$py" -c 'import torch, numpy' 2>/dev/null || { echo "skip: python3-torch or python3-numpy is not importable by $py"; exit 77; }
for t in quant_dump moe_dump; do
    [ -x build/testtools/$t ] || { echo "build/testtools/$t missing: run make unit"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build/testtools/quant_dump "$tmp/qdq" 1
"$py" tests/oracle/quant_reference.py qdq "$tmp/qdq"

dump=build/testtools/moe_dump
OMP_NUM_THREADS=2 "$dump" "$tmp/fp8_e4m3" tokens=256 dim=64 experts=16 topk=4 inter=48 precision=fp8_e4m3 seed=11
# nvfp4 with dims that are not multiples of its 16-blocks, drops and the aux loss
OMP_NUM_THREADS=2 "$dump" "$tmp/nvfp4" tokens=256 dim=72 experts=8 topk=2 inter=40 precision=nvfp4 \
    capacity=1.0 alpha=0.01 seq_len=64 seed=12
OMP_NUM_THREADS=2 "$dump" "$tmp/mxfp4" tokens=192 dim=64 experts=8 topk=2 inter=48 precision=mxfp4 router=bf16 \
    score=softmax gain=0.5 seed=13
OMP_NUM_THREADS=2 "$dump" "$tmp/mxfp8" tokens=128 dim=40 experts=4 topk=2 inter=33 precision=mxfp8 seed=14
big="tokens=1024 dim=96 experts=8 topk=2 inter=80 precision=nvfp4 router=bf16 seed=15"
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$dump" "$tmp/big1" $big
# shellcheck disable=SC2086
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$dump" "$tmp/big2" $big
for f in "$tmp"/big1/*; do
    cmp -s "$f" "$tmp/big2/${f##*/}" || { echo "moe_dump nvfp4: ${f##*/} differs between 1 and 2 threads"; exit 1; }
done
echo "threads: the nvfp4 layer's files are bit-identical with 1 and 2 threads"
"$py" tests/oracle/quant_reference.py moe "$tmp/fp8_e4m3" "$tmp/nvfp4" "$tmp/mxfp4" "$tmp/mxfp8" "$tmp/big2"
