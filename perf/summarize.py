#!/usr/bin/env python3
"""perf/summarize.py — the table perf/gpu_check.sh prints last, from the JSON reports of perf/bench and
perf/peer/peer.py: per precision and size, impasto's and the peer's ms per iteration, their ratio (the target:
<= 0.5 at 512² and 1024²; impasto's experimental bf16 against the peer's TF32), impasto's achieved convolution TFLOP/s and its share of the card's peak, the phase
split, the memory plan, the max-size check, the optimizer alone (--optimizer-only) and each convolution alone
(--conv-layers, against conv_layouts.py --per-layer). Standard library only.

    perf/summarize.py OUT/*.json [--markdown summary.md]
"""
import argparse
import json
import os
import sys

PHASES = ["forward", "losses", "backward", "tv", "optimizer", "other"]


def load(paths):
    """JSON reports, and `impasto stylize --log` files (.jsonl): their final line, as a report of its own."""
    reports = []
    for p in paths:
        try:
            with open(p) as f:
                if not p.endswith(".jsonl"):
                    reports.append(json.load(f))
                    continue
                final = [j for j in map(json.loads, filter(str.strip, f)) if j.get("final")]
                if final:
                    reports.append(dict(final[-1], tool="impasto stylize", name=os.path.basename(p)[:-6]))
        except (OSError, ValueError) as e:
            print(f"summarize: skipping {p}: {e}", file=sys.stderr)
    return reports


def stylize_table(reports):
    """`impasto stylize` runs as a user runs them (gpu_check's end-to-end and high-resolution steps): where the
    time went from the process's start to the image written, the L-BFGS history taken and the memory estimate
    against the measured peak."""
    runs = [r for r in reports if r.get("tool") == "impasto stylize"]
    if not runs:
        return []
    phases = ["start-up", "device", "weights", "set-up", "optimization", "write"]
    lines = ["", "| stylize run | iterations | total s | " + " | ".join(phases) + " | L-BFGS history | GiB peak "
             "| estimate / peak |", "|---|---|---|" + "---|" * len(phases) + "---|---|---|"]
    for r in runs:
        t, m = r.get("timing", {}), r.get("memory", {})
        cells = " | ".join(f"{t[p]:.2f}" if p in t else "–" for p in phases)
        peak = m.get("peak_bytes")
        ratio = f"{m['estimated_bytes'] / peak:.3f}" if peak else "–"
        lines.append(f"| {r['name']} | {r.get('iterations', '–')} | {t.get('total', float('nan')):.2f} | {cells} | "
                     f"{r.get('lbfgs_history', '–')} | {f'{peak / 2**30:.2f}' if peak else '–'} | {ratio} |")
    return lines


def label(r):
    """The precision, with the activations' layout when the report names it (e.g. "tf32 NHWC")."""
    return f"{r['precision']} {r['layout']}" if r.get("layout") else r["precision"]


