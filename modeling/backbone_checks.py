"""Checksums of the backbone cache: a cached folder is loaded only if its files hash to their pins.

Split from `modeling.backbones` (which unpacks) so the rule is in one place: the repo's
pins win over the folder's own manifest, and a mismatch is one line (`ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping

from searchrel.core.errors import ConfigError

MANIFEST = "searchrel-backbone.json"
CHUNK = 1 << 20

# Folders verified in this process, with the (size, mtime) of each file then: a process
# that loads the same backbone again does not hash hundreds of MB again.
_VERIFIED: dict[str, dict[str, tuple[int, int]]] = {}


def verify_folder(name: str, pins: Mapping[str, str], folder: Path) -> None:
    """Refuse a cached folder whose files no longer hash to the manifest's (or the repo's) pins."""
    manifest = read_manifest(folder)
    expected = dict(manifest.get("files_sha256") or {})
    expected.update(pins)  # the repo's pins win over the manifest's
    stamps = {}
    for rel in expected:
        path = folder / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"backbone {name!r}: cached file {path} is missing; delete {folder} to unpack it again"
            ) from None
        stamps[rel] = (st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(str(folder)) == stamps:
        return
    for rel, want in expected.items():
        check(name, f"cached file {folder / rel}", sha256_file(folder / rel), want,
              hint=f"delete {folder} to unpack it again")
    _VERIFIED[str(folder)] = stamps


def forget_verified(folder: Path) -> None:
    """A folder unpacked again is hashed again on its next load."""
    _VERIFIED.pop(str(folder), None)


def check(name: str, what: str, got: str | None, want: str | None, hint: str = "") -> None:
    if want is None or got == want:
        return
    tail = f"; {hint}" if hint else "; reinstall the package(s) (make venv) or fix the pin in modeling/backbones.py"
    raise ConfigError(
        f"backbone {name!r}: SHA-256 of the {what} is {(got or 'missing')[:16]}…, pinned {want[:16]}…: "
        f"refusing to load it{tail}"
    )


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return {}


def manifest_source(folder: Path) -> str | None:
    return read_manifest(folder).get("source_sha256")
