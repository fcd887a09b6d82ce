"""Hostile files: pickled model weights, version names that leave the models root, odd import paths.

Each refusal goes through the command line (`searchrel.cli.main`) and is one line
on stderr with exit code 2; none of them needs Spark, which they must refuse
before starting. The import path test runs the real import.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

D = "2026-11-23"
PLAIN = ("is not a plain name: use letters, digits, '.', '_' and '-' (at most 128, no '/' and no leading '.'), "
         "since it names one folder under the models root")


def _cli(argv: list[str], capsys, models: Path, config_file: Path) -> tuple[int, str]:
    from searchrel.cli import main

    code = main([*argv, "--warehouse", str(models.parent / "warehouse"), "--config", str(config_file),
                 "--set", f"models_dir={models}"])
    return code, capsys.readouterr().err


def _saved_teacher(models: Path, version: str = "t1") -> Path:
    """A teacher version folder as save_teacher leaves it (enough of it for the refusals)."""
    folder = models / "teacher" / version
    (folder / "backbone").mkdir(parents=True)
    (folder / "teacher.json").write_text(json.dumps({"weights": "full", "is_decoder": False}))
    return folder


def test_a_teacher_holding_a_pickle_is_refused_in_one_line(tmp_path, capsys, test_config_file):
    models = tmp_path / "models"
    folder = _saved_teacher(models)
    (folder / "backbone" / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle, not safetensors
    code, err = _cli(["label", "--ds", D, "--teacher", "t1"], capsys, models, test_config_file)
    assert (code, err) == (2, f"searchrel label: error: teacher {folder} holds pickled weights "
                              "(backbone/pytorch_model.bin): refused, only safetensors are loaded\n")


def test_load_teacher_refuses_a_pickle_before_transformers_sees_it(tmp_path):
    from modeling.cross_encoder import load_teacher
    from searchrel.core.errors import ConfigError

    folder = _saved_teacher(tmp_path / "models")
    (folder / "head.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ConfigError, match=r"^teacher .* holds pickled weights \(head.pt\): refused"):
        load_teacher(folder)


def test_a_student_holding_a_pickle_is_refused_in_one_line(tmp_path, capsys, test_config_file):
    models = tmp_path / "models"
    folder = models / "student" / "s1"
    folder.mkdir(parents=True)
    (folder / "student.safetensors").write_bytes(b"")  # the version's marker file
    (folder / "student.pkl").write_bytes(b"\x80\x04K\x01.")
    code, err = _cli(["evaluate", "--student", "s1"], capsys, models, test_config_file)
    assert (code, err) == (2, f"searchrel evaluate: error: student {folder} holds pickled weights (student.pkl): "
                              "refused, only safetensors are loaded\n")


def test_a_backbone_folder_with_only_pickled_weights_is_refused_in_one_line(tmp_path, capsys, test_config_file):
    backbone = tmp_path / "my backbone"
    backbone.mkdir()
    (backbone / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (backbone / "pytorch_model.pth").write_bytes(b"\x80\x04K\x01.")
    code, err = _cli(["teacher-train", "--backbone", str(backbone)], capsys, tmp_path / "models", test_config_file)
    assert (code, err) == (2, f"searchrel teacher-train: error: backbone folder {backbone} holds pickled weights "
                              "(pytorch_model.pth): refused, only safetensors are loaded\n")


@pytest.mark.parametrize("argv, what, name", [
    (["label", "--ds", D, "--teacher", "../../x"], "teacher version", "../../x"),
    (["label", "--ds", D, "--teacher", "t1' OR '1'='1"], "teacher version", "t1' OR '1'='1"),  # SQL in the MERGE
    (["evaluate", "--teacher", "/etc"], "teacher version", "/etc"),
    (["evaluate", "--student", "../student/s1"], "student version", "../student/s1"),
    (["teacher-train", "--version", "../outside"], "teacher version", "../outside"),
    (["student-train", "--version", ".."], "student version", ".."),
])
def test_a_version_name_that_leaves_the_models_root_is_refused(tmp_path, capsys, test_config_file, argv, what, name):
    code, err = _cli(argv, capsys, tmp_path / "models", test_config_file)
    assert (code, err) == (2, f"searchrel {argv[0]}: error: {what} {name!r} {PLAIN}\n")
    assert not (tmp_path / "warehouse").exists()  # refused before any Spark session or table


def test_a_configured_teacher_version_that_is_a_path_is_refused(tmp_path, capsys, test_config_file):
    code, err = _cli(["label", "--ds", D, "--set", "labelling.teacher_version=../../x"], capsys,
                     tmp_path / "models", test_config_file)
    assert (code, err) == (2, "searchrel label: error: bad config value for 'labelling.teacher_version': "
                              f"Value error, teacher version '../../x' {PLAIN} (got '../../x')\n")


def test_set_current_refuses_a_path(tmp_path):
    from modeling.registry import set_current
    from searchrel.core.errors import UsageError

    (tmp_path / "teacher").mkdir()  # so that, unchecked, teacher/../outside would resolve and be published
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "teacher.json").write_text("{}")
    with pytest.raises(UsageError, match="teacher version '../outside' is not a plain name"):
        set_current(tmp_path / "teacher", "../outside", "teacher.json", kind="teacher")


@pytest.mark.spark
def test_import_from_a_path_with_spaces_quotes_unicode_and_glob_characters(spark, tmp_path, capsys, test_config_file):
    from searchrel.cli import main
    from searchrel.core.tables import Tables

    folder = tmp_path / "labels from 'Jürgen' \"Šárka\" 東京 [v2]"
    folder.mkdir()
    path = folder / "my labels, final.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("q", "t", "l"), ("red chair", "Red chair", "5"), ("oak table", "Oak table", "2")])
    warehouse = tmp_path / "wh"
    code = main(["import-labels", str(path), "--query-col", "q", "--text-col", "t", "--label-col", "l",
                 "--ds", D, "--warehouse", str(warehouse), "--config", str(test_config_file), "--json"])
    assert code == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert (out["rows_in"], out["labels_written"], out["quarantined"], out["file"]) == (2, 2, 0, str(path))
    assert out["source"] == "my_labels_final"  # the file's name made a plain dataset name
    assert Tables(spark, str(warehouse)).read("raw/human_labels").count() == 2