def table(reports):
    lines = []
    bench = [r for r in reports if r.get("tool") == "impasto bench" and r.get("mode") == "stylize"]
    peer = [r for r in reports if r.get("tool") == "torch peer" and r.get("mode", "stylize") == "stylize"]
    # Two peers per precision: PyTorch at its defaults (eager) and at its best (torch.compile, channels-last).
    compiled = lambda r: r.get("compile", "none") != "none"  # noqa: E731
    peer_runs = {(r["precision"], run["width"], run["height"], compiled(r)): run for r in peer for run in r["runs"]}
    if bench:
        b0 = bench[0]
        lines.append(f"impasto: {b0['backend']}; weights {b0['weights']}; L-BFGS history {b0['history']}, "
                     f"line search none; {b0['warmup']} warm-up + {b0['iterations']} timed iterations")
    for p0 in [r for r in peer if not compiled(r)][:1] + [r for r in peer if compiled(r)][:1]:
        how = (f"torch.compile {p0['compile']}, {'channels-last' if p0.get('channels_last') else 'NCHW'}"
               if compiled(p0) else "eager, NCHW")
        lines.append(f"peer ({how}): torch {p0['torch']} on {p0['backend']}, cuDNN {p0['cudnn']}, torch.optim.LBFGS "
                     f"history {p0['history']}, {p0['warmup']} warm-up + {p0['iterations']} timed iterations")
    if bench:
        lines.append("")
        lines.append("| precision | size | impasto ms/it | peer ms/it | impasto/peer | ratio of medians "
                     "| compiled peer ms/it | impasto/compiled peer "
                     "| conv TFLOP/s (it) | conv TFLOP/s (fwd+bwd) | % of peak | MiB planned |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench:
        peak = r.get("peak_tflops", 0) or 0
        for run in r["runs"]:
            # bf16 has no peer of its own: it is held against the peer's TF32 (PyTorch's default on these cards).
            key = ("tf32" if r["precision"] == "bf16" else r["precision"], run["width"], run["height"])
            ms = run["ms_per_iteration"]
            p = peer_runs.get(key + (False,), {})
            pc = peer_runs.get(key + (True,), {}).get("ms_per_iteration")
            compiled_cells = f"{pc:.2f} | {ms / pc:.2f}" if pc else "– | –"
            pm = p.get("ms_per_iteration")
            ratio = f"{ms / pm:.2f}" if pm else "–"
            # Medians of the per-iteration times: robust against a stray slow iteration on either side.
            mine_med, peer_med = run.get("ms_per_iteration_median"), p.get("ms_per_iteration_median")
            ratio_med = f"{mine_med / peer_med:.2f}" if mine_med and peer_med else "–"
            fb = run.get("tflops_forward_backward")
            pct = f"{100 * run['tflops_iteration'] / peak:.1f}%" if peak else "–"
            lines.append(f"| {label(r)} | {run['width']}x{run['height']} | {ms:.2f} | "
                         f"{f'{pm:.2f}' if pm else '–'} | {ratio} | {ratio_med} | {compiled_cells} | "
                         f"{run['tflops_iteration']:.2f} | "
                         f"{f'{fb:.2f}' if fb else '–'} | {pct} | {run['bytes_planned'] / 2**20:.0f} |")
    if bench and bench[0].get("peak_tflops"):
        lines.append("")
        lines.append("peak assumed: " + "; ".join(sorted({f"{r['precision']}: {r['peak_basis']} = {r['peak_tflops']} TFLOP/s"
                                                          for r in bench})))
    phased = [(r, run) for r in bench for run in r["runs"] if "phase_share" in run]
    if phased:
        lines.append("")
        lines.append("| precision | size | synced ms/it | " + " | ".join(PHASES) + " |")
        lines.append("|---|---|---|" + "---|" * len(PHASES))
        for r, run in phased:
            shares = " | ".join(f"{100 * run['phase_share'].get(p, 0):.1f}%" for p in PHASES)
            lines.append(f"| {label(r)} | {run['width']}x{run['height']} | {run['ms_per_iteration_synced']:.2f} | "
                         f"{shares} |")
    lines.extend(optimizer_table(reports))
    lines.extend(stylize_table(reports))
    lines.extend(conv_layer_table(reports))
    for r in reports:
        if r.get("mode") == "max-size-check":
            for run in r["runs"]:
                if run.get("passed"):
                    lines.append(f"\nmax-size check {run['width']}x{run['height']} ({r['precision']}, L-BFGS history "
                                 f"{r['history']}, {run.get('line_search', '?')}): PASSED, "
                                 f"{run.get('iterations_done', '?')} iterations ({run.get('evaluations', '?')} "
                                 f"evaluations), {run['ms_per_iteration']:.1f} ms/it, "
                                 f"{run['bytes_planned'] / 2**30:.2f} GiB planned")
                    if "bytes_peak" in run:
                        lines.append(f"memory without weights: estimated {run['bytes_estimated'] / 2**30:.2f} GiB, "
                                     f"measured peak {run['bytes_peak'] / 2**30:.2f} GiB (ratio "
                                     f"{run['bytes_estimated'] / max(run['bytes_peak'], 1):.3f})")
                else:
                    lines.append(f"\nmax-size check {run['width']}x{run['height']}: FAILED: {run.get('error')}")
        if r.get("mode") == "vgg-only":
            for run in r["runs"]:
                lines.append(f"\nVGG-19 only {run['width']}x{run['height']} ({r['precision']}): forward "
                             f"{run['forward_ms']:.2f} ms, forward+backward {run['forward_backward_ms']:.2f} ms, "
                             f"{run['tflops_forward_backward']:.2f} TFLOP/s")
    return "\n".join(lines)


def optimizer_table(reports):
    """L-BFGS alone on the quadratic (bench / peer.py --optimizer-only): the optimizer's own ms per iteration
    with a full history, impasto against torch.optim.LBFGS."""
    mine = [(r, run) for r in reports if r.get("tool") == "impasto bench" and r.get("mode") == "optimizer-only"
            for run in r["runs"]]
    if not mine:
        return []
    theirs = {(run["width"], run["height"], run["history"]): run for r in reports
              if r.get("tool") == "torch peer" and r.get("mode") == "optimizer-only" for run in r["runs"]}
    lines = ["", "| L-BFGS alone | size | history | impasto optimizer ms/it | peer optimizer ms/it | impasto/peer "
             "| impasto ms/it (objective) | peer ms/it (objective) |", "|---|---|---|---|---|---|---|---|"]
    for r, run in mine:
        p = theirs.get((run["width"], run["height"], run["history"]))
        ratio = f"{run['optimizer_ms'] / p['optimizer_ms']:.2f}" if p and p["optimizer_ms"] > 0 else "–"
        peer_opt = f"{p['optimizer_ms']:.3f}" if p else "–"
        peer_it = f"{p['ms_per_iteration']:.3f} ({p['objective_ms']:.3f})" if p else "–"
        lines.append(f"| {r.get('lbfgs_direction', 'compact')} | {run['width']}x{run['height']} | {run['history']} | "
                     f"{run['optimizer_ms']:.3f} | {peer_opt} | {ratio} | "
                     f"{run['ms_per_iteration']:.3f} ({run['objective_ms']:.3f}) | {peer_it} |")
    return lines


def conv_layer_table(reports):
    """Each convolution alone (bench --conv-layers, perf/peer/conv_layouts.py --per-layer): impasto's forward
    (bias + ReLU fused) and backward-data against PyTorch's in NHWC and NCHW (the peer's layout), in ms."""
    mine = [(r, run) for r in reports if r.get("tool") == "impasto bench" and r.get("mode") == "conv-layers"
            for run in r["runs"]]
    theirs = {(run["width"], run["height"], run["layout"]): {l["name"]: l for l in run["layers"]}
              for r in reports if r.get("tool") == "torch conv_layouts" for run in r["runs"]}
    lines = []
    for r, run in mine:
        size = (run["width"], run["height"])
        nhwc, nchw = theirs.get(size + ("NHWC",), {}), theirs.get(size + ("NCHW",), {})
        lines += ["", f"each convolution alone, {size[0]}x{size[1]} ({r['precision']}; impasto {run['layout']}, "
                  "forward with bias + ReLU fused; torch conv2d + bias, then ReLU; ms)", "",
                  "| layer | in → out at h×w | impasto fwd | torch NHWC fwd | torch NCHW fwd | impasto bwd-data "
                  "| torch NHWC bwd-data | torch NCHW bwd-data |", "|---|---|---|---|---|---|---|---|"]
        sums = [0.0] * 6

        def cell(table, name, key, slot):
            l = table.get(name)
            if not l:
                return "–"
            sums[slot] += l[key]
            return f"{l[key]:.3f}"

        for l in run["layers"]:
            name = l["name"]
            sums[0] += l["forward_ms"]
            sums[3] += l["backward_data_ms"]
            lines.append(f"| {name} | {l['cin']} → {l['cout']} at {l['width']}x{l['height']} | {l['forward_ms']:.3f} | "
                         f"{cell(nhwc, name, 'forward_ms', 1)} | {cell(nchw, name, 'forward_ms', 2)} | "
                         f"{l['backward_data_ms']:.3f} | {cell(nhwc, name, 'backward_data_ms', 4)} | "
                         f"{cell(nchw, name, 'backward_data_ms', 5)} |")
        lines.append("| all | | " + " | ".join(f"**{v:.3f}**" if v else "–" for v in sums[:3]) + " | " +
                     " | ".join(f"**{v:.3f}**" if v else "–" for v in sums[3:]) + " |")
    return lines


def emit(text, markdown=None):
    """Prints the tables, and writes them to `markdown` when given (also used by perf/kernel_profile.py)."""
    print(text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--markdown", help="also write the table here")
    args = ap.parse_args()
    emit(table(load(args.json)), args.markdown)


if __name__ == "__main__":
    main()
