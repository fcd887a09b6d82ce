"""Run records (searchrel.core.files.add_record): one file a run, so runs at once never drop each other's."""

from __future__ import annotations

import threading

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
