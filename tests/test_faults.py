"""Faults, proven with real processes: SIGKILL at named points, and two writers at once (issue 25 items 1, 2).

Every job here is a process of its own (`python -m searchrel.cli …`, its own Spark JVM)
killed with a real SIGKILL at a named fault point (`searchrel.core.faults`), never after
a sleep. The suite keeps one kill per kind of point (between Delta commits, between
labelling chunks, a staged model save, the pointer swap) and one race per concurrency
policy; `bench/faults.py` runs the whole matrix over the eight writing jobs, with random
kill points, and writes reports/reliability.json.

What each test would catch, checked by removing the protection (see the issue note):
the rerun-equals-uninterrupted assertions catch a job whose rerun is not idempotent;
the model tests catch a save written in place, a staging folder listed as a version,
and a pointer written without the rename; the race tests catch a write without retry.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fault_harness as fh  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(2400)]

DAY0, DAY = "2026-11-22", "2026-11-23"
# Short windows keep the tiny world's aggregation cheap; small chunks give the labelling several commits.
EXTRA = ("features:\n  query_tokens:\n    window_days: 3\n  link_text:\n    window_days: 3\n"
         "labelling:\n  chunk_rows: 150\n")


def _in_process(main, warehouse: Path, config: Path, *args: str) -> None:
    """Run a job's main() in this process (the shared session): the uninterrupted reference and the reruns."""
    assert main([*args, "--warehouse", str(warehouse), "--config", str(config)]) == 0


@pytest.fixture(scope="module")
def base(spark, tiny_world, tiny_teacher, tmp_path_factory) -> dict[str, Path]:
    """The tiny world, a tiny teacher `current` as t1, and features + pin text of DAY0: copied per scenario."""
    from spark_jobs import aggregate_features, assemble_pin_text

    root = tmp_path_factory.mktemp("fault_base")
    warehouse = root / "warehouse"
    shutil.copytree(tiny_world.root, warehouse)
    shutil.copytree(tiny_teacher / "teacher", warehouse / "models" / "teacher")
    config = fh.write_config(root / "faults.yaml", EXTRA)
    _in_process(aggregate_features.main, warehouse, config, "--ds", DAY0)
    _in_process(assemble_pin_text.main, warehouse, config, "--ds", DAY0)
    return {"warehouse": warehouse, "config": config}


def _copy(base: dict[str, Path], to: Path) -> Path:
    shutil.copytree(base["warehouse"], to)
    return to


def _state(spark, warehouse: Path) -> dict[str, tuple[int | None, list[str]]]:
    """Every table's (version, rows)."""
    return {t: (fh.delta_version(warehouse, t), fh.table_rows(spark, warehouse, t))
            for t in fh.delta_tables(warehouse)}


def _assert_whole_commits(spark, before: dict, warehouse: Path) -> None:
    """After a kill: every table readable; one the killed run never committed to is exactly as before."""
    after = _state(spark, warehouse)
    assert set(before) <= set(after)
    for table, (version, rows) in after.items():
        old_version, old_rows = before.get(table, (None, []))
        assert old_version is None or version >= old_version, table
        if version == old_version:
            assert rows == old_rows, f"{table}: rows changed without a commit"


def _assert_same_tables(spark, warehouse: Path, reference: Path) -> None:
    got, want = fh.delta_tables(warehouse), fh.delta_tables(reference)
    assert got == want
    for table in want:
        assert fh.table_rows(spark, warehouse, table) == fh.table_rows(spark, reference, table), table


def test_aggregate_killed_between_commits_rerun_matches_uninterrupted(spark, base, tmp_path, monkeypatch):
    """A kill after the first of the aggregation's commits, then a rerun: the tables of one clean run."""
    from spark_jobs import aggregate_features

    reference = _copy(base, tmp_path / "reference")
    monkeypatch.setenv("SEARCHREL_FAULT_LOG", str(tmp_path / "reference.points"))
    _in_process(aggregate_features.main, reference, base["config"], "--ds", DAY)
    monkeypatch.delenv("SEARCHREL_FAULT_LOG")
    commits = [p for p in fh.fault_points(tmp_path / "reference.points") if p[0] == "table.commit.after"]
    assert len(commits) >= 3, commits  # partials, snapshots, processed days: several commits to fall between

    warehouse = _copy(base, tmp_path / "killed")
    before = _state(spark, warehouse)
    killed = fh.run_job("aggregate", ["--ds", DAY], warehouse, base["config"], fault_at="table.commit.after:1")
    assert killed.killed, killed.stderr[-2000:]
    _assert_whole_commits(spark, before, warehouse)
    assert _state(spark, warehouse) != before  # the kill fell after a commit, not before the first

    _in_process(aggregate_features.main, warehouse, base["config"], "--ds", DAY)
    _assert_same_tables(spark, warehouse, reference)


