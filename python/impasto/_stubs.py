"""Writes impasto/__init__.pyi, the package's type stubs, from the engine's own option table, so that an editor
completes every keyword option of stylize, texture, video, Engine and Objective with the CLI's type and default.

    PYTHONPATH=build/python python3 -m impasto._stubs > python/impasto/__init__.pyi

ctest python.api checks that the file in the repository is what this writes (test_stubs_are_the_option_table), so a
new or changed CLI option fails the tests until the stubs are written again.
"""
import inspect

from . import _impasto

HEADER = '''\
# python/impasto/__init__.pyi — type stubs of the impasto package, written by `python -m impasto._stubs` from the
# CLI's option table (do not edit: a test compares them). Keyword options are the CLI's long option names with '_'
# for '-'; None means the CLI's default (see `impasto COMMAND --help`).
import os
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import weights as weights

__version__: str

Image = Union[str, "os.PathLike[str]", npt.NDArray[Any]]
Path = Union[str, "os.PathLike[str]"]
Callback = Callable[[Dict[str, Any]], None]
Frame = npt.NDArray[np.uint8]
'''

# The annotations of the parameters the functions name themselves (python/impasto/__init__.py).
NAMED = {
    "content": "Image",
    "style": "Union[Image, Sequence[Image]]",
    "input": "Path",
    "out": "Optional[Path]",
    "style_weights": "Optional[Sequence[float]]",
    "style_masks": "Optional[Union[Image, Sequence[Image]]]",
    "size": "int",
    "iterations": "int",
    "frame_iterations": "int",
    "passes": "int",
    "weights": "str",
    "device": "str",
    "precision": "str",
    "callback": "Optional[Callback]",
    "callback_image": "bool",
    "queue": "int",
}
# CLI options a function takes under another name or not at all.
RENAMED = {"style-mask": "style_masks"}
TYPES = {"INT": "int", "UINT": "int", "FLOAT": "float", "TEXT": "str"}


def option_parameter(row):
    """One CLI option as a keyword parameter: `name: type = default`."""
    name = row["name"].replace("-", "_")
    if not row["type"]:
        return f"{name}: bool = False"
    t = TYPES.get(row["type"], "Any")
    if row["many"]:
        return f"{name}: Optional[Sequence[{t}]] = None"
    d = row["default"]
    if d == "":
        return f"{name}: Optional[{t}] = None"
    value = {"int": int, "float": float}.get(t, str)(d)
    return f"{name}: {t} = {value!r}"


def parameters(fn, command=None, skip=()):
    """fn's own parameters (annotated from NAMED), then every other option of `impasto COMMAND`, keyword only."""
    lines, taken, keyword = [], set(skip), False
    for p in inspect.signature(fn).parameters.values():
        if p.name.startswith("_") or p.name == "self" or p.kind is p.VAR_KEYWORD:
            continue
        if p.kind is p.KEYWORD_ONLY and not keyword:
            lines.append("*")
            keyword = True
        text = f"{p.name}: {NAMED[p.name]}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        lines.append(text)
        taken.add(p.name)
    if not keyword and command:
        lines.append("*")
    for row in _impasto.option_table(command) if command else []:
        name = RENAMED.get(row["name"], row["name"].replace("-", "_"))
        if name not in taken:
            taken.add(name)
            lines.append(option_parameter(row))
    return lines


def function(name, params, result, indent="", self=False):
    head = [f"{indent}def {name}("] + ([f"{indent}    self,"] if self else [])
    return "\n".join(head + [f"{indent}    {p}," for p in params] + [f"{indent}) -> {result}: ..."])


def render():
    """The text of impasto/__init__.pyi."""
    import impasto

    out = [HEADER]
    stylize = parameters(impasto.stylize, "stylize")
    texture = parameters(impasto.texture, "texture")
    out.append(function("stylize", stylize, "Frame") + "  # None with dry_run=True")
    out.append(function("texture", texture, "Frame") + "  # None with dry_run=True")
    out.append(function("video", parameters(impasto.video, "video"), "Iterator[Tuple[int, Frame]]"))
    objective = parameters(impasto.Objective.__init__, "stylize", skip={"iterations"})
    out.append("class Objective:\n    shape: Tuple[int, int, int]\n    x0: npt.NDArray[np.float64]\n"
               + function("__init__", objective, "None", "    ", self=True) + "\n"
               "    # x: a NumPy array (grad: float64 NumPy), or on the GPU a torch/CuPy float32 CUDA tensor (grad: alike)\n"
               "    def evaluate(self, x: Any) -> Tuple[Dict[str, float], Any]: ...\n"
               "    def image(self, x: Any) -> Frame: ...")
    engine = parameters(impasto.Engine.__init__)
    out.append("class Engine:\n" + function("__init__", engine, "None", "    ", self=True) + "\n"
               + function("stylize", stylize, "Frame", "    ", self=True) + "\n"
               + function("texture", texture, "Frame", "    ", self=True))
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
