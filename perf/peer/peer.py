#!/usr/bin/env python3
"""perf/peer/peer.py — the PyTorch peer of perf/bench.cpp: the same objective (DESIGN.md "The math", impasto's
defaults), the same weights (loaded from impasto's exported HDF5), the same synthetic images and the same
optimizer (torch.optim.LBFGS, history 100, no line search: one evaluation per iteration), timed the same way:
W warm-up iterations, then N iterations between two torch.cuda.synchronize() calls.

PyTorch at its best as well as at its defaults: `--compile MODE` runs the objective (forward, losses and, through
AOTAutograd, its backward) through torch.compile (`reduce-overhead` adds CUDA graphs, as impasto's replayed
evaluation), and `--channels-last` keeps the image, the weights and so every activation channels-last (NHWC:
faster under TF32 on Hopper, perf/RESULTS.md). The compile happens in the warm-up iterations, outside the timing.

    impasto weights export /tmp/vgg.h5 --seed 0
    perf/peer/peer.py --weights /tmp/vgg.h5 --device cuda --sizes 512,1024 --iterations 20 --warmup 5 \
        --precision tf32 --json peer.json

Objective, for x in network space (BGR, mean subtracted), features from a VGG-19 truncated after conv5_1 with
average pooling:
  content  α·K·Σ(F−P)² at conv4_2, K = 1/(2·√N·√M) (variant 1), α = 5 (one layer: weight 1, count 1);
  style    β·Σ_l (0.2/Σw)/5 · 1/(4N²M²)·Σ(G−A)² over relu1_1 … relu5_1, G = F·Fᵀ, β = 1e4;
  TV       θ·(Σ|x(i+1,j)−x(i,j)| + Σ|x(i,j+1)−x(i,j)|), θ = 1e-3.
The style target A is the style image's Gram at the same size (impasto rescales G_style/M_style by the output's
M, which is the identity here). `--compare-with BENCH.json` checks that impasto's loss terms at iteration 0 and
its loss trace agree with this peer's (perf/peer/check_same_objective.sh).

Runs on the CPU too (`--device cpu`, e.g. Debian's python3-torch 1.13), so the objective check needs no GPU.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from impasto_io import CONVS, load_keras, preprocess, synthetic_image

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
STYLE_LAYER_WEIGHT = 0.2
ALPHA, BETA, THETA = 5.0, 1e4, 1e-3
DEEPEST = 12  # conv5_1: the network ends at the deepest layer in use


def parse_size(s):
    w, _, h = s.partition("x")
    return (int(h or w), int(w))  # (h, w); "512" is square


def set_tf32(enabled):
    """TF32 tensor cores for convolutions and matmuls (torch >= 2.9 spells it fp32_precision)."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        mode = "tf32" if enabled else "ieee"
        torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
    else:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


class Vgg19:
    """VGG-19 features conv1_1 … conv5_1 with average pooling; forward returns the requested taps."""

    def __init__(self, weights, device, channels_last=False):
        self.layers = []
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for name, keras, cin, cout, pool_after in CONVS[:DEEPEST + 1]:
            k, b = weights[keras]
            assert k.shape == (cout, cin, 3, 3), (name, k.shape)
            k = torch.from_numpy(k).to(device).contiguous(memory_format=fmt)
            self.layers.append((name, k, torch.from_numpy(b).to(device), pool_after))

    def __call__(self, x, taps):
        out = {}
        # The image stays NCHW (torch.optim.LBFGS views its gradient flat); the network runs in the weights' format.
        h = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        for i, (name, k, b, pool_after) in enumerate(self.layers):
            conv = F.conv2d(h, k, b, padding=1)
            relu_name = "relu" + name[4:]
            if name in taps:
                out[name] = conv
                h = F.relu(conv)
            else:
                h = F.relu(conv, inplace=True)  # as torchvision's VGG: the conv output is not kept
            if relu_name in taps:
                out[relu_name] = h
            if pool_after and i < DEEPEST:
                h = F.avg_pool2d(h, 2, 2)
        return out


def gram(f):
    n = f.shape[1]
    m = f.reshape(n, -1)
    return m @ m.t()


