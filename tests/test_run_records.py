"""Run records (searchrel.core.files.add_record): one file a run, so runs at once never drop each other's."""

from __future__ import annotations

import threading

import pytest

from searchrel.core.files import add_record, read_records


def test_records_added_at_once_are_all_kept_and_read_back_in_time_order(tmp_path):
    folder = str(tmp_path / "reports" / "label_runs")
    add_record(folder, {"run": "first"})
    # A read-modify-write of one shared list loses records here; files of their own cannot.
    threads = [threading.Thread(target=add_record, args=(folder, {"run": f"at once {i}"})) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    add_record(folder, {"run": "last"})
    (tmp_path / "reports" / "label_runs" / "00-being-written.json").write_text('{"run": ')  # half a file

    runs = [r["run"] for r in read_records(tmp_path / "reports" / "label_runs")]

    assert runs[0] == "first" and runs[-1] == "last"
    assert sorted(runs[1:-1]) == [f"at once {i}" for i in range(8)]
    assert read_records(tmp_path / "nothing here") == []


def test_a_record_under_a_uri_goes_through_the_jobs_hadoop_file_system(spark, tmp_path):
    # s3a:// in production (tests/test_cluster.py); file:// takes the same Hadoop path here.
    folder = tmp_path / "label_runs"
    written = add_record(f"file://{folder}", {"run": "through hadoop"}, spark=spark)
    assert written.startswith("file:") and written.endswith(".json")
    assert read_records(folder) == [{"run": "through hadoop"}]
    with pytest.raises(ValueError, match="needs the job's SparkSession"):
        add_record("s3a://bucket/reports/label_runs", {"run": "no session"})
