"""impasto — optimization-based neural style transfer (Gatys et al.) from Python.

The functions run `impasto stylize` and `impasto texture` in this process: their keyword options are the CLI's long
option names with '_' for '-' (``style_weight=1e4`` is ``--style-weight 1e4``) and are parsed by the very CLI11
definitions of the command (tools/cmd_stylize.cpp), so every option, default, check and error message is the CLI's.
``impasto stylize --help`` lists them all.

Images: a path (str or os.PathLike) or a NumPy array (H, W, 3) RGB — uint8 0..255, or float 0..1 (matplotlib's and
scikit-image's convention; a float array outside 0..1 is refused rather than guessed). Style masks: a path or an
(H, W) array of the same conventions, white (255 or 1.0) where the style applies. The result is (H, W, 3) uint8,
the bytes ``impasto stylize --out x.png`` writes. Nothing is written unless ``out=`` asks for a file too.

``callback(info)`` is called at every accepted iterate with a dict: iteration, level, loss, content, style, tv,
photo, seconds (and image, (H, W, 3) uint8, with ``callback_image=True``); raising in it stops the run and the
exception reaches the caller. The engine runs without the GIL; Ctrl-C stops it at the next iteration with
KeyboardInterrupt. Errors are the CLI's one-line messages: FileNotFoundError (a missing input), ValueError (a bad
option, value or array), MemoryError (the run does not fit), RuntimeError (the run itself failed).

Runs are quiet (no progress on stderr) unless ``quiet=False``; ``dry_run=True`` checks everything, prints the memory
plan and returns None.
"""
import json
import os

import numpy as np

from . import _impasto, weights  # noqa: F401 (impasto.weights.export/inspect)

__version__ = _impasto.__version__
__all__ = ["stylize", "texture", "Engine", "Objective", "__version__"]


def _array_image(value, what, channels):
    """A user's array as float32 (H, W, C) 0..255, C = channels; a ValueError with one line otherwise."""
    a = np.asarray(value)
    if channels == 1 and a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    expected = "(H, W, 3)" if channels == 3 else "(H, W)"
    if (channels == 3 and (a.ndim != 3 or a.shape[2] != 3)) or (channels == 1 and a.ndim != 2):
        raise ValueError(f"{what}: an array of shape {tuple(a.shape)}, expected {expected}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{what}: an empty array of shape {tuple(a.shape)}")
    if a.dtype == np.uint8:
        out = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{what}: the array has NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{what}: float values from {lo:g} to {hi:g}, expected 0..1 (or give uint8 0..255)")
        out = (a.astype(np.float32) * np.float32(255))
    else:
        raise ValueError(f"{what}: an array of {a.dtype}, expected uint8 (0..255) or float (0..1)")
    return np.ascontiguousarray(out.reshape(a.shape[0], a.shape[1], channels))


class _Inputs:
    """The image options of one run: paths stay paths, arrays get names the engine looks up in memory."""

    def __init__(self):
        self.images = {}

    def add(self, value, what, channels=3):
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        name = f"<{what} array>"
        self.images[name] = _array_image(value, what, channels)
        return name

    def add_list(self, values, what, channels=3):
        if not isinstance(values, (list, tuple)):
            return [self.add(values, what, channels)]
        return [self.add(v, f"{what} {i + 1}", channels) for i, v in enumerate(values)]


def _cli_options(options):
    """Keyword options as the JSON object of long option names the engine parses as a command line."""
    opts = {}
    for key, value in options.items():
        if value is None:
            continue  # not given: the CLI's default (or the preset's)
        if isinstance(value, (list, tuple)):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        opts[key.replace("_", "-")] = value
    opts.setdefault("quiet", True)
    return json.dumps(opts)


def _run(command, inputs, options, callback, callback_image, engine=None):
    if callback is not None and not callable(callback):
        raise ValueError("callback: not callable")
    return _impasto.run(command, _cli_options(options), inputs.images, callback, bool(callback_image), engine)


