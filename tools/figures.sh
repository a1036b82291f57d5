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
#   photo         Luan, Paris, Shechtman & Bala, "Deep photo style transfer", CVPR 2017, Fig. 1/5: a photo
#                 restyled by another photo with --preset photo: without the matting-Laplacian term, with it
#                 (--photo), with region pairs from segmentations (sky to sky, the rest to the rest), and that
#                 guided-filtered (--photo-smooth). Each caption gives the result's Laplacian energy.
#
#   tools/figures.sh [--out DIR] [--size PX] [--iterations N] [--weights FILE|random[:SEED]] [--device D]
#                    [--only NAME[,NAME…]] [--content IMG] [--style IMG] [--style2 IMG] [--impasto PATH] [--force]
#                    [--photo-content IMG --photo-style IMG --content-seg IMG --style-seg IMG]
#                    [--mask IMG --mask2 IMG]
#
# Defaults: out/figures, 512 px, 500 iterations (55 images and 2 plots; timings in perf/RESULTS.md); on a CPU use
# `--size 128 --iterations 100`. The images come from Debian's opencv-doc package
# (tools/setup.sh installs it). With the embedded random-feature VGG-19 the images show each mechanism, not the
# papers' look: pass `--weights vgg19.h5` (weights/fetch) for that. impasto's losses are normalized as
# neural-style-tf's (DESIGN.md), so the α/β that gives a balance differs from the CVPR 2016 paper's; the
# columns span the same four decades around impasto's default (5 / 1e4).
#
# Beside the page: logs/FIGURE/IMAGE.jsonl, each run's --log (tools/plot_logs.py plots any of them), and
# losses.csv, every image's final loss terms (the last iteration's weighted terms, the result's photorealism),
# to compare a run with another machine's or another weights file's number by number.
# The page and the images are written to DIR.partial and moved to DIR when every run has succeeded; a failed
# run stops the script with one line naming it and leaves nothing behind. An existing DIR is kept unless --force.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=/usr/share/doc/opencv-doc/examples/data
out=out/figures
size=512
iterations=500
weights=random
device=auto
only=textures,tradeoff,colors,interpolation,pyramid,photo,losses,init,masks
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
impasto=
force=0