class Objective:
    def __init__(self, net, content, style):
        self.net = net
        with torch.no_grad():
            self.content_target = net(content, {CONTENT_LAYER})[CONTENT_LAYER].clone()
            feats = net(style, set(STYLE_LAYERS))
            self.style_targets = [gram(feats[l]) for l in STYLE_LAYERS]
        self.taps = set(STYLE_LAYERS) | {CONTENT_LAYER}
        self.terms = None  # (content, style, tv) of the last evaluation, as tensors

    def __call__(self, x):
        self.terms = self.terms_of(x)
        return self.terms[0] + self.terms[1] + self.terms[2]

    def terms_of(self, x):
        """(content, style, tv) at x, as tensors."""
        feats = self.net(x, self.taps)
        f = feats[CONTENT_LAYER]
        n, m = f.shape[1], f.shape[2] * f.shape[3]
        content = ALPHA / (2.0 * math.sqrt(n) * math.sqrt(m)) * (f - self.content_target).pow(2).sum()
        style = 0.0
        layer_factor = STYLE_LAYER_WEIGHT / (STYLE_LAYER_WEIGHT * len(STYLE_LAYERS)) / len(STYLE_LAYERS)
        for name, target in zip(STYLE_LAYERS, self.style_targets):
            f = feats[name]
            n, m = f.shape[1], f.shape[2] * f.shape[3]
            style = style + BETA * layer_factor / (4.0 * n * n * m * m) * (gram(f) - target).pow(2).sum()
        tv = THETA * ((x[:, :, 1:, :] - x[:, :, :-1, :]).abs().sum() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().sum())
        return content, style, tv


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def profiler_capture(device, on):
    """cudaProfilerStart / Stop around the timed iterations (nothing without a profiler attached)."""
    if device.type == "cuda":
        (torch.cuda.profiler.start if on else torch.cuda.profiler.stop)()


def timed_lbfgs(x, closure, device, history, warmup, iterations):
    """torch.optim.LBFGS (lr 1, no line search, no tolerances) on x: `warmup` iterations in one step(), then
    `iterations` in a second step() between two synchronizations. Returns (optimizer, ms per timed iteration).
    One step() with max_iter=K makes K evaluations and K updates; the next step() starts by evaluating the point
    the last update reached, so W + N iterations make W + N evaluations, one per iteration."""
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=max(warmup, 1), max_eval=10**9, tolerance_grad=0.0,
                            tolerance_change=0.0, history_size=history, line_search_fn=None)
    if warmup > 0:
        opt.step(closure)
    opt.param_groups[0]["max_iter"] = iterations
    sync(device)
    profiler_capture(device, True)  # what `ncu --profile-from-start off` records, as in perf/bench
    t0 = time.perf_counter()
    opt.step(closure)
    sync(device)
    ms = (time.perf_counter() - t0) * 1e3 / iterations
    profiler_capture(device, False)
    return opt, ms


def compiled(objective, mode):
    """The objective through torch.compile (one graph per image size: no dynamic shapes), or as it is."""
    if mode == "none":
        return objective

    def total(x):
        content, style, tv = objective.terms_of(x)
        return content + style + tv

    return torch.compile(total, mode=None if mode == "default" else mode, dynamic=False, fullgraph=True)


