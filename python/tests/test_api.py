"""python/tests/test_api.py — ctest python.api: the impasto package against the `impasto` CLI built beside it
(IMPASTO_CLI): the same options and seed give the same bytes, the signatures' defaults are the CLI's, bad arrays,
options and files raise the right exception with one line, a callback sees every iteration and its exception stops
the run, the Objective is the run's objective with its gradient (and drives scipy's L-BFGS-B), Ctrl-C stops a run
with KeyboardInterrupt and nothing written, `python -m impasto.plot` draws a PNG, and impasto.video yields the CLI's
frames, stops when the loop is left and resumes.
Small random-weight runs on the CPU (--size 32, a few iterations)."""
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

import impasto
from impasto import _impasto

CLI = os.environ.get("IMPASTO_CLI", "impasto")
FAST = dict(size=32, iterations=3, device="cpu", weights="random", seed=7)


def picture(h, w, seed):
    """A deterministic RGB test picture (smooth gradients plus noise), uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)


def write_ppm(path, rgb):
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (rgb.shape[1], rgb.shape[0]) + rgb.tobytes())


def read_png(path):
    import matplotlib.image

    return np.round(matplotlib.image.imread(path)[:, :, :3] * 255).astype(np.uint8)


def cli(*args):
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    content, style = picture(40, 48, 1), picture(36, 36, 2)
    write_ppm(d / "content.ppm", content)
    write_ppm(d / "style.ppm", style)
    return d, content, style


def fast_args():
    return ["--size=32", "--iterations=3", "--device=cpu", "--weights=random", "--seed=7", "--quiet"]


def test_stylize_same_bytes_as_cli(images):
    d, content, style = images
    out = d / "cli.png"
    log = d / "cli.jsonl"
    cli("stylize", f"--content={d / 'content.ppm'}", f"--style={d / 'style.ppm'}", f"--out={out}", "--init=noise",
        "--style-weight=1000", f"--log={log}", *fast_args())
    expected = read_png(out)
    seen = []
    by_path = impasto.stylize(str(d / "content.ppm"), d / "style.ppm", init="noise", style_weight=1000,
                              callback=seen.append, **FAST)
    assert by_path.dtype == np.uint8 and by_path.shape == expected.shape
    assert np.array_equal(by_path, expected)
    trace = [json.loads(line) for line in open(log) if '"iteration"' in line]  # the CLI's loss trace
    keys = ("iteration", "loss", "content", "style", "tv")
    assert len(trace) == FAST["iterations"] + 1
    assert [[i[k] for k in keys] for i in seen] == [[i[k] for k in keys] for i in trace]  # the same doubles
    by_array = impasto.stylize(content, [style], init="noise", style_weight=1000, **FAST)
    assert np.array_equal(by_array, expected)
    as_float = impasto.stylize(content / 255.0, style.astype(np.float32) / 255, init="noise", style_weight=1000, **FAST)
    assert np.abs(as_float.astype(int) - expected).max() <= 1  # 0..1 floats: the same picture, up to rounding


def test_texture_same_bytes_as_cli(images):
    d, _, style = images
    out = d / "texture.png"
    cli("texture", f"--style={d / 'style.ppm'}", f"--out={out}", *fast_args())
    assert np.array_equal(impasto.texture(style, **FAST), read_png(out))


def test_engine_runs_are_the_functions(images):
    _, content, style = images
    engine = impasto.Engine()
    first = engine.stylize(content, style, **FAST)
    assert np.array_equal(first, impasto.stylize(content, style, **FAST))
    assert np.array_equal(engine.stylize(content, style, **FAST), first)  # the kept network changes nothing
    assert np.array_equal(engine.texture(style, **FAST), impasto.texture(style, **FAST))


def test_out_writes_the_file_too(images, tmp_path):
    d, content, style = images
    out = tmp_path / "o.png"
    result = impasto.stylize(content, style, out=str(out), **FAST)
    assert np.array_equal(read_png(out), result)


def test_defaults_are_the_clis():
    for command, fn in (("stylize", impasto.stylize), ("texture", impasto.texture), ("video", impasto.video)):
        cli_defaults = {row["name"]: row["default"] for row in _impasto.option_table(command)}
        for name, p in inspect.signature(fn).parameters.items():
            key = name.replace("_", "-")
            if p.kind is p.KEYWORD_ONLY and p.default is not None and key in cli_defaults:
                assert str(p.default) == cli_defaults[key], (command, name)
    assert impasto.__version__ == cli("--version").stdout.split()[-1]


def test_stubs_are_the_option_table():
    from impasto import _stubs

    stubs = os.path.join(os.path.dirname(impasto.__file__), "__init__.pyi")
    assert open(stubs).read() == _stubs.render(), "run: python -m impasto._stubs > python/impasto/__init__.pyi"
    assert "    style_weight: float = 10000.0," in _stubs.render()  # an option the functions do not name


def one_line(e):
    text = str(e.value)
    assert text and "\n" not in text, text
    return text


def test_wrong_shape_is_value_error(images):
    _, content, style = images
    with pytest.raises(ValueError) as e:
        impasto.stylize(content[:, :, :2], style, **FAST)
    assert "content" in one_line(e) and "(H, W, 3)" in str(e.value)
    with pytest.raises(ValueError) as e:
        impasto.stylize(content * 1.0, style, **FAST)  # 0..255 floats: refused, not guessed
    assert "0..1" in one_line(e)
    with pytest.raises(ValueError) as e:
        impasto.stylize(content, style, style_masks=[np.ones((4, 4, 3))], **FAST)
    one_line(e)


def test_bad_option_is_value_error(images):
    _, content, style = images
    with pytest.raises(ValueError) as e:
        impasto.stylize(content, style, no_such_option=1, **FAST)
    assert "no_such_option" in one_line(e)
    with pytest.raises(ValueError) as e:
        impasto.stylize(content, style, **dict(FAST, iterations=-1))
    assert "iterations" in one_line(e)
    with pytest.raises(ValueError) as e:
        impasto.stylize(content, style, style_weights=[1, 2], **FAST)  # two weights, one style
    one_line(e)


def test_missing_file_is_file_not_found(images, tmp_path):
    _, content, _ = images
    with pytest.raises(FileNotFoundError) as e:
        impasto.stylize(content, str(tmp_path / "nope.png"), **FAST)
    assert "nope.png" in one_line(e) and "no such file" in str(e.value)


def test_too_big_is_memory_error(images):
    _, content, style = images
    with pytest.raises(MemoryError) as e:
        impasto.stylize(content, style, max_memory=0.0001, **FAST)  # GiB: less than the weights
    assert "not enough memory" in one_line(e)
    assert impasto.stylize(content, style, dry_run=True, **FAST) is None  # a plan that fits: nothing made


def test_callback_sees_every_iteration(images):
    _, content, style = images
    seen = []
    result = impasto.stylize(content, style, callback=seen.append, callback_image=True, **FAST)
    assert [i["iteration"] for i in seen] == list(range(len(seen))) and seen[-1]["iteration"] == FAST["iterations"]
    assert all(i["loss"] > 0 and "style" in i and "seconds" in i for i in seen)
    assert np.array_equal(seen[-1]["image"], result)  # the last iterate is the result (no colour preservation)


def test_callback_exception_stops_the_run(images, tmp_path):
    _, content, style = images
    calls = []

    def stop(info):
        calls.append(info["iteration"])
        if info["iteration"] == 1:
            raise ZeroDivisionError("stop here")

    out = tmp_path / "never.png"
    with pytest.raises(ZeroDivisionError, match="stop here"):
        impasto.stylize(content, style, callback=stop, out=str(out), **dict(FAST, iterations=50))
    assert calls == [0, 1] and not out.exists()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals go to the main thread")
def test_ctrl_c_stops_cleanly(images, tmp_path):
    _, content, style = images
    out = tmp_path / "never.png"
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            impasto.stylize(content, style, out=str(out), **dict(FAST, iterations=1000000))
    finally:
        timer.cancel()
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p != "never.png"]


def test_objective_is_the_runs(images):
    _, content, style = images
    first = []
    impasto.stylize(content, style, callback=first.append, **dict(FAST, iterations=0))
    objective = impasto.Objective(content, style, size=32, device="cpu", weights="random")
    assert objective.shape[0] == 3 and max(objective.shape[1:]) == 32 and objective.x0.size == np.prod(objective.shape)
    terms, grad = objective.evaluate(objective.x0)
    assert terms["loss"] == pytest.approx(first[0]["loss"], rel=1e-6)  # the run's loss at its start (the content)
    assert terms["style"] == pytest.approx(first[0]["style"], rel=1e-6)
    assert grad.shape == objective.x0.shape and grad.dtype == np.float64 and np.all(np.isfinite(grad))
    assert objective.image(objective.x0).shape == (objective.shape[1], objective.shape[2], 3)


def test_objective_gradient(images):
    _, content, style = images
    objective = impasto.Objective(content, style, size=32, device="cpu", tv_weight=0)  # TV (L1) has kinks
    x = objective.x0 + np.random.default_rng(3).normal(0, 20, objective.x0.shape)
    loss, grad = objective.evaluate(x)
    d = np.random.default_rng(4).normal(0, 1, x.shape)
    h = 1e-2
    slope = (objective.evaluate(x + h * d)[0]["loss"] - objective.evaluate(x - h * d)[0]["loss"]) / (2 * h)
    assert slope == pytest.approx(float(grad @ d), rel=2e-2)
    step = x - 1e-3 * grad / np.abs(grad).max()
    assert objective.evaluate(step)[0]["loss"] < loss["loss"]  # downhill along -grad


def test_objective_gpu_arrays_are_checked(images):
    """A CUDA array (DLPack device 2) goes to the GPU path, which a CPU Objective refuses in one line. The path
    itself (x read in place, the gradient returned on the GPU) needs a CUDA build and a GPU: untested here."""
    _, content, style = images
    objective = impasto.Objective(content, style, size=32, device="cpu")

    class OnGpu:
        dtype = "torch.float32"

        def __dlpack_device__(self):
            return (2, 0)

    assert not objective._engine.on_gpu and impasto._on_gpu(OnGpu()) and not impasto._on_gpu(objective.x0)
    for method in (objective.evaluate, objective.image):
        with pytest.raises(ValueError) as e:
            method(OnGpu())
        assert "runs on the CPU" in one_line(e)


def test_objective_drives_scipy(images):
    optimize = pytest.importorskip("scipy.optimize")  # tools/setup.sh installs python3-scipy
    _, content, style = images
    objective = impasto.Objective(content, style, size=32, device="cpu")

    def f(x):
        terms, grad = objective.evaluate(x)
        return terms["loss"], grad

    start = f(objective.x0)[0]
    result = optimize.minimize(f, objective.x0, jac=True, method="L-BFGS-B", options=dict(maxiter=10))
    assert result.fun < 0.5 * start and objective.image(result.x).dtype == np.uint8


def test_weights_export_and_inspect(tmp_path):
    import hashlib

    out = impasto.weights.export(tmp_path / "random3.h5", seed=3)
    info = impasto.weights.inspect(out)
    assert info["loads"] and info["conv_layers"] == 16 and len(info["datasets"]) == 32
    assert info["sha256"] == hashlib.sha256(open(out, "rb").read()).hexdigest()
    assert info["datasets"][0]["shape"] == (3, 3, 3, 64)  # Keras's (kh, kw, in, out)
    cli("weights", "export", str(tmp_path / "cli3.h5"), "--seed=3")
    assert impasto.weights.inspect(tmp_path / "cli3.h5")["sha256"] == info["sha256"]
    with pytest.raises(ValueError) as e:
        impasto.weights.export(out, seed=3)  # exists, no force
    assert "force" in one_line(e)
    with pytest.raises(FileNotFoundError):
        impasto.weights.inspect(tmp_path / "none.h5")


def test_plot_module_draws_a_png(images, tmp_path):
    _, content, style = images
    log = tmp_path / "run.jsonl"
    impasto.stylize(content, style, log=str(log), **FAST)
    png = tmp_path / "curves.png"
    subprocess.run([sys.executable, "-m", "impasto.plot", str(log), "--terms", "--out", str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, "-m", "impasto.plot", str(tmp_path / "missing.jsonl"), "--out",
                          str(tmp_path / "x.png")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and not (tmp_path / "x.png").exists()


VIDEO = dict(frames=4, size=32, iterations=4, frame_iterations=3, passes=2, device="cpu", weights="random", seed=7,
             flow="dis")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A folder of 4 frames: a picture moving right by 2 pixels per frame."""
    d = tmp_path_factory.mktemp("clip")
    base = picture(40, 60, 5)
    for t in range(4):
        write_ppm(d / f"f{t}.ppm", np.ascontiguousarray(base[:, 10 - 2 * t:50 - 2 * t]))
    return d


