#!/usr/bin/env python3
"""perf/video_bench.py — `impasto video` throughput: seconds per frame and frames/s after the first frame, per
frame size, with the default iterations and the temporal loss (issue 14, item 7: the base the multi-rank
scaling is measured against).

The clip is synthetic so that it runs anywhere the bundle runs (the GPU machine has no sample videos and the
bundle no OpenCV): a smooth colour texture seen through a window sliding one pixel per frame, written as PNGs,
with its exact forward and backward flows as Middlebury .flo files (so the flows are read, not computed: the
number is the stylization's). Standard library plus numpy.

    python3 perf/video_bench.py --impasto build/tools/impasto --device cuda --sizes 640x360,1280x720 \
        --frames 5 --out /tmp/video_bench --json $OUT/video_bench.json

Prints one line per size and writes a JSON report: {"device", "sizes": [{"size", "frames", "first_frame_s",
"later_frame_s", "frames_per_s", "iterations", "frame_iterations", "flicker"}]}.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np


def write_png(path, rgb):
    """rgb: (h, w, 3) uint8 → an 8-bit RGB PNG (zlib, no filter)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def write_flo(path, u, v, h, w):
    """A constant flow (u, v) of h×w as a Middlebury .flo file."""
    data = np.empty((h, w, 2), np.float32)
    data[..., 0] = u
    data[..., 1] = v
    with open(path, "wb") as f:
        f.write(b"PIEH" + struct.pack("<ii", w, h) + data.tobytes())


def texture(h, w, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(3):
            fx, fy, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 6.28)
            img[..., c] += np.sin(fx * x + fy * y + ph)
    return np.clip(127.5 + 40 * img, 0, 255).astype(np.uint8)


def make_clip(folder, w, h, frames):
    """Frames that move right by one pixel per frame, and the flows of offset 1 (Ruder's names, 1-based)."""
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    os.makedirs(os.path.join(folder, "flow"), exist_ok=True)
    base = texture(h, w + frames, 7)
    for t in range(frames):
        write_png(os.path.join(folder, "frames", "f%03d.png" % (t + 1)), base[:, frames - t:frames - t + w])
    for t in range(frames - 1):
        write_flo(os.path.join(folder, "flow", "forward_%d_%d.flo" % (t + 1, t + 2)), 1.0, 0.0, h, w)
        write_flo(os.path.join(folder, "flow", "backward_%d_%d.flo" % (t + 2, t + 1)), -1.0, 0.0, h, w)
    write_png(os.path.join(folder, "style.png"), texture(h // 2, w // 2, 11)[:, ::-1])


def run_size(args, w, h):
    folder = os.path.join(args.out, "%dx%d" % (w, h))
    make_clip(folder, w, h, args.frames)
    out = os.path.join(folder, "out")
    log = os.path.join(folder, "video.log")
    for stale in (log,):
        if os.path.exists(stale):
            os.remove(stale)
    cmd = [args.impasto, "video", "--input", os.path.join(folder, "frames"), "--flow-dir",
           os.path.join(folder, "flow"), "--style", os.path.join(folder, "style.png"), "--size", "0",
           "--device", args.device, "--no-video", "--quiet", "--force", "--out", out, "--log", log]
    cmd += args.extra
    start = time.time()
    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit("video_bench: %dx%d: impasto failed: %s" % (w, h, done.stderr.strip().splitlines()[-1:]))
    lines = [json.loads(l) for l in open(log) if l.strip()]
    frames = [l for l in lines if "frame" in l and "pass" in l]
    summary = [l for l in lines if l.get("summary")][-1]
    first = frames[0]["seconds"]
    later = [f["seconds"] for f in frames[1:]]
    per = sum(later) / len(later) if later else float("nan")
    return {"size": "%dx%d" % (w, h), "frames": len(frames), "first_frame_s": first, "later_frame_s": per,
            "frames_per_s": 1.0 / per if later else float("nan"), "iterations": frames[0]["iterations"],
            "frame_iterations": frames[-1]["iterations"], "flicker": summary["flicker"], "wall_s": wall}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impasto", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", default="640x360,1280x720")
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--out", default="/tmp/impasto-video-bench")
    p.add_argument("--json", default="")
    p.add_argument("extra", nargs="*", help="further impasto video options, after --")
    args = p.parse_args()
    if args.frames < 2:
        sys.exit("video_bench: --frames must be >= 2 (the first frame is timed apart)")
    report = {"device": args.device, "sizes": []}
    for s in args.sizes.split(","):
        w, h = (int(v) for v in s.split("x"))
        r = run_size(args, w, h)
        report["sizes"].append(r)
        print("video %s: first frame %.2f s (%d it), later frames %.2f s each (%d it) = %.3f frames/s; flicker %.3g"
              % (r["size"], r["first_frame_s"], r["iterations"], r["later_frame_s"], r["frame_iterations"],
                 r["frames_per_s"], r["flicker"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
