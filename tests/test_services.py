"""Services, the job queue, the database and the CLI, on a private SQLite database per test."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PROJECT_ROOT, both_backends, database_url, postgres_database, require_mnist
from PIL import Image
from sqlalchemy import select, text, update
from typer.testing import CliRunner

import db
from db import Example, Explanation, Feedback, Job, session_scope
from db.models import utcnow
from xil import config, jobs, services, storage
from xil.cli import app
from xil.data.text import demo_reviews
from xil.explain import explain
from xil.export import mask_from_png, read_rows
from xil.jobs import queue, worker
from xil.ranking.prompts import demo_prompts
from xil.services import adapters, catalog, explanations, feedback_store
from xil.services import queue as annotation_queue
from xil.train import TrainConfig

SHAPE = (28, 28)


def corner_mask(top: int = 0, left: int = 0, size: int = 4) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def train_example_ids(project_id: int, n: int | None = None) -> list[int]:
    rows = [e.id for e in services.examples(project_id, "train")]
    return rows[:n] if n else rows


def feedback_count() -> int:
    return services.status()["feedback"]


def job_count() -> int:
    return sum(services.status()["jobs"].values())


def write_png(path: Path, size=(8, 8), value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size[1], size[0]), value).save(path)


# --- database ----------------------------------------------------------------------------------


def test_engine_is_sqlite_in_wal_mode_under_xil_home(xil_home):
    engine = db.engine()
    assert engine is db.engine()  # one engine per URL
    assert engine.url.database == str(xil_home / "xil.sqlite")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def assert_migrated_to_head(engine) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from db.engine import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    assert {"project", "example", "modelversion", "explanation", "feedback", "job"} <= set(
        inspect(engine).get_table_names()
    )


def test_first_engine_applies_the_migrations():
    assert_migrated_to_head(db.engine())


def test_first_engine_applies_the_migrations_on_an_empty_postgresql_database(monkeypatch):
    with postgres_database() as name:
        monkeypatch.setenv("DATABASE_URL", database_url(name))
        db.reset_engines()
        engine = db.engine()
        assert engine.dialect.name == "postgresql" and engine.url.database == name
        assert_migrated_to_head(engine)


def test_a_postgresql_url_without_a_driver_uses_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://ada:secret@db.example:5432/xil")
    assert config.database_url() == "postgresql+psycopg://ada:secret@db.example:5432/xil"
    monkeypatch.setenv("DATABASE_URL", "postgres://ada@db/xil")
    assert config.database_url() == "postgresql+psycopg://ada@db/xil"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://ada@db/xil")  # a driver named: kept
    assert config.database_url() == "postgresql+psycopg2://ada@db/xil"


def test_reset_engines_forgets_the_engine(xil_home, tmp_path, monkeypatch):
    first = db.engine()
    monkeypatch.setenv("XIL_HOME", str(tmp_path / "other"))
    db.reset_engines()
    second = db.engine()
    assert second is not first
    assert second.url.database == str(tmp_path / "other" / "xil.sqlite")


def test_foreign_keys_are_enforced():
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with session_scope(write=True) as session:
            session.add(Example(project_id=999, idx=0, split="train", label=0, name="x"))
    assert services.status()["examples"] == 0


@both_backends
def test_session_scope_rolls_back_on_error(demo):
    with pytest.raises(RuntimeError):
        with session_scope(write=True) as session:
            session.add(Job(project_id=demo.project_id, spec={}))
            session.flush()
            raise RuntimeError("boom")
    assert job_count() == 0


# --- projects ----------------------------------------------------------------------------------


def test_seed_demo_queues_the_first_text_model_once(demo):
    services.seed_demo()
    services.seed_demo()
    [text_project] = [p for p in services.list_projects() if p.task == "text"]
    [job] = services.list_jobs(text_project.id)
    assert job.status == "queued" and job.spec["config"]["method"] == "none"


def test_status_of_an_empty_database():
    assert services.status() == {"projects": 0, "examples": 0, "model_versions": 0, "feedback": 0, "jobs": {}}


def test_seed_demo_is_idempotent(demo):
    before = services.status()
    assert before["projects"] == 1 and before["examples"] == 1797 and before["model_versions"] == 1
    project = services.seed_demo(text=False)
    assert project.id == demo.project_id
    assert services.seed_demo(text=False).id == demo.project_id
    assert services.status() == before
    assert services.latest_model_version(demo.project_id).id == demo.version_id


def test_seed_demo_without_training_then_idempotent():
    project = services.seed_demo(train=False)
    assert services.seed_demo(train=False).id == project.id
    assert services.status()["projects"] == 3  # Decoy-Digits, the review demo (text), the ranking demo
    assert services.status()["examples"] == 1797 + len(demo_reviews()) + len(demo_prompts())
    assert services.latest_model_version(project.id) is None


def test_demo_project_and_first_model(demo):
    project = services.get_project(demo.project_id)
    assert project.name == "Decoy-Digits demo" and project.source == "decoy-digits"
    assert project.class_names == [str(d) for d in range(10)]
    ds = services.dataset(demo.project_id)
    assert storage.absolute(project.data_path).exists()
    assert hashlib.sha256(storage.absolute(project.data_path).read_bytes()).hexdigest() == project.data_sha
    examples = services.examples(demo.project_id)
    assert [e.idx for e in examples] == list(range(len(ds)))
    assert [e.label for e in examples] == ds.labels.tolist()
    version = services.latest_model_version(demo.project_id)
    assert version.version == 1 and version.method == "none" and version.parent_id is None
    assert 0.5 < version.metrics["test_acc"] <= 1
    assert 0 <= version.metrics["wrong_reason"] <= 1
    model = services.load_model(demo.version_id)
    assert model(torch.from_numpy(ds.images[:2])).shape == (2, 10)


def test_create_project_refuses_duplicate_and_empty_names(demo):
    ds = services.dataset(demo.project_id)
    with pytest.raises(ValueError, match="exists already"):
        services.create_project("Decoy-Digits demo", ds, "decoy-digits")
    with pytest.raises(ValueError, match="needs a name"):
        services.create_project("  ", ds, "decoy-digits")
    assert services.status()["projects"] == 1


def test_import_image_folder_service(tmp_path):
    root = tmp_path / "shapes"
    for cls, value in (("circle", 30), ("square", 220)):
        for i in range(5):
            write_png(root / cls / f"{i}.png", value=value)
    project, report = services.import_image_folder(root)
    assert report.ok and project is not None
    assert project.name == "shapes" and project.class_names == ["circle", "square"]
    assert services.status()["examples"] == 10
    again, report = services.import_image_folder(root)
    assert again is None and any("exists already" in e for e in report.errors)
    assert services.status()["projects"] == 1


def test_import_mnist_service_on_the_shared_data():
    folder = require_mnist()
    project = services.import_mnist(folder, name="mnist-small", limit=200)
    assert project.source == "decoy-mnist"
    assert services.status()["examples"] == 200
    assert services.dataset(project.id).decoy_masks is not None


def test_decoy_cifar10_project_from_the_shared_folder_in_one_call():
    folder = services.cifar10_folder()
    if folder is None:
        pytest.skip("shared CIFAR-10 folder not present")
    project = services.import_cifar10(folder)
    ds = services.dataset(project.id)
    assert project.source == "decoy-cifar10" and ds.images.shape == (7000, 3, 32, 32)
    assert len(ds.indices("train")) == 5000 and ds.decoy_masks is not None
    with pytest.raises(ValueError, match="exists already"):
        services.import_cifar10(folder)
    with pytest.raises(ValueError, match="outside the data folders"):
        services.import_cifar10("/etc", name="elsewhere")


# --- annotation queue and explanations ---------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(annotation_queue.STRATEGIES))
def test_next_examples_returns_unjudged_training_examples(demo, strategy):
    ids = services.next_examples(demo.project_id, demo.version_id, strategy, annotator="ann", n=5)
    assert len(ids) == 5 and len(set(ids)) == 5
    train_ids = set(train_example_ids(demo.project_id))
    assert set(ids) <= train_ids
    # judged examples (by anyone) leave the queue
    services.save_feedback(ids[0], "someone", demo.version_id, verdict="right_reason")
    services.save_feedback(ids[1], "other", demo.version_id, irrelevant=corner_mask())
    after = services.next_examples(demo.project_id, demo.version_id, strategy, annotator="ann", n=5)
    assert ids[0] not in after and ids[1] not in after
    assert set(after) <= train_ids
    assert after[:3] == ids[2:]  # the rest keep their order (what was prefetched stays next)
    excluded = services.next_examples(
        demo.project_id, demo.version_id, strategy, annotator="ann", n=5, exclude=(after[0],)
    )
    assert after[0] not in excluded and excluded[0] == after[1]


def test_next_examples_least_confident_first(demo):
    ids = services.next_examples(demo.project_id, demo.version_id, "least_confident", n=10)
    ds = services.dataset(demo.project_id)
    idx_of = {e.id: e.idx for e in services.examples(demo.project_id, "train")}
    with torch.no_grad():
        probs = torch.softmax(services.load_model(demo.version_id)(torch.from_numpy(ds.images[:])), 1).numpy()
    uncertainty = 1 - probs.max(1)
    chosen = uncertainty[[idx_of[i] for i in ids]]
    assert (np.diff(chosen) <= 1e-6).all()
    rest = np.delete(uncertainty[list(idx_of.values())], [list(idx_of).index(i) for i in ids])
    assert chosen.min() >= rest.max() - 1e-6


def test_next_examples_suspicious_first_mixing_the_predicted_classes(demo):
    """Most suspicious first within each predicted class, the classes taken in turn: by score alone
    the queue served one class for dozens of examples in a row."""
    ids = services.next_examples(demo.project_id, demo.version_id, "suspicious", n=40)
    scores = annotation_queue.strategy_scores(demo.project_id, demo.version_id, "suspicious")
    predicted = annotation_queue.predicted_classes(demo.project_id, demo.version_id)
    idx_of = {e.id: e.idx for e in services.examples(demo.project_id, "train")}
    rows = [idx_of[i] for i in ids]
    n_classes = len(set(predicted[list(idx_of.values())].tolist()))
    assert n_classes >= 5
    for start in range(0, 40 - n_classes, n_classes):  # every round brings each class once
        assert len(set(predicted[rows[start : start + n_classes]].tolist())) == n_classes
    unjudged = list(idx_of.values())
    for cls in set(predicted[rows].tolist()):  # and within a class, the most suspicious first
        mine = [r for r in rows if predicted[r] == cls]
        assert (np.diff(scores[mine]) <= 0).all()
        rest = [r for r in unjudged if predicted[r] == cls and r not in mine]
        assert not rest or scores[mine].min() >= scores[rest].max()


def test_next_examples_random_depends_on_the_annotator(demo):
    a = services.next_examples(demo.project_id, demo.version_id, "random", annotator="ann", n=10)
    assert a == services.next_examples(demo.project_id, demo.version_id, "random", annotator="ann", n=10)
    assert a != services.next_examples(demo.project_id, demo.version_id, "random", annotator="bob", n=10)


def test_next_examples_rejects_an_unknown_strategy(demo):
    with pytest.raises(ValueError, match="unknown queue strategy 'newest'"):
        services.next_examples(demo.project_id, demo.version_id, "newest")


def test_explain_example_caches_and_stores_the_explanation(demo):
    example_id = train_example_ids(demo.project_id, 1)[0]
    first = services.explain_example(demo.version_id, example_id, "saliency")
    assert first.attribution.shape == SHAPE and first.image.shape == (1, 28, 28)
    assert first.probs.shape == (10,) and first.probs.sum() == pytest.approx(1, abs=1e-5)
    assert first.method == "saliency" and first.model_version_id == demo.version_id
    assert first.class_names == [str(d) for d in range(10)]
    # what was computed is the model's explanation of this example
    ds = services.dataset(demo.project_id)
    example = catalog.get_example(example_id)
    expected, _ = explain(
        services.load_model(demo.version_id), torch.from_numpy(ds.images[example.idx : example.idx + 1]), "saliency"
    )
    np.testing.assert_allclose(first.attribution, expected[0].numpy(), rtol=1e-5, atol=1e-7)
    assert first.label == example.label and first.predicted == int(first.probs.argmax())

    second = services.explain_example(demo.version_id, example_id, "saliency")
    assert second.attribution is first.attribution  # served from the in-memory cache
    with session_scope() as session:
        rows = session.scalars(select(Explanation).where(Explanation.example_id == example_id)).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.model_version_id == demo.version_id and row.method == "saliency"
    assert np.array_equal(storage.get_array(row.path), first.attribution)
    assert row.probs == pytest.approx(first.probs.tolist())

    explanations.CACHE.clear()  # a fresh process reads the stored row instead of recomputing
    third = services.explain_example(demo.version_id, example_id, "saliency")
    assert third.attribution is not first.attribution
    np.testing.assert_array_equal(third.attribution, first.attribution)
    with session_scope() as session:
        assert len(session.scalars(select(Explanation)).all()) == 1


def test_explain_example_with_another_method_is_a_separate_entry(demo):
    example_id = train_example_ids(demo.project_id, 1)[0]
    sal = services.explain_example(demo.version_id, example_id, "saliency")
    ixg = services.explain_example(demo.version_id, example_id, "input_x_gradient")
    assert not np.array_equal(sal.attribution, ixg.attribution)
    with pytest.raises(ValueError, match="convolutional"):
        services.explain_example(demo.version_id, example_id, "grad_cam")
    with session_scope() as session:
        assert sorted(r.method for r in session.scalars(select(Explanation))) == ["input_x_gradient", "saliency"]


def test_prefetch_fills_the_cache(demo):
    ids = train_example_ids(demo.project_id, 3)
    services.prefetch(demo.version_id, ids, "saliency")
    explanations.CACHE.wait(30)  # one worker thread: waits for the prefetch
    with session_scope() as session:
        stored = {r.example_id for r in session.scalars(select(Explanation))}
    assert stored == set(ids)


# --- feedback ----------------------------------------------------------------------------------


@both_backends
def test_save_feedback_masks_roundtrip_through_database_and_storage(demo):
    example_id = train_example_ids(demo.project_id, 1)[0]
    irrelevant = corner_mask(24, 0)
    relevant = np.zeros(SHAPE, dtype=bool)
    relevant[8:20, 10:18] = True
    saved = services.save_feedback(
        example_id,
        "  alice ",
        demo.version_id,
        verdict="wrong_reason",
        label=3,
        irrelevant=irrelevant,
        relevant=relevant.astype(np.uint8) * 255,  # a canvas's 0/255 image is a mask too
        explanation_method="saliency",
    )
    with session_scope() as session:
        row = session.get(Feedback, saved.id)
    assert row.annotator == "alice" and row.verdict == "wrong_reason" and row.label == 3
    assert row.model_version_id == demo.version_id and row.explanation_method == "saliency"
    assert row.project_id == demo.project_id and row.supersedes_id is None
    for path, sha, expected in (
        (row.irrelevant_path, row.irrelevant_sha, irrelevant),
        (row.relevant_path, row.relevant_sha, relevant),
    ):
        assert hashlib.sha256(storage.absolute(path).read_bytes()).hexdigest() == sha
        back = storage.get_array(path)
        assert back.dtype == bool and np.array_equal(back, expected)
    # and as training sees it
    idx, irr, rel = feedback_store.feedback_masks(demo.project_id)
    assert idx.tolist() == [catalog.get_example(example_id).idx]
    assert np.array_equal(irr[0], irrelevant) and np.array_equal(rel[0], relevant)
    assert services.annotation_progress(demo.project_id) == (1, len(train_example_ids(demo.project_id)))


def test_save_feedback_without_masks_stores_no_files(demo, xil_home):
    example_id = train_example_ids(demo.project_id, 1)[0]
    row = services.save_feedback(
        example_id, "alice", demo.version_id, verdict="right_reason", irrelevant=np.zeros(SHAPE)
    )
    assert row.irrelevant_path is None and row.relevant_path is None
    assert not (xil_home / "masks").exists()


@both_backends
def test_second_save_by_the_same_annotator_supersedes(demo, tmp_path):
    example_id = train_example_ids(demo.project_id, 1)[0]
    first = services.save_feedback(example_id, "alice", demo.version_id, irrelevant=corner_mask(0, 0))
    second = services.save_feedback(example_id, "alice", demo.version_id, irrelevant=corner_mask(0, 24))
    assert second.id != first.id and second.supersedes_id == first.id
    history = services.feedback_history(example_id)
    assert [h.id for h in history] == [first.id, second.id]
    third = services.save_feedback(example_id, "alice", demo.version_id, verdict="right_reason")
    assert third.supersedes_id == second.id  # supersedes the current row, not the first
    current = feedback_store.current_feedback(demo.project_id)
    assert [r.id for r in current] == [third.id]
    rows = read_rows(services.export_feedback(demo.project_id, tmp_path / "fb.jsonl"))
    assert {r["feedback_id"]: r["current"] for r in rows} == {first.id: False, second.id: False, third.id: True}
    assert {r["feedback_id"]: r["supersedes_id"] for r in rows} == {
        first.id: None,
        second.id: first.id,
        third.id: second.id,
    }


@both_backends
def test_a_second_annotator_does_not_supersede_the_first(demo, tmp_path):
    example_id = train_example_ids(demo.project_id, 1)[0]
    services.set_overlap(demo.project_id, 2)  # two annotators may judge each example
    alice = services.save_feedback(example_id, "alice", demo.version_id, irrelevant=corner_mask(0, 0))
    bob = services.save_feedback(example_id, "bob", demo.version_id, irrelevant=corner_mask(24, 24))
    assert bob.supersedes_id is None
    assert [h.id for h in services.feedback_history(example_id)] == [alice.id, bob.id]
    rows = read_rows(services.export_feedback(demo.project_id, tmp_path / "fb.jsonl"))
    assert all(r["current"] for r in rows) and len(rows) == 2
    alice2 = services.save_feedback(example_id, "alice", demo.version_id, verdict="right_reason")
    assert alice2.supersedes_id == alice.id


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"annotator": "  "}, "annotator"),
        ({"verdict": "looks_fine"}, "verdict must be one of"),
        ({"label": 10}, "label 10 is not a class"),
        ({"label": -1}, "label -1 is not a class"),
        ({"irrelevant": np.ones((28, 27), bool)}, r"irrelevant mask has shape \(28, 27\)"),
        ({"relevant": np.ones((1, 28, 28), bool)}, r"relevant mask has shape \(1, 28, 28\)"),
        ({"irrelevant": np.ones(SHAPE, bool), "relevant": np.ones((14, 14), bool)}, "relevant mask has shape"),
        ({"irrelevant": np.zeros((8, 8), bool)}, r"irrelevant mask has shape \(8, 8\)"),
        ({"model_version_id": 999}, "no model version 999"),
    ],
    ids=[
        "annotator",
        "verdict",
        "label-high",
        "label-negative",
        "irrelevant-shape",
        "relevant-shape",
        "one-good-one-bad",
        "empty-wrong-shape",
        "model-version",
    ],
)
def test_save_feedback_validation_errors_store_nothing(demo, xil_home, kwargs, message):
    example_id = train_example_ids(demo.project_id, 1)[0]
    args = {"annotator": "alice", "model_version_id": demo.version_id, **kwargs}
    with pytest.raises(ValueError, match=message):
        services.save_feedback(example_id, **args)
    assert feedback_count() == 0
    assert not (xil_home / "masks").exists(), "no mask file may be written for refused feedback"


def test_save_feedback_on_a_missing_example():
    with pytest.raises(ValueError, match="no example 12345"):
        services.save_feedback(12345, "alice", None, verdict="right_reason")


# --- export ------------------------------------------------------------------------------------


@pytest.fixture
def saved_feedback(demo):
    """Three pieces of feedback: masks, a label correction, a superseded row."""
    ids = train_example_ids(demo.project_id, 2)
    relevant = np.zeros(SHAPE, dtype=bool)
    relevant[5:20, 6:22] = True
    rows = [
        services.save_feedback(ids[0], "alice", demo.version_id, "wrong_reason", irrelevant=corner_mask(0, 24)),
        services.save_feedback(ids[1], "bob", None, "right_reason", label=7, relevant=relevant),
        services.save_feedback(ids[0], "alice", demo.version_id, "wrong_reason", irrelevant=corner_mask(24, 24)),
    ]
    masks = {
        rows[0].id: (corner_mask(0, 24), np.zeros(SHAPE, bool)),
        rows[1].id: (np.zeros(SHAPE, bool), relevant),
        rows[2].id: (corner_mask(24, 24), np.zeros(SHAPE, bool)),
    }
    return demo, rows, masks


@both_backends
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_with_array_masks_roundtrips(saved_feedback, tmp_path, fmt):
    demo, saved, masks = saved_feedback
    out = services.export_feedback(demo.project_id, tmp_path / "out" / f"feedback.{fmt}", fmt=fmt)
    assert out.exists()
    rows = read_rows(out)
    assert [r["feedback_id"] for r in rows] == [s.id for s in saved]
    for row in rows:
        irrelevant, relevant = masks[row["feedback_id"]]
        assert np.array_equal(np.array(row["irrelevant_mask"], dtype=bool), irrelevant)
        assert np.array_equal(np.array(row["relevant_mask"], dtype=bool), relevant)
        assert row["project"] == "Decoy-Digits demo" and row["split"] == "train"
    first, second, third = rows
    assert first["model_version_id"] == demo.version_id and first["model_version"] == 1
    assert second["model_version_id"] is None and second["model_version"] is None
    assert second["label"] == 7 and second["label_corrected"] is True
    assert second["dataset_label"] == catalog.get_example(saved[1].example_id).label
    assert first["label"] == first["dataset_label"] and first["label_corrected"] is False
    assert [r["current"] for r in rows] == [False, True, True]
    assert third["supersedes_id"] == first["feedback_id"]
    assert [r["annotator"] for r in rows] == ["alice", "bob", "alice"]
    assert [r["verdict"] for r in rows] == ["wrong_reason", "right_reason", "wrong_reason"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_with_png_masks_gives_a_zip(saved_feedback, tmp_path, fmt):
    demo, saved, masks = saved_feedback
    out = services.export_feedback(demo.project_id, tmp_path / "feedback.zip", fmt=fmt, masks="png")
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert f"feedback.{fmt}" in names
        assert {n for n in names if n.startswith("masks/")} == {
            f"masks/{s.id}_{kind}.png" for s in saved for kind in ("irrelevant", "relevant")
        }
        table = tmp_path / f"table.{fmt}"
        table.write_bytes(archive.read(f"feedback.{fmt}"))
        rows = read_rows(table)
        assert len(rows) == 3
        for row in rows:
            for kind, expected in zip(("irrelevant", "relevant"), masks[row["feedback_id"]], strict=True):
                name = row[f"{kind}_mask"]
                assert name == f"masks/{row['feedback_id']}_{kind}.png"
                png = archive.read(name)
                with Image.open(io.BytesIO(png)) as im:
                    assert im.size == SHAPE and im.mode == "L"
                assert np.array_equal(mask_from_png(png), expected)


def test_export_of_a_project_without_feedback_is_empty(demo, tmp_path):
    assert read_rows(services.export_feedback(demo.project_id, tmp_path / "none.jsonl")) == []


@pytest.mark.parametrize("masks", ["array", "png"])
def test_export_rejects_unknown_formats_and_writes_nothing(saved_feedback, tmp_path, masks):
    demo, _, _ = saved_feedback
    out = tmp_path / "feedback.csv"
    with pytest.raises(ValueError, match="unknown export format 'csv'"):
        services.export_feedback(demo.project_id, out, fmt="csv", masks=masks)
    assert not out.exists()


def test_export_rejects_unknown_mask_modes(demo, tmp_path):
    with pytest.raises(ValueError, match="masks must be one of"):
        services.export_feedback(demo.project_id, tmp_path / "x.jsonl", masks="rle")


# --- training jobs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"method": "lasso"}, "unknown method 'lasso'"),
        ({"arch": "resnet"}, "unknown architecture 'resnet'"),
        ({"method": "rrr_g", "arch": "mlp"}, "needs the CNN architecture"),
        ({"epochs": 0}, "at least 1"),
        ({"batch_size": 0}, "at least 1"),
        ({"lr": 0.0}, "learning rate positive"),
    ],
)
def test_queue_training_validation_errors_queue_nothing(demo, settings, message):
    with pytest.raises(ValueError, match=message):
        services.queue_training(demo.project_id, TrainConfig(**settings))
    assert job_count() == 0


def test_queue_training_on_a_missing_project():
    with pytest.raises(ValueError, match="no project 42"):
        services.queue_training(42, TrainConfig())
    assert job_count() == 0


def test_queue_training_records_config_and_parent(demo):
    job = services.queue_training(demo.project_id, TrainConfig(method="hint", epochs=3))
    assert job.status == "queued" and job.kind == "train" and job.attempts == 0
    config = TrainConfig(method="hint", epochs=3).to_dict()
    assert job.spec == {"config": config, "kind": "training", "parent_id": demo.version_id}
    assert services.status()["jobs"] == {"queued": 1}
    assert [j.id for j in services.list_jobs(demo.project_id)] == [job.id]


def test_training_data_applies_feedback(demo):
    ids = train_example_ids(demo.project_id, 3)
    services.save_feedback(ids[0], "alice", demo.version_id, irrelevant=corner_mask(0, 0))
    services.save_feedback(ids[1], "alice", demo.version_id, label=9, relevant=corner_mask(10, 10, 8))
    services.save_feedback(ids[2], "alice", demo.version_id, verdict="right_reason")
    data, used = adapters.for_task("image").training_data(demo.project_id)
    ds = services.dataset(demo.project_id)
    train_idx = ds.indices("train")
    assert used == 3 and data.x.shape == (len(train_idx), 1, 28, 28)
    position = {int(r): i for i, r in enumerate(train_idx)}
    p0, p1, p2 = (position[catalog.get_example(i).idx] for i in ids)
    assert torch.equal(data.irrelevant[p0].bool(), torch.from_numpy(corner_mask(0, 0)))
    assert torch.equal(data.relevant[p1].bool(), torch.from_numpy(corner_mask(10, 10, 8)))
    assert int(data.y[p1]) == 9 and int(data.y[p0]) == int(ds.labels[train_idx[p0]])
    assert data.irrelevant.dense().sum() == 16 and data.relevant.dense().sum() == 64
    assert data.irrelevant[p2].sum() == 0


def worker_env(xil_home: Path) -> dict:
    env = dict(os.environ)  # DATABASE_URL only where the test set it (PostgreSQL)
    env.update(XIL_HOME=str(xil_home), OMP_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    return env


@both_backends
def test_queued_job_runs_in_the_cli_worker(demo, xil_home):
    ids = train_example_ids(demo.project_id, 4)
    for example_id in ids[:3]:
        services.save_feedback(example_id, "alice", demo.version_id, irrelevant=corner_mask(0, 0))
    services.save_feedback(ids[0], "alice", demo.version_id, irrelevant=corner_mask(0, 24))  # supersedes: still 3
    job = services.queue_training(demo.project_id, TrainConfig(method="rrr", epochs=2))
    result = subprocess.run(
        [sys.executable, "-m", "xil.cli", "worker", "--once"],
        env=worker_env(xil_home),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "ran 1 job(s)" in result.stdout

    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    assert job.progress == 1.0 and job.error is None and job.attempts == 1
    assert job.finished_at is not None and job.started_at is not None
    assert [r["epoch"] for r in job.history] == [1, 2]
    assert all(r["epochs"] == 2 for r in job.history)
    assert "epoch 2/2" in job.log_tail and "3 with feedback" in job.log_tail
    assert job.metrics["lambda"] is not None and job.metrics["lambda"] > 0
    assert 0 <= job.metrics["test_acc"] <= 1

    versions = services.list_model_versions(demo.project_id)
    assert [v.version for v in versions] == [1, 2]
    new = versions[-1]
    assert job.model_version_id == new.id
    assert new.parent_id == demo.version_id and new.n_feedback == 3
    assert new.method == "rrr" and new.config["epochs"] == 2
    assert new.metrics["test_acc"] == job.metrics["test_acc"]
    assert "wrong_reason_feedback" in new.metrics
    assert services.load_model(new.id)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert services.status()["jobs"] == {"succeeded": 1}


def test_training_job_keeps_every_class_when_labels_are_corrected_away(tmp_path):
    """Correcting every training label of the last class must not shrink the model's output."""
    root = tmp_path / "pair"
    for cls, value in (("a", 30), ("b", 220)):
        for i in range(5):
            write_png(root / cls / f"{i}.png", value=value)
    project, _ = services.import_image_folder(root)
    b_train = [e.id for e in services.examples(project.id, "train") if e.label == 1]
    for example_id in b_train:
        services.save_feedback(example_id, "alice", None, label=0)
    job = services.queue_training(project.id, TrainConfig(method="none", epochs=1))
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    model = services.load_model(job.model_version_id)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2)


