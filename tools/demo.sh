#!/usr/bin/env bash
# tools/demo.sh — build impasto (if needed) and stylize a photo from Debian's opencv-doc samples with Van Gogh's
# Starry Night, on the embedded random-feature VGG-19, on the GPU when one is present, else the CPU.
# Writes out/demo.png (and out/demo.log.jsonl). Usage: tools/demo.sh [extra `impasto stylize` options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
data=/usr/share/doc/opencv-doc/examples/data
if [[ ! -f "$data/starry_night.jpg" ]]; then
  echo "demo: $data/starry_night.jpg is missing; run tools/setup.sh (it installs opencv-doc)" >&2
  exit 1
fi
if [[ ! -x build/tools/impasto ]]; then
  cmake --preset default >/dev/null && cmake --build --preset default --target impasto
fi
mkdir -p out
build/tools/impasto stylize --content "$data/fruits.jpg" --style "$data/starry_night.jpg" \
  --size 224 --iterations 80 --print-every 10 --device auto \
  --out out/demo.png --log out/demo.log.jsonl --force "$@"
