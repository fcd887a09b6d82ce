"""The one way a small file (a report, a summary, a model pointer) is written.

Readers of these files run concurrently with their writers (the report is
read while a DAG writes it; labelling reads the teacher pointer while a new
teacher is promoted), so a file is written beside its target under a name
unique to the writing process and renamed over it: a reader sees the old file
or the new one, never half of one, and a killed writer leaves only a hidden
temporary behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from searchrel.core.faults import checkpoint


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` (parents created) by rename; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        checkpoint("file.rename.before", str(target))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_json_atomic(path: str | os.PathLike[str], obj: Any, **dumps: Any) -> Path:
    """`obj` as indented JSON (non-JSON values through str, e.g. dates) written by rename."""
    dumps.setdefault("indent", 2)
    dumps.setdefault("default", str)
    return write_text_atomic(path, json.dumps(obj, **dumps) + "\n")
