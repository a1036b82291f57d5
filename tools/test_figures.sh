#!/usr/bin/env bash
# tools/test_figures.sh IMPASTO — ctest tools.figures: tools/figures.sh end to end at 32 px and one iteration on
# the repo's own demo PNG (content, style and second style) and opencv-doc's vtest.avi, then its refusals: an existing output kept without
# --force, a missing input and a failing run leaving nothing behind. Checks the mechanics, not the looks.
set -euo pipefail
impasto=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
img=$here/demo/fruits_starry_night.png
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
figures() { "$here/figures.sh" --impasto "$impasto" --size 32 --iterations 1 --device cpu --content "$img" --style "$img" --style2 "$img" "$@"; }

figures --out "$tmp/figs" 2>"$tmp/log" || { cat "$tmp/log" >&2; fail "the figures run failed"; }
count=$(find "$tmp/figs" -name '*.png' -not -path '*/inputs/*' -not -path '*/video/*/*' | wc -l)
((count == 57)) || fail "$count images, expected 57 (5 textures, 20 trade-off, 6 colors, 5 blends, 1 pyramid, 4 photo, 4 runs and 2 plots of loss curves, 4 inits, 4 masked runs and a composite, the warping-error plot)"
for run in input independent previous warped temporal multipass; do
  frames=$(find "$tmp/figs/video/$run" -maxdepth 1 -name 'frame_*.png' | wc -l)
  ((frames == 20)) || fail "video/$run has $frames frames, expected 20"
done
((count + 18 == $(grep -E '<td[^>]*><img [^>]*src="[a-z]*/' "$tmp/figs/index.html" | grep -vc 'src="inputs/'))) ||
  fail "index.html does not show every image (and frames 1, 10 and 20 of each video row)"
grep -q 'title="impasto stylize --size 32 --iterations 1 .*--style-weights 0.7,0.3' "$tmp/figs/index.html" ||
  fail "index.html lacks the commands"
grep -q 'title="impasto video --input .* --passes 2 --out video/multipass' "$tmp/figs/index.html" ||
  fail "index.html lacks the video commands"
grep -q 'with it and region pairs (energy [0-9]' "$tmp/figs/index.html" || fail "the photo captions lack the Laplacian energy"
grep -q 'from the style (final loss [0-9]' "$tmp/figs/index.html" || fail "the init captions lack the final loss"
(($(grep -cE '<td><b>[0-9][-0-9.e]*</b></td>' "$tmp/figs/index.html") == 6)) ||
  fail "the video table lacks a mean warping error per row"
# losses.csv: a header and one row per run (53 stills: the images less the 3 plots and the composite; 6 videos).
[[ $(head -1 "$tmp/figs/losses.csv") == figure,image,iteration,loss,content,style,tv,photo,temporal,seconds,photo_energy,flicker ]] ||
  fail "losses.csv header: $(head -1 "$tmp/figs/losses.csv")"
(($(wc -l <"$tmp/figs/losses.csv") == 60)) || fail "losses.csv has $(wc -l <"$tmp/figs/losses.csv") lines, expected 60"
grep -q '^init,style.png,1,[0-9]' "$tmp/figs/losses.csv" || fail "losses.csv lacks init/style.png's terms"
grep -qE '^video,multipass/frame_00[0-9]{2}.png,1,[0-9].*,[0-9][-0-9.e]*$' "$tmp/figs/losses.csv" ||
  fail "losses.csv lacks the multi-pass clip's terms and warping error"
[[ -s $tmp/figs/losses/curves_seconds.png && -s $tmp/figs/logs/losses/adam_lr10.jsonl ]] || fail "no loss-curve plot or log"
[[ -s $tmp/figs/video/warping_error.png && -s $tmp/figs/logs/video/temporal.jsonl ]] || fail "no warping-error plot or log"
[[ ! -e $tmp/figs.partial ]] || fail "figs.partial left behind"

# An existing output is kept without --force.
touch "$tmp/figs/mine.txt"
if figures --out "$tmp/figs" --only colors 2>"$tmp/log"; then fail "an existing output was replaced without --force"; fi
grep -q "exists (use --force" "$tmp/log" || fail "no message for an existing output: $(cat "$tmp/log")"
[[ -e $tmp/figs/mine.txt ]] || fail "the existing output was touched"

# A missing input and a failing run: one line, non-zero, nothing written.
if figures --out "$tmp/bad" --content "$tmp/none.png" 2>"$tmp/log"; then fail "a missing content was accepted"; fi
grep -q "none.png is missing" "$tmp/log" || fail "no message for a missing input: $(cat "$tmp/log")"
# Several times: the two runs of the pool fail at about the same moment, and the clean-up must run whichever
# ends first (a run that ended by itself before the other was stopped once kept it from running).
for attempt in 1 2 3 4 5 6; do
  if figures --out "$tmp/bad" --only colors --weights "$tmp/none.h5" 2>"$tmp/log"; then fail "a failing run passed"; fi
  grep -q "the run for colors/[a-z_]*.png failed" "$tmp/log" || fail "no message for a failing run: $(cat "$tmp/log")"
  [[ ! -e $tmp/bad && ! -e $tmp/bad.partial ]] || fail "a failed figures run left files behind (attempt $attempt)"
done
if figures --out "$tmp/bad" --jobs 0 2>"$tmp/log"; then fail "--jobs 0 was accepted"; fi
grep -q "jobs must be a positive integer" "$tmp/log" || fail "no message for --jobs 0: $(cat "$tmp/log")"
[[ ! -e $tmp/bad && ! -e $tmp/bad.partial ]] || fail "a failed figures run left files behind"
echo "tools.figures: 57 images, 6 clips, index.html, losses.csv, refusals: ok"
