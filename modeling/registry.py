"""Model versions and the `current` pointer: one format for the teacher and the student.

A model kind keeps its versions as folders under one root
(`<models_path>/teacher/`, `<models_path>/student/`), each recognised by its marker file (`teacher.json`,
`student.safetensors`), so a stray folder is not taken for a version. Publishing moves the `current` pointer: a
small JSON file `{"version": ..., "updated_at": ...}` (a file, not a symlink, so
it works on object stores), written by rename through `searchrel.core.files`, so
labelling or serving reading it while a new model is promoted sees the old
version or the new one, never half a file.

Student pointers written before the formats were unified hold the bare version
name as plain text; `current_version` still reads them, so an existing warehouse
keeps its published student until the next training moves the pointer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from searchrel.core.faults import checkpoint
from searchrel.core.files import write_json_atomic
from searchrel.core.names import check_plain_name

log = logging.getLogger(__name__)

POINTER_FILE = "current"
# A hidden staging or set-aside folder this old is what a killed save left behind: no save
# runs that long (a save stages files, it does not train), and one still running is younger.
STALE_STAGING_S = 24 * 3600
CURRENT = "current"


def new_version() -> str:
    """Sortable by time: v20261125T133000."""
    return "v" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")


def versions(root: str | os.PathLike[str], marker: str) -> list[str]:
    """The saved versions under `root` (folders holding `marker`), in name order.

    Hidden folders are not versions: they are saves being staged (`staging_dir`), or
    left behind by a save that was killed, and may hold the marker already.
    """
    base = Path(root)
    if not base.exists():
        return []
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".") and (p / marker).exists())


def staging_dir(final: str | os.PathLike[str]) -> Path:
    """A new hidden folder beside `final` to build a version in; `publish_staged` renames it into place.

    On the same filesystem as the version, so the rename is atomic: a save killed at any
    point leaves `final` as it was and only a hidden folder behind, which no reader lists.
    """
    target = Path(final)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))


def sweep_stale(root: str | os.PathLike[str], older_than_s: float = STALE_STAGING_S) -> list[str]:
    """Delete the hidden staging and set-aside folders that killed saves left under `root`.

    Only folders last changed over `older_than_s` ago: a younger one may belong to a save
    running now. Returns the names deleted.
    """
    base, now, gone = Path(root), time.time(), []
    for path in base.iterdir() if base.is_dir() else []:
        left_by_a_save = ".staging-" in path.name or ".replaced-" in path.name
        if not (path.name.startswith(".") and path.is_dir() and left_by_a_save):
            continue
        if now - path.stat().st_mtime > older_than_s:
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by a save that did not finish", path)
            gone.append(path.name)
    return gone


def publish_staged(staging: str | os.PathLike[str], final: str | os.PathLike[str]) -> Path:
    """Rename a complete staged version to `final`, replacing an earlier save of the same name.

    The old folder is renamed aside first and deleted after, so the moment `final` is
    missing is two renames long, not the deletion of a whole backbone.
    """
    staged, target = Path(staging), Path(final)
    checkpoint("model.save.staged", str(target))
    aside = None
    if target.exists():
        aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
        os.replace(target, aside)
    os.replace(staged, target)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return target


def current_version(root: str | os.PathLike[str]) -> str | None:
    """The version `current` points at, or None when nothing has been published."""
    pointer = Path(root) / POINTER_FILE
    if not pointer.exists():
        return None
    text = pointer.read_text(encoding="utf-8")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return str(parsed["version"])
    # A legacy plain-text pointer (or a bare JSON scalar, e.g. a numeric version name).
    return text.strip()


def set_current(root: str | os.PathLike[str], version: str, marker: str, kind: str = "model") -> Path:
    """Point `current` at a saved version; a version that is not there is refused, not published."""
    check_plain_name(version, f"{kind} version")
    base = Path(root)
    if not (base / version / marker).exists():
        raise FileNotFoundError(f"{kind} version {version!r} not found under {base}")
    stamp = dt.datetime.now(dt.timezone.utc).isoformat()
    return write_json_atomic(base / POINTER_FILE, {"version": version, "updated_at": stamp}, indent=None)


def resolve(
    root: str | os.PathLike[str], version: str | None, marker: str, kind: str = "model", train_command: str = "",
) -> Path:
    """The folder of a version; `current` (or None) follows the pointer. Raises naming what is missing."""
    base = Path(root)
    if version in (None, CURRENT):
        version = current_version(base)
        if version is None:
            hint = f": run `searchrel {train_command}` first" if train_command else ""
            raise FileNotFoundError(f"no current {kind} under {base}{hint}")
    # A name, never a path: `../x` or `/x` would leave the models root (searchrel.core.names).
    check_plain_name(version, f"{kind} version")
    path = base / str(version)
    if not (path / marker).exists():
        raise FileNotFoundError(f"{kind} version {version!r} not found under {base}")
    return path
