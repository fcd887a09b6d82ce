"""The model registry: one `current` pointer format for the teacher and the student, legacy student pointers still read."""

from __future__ import annotations

import json
import os
import time

import pytest

from modeling import registry
from modeling.student import resolve_version_dir, set_current, student_root


def _student_version(models, name: str):
    path = student_root(models) / name
    path.mkdir(parents=True)
    (path / "student.safetensors").write_bytes(b"")
    return path


def test_the_student_pointer_is_the_teachers_json_format(tmp_path):
    path = _student_version(tmp_path, "s2")
    pointer = set_current(tmp_path, "s2")
    written = json.loads(pointer.read_text(encoding="utf-8"))
    assert written["version"] == "s2" and set(written) == {"version", "updated_at"}
    assert resolve_version_dir(tmp_path) == path
    assert resolve_version_dir(tmp_path, None) == path
    assert not [p.name for p in pointer.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_legacy_plain_text_student_pointer_is_still_followed(tmp_path):
    _student_version(tmp_path, "s1")
    path = _student_version(tmp_path, "20261125")  # a version name that is also a JSON number
    (student_root(tmp_path) / "current").write_text("s1\n", encoding="utf-8")
    assert resolve_version_dir(tmp_path).name == "s1"
    (student_root(tmp_path) / "current").write_text("20261125\n", encoding="utf-8")
    assert resolve_version_dir(tmp_path) == path


def test_a_missing_version_is_neither_published_nor_resolved(tmp_path):
    _student_version(tmp_path, "s1")
    with pytest.raises(FileNotFoundError, match="student-train"):
        resolve_version_dir(tmp_path)  # nothing published yet
    with pytest.raises(FileNotFoundError, match="'s9'"):
        set_current(tmp_path, "s9")
    assert not (student_root(tmp_path) / "current").exists()
    set_current(tmp_path, "s1")
    with pytest.raises(FileNotFoundError, match="'s9'"):
        resolve_version_dir(tmp_path, "s9")


def test_versions_are_the_marked_folders_in_name_order(tmp_path):
    root = tmp_path / "teacher"
    for name in ("v2", "v1"):
        (root / name).mkdir(parents=True)
        (root / name / "teacher.json").write_text("{}")
    (root / "half_copied").mkdir()
    assert registry.versions(root, "teacher.json") == ["v1", "v2"]
    assert registry.versions(tmp_path / "nothing", "teacher.json") == []
    assert registry.current_version(root) is None
    registry.set_current(root, "v1", "teacher.json")
    assert registry.current_version(root) == "v1"


def test_a_new_save_sweeps_what_killed_saves_left_but_not_a_save_in_progress(tmp_path):
    from modeling.registry import STALE_STAGING_S, staging_dir

    root = tmp_path / "teacher"
    (root / "v1").mkdir(parents=True)
    old_staging, old_aside, running = (root / ".v2.staging-ab12", root / ".v1.replaced-0f0f", root / ".v3.staging-cd34")
    for folder in (old_staging, old_aside, running):
        folder.mkdir()
        (folder / "teacher.json").write_text("{}")
    long_ago = time.time() - STALE_STAGING_S - 60
    for folder in (old_staging, old_aside, root / "v1"):
        os.utime(folder, (long_ago, long_ago))

    new = staging_dir(root / "v4")

    assert sorted(p.name for p in root.iterdir()) == sorted([".v3.staging-cd34", "v1", new.name])
