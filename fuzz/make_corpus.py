#!/usr/bin/env python3
"""fuzz/make_corpus.py — writes the seed corpora of fuzz/corpus/<target>/: small valid and near-valid files
(truncated, bad magic, NaN, wrong shapes and types) from which libFuzzer starts. Needs Debian's python3-pil,
python3-h5py and python3-numpy (`bash tools/setup.sh --dev`). Files named crash-*, oom-*, timeout-* or leak-*
are inputs the fuzzers found (README "Fuzzing"); this script does not touch them.

    /usr/bin/python3 fuzz/make_corpus.py
"""
import io
import json
import os
import struct
import zlib

import h5py
import numpy as np
from PIL import Image

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)
    return data


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def images():
    def picture(mode, w=8, h=6):
        im = Image.new("RGB", (w, h))
        for y in range(h):
            for x in range(w):
                im.putpixel((x, y), ((x * 37) % 256, (y * 53) % 256, ((x + y) * 29) % 256))
        return im if mode == "RGB" else im.convert(mode)

    def save(name, im, fmt, **options):
        b = io.BytesIO()
        im.save(b, fmt, **options)
        return out("image", name, b.getvalue())

    png = save("rgb.png", picture("RGB"), "PNG")
    for name, mode in [("gray", "L"), ("rgba", "RGBA"), ("gray_alpha", "LA"), ("palette", "P"), ("one_bit", "1")]:
        save(name + ".png", picture(mode), "PNG")
    save("gray16.png", picture("L").convert("I;16"), "PNG")
    save("one_pixel.png", picture("RGB", 1, 1), "PNG")
    jpg = save("rgb.jpg", picture("RGB"), "JPEG", quality=90)
    save("gray.jpg", picture("L"), "JPEG", quality=90)
    save("progressive.jpg", picture("RGB", 16, 16), "JPEG", quality=80, progressive=True)
    save("subsampled.jpg", picture("RGB", 17, 9), "JPEG", quality=75, subsampling=2)
    save("rgb.ppm", picture("RGB"), "PPM")
    save("gray.pgm", picture("L"), "PPM")
    bmp = save("rgb.bmp", picture("RGB", 7, 5), "BMP")
    save("palette.bmp", picture("P", 7, 5), "BMP")
    save("rgba.bmp", picture("RGBA", 7, 5), "BMP")
    save("one_bit.bmp", picture("1", 9, 3), "BMP")
    # Adam7-interlaced 8x6 RGB, every row with the Sub filter
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        pw, ph = max(0, (8 - x0 + dx - 1) // dx), max(0, (6 - y0 + dy - 1) // dy)
        for r in range(ph if pw else 0):
            raw += b"\x01" + bytes((17 * i + r) % 256 for i in range(3 * pw))
    signature = b"\x89PNG\r\n\x1a\n"
    out("image", "interlaced.png", signature + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 8, 2, 0, 0, 1)) +
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    # near-valid
    out("image", "truncated.png", png[: len(png) // 2])
    out("image", "truncated.jpg", jpg[: len(jpg) - 40])
    out("image", "truncated.bmp", bmp[: len(bmp) - 10])
    out("image", "truncated.ppm", b"P6\n8 6\n255\n" + bytes(50))
    bad = bytearray(png)
    bad[-20] ^= 0xFF
    out("image", "bad_crc.png", bytes(bad))
    out("image", "huge_header.png", signature + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)) +
        png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
    out("image", "text.ppm", b"P3\n2 1\n255\n255 0 0 0 255 0\n")
    # (a 16-bit PGM is crash-pgm-16bit-as-rgb.pgm, which the fuzzer found)
    out("image", "comment.ppm", b"P6\n# a comment\n2 1\n255\n" + bytes([255, 0, 0, 0, 255, 0]))


def flows():
    def flo(w, h, values=None, magic=b"PIEH"):
        if values is None:
            values = [((k * 0.37) % 5) - 2.5 for k in range(2 * w * h)]
        return magic + struct.pack("<ii", w, h) + struct.pack("<%df" % len(values), *values)

    out("flo", "valid_4x3.flo", flo(4, 3))
    out("flo", "valid_1x1.flo", flo(1, 1, [0.5, -0.25]))
    out("flo", "unknown_flow.flo", flo(2, 2, [1e9, 0, 0.5, 1e10, -3, 2, 0, 0]))
    out("flo", "truncated.flo", flo(4, 3)[:-7])
    out("flo", "header_only.flo", b"PIEH" + struct.pack("<ii", 4, 3))
    out("flo", "short_header.flo", b"PIEH\x04\x00")
    out("flo", "trailing.flo", flo(2, 1) + b"\0\0\0\0")
    out("flo", "bad_magic.flo", flo(2, 2, magic=b"HEIP"))
    out("flo", "nan.flo", flo(2, 1, [0.0, float("nan"), 1.0, 2.0]))
    out("flo", "inf.flo", flo(1, 2, [float("-inf"), 0.0, 1.0, 2.0]))
    out("flo", "negative_size.flo", b"PIEH" + struct.pack("<ii", -4, 3) + bytes(8))
    out("flo", "zero_size.flo", b"PIEH" + struct.pack("<ii", 0, 0))
    out("flo", "too_wide.flo", b"PIEH" + struct.pack("<ii", 65537, 1) + bytes(16))
    out("flo", "huge_claim.flo", b"PIEH" + struct.pack("<ii", 65536, 65536) + bytes(16))


VGG_LAYERS = ["block%d_conv%d" % (b, c) for b, n in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)] for c in range(1, n + 1)]


