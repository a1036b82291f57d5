#!/usr/bin/env bash
# tools/figures.sh — reproduces the figures of the papers impasto implements, as one HTML page of images
# (DIR/index.html; every image's exact command is in the page). The figures:
#   textures      Gatys, Ecker & Bethge, "Texture synthesis using convolutional neural networks", NIPS 2015,
#                 Fig. 2 / "Image style transfer using CNNs", CVPR 2016, Fig. 1 (style reconstructions): a
#                 texture synthesized from noise with the style taps up to relu1_1, relu2_1, …, relu5_1.
#   tradeoff      Gatys, Ecker & Bethge, CVPR 2016, Fig. 3: rows = style taps up to relu1_1 … relu5_1, columns =
#                 the content/style weight ratio α/β from 1e-5 to 1e-2, from noise as in the paper.
#   colors        Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling perceptual factors in neural style
#                 transfer", CVPR 2017, Fig. 3: plain transfer, the content's colors kept afterwards (YUV, YCrCb,
#                 Lab and Luv), luminance-only transfer.
#   interpolation jcjohnson/neural-style's style interpolation: two styles blended 1:0, 0.7:0.3, 1:1, 0.3:0.7, 0:1.
#   losses        loss curves: the total loss (log scale) of L-BFGS and of Adam with learning rates 0.1, 1 and 10,
#                 against the iteration and against the seconds (tools/plot_logs.py draws them from the logs).
#   init          the start of the optimization: content, noise (ratios 0.5 and 1), the style image; each with
#                 its final loss.
#   masks         masked style transfer (masks inside the network): one style inside a mask; two styles with
#                 complementary masks, beside a post-hoc composite of two full transfers by the same mask.
#   pyramid       the coarse-to-fine resolution pyramid (neural-style's multi-resolution recipe): one level
#                 against three levels at the same output size (fewer below 128 px).
#   video         Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos", GCPR 2016, Fig. 2/3, and
#                 "… and spherical images", IJCV 2018 (multi-pass): frames 1, 10 and 20 of a clip for independent
#                 frames, previous-frame init, warped init, warped init with the short- and long-term temporal
#                 losses, and multi-pass (2 passes); the warping error per frame of each (and of the input clip) in one plot;
#                 each one's mean in the table and in losses.csv.
#   photo         Luan, Paris, Shechtman & Bala, "Deep photo style transfer", CVPR 2017, Fig. 1/5: a photo
#                 restyled by another photo with --preset photo: without the matting-Laplacian term, with it
#                 (--photo), with region pairs from segmentations (sky to sky, the rest to the rest), and that
#                 guided-filtered (--photo-smooth). Each caption gives the result's Laplacian energy.
#
#   tools/figures.sh [--out DIR] [--size PX] [--iterations N] [--weights FILE|random[:SEED]] [--device D]
#                    [--only NAME[,NAME…]] [--content IMG] [--style IMG] [--style2 IMG] [--impasto PATH] [--force]
#                    [--photo-content IMG --photo-style IMG --content-seg IMG --style-seg IMG]
#                    [--mask IMG --mask2 IMG] [--clip VIDEO] [--video-size PX] [--jobs N]
#
# Defaults: out/figures, 512 px, 500 iterations (55 images and 3 plots, and the video figure's 6 clips of 20 frames;
# timings in perf/RESULTS.md); on a CPU use `--size 128 --iterations 100 --device cpu`. The video figure's frames
# are half the --size (at least 32 px; --video-size): its six runs of 20 frames would otherwise cost more than all
# the stills. In each of them frame 1 gets --iterations and every later frame half as many (artistic-videos'
# 2000/1000).
# The still images are rendered through `impasto batch` (one process per batch keeps the engine warm: the weights
# read and uploaded once), the video clips by one `impasto video` each. --jobs runs that many impasto processes at
# once (default: the cores with --device cpu, else 1): the clips, and the stills split into --jobs batches, each
# process with one BLAS thread when there are several: on a CPU two one-thread runs side by side beat two
# two-thread runs in turn (perf/RESULTS.md). The images come from Debian's opencv-doc package
# (tools/setup.sh installs it). With the embedded random-feature VGG-19 the images show each mechanism, not the
# papers' look: pass `--weights vgg19.h5` (weights/fetch) for that. impasto's losses are normalized as
# neural-style-tf's (DESIGN.md), so the α/β that gives a balance differs from the CVPR 2016 paper's; the
# columns span the same four decades around impasto's default (5 / 1e4).
#
# Beside the page: logs/FIGURE/IMAGE.jsonl, each run's --log (tools/plot_logs.py plots any of them), and
# losses.csv, every image's final loss terms (the last iteration's weighted terms, the result's photorealism),
# to compare a run with another machine's or another weights file's number by number.
# The page and the images are written to DIR.partial and moved to DIR when every run has succeeded; a failed
# run stops the script (a still once the other jobs of its batch are done) with one line naming it and leaves
# nothing behind. An existing DIR is kept unless --force.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=/usr/share/doc/opencv-doc/examples/data
out=out/figures
size=512
iterations=500
weights=random
device=auto
only=textures,tradeoff,colors,interpolation,pyramid,photo,losses,init,masks,video
content=$data/building.jpg
style=$data/starry_night.jpg
style2=$data/graf1.png
# The photo figure's pair and their segmentations (blue: sky, black: the rest; drawn once for these photos).
photo_content=$data/leuvenA.jpg
photo_style=$data/home.jpg
content_seg=$root/tools/demo/leuvenA_seg.png
style_seg=$root/tools/demo/home_seg.png
# The masks figure's: an ellipse (white: style 1) and its complement (style 2), resized to the output.
mask=$root/tools/demo/mask_ellipse.png
mask2=$root/tools/demo/mask_ellipse_inverse.png
# The video figure's clip (a fixed camera: the background shows the flicker) and its frame size.
clip=$data/vtest.avi
video_size=
jobs=
impasto=
force=0

