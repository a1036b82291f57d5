# python/impasto/__init__.pyi — type stubs of the impasto package, so that editors complete its names. **options are
# the CLI's long option names with '_' for '-' (`impasto stylize --help`, `impasto texture --help`).
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import weights as weights

__version__: str

Image = Union[str, "os.PathLike[str]", npt.NDArray[Any]]
Callback = Callable[[Dict[str, Any]], None]

def stylize(
    content: Image,
    style: Union[Image, Sequence[Image]],
    *,
    style_weights: Optional[Sequence[float]] = None,
    style_masks: Optional[Union[Image, Sequence[Image]]] = None,
    size: int = 512,
    iterations: int = 1000,
    weights: str = "random",
    device: str = "auto",
    precision: str = "auto",
    callback: Optional[Callback] = None,
    callback_image: bool = False,
    **options: Any,
) -> npt.NDArray[np.uint8]: ...  # None with dry_run=True
def texture(
    style: Union[Image, Sequence[Image]],
    *,
    style_weights: Optional[Sequence[float]] = None,
    size: int = 512,
    iterations: int = 1000,
    weights: str = "random",
    device: str = "auto",
    precision: str = "auto",
    callback: Optional[Callback] = None,
    callback_image: bool = False,
    **options: Any,
) -> npt.NDArray[np.uint8]: ...  # None with dry_run=True

class Objective:
    shape: Tuple[int, int, int]
    x0: npt.NDArray[np.float64]
    def __init__(
        self,
        content: Image,
        style: Union[Image, Sequence[Image]],
        *,
        style_weights: Optional[Sequence[float]] = None,
        style_masks: Optional[Union[Image, Sequence[Image]]] = None,
        size: int = 512,
        weights: str = "random",
        device: str = "auto",
        precision: str = "auto",
        **options: Any,
    ) -> None: ...
    def evaluate(self, x: npt.ArrayLike) -> Tuple[Dict[str, float], npt.NDArray[np.float64]]: ...
    def image(self, x: npt.ArrayLike) -> npt.NDArray[np.uint8]: ...

class Engine:
    def __init__(self) -> None: ...
    def stylize(self, content: Image, style: Union[Image, Sequence[Image]], **kwargs: Any) -> npt.NDArray[np.uint8]: ...
    def texture(self, style: Union[Image, Sequence[Image]], **kwargs: Any) -> npt.NDArray[np.uint8]: ...
