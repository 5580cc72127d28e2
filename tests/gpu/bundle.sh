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
# The Open MPI runtime test_nccl_dist starts (a device machine may have none): its
# components and help texts live in its install tree, which device_checks.sh relocates
# with OPAL_PREFIX and runs as an isolated singleton (no mpirun, no daemon). The
# components' own libraries (UCX, libfabric, verbs, PSM) stay behind: a singleton needs
# none, and Open MPI skips a component that does not load. libnccl (over 200 MB) does
# not travel either: device_checks.sh finds the device's own.
mpi=build/gpu-bundle/mpi
mkdir -p $mpi/lib/x86_64-linux-gnu $mpi/share
cp -a /usr/lib/x86_64-linux-gnu/openmpi $mpi/lib/x86_64-linux-gnu/
rm -rf $mpi/lib/x86_64-linux-gnu/openmpi/include
cp -a /usr/share/openmpi $mpi/share/
du -sh build/gpu-bundle
ls -la build/gpu-bundle build/gpu-bundle/lib
