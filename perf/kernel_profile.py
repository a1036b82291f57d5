#!/usr/bin/env python3
"""perf/kernel_profile.py — where an iteration's GPU time goes, kernel by kernel: reads the CSV that Nsight
Compute writes for `bench` or the PyTorch peer (one metric, gpu__time_duration.sum, per kernel launch; both
open the profiler's capture window around their timed iterations) and prints the time per
iteration by kind of kernel (cuDNN convolutions forward / backward-data, cuBLAS GEMMs, pooling, ReLU, layout
changes, reductions, losses, other element-wise) and the most expensive kernels. Standard library only.

perf/gpu_check.sh runs it on the device; by hand:

    ncu --profile-from-start off --cache-control none --clock-control none \\
        --metrics gpu__time_duration.sum --csv --log-file ncu.csv \\
        bench --device cuda --sizes 1024 --iterations 2 --warmup 1 --no-phases
    perf/kernel_profile.py ncu.csv --iterations 2 [--markdown profile.md]

bench opens the profiler's capture window (cudaProfilerStart) at the start of its timed iterations and closes
it at their end, so the report holds exactly those N iterations (no planning, no warm-up); --iterations N
divides the totals. Kernel times are as ncu measures them, one launch at a time (serialized; with the cache
and clock control off, caches stay warm and clocks boost as in a real run): their sum exceeds the iteration's
wall time where launches would overlap, and falls short of it by the host's gaps.
"""
import argparse
import csv
import re
import sys
from collections import defaultdict

from summarize import emit  # perf/summarize.py, beside this file

# The first rule whose words appear in the lower-cased kernel name gives its kind; the order matters (a cuDNN
# dgrad kernel also says "implicit_gemm"; cuBLAS's GEMMs are "xmma_gemm" kernels too, so GEMM comes before the
# catch-all "xmma" of cuDNN's other kernels).
KINDS = [
    ("conv forward (cuDNN)", ("fprop", "convolve_sgemm", "conv2d_fwd")),
    ("conv backward-data (cuDNN)", ("dgrad", "conv2d_bwd", "convolvebackward")),
    ("conv backward-filter (cuDNN; neither side needs it)", ("wgrad",)),
    ("GEMM / GEMV (Gram, L-BFGS history)", ("gemm", "gemv", "cublas", "splitk", "nvjet")),
    ("cuDNN other (transposes, FFT, Winograd)", ("cudnn", "xmma", "winograd", "fft", "nchwtonhwc", "nhwctonchw")),
    ("pooling", ("pool",)),
    ("ReLU", ("relu", "threshold", "clamp_min")),  # PyTorch's ReLU backward is threshold_backward
    ("layout change / bf16 staging", ("transpose", "gather", "bf16")),
    ("reductions", ("partials_kernel", "finish_kernel", "reduce")),
    ("losses, TV", ("sq_diff", "tv_kernel")),
]
OTHER = "other element-wise (copy, axpy, scale, fill, …)"
UNITS = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0, "second": 1e3,
         "s": 1e3}


def kind_of(name):
    low = name.lower()
    for kind, words in KINDS:
        if any(w in low for w in words):
            return kind
    return OTHER


def short_name(name, width=100):
    """The kernel's name without its parameter list and namespaces, cut to `width` (template arguments stay:
    for_each_kernel<…> names its functor there)."""
    depth, end = 0, len(name)
    for i, ch in enumerate(name):  # the parameter list: the first "(" outside template brackets
        depth += (ch == "<") - (ch == ">")
        if ch == "(" and depth == 0 and i > 0:
            end = i
            break
    text = re.sub(r"\b(void|impasto::|kernels::)\s*|\(anonymous namespace\)::", "", name[:end]).strip() or name
    return text if len(text) <= width else text[: width - 1] + "…"


def read_launches(path):
    """[(kernel name, ms)] for every launch with a gpu__time_duration value in an ncu --csv report."""
    with open(path, newline="") as f:
        rows = [line for line in f if line.startswith('"')]  # drops ==PROF== and other log lines
    launches = []
    for row in csv.DictReader(rows):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        scale = UNITS.get(row.get("Metric Unit", "").strip())
        if scale is None:
            sys.exit(f"kernel_profile: unknown unit {row.get('Metric Unit')!r} in {path}")
        value = float(row["Metric Value"].replace(",", ""))
        launches.append((row["Kernel Name"], value * scale))
    return launches


def report(launches, iterations, top):
    total = sum(ms for _, ms in launches)
    by_kind, by_name, count_kind = defaultdict(float), defaultdict(float), defaultdict(int)
    for name, ms in launches:
        by_kind[kind_of(name)] += ms
        by_name[name] += ms
        count_kind[kind_of(name)] += 1
    lines = [f"kernel time per iteration: {total / iterations:.3f} ms ({len(launches) / iterations:.0f} launches; "
             f"ncu gpu__time_duration over {iterations} iteration(s), one launch at a time)", "",
             "| kind | launches/it | ms/it | share |", "|---|---|---|---|"]
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {count_kind[kind] / iterations:.4g} | {ms / iterations:.3f} | "
                     f"{100 * ms / total:.1f}% |")
    lines += ["", f"top {top} kernels:", "", "| kernel | kind | ms/it |", "|---|---|---|"]
    for name, ms in sorted(by_name.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| `{short_name(name)}` | {kind_of(name)} | {ms / iterations:.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="ncu --csv --log-file output with gpu__time_duration.sum")
    ap.add_argument("--iterations", type=int, default=1, help="iterations the profile covers (divides the totals)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--markdown", help="also write the tables here")
    args = ap.parse_args()
    if args.iterations < 1:
        ap.error("--iterations must be >= 1")
    launches = read_launches(args.csv)
    if not launches:
        sys.exit(f"kernel_profile: no kernel with gpu__time_duration.sum in {args.csv} (was the capture window "
                 "opened: ncu --profile-from-start off with a bench that calls cudaProfilerStart?)")
    emit(report(launches, args.iterations, args.top), args.markdown)


if __name__ == "__main__":
    main()
