#!/usr/bin/env python3
"""impasto.plot — `python -m impasto.plot` (tools/plot_logs.py runs it from the source tree): loss curves from
impasto's JSON-lines logs (`impasto stylize --log`, `impasto texture --log`, `impasto.stylize(log=...)`): the total loss of one or more runs on a log scale against the iteration or the seconds, and with
--terms each weighted term (content, style, tv, photo) as its own dashed curve. Lines without "iteration" (the
closing "final" line) are skipped. With --flicker the logs are `impasto video` logs instead, and the plot is each
clip's warping error per frame (its summary line's flicker_per_frame: frame t against t − 1). The figures page
(tools/figures.sh) draws its loss curves with it; it works on any run's log.

  python -m impasto.plot LOG.jsonl [LOG.jsonl ...] --out curves.png [--label NAME ...] [--x iteration|seconds]
                     [--terms] [--flicker] [--title TEXT]

A missing or malformed log, or a log without iteration lines, is a one-line error and exit status 1; the PNG is
written to a temporary name beside --out and renamed, so a failed run leaves no file.
"""
import argparse
import json
import math
import os
import sys
import tempfile

TERMS = ("content", "style", "tv", "photo")


def fail(message):
    print(f"plot: {message}", file=sys.stderr)
    sys.exit(1)


def json_lines(path):
    """(line number, object) for each non-blank line of a JSON-lines file; a one-line error otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail(f"'{path}': {e.strerror.lower() if e.strerror else e}")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            fail(f"'{path}': line {number} is not JSON")
        if not isinstance(row, dict):
            fail(f"'{path}': line {number} is not a JSON object")
        yield number, row


def read_log(path):
    """The iteration lines of a log, as dicts, in file order."""
    rows = []
    for number, row in json_lines(path):
        if "iteration" not in row:
            continue  # the closing line, or another kind of record
        if not isinstance(row.get("loss"), (int, float)):
            fail(f"'{path}': line {number} has no numeric \"loss\"")
        rows.append(row)
    if not rows:
        fail(f"'{path}': no iteration lines (is it an `impasto stylize --log` file?)")
    return rows


def read_flicker(path):
    """The warping error per frame of a video log's summary line: [(frame, error)], frames 2..T."""
    for number, row in json_lines(path):
        if row.get("summary") is True:
            errors = row.get("flicker_per_frame")
            if not isinstance(errors, list) or not all(isinstance(e, (int, float)) for e in errors):
                fail(f"'{path}': line {number}: flicker_per_frame is not a list of numbers")
            return [(t + 2, e) for t, e in enumerate(errors)]
    fail(f"'{path}': no summary line with flicker_per_frame (is it a finished `impasto video --log` file?)")


def positive(values):
    """Log-scale values: what is not a positive finite number becomes NaN (a gap in the curve)."""
    return [v if isinstance(v, (int, float)) and v > 0 and math.isfinite(v) else float("nan") for v in values]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m impasto.plot", description="Loss curves from impasto --log files.")
    ap.add_argument("logs", nargs="+", metavar="LOG.jsonl")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--label", action="append", default=[], help="one per log, in order (default: the file name)")
    ap.add_argument("--x", choices=("iteration", "seconds"), default="iteration", help="the horizontal axis")
    ap.add_argument("--terms", action="store_true", help="also each weighted loss term, dashed")
    ap.add_argument("--flicker", action="store_true",
                    help="video logs: the warping error per frame (summary line) instead of loss curves")
    ap.add_argument("--title", default="")
    a = ap.parse_intermixed_args(argv)  # labels may follow each log
    if a.label and len(a.label) != len(a.logs):
        fail(f"{len(a.label)} --label for {len(a.logs)} logs (give one per log, or none)")
    if not a.out.lower().endswith(".png"):
        fail(f"--out '{a.out}': expected a .png file")
    folder = os.path.dirname(os.path.abspath(a.out))
    if not os.path.isdir(folder):
        fail(f"--out '{a.out}': folder '{folder}' does not exist")
    read = read_flicker if a.flicker else read_log
    runs = [(a.label[i] if a.label else os.path.splitext(os.path.basename(p))[0], read(p))
            for i, p in enumerate(a.logs)]

    try:
        import matplotlib
    except ImportError:
        fail("matplotlib is missing (Debian: python3-matplotlib; tools/setup.sh installs it)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if a.flicker:
        for k, (label, points) in enumerate(runs):
            mean = sum(e for _, e in points) / len(points) if points else float("nan")
            ax.plot([t for t, _ in points], [e for _, e in points], color=f"C{k % 10}", marker=".", lw=1.4,
                    label=f"{label} (mean {mean:.4g})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_yscale("log")  # independent frames flicker ten times as much as the temporal schedules
        # Label the minor ticks too: the curves often span less than two decades.
        ax.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatterSciNotation(labelOnlyBase=False,
                                                                                minor_thresholds=(2, 0.5)))
        ax.set_xlabel("frame (against the one before)")
        ax.set_ylabel("warping error (0..1 scale)")
        # Below the axes: the curves fill the whole plot.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    else:
        plot_losses(ax, runs, a)
        ax.legend(fontsize=7)
    if a.title:
        ax.set_title(a.title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save(fig, a.out, folder)
    print(f"plot: wrote {a.out} ({len(runs)} run(s), {'warping error per frame' if a.flicker else 'x = ' + a.x})",
          file=sys.stderr)


def plot_losses(ax, runs, a):
    """The total loss (and with --terms each term) of every run, log scale."""
    for k, (label, rows) in enumerate(runs):
        colour = f"C{k % 10}"
        xs = [r.get(a.x, float("nan")) for r in rows]
        ax.plot(xs, positive([r["loss"] for r in rows]), color=colour, lw=1.6, label=f"{label}: total")
        if a.terms:
            for t, style in zip(TERMS, ("--", ":", "-.", (0, (1, 3)))):
                values = [r.get(t, 0) for r in rows]
                if any(isinstance(v, (int, float)) and v > 0 for v in values):
                    ax.plot(xs, positive(values), color=colour, lw=1, ls=style, label=f"{label}: {t}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration" if a.x == "iteration" else "seconds")
    ax.set_ylabel("loss (weighted terms)")


def save(fig, out, folder):
    """fig as PNG at out, through a temporary name in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=".plot-", suffix=".png", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would create it (mkstemp makes it private)
    try:
        fig.savefig(tmp)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


if __name__ == "__main__":
    main()
