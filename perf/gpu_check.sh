#!/usr/bin/env bash
# perf/gpu_check.sh — the CUDA engine's whole device check in ONE call of the lent GPU machine: versions,
# the GPU tests (first: correctness is the point), the same-objective check against PyTorch, the benchmark
# and the PyTorch peer at 512², 1024², 2048² (TF32, then FP32), the 3840×2160 max-size check with the memory
# estimate against the measured peak, the L-BFGS step alone with a full history (against torch.optim.LBFGS),
# VGG-19 alone, each convolution alone (against PyTorch's), compute-sanitizer, ncu kernel profiles of a 1024²
# iteration by kind of kernel (impasto and the peer) on the custom kernels and an Nsight
# Systems NVTX summary when they are there, and last a table (size | impasto ms | peer ms | ratio | TFLOP/s). Logs and JSON go to $OUT.
#
# Here, first (builds build-device/ and packs .device/impasto-device.tar.gz, see perf/prepare_device.sh):
#   bash perf/prepare_device.sh
# Then the device call:
#   run(command="bash perf/gpu_check.sh", carry=[".device"], timeout_s=480)
# It aims to finish in ~5 minutes; optional steps are skipped once GPU_CHECK_BUDGET_S (default 330) seconds
# have passed, and every step has its own timeout. Without a GPU (e.g. on the dev machine) it says so and
# runs the same steps as a small CPU smoke pass, which tests the script and the bundle.
#
# $OUT (at most 8 files come back): gpu_check.log (everything, the GPU tests' output included), summary.md (the
# tables), reports.tar.gz (every JSON report and log: bench and peer per precision, the compiled peer, max_size,
# the end-to-end and high-resolution runs' logs), end_to_end.png (to look at). Record the run in
# perf/RESULTS.md, the files in perf/runs/.
# Options (environment): GPU_CHECK_PRECISIONS (default "tf32 fp32": bench and peer per precision; "tf32" saves
# the ~90 s of the fp32 pair), GPU_CHECK_STYLIZE="CONTENT STYLE" (also a 768-px `impasto stylize` of those images
# on the device, 300 iterations: $OUT/stylized.png, to look at), GPU_CHECK_ONLY=figures (only tools/figures.sh,
# with GPU_CHECK_FIGURES_ARGS, e.g. "--size 256": $OUT/figures.tar.gz).
# The images it stylizes travel in the bundle (img/: baboon.jpg, building.jpg, starry_night.jpg).
set -uo pipefail  # no -e: a failing step is reported and the others still run

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-/tmp/impasto-gpu-check}
budget=${GPU_CHECK_BUDGET_S:-330}
bundle=$root/.device/impasto-device.tar.gz
dev=/tmp/impasto-device  # the unpacked bundle
work=$(mktemp -d)
mkdir -p "$out"
start=$SECONDS
failed=()

# step NAME LIMIT_S CMD...: runs CMD under a timeout and reports its time and exit status; exit 0 (or
# $also_ok, when set) is a pass, anything else goes into the failed list. No step runs past the deadline
# (GPU_CHECK_DEADLINE_S, default 440 s of a 480 s call), so the table at the end is always printed.
deadline=${GPU_CHECK_DEADLINE_S:-440}
step() {
  local name=$1 limit=$2 t0=$SECONDS rc left
  shift 2
  left=$((deadline - (SECONDS - start)))
  if ((left < 15)); then
    echo "=== skipped, past the ${deadline}s deadline: $name"
    failed+=("$name (not run: deadline)")
    return 124
  fi
  ((limit > left)) && limit=$left
  echo
  echo "=== $name (t=$((SECONDS - start))s, limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0))s"
  ((rc == 0 || rc == ${also_ok:--1})) || failed+=("$name (exit $rc)")
  return $rc
}
# within_budget NAME: false (and says so) once the budget for optional steps is spent.
within_budget() {
  ((SECONDS - start < budget)) && return 0
  echo "=== skipped, past the ${budget}s budget: $1"
  return 1
}

# The Python that has torch and h5py: the GPU machine's venv, else Debian's (the dev machine), else python3.
py=
for candidate in ${PYTHON:-} /opt/torch/.venv/bin/python3 /usr/bin/python3 python3; do
  if "$candidate" -c 'import torch, h5py' 2>/dev/null; then
    py=$candidate
    break
  fi
done

