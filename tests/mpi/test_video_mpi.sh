#!/usr/bin/env bash
# tests/mpi/test_video_mpi.sh — ctest mpi.video: `impasto video` across ranks with mpirun (issue 14), on the first
# 12 frames of opencv-doc's vtest.avi at 64 px, 3 passes, a VGG-19 cut after conv3_1 (seconds per run):
# - one rank under mpirun writes the same bits as the process without mpirun;
# - 2 and 3 ranks (the parallel-in-time schedule): the clip's warping error within 1.2× of the one-rank run's,
#   and each chunk border's pair within 1.5× of the interior pairs' mean (no seam);
# - the frames depend on the chunks, not the ranks: --chunks 2 in one process equals 2 ranks;
# - one rank killed (kill -9) ends the job (no hang); rerun with 3 ranks it keeps every finished frame and
#   ends with the frames of the uninterrupted 2-rank run;
# - a rank that fails (a corrupt flow file only it reads) ends the job with one line naming the rank and the
#   file, and nothing written.
# Usage: test_video_mpi.sh IMPASTO MPIEXEC
set -euo pipefail
impasto=$1
mpiexec=$2
data=/usr/share/doc/opencv-doc/examples/data
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[[ -f $data/vtest.avi ]] || fail "no $data/vtest.avi (Debian's opencv-doc: tools/setup.sh installs it)"

args=(video --input "$data/vtest.avi" --frames 12 --size 64 --style "$data/starry_night.jpg" --iterations 40
      --frame-iterations 20 --passes 3 --style-layers relu1_1,relu2_1,relu3_1 --content-layers relu3_1
      --device cpu --no-video --quiet)
ranks() {  # ranks N ARGS…: impasto under mpirun with N ranks
  local n=$1
  shift
  "$mpiexec" --oversubscribe -np "$n" "$impasto" "$@"
}
same_frames() {  # same_frames A B: every frame file of A (every pass) equals B's
  local f n=0
  for f in "$1"/frame_*.png "$1"/pass*/frame_*.png; do
    cmp -s "$f" "$2/${f#"$1"/}" || fail "${f#"$1"/} differs between $1 and $2"
    n=$((n + 1))
  done
  ((n == 36)) || fail "$1 holds $n frame files, not 36"
}
# flicker OUT CHUNKS: prints "clip border_max_ratio" from OUT's log summary, the chunks of CHUNKS equal parts.
flicker() {
  /usr/bin/python3 - "$1/impasto-video.log" "$2" <<'EOF'
import json, sys
log, k = sys.argv[1], int(sys.argv[2])
s = [j for j in map(json.loads, filter(str.strip, open(log))) if j.get("summary")][-1]
e = s["flicker_per_frame"]  # pair (t-1, t) at e[t-1]
n = len(e) + 1
starts = [c * (n // k) + min(c, n % k) for c in range(1, k)]
border = [e[b - 1] for b in starts]
interior = [x for t, x in enumerate(e, 1) if t not in starts]
mean = sum(interior) / len(interior)
print(s["flicker"], max(border) / mean if border else 0)
EOF
}


"$impasto" "${args[@]}" --out "$tmp/one" 2>"$tmp/log" || fail "the run without mpirun failed: $(cat "$tmp/log")"
ranks 1 "${args[@]}" --out "$tmp/m1" 2>"$tmp/log" || fail "mpirun -np 1 failed: $(cat "$tmp/log")"
same_frames "$tmp/one" "$tmp/m1"
echo "one rank under mpirun: bit-identical to the run without it"

read -r base _ < <(flicker "$tmp/one" 1)
for n in 2 3; do
  ranks "$n" "${args[@]}" --out "$tmp/m$n" 2>"$tmp/log" || fail "mpirun -np $n failed: $(cat "$tmp/log")"
  read -r clip border < <(flicker "$tmp/m$n" "$n")
  echo "$n ranks: flicker $clip (one rank $base), worst border pair / interior mean $border"
  /usr/bin/python3 -c "import sys; sys.exit(0 if $clip <= 1.2 * $base else 1)" ||
    fail "$n ranks: flicker $clip is more than 1.2x the one-rank run's $base"
  /usr/bin/python3 -c "import sys; sys.exit(0 if $border <= 1.5 else 1)" ||
    fail "$n ranks: a chunk border's warping error is $border x the interior mean (a seam)"
done

"$impasto" "${args[@]}" --chunks 2 --out "$tmp/c2" 2>"$tmp/log" || fail "--chunks 2 failed: $(cat "$tmp/log")"
same_frames "$tmp/m2" "$tmp/c2"
echo "--chunks 2 in one process: the same frames as 2 ranks"

# Kill rank 1 once pass 2 has begun; the job must end by itself.
ranks 2 "${args[@]}" --out "$tmp/k" 2>"$tmp/killed.log" &
job=$!
for _ in $(seq 600); do
  [[ -n $(ls "$tmp/k/pass2" 2>/dev/null) ]] && break
  sleep 0.1
done
[[ -n $(ls "$tmp/k/pass2" 2>/dev/null) ]] || fail "pass 2 never started"
# (`if`, not `&&`: the loop's status must not be its last test's, which pipefail and set -e would end the script on)
victim=$(pgrep -f -- "--out $tmp/k" | while read -r p; do
  if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then echo "$p"; fi
done | head -1 || true)
[[ -n $victim ]] || fail "no rank 1 process found"
kill -9 "$victim"
for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
kill -0 "$job" 2>/dev/null && fail "the job still runs 30 s after rank 1 was killed (a hang)"
wait "$job" && fail "the job with a killed rank exited 0"
before=$(cd "$tmp/k" && find . -name 'frame_*.png' -printf '%p %T@\n' | sort)
kept=$(echo "$before" | grep -c png || true)
ranks 3 "${args[@]}" --out "$tmp/k" 2>"$tmp/log" || fail "the resumed run (3 ranks) failed: $(cat "$tmp/log")"
same_frames "$tmp/m2" "$tmp/k"
after=$(cd "$tmp/k" && find . -name 'frame_*.png' -printf '%p %T@\n' | sort)
while read -r line; do
  grep -qxF -- "$line" <<<"$after" || fail "a finished frame was written again: ${line% *}"
done <<<"$before"
echo "killed at pass 2 with $kept frames done, resumed with 3 ranks: the 2-rank run's frames, none recomputed"

# A corrupt flow file that only rank 1 reads (frames 10 -> 11): one line, the rank and the file, no output.
mkdir "$tmp/flo"
cp "$tmp"/one/flow-*/*.flo "$tmp/flo/"  # the flows the first run computed
head -c 20 "$tmp/flo/forward_10_11.flo" >"$tmp/flo/x" && mv "$tmp/flo/x" "$tmp/flo/forward_10_11.flo"
if ranks 2 "${args[@]}" --flow-dir "$tmp/flo" --out "$tmp/bad" 2>"$tmp/log"; then fail "a corrupt flow file passed"; fi
grep -q "impasto: error: rank 1: .*forward_10_11.flo" "$tmp/log" || fail "no one-line error naming rank 1 and the file: $(cat "$tmp/log")"
[[ ! -e $tmp/bad ]] || fail "the failed job wrote $tmp/bad"
echo "a failing rank: $(grep -m1 'impasto: error' "$tmp/log")"
