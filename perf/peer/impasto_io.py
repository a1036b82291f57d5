"""perf/peer/impasto_io.py — what a Python/PyTorch program needs to see exactly what impasto sees: the VGG-19
layer table, the loader of impasto's exported Keras HDF5 weights (`impasto weights export OUT.h5 --seed S`),
impasto's preprocessing and the synthetic benchmark images of perf/bench.cpp.

Used by perf/peer/peer.py (the PyTorch peer of the benchmark) and tests/fixtures/make_vgg_fixture.py (the
VGG-19 answer key). Needs numpy and h5py only (no torch).
"""
import h5py
import numpy as np

CONVS = [  # (name, keras name, cin, cout, pool after) — weights/vgg19_table.cpp
    ("conv1_1", "block1_conv1", 3, 64, False), ("conv1_2", "block1_conv2", 64, 64, True),
    ("conv2_1", "block2_conv1", 64, 128, False), ("conv2_2", "block2_conv2", 128, 128, True),
    ("conv3_1", "block3_conv1", 128, 256, False), ("conv3_2", "block3_conv2", 256, 256, False),
    ("conv3_3", "block3_conv3", 256, 256, False), ("conv3_4", "block3_conv4", 256, 256, True),
    ("conv4_1", "block4_conv1", 256, 512, False), ("conv4_2", "block4_conv2", 512, 512, False),
    ("conv4_3", "block4_conv3", 512, 512, False), ("conv4_4", "block4_conv4", 512, 512, True),
    ("conv5_1", "block5_conv1", 512, 512, False), ("conv5_2", "block5_conv2", 512, 512, False),
    ("conv5_3", "block5_conv3", 512, 512, False), ("conv5_4", "block5_conv4", 512, 512, False),
]

# engine/image.hpp kImagenetMeanRgb: subtracted from RGB 0..255 before the channels are put in network order.
IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], dtype=np.float32)

TWO_PI = 6.283185307179586  # the literal perf/bench.cpp uses


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def load_keras(path):
    """{keras layer name: (kernel (out,in,3,3), bias (out))} following the file's attributes."""
    out = {}
    with h5py.File(path, "r") as f:
        for layer in (_text(n) for n in f.attrs["layer_names"]):
            names = [_text(n) for n in f[layer].attrs["weight_names"]]
            if not names:
                continue
            arrays = [np.asarray(f[layer][n]) for n in names]
            kernel = next(a for a in arrays if a.ndim == 4)
            bias = next(a for a in arrays if a.ndim == 1)
            assert kernel.dtype == np.float32 and bias.dtype == np.float32
            out[layer] = (np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), bias)
    return out


def preprocess(rgb, bgr=True):
    """RGB (3,H,W) float32 0..255 -> network input (3,H,W): minus the ImageNet mean, BGR order when `bgr`
    (engine/image.cpp preprocess; the Keras/Caffe weights, random ones included, take BGR)."""
    x = rgb - IMAGENET_MEAN_RGB[:, None, None]
    return np.ascontiguousarray(x[::-1] if bgr else x)


def synthetic_image(style, h, w):
    """perf/bench.cpp synthetic_image: RGB (3,H,W) float32 0..255 at pixel centres u = (x+1/2)/W,
    v = (y+1/2)/H, computed in float64 with the same operation order; change both together."""
    u = ((np.arange(w, dtype=np.float64) + 0.5) / w)[None, :]
    v = ((np.arange(h, dtype=np.float64) + 0.5) / h)[:, None]
    if not style:
        r = 127.5 + 80 * np.sin(TWO_PI * (1.5 * u + 0.5 * v)) + 40 * np.cos(TWO_PI * 4 * v)
        g = 127.5 + 80 * np.sin(TWO_PI * (0.7 * u - 1.2 * v) + 1.0) + 40 * np.cos(TWO_PI * 3 * u)
        b = 127.5 + 80 * np.cos(TWO_PI * 2 * u * v) + 40 * np.sin(TWO_PI * 5 * (u + v))
    else:
        r = 127.5 + 120 * np.sin(TWO_PI * 16 * u) * np.cos(TWO_PI * 12 * v)
        g = 127.5 + 120 * np.sin(TWO_PI * (9 * u + 11 * v))
        b = 127.5 + 120 * np.cos(TWO_PI * 20 * ((u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5)))
    return np.stack([np.broadcast_to(c, (h, w)) for c in (r, g, b)]).astype(np.float32)
