#!/usr/bin/env bash
# perf/video_ranks.sh — the parallel-in-time video schedule's speed-up and quality on this machine (issue 14):
# the same clip and passes by one process with one BLAS thread, then by `mpirun -np K` ranks with one thread
# each; prints wall time, speed-up, the clip's warping error and its ratio to the one-rank run, and the worst
# chunk-border pair against the interior mean. Needs a build with MPI and OpenCV (for vtest.avi and DIS flow).
#
#   bash perf/video_ranks.sh [--ranks "2 3"] [--frames 24] [--passes 3] [--size 64] [--impasto PATH]
#                            [--out DIR] [-- further impasto video options]
#
# Defaults: vtest.avi's first 24 frames at 64 px, 3 passes, 40 iterations for the first frame and 20 for the
# others, the VGG-19 cut after conv3_1 (as ctest mpi.video) — a CPU-sized run; on a GPU machine pass
# --size and --device cuda after `--`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=/usr/share/doc/opencv-doc/examples/data
ranks="2 3" frames=24 passes=3 size=64 impasto=$root/build/tools/impasto out=/tmp/impasto-video-ranks
while (($#)); do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --impasto) impasto=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "video_ranks: unknown option $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
args=(video --input "$data/vtest.avi" --frames "$frames" --size "$size" --style "$data/starry_night.jpg"
      --iterations 40 --frame-iterations 20 --passes "$passes" --style-layers relu1_1,relu2_1,relu3_1
      --content-layers relu3_1 --device cpu --no-video --quiet --force "$@")

calc() { /usr/bin/python3 -c "print($1)"; }
# summary OUT CHUNKS: "seconds flicker worst_border/interior" from OUT's log.
summary() {
  /usr/bin/python3 - "$1/impasto-video.log" "$2" <<'EOF'
import json, sys
log, k = sys.argv[1], int(sys.argv[2])
s = [j for j in map(json.loads, filter(str.strip, open(log))) if j.get("summary")][-1]
e = s["flicker_per_frame"]
n = len(e) + 1
starts = [c * (n // k) + min(c, n % k) for c in range(1, k)]
interior = [x for t, x in enumerate(e, 1) if t not in starts]
worst = max((e[b - 1] for b in starts), default=0) / (sum(interior) / len(interior))
print(s["seconds"], s["flicker"], worst)
EOF
}

rm -rf "$out/r1"
start=$(date +%s.%N)
"$impasto" "${args[@]}" --out "$out/r1"
wall1=$(calc "$(date +%s.%N) - $start")
read -r _ flicker1 _ < <(summary "$out/r1" 1)
printf '| ranks | wall s | speed-up | flicker | vs 1 rank | worst border / interior |\n|---|---|---|---|---|---|\n'
printf '| 1 (no mpirun) | %.1f | 1.00 | %.3g | 1.00 | - |\n' "$wall1" "$flicker1"
for k in $ranks; do
  rm -rf "$out/r$k"
  start=$(date +%s.%N)
  mpirun --oversubscribe -np "$k" "$impasto" "${args[@]}" --out "$out/r$k"
  wall=$(calc "$(date +%s.%N) - $start")
  read -r _ flicker worst < <(summary "$out/r$k" "$k")
  printf '| %d | %.1f | %.2f | %.3g | %.2f | %.2f |\n' "$k" "$wall" "$(calc "$wall1 / $wall")" "$flicker" \
    "$(calc "$flicker / $flicker1")" "$worst"
done