def test_label_killed_between_chunks_rerun_scores_each_pair_once(spark, base, tmp_path):
    """A kill after the first labelling chunk: that chunk stays, the rerun scores only the rest, once each."""
    from spark_jobs import label_impressions

    reference = _copy(base, tmp_path / "reference")
    _in_process(label_impressions.main, reference, base["config"], "--ds", DAY0)

    warehouse = _copy(base, tmp_path / "killed")
    points = tmp_path / "killed.points"
    killed = fh.run_job("label", ["--ds", DAY0], warehouse, base["config"], fault_at="label.chunk.after:1",
                        fault_log=points)
    assert killed.killed, killed.stderr[-2000:]
    chunk = [p for p in fh.fault_points(points) if p[0] == "label.chunk.after"]
    assert chunk and chunk[0][2].split("/")[1] != "1", chunk  # killed with chunks still to score

    scores = "labels/teacher_scores"
    after_kill = fh.table_rows(spark, warehouse, scores)
    want = fh.table_rows(spark, reference, scores)
    assert 0 < len(after_kill) < len(want)
    assert fh.duplicated_keys(after_kill, ("query", "pin_id", "ds", "teacher_version")) == 0

    _in_process(label_impressions.main, warehouse, base["config"], "--ds", DAY0)
    _assert_same_tables(spark, warehouse, reference)


@pytest.fixture
def models(tiny_teacher, tmp_path) -> Path:
    """A models folder holding the tiny teacher t1 as `current` (no Spark: these kills are of plain processes)."""
    shutil.copytree(tiny_teacher / "teacher", tmp_path / "models" / "teacher")
    return tmp_path / "models"


SAVE_SCRIPT = """
import sys
from modeling.cross_encoder import load_teacher, save_teacher, set_current
models, version, publish = sys.argv[1], sys.argv[2], sys.argv[3] == "publish"
model, tokenizer, meta = load_teacher(f"{models}/teacher/t1")
save_teacher(model, tokenizer, {**meta, "version": version}, f"{models}/teacher/{version}")
if publish:
    set_current(models, version)
"""


def _save(models: Path, version: str, publish: bool, fault_at: str | None = None) -> subprocess.CompletedProcess:
    """Save the tiny teacher as `version` (and publish it) in a process of its own, killed at `fault_at`."""
    return subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(models), version, "publish" if publish else "keep"],
                          cwd=str(fh.REPO), env=fh.job_env(fault_at=fault_at), capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("version", ["t2", "t1"], ids=["new-version", "same-version-again"])
def test_model_save_killed_leaves_versions_and_pointer_whole(models, version):
    """Killed with every file written, before the rename: no new version listed, t1 still loads, current t1."""
    before = fh.models_state(models)
    done = _save(models, version, publish=True, fault_at="model.save.staged")
    assert done.returncode == fh.KILLED, done.stderr[-2000:]
    after = fh.models_state(models)
    assert after["teacher"]["versions"] == before["teacher"]["versions"] == ["t1"]
    assert after["teacher"]["current"] == "t1"
    assert fh.check_models(models) == []
    assert after["teacher"]["hidden"], "the kill fell before the staging folder was written"


def test_pointer_swap_killed_keeps_the_old_version_current(models):
    """Killed with the new pointer written beside `current`, not renamed over it: t1 stays current, whole."""
    assert _save(models, "t2", publish=False).returncode == 0
    done = _save(models, "t3", publish=True, fault_at="file.rename.before")
    assert done.returncode == fh.KILLED, done.stderr[-2000:]
    state = fh.models_state(models)["teacher"]
    assert state["versions"] == ["t1", "t2", "t3"] and state["current"] == "t1"
    assert fh.check_models(models) == []
    assert _save(models, "t3", publish=True).returncode == 0
    assert fh.models_state(models)["teacher"]["current"] == "t3"