def video_args(clip, out, **changes):
    return ["video", f"--input={clip}", f"--out={out}", "--style", str(clip / "f0.ppm"), "--no-video", "--quiet",
            *[f"--{k.replace('_', '-')}={v}" for k, v in dict(VIDEO, **changes).items()]]


def test_video_yields_the_clis_frames(clip, tmp_path, monkeypatch):
    if "dis" not in cli("video", "--help").stdout:
        pytest.skip("this build has no OpenCV (DIS flow)")
    cli(*video_args(clip, tmp_path / "cli"))
    seen = []
    got = list(impasto.video(clip, clip / "f0.ppm", out=tmp_path / "py", callback=seen.append, **VIDEO))
    assert [t for t, _ in got] == [3, 2, 1, 0]  # 2 passes: the last one runs backward
    for t, frame in got:
        assert np.array_equal(frame, read_png(tmp_path / "cli" / f"frame_{t + 1:04d}.png")), t
    assert {(i["frame"], i["pass"]) for i in seen} == {(t, p) for t in range(4) for p in (1, 2)}
    # A temporary folder when no out is given, gone at the end; the style as an array gives the same frames.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    style = read_png(tmp_path / "cli" / "frame_0001.png")  # any picture: compare with the CLI on a file of it
    write_ppm(tmp_path / "style.ppm", style)
    cli(*[a if not a.startswith(str(clip / "f0")) else str(tmp_path / "style.ppm")
          for a in video_args(clip, tmp_path / "cli2")])
    again = dict(impasto.video(clip, style, **VIDEO))
    assert all(np.array_equal(again[t], read_png(tmp_path / "cli2" / f"frame_{t + 1:04d}.png")) for t in range(4))
    assert os.listdir(tmp_path / "tmp") == []


