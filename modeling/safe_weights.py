"""Model folders hold safetensors only: a pickled weights file is refused before anything loads.

`torch.load` and transformers' fallback to `pytorch_model.bin` unpickle, and
unpickling runs whatever code the file names. The folders this project saves
(teacher versions, student versions) never hold a pickle, so one found there
was put there by someone else and the whole folder is refused. A backbone folder
(`teacher.backbone`, the sentence encoder) may come from the hub, where folders
often ship both formats: it is refused only when it has pickled weights and no
safetensors, and every `from_pretrained` of weights passes `use_safetensors=True`
so the pickle is never the one read.
"""

from __future__ import annotations

import os
from pathlib import Path

from searchrel.core.errors import ConfigError

# torch.save's and pickle's usual suffixes (.bin: transformers' pytorch_model.bin, adapter_model.bin).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def pickled_files(folder: str | os.PathLike[str]) -> list[str]:
    """Paths (relative to `folder`, sorted) of the files under it that carry a pickle suffix."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)


def _refusal(what: str, folder: str | os.PathLike[str], found: list[str]) -> ConfigError:
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return ConfigError(f"{what} {folder} holds pickled weights ({shown}): refused, only safetensors are loaded")


def refuse_pickles(folder: str | os.PathLike[str], what: str) -> None:
    """ConfigError (one line) when a folder this project saved holds any pickled file."""
    found = pickled_files(folder)
    if found:
        raise _refusal(what, folder, found)


def refuse_pickle_only(folder: str | os.PathLike[str], what: str) -> None:
    """ConfigError when a (possibly downloaded) model folder has pickled weights and no safetensors."""
    root = Path(folder)
    found = pickled_files(root)
    if found and not any(root.rglob("*.safetensors")):
        raise _refusal(what, folder, found)
