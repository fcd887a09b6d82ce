#!/usr/bin/env python3
"""Stands in for spark-submit in the fast DAG tests: records its arguments and answers like the jobs would.

The orchestration tests check what Airflow does with exit codes and outputs
(gates stop their downstream, chunks are planned, the student is published
only when not worse) without paying a JVM per task; the real spark-submit
runs in the end-to-end test. Behaviour comes from the environment:

- FAKE_LOG: file that gets one JSON line per call: {"argv": [...]}.
- FAKE_FAIL: comma-separated substrings; a call whose arguments contain one exits 1.
- FAKE_NDCG: JSON {student version: ndcg_at_10} answered by `evaluate --student V --json`.
- FAKE_NEW_VERSION: version that `train_student --json` reports (its directory is created, and
  `current` moves to it unless `--no-promote`, as the real job does).
- FAKE_NEW_LABELS: count that `new_labels.py --json` reports.
- FAKE_CAPTIONS_OFF: when set, `caption_pins --json` reports {"status": "off"} like the job without a model.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def main() -> int:
    argv = sys.argv[1:]
    with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv}) + "\n")
    joined = " ".join(argv)
    for needle in filter(None, os.environ.get("FAKE_FAIL", "").split(",")):
        if needle in joined:
            print(f"fake spark-submit: failing on {needle!r}", file=sys.stderr)
            return 1
    if "--json" not in argv:
        return 0
    print("some driver chatter on stdout\n{not json")  # the DAG must pick the last JSON object
    script = next((a for a in argv if a.endswith(".py")), "")
    if script.endswith("train_student.py"):
        version = os.environ["FAKE_NEW_VERSION"]
        student = Path(_value(argv, "--warehouse") or ".") / "models" / "student" / version
        student.mkdir(parents=True, exist_ok=True)
        (student / "student.safetensors").write_bytes(b"")
        if "--no-promote" not in argv:
            (student.parent / "current").write_text(version + "\n")
        result = {"version": version, "rows": 10}
    elif script.endswith("evaluate.py"):
        version = _value(argv, "--student")
        ndcg = json.loads(os.environ.get("FAKE_NDCG", "{}")).get(version)
        # The shape of spark_jobs/evaluate.py's report: the student's metrics under student.test.
        result = {"teacher": {"version": "t1", "test": {"ndcg_at_10": 0.99}},
                  "baselines": {"bm25_threshold": {"test": {"ndcg_at_10": 0.7}}},
                  "student": {"student_version": version, "student": {"ndcg_at_10": ndcg},
                              "bm25": {"ndcg_at_10": 0.7}, "test": {"ndcg_at_10": ndcg}}}
    elif script.endswith("caption_pins.py"):
        result = {"status": "off", "captioned": 0} if os.environ.get("FAKE_CAPTIONS_OFF") else {"captioned": 3}
    elif script.endswith("new_labels.py"):
        result = {"new_labels": int(os.environ.get("FAKE_NEW_LABELS", "0")), "total_labels": 100, "since": None}
    else:
        result = {"ok": True}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