def test_video_break_stops_and_a_rerun_resumes(clip, tmp_path):
    if "dis" not in cli("video", "--help").stdout:
        pytest.skip("this build has no OpenCV (DIS flow)")
    out = tmp_path / "run"
    options = dict(VIDEO, passes=1)
    for t, _ in impasto.video(clip, clip / "f0.ppm", out=out, **options):
        break  # stops the run at its next iteration; frame 1 is on disk, nothing half-written
    assert t == 0 and (out / "frame_0001.png").exists() and not (out / "frame_0004.png").exists()
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    calls = []

    def stop(info):
        calls.append(info)
        if info["frame"] == 2:
            raise ZeroDivisionError("stop at frame 3")

    with pytest.raises(ZeroDivisionError, match="stop at frame 3"):
        for _ in impasto.video(clip, clip / "f0.ppm", out=out, callback=stop, **options):
            pass
    assert calls[0]["frame"] >= 1 and not (out / "frame_0003.png").exists()  # frame 1 kept, not recomputed
    frames = dict(impasto.video(clip, clip / "f0.ppm", out=out, **options))
    cli(*video_args(clip, tmp_path / "cli", passes=1))
    assert sorted(frames) == [0, 1, 2, 3]
    assert all(np.array_equal(frames[t], read_png(tmp_path / "cli" / f"frame_{t + 1:04d}.png")) for t in range(4))


def test_video_errors(clip, tmp_path):
    with pytest.raises(ValueError) as e:
        impasto.video(clip, clip / "f0.ppm", no_such_option=1)  # at the call, before any frame
    assert "no_such_option" in one_line(e)
    with pytest.raises(FileNotFoundError) as e:
        next(impasto.video(tmp_path / "none.avi", clip / "f0.ppm", **VIDEO))
    assert "none.avi" in one_line(e)
    with pytest.raises(ValueError) as e:
        next(impasto.video(clip, clip / "f0.ppm", **dict(VIDEO, passes=0)))
    one_line(e)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals go to the main thread")
def test_video_ctrl_c_stops_cleanly(clip, tmp_path):
    if "dis" not in cli("video", "--help").stdout:
        pytest.skip("this build has no OpenCV (DIS flow)")
    out = tmp_path / "run"
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in impasto.video(clip, clip / "f0.ppm", out=out, **dict(VIDEO, iterations=1000000)):
                pass
    finally:
        timer.cancel()
    assert not (out / "frame_0001.png").exists() and not [p for p in os.listdir(out) if p.endswith(".tmp")]