die() {
  echo "figures: $*" >&2
  exit 1
}
while (($#)); do
  case $1 in
    --out | --size | --iterations | --weights | --device | --only | --content | --style | --style2 | --impasto | \
      --photo-content | --photo-style | --content-seg | --style-seg | --mask | --mask2 | --clip | --video-size | \
      --jobs)
      (($# >= 2)) || die "$1 needs a value"
      name=${1#--}
      declare "${name//-/_}=$2"
      shift 2
      ;;
    --force) force=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ $size =~ ^[1-9][0-9]*$ ]] || die "--size must be a positive integer, not '$size'"
[[ $iterations =~ ^[1-9][0-9]*$ ]] || die "--iterations must be a positive integer, not '$iterations'"
[[ -z $video_size ]] && video_size=$((size / 2 > 32 ? size / 2 : 32))
[[ $video_size =~ ^[1-9][0-9]*$ ]] || die "--video-size must be a positive integer, not '$video_size'"
[[ -z $jobs ]] && { [[ $device == cpu ]] && jobs=$(nproc) || jobs=1; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer, not '$jobs'"
for f in "$content" "$style" "$style2" "$photo_content" "$photo_style" "$content_seg" "$style_seg" "$mask" "$mask2" \
  "$clip"; do
  [[ -f $f ]] || die "$f is missing (the defaults come from Debian's opencv-doc: run tools/setup.sh)"
done
# Absolute paths: the batches' jobs run in their JSONL file's folder, not here.
for name in content style style2 photo_content photo_style content_seg style_seg mask mask2 clip; do
  declare "$name=$(realpath "${!name}")"
done
[[ $weights == random* ]] || weights=$(realpath -m "$weights")
known=" textures tradeoff colors interpolation pyramid photo losses init masks video "
IFS=, read -r -a figures <<<"$only"
for f in "${figures[@]}"; do [[ $known == *" $f "* ]] || die "unknown figure '$f' (one of:$known)"; done
if [[ -z $impasto ]]; then
  for candidate in "$root/build/tools/impasto" "$root/build-cpu/tools/impasto"; do
    [[ -x $candidate ]] && { impasto=$candidate; break; }
  done
fi
[[ -n $impasto && -x $impasto ]] || die "no impasto binary: build it (README.md) or pass --impasto PATH"
# Debian's Python, which has matplotlib (tools/setup.sh), even where another python3 comes first on PATH.
python=/usr/bin/python3
[[ -x $python ]] || python=python3
if [[ -e $out && $force == 0 ]]; then die "$out exists (use --force to replace it)"; fi

partial=$(realpath -m "$out").partial
rm -rf "$partial"
mkdir -p "$partial"
scratch=$(mktemp -d)  # each run's messages, the page's cells
# On any exit before the end: stop the runs still going, and leave nothing behind (|| true: errexit holds in the
# trap too, and kill fails on a run that has just ended by itself).
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$partial" "$scratch"' EXIT
html=$scratch/body.html
: >"$html"

esc() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g' <<<"$*"; }

# ---- runs: a pool of --jobs processes ---------------------------------------------------------------------
declare -A job_failure=() job_err=()  # pid → the line that names it if it fails, its stderr file
# start_job FAILURE CMD…: CMD in the background once fewer than --jobs runs are going.
start_job() {
  local failure=$1
  shift
  while ((${#job_failure[@]} >= jobs)); do reap_job; done
  local err
  err=$(mktemp -p "$scratch")
  if ((jobs > 1)); then
    OPENBLAS_NUM_THREADS=1 "$@" 2>"$err" &
  else
    "$@" 2>"$err" &
  fi
  job_failure[$!]=$failure
  job_err[$!]=$err
}
# reap_job: waits for one run; a failed one stops everything with its messages and one line naming it (for a
# batch, its first failed still's, from the batch's log).
reap_job() {
  local pid rc=0 failure
  wait -n -p pid || rc=$?
  [[ -n ${job_failure[$pid]:-} ]] || return 0
  if ((rc != 0)); then
    cat "${job_err[$pid]}" >&2
    failure=${job_failure[$pid]}
    [[ $failure == @batch\ * ]] && failure=$(batch_failure ${failure#@batch })
    die "$failure"
  fi
  unset "job_failure[$pid]" "job_err[$pid]"
}

# ---- the stills: collected as batch jobs, run after the loop as --jobs batches ------------------------------
still_json=() still_name=() still_cmd=()  # per still: its job (one JSONL line), NAME/FILE, its command line
# still SUBCOMMAND ARGS…: the still run `impasto SUBCOMMAND ARGS…` as a batch job: {"command": SUBCOMMAND, and
# each --key with the values after it: none → true, one → it, several (or the key repeated) → an array}.
still() {
  local sub=$1 arg key= v json
  shift
  local -a keys=()
  local -A values=() count=()
  for arg in "$@"; do
    if [[ $arg == --* ]]; then
      key=${arg#--}
      [[ -n ${count[$key]+x} ]] || { keys+=("$key"); count[$key]=0; values[$key]=; }
    else
      v=${arg//\\/\\\\}
      v=${v//\"/\\\"}
      values[$key]+=${values[$key]:+, }\"$v\"
      count[$key]=$((count[$key] + 1))
    fi
  done
  json="{\"command\": \"$sub\""
  for key in "${keys[@]}"; do
    case ${count[$key]} in
      0) json+=", \"$key\": true" ;;
      1) json+=", \"$key\": ${values[$key]}" ;;
      *) json+=", \"$key\": [${values[$key]}]" ;;
    esac
  done
  still_json+=("$json}")
}
# run_stills: the stills in min(--jobs, their count) batches, still i in batch i mod that count (line i / count + 1).
batches=1
run_stills() {
  local n=${#still_json[@]} k i
  ((n > 0)) || return 0
  batches=$((jobs < n ? jobs : n))
  for ((k = 0; k < batches; k++)); do
    for ((i = k; i < n; i += batches)); do printf '%s\n' "${still_json[i]}"; done >"$scratch/stills_$k.jsonl"
    echo "figures: batch $((k + 1)) of $batches (stills)" >&2
    start_job "@batch $k" "$impasto" batch "$scratch/stills_$k.jsonl" --quiet
  done
}
# batch_failure K: the line that names batch K's first failed still (its log says which line failed).
batch_failure() {
  local k=$1 line
  line=$(grep -m1 -o '"line":[0-9]*,"ok":false' "$scratch/stills_$k.log.jsonl" 2>/dev/null | grep -o '[0-9]*' || true)
  [[ -n $line ]] || { echo "the batch of stills $scratch/stills_$k.jsonl failed"; return; }
  local i=$(((line - 1) * batches + k))
  echo "the run for ${still_name[i]} failed: ${still_cmd[i]}"
}

# ---- the page: cells are placeholders until every run has finished (captions read the logs) ---------------
cells=()  # cell k's renderer, a command line that prints its <td>
cell() {
  printf '@CELL %d@\n' "${#cells[@]}" >>"$html"
  cells+=("$(printf '%q ' "$@")")
}

# final_value LOG KEY: KEY's value on the log's closing line (4 significant digits).
final_value() {
  grep -E "\"(final|summary)\"" "$1" | sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" | awk '{ printf "%.4g", $1 }'
}
# image NAME FILE CAPTION SUBCOMMAND ARGS…: one impasto run into $partial/NAME/FILE (its log in
# logs/NAME/FILE.jsonl), shown as one table cell with its command as the tooltip; @LOSS@ and @ENERGY@ in the
# caption become the final loss and the result's photorealism. A failed run stops everything.
common=(--size "$size" --iterations "$iterations" --weights "$weights" --device "$device" --quiet)
declare -A done_runs  # "SUBCOMMAND ARGS" → "NAME/FILE LOG" of the run that makes it (runs are deterministic)
image() {
  local name=$1 file=$2 caption=$3 sub=$4
  shift 4
  local log=logs/$name/${file%.*}.jsonl key="$sub $*" same=()
  mkdir -p "$partial/$name" "$partial/logs/$name"
  local cmd=("$impasto" "$sub" "${common[@]}" "$@" --out "$partial/$name/$file" --log "$partial/$log")
  if [[ -n ${done_runs[$key]:-} ]]; then  # the same run for another figure: its image and log, not a rerun
    read -r -a same <<<"${done_runs[$key]}"
    echo "figures: $name/$file (the same run as ${same[0]})" >&2
  else
    echo "figures: $name/$file" >&2
    still "${cmd[@]:1}"
    still_name+=("$name/$file")
    still_cmd+=("${cmd[*]}")
    done_runs[$key]="$name/$file $log"
  fi
  cell image_cell "$name/$file" "$log" "impasto $sub ${common[*]} $* --out $name/$file --log $log" "$caption" \
    "${same[@]}"
}
# image_cell FILE LOG COMMAND CAPTION [SAME_FILE SAME_LOG]: the cell (copying the identical run's files first).
image_cell() {
  local file=$1 log=$2 command=$3 caption=$4
  if (($# > 4)); then
    cp "$partial/$5" "$partial/$file"
    cp "$partial/$6" "$partial/$log"
  fi
  caption=${caption//@ENERGY@/$(final_value "$partial/$log" photo_energy)}
  caption=${caption//@LOSS@/$(final_value "$partial/$log" loss)}
  printf '<td><img src="%s" title="%s"><br><small>%s</small></td>\n' "$file" "$(esc "$command")" "$(esc "$caption")"
}
# plot NAME FILE X LABEL=LOG…: the curves of those logs (paths under $partial) as one cell: the total loss
# against X (iteration or seconds), or with X = flicker the video logs' warping error per frame.
plot() {
  cell plot_cell "$@"
}
plot_cell() {
  local name=$1 file=$2 x=$3
  shift 3
  local args=() shown=() pair axis=(--x "$x") what="total loss against the $x"
  [[ $x == flicker ]] && { axis=(--flicker); what="warping error per frame (frame t against t − 1)"; }
  for pair in "$@"; do
    args+=("$partial/${pair#*=}" --label "${pair%%=*}")
    shown+=("${pair#*=}" --label "'${pair%%=*}'")
  done
  echo "figures: $name/$file" >&2
  "$python" "$root/tools/plot_logs.py" "${args[@]}" "${axis[@]}" --out "$partial/$name/$file" 2>"$scratch/plot" ||
    { cat "$scratch/plot" >&2; die "the plot $name/$file failed"; }
  printf '<td colspan="2"><img class="plot" src="%s/%s" title="%s"><br><small>%s</small></td>\n' "$name" \
    "$file" "$(esc "tools/plot_logs.py ${shown[*]} ${axis[*]} --out $name/$file")" "$what"
}
# composite NAME FILE CAPTION A B MASK: A where MASK is white, B where it is black (MASK resized to A's size),
# from images under $partial/NAME, as one cell.
composite() {
  cell composite_cell "$@"
}
composite_cell() {
  local name=$1 file=$2 caption=$3 a=$4 b=$5 m=$6
  echo "figures: $name/$file" >&2
  "$python" - "$partial/$name/$a" "$partial/$name/$b" "$m" "$partial/$name/$file" 2>"$scratch/composite" <<'PY' ||
import sys
from PIL import Image
a, b = Image.open(sys.argv[1]).convert("RGB"), Image.open(sys.argv[2]).convert("RGB")
m = Image.open(sys.argv[3]).convert("L").resize(a.size, Image.BILINEAR)
Image.composite(a, b, m).save(sys.argv[4])
PY
    { cat "$scratch/composite" >&2; die "the composite $name/$file failed"; }
  printf '<td><img src="%s/%s" title="%s"><br><small>%s</small></td>\n' "$name" "$file" \
    "$(esc "composite of $a (where $(basename "$m") is white) and $b")" "$(esc "$caption")"
}
# clip_run NAME FIRST LATER ARGS…: one `impasto video` run of the clip's first 20 frames (FIRST iterations for
# frame 1, LATER for the others) into $partial/video/NAME, its log in logs/video/NAME.jsonl.
# clip_row NAME LABEL: its table row: the label, frames 1, 10 and 20, the mean warping error.
declare -A clip_command=()
clip_run() {
  local name=$1 first=$2 later=$3
  shift 3
  local dir=video/$name log=logs/video/$name.jsonl
  local args=(--input "$clip" --frames 20 --style "$style" --size "$video_size" --iterations "$first"
    --frame-iterations "$later" --weights "$weights" --device "$device" --quiet "$@")
  mkdir -p "$partial/logs/video"
  echo "figures: $dir" >&2
  start_job "the run for $dir failed: $impasto video ${args[*]} --out $partial/$dir" \
    "$impasto" video "${args[@]}" --out "$partial/$dir" --log "$partial/$log"
  clip_command[$name]="impasto video ${args[*]} --out $dir --log $log"
}
clip_row() {
  local name=$1 label=$2 dir=video/$1 log=logs/video/$1.jsonl t
  printf '<tr><th>%s<br><small><a href="%s/out.avi">out.avi</a></small></th>\n' "$(esc "$label")" "$dir" >>"$html"
  for t in 1 10 20; do
    cell image_cell "$dir/$(printf 'frame_%04d.png' "$t")" "$log" "${clip_command[$name]}" "frame $t"
  done
  cell flicker_cell "$log"
  printf '</tr>\n' >>"$html"
}
flicker_cell() {  # flicker_cell LOG: the clip's mean warping error, from the log's summary line
  printf '<td><b>%s</b></td>\n' "$(final_value "$partial/$1" flicker)"
}
section() {  # section TITLE DESCRIPTION
  printf '<h2>%s</h2>\n<p>%s</p>\n<table>\n' "$(esc "$1")" "$(esc "$2")" >>"$html"
}
input_cell() {  # input_cell FILE CAPTION: an input image, copied beside the page
  mkdir -p "$partial/inputs"
  cp "$1" "$partial/inputs/$(basename "$1")"
  printf '<td><img src="inputs/%s"><br><small>%s</small></td>\n' "$(basename "$1")" "$(esc "$2")" >>"$html"
}

taps=(relu1_1 relu2_1 relu3_1 relu4_1 relu5_1)
taps_upto() {
  local IFS=,
  echo "${taps[*]:0:$1}"
}

for figure in "${figures[@]}"; do
  case $figure in
    textures)
      section "Style reconstructions (Gatys et al. 2015, Fig. 2; 2016, Fig. 1)" \
        "Textures synthesized from noise, matching the Gram matrices of the style taps up to the one named."
      printf '<tr>\n' >>"$html"
      input_cell "$style" "style"
      for n in 1 2 3 4 5; do
        image textures "upto_${taps[n - 1]}.png" "up to ${taps[n - 1]}" texture --style "$style" \
          --style-layers "$(taps_upto $n)"
      done
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    tradeoff)
      caveat=
      # Random conv4_2 features keep the content faint even at α/β = 1, the top of the range (perf/RESULTS.md).
      [[ $weights == random* ]] &&
        caveat=" With random weights, conv4_2 recovers little of the photo from noise at any of these ratios: this figure needs the ImageNet weights."
      section "Content against style (Gatys et al. 2016, Fig. 3)" \
        "Rows: the style taps up to relu1_1 … relu5_1 (content at conv4_2). Columns: the content/style ratio α/β (β = 1e4). From white noise, as in the paper.$caveat"
      printf '<tr><td></td>' >>"$html"
      for r in 1e-5 1e-4 1e-3 1e-2; do printf '<th>α/β = %s</th>' "$r" >>"$html"; done
      printf '</tr>\n' >>"$html"
      for n in 1 2 3 4 5; do
        printf '<tr><th>up to %s</th>\n' "${taps[n - 1]}" >>"$html"
        for r in 1e-5 1e-4 1e-3 1e-2; do
          alpha=$(awk -v r="$r" 'BEGIN { printf "%.6g", r * 1e4 }')
          image tradeoff "upto_${taps[n - 1]}_ratio_$r.png" "α = $alpha" stylize --content "$content" \
            --style "$style" --style-weight 1e4 --content-weight "$alpha" --style-layers "$(taps_upto $n)" --init noise
        done
        printf '</tr>\n' >>"$html"
      done
      printf '</table>\n' >>"$html"
      ;;
    colors)
      section "Color preservation (Gatys et al. 2017, Fig. 3)" \
        "The style's colors (plain transfer); the content's colors put back afterwards in YUV, YCrCb, Lab and Luv; luminance-only transfer."
      printf '<tr>\n' >>"$html"
      input_cell "$content" "content"
      pair=(--content "$content" --style "$style")
      image colors plain.png "plain transfer" stylize "${pair[@]}"
      image colors after_yuv.png "colors kept (YUV)" stylize "${pair[@]}" --original-colors yuv
      image colors after_ycrcb.png "colors kept (YCrCb)" stylize "${pair[@]}" --original-colors ycrcb
      image colors after_lab.png "colors kept (Lab)" stylize "${pair[@]}" --original-colors lab
      image colors after_luv.png "colors kept (Luv)" stylize "${pair[@]}" --original-colors luv
      image colors luminance.png "luminance-only transfer" stylize "${pair[@]}" --luminance-only
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    interpolation)
      section "Style interpolation (jcjohnson/neural-style)" \
        "Two styles blended by weight (--style-weights), from the first alone to the second alone."
      printf '<tr>\n' >>"$html"
      input_cell "$style" "style 1"
      for w in 1,0 0.7,0.3 1,1 0.3,0.7 0,1; do
        image interpolation "blend_${w/,/_}.png" "weights $w" stylize --content "$content" --style "$style" "$style2" \
          --style-weights "$w"
      done
      input_cell "$style2" "style 2"
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    pyramid)
      # Three levels while the coarsest keeps 32 px on its longer side (conv5_1 needs 16 on the shorter).
      levels=3
      while ((levels > 1 && (size >> (levels - 1)) < 32)); do levels=$((levels - 1)); done
      section "Coarse-to-fine (neural-style's multi-resolution recipe)" \
        "One level at full size against $levels levels (each twice the size of the one before, starting from its result), the same number of iterations per level."
      printf '<tr>\n' >>"$html"
      image pyramid single.png "one level" stylize --content "$content" --style "$style"
      if ((levels > 1)); then
        image pyramid levels.png "$levels levels" stylize --content "$content" --style "$style" --pyramid "$levels"
      else
        printf '<td>(%s px is too small for a second level)</td>\n' "$size" >>"$html"
      fi
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    photo)
      section "Photorealistic transfer (Luan et al. 2017, Fig. 1 and 5)" \
        "--preset photo (Luan's objective; $iterations iterations, then $iterations more with the matting-Laplacian term where it is on). The Laplacian energy Σ VᵀLV of each result says how far it is from a locally affine recolouring of the content (0)."
      printf '<tr>\n' >>"$html"
      input_cell "$photo_content" "content"
      input_cell "$photo_style" "style"
      input_cell "$content_seg" "content segmentation"
      input_cell "$style_seg" "style segmentation"
      printf '</tr>\n<tr>\n' >>"$html"
      pair=(--content "$photo_content" --style "$photo_style" --preset photo)
      image photo plain.png "without the Laplacian term (energy @ENERGY@)" stylize "${pair[@]}" --photo-weight 0 \
        --photo-iterations 0
      pair+=(--photo-iterations "$iterations")
      image photo laplacian.png "with it (energy @ENERGY@)" stylize "${pair[@]}"
      regions=(--content-seg "$content_seg" --style-seg "$style_seg")
      image photo regions.png "with it and region pairs (energy @ENERGY@)" stylize "${pair[@]}" "${regions[@]}"
      image photo smoothed.png "that, guided-filtered (energy @ENERGY@)" stylize "${pair[@]}" "${regions[@]}" \
        --photo-smooth 4
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    losses)
      section "Loss curves (L-BFGS against Adam)" \
        "The same stylization ($iterations iterations from the content) by L-BFGS (strong-Wolfe line search, impasto's default) and by Adam with learning rates 0.1, 1 and 10; their total loss on a log scale against the iteration, and against the seconds (which the talk does not show: an L-BFGS iteration may take several evaluations)."
      printf '<tr>\n' >>"$html"
      pair=(--content "$content" --style "$style")
      image losses lbfgs.png "L-BFGS (final loss @LOSS@)" stylize "${pair[@]}"
      for lr in 0.1 1 10; do
        image losses "adam_lr$lr.png" "Adam, learning rate $lr (final loss @LOSS@)" stylize "${pair[@]}" \
          --optimizer adam --learning-rate "$lr"
      done
      printf '</tr>\n<tr>\n' >>"$html"
      curves=("L-BFGS=logs/losses/lbfgs.jsonl")
      for lr in 0.1 1 10; do curves+=("Adam lr $lr=logs/losses/adam_lr$lr.jsonl"); done
      plot losses curves_iteration.png iteration "${curves[@]}"
      plot losses curves_seconds.png seconds "${curves[@]}"
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    init)
      section "Initialization" \
        "Where the optimization starts: the content, noise (ratio·noise + (1 − ratio)·content, the noise uniform in [−20, 20)) at ratios 0.5 and 1, the style image. The same objective and $iterations L-BFGS iterations; each caption gives the final loss."
      printf '<tr>\n' >>"$html"
      pair=(--content "$content" --style "$style")
      image init content.png "from the content (final loss @LOSS@)" stylize "${pair[@]}"  # --init content is the default
      for r in 0.5 1; do
        image init "noise_$r.png" "from noise, ratio $r (final loss @LOSS@)" stylize "${pair[@]}" --init noise \
          --noise-ratio "$r"
      done
      image init style.png "from the style (final loss @LOSS@)" stylize "${pair[@]}" --init style
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    masks)
      section "Masked style transfer (masks inside the network)" \
        "Each mask is resized to every style layer and multiplies the features before their Gram matrices, so a style's statistics are those of its region. First one style inside the mask (outside it the content term alone); then two styles with complementary masks in one optimization, beside the post-hoc composite of two full transfers by the same mask: there each style's statistics are of the whole image, and the seam is cut, not optimized."
      printf '<tr>\n' >>"$html"
      input_cell "$content" "content"
      input_cell "$mask" "mask 1 (white: style 1)"
      image masks one_style.png "style 1 inside mask 1 (final loss @LOSS@)" stylize --content "$content" --style "$style" \
        --style-mask "$mask"
      printf '</tr>\n<tr>\n' >>"$html"
      input_cell "$style" "style 1"
      input_cell "$style2" "style 2"
      input_cell "$mask2" "mask 2"
      image masks two_styles.png "two styles, masks in the network (final loss @LOSS@)" stylize --content "$content" \
        --style "$style" "$style2" --style-mask "$mask" --style-mask "$mask2"
      image masks full_style1.png "style 1 everywhere" stylize --content "$content" --style "$style"
      image masks full_style2.png "style 2 everywhere" stylize --content "$content" --style "$style2"
      composite masks composite.png "post-hoc composite of the two by mask 1" full_style1.png full_style2.png "$mask"
      printf '</tr>\n</table>\n' >>"$html"
      ;;
    video)
      # Frame 1 gets --iterations, every later frame half as many (artistic-videos' 2000/1000).
      schedule=("$iterations" "$((iterations / 2 > 0 ? iterations / 2 : 1))")
      section "Video (Ruder et al. 2016, Fig. 2 and 3; 2018, multi-pass)" \
        "The first 20 frames of $(basename "$clip") at $video_size px, one style; in every row frame 1 from the content with ${schedule[0]} iterations and each later frame ${schedule[1]} (artistic-videos' 2:1). Rows: the input; each frame on its own (from its content, no temporal term); from the previous output; from the previous output warped by the optical flow; that with the temporal losses (γ = 200, frame offsets 1, 2 and 4, weighted by the flow's reliability); that in 2 passes with the same iterations per frame, half in each (forward, then backward, each frame's init its own result blended with its warped neighbour). Last column and the plot: the warping error, the mean squared difference between a frame and the one before warped onto it, over the reliable pixels (0..1 scale); the input's own is what occlusions and noise leave."
      printf '<tr><td></td><th>frame 1</th><th>frame 10</th><th>frame 20</th><th>mean warping error</th></tr>\n' >>"$html"
      # The longest run first, so that the pool does not end on it alone.
      temporal=(--frame-init warped --temporal-offsets 1,2,4)
      no_temporal=(--temporal-weight 0)
      # Multi-pass spends the same iterations per frame as the rows above, half in each pass.
      clip_run multipass "${schedule[0]}" "$((schedule[1] / 2 > 0 ? schedule[1] / 2 : 1))" "${temporal[@]}" --passes 2
      clip_run input 0 0 --frame-init content "${no_temporal[@]}"
      clip_run independent "${schedule[@]}" --frame-init content "${no_temporal[@]}"
      clip_run previous "${schedule[@]}" --frame-init prev "${no_temporal[@]}"
      clip_run warped "${schedule[@]}" --frame-init warped "${no_temporal[@]}"
      clip_run temporal "${schedule[@]}" "${temporal[@]}"
      clip_row input "the input"
      clip_row independent "independent frames"
      clip_row previous "previous-frame init"
      clip_row warped "warped init"
      clip_row temporal "warped init + temporal losses"
      clip_row multipass "that, in 2 passes"
      printf '<tr><td></td>\n' >>"$html"
      curves=()
      for v in input:input independent:independent previous:previous warped:warped temporal:"warped + temporal" \
        multipass:multi-pass; do
        curves+=("${v#*:}=logs/video/${v%%:*}.jsonl")
      done
      plot video warping_error.png flicker "${curves[@]}"
      printf '</tr>\n</table>\n' >>"$html"
      ;;
  esac
done

run_stills
# Every run has finished: the cells take their captions from the logs.
while ((${#job_failure[@]})); do reap_job; done
while IFS= read -r line; do
  if [[ $line =~ ^@CELL\ ([0-9]+)@$ ]]; then eval "${cells[${BASH_REMATCH[1]}]}"; else printf '%s\n' "$line"; fi
done <"$html" >"$scratch/page.html"

# Every image's final loss terms, one CSV row per run: the last iteration line and the closing line of its log
# (a video run: its last frame's line, "iteration" its iterations, and the summary's mean warping error).
"$python" - "$partial" >"$partial/losses.csv" <<'PY' || die "could not write losses.csv"
import csv, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
w = csv.writer(sys.stdout, lineterminator="\n")
keys = ("iteration", "loss", "content", "style", "tv", "photo", "temporal", "seconds")
w.writerow(("figure", "image") + keys + ("photo_energy", "flicker"))
for log in sorted(root.glob("logs/*/*.jsonl")):
    last, final, image = {}, {}, log.stem + ".png"
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if "final" in row or "summary" in row:
            final = row
        else:
            last = row
    if "frame" in last:
        last = dict(last, iteration=last.get("iterations", ""))
        image = f"{log.stem}/{pathlib.Path(last.get('path', '')).name}"
    w.writerow([log.parent.name, image] + [last.get(k, "") for k in keys] +
               [final.get("photo_energy", ""), final.get("flicker", "")])
PY

{
  printf '<!doctype html>\n<html><head><meta charset="utf-8"><title>impasto: the papers'"'"' figures</title>\n'
  printf '<style>body{font-family:sans-serif;margin:2em} td,th{vertical-align:top;text-align:center;padding:4px}'
  printf ' img{max-width:%dpx;width:100%%} img.plot{max-width:560px}</style></head><body>\n' "$((size > 256 ? 256 : size))"
  printf '<h1>impasto: the papers'"'"' figures</h1>\n'
  printf '<p>%s px, %s iterations, weights %s, device %s; %s. Hover over an image for its command.</p>\n' \
    "$size" "$iterations" "$(esc "$weights")" "$device" "$(esc "$("$impasto" --version 2>/dev/null || echo impasto)")"
  cat "$scratch/page.html"
  printf '<p>Every image'"'"'s final loss terms: <a href="losses.csv">losses.csv</a>; each run'"'"'s log: logs/.</p>\n'
  printf '</body></html>\n'
} >"$partial/index.html"

rm -rf "$out"
mv "$partial" "$out"
rm -rf "$scratch"
trap - EXIT
stills=$(find "$out" -name '*.png' -not -path '*/inputs/*' -not -path '*/video/*/*' | wc -l)
clips=$(find "$out" -path '*/video/*' -name impasto-video.json | wc -l)
echo "figures: wrote $out/index.html ($stills images and plots, $clips clips)"
