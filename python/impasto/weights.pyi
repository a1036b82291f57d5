# python/impasto/weights.pyi — type stubs of impasto.weights.
import os
from typing import Any, Dict, Optional, Union

def export(out: Union[str, "os.PathLike[str]"], *, seed: Optional[int] = None,
           weights: Optional[Union[str, "os.PathLike[str]"]] = None, force: bool = False) -> str: ...
def inspect(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]: ...
