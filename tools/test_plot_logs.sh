#!/usr/bin/env bash
# tools/test_plot_logs.sh — ctest tools.plot_logs: tools/plot_logs.py draws a PNG from two synthetic logs (closing
# line and blank lines skipped, per-term curves, either x axis), a video log's warping error per frame (--flicker),
# and refuses bad input with one line, exit 1 and no file: a missing log, a line that is not JSON, a log without
# iteration lines (or, with --flicker, without a summary), miscounted labels, a non-PNG out.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=/usr/bin/python3
[[ -x $python ]] || python=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
plot() { "$python" "$here/plot_logs.py" "$@"; }

for run in a b; do
  for i in 0 1 2 3 4; do
    printf '{"iteration":%d,"level":0,"loss":%s,"content":%s,"style":%s,"tv":1.5,"photo":0,"seconds":%s}\n' \
      "$i" "$((1000 / (i + 1)))" "$((10 * i))" "$((900 / (i + 1)))" "0.$i"
  done >"$tmp/$run.jsonl"
  printf '\n{"final":true,"iterations":4,"loss":200,"photo_energy":1.5,"seconds":0.5,"stop_reason":"max iterations"}\n' \
    >>"$tmp/$run.jsonl"
done
plot "$tmp/a.jsonl" --label first "$tmp/b.jsonl" --label second --terms --out "$tmp/curves.png" 2>"$tmp/log" ||
  fail "the plot failed: $(cat "$tmp/log")"
[[ $(head -c 8 "$tmp/curves.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "curves.png is not a PNG"
(($(stat -c %s "$tmp/curves.png") > 10000)) || fail "curves.png is suspiciously small"
plot "$tmp/a.jsonl" --x seconds --out "$tmp/seconds.png" 2>"$tmp/log" || fail "--x seconds failed: $(cat "$tmp/log")"
[[ -s $tmp/seconds.png ]] || fail "no seconds.png"

# --flicker: a video log's summary line, one curve per clip.
for clip in c1 c2; do
  printf '{"pass":1,"frame":1,"iterations":3,"loss":5}\n{"summary":true,"frames":4,"flicker":0.02,"flicker_per_frame":[0.01,0.03,0.02]}\n'
done >"$tmp/clip.jsonl"
plot "$tmp/clip.jsonl" --label clip --flicker --out "$tmp/flicker.png" 2>"$tmp/log" || fail "--flicker failed: $(cat "$tmp/log")"
grep -q "warping error per frame" "$tmp/log" && [[ -s $tmp/flicker.png ]] || fail "no flicker plot: $(cat "$tmp/log")"

# refuse LOG-ARGS... EXPECT: exit 1, one line naming the problem, no out.png.
refuse() {
  local expect=${*: -1}
  if plot "${@:1:$#-1}" 2>"$tmp/log"; then fail "accepted: ${*:1:$#-1}"; fi
  (($(wc -l <"$tmp/log") == 1)) || fail "not one line for '$expect': $(cat "$tmp/log")"
  grep -q -- "$expect" "$tmp/log" || fail "no '$expect' in: $(cat "$tmp/log")"
  [[ ! -e $tmp/out.png ]] || fail "out.png written by a refused run ($expect)"
  ls -A "$tmp" | grep -q '^\.plot-' && fail "a temporary file was left ($expect)"
  return 0
}
refuse "$tmp/none.jsonl" --out "$tmp/out.png" "none.jsonl': no such file"
printf '{"iteration":0,"loss":1}\nnot json\n' >"$tmp/bad.jsonl"
refuse "$tmp/bad.jsonl" --out "$tmp/out.png" "line 2 is not JSON"
printf '{"frame":1,"loss":1}\n' >"$tmp/frames.jsonl"
refuse "$tmp/frames.jsonl" --out "$tmp/out.png" "no iteration lines"
refuse "$tmp/a.jsonl" "$tmp/b.jsonl" --label one --out "$tmp/out.png" "1 --label for 2 logs"
refuse "$tmp/a.jsonl" --out "$tmp/out.jpg" "expected a .png"
refuse "$tmp/a.jsonl" --flicker --out "$tmp/out.png" "no summary line with flicker_per_frame"
echo "tools.plot_logs: plots and refusals: ok"