def test_cancel_a_queued_job(demo):
    job = services.queue_training(demo.project_id, TrainConfig(method="none", epochs=1))
    cancelled = services.cancel_job(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert services.get_job(job.id).status == "cancelled"
    assert services.run_worker(once=True) == 0  # nothing left to run
    assert services.get_job(job.id).status == "cancelled"
    with pytest.raises(ValueError, match="no job 999"):
        services.cancel_job(999)


@both_backends
def test_cancel_a_running_job_stops_it_at_the_next_report(demo):
    job = jobs.enqueue(demo.project_id, "train", {})
    claimed = jobs.claim("w1")
    ctx = jobs.JobContext(claimed.id, "w1")
    assert ctx.report(0.5, {"epoch": 1}, "half way") is True
    assert services.cancel_job(job.id).cancel_requested is True
    assert services.get_job(job.id).status == "running"
    assert ctx.report(0.6) is False
    row = services.get_job(job.id)
    assert row.history == [{"epoch": 1}] and "half way" in row.log_tail and row.progress == 0.6


def test_cancelling_a_training_job_through_the_worker(demo, monkeypatch):
    job = services.queue_training(demo.project_id, TrainConfig(method="none", epochs=5))
    original = queue.JobContext.report

    def report_then_cancel(self, progress, record=None, log=None):
        if record is not None and record["epoch"] == 2:
            services.cancel_job(self.job_id)
        return original(self, progress, record, log)

    monkeypatch.setattr(queue.JobContext, "report", report_then_cancel)
    assert services.run_worker(once=True) == 1
    row = services.get_job(job.id)
    assert row.status == "cancelled" and "after epoch 2" in row.error
    assert [r["epoch"] for r in row.history] == [1, 2]
    assert len(services.list_model_versions(demo.project_id)) == 1


def test_worker_records_failures_and_unknown_kinds(demo):
    failing = jobs.enqueue(demo.project_id, "train", {"config": {"bogus": 1}})
    unknown = jobs.enqueue(demo.project_id, "distill", {})
    assert services.run_worker(once=True) == 2
    row = services.get_job(failing.id)
    assert row.status == "failed" and "unknown training settings: ['bogus']" in row.error
    assert row.finished_at is not None and "ValueError" in row.log_tail
    row = services.get_job(unknown.id)
    assert row.status == "failed" and "no handler for job kind 'distill'" in row.error


def test_worker_handler_can_cancel(demo):
    job = jobs.enqueue(demo.project_id, "custom", {})

    def handler(job, ctx):
        raise worker.JobCancelled("stopped by the handler")

    assert jobs.run_worker({"custom": handler}, once=True) == 1
    row = services.get_job(job.id)
    assert row.status == "cancelled" and row.error == "stopped by the handler"


def make_stale(job_id: int, seconds: float = 600) -> None:
    with session_scope(write=True) as session:
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


@both_backends
def test_recover_stale_requeues_then_fails_after_max_attempts(demo):
    job = jobs.enqueue(demo.project_id, "train", {})
    for attempt in range(1, queue.MAX_ATTEMPTS):
        claimed = jobs.claim(f"worker-{attempt}")
        assert claimed.id == job.id and claimed.attempts == attempt
        jobs.JobContext(job.id, f"worker-{attempt}").report(0.3, {"epoch": 1})
        assert jobs.recover_stale() == []  # heartbeat is fresh
        make_stale(job.id)
        assert jobs.recover_stale() == [job.id]
        row = services.get_job(job.id)
        assert row.status == "queued" and row.worker is None and row.progress == 0 and row.history == []
        assert "stopped heartbeating" in row.log_tail and "requeued" in row.log_tail
    claimed = jobs.claim("last")
    assert claimed.attempts == queue.MAX_ATTEMPTS
    make_stale(job.id)
    assert jobs.recover_stale() == [job.id]
    row = services.get_job(job.id)
    assert row.status == "failed" and f"gave up after {queue.MAX_ATTEMPTS} attempts" in row.error
    assert row.finished_at is not None
    assert jobs.claim("another") is None


@both_backends
def test_a_queued_job_says_what_it_waits_for(demo):
    first, second, third = (jobs.enqueue(demo.project_id, "train", {}) for _ in range(3))
    assert services.jobs_ahead(first.id) == "" and services.jobs_ahead(third.id) == "2 queued before it"
    jobs.claim("w")
    assert services.jobs_ahead(third.id) == "1 job running, 1 queued before it"
    jobs.enqueue(demo.project_id, jobs.MACHINE, {"parent": first.id})  # part of the running job
    assert services.jobs_ahead(second.id) == "1 job running"


@both_backends
def test_recover_stale_cancels_a_stale_job_that_was_asked_to_stop(demo):
    job = jobs.enqueue(demo.project_id, "train", {})
    jobs.claim("w")
    services.cancel_job(job.id)
    make_stale(job.id)
    assert jobs.recover_stale() == [job.id]
    assert services.get_job(job.id).status == "cancelled"


@both_backends
def test_a_requeued_job_ignores_its_old_worker(demo):
    job = jobs.enqueue(demo.project_id, "train", {})
    jobs.claim("old")
    make_stale(job.id)
    jobs.recover_stale()
    jobs.claim("new")
    assert jobs.heartbeat(job.id, "old") is False
    assert jobs.JobContext(job.id, "old").report(0.9) is False
    jobs.finish(job.id, "old", {"acc": 1.0}, None)
    assert services.get_job(job.id).status == "running"
    assert jobs.heartbeat(job.id, "new") is True
    jobs.finish(job.id, "new", {"acc": 0.5}, None)
    row = services.get_job(job.id)
    assert row.status == "succeeded" and row.metrics == {"acc": 0.5}


@both_backends
def test_two_workers_cannot_claim_the_same_job(demo):
    job = jobs.enqueue(demo.project_id, "train", {})
    first = jobs.claim("w1")
    assert first.id == job.id and first.status == "running" and first.worker == "w1"
    assert jobs.claim("w2") is None
    assert services.get_job(job.id).worker == "w1"


@both_backends
def test_concurrent_claims_take_each_job_once(demo):
    created = [jobs.enqueue(demo.project_id, "train", {}).id for _ in range(8)]
    claimed: list[tuple[str, int]] = []
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        start.wait()
        while (job := jobs.claim(name)) is not None:
            claimed.append((name, job.id))

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(job_id for _, job_id in claimed) == created
    with session_scope() as session:
        rows = session.scalars(select(Job)).all()
    assert {r.id: r.worker for r in rows} == {job_id: name for name, job_id in claimed}
    assert all(r.attempts == 1 for r in rows)


@both_backends
def test_claim_takes_the_oldest_job_first(demo):
    ids = [jobs.enqueue(demo.project_id, "train", {}).id for _ in range(3)]
    assert [jobs.claim("w").id for _ in range(3)] == ids


# --- CLI ---------------------------------------------------------------------------------------

runner = CliRunner()


@both_backends
def test_cli_status_json_prints_the_documented_keys(demo):
    services.queue_training(demo.project_id, TrainConfig(epochs=1))
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert set(counts) == {"projects", "examples", "model_versions", "feedback", "jobs"}
    assert counts == {"projects": 1, "examples": 1797, "model_versions": 1, "feedback": 0, "jobs": {"queued": 1}}


def test_cli_status_json_in_a_subprocess(xil_home):
    result = subprocess.run(
        [sys.executable, "-m", "xil.cli", "status", "--json"],
        env=worker_env(xil_home),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"projects": 0, "examples": 0, "model_versions": 0, "feedback": 0, "jobs": {}}


def test_cli_import_folder_refuses_a_bad_folder(tmp_path):
    root = tmp_path / "bad"
    for cls in ("a", "b"):
        for i in range(3):
            write_png(root / cls / f"{i}.png")
    (root / "a" / "x.png").write_bytes(b"garbage bytes")
    write_png(root / "b" / "wide.png", size=(8, 16))
    (root / "c").mkdir()
    result = runner.invoke(app, ["import-folder", str(root)])
    assert result.exit_code != 0
    assert "a/x.png" in result.stderr and "b/wide.png" in result.stderr and "c/" in result.stderr
    assert "3 problem(s); nothing was imported" in result.stderr
    assert services.list_projects() == []
    assert services.status()["examples"] == 0


def test_cli_import_folder_imports_a_good_folder(tmp_path):
    root = tmp_path / "good"
    for cls in ("a", "b"):
        for i in range(3):
            write_png(root / cls / f"{i}.png", size=(8, 8) if i else (10, 10))
    assert runner.invoke(app, ["import-folder", str(root)]).exit_code != 0
    bad_resize = runner.invoke(app, ["import-folder", str(root), "--resize", "big"])
    assert bad_resize.exit_code != 0 and "--resize takes HxW" in bad_resize.stderr
    result = runner.invoke(app, ["import-folder", str(root), "--name", "letters", "--resize", "8x8"])
    assert result.exit_code == 0, result.output
    assert "imported 6 images into project 'letters'" in result.stdout
    assert [p.name for p in services.list_projects()] == ["letters"]


def test_cli_train_queues_or_explains(demo):
    bad = runner.invoke(app, ["train", "--project", str(demo.project_id), "--method", "rrr_g", "--arch", "mlp"])
    assert bad.exit_code != 0 and "needs the CNN architecture" in bad.stderr
    assert job_count() == 0
    good = runner.invoke(app, ["train", "--project", str(demo.project_id), "--method", "hint", "--epochs", "2"])
    assert good.exit_code == 0, good.output
    job = services.list_jobs(demo.project_id)[0]
    assert f"queued job {job.id}" in good.stdout
    assert job.spec["config"]["method"] == "hint" and job.spec["config"]["epochs"] == 2


def test_cli_export(saved_feedback, tmp_path):
    demo, saved, _ = saved_feedback
    out = tmp_path / "cli.parquet"
    result = runner.invoke(app, ["export", str(out), "--project", str(demo.project_id), "--format", "parquet"])
    assert result.exit_code == 0, result.output
    assert [r["feedback_id"] for r in read_rows(out)] == [s.id for s in saved]
    bad = runner.invoke(app, ["export", str(tmp_path / "x"), "--project", str(demo.project_id), "--masks", "rle"])
    assert bad.exit_code != 0 and "masks must be one of" in bad.stderr


def test_cli_import_mnist_reports_missing_files(tmp_path):
    result = runner.invoke(app, ["import-mnist", str(tmp_path)])
    assert result.exit_code != 0 and "no MNIST IDX files" in result.stderr
    assert services.list_projects() == []


# --- issue 8: cross-project explanations, bare wrong reasons, skips --------------------------------


def other_image_project():
    from xil.data.digits import decoy_digits

    return services.create_project("Other digits", decoy_digits(seed=1), "test")


def test_explain_example_refuses_an_example_of_another_project(demo):
    other = other_image_project()
    foreign = train_example_ids(other.id, 1)[0]
    with pytest.raises(ValueError, match="another project"):
        services.explain_example(demo.version_id, foreign, "saliency")
    own = train_example_ids(demo.project_id, 1)[0]
    with pytest.raises(ValueError, match="another project"):
        services.explain_example(demo.version_id, own, "saliency", project_id=other.id)
    with pytest.raises(ValueError, match="another project"):
        services.save_feedback(foreign, "ada", demo.version_id, "right_reason")
    assert services.explain_example(demo.version_id, own, "saliency", project_id=demo.project_id).example_id == own


def test_a_wrong_reason_needs_marks_or_a_label(demo):
    a, b, c = train_example_ids(demo.project_id, 3)
    with pytest.raises(ValueError, match="wrong-reason verdict needs"):
        services.save_feedback(a, "ada", demo.version_id, "wrong_reason", irrelevant=np.zeros(SHAPE))
    assert feedback_count() == 0
    services.save_feedback(a, "ada", demo.version_id, "wrong_reason", irrelevant=corner_mask())
    services.save_feedback(b, "ada", demo.version_id, "wrong_reason", label=4)
    services.save_feedback(c, "ada", demo.version_id, "right_reason")  # a right reason needs nothing
    assert feedback_count() == 3


def test_trainers_leave_out_wrong_reasons_without_marks_and_count_them(demo):
    a, b = train_example_ids(demo.project_id, 2)
    bare = feedback_store.store_feedback(  # as saved before the check existed
        catalog.get_example(a),
        "ada",
        model_version_id=demo.version_id,
        verdict="wrong_reason",
        kind="image_rationale",
    )
    services.save_feedback(b, "ada", demo.version_id, "wrong_reason", irrelevant=corner_mask())
    assert feedback_store.lacks_reason(bare)
    assert feedback_store.count_lacking_reason(demo.project_id) == 1
    assert [f.example_id for f in feedback_store.training_feedback(demo.project_id)] == [b]
    idx, irrelevant, _ = feedback_store.feedback_masks(demo.project_id)
    assert idx.tolist() == [catalog.get_example(b).idx] and irrelevant.sum() == 16
    _, used = adapters.for_task("image").training_data(demo.project_id)
    assert used == 1


def test_skips_are_kept_per_annotator_and_project(demo):
    first = services.next_examples(demo.project_id, demo.version_id, "suspicious", "ada", n=1)[0]
    annotation_queue.skip_example("ada", demo.project_id, first)
    annotation_queue.skip_example("ada", demo.project_id, first)  # once is enough
    assert annotation_queue.skipped_examples("ada", demo.project_id) == (first,)
    assert annotation_queue.skipped_examples("bob", demo.project_id) == ()
    assert annotation_queue.skipped_examples("ada", demo.project_id + 1) == ()
    annotation_queue.unskip_examples("ada", demo.project_id)
    assert annotation_queue.skipped_examples("ada", demo.project_id) == ()


def test_recent_feedback_is_the_annotators_current_judgements_newest_first(demo):
    a, b = train_example_ids(demo.project_id, 2)
    services.set_overlap(demo.project_id, 2)
    services.save_feedback(a, "ada", demo.version_id, "right_reason")
    services.save_feedback(b, "ada", demo.version_id, "right_reason")
    again = services.save_feedback(a, "ada", demo.version_id, "wrong_reason", label=1)
    services.save_feedback(b, "bob", demo.version_id, "right_reason")
    assert [f.example_id for f in feedback_store.recent_feedback(demo.project_id, "ada")] == [a, b]
    assert feedback_store.current_judgement(a, "ada").id == again.id
    assert feedback_store.current_judgement(a, "bob") is None
