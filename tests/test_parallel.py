"""Data-parallel training jobs: ``processes`` in the config (or ``xil worker --processes N``) launches
the job's training in N processes with Accelerate (gloo on the CPU); the result matches one process."""

from __future__ import annotations

import pytest

from xil import services
from xil.train import TrainConfig

pytestmark = pytest.mark.slow


def run(project_id: int, **settings) -> tuple:
    job = services.queue_training(project_id, TrainConfig(arch="cnn", epochs=2, device="cpu", **settings))
    services.run_worker(once=True)
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    return job, services.get_model_version(job.model_version_id)


def mark_decoys(demo, n: int = 40) -> None:
    """Mark the decoy swatch of ``n`` training examples irrelevant, as an annotator would."""
    ds = services.dataset(demo.project_id)
    for example in services.examples(demo.project_id, "train")[:n]:
        services.save_feedback(example.id, "ann", demo.version_id, irrelevant=ds.decoy_masks[example.idx])


@pytest.mark.parametrize("method", ["rrr", "ce"])
def test_two_processes_train_what_one_does(demo, method):
    mark_decoys(demo)
    one, v1 = run(demo.project_id, method=method)
    two, v2 = run(demo.project_id, method=method, processes=2)
    assert "training in 2 processes (CPU, gloo)" in two.log_tail
    assert [r["epoch"] for r in two.history] == [1, 2]
    for a, b in zip(one.history, two.history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.02)
        assert b["lambda_"] == pytest.approx(a["lambda_"], rel=1e-4) if method == "rrr" else b["lambda_"] is None
    assert abs(v1.metrics["test_acc"] - v2.metrics["test_acc"]) < 0.03


def test_a_worker_started_with_processes_launches_them(demo, monkeypatch):
    monkeypatch.setenv("XIL_PROCESSES", "2")
    job, version = run(demo.project_id, method="none")
    assert "training in 2 processes" in job.log_tail and version.metrics["test_acc"] > 0.5