die() {
  echo "figures: $*" >&2
  exit 1
}
while (($#)); do
  case $1 in
    --out | --size | --iterations | --weights | --device | --only | --content | --style | --style2 | --impasto | \
      --photo-content | --photo-style | --content-seg | --style-seg | --mask | --mask2)
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
for f in "$content" "$style" "$style2" "$photo_content" "$photo_style" "$content_seg" "$style_seg" "$mask" "$mask2"; do
  [[ -f $f ]] || die "$f is missing (the defaults come from Debian's opencv-doc: run tools/setup.sh)"
done
known=" textures tradeoff colors interpolation pyramid photo losses init masks "
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

partial=$out.partial
rm -rf "$partial"
mkdir -p "$partial"
runlog=$(mktemp)  # the current run's messages
trap 'rm -rf "$partial" "$runlog"' EXIT
html=$partial/index.html.body
: >"$html"

esc() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g' <<<"$*"; }

# final_value LOG KEY: KEY's value on the log's closing line (4 significant digits).
final_value() {
  grep '"final"' "$1" | sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" | awk '{ printf "%.4g", $1 }'
}
# image NAME FILE CAPTION SUBCOMMAND ARGS…: one impasto run into $partial/NAME/FILE (its log in
# logs/NAME/FILE.jsonl), shown as one table cell with its command as the tooltip; @LOSS@ and @ENERGY@ in the
# caption become the final loss and the result's photorealism. A failed run stops everything.
common=(--size "$size" --iterations "$iterations" --weights "$weights" --device "$device" --quiet)
declare -A done_runs  # "SUBCOMMAND ARGS" → "NAME/FILE LOG" of the run that made it (runs are deterministic)
image() {
  local name=$1 file=$2 caption=$3 sub=$4
  shift 4
  local log=logs/$name/${file%.*}.jsonl key="$sub $*"
  mkdir -p "$partial/$name" "$partial/logs/$name"
  local cmd=("$impasto" "$sub" "${common[@]}" "$@" --out "$partial/$name/$file" --log "$partial/$log")
  if [[ -n ${done_runs[$key]:-} ]]; then  # the same run for another figure: its image and log, not a rerun
    read -r made made_log <<<"${done_runs[$key]}"
    echo "figures: $name/$file (the same run as $made)" >&2
    cp "$partial/$made" "$partial/$name/$file"
    cp "$partial/$made_log" "$partial/$log"
  else
    echo "figures: $name/$file" >&2
    "${cmd[@]}" 2>"$runlog" || { cat "$runlog" >&2; die "the run for $name/$file failed: ${cmd[*]}"; }
    done_runs[$key]="$name/$file $log"
  fi
  caption=${caption//@ENERGY@/$(final_value "$partial/$log" photo_energy)}
  caption=${caption//@LOSS@/$(final_value "$partial/$log" loss)}
  printf '<td><img src="%s/%s" title="%s"><br><small>%s</small></td>\n' "$name" "$file" \
    "$(esc "impasto $sub ${common[*]} $* --out $name/$file --log $log")" "$(esc "$caption")" >>"$html"
}
# plot NAME FILE X LABEL=LOG…: the loss curves of those logs (paths under $partial) against X, as one cell.
plot() {
  local name=$1 file=$2 x=$3
  shift 3
  local args=() shown=() pair
  for pair in "$@"; do
    args+=("$partial/${pair#*=}" --label "${pair%%=*}")
    shown+=("${pair#*=}" --label "'${pair%%=*}'")
  done
  echo "figures: $name/$file" >&2
  "$python" "$root/tools/plot_logs.py" "${args[@]}" --x "$x" --out "$partial/$name/$file" 2>"$runlog" ||
    { cat "$runlog" >&2; die "the plot $name/$file failed"; }
  printf '<td colspan="2"><img class="plot" src="%s/%s" title="%s"><br><small>total loss against the %s</small></td>\n' "$name" \
    "$file" "$(esc "tools/plot_logs.py ${shown[*]} --x $x --out $name/$file")" "$x" >>"$html"
}
# composite NAME FILE CAPTION A B MASK: A where MASK is white, B where it is black (MASK resized to A's size),
# from images under $partial/NAME, as one cell.
composite() {
  local name=$1 file=$2 caption=$3 a=$4 b=$5 m=$6
  echo "figures: $name/$file" >&2
  "$python" - "$partial/$name/$a" "$partial/$name/$b" "$m" "$partial/$name/$file" 2>"$runlog" <<'PY' ||
import sys
from PIL import Image
a, b = Image.open(sys.argv[1]).convert("RGB"), Image.open(sys.argv[2]).convert("RGB")
m = Image.open(sys.argv[3]).convert("L").resize(a.size, Image.BILINEAR)
Image.composite(a, b, m).save(sys.argv[4])
PY
    { cat "$runlog" >&2; die "the composite $name/$file failed"; }
  printf '<td><img src="%s/%s" title="%s"><br><small>%s</small></td>\n' "$name" "$file" \
    "$(esc "composite of $a (where $(basename "$m") is white) and $b")" "$(esc "$caption")" >>"$html"
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
      image init content.png "from the content (final loss @LOSS@)" stylize "${pair[@]}" --init content
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
  esac
done

# Every image's final loss terms, one CSV row per run (the last iteration line and the closing line of its log).
"$python" - "$partial" >"$partial/losses.csv" <<'PY' || die "could not write losses.csv"
import csv, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
w = csv.writer(sys.stdout, lineterminator="\n")
keys = ("iteration", "loss", "content", "style", "tv", "photo", "seconds")
w.writerow(("figure", "image") + keys + ("photo_energy",))
for log in sorted(root.glob("logs/*/*.jsonl")):
    last, final = {}, {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if "final" in row:
            final = row
        else:
            last = row
    w.writerow([log.parent.name, log.stem + ".png"] + [last.get(k, "") for k in keys] + [final.get("photo_energy", "")])
PY

{
  printf '<!doctype html>\n<html><head><meta charset="utf-8"><title>impasto: the papers'"'"' figures</title>\n'
  printf '<style>body{font-family:sans-serif;margin:2em} td,th{vertical-align:top;text-align:center;padding:4px}'
  printf ' img{max-width:%dpx;width:100%%} img.plot{max-width:560px}</style></head><body>\n' "$((size > 256 ? 256 : size))"
  printf '<h1>impasto: the papers'"'"' figures</h1>\n'
  printf '<p>%s px, %s iterations, weights %s, device %s; %s. Hover over an image for its command.</p>\n' \
    "$size" "$iterations" "$(esc "$weights")" "$device" "$(esc "$("$impasto" --version 2>/dev/null || echo impasto)")"
  cat "$html"
  printf '<p>Every image'"'"'s final loss terms: <a href="losses.csv">losses.csv</a>; each run'"'"'s log: logs/.</p>\n'
  printf '</body></html>\n'
} >"$partial/index.html"
rm -f "$html"

rm -rf "$out"
mv "$partial" "$out"
rm -f "$runlog"
trap - EXIT
echo "figures: wrote $out/index.html ($(find "$out" -name '*.png' -not -path '*/inputs/*' | wc -l) images)"
