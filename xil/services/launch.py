"""A training job in several processes, for the worker: ``accelerate launch -m xil.services.launch``
runs N copies of the job's training step; the worker follows them and takes the model they made.

Each process reads the project's training data itself and trains on its share of every batch
(:mod:`xil.train.parallel`); the first appends each epoch's record to ``progress.jsonl`` in a scratch
folder (the worker turns them into the job's progress, and kills the processes on a cancel) and at the
end stores the model (the adapter's ``save``: content-addressed, so the worker's own save finds it
there) and names it. Image, text and reward-model jobs; a generator's DPO job (TRL) trains in one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from xil import config, storage
from xil.services import adapters
from xil.train import Cancelled, parallel

POLL_S = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parallel_config(cfg) -> bool:
    """Whether a job of this config can train in several processes (it has a ``processes`` setting)."""
    return hasattr(cfg, "processes")


def train_in_processes(
    project_id: int, cfg, processes: int, progress: Callable[[dict], bool], log: Callable[[str], None]
) -> tuple[object, list[dict], int]:
    """What ``adapter.train`` returns, trained by ``processes`` processes on this machine (its GPUs, or
    its CPU with gloo where the job's device is the CPU or there is no GPU)."""
    if not parallel_config(cfg):
        raise ValueError(f"a {type(cfg).__name__} job trains in one process")
    adapter = adapters.for_project(project_id)
    on_cpu = config.device(cfg.device) == "cpu"
    gpus = 0 if on_cpu else torch.cuda.device_count()
    if not on_cpu and processes > gpus:
        raise ValueError(
            f"{processes} processes need {processes} GPUs; this machine has {gpus} (or set processes to {gpus})"
        )
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(processes), "--num_machines", "1", "--main_process_port", str(_free_port()),
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--multi_gpu",  # torchrun's launcher, on the CPU too (--cpu would start one process); cfg.device picks gloo
        "-m", "xil.services.launch",
    ]  # fmt: skip
    log(f"training in {processes} processes ({'CPU, gloo' if on_cpu else 'GPUs'})")
    folder, child = Path(tempfile.mkdtemp(prefix="job-", dir=storage.scratch())), None
    try:
        spec = {"project_id": project_id, "kind": cfg.KIND, "config": cfg.to_dict()}
        (folder / "job.json").write_text(json.dumps(spec))
        with open(folder / "output.log", "wb") as output:
            child = subprocess.Popen(
                [*command, str(folder)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: taken down as one
                env={**os.environ, parallel.MARKER: "1"},
            )
        seen, last = 0, {"epoch": 0, "epochs": 1}
        while True:
            exited = child.poll() is not None
            records, seen = _new_records(folder / "progress.jsonl", seen)
            for record in records:
                last = record
                if progress(record) is False:
                    raise Cancelled(f"cancelled after epoch {record['epoch']}")
            if not exited and progress({**last, "step_only": True}) is False:  # a cancel, seen mid-epoch
                raise Cancelled(f"cancelled in epoch {last['epoch'] + 1}")
            if exited:
                break
            time.sleep(POLL_S)
        if child.returncode != 0:
            tail = (folder / "output.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the {processes} training processes failed (exit {child.returncode}):\n{tail}")
        result = json.loads((folder / "result.json").read_text())
        log(f"trained in {result['processes']} processes")  # as many as joined the group, not as asked
        artifact = adapter.load_file(str(storage.absolute(result["model"])), cfg)
        return artifact, result["history"], result["n_feedback"]
    finally:
        if child is not None and child.poll() is None:  # cancelled, failed here, the worker stopping
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def _new_records(path: Path, seen: int) -> tuple[list[dict], int]:
    """The whole lines of ``path`` after byte ``seen``, and the new offset."""
    if not path.exists():
        return [], seen
    with open(path, "rb") as f:
        f.seek(seen)
        chunk = f.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()], seen + len(complete)


def _run(folder: Path) -> None:
    """One of the processes: train, and (the first) report and write the model."""
    spec = json.loads((folder / "job.json").read_text())
    project_id = spec["project_id"]
    cfg = adapters.config_class(project_id, spec["kind"]).from_dict(spec["config"])
    group = parallel.processes(cfg.device)
    main = group is None or group.is_main

    def progress(record: dict) -> bool:  # called on the first process only
        with open(folder / "progress.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        return True

    adapter = adapters.for_project(project_id)
    inputs = adapter.train_inputs(project_id, cfg) if main else None
    if group is not None:  # one read of the database for all: feedback saved meanwhile must not split them
        inputs = group.from_first(inputs)
    artifact, history, n_feedback = adapter.train(
        project_id, cfg, progress, lambda line: print(line, flush=True) if main else None, inputs
    )
    if main:
        rel, *_ = adapter.save(project_id, artifact, cfg)
        result = {"model": rel, "history": history, "n_feedback": n_feedback, "processes": group.world if group else 1}
        (folder / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    _run(Path(sys.argv[1]))