main() {

# ---- the machine -------------------------------------------------------------------------------------------
echo "impasto gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) ($(uname -m)), repo $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  mode=gpu
  nvidia-smi
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv
else
  mode=cpu
  echo "NO GPU: nvidia-smi finds no device ($(nvidia-smi -L 2>&1 | head -1)). Running the CPU smoke pass only:"
  echo "it checks this script and the bundle; its numbers are not GPU results."
fi
command -v nvcc >/dev/null && nvcc --version | tail -2
[[ -n $py ]] || { py=python3; echo "no Python with torch and h5py found: the peer steps will fail"; }
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU", torch.cuda.is_available())'
command -v nsys >/dev/null && nsys --version

# ---- the bundle: binaries built by perf/prepare_device.sh, run with the machine's cuDNN and cuBLAS -----------
if [[ ! -f $bundle ]]; then
  echo "FATAL: $bundle is missing: run 'bash perf/prepare_device.sh' on the dev machine and carry .device"
  return 2
fi
rm -rf "$dev" && mkdir -p "$dev/run" && tar -xzf "$bundle" -C "$dev"
cat "$dev/MANIFEST"
# The site-packages that holds torch (and its pip CUDA libraries under nvidia/).
site=$("$py" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)
# first_dir NAME DIR...: the folder of the first NAME found under the DIRs.
first_dir() {
  local name=$1 f
  shift
  f=$(find "$@" -name "$name" 2>/dev/null | head -1)
  [[ -n $f ]] && dirname "$f"
}
cudnn_dir=$(first_dir 'libcudnn.so.9*' "$site/nvidia" /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu)
cublas_dir=$(first_dir 'libcublas.so.13*' /usr/local/cuda/lib64 /usr/local/cuda/lib "$site/nvidia")
# cuDNN 9 loads NVRTC (runtime-compiled kernels) with dlopen; the pip wheels keep it outside nvidia/cudnn.
# Take it from the same place as cuDNN (the wheel's nvidia/cuda_nvrtc matches its CUDA major), else CUDA's.
if [[ -n $site && $cudnn_dir == "$site"/* ]]; then
  nvrtc_dir=$(first_dir 'libnvrtc.so.[0-9]*' "$site/nvidia/cuda_nvrtc" "$site/nvidia" /usr/local/cuda/lib64)
else
  nvrtc_dir=$(first_dir 'libnvrtc.so.13*' /usr/local/cuda/lib64 /usr/local/cuda/lib "$site/nvidia")
fi
libs=$dev/lib:$cudnn_dir:$cublas_dir${nvrtc_dir:+:$nvrtc_dir}
echo "libraries: bundle $dev/lib, cuDNN $cudnn_dir, cuBLAS $cublas_dir, NVRTC ${nvrtc_dir:-not found}"
for b in "$dev"/bin/*; do  # wrappers that set the library path for impasto's binaries only (not for Python)
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libs" "$b" > "$dev/run/${b##*/}"
  chmod +x "$dev/run/${b##*/}"
  LD_LIBRARY_PATH=$libs ldd "$b" | grep 'not found' && failed+=("${b##*/}: missing libraries")
done

# GPU_CHECK_ONLY=figures: tools/figures.sh on the device instead of the checks (its pages and images as
# $OUT/figures.tar.gz, the time in the log), for a session with a few device-minutes left.
if [[ ${GPU_CHECK_ONLY:-} == figures ]]; then
  fig_device=cuda
  [[ $mode == cpu ]] && fig_device=cpu
  step "tools/figures.sh ${GPU_CHECK_FIGURES_ARGS:-}" 400 "$root/tools/figures.sh" --impasto "$dev/run/impasto" \
    --device "$fig_device" --out "$work/figures" ${GPU_CHECK_FIGURES_ARGS:-}
  if [[ -d $work/figures ]]; then
    tar -czf "$out/figures.tar.gz" -C "$work" figures
    mib=$(( $(stat -c %s "$out/figures.tar.gz") >> 20 ))
    # A device call returns files of at most 16 MiB (36 PNGs at 512 px make ~20).
    ((mib < 16)) || { rm -f "$out/figures.tar.gz"; echo "figures.tar.gz: $mib MiB, over the 16 MiB a device call returns: use --size 256"; }
  fi
  echo "=== done in $((SECONDS - start))s ($mode). Failed steps: ${failed[*]:-none}"
  ((${#failed[@]} == 0))
  return
fi

if [[ $mode == gpu ]]; then
  device=cuda sizes=512,1024,2048 sizes_peak=512,1024 iterations=20 warmup=5 max_size=3840x2160 precisions=${GPU_CHECK_PRECISIONS:-"tf32 fp32"}
  objective_sizes=64,96x80 optimizer_size=1024
else
  device=cpu sizes=64 sizes_peak=64 iterations=2 warmup=1 max_size=96x64 precisions=fp32 objective_sizes=48x40 optimizer_size=64
fi
# ---- the GPU tests first: correctness is the point of the call --------------------------------------------------
# On the GPU machine a skip (exit 77: no device seen) is a failure; the CPU smoke pass expects it.
skip_ok=-1
[[ $mode == cpu ]] && skip_ok=77
for t in "$dev"/run/gpu_test_*; do
  also_ok=$skip_ok step "GPU tests ${t##*/}" 150 "$t"
done

weights=$work/vgg.h5
step "export weights" 60 "$dev/run/impasto" weights export "$weights" --seed 0
step "same objective (fp32)" 120 env DEVICE=$device SIZES=$objective_sizes BENCH="$dev/run/bench" \
  IMPASTO="$dev/run/impasto" PYTHON="$py" bash "$root/perf/peer/check_same_objective.sh"

# ---- benchmark and peer, per precision; the 4K check after the first ---------------------------------------------
for precision in $precisions; do
  if [[ $precision != tf32 ]] && ! within_budget "bench and peer $precision"; then continue; fi
  step "bench $precision" 240 "$dev/run/bench" --device $device --sizes $sizes --iterations $iterations \
    --warmup $warmup --precision $precision --weights "$weights" --json "$work/bench_$precision.json"
  step "peer $precision" 240 "$py" "$root/perf/peer/peer.py" --device $device --sizes $sizes \
    --iterations $iterations --warmup $warmup --precision $precision --weights "$weights" --json "$work/peer_$precision.json"
  # PyTorch at its best (issue 15): the objective through torch.compile with CUDA graphs, channels-last; the
  # plain torch.compile when CUDA graphs fail. Against TF32 only (the ratio's target). The compile is in the warm-up.
  if [[ $precision == tf32 || $mode == cpu ]] && within_budget "peer $precision compiled"; then
    compile_mode=reduce-overhead
    [[ $mode == cpu ]] && compile_mode=default  # CUDA graphs need a GPU
    step "peer $precision, torch.compile $compile_mode, channels-last" 180 "$py" "$root/perf/peer/peer.py" \
      --device $device --sizes $sizes_peak --iterations $iterations --warmup $warmup --precision $precision \
      --weights "$weights" --compile $compile_mode --channels-last --json "$work/peer_${precision}_compiled.json" ||
      step "peer $precision, torch.compile default, channels-last" 180 "$py" "$root/perf/peer/peer.py" \
        --device $device --sizes $sizes_peak --iterations $iterations --warmup $warmup --precision $precision \
        --weights "$weights" --compile default --channels-last --json "$work/peer_${precision}_compiled.json"
  fi
  if [[ $precision == "${precisions%% *}" ]]; then
    step "max-size check $max_size" 180 "$dev/run/bench" --device $device --max-size-check $max_size --history 100 \
      --iterations 2 --warmup 0 --weights "$weights" --json "$work/max_size.json"
  fi
done

# ---- end to end and high resolution (issue 15): `impasto stylize` as a user runs it --------------------------------
# wall NAME LIMIT CMD...: a step whose wall time, from before the process starts to its exit, is printed; the
# run's own "impasto: time:" line splits it (start-up, weights, set-up, optimization, write).
wall() {
  local name=$1 limit=$2
  shift 2
  step "$name" "$limit" bash -c 't0=$EPOCHREALTIME; "$@"; rc=$?; t1=$EPOCHREALTIME
    echo "end to end: $(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.2f\", b - a }") s from the process start to its exit (exit $rc)"
    exit $rc' wall "$@"
}
img=$dev/img
if [[ $mode == gpu ]]; then
  e2e_size=1024 e2e_iterations=500 hd=(3840 2160) uhd=(7680 4320) hd_iterations=10
else
  e2e_size=64 e2e_iterations=5 hd=(192 108) uhd=(256 144) hd_iterations=2
fi
# Process start to the PNG written, 1024² (baboon.jpg is square), 500 iterations, every option at its default
# (tf32, strong-Wolfe): the target is <= 5 s. The PNG comes back to be looked at.
wall "end to end: stylize ${e2e_size}², $e2e_iterations iterations" 120 "$dev/run/impasto" stylize \
  --content "$img/baboon.jpg" --style "$img/starry_night.jpg" --size $e2e_size --iterations $e2e_iterations \
  --weights "$weights" --device $device --print-every 100 --out "$out/end_to_end.png" --log "$work/end_to_end.jsonl"
# 16:9 contents for the high-resolution runs (the device has OpenCV's Python package; the dev machine's smoke
# pass may not, and then these steps fail and say so).
for wh in "${hd[0]}x${hd[1]}" "${uhd[0]}x${uhd[1]}"; do
  "$py" -c "import cv2, sys; w, h = map(int, sys.argv[2].split('x')); cv2.imwrite(sys.argv[3], cv2.resize(cv2.imread(sys.argv[1]), (w, h), interpolation=cv2.INTER_CUBIC))" \
    "$img/building.jpg" "$wh" "$work/building_$wh.png" || echo "could not write $work/building_$wh.png"
done
# 3840×2160 within 24 GiB, default options except bf16: the history the run takes is in its log; the estimate
# against the measured peak in its "memory:" lines. Then 7680×4320 with bf16 within an H100's 80 GB (79 GiB),
# default options except precision: starry_night.jpg at the output's size (7680×6128) exceeds the 2^31 values a
# feature map may hold, so its Grams are made in two strips (engine/style_strips.hpp).
if [[ $mode == gpu ]]; then hd_memory=24 uhd_memory=79; else hd_memory=0.7 uhd_memory=1.2; fi
if within_budget "stylize ${hd[0]}x${hd[1]}"; then
  wall "stylize ${hd[0]}x${hd[1]} bf16 --max-memory $hd_memory" 240 "$dev/run/impasto" stylize \
    --content "$work/building_${hd[0]}x${hd[1]}.png" --style "$img/starry_night.jpg" --size ${hd[0]} \
    --iterations $hd_iterations --precision bf16 --max-memory $hd_memory --weights "$weights" --device $device \
    --out "$work/hd.png" --log "$work/stylize_hd.jsonl"
fi
if within_budget "stylize ${uhd[0]}x${uhd[1]}"; then
  wall "stylize ${uhd[0]}x${uhd[1]} bf16 --max-memory $uhd_memory" 300 "$dev/run/impasto" stylize \
    --content "$work/building_${uhd[0]}x${uhd[1]}.png" --style "$img/starry_night.jpg" --size ${uhd[0]} \
    --iterations $hd_iterations --precision bf16 --max-memory $uhd_memory --weights "$weights" --device $device \
    --out "$work/uhd.png" --log "$work/stylize_uhd.jsonl"
fi

# The optimizer alone with a full history (100 pairs, as a long run has them; the runs above reach 25): impasto's
# compact L-BFGS against torch.optim.LBFGS's two-loop recursion on a quadratic of the image's size. JSON in $work.
if within_budget "L-BFGS alone"; then
  step "L-BFGS alone (bench --optimizer-only)" 90 "$dev/run/bench" --device $device --optimizer-only \
    --sizes $optimizer_size --history 100 --iterations $iterations --json "$work/optimizer_bench.json"
  step "L-BFGS alone (peer --optimizer-only)" 90 "$py" "$root/perf/peer/peer.py" --device $device --optimizer-only \
    --sizes $optimizer_size --history 100 --iterations $iterations --json "$work/optimizer_peer.json"
fi

# The photorealism term (Luan et al. 2017) at 1 MP: its share of an iteration is the "photo" phase (issue 16's
# target: <= 10 %). JSON in $work; the phase shares are in the log.
if [[ $mode == gpu ]] && within_budget "bench with the photorealism term"; then
  step "bench tf32 with the matting-Laplacian term (--photo-weight 5000)" 120 "$dev/run/bench" --device cuda \
    --sizes 1024 --iterations $iterations --warmup $warmup --precision tf32 --weights "$weights" --photo-weight 5000 \
    --json "$work/bench_photo.json"
fi
# Video throughput (issue 14, item 7): seconds per frame after the first at 640×360 and 1280×720 with the default
# iterations and the temporal loss, on a synthetic clip whose exact flows are read from .flo files (the bundle
# has no OpenCV, so flow computation is not in the number). One line per size in the log; JSON in $work.
if within_budget "video throughput"; then
  if [[ $mode == gpu ]]; then
    vsizes=640x360,1280x720 vargs=()
  else
    vsizes=64x36 vargs=(-- --iterations 4 --frame-iterations 2)
  fi
  step "video throughput ($vsizes)" 200 "$py" "$root/perf/video_bench.py" --impasto "$dev/run/impasto" \
    --device $device --sizes $vsizes --frames 4 --out "$work/video" --json "$work/video_bench.json" "${vargs[@]}"
fi
# TF32 with NCHW activations (IMPASTO_LAYOUT=nchw; the default is NHWC under tf32/bf16): what the layout buys,
# in the same run. Its JSON stays in $work (the table reads it; $OUT holds 8 files).
if [[ $mode == gpu ]] && within_budget "bench tf32 NCHW"; then
  step "bench tf32, NCHW activations (IMPASTO_LAYOUT=nchw)" 150 env IMPASTO_LAYOUT=nchw "$dev/run/bench" \
    --device cuda --sizes 512,1024 --iterations $iterations --warmup $warmup --precision tf32 --weights "$weights" \
    --json "$work/bench_tf32_nchw.json"
fi
# Experimental bf16 convolutions (fp32 accumulation), held against the peer's TF32 in the table.
if [[ $mode == gpu ]] && within_budget "bench bf16"; then
  step "bench bf16" 200 "$dev/run/bench" --device cuda --sizes $sizes --iterations $iterations --warmup $warmup \
    --precision bf16 --weights "$weights" --json "$work/bench_bf16.json"
fi
# cuDNN's measured choice (cudnnFind, as the peer's torch.backends.cudnn.benchmark) against the heuristic one
# (the default): which should be impasto's default? Printed in the log only ($OUT holds 8 files).
if [[ $mode == gpu ]] && within_budget "bench tf32 with cudnnFind"; then
  step "bench tf32, algorithms by cudnnFind (IMPASTO_CUDNN_FIND=1)" 150 env IMPASTO_CUDNN_FIND=1 "$dev/run/bench" \
    --device cuda --sizes 512,1024 --iterations $iterations --warmup $warmup --precision tf32 --weights "$weights" \
    --no-phases
fi
# One evaluation per CUDA graph (the default) against every kernel launched from the host (IMPASTO_CUDA_GRAPHS=0):
# what the graphs buy at the sizes where launches weigh most. Printed in the log (graph_replays and
# optimizer_replays in the JSONs).
if [[ $mode == gpu ]] && within_budget "bench tf32 without CUDA graphs"; then
  step "bench tf32, no CUDA graphs (IMPASTO_CUDA_GRAPHS=0)" 150 env IMPASTO_CUDA_GRAPHS=0 "$dev/run/bench" \
    --device cuda --sizes 512,1024 --iterations $iterations --warmup $warmup --precision tf32 --weights "$weights" \
    --no-phases --json "$work/bench_tf32_nographs.json"
fi
if within_budget "VGG-19 only"; then
  step "VGG-19 forward+backward only" 120 "$dev/run/bench" --device $device --vgg-only --sizes $sizes \
    --iterations $iterations --warmup $warmup --weights "$weights" --json "$work/vgg_only.json"
fi
# Each convolution alone at 1024² TF32 and bf16, impasto (NHWC, bias + ReLU fused) against PyTorch's cuDNN in
# NHWC and NCHW (cudnn.benchmark, TF32): which layers, forward or backward-data, hold the convolution time. JSON
# in $work.
if [[ $mode == gpu ]] && within_budget "each convolution alone"; then
  step "each convolution alone 1024² (bench --conv-layers)" 90 "$dev/run/bench" --device cuda --conv-layers \
    --sizes 1024 --iterations 10 --warmup 3 --precision tf32 --weights "$weights" --json "$work/conv_layers.json"
  # bf16 as the network runs it: bf16 activations, the filters' bf16 copies, conv1_1 on 8 input channels.
  step "each convolution alone 1024² bf16 (bench --conv-layers)" 90 "$dev/run/bench" --device cuda --conv-layers \
    --sizes 1024 --iterations 10 --warmup 3 --precision bf16 --weights "$weights" --json "$work/conv_layers_bf16.json"
  step "each convolution alone 1024², torch (conv_layouts.py --per-layer)" 120 "$py" \
    "$root/perf/peer/conv_layouts.py" --per-layer --sizes 1024 --iterations 10 --warmup 3 \
    --json "$work/conv_layers_peer.json"
fi
# The custom kernels under compute-sanitizer (out-of-bounds and misaligned accesses; shared-memory races in the
# block reductions): what the CPU kernel emulator of tests/emu cannot see. Only the suites and cases that run
# our kernels (cuDNN under memcheck would take minutes).
kernel_cases='element-wise*,reductions*,all_finite*,sq_diff*,tv_loss*,adam*,color*,pool2d*,max pool*,convert_layout*,relu*'
if [[ $mode == gpu ]] && command -v compute-sanitizer >/dev/null && within_budget "compute-sanitizer"; then
  step "compute-sanitizer memcheck (video ops)" 90 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$dev/run/gpu_test_gpu_video"
  step "compute-sanitizer memcheck (kernel ops)" 120 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$dev/run/gpu_test_gpu_parity" -tc="$kernel_cases"
  step "compute-sanitizer racecheck (reductions)" 90 compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$dev/run/gpu_test_gpu_parity" -tc='reductions*,sq_diff*,tv_loss*'
fi
# Where the time of a 1024² TF32 iteration goes, by kind of kernel (perf/kernel_profile.py): bench opens the
# profiler's capture window around its timed iterations. Its tables go into summary.md too.
if [[ $mode == gpu ]] && command -v ncu >/dev/null && within_budget "ncu kernel profile"; then
  step "ncu kernel profile 1024² tf32 (2 iterations)" 150 ncu --profile-from-start off --cache-control none \
    --clock-control none --metrics gpu__time_duration.sum --csv --log-file "$work/ncu_1024.csv" "$dev/run/bench" \
    --device cuda --sizes 1024 --iterations 2 --warmup 1 --no-phases --precision tf32 --weights "$weights"
  step "kernel time by kind" 30 "$py" "$root/perf/kernel_profile.py" "$work/ncu_1024.csv" --iterations 2 \
    --markdown "$work/kernel_profile.md"
fi
# The same for the peer (peer.py opens the same window): which cuDNN kernels PyTorch's convolutions get.
if [[ $mode == gpu ]] && command -v ncu >/dev/null && within_budget "ncu kernel profile (peer)"; then
  step "ncu kernel profile 1024² tf32, peer (2 iterations)" 180 ncu --profile-from-start off --cache-control none \
    --clock-control none --metrics gpu__time_duration.sum --csv --log-file "$work/ncu_1024_peer.csv" "$py" \
    "$root/perf/peer/peer.py" --device cuda --sizes 1024 --iterations 2 --warmup 1 --precision tf32 --weights "$weights"
  step "kernel time by kind, peer" 30 "$py" "$root/perf/kernel_profile.py" "$work/ncu_1024_peer.csv" --iterations 2 \
    --markdown "$work/kernel_profile_peer.md"
fi
if [[ $mode == gpu && -n ${GPU_CHECK_STYLIZE:-} ]]; then
  read -r content style <<<"$GPU_CHECK_STYLIZE"
  step "impasto stylize 768 px ($content, $style)" 60 "$dev/run/impasto" stylize --content "$content" --style "$style" \
    --size 768 --iterations 300 --print-every 100 --device cuda --out "$out/stylized.png"
fi
if [[ $mode == gpu ]] && command -v nsys >/dev/null && within_budget "nsys"; then
  step "nsys profile (NVTX ranges)" 150 nsys profile -t cuda,nvtx -o "$work/bench" --force-overwrite true \
    "$dev/run/bench" --device cuda --sizes 512 --iterations 5 --warmup 2 --no-phases --weights "$weights"
  step "nsys NVTX summary" 90 nsys stats -r nvtx_sum "$work/bench.nsys-rep"
fi

# ---- the table, last ----------------------------------------------------------------------------------------
echo
echo "=== done in $((SECONDS - start))s ($mode). Failed steps: ${failed[*]:-none}"
echo
"$py" "$root/perf/summarize.py" "$work"/*.json "$work"/*.jsonl --markdown "$out/summary.md" || failed+=(summary)
for who in "" _peer; do
  if [[ -f $work/kernel_profile$who.md ]]; then
    { echo; echo "ncu, 1024² tf32${who:+, peer}:"; cat "$work/kernel_profile$who.md"; } >> "$out/summary.md"
  fi
done
# Every report in one file ($OUT brings back at most 8): for perf/runs/.
(cd "$work" && tar -czf "$out/reports.tar.gz" $(ls *.json *.jsonl *.md 2>/dev/null)) || failed+=("reports.tar.gz")
((${#failed[@]} == 0))
}

main 2>&1 | tee "$out/gpu_check.log"
status=${PIPESTATUS[0]}
rm -rf "$work"
exit "$status"
