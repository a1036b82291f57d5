#!/usr/bin/env bash
# perf/prepare_device.sh — builds, on this (GPU-less) machine, what perf/gpu_check.sh runs on the lent GPU
# machine, and packs it into .device/impasto-device.tar.gz (git-ignored; named in the device call's carry).
#
# The GPU machine has nvcc, cuDNN/cuBLAS (pip, with PyTorch) and glibc, but not Debian's HDF5, OpenBLAS, stb,
# doctest or CLI11, so impasto is built here (CUDA on, sm_90) and the bundle holds the binaries plus every
# shared library they need that the GPU machine lacks (ldd; glibc, cuBLAS and cuDNN are left out
# and come from that machine: cuDNN from PyTorch's pip package, matched on the major version at start-up).
#
#   bash perf/prepare_device.sh            # builds build-device/ (the CUDA sources: 5–10 min on 2 cores)
#   BUILD_DIR=/path/to/build bash perf/prepare_device.sh
#
# Bundle layout: bin/ (bench, impasto, gpu_test_*), lib/ (shared libraries), MANIFEST (what was built, from
# which commit, against which CUDA and cuDNN).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-device}
cuda=${CUDA_HOME:-/usr/local/cuda}
out_dir=$root/.device
bundle=$out_dir/impasto-device.tar.gz
export PATH=$cuda/bin:$PATH

# Without OpenCV and MPI: the device check computes no optical flow and runs one rank. OpenCV's dependencies
# (GDAL, FFmpeg, ...) and Open MPI's plugins would take the bundle far past the 64 MiB a device call may carry.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIMPASTO_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DIMPASTO_BUILD_TESTS=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON -DIMPASTO_MPI=OFF
# The GPU test executables are whatever tests/gpu/test_*.cpp holds today.
mapfile -t gpu_tests < <(ninja -C "$build" -t targets all | sed -n 's/^\(gpu_test_[A-Za-z0-9_]*\): phony$/\1/p')
ninja -C "$build" bench impasto "${gpu_tests[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp "$build/perf/bench" "$build/tools/impasto" "$stage/bin/"
for t in "${gpu_tests[@]}"; do cp "$build/tests/$t" "$stage/bin/"; done

# Libraries the GPU machine has (or must provide itself): glibc (it must be >= this machine's 2.36) and the
# CUDA math libraries (cuBLAS/cuBLASLt are 580 MB; cuDNN comes from PyTorch's pip package there). GCC 12's
# libstdc++ and libgcc_s travel, in case the machine's are older.
skip='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libcublas|libcublasLt|libcudnn[a-z_]*|libcuda)\.so'
for b in "$stage"/bin/*; do
  ldd "$b" | awk '/=> \//{print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ $name =~ $skip ]]; then continue; fi
  cp -L "$path" "$stage/lib/$name"
done

# The images the end-to-end and high-resolution steps of gpu_check.sh stylize (the device has no opencv-doc).
mkdir -p "$stage/img"
for name in baboon.jpg building.jpg starry_night.jpg; do
  cp /usr/share/doc/opencv-doc/examples/data/$name "$stage/img/" || { echo "prepare_device: $name missing (apt install opencv-doc)" >&2; exit 1; }
done

cudnn_header=$(grep -h -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$cuda/include/cudnn_version.h" | awk '{print $3}' | paste -sd.)
{
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  echo "source $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown) ($root)"
  echo "nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), CUDA architectures 90, cuDNN headers $cudnn_header"
  echo "bin: $(cd "$stage/bin" && ls | paste -sd' ')"
  echo "lib: $(cd "$stage/lib" && ls | paste -sd' ')"
} > "$stage/MANIFEST"

mkdir -p "$out_dir"
tar -czf "$bundle.tmp" -C "$stage" .
# The device call carries the whole working tree (the repo, about 5 MiB, plus this) in 64 MiB.
size_mib=$(( $(stat -c %s "$bundle.tmp") >> 20 ))
if ((size_mib > 56)); then
  rm -f "$bundle.tmp"
  echo "prepare_device: the bundle is ${size_mib} MiB, over the 56 MiB that fit a device call beside the repo" >&2
  exit 1
fi
mv "$bundle.tmp" "$bundle"
cat "$stage/MANIFEST"
echo "wrote $bundle ($(du -h "$bundle" | cut -f1)); device call: run(command=\"bash perf/gpu_check.sh\", carry=[\".device\"], timeout_s=480)"