def keras_files():
    folder = os.path.join(CORPUS, "keras_h5")
    os.makedirs(folder, exist_ok=True)
    path = lambda name: os.path.join(folder, name)

    def strings(names):
        return np.array([n.encode() for n in names], dtype="S%d" % max(len(n) for n in names))

    def kernel(cin, cout, dtype="<f4"):
        return (np.arange(9 * cin * cout).reshape(3, 3, cin, cout) % 7 - 3).astype(dtype) * 0.01

    def layer(root, name, cin, cout, dtype="<f4"):
        g = root.create_group(name)
        names = [name + "/kernel:0", name + "/bias:0"]
        g.attrs["weight_names"] = strings(names)
        g.create_dataset(names[0], data=kernel(cin, cout, dtype))
        g.create_dataset(names[1], data=np.zeros(cout, dtype=dtype))

    def no_weights(root, name):
        root.create_group(name).attrs["weight_names"] = np.zeros((0,), dtype="f8")  # as Keras writes it

    # Keras's own layout with the first layer only: load_keras_vgg19(path, 1) accepts it.
    with h5py.File(path("one_layer.h5"), "w") as f:
        f.attrs["layer_names"] = strings(["input_1", "block1_conv1"])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        no_weights(f, "input_1")
        layer(f, "block1_conv1", 3, 64)
    # Every layer, the first right, the others (3,3,1,1): a shape error at block1_conv2.
    with h5py.File(path("all_layers_tiny.h5"), "w", libver="latest") as f:
        for i, name in enumerate(VGG_LAYERS):
            g = f.create_group(name)
            g.attrs["weight_names"] = strings(["k:0", "b:0"])
            c = (3, 64) if i == 0 else (1, 1)
            g.create_dataset("k:0", data=np.full((3, 3) + c, 0.5, "<f4"))
            g.create_dataset("b:0", data=np.zeros(c[1], "<f4"))
        f.attrs["layer_names"] = strings(VGG_LAYERS)
    # A full-model save: under /model_weights, variable-length strings, a chunked gzip kernel, newest format.
    with h5py.File(path("model_weights_vlen.h5"), "w", libver="latest") as f:
        m = f.create_group("model_weights")
        m.attrs.create("layer_names", ["block1_conv1"], dtype=h5py.string_dtype())
        g = m.create_group("block1_conv1")
        g.attrs.create("weight_names", ["block1_conv1/kernel:0", "block1_conv1/bias:0"], dtype=h5py.string_dtype())
        g.create_dataset("block1_conv1/kernel:0", data=kernel(3, 64), chunks=(3, 3, 3, 16), compression="gzip",
                         shuffle=True)
        g.create_dataset("block1_conv1/bias:0", data=np.zeros(64, "<f4"))
    # Keras's split form of large attributes (layer_names0, layer_names1, …), a big-endian bias.
    with h5py.File(path("split_attributes.h5"), "w") as f:
        f.attrs["layer_names0"] = strings(["input_1"])
        f.attrs["layer_names1"] = strings(["block1_conv1"])
        no_weights(f, "input_1")
        g = f.create_group("block1_conv1")
        g.attrs["weight_names0"] = strings(["kernel:0"])
        g.attrs["weight_names1"] = strings(["bias:0"])
        g.create_dataset("kernel:0", data=kernel(3, 64))
        g.create_dataset("bias:0", data=np.zeros(64, ">f4"))
    # float64 weights (a dtype error); a scalar, space-padded layer_names.
    with h5py.File(path("float64.h5"), "w") as f:
        f.attrs.create("layer_names", np.array(b"block1_conv1   ", dtype="S15"))
        layer(f, "block1_conv1", 3, 64, dtype="<f8")
    # weight_names naming a missing dataset and a rank-2 one; integer weight_names.
    with h5py.File(path("broken_names.h5"), "w") as f:
        f.attrs["layer_names"] = strings(["block1_conv1", "block1_conv2"])
        g = f.create_group("block1_conv1")
        g.attrs["weight_names"] = strings(["missing/kernel:0", "rank2:0"])
        g.create_dataset("rank2:0", data=np.zeros((3, 4), "<f4"))
        f.create_group("block1_conv2").attrs["weight_names"] = np.arange(3, dtype="i4")
    # Bytes-level variants of the first.
    with open(path("one_layer.h5"), "rb") as f:
        one = f.read()
    out("keras_h5", "truncated.h5", one[:1024])
    out("keras_h5", "signature_only.h5", one[:8])
    bad = bytearray(one)
    bad[40:48] = b"\xff" * 8  # the superblock's end-of-file address
    out("keras_h5", "bad_superblock.h5", bytes(bad))


