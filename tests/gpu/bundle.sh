#!/usr/bin/env bash
# Build the GPU tests and gather them with the non-CUDA shared libraries they need
# into build/gpu-bundle, to carry to a GPU machine (see device_checks.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s CUDA=1 BIN=build/cuda/bin all
rm -rf build/gpu-bundle && mkdir -p build/gpu-bundle/lib
cp build/cuda/gpu/test_* build/gpu-bundle/
for lib in $(ldd build/gpu-bundle/test_* | awk '/=> \/(usr\/)?lib\/x86_64/ {print $3}' | sort -u); do
  case "$lib" in */libc.so*|*/libm.so*|*/libpthread*|*/libdl.so*|*/librt.so*|*/libstdc++*|*/libgcc_s*) ;; *) cp -L "$lib" build/gpu-bundle/lib/ ;; esac
done
ls -la build/gpu-bundle build/gpu-bundle/lib
