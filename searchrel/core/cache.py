"""Where things built once per machine are kept: unpacked backbones, ONNX graphs, the JVM class archive.

`$SEARCHREL_CACHE`, else ~/.cache/searchrel. Nothing in it is a result: each entry is
keyed by what it was built from and can be deleted at any time (it is built again).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEARCHREL_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "searchrel")).expanduser()
