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
    assert "training in 2 processes (CPU, gloo)" in two.log_tail and "trained in 2 processes" in two.log_tail
    assert [r["epoch"] for r in two.history] == [1, 2]
    for a, b in zip(one.history, two.history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.02)
        assert b["lambda_"] == pytest.approx(a["lambda_"], rel=1e-4) if method == "rrr" else b["lambda_"] is None
    assert abs(v1.metrics["test_acc"] - v2.metrics["test_acc"]) < 0.03


def test_a_worker_started_with_processes_launches_them(demo, monkeypatch):
    monkeypatch.setenv("XIL_PROCESSES", "2")
    job, version = run(demo.project_id, method="none")
    assert "trained in 2 processes" in job.log_tail and version.metrics["test_acc"] > 0.5


def test_text_and_reward_jobs_train_in_two_processes(tmp_path):
    from tests.test_ranking_services import reference_ranks
    from tests.tiny_models import tiny_classifier
    from xil.models.text import save_classifier
    from xil.ranking.config import RewardConfig
    from xil.services import ranking
    from xil.train.text_config import TextTrainConfig

    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    services.seed_demo(train=False)
    projects = {p.task: p for p in services.list_projects()}
    reviews, prompts = projects["text"], projects["ranking"]
    runs = []
    for processes in (1, 2):
        cfg = TextTrainConfig(method="none", backbone=backbone, epochs=1, min_steps=0, processes=processes)
        job = services.queue_training(reviews.id, cfg)
        services.run_worker(once=True)
        runs.append(services.get_job(job.id))
    one, two = runs
    assert two.status == "succeeded", two.error
    assert "trained in 2 processes" in two.log_tail
    assert two.history[0]["loss"] == pytest.approx(one.history[0]["loss"], rel=0.02)

    for example in ranking.next_prompts(prompts.id, n=100):
        ranking.save_ranking(example, "ada", reference_ranks(example))
    model, tokenizer = tiny_classifier(num_labels=1)
    reward_backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-reward"))
    job = services.queue_training(
        prompts.id, RewardConfig(backbone=reward_backbone, epochs=1, max_length=64, processes=2)
    )
    services.run_worker(once=True)
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    assert "trained in 2 processes" in job.log_tail and 0 <= job.metrics["pairwise_acc"] <= 1


def test_cancelling_a_job_in_processes_stops_them_and_leaves_nothing(demo):
    import threading
    import time

    from xil import storage

    cfg = TrainConfig(arch="cnn", method="none", epochs=200, device="cpu", processes=2)
    job = services.queue_training(demo.project_id, cfg)

    def cancel_after_first_epoch() -> None:
        while not services.get_job(job.id).history:
            time.sleep(0.2)
        services.cancel_job(job.id)

    canceller = threading.Thread(target=cancel_after_first_epoch)
    canceller.start()
    started = time.monotonic()
    services.run_worker(once=True)
    canceller.join()
    done = services.get_job(job.id)
    assert done.status == "cancelled" and 1 <= len(done.history) < 200
    assert time.monotonic() - started < 120
    assert list(storage.scratch().glob("job-*")) == []  # the processes' folder is gone


def test_a_job_on_two_machines_is_joined_by_a_second_worker(demo):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import PROJECT_ROOT
    from sqlmodel import select

    from db import Job, session_scope
    from xil import jobs

    mark_decoys(demo)
    env = {**os.environ, "XIL_WORKER_ADDRESS": "127.0.0.1"}
    workers = [  # two machines' workers, as `xil worker` on each (here one host: the same XIL_HOME and database)
        subprocess.Popen([sys.executable, "-m", "xil.cli", "worker"], env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        cfg = TrainConfig(arch="cnn", method="rrr", epochs=2, device="cpu", machines=2)
        job = services.queue_training(demo.project_id, cfg)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the job and its second machine's
            with session_scope() as session:
                if not session.scalars(select(Job).where(Job.status.in_(["queued", "running"]))).first():
                    break
            time.sleep(1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = [worker.communicate(timeout=60)[1].decode(errors="replace")[-1500:] for worker in workers]
    job = services.get_job(job.id)
    assert job.status == "succeeded", f"{job.error}\n{job.log_tail}\n{logs}"
    assert "trained in 2 processes on 2 machines" in job.log_tail and [r["epoch"] for r in job.history] == [1, 2]
    with session_scope() as session:
        machine = session.scalars(select(Job).where(Job.kind == jobs.MACHINE)).one()
    assert machine.status == "succeeded" and machine.spec["parent"] == job.id and machine.spec["machine_rank"] == 1
    assert machine.worker != job.worker and machine.id not in [j.id for j in services.list_jobs(demo.project_id)]


def test_a_job_on_two_machines_fails_clearly_when_no_other_worker_joins(demo, monkeypatch):
    from sqlmodel import select

    from db import Job, session_scope
    from xil import jobs

    monkeypatch.setenv("XIL_MACHINE_WAIT_S", "3")
    job = services.queue_training(demo.project_id, TrainConfig(arch="cnn", epochs=1, device="cpu", machines=2))
    services.run_worker(once=True)
    job = services.get_job(job.id)
    assert job.status == "failed" and "machine 2 of 2 did not join within 3 s" in job.error
    with session_scope() as session:
        machine = session.scalars(select(Job).where(Job.kind == jobs.MACHINE)).one()
    assert machine.status == "cancelled"  # nobody is left waiting for it