def run_size(args, device, weights, h, w):
    net = Vgg19(weights, device, args.channels_last)
    to_tensor = lambda rgb: torch.from_numpy(preprocess(rgb)).unsqueeze(0).to(device)  # noqa: E731 (1,3,H,W)
    content = to_tensor(synthetic_image(False, h, w))
    style = to_tensor(synthetic_image(True, h, w))
    objective = Objective(net, content, style)
    evaluate = compiled(objective, args.compile)
    init = content.clone() if args.init == "content" else 0.5 * content + 0.5 * style
    del content, style
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    x = init.clone().requires_grad_(True)
    losses, first_terms, stamps = [], [], []

    def closure():
        x.grad = None  # what opt.zero_grad() does for the one parameter
        if not first_terms:  # the terms of iteration 0, from the eager objective (a compiled one returns the sum)
            with torch.no_grad():
                objective(x)
            first_terms.extend(float(t.detach()) for t in objective.terms)
        loss = evaluate(x)
        loss.backward()
        if len(first_terms) == 3:
            first_terms.append(float(x.grad.abs().sum(dtype=torch.float64)))
        losses.append(float(loss.detach()))  # torch.optim.LBFGS reads it on the host as well
        stamps.append(time.perf_counter())  # after the read-back: an iteration boundary, as in perf/bench
        return loss

    ms = timed_lbfgs(x, closure, device, args.history, args.warmup, args.iterations)[1]
    assert len(losses) == args.warmup + args.iterations, (len(losses), args.warmup, args.iterations)
    each = sorted((b - a) * 1e3 for a, b in zip(stamps[args.warmup:], stamps[args.warmup + 1:]))
    run = {"height": h, "width": w, "ms_per_iteration": ms, "loss_first": losses[0], "loss_last": losses[-1],
           "terms_first": dict(zip(("content", "style", "tv"), first_terms)), "grad_l1_first": first_terms[3]}
    if each:
        run["ms_per_iteration_median"] = each[len(each) // 2]
        run["ms_per_iteration_min"] = each[0]
    if device.type == "cuda":
        run["max_memory_allocated"] = torch.cuda.max_memory_allocated()
    if args.losses:
        run["losses"] = losses
    return run


def quadratic_problem(n):
    """perf/bench.cpp's quadratic_problem: λ_i = 10^(4·frac(i·φ)), t_i = frac(i·ρ) − ½, in double, then float."""
    k = np.arange(n, dtype=np.float64)
    lam = np.power(10.0, 4 * np.fmod(k * 0.6180339887498949, 1.0)).astype(np.float32)
    target = (np.fmod(k * 0.3247179572447460, 1.0) - 0.5).astype(np.float32)
    return lam, target


def run_optimizer_only(args, device, h, w):
    """torch.optim.LBFGS alone on perf/bench's diagonal quadratic f(x) = ½·Σ λ·(x − t)² over (1,3,H,W), as
    `bench --optimizer-only`: max(W, M) warm-up iterations fill the history, N are timed, and the objective's
    own time (N evaluations; the gradient is written directly, no autograd) is subtracted."""
    lam, target = quadratic_problem(3 * h * w)
    lam = torch.from_numpy(lam).to(device).view(1, 3, h, w)
    target = torch.from_numpy(target).to(device).view(1, 3, h, w)
    x = torch.zeros(1, 3, h, w, device=device, requires_grad=True)
    losses = []

    def closure():
        with torch.no_grad():
            diff = x - target
            grad = lam * diff
            loss = 0.5 * torch.dot(diff.flatten(), grad.flatten())
        x.grad = grad
        losses.append(float(loss))  # torch.optim.LBFGS reads the loss on the host as well
        return loss

    warmup = max(args.warmup, args.history)
    opt, total = timed_lbfgs(x, closure, device, args.history, warmup, args.iterations)
    assert len(losses) == warmup + args.iterations, (len(losses), warmup, args.iterations)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        closure()
    sync(device)
    objective = (time.perf_counter() - t0) * 1e3 / args.iterations
    history = len(opt.state[opt._params[0]]["old_dirs"])
    return {"height": h, "width": w, "history": args.history, "history_kept": history, "warmup_iterations": warmup,
            "loss_first": losses[0], "loss_last": losses[-1], "ms_per_iteration": total, "objective_ms": objective,
            "optimizer_ms": total - objective}


def compare(peer, bench_path, tolerance):
    """Prints impasto's and the peer's terms at iteration 0 and their loss traces; True when they agree."""
    with open(bench_path) as f:
        bench = json.load(f)
    ok = True
    for b, p in zip(bench["runs"], peer["runs"]):
        assert (b["height"], b["width"]) == (p["height"], p["width"]), "size mismatch between the two JSON files"
        print(f"{p['width']}x{p['height']}: iteration 0 terms (impasto vs PyTorch), tolerance {tolerance:g} relative")
        for term in ("content", "style", "tv", "|grad|_1"):
            if term == "|grad|_1":
                bi, pi = b["grad_l1_first"], p["grad_l1_first"]
            else:
                bi, pi = b["terms_first"][term], p["terms_first"][term]
            rel = abs(bi - pi) / max(abs(pi), 1e-30)
            good = rel <= tolerance or (bi == 0 and pi == 0)
            ok &= good
            print(f"  {term:8s} {bi:16.8g} {pi:16.8g}  rel {rel:.2e}  {'ok' if good else 'DIFFERS'}")
        trace = list(zip(b.get("losses", []), p.get("losses", [])))
        for k, (bi, pi) in enumerate(trace):
            rel = abs(bi - pi) / max(abs(pi), 1e-30)
            # Iterations 0 and 1 (x1 = x0 − min(1, 1/‖g‖₁)·g) depend only on the objective and its gradient.
            # From iteration 2 on, y = g_k − g_{k−1} over a tiny first step cancels most digits in float32, so
            # the two traces part by rounding alone: shown, not checked.
            checked = k <= 1
            good = rel <= tolerance
            ok &= good or not checked
            verdict = ("ok" if good else "DIFFERS") if checked else "(not checked)"
            print(f"  loss[{k:2d}] {bi:16.8g} {pi:16.8g}  rel {rel:.2e}  {verdict}")
    print("same objective: " + ("yes" if ok else "NO"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", help="impasto's exported HDF5 (impasto weights export OUT.h5); not with "
                    "--optimizer-only")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--sizes", default="512,1024", help="comma-separated N or WxH")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "tf32"], help="default: tf32 on cuda, fp32 on cpu")
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--init", choices=["content", "mix"], default="content")
    ap.add_argument("--losses", action="store_true", help="record the loss of every iteration")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--compare-with", metavar="BENCH_JSON", help="check the loss terms against perf/bench's")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (--device cpu)")
    ap.add_argument("--compile", choices=["none", "default", "reduce-overhead", "max-autotune-no-cudagraphs",
                                          "max-autotune"], default="none",
                    help="torch.compile the objective in this mode (reduce-overhead: with CUDA graphs)")
    ap.add_argument("--channels-last", action="store_true", help="image, weights and activations channels-last")
    ap.add_argument("--optimizer-only", action="store_true",
                    help="time torch.optim.LBFGS alone on perf/bench's quadratic (as bench --optimizer-only)")
    args = ap.parse_args()
    if not args.weights and not args.optimizer_only:
        ap.error("--weights is required (except with --optimizer-only)")
    if args.iterations < 1 or args.warmup < 0:
        ap.error("--iterations must be >= 1 and --warmup >= 0")

    device = torch.device(args.device)
    precision = args.precision or ("tf32" if device.type == "cuda" else "fp32")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("peer: --device cuda but torch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
        set_tf32(precision == "tf32")
        name = torch.cuda.get_device_name()
    else:
        torch.set_num_threads(args.threads)
        name = f"cpu ({torch.get_num_threads()} threads)"
    weights = None if args.optimizer_only else load_keras(args.weights)
    report = {"tool": "torch peer", "mode": "optimizer-only" if args.optimizer_only else "stylize", "backend": name, "device": device.type, "precision": precision,
              "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "weights": args.weights,
              "history": args.history, "warmup": args.warmup, "iterations": args.iterations, "init": args.init,
              "compile": args.compile, "channels_last": args.channels_last,
              "command": " ".join(sys.argv), "runs": []}
    print(f"torch peer: {name}, {precision}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"torch.compile {args.compile}, {'channels-last' if args.channels_last else 'NCHW'}", flush=True)
    for s in args.sizes.split(","):
        h, w = parse_size(s)
        if args.optimizer_only:
            run = run_optimizer_only(args, device, h, w)
            print(f"{w:5d}x{h:<5d} L-BFGS alone, history {run['history']} ({run['history_kept']} kept): "
                  f"{run['ms_per_iteration']:.3f} ms/it = objective {run['objective_ms']:.3f} ms + optimizer "
                  f"{run['optimizer_ms']:.3f} ms; loss {run['loss_first']:.4g} -> {run['loss_last']:.4g}", flush=True)
            report["runs"].append(run)
            continue
        run = run_size(args, device, weights, h, w)
        mem = f", {run['max_memory_allocated'] / 2**20:.1f} MiB peak" if "max_memory_allocated" in run else ""
        median = f" (median {run['ms_per_iteration_median']:.2f})" if "ms_per_iteration_median" in run else ""
        print(f"{w:5d}x{h:<5d} {run['ms_per_iteration']:10.2f} ms/it{median}{mem}", flush=True)
        report["runs"].append(run)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.compare_with and not compare(report, args.compare_with, args.tolerance):
        sys.exit(1)


if __name__ == "__main__":
    main()
