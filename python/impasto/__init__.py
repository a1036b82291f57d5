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
import shutil
import tempfile

import numpy as np

from . import _impasto, weights  # noqa: F401 (impasto.weights.export/inspect)

__version__ = _impasto.__version__
__all__ = ["stylize", "texture", "video", "Engine", "Objective", "__version__"]


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


def video(input, style, *, out=None, style_weights=None, size=512, iterations=1000, frame_iterations=500, passes=1,
          weights="random", device="auto", precision="auto", callback=None, queue=8, **options):
    """Stylize a video with temporal consistency (``impasto video``); a generator of its frames as they finish.

    `input`: a video file or a folder of frames (paths only); `style`: one image or a list, paths or arrays. Yields
    ``(t, frame)``: t the frame's index in the clip from 0, frame (H, W, 3) uint8, the bytes of OUT/frame_{t+1:04d}.png.
    Each frame comes once, when its last pass has made it (or found it done by an earlier run in `out`): in clip
    order with an odd number of passes, from the end with an even one. Every other keyword is an option of
    ``impasto video`` with '_' for '-' (``temporal_weight=200``, ``flow="dis"``, ``chunks=1``...).

    `out`: the run's folder (frames, state, flow cache, out.avi); a rerun on the same `out` resumes. Without it the
    run works in a temporary folder removed at the end, and no out.avi is encoded unless ``no_video=False``.
    The run goes on a thread of its own while the loop consumes frames; it waits when `queue` frames are unread.
    Leaving the loop (``break``), closing the generator or Ctrl-C stops the run at its next iteration and keeps the
    finished frames. ``callback(info)`` at every iteration of every frame: stylize's keys (iteration, loss,
    content, style, tv, seconds, …) and frame and pass; raising in it stops the run and the exception comes out of the loop.
    """
    if callback is not None and not callable(callback):
        raise ValueError("callback: not callable")
    if not isinstance(input, (str, os.PathLike)):
        raise ValueError("input: a path to a video file or a folder of frames")
    if int(queue) < 1:
        raise ValueError(f"queue: {queue}, expected at least 1 frame")
    inputs = _Inputs()
    options.update(input=os.fspath(input), out=None if out is None else os.fspath(out),
                   style=inputs.add_list(style, "style"), style_weights=style_weights, size=size, iterations=iterations,
                   frame_iterations=frame_iterations, passes=passes, weights=weights, device=device,
                   precision=precision)
    if out is None:
        options.setdefault("no_video", True)
    _impasto.check_options("video", _cli_options(options))  # unknown options: ValueError now
    return _video_frames(options, inputs, callback, int(queue))


def _video_frames(options, inputs, callback, queue):
    """video()'s generator: the run starts at the first next()."""
    temporary = None
    if options["out"] is None:
        temporary = options["out"] = tempfile.mkdtemp(prefix="impasto-video-")
    try:
        run = _impasto.VideoRun(_cli_options(options), inputs.images, callback, queue)
        try:
            while (item := run.next()) is not None:
                yield item
        finally:
            run.close()
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


class Engine:
    """The backend (CUDA context, plans, workspace) and each `weights`' network kept uploaded from run to run, as
    `impasto batch` keeps them: ``Engine(weights=..., device=..., precision=...).stylize(...)`` and ``.texture(...)``
    take the module functions' arguments (those three default to the Engine's) and give the same results. One run
    at a time per Engine."""

    def __init__(self, *, weights="random", device="auto", precision="auto"):
        self._engine = _impasto.Engine()
        self._defaults = dict(weights=weights, device=device, precision=precision)

    def stylize(self, content, style, **kwargs):
        return stylize(content, style, _engine=self._engine, **{**self._defaults, **kwargs})

    def texture(self, style, **kwargs):
        return texture(style, _engine=self._engine, **{**self._defaults, **kwargs})


class Objective:
    """The objective `stylize` minimizes, at its output size, for an optimizer of your own (scipy's L-BFGS-B, …).

    Made with stylize's arguments (iterations and the optimizer's options do not apply). x is the image in the
    network's space (RGB 0..255 x pixel_scale minus the ImageNet mean, channels in the weights' order) as a flat
    vector of 3*H*W values (`shape` is (3, H, W)); `x0` is the content there, where ``stylize(init="content")``
    starts. ``evaluate(x)`` returns (terms, grad): the weighted loss terms (loss, content, style, tv, photo) and
    dL/dx in x's shape as float64. ``image(x)`` is x as an (H, W, 3) uint8 picture. One level: no pyramid,
    photorealism stage, region pairs or luminance-only transfer. The engine is kept (weights uploaded once) as long
    as the Objective lives. On the GPU (``device="cuda"``) x may be a PyTorch or CuPy float32 CUDA tensor: it is
    read in place and dL/dx comes back as a tensor of the same kind on the same GPU, in x's shape and float32,
    with no copy through the host (``torch.optim.LBFGS`` can drive it).
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
        if _on_gpu(x):
            return self._engine.evaluate_device(self._gpu_float32(x), type(x).__module__.split(".")[0])
        x = np.asarray(x)
        terms, grad = self._engine.evaluate(np.ascontiguousarray(x, dtype=np.float32).reshape(-1))
        return terms, grad.astype(np.float64).reshape(x.shape)

    def image(self, x):
        if _on_gpu(x):
            return self._engine.image_device(self._gpu_float32(x))
        return self._engine.image(np.ascontiguousarray(x, dtype=np.float32).reshape(-1))

    def _gpu_float32(self, x):
        if not self._engine.on_gpu:
            raise ValueError("x: an array on the GPU, but this Objective runs on the CPU (make it with device='cuda')")
        dtype = str(getattr(x, "dtype", ""))
        if not dtype.endswith("float32"):
            raise ValueError(f"x: a GPU array of {dtype}, expected float32 (the engine's type; no copy is made)")
        return x


def _on_gpu(x):
    """Whether x is a DLPack array in CUDA memory (a PyTorch or CuPy tensor on the GPU)."""
    device = getattr(x, "__dlpack_device__", None)
    return device is not None and device()[0] in (2, 13)  # kDLCUDA, kDLCUDAManaged