def stylize(content, style, *, style_weights=None, style_masks=None, size=512, iterations=1000, weights="random",
            device="auto", precision="auto", callback=None, callback_image=False, _engine=None, **options):
    """Stylize `content` with one or more `style` images; returns the result as an (H, W, 3) uint8 array.

    `style`: one image or a list; `style_weights`: one blend weight per style; `style_masks`: one mask per style.
    Every other keyword is an option of ``impasto stylize`` with '_' for '-' (``content_weight=5``, ``seed=1``,
    ``init="noise"``, ``out="result.png"`` to write the file as well).
    """
    inputs = _Inputs()
    options.update(content=inputs.add(content, "content"), style=inputs.add_list(style, "style"),
                   style_weights=style_weights, size=size, iterations=iterations, weights=weights, device=device,
                   precision=precision)
    if style_masks is not None:
        options["style_mask"] = inputs.add_list(style_masks, "style mask", channels=1)
    return _run("stylize", inputs, options, callback, callback_image, _engine)


def texture(style, *, style_weights=None, size=512, iterations=1000, weights="random", device="auto",
            precision="auto", callback=None, callback_image=False, _engine=None, **options):
    """Synthesize a size x size texture from one or more `style` images (style terms only, from noise); returns
    (size, size, 3) uint8. Every other keyword is an option of ``impasto texture`` with '_' for '-'."""
    inputs = _Inputs()
    options.update(style=inputs.add_list(style, "style"), style_weights=style_weights, size=size,
                   iterations=iterations, weights=weights, device=device, precision=precision)
    return _run("texture", inputs, options, callback, callback_image, _engine)


class Engine:
    """The backend (CUDA context, plans, workspace) and each `weights`' network kept uploaded from run to run, as
    `impasto batch` keeps them: ``Engine().stylize(...)`` and ``.texture(...)`` take the module functions'
    arguments and give the same results. One run at a time per Engine."""

    def __init__(self):
        self._engine = _impasto.Engine()

    def stylize(self, content, style, **kwargs):
        return stylize(content, style, _engine=self._engine, **kwargs)

    def texture(self, style, **kwargs):
        return texture(style, _engine=self._engine, **kwargs)


class Objective:
    """The objective `stylize` minimizes, at its output size, for an optimizer of your own (scipy's L-BFGS-B, …).

    Made with stylize's arguments (iterations and the optimizer's options do not apply). x is the image in the
    network's space (RGB 0..255 x pixel_scale minus the ImageNet mean, channels in the weights' order) as a flat
    vector of 3*H*W values (`shape` is (3, H, W)); `x0` is the content there, where ``stylize(init="content")``
    starts. ``evaluate(x)`` returns (terms, grad): the weighted loss terms (loss, content, style, tv, photo) and
    dL/dx in x's shape as float64. ``image(x)`` is x as an (H, W, 3) uint8 picture. One level: no pyramid,
    photorealism stage, region pairs or luminance-only transfer. The engine is kept (weights uploaded once) as long
    as the Objective lives.
    """

    def __init__(self, content, style, *, style_weights=None, style_masks=None, size=512, weights="random",
                 device="auto", precision="auto", **options):
        inputs = _Inputs()
        options.update(content=inputs.add(content, "content"), style=inputs.add_list(style, "style"),
                       style_weights=style_weights, size=size, weights=weights, device=device, precision=precision)
        if style_masks is not None:
            options["style_mask"] = inputs.add_list(style_masks, "style mask", channels=1)
        self._engine = _impasto.Objective(_cli_options(options), inputs.images)
        self.shape = (3, self._engine.height, self._engine.width)
        self.x0 = self._engine.start().astype(np.float64)

    def evaluate(self, x):
        x = np.asarray(x)
        terms, grad = self._engine.evaluate(np.ascontiguousarray(x, dtype=np.float32).reshape(-1))
        return terms, grad.astype(np.float64).reshape(x.shape)

    def image(self, x):
        return self._engine.image(np.ascontiguousarray(x, dtype=np.float32).reshape(-1))
