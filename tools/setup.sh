#!/usr/bin/env bash
# tools/setup.sh — install what impasto needs to build and test on Debian 12 (as root, or as a user with sudo:
# the script calls sudo itself when not root).
# The CUDA Toolkit and cuDNN are optional and not installed here: with nvcc on PATH (or at
# /usr/local/cuda) the CUDA backend is built too, without them the CPU-only engine is.
# `--dev` adds what a developer uses to regenerate test fixtures (Debian's PyTorch, h5py and Pillow).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libhdf5-dev libopenblas-dev libcli11-dev nlohmann-json3-dev libstb-dev libpng-dev libjpeg-dev doctest-dev
  python3  # perf/'s table scripts and their test (standard library only)
  python3-matplotlib  # impasto.plot / tools/plot_logs.py: loss curves from --log files (README, the figures page)
  python3-dev python3-pip python3-numpy python3-pytest python3-scipy  # the Python extension (python/), its tests (python.api)
  opencv-doc  # the sample images and videos the demo and the figure scripts use
  libopencv-dev  # optional at build time: optical flow and video decoding for `impasto video`
  libopenmpi-dev openmpi-bin  # optional at build time: `mpirun -np K impasto video|batch` across ranks (README "Many GPUs")
  clang libclang-rt-dev  # the fuzz preset: clang++ with libFuzzer, ASan and UBSan (README "Fuzzing")
)
if [[ "${1:-}" == "--dev" ]]; then packages+=(python3-torch python3-h5py python3-numpy python3-pil); fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nanobind (and scikit-build-core, for `pip install --no-build-isolation .`) have no Debian 12 package: from PyPI,
# for Debian's /usr/bin/python3, the interpreter the CMake presets name (Python_EXECUTABLE). Without them (no
# network) the build skips the Python extension and says so.
if ! /usr/bin/python3 -c 'import nanobind, scikit_build_core' 2>/dev/null; then
  echo "setup: installing nanobind and scikit-build-core for /usr/bin/python3 (pip)"
  $sudo /usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore "nanobind>=2.0" \
    "scikit-build-core>=0.10" ||
    echo "setup: could not install nanobind from PyPI: the build will skip the Python extension (python/)"
fi
if [[ -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null; then
  echo "setup: nvcc found at /usr/local/cuda/bin; add it to PATH to build the CUDA backend"
fi
echo "setup: done"
