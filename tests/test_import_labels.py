"""import-labels: encodings, label maps, quarantine with reasons, counts that reconcile, idempotent reruns."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from pyspark.sql import Row

from modeling.label_import import LabelMap, detect_encoding, java_charset, map_labels, split_staged, stage_rows

# The job's pandas UDF runs in Python workers, which must be this interpreter (pyarrow, pandas).

HEADER = ("search_term", "product_title", "relevance", "product_uid")
ROWS = [
    ("crème brûlée torch", "Kitchen torch for crème brûlée", "3", "100"),
    ("angle bracket", "Simpson Strong-Tie 12-Gauge Angle", "2.33", "101"),
    ("l bracket", "Simpson Strong-Tie 12-Gauge Angle", "1.67", "101"),
    ("", "a title without a query", "2", "102"),  # missing query
    ("deck screws", "", "3", "103"),  # missing text
    ("deck screws", "Deck screws #8", "n/a", "104"),  # not a number
    ("deck screws", "Deck screws #10", "3.5", "105"),  # above the last bin
    ("angle bracket", "Simpson Strong-Tie 12-Gauge Angle", "3", "101"),  # duplicate pair: the first one wins
    ("ｆｕｌｌｗｉｄｔｈ  query", "Wide title", "1", "106"),  # NFKC'd and whitespace-collapsed
]
BINS = [1.5, 2.0, 2.5, 2.84, 3.0]


def _csv_text() -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *ROWS])
    return buf.getvalue()


@pytest.mark.parametrize(
    "encoding, expected",
    [("utf-8", "utf_8"), ("latin-1", "cp1252"), ("cp1252", "cp1252"), ("utf-16", "utf_16")],
)
def test_detect_encoding(encoding, expected):
    text = _csv_text()
    if not encoding.startswith("utf"):  # single-byte code pages cannot hold the fullwidth letters
        text = text.replace("ｆｕｌｌｗｉｄｔｈ", "full")
    assert detect_encoding(text.encode(encoding)) == expected


def test_detect_encoding_mostly_ascii_western_bytes_is_latin1():
    # Home Depot-like: ASCII with a rare byte that windows-1252 leaves undefined (0x90).
    sample = b"id,title\n" + b"1,Angle bracket 12-Gauge\n" * 200 + b"2,Heater 360\xe8\x90 Tank\n"
    assert detect_encoding(sample) == "latin_1"
    assert java_charset("latin_1") == "ISO-8859-1" and java_charset("cp1252") == "windows-1252"


def test_label_maps_parse_and_reject():
    assert LabelMap.parse("Exact=5, Partial=3,Irrelevant=1", BINS).mapping == {"Exact": 5, "Partial": 3, "Irrelevant": 1}
    assert LabelMap.parse(None, BINS).kind == "identity"
    with pytest.raises(ValueError, match="1..5"):
        LabelMap.parse("Exact=7", BINS)
    with pytest.raises(ValueError, match="score_bins"):
        LabelMap.parse("bins", [3.0, 2.0, 1.0, 4.0, 5.0])


@pytest.mark.spark
def test_map_labels_bins_explicit_and_reasons(spark):
    raw = spark.createDataFrame(
        [Row(row_number=i, **dict(zip(HEADER, r))) for i, r in enumerate(ROWS)]
    )
    staged = stage_rows(
        raw, query_col="search_term", text_col="product_title", label_col="relevance",
        label_map=LabelMap.parse("bins", BINS), labeled_ds="2016-01-01", source="hd", id_col="product_uid",
    ).cache()  # as the job does: the query normalisation UDF then runs once
    labels, pins, bad = split_staged(staged, "2016-01-01", "hd")
    got = {(r.query, r.pin_id): (r.label, r.raw_score) for r in labels.collect()}
    assert got == {
        ("crème brûlée torch", "hd:100"): (5, 3.0),
        ("angle bracket", "hd:101"): (3, 2.33),
        ("l bracket", "hd:101"): (2, 1.67),
        ("fullwidth query", "hd:106"): (1, 1.0),
    }
    reasons = sorted((r.row_number, r.reason) for r in bad.collect())
    assert reasons == [
        (3, "missing query"), (4, "missing text"), (5, "label is not a number"),
        (6, "score above the last bin edge 3.0"), (7, "duplicate (query, pin_id)"),
    ]
    assert sorted((r.pin_id, r.title) for r in pins.collect()) == [
        ("hd:100", "Kitchen torch for crème brûlée"), ("hd:101", "Simpson Strong-Tie 12-Gauge Angle"),
        ("hd:106", "Wide title"),
    ]
    staged.unpersist()
    explicit, _, _ = map_labels(
        raw, query_col="search_term", text_col="product_title", label_col="relevance",
        label_map=LabelMap.parse("3=5,1=1", BINS), labeled_ds="2016-01-01", source="hd",
    )
    got = sorted((r.query, r.label, r.pin_id) for r in explicit.collect())
    assert [(q, label) for q, label, _ in got] == [("crème brûlée torch", 5), ("fullwidth query", 1)]
    # Without an id column the pin id is "h" + 16 hex digits of the text's hash.
    assert all(p.startswith("h") and len(p) == 17 for _, _, p in got)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("encoding, suffix", [("utf-16", ".csv"), ("latin-1", ".csv.gz"), ("utf-16", ".jsonl")])
def test_import_job_writes_quarantines_and_reconciles(spark, tmp_path, capsys, encoding, suffix, test_config_file):
    from searchrel.cli import main

    rows = ROWS if encoding != "latin-1" else [(q.replace("ｆｕｌｌｗｉｄｔｈ", "full"), *rest) for q, *rest in ROWS]
    if suffix == ".jsonl":
        data = "".join(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) + "\n" for r in rows).encode(encoding)
    else:
        buf = io.StringIO()
        csv.writer(buf).writerows([HEADER, *rows])
        data = buf.getvalue().encode(encoding)
    path = tmp_path / f"labels{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    warehouse = tmp_path / "wh"
    argv = ["import-labels", str(path), "--query-col", "search_term", "--text-col", "product_title",
            "--label-col", "relevance", "--id-col", "product_uid", "--label-map", "bins", "--source", "hd",
            "--ds", "2016-01-01", "--warehouse", str(warehouse), "--config", str(test_config_file), "--json"]
    for attempt in range(2 if suffix == ".csv" else 1):  # the second run proves reruns change nothing
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["rows_in"], out["labels_written"], out["quarantined"]) == (9, 4, 5)
        from searchrel.core.tables import Tables

        tables = Tables(spark, str(warehouse))
        labels = tables.read("raw/human_labels")
        assert labels.count() == 4
        assert tables.read("quarantine/raw_human_labels").count() == 5
    first = labels.where("pin_id = 'hd:100'").collect()[0]
    assert first.query == "crème brûlée torch" and first.label == 5 and first.labeled_ds == "2016-01-01"
    assert tables.read("raw/pins").where("pin_id = 'hd:100'").collect()[0].title == "Kitchen torch for crème brûlée"
    assert out["quarantine_reasons"]["duplicate (query, pin_id)"] == 1


@pytest.mark.spark
def test_import_job_names_a_missing_column(spark, tmp_path, capsys, test_config_file):
    from searchrel.cli import main

    path = tmp_path / "l.csv"
    path.write_text("q,t,l\na,b,3\n")
    code = main(["import-labels", str(path), "--query-col", "query", "--text-col", "t", "--label-col", "l",
                 "--warehouse", str(tmp_path / "wh"), "--config", str(test_config_file)])
    assert code == 2
    assert "columns not in the file: query" in capsys.readouterr().err
