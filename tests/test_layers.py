"""The one-way house and the one source of truth (docs/DESIGN.md, "Layers" and "Catalog").

`lint-imports` checks the import-linter contracts of pyproject.toml: a module
imports only from the layers below its own (searchrel.core at the bottom,
the demo at the top), lazy imports inside functions included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_imports_run_one_way():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} missing: install the test extra (import-linter)"
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"an import runs back up a layer:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    assert "0 broken" in done.stdout


def test_every_gated_table_has_its_suite_and_only_those():
    from expectations.registry import SUITES
    from searchrel.core import catalog

    assert sorted(SUITES) == sorted(t.name for t in catalog.gated())
    for table in catalog.gated():
        suite = SUITES[table.name]
        assert suite.spec is table
        assert (suite.table, suite.partition, suite.keys, suite.suite_name) == (
            table.name, table.partition, table.keys, table.name.replace("/", "__"))


def test_catalog_entries_are_well_formed():
    from searchrel.core import catalog

    for name, table in catalog.TABLES.items():
        assert name == table.name and name.count("/") == 1, name
        assert table.layer in {"raw", "eval", "features", "labels"}, name
        assert table.partition in (None, "ds", "as_of"), name
        assert table.partition is None or table.partition in table.keys or not table.keys, name
    assert catalog.table("labels/teacher_scores") is catalog.TEACHER_SCORES
    assert [c.split()[0] for c in catalog.TEACHER_SCORES.schema.split(", ")] == [
        "query", "pin_id", "ds", "teacher_version", "probs", "label", "expected_relevance", "scored_at", "backend"]
