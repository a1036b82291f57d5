#!/usr/bin/env python3
"""tools/plot_logs.py — loss curves from impasto's --log files, run from the source tree without installing the
Python package: the script is python/impasto/plot.py (`python -m impasto.plot` once installed), whose docstring
has the usage; this forwarder runs that file as it stands, so both are one program.

  tools/plot_logs.py LOG.jsonl [LOG.jsonl ...] --out curves.png [--label NAME ...] [--x iteration|seconds]
                     [--terms] [--flicker] [--title TEXT]
"""
import os
import runpy

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    runpy.run_path(os.path.join(here, "..", "python", "impasto", "plot.py"), run_name="__main__")
