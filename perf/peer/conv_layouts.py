#!/usr/bin/env python3
"""perf/peer/conv_layouts.py — what cuDNN (through PyTorch, cudnn.benchmark on) gives VGG-19's convolutions
conv1_1 … conv5_1 in each memory layout and precision: forward + backward-data (the image gradient; no weight
gradient), batch 1, summed over the 13 layers impasto runs, per image size. For deciding impasto's layout and
precision: NCHW is what impasto uses today (bf16 on NHWC copies); the peer uses NCHW TF32.

    conv_layouts.py --sizes 512,1024 --iterations 10 --json layouts.json
"""
import argparse
import json

import torch
import torch.nn.functional as F

# (Cin, Cout, downsampling of the input size) for conv1_1 … conv5_1
LAYERS = [(3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 2), (128, 256, 4), (256, 256, 4), (256, 256, 4),
          (256, 256, 4), (256, 512, 8), (512, 512, 8), (512, 512, 8), (512, 512, 8), (512, 512, 16)]
CONFIGS = [("tf32", "nchw"), ("tf32", "nhwc"), ("bf16", "nchw"), ("bf16", "nhwc"), ("fp32", "nchw")]


def set_precision(p):
    tf32 = p == "tf32"
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        torch.backends.cudnn.conv.fp32_precision = "tf32" if tf32 else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = tf32


def time_config(size, precision, layout, iterations, warmup):
    set_precision(precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    gen = torch.Generator(device="cuda").manual_seed(0)
    ops = []
    for cin, cout, down in LAYERS:  # x (1,Cin,H,W), w (Cout,Cin,3,3), dy (1,Cout,H,W)
        h = size // down
        x = torch.randn(1, cin, h, h, device="cuda", generator=gen).to(dtype).to(memory_format=fmt).requires_grad_()
        w = (torch.randn(cout, cin, 3, 3, device="cuda", generator=gen) * 0.05).to(dtype).to(memory_format=fmt)
        dy = torch.randn(1, cout, h, h, device="cuda", generator=gen).to(dtype).to(memory_format=fmt)
        ops.append((x, w, dy))

    def once():
        for x, w, dy in ops:
            y = F.conv2d(x, w, padding=1)
            (gx,) = torch.autograd.grad(y, x, dy)

    for _ in range(warmup):
        once()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iterations):
        once()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / iterations


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("conv_layouts.py: no CUDA device")
    torch.backends.cudnn.benchmark = True
    print(f"conv_layouts: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        flops = sum(2 * 2 * 9 * cin * cout * (size // d) ** 2 for cin, cout, d in LAYERS)  # fwd + bwd-data
        for precision, layout in CONFIGS:
            ms = time_config(size, precision, layout, args.iterations, args.warmup)
            rows.append({"size": size, "precision": precision, "layout": layout, "ms": ms,
                         "tflops": flops / ms / 1e9})
            print(f"{size:5d}  {precision:4s} {layout}  conv fwd+bwd-data {ms:8.3f} ms  {flops / ms / 1e9:7.1f} TFLOP/s",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
