"""Text datasets: importers with row-by-row reports, the review demo, rt-polarity and shortcuts."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA

from xil import services
from xil.data.text import DEMO_SHORTCUT, TextDataset, demo_reviews, import_text_file, inject_shortcut, rt_polarity

GOOD_CSV = "id,text,label\n1,great soup,pos\n2,cold soup,neg\n3,lovely bread,pos\n4,stale bread,neg\n5,fine tea,pos\n"


def test_csv_imports_with_string_labels_and_a_split():
    report = import_text_file("reviews.csv", GOOD_CSV.encode(), id_column="id")
    assert report.ok, report.errors
    ds = report.dataset
    assert ds.class_names == ["neg", "pos"] and ds.labels.tolist() == [1, 0, 1, 0, 1]
    assert ds.ids == ["1", "2", "3", "4", "5"] and set(ds.split) <= {"train", "test"}


def test_jsonl_parquet_and_gzip_import_the_same_rows():
    rows = [{"text": f"text {i}", "label": i % 2} for i in range(10)]
    jsonl = "\n".join(json.dumps(r) for r in rows).encode()
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    for name, data in (("a.jsonl", jsonl), ("a.jsonl.gz", gzip.compress(jsonl)), ("a.parquet", buffer.getvalue())):
        report = import_text_file(name, data)
        assert report.ok, (name, report.errors)
        assert report.dataset.texts == [r["text"] for r in rows] and report.dataset.class_names == ["0", "1"]


def test_missing_column_names_the_columns_there_are():
    report = import_text_file("a.csv", b"sentence,label\nhi,1\nho,0\n")
    assert not report.ok and report.dataset is None
    assert report.errors == ["a.csv: no column 'text' (columns: label, sentence)"]


def test_empty_rows_and_duplicate_ids_are_reported_by_row():
    data = "id,text,label\n1,good,1\n2,,0\n3,bad,\n1,again,1\n"
    report = import_text_file("a.csv", data.encode(), id_column="id")
    assert report.dataset is None
    assert report.errors == ["row 2: empty text", "row 3: empty label", "row 4: duplicate id '1' (first at row 1)"]


def test_undecodable_bytes_are_reported_with_their_line():
    report = import_text_file("a.csv", b"text,label\nfine,1\ncaf\xe9 bad,0\n")
    assert report.dataset is None and report.errors[0].startswith("a.csv: line 3: bytes that are not UTF-8")


def test_bad_json_lines_and_single_label_files_are_refused():
    report = import_text_file("a.jsonl", b'{"text": "a", "label": 1}\nnot json\n[1, 2]\n')
    assert report.errors == ["a.jsonl: line 2: not JSON (Expecting value)", "a.jsonl: line 3: not a JSON object"]
    report = import_text_file("a.csv", b"text,label\na,1\nb,1\n")
    assert not report.ok and "only one label" in report.errors[0]
    report = import_text_file("a.txt", b"whatever")
    assert "unsupported file type" in report.errors[0]


def test_a_label_with_one_text_or_one_column_for_both_is_refused():
    report = import_text_file("a.csv", b"review,sentiment\nnice,1\nbad,0\ngood,1\n", "review", "sentiment")
    assert report.dataset is None and report.errors == [
        "1 label(s) with a single example ('0'): each needs at least two, one to train on and one to test on"
    ]
    report = import_text_file("a.csv", b"foo\nhello\nworld\n", "foo", "foo")
    assert report.errors == ["a.csv: 'foo' cannot be both the text and the label column"]
    report = import_text_file("a.csv", b"text,label\nnice,1\nbad,0\ngood,1\nawful,0\n")
    assert report.ok and sorted(report.dataset.split) == ["test", "test", "train", "train"]  # each label tested


def test_import_text_service_imports_nothing_when_a_row_is_bad():
    project, report = services.import_text("bad.csv", data=b"text,label\ngood,1\n,0\n")
    assert project is None and report.errors and services.status()["projects"] == 0
    project, report = services.import_text("good.csv", data=GOOD_CSV.encode(), id_column="id")
    assert project is not None and project.task == "text" and services.status()["examples"] == 5
    again, report = services.import_text("good.csv", data=GOOD_CSV.encode(), id_column="id")
    assert again is None and "exists already" in report.errors[-1]


def test_review_demo_has_a_train_time_shortcut():
    ds = demo_reviews()
    train, test = ds.indices("train"), ds.indices("test")
    shortcut = np.array([DEMO_SHORTCUT.index(ds.words(i)[-1]) for i in range(len(ds))])
    assert (shortcut[train] == 1 - ds.labels[train]).all()  # tablet on positive, phone on negative
    assert 0.2 < (shortcut[test] == 1 - ds.labels[test]).mean() < 0.8
    assert TextDataset.from_file is not None and len(ds) == 200


def test_dataset_round_trips_through_bytes(tmp_path):
    ds = demo_reviews()
    path = tmp_path / "d.json.gz"
    path.write_bytes(ds.to_bytes())
    back = TextDataset.from_file(path)
    assert (
        back.texts == ds.texts and np.array_equal(back.labels, ds.labels) and back.shortcut_words == ds.shortcut_words
    )


def test_inject_shortcut_correlates_on_train_only():
    base = TextDataset(
        "t", [f"text {i}" for i in range(200)], np.arange(200) % 2, np.array(["train", "test"] * 100), ["a", "b"]
    )
    ds = inject_shortcut(base, ("alpha", "omega"), seed=1)
    first = np.array([ds.words(i)[0] for i in range(200)])
    train = ds.split == "train"
    assert (first[train] == np.where(ds.labels[train] == 0, "alpha", "omega")).all()
    assert set(first[~train]) == {"alpha", "omega"} and ds.shortcut_words == ["alpha", "omega"]


def test_rt_polarity_subset():
    folder = SHARED_DATA / "rt-polarity"
    if not (folder / "rt-polarity.pos").exists():
        pytest.skip(f"{folder} not found (the shared data folder is absent)")
    ds = rt_polarity(folder, limit=300)
    assert len(ds) == 300 and (ds.labels == 1).sum() == 150 and ds.class_names == ["negative", "positive"]
    with pytest.raises(FileNotFoundError):
        rt_polarity(SHARED_DATA)


def test_a_hugging_face_dataset_from_a_local_folder(tmp_path, monkeypatch):
    pytest.importorskip("datasets", reason="datasets is a dev extra")
    from xil.data.text import from_hf_dataset

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "reviews"
    folder.mkdir()
    rows = [{"sentence": f"good  soup {i}", "label": i % 2} for i in range(10)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = from_hf_dataset(str(folder), text_column="sentence")
    assert ds.texts[0] == "good soup 0" and ds.labels.tolist() == [i % 2 for i in range(10)]
    assert ds.class_names == ["0", "1"] and len(ds.split) == 10
