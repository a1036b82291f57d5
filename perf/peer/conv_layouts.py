#!/usr/bin/env python3
"""perf/peer/conv_layouts.py — what cuDNN (through PyTorch, cudnn.benchmark on) gives VGG-19's convolutions
conv1_1 … conv5_1 in each memory layout and precision: forward + backward-data (the image gradient; no weight
gradient), batch 1, summed over the 13 layers impasto runs, per image size. For deciding impasto's layout and
precision: NCHW is what impasto uses today (bf16 on NHWC copies); the peer uses NCHW TF32.

    conv_layouts.py --sizes 512,1024 --iterations 10 --json layouts.json

--per-layer: each layer alone instead, forward (conv2d with bias, then ReLU: what the peer runs) and
backward-data (torch.nn.grad.conv2d_input) timed apart, TF32 in NHWC and in NCHW (the peer's layout): the
torch side of `bench --conv-layers` (perf/summarize.py puts the two side by side).

    conv_layouts.py --per-layer --sizes 1024 --iterations 20 --json conv_layers_peer.json
"""
import argparse
import json

import torch
import torch.nn.functional as F

NAMES = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1",
         "conv4_2", "conv4_3", "conv4_4", "conv5_1"]
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


def layer_tensors(size, precision, layout):
    """Per layer conv1_1 … conv5_1: (name, h, x (1,Cin,h,h), w (Cout,Cin,3,3), dy (1,Cout,h,h)), seeded, in
    the precision's dtype and the layout's memory format."""
    set_precision(precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    gen = torch.Generator(device="cuda").manual_seed(0)
    for name, (cin, cout, down) in zip(NAMES, LAYERS):
        h = size // down
        x = torch.randn(1, cin, h, h, device="cuda", generator=gen).to(dtype).to(memory_format=fmt)
        w = (torch.randn(cout, cin, 3, 3, device="cuda", generator=gen) * 0.05).to(dtype).to(memory_format=fmt)
        dy = torch.randn(1, cout, h, h, device="cuda", generator=gen).to(dtype).to(memory_format=fmt)
        yield name, h, x, w, dy


def cuda_ms(fn, iterations, warmup):
    """ms per call of fn, CUDA events around `iterations` calls after `warmup`."""
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iterations):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / iterations


def time_config(size, precision, layout, iterations, warmup):
    """All layers in turn: forward, then the input gradient by autograd."""
    ops = [(x.requires_grad_(), w, dy) for _, _, x, w, dy in layer_tensors(size, precision, layout)]

    def once():
        for x, w, dy in ops:
            y = F.conv2d(x, w, padding=1)
            (gx,) = torch.autograd.grad(y, x, dy)

    return cuda_ms(once, iterations, warmup)


def time_layers(size, precision, layout, iterations, warmup):
    """Per layer: forward (conv2d + bias, then ReLU in place) and backward-data, each alone."""
    rows = []
    with torch.no_grad():
        for name, h, x, w, dy in layer_tensors(size, precision, layout):
            cout, cin = w.shape[0], w.shape[1]
            b = torch.zeros(cout, device="cuda", dtype=x.dtype)
            fwd = cuda_ms(lambda: F.relu(F.conv2d(x, w, b, padding=1), inplace=True), iterations, warmup)
            bwd = cuda_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, padding=1), iterations, warmup)
            flops = 2 * 9 * cin * cout * h * h
            rows.append({"name": name, "cin": cin, "cout": cout, "height": h, "width": h, "forward_ms": fwd,
                         "backward_data_ms": bwd, "tflops_forward": flops / fwd / 1e9,
                         "tflops_backward_data": flops / bwd / 1e9})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--per-layer", action="store_true", help="each layer alone, forward and backward-data apart")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("conv_layouts.py: no CUDA device")
    torch.backends.cudnn.benchmark = True
    print(f"conv_layouts: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    if args.per_layer:
        report = {"tool": "torch conv_layouts", "mode": "conv-layers", "backend": torch.cuda.get_device_name(),
                  "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "runs": []}
        for size in [int(s) for s in args.sizes.split(",")]:
            for precision, layout in [("tf32", "nhwc"), ("tf32", "nchw")]:
                layers = time_layers(size, precision, layout, args.iterations, args.warmup)
                report["runs"].append({"height": size, "width": size, "precision": precision, "layout": layout.upper(),
                                       "layers": layers})
                for l in layers:
                    print(f"{size:5d} {precision} {layout} {l['name']:8s} forward {l['forward_ms']:8.3f} ms "
                          f"backward-data {l['backward_data_ms']:8.3f} ms", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        return
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
