#!/usr/bin/env bash
# perf/peer/check_same_objective.sh — proves that perf/bench and the PyTorch peer optimize the same objective:
# both start from the same image with the same weights (impasto's seeded random VGG-19, exported to HDF5),
# and their loss terms, gradient L1 norm and first losses must agree to 1e-4 relative (peer.py --compare-with).
# fp32 on both sides. Runs on the CPU here (Debian's python3-torch) and on the GPU in perf/gpu_check.sh.
#
#   perf/peer/check_same_objective.sh                      # CPU, binaries from build-perf/
#   DEVICE=cuda BENCH=… IMPASTO=… PYTHON=… perf/peer/check_same_objective.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=${BENCH:-$root/build-perf/perf/bench}
impasto=${IMPASTO:-$root/build-perf/tools/impasto}
python=${PYTHON:-python3}
device=${DEVICE:-cpu}
sizes=${SIZES:-64,48x40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$impasto" weights export "$work/vgg.h5" --seed 3
common=(--device "$device" --sizes "$sizes" --iterations 3 --warmup 0 --init mix --losses --precision fp32)
"$bench" "${common[@]}" --no-phases --weights "$work/vgg.h5" --json "$work/bench.json"
"$python" "$root/perf/peer/peer.py" "${common[@]}" --weights "$work/vgg.h5" --compare-with "$work/bench.json"
