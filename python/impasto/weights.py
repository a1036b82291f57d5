"""impasto.weights — `impasto weights export` and `impasto weights inspect` from Python: write the seeded random
VGG-19 (or a copy of a weight file) in Keras's HDF5 layout, so that peers such as PyTorch load exactly the same
network, and describe a weight file. Errors as in impasto.stylize: FileNotFoundError, ValueError (an existing OUT
without force, a file that is no weight file), MemoryError."""
import os

from . import _impasto

__all__ = ["export", "inspect"]


def export(out, *, seed=None, weights=None, force=False):
    """Write OUT (.h5): the random VGG-19 of `seed` (default 0), or a copy of `weights` (a Keras .h5 file, "random"
    or "random:SEED"). Returns OUT."""
    if seed is not None and weights is not None:
        raise ValueError("give seed or weights, not both (seed is weights='random:SEED')")
    out = os.fspath(out)
    _impasto.weights_export(out, int(seed or 0), "" if weights is None else os.fspath(weights), bool(force))
    return out


def inspect(path):
    """A Keras HDF5 weight file described: {"path", "datasets": [{"layer", "name", "shape", "dtype"}], "parameters",
    "sha256", "loads" (whether impasto loads it as VGG-19), "conv_layers", and "error" when it does not load}."""
    return _impasto.weights_inspect(os.fspath(path))