def video_states():
    def outputs(passes, frames):
        return [("" if p == passes else "pass%d/" % p) + "frame_%04d.png" % (t + 1)
                for p in range(1, passes + 1) for t in range(frames)] + ["out.avi"]

    described = {"options": {"passes": 2, "iterations": 10, "temporal_weight": 200.0, "flow": "dis",
                             "loss": {"content_layers": [["relu4_2", 1.0]], "style_layers": [["relu1_1", 0.2]]}},
                 "input": "1f3a9c0b5d7e2468", "styles": "0a1b2c3d4e5f6071", "frames": 3, "size": [64, 48],
                 "weights": "random VGG-19 (seed 0)"}

    def state(name, obj, indent=2):
        out("video_state", name, (json.dumps(obj, indent=indent) + "\n").encode())

    state("v2_two_passes.json", {"version": 2, "fingerprint": "9e3779b97f4a7c15", "described": described,
                                 "complete": False, "outputs": outputs(2, 3)})
    one_pass = dict(described, options=dict(described["options"], passes=1), frames=2)
    state("v2_complete.json", {"version": 2, "fingerprint": "c2b2ae3d27d4eb4f", "described": one_pass,
                               "complete": True, "outputs": outputs(1, 2)}, indent=None)
    state("v1_from_passes.json", {"version": 1, "fingerprint": "165667b19e3779f9", "described": described,
                                  "complete": False})
    v1 = lambda d: {"version": 1, "fingerprint": "00", "described": d, "complete": False}
    state("v1_no_passes.json", v1({"frames": 3, "options": {}}))
    state("v1_zero_frames.json", v1({"frames": 0, "options": {"passes": 1}}))
    state("v1_large.json", v1({"frames": 99999999, "options": {"passes": 1}}))
    v2 = lambda o: {"version": 2, "fingerprint": "ab", "described": {}, "complete": False, "outputs": o}
    state("v2_escape.json", v2(["frame_0001.png", "../frame_0001.png", "/etc/passwd"]))
    state("v2_not_string.json", v2(["out.avi", 7]))
    state("v2_no_outputs.json", {"version": 2, "fingerprint": "ab", "described": {}, "complete": False})
    state("v3.json", dict(v2([]), version=3))
    state("wrong_types.json", {"version": 2.0, "fingerprint": 12, "described": [], "complete": "no", "outputs": {}})
    out("video_state", "truncated.json", json.dumps({"version": 2, "fingerprint": "ab", "described": described})[:90].encode())
    out("video_state", "array.json", b'[2, "ab", {}, false, []]\n')
    out("video_state", "empty.json", b"")
    out("video_state", "utf8.json", '{"version":2,"fingerprint":"\\u00e9\\ud83d\\ude00","described":{"x":"caf\u00e9"},'
        '"complete":false,"outputs":["pass1/frame_0001.png","pass12/frame_000000001.png"]}\n'.encode())


if __name__ == "__main__":
    images()
    flows()
    keras_files()
    video_states()