def _race(base: dict[str, Path], warehouse: Path, tmp_path: Path, jobs: list[tuple[str, list[str]]],
          config: Path | None = None) -> list[fh.JobRun]:
    """Start the jobs at once; a barrier holds each at its first commit until all are there, then frees them together."""
    action = f"barrier:{tmp_path / 'barrier'}:{len(jobs)}"
    started = [fh.start_job(command, args, warehouse, config or base["config"],
                            fault_at="table.commit.before:1", action=action) for command, args in jobs]
    return [fh.finish(command, s) for (command, _), s in zip(jobs, started)]


@pytest.fixture(scope="module")
def assembled_once(base, tmp_path_factory) -> Path:
    """The base warehouse after one uninterrupted assemble-text run of DAY0: what both races must end as."""
    from spark_jobs import assemble_pin_text

    reference = _copy(base, tmp_path_factory.mktemp("assembled") / "reference")
    _in_process(assemble_pin_text.main, reference, base["config"], "--ds", DAY0)
    return reference


def test_same_job_same_day_twice_at_once_retries_and_matches_one_run(spark, base, assembled_once, tmp_path):
    """Two assemble-text runs of one day race for the same partition: the loser retries, the table is one run's."""
    warehouse = _copy(base, tmp_path / "race")
    runs = _race(base, warehouse, tmp_path, [("assemble-text", ["--ds", DAY0])] * 2)
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    assert any("lost a commit race" in r.stderr for r in runs), "the two writers never collided"
    _assert_same_tables(spark, warehouse, assembled_once)


def test_loser_without_retries_fails_in_one_line_and_nothing_is_lost(spark, base, assembled_once, tmp_path):
    """With spark.commit_attempts 1 the loser exits 1 naming the table in one line; the winner's rows stand whole."""
    warehouse = _copy(base, tmp_path / "race")
    config = fh.write_config(tmp_path / "no-retry.yaml", EXTRA)
    config.write_text(config.read_text().replace("spark:\n", "spark:\n  commit_attempts: 1\n", 1))
    runs = _race(base, warehouse, tmp_path, [("assemble-text", ["--ds", DAY0])] * 2, config=config)
    assert sorted(r.returncode for r in runs) == [0, 1], [r.stderr[-2000:] for r in runs]
    loser = next(r for r in runs if r.returncode == 1)
    assert "another writer committed first" in loser.last_line() and "features/pin_text" in loser.last_line()
    assert "Traceback" not in loser.stderr
    _assert_same_tables(spark, warehouse, assembled_once)


def test_two_imports_into_the_same_tables_at_once_keep_every_row(spark, base, tmp_path):
    """Two import-labels runs of different files MERGE into raw/human_labels and raw/pins at once: all rows, once."""
    from spark_jobs import import_labels

    files = []
    for k in range(2):
        path = tmp_path / f"labels{k}.csv"
        path.write_text("query,title,grade\n" + "".join(f"race query {k} {i},race item {k} {i},{1 + i % 5}\n"
                                                          for i in range(40)), encoding="utf-8")
        files.append(path)
    args = [["--query-col", "query", "--text-col", "title", "--label-col", "grade", "--ds", DAY, str(f)]
            for f in files]
    reference, warehouse = _copy(base, tmp_path / "reference"), _copy(base, tmp_path / "race")
    for copy in (reference, warehouse):  # a labels-only warehouse: the two imports race to create the tables too
        for table in ("raw/human_labels", "raw/pins"):
            shutil.rmtree(copy / table)
    for a in args:
        _in_process(import_labels.main, reference, base["config"], *a)
    runs = _race(base, warehouse, tmp_path, [("import-labels", a) for a in args])
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    for table, keys in (("raw/human_labels", ("query", "pin_id")), ("raw/pins", ("pin_id",))):
        rows = fh.table_rows(spark, warehouse, table)
        assert fh.duplicated_keys(rows, keys) == 0
        assert rows == fh.table_rows(spark, reference, table), table
    assert any("lost a commit race" in r.stderr for r in runs), "the two writers never collided"
