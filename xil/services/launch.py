"""A training job in several processes, for the worker: ``accelerate launch -m xil.services.launch``
runs N copies of the job's training step; the worker follows them and takes the model they made.

Each process reads the project's training data itself and trains on its share of every batch
(:mod:`xil.train.parallel`); the first appends each epoch's record to ``progress.jsonl`` in a scratch
folder (the worker turns them into the job's progress, and kills the processes on a cancel) and at the
end stores the model (the adapter's ``save``: content-addressed, so the worker's own save finds it
there) and names it. Image, text and reward-model jobs; a generator's DPO job (TRL) trains in one.

A job on several machines (``machines`` in its config): the worker that takes it starts its
processes as machine 1 and queues a :data:`xil.jobs.MACHINE` job for each other machine, which a
worker there takes before any other job and runs as :func:`run_machine`; all of them meet at this
worker's address (``XIL_WORKER_ADDRESS``) and read the job's folder under the shared ``XIL_HOME``.
"""

from __future__ import annotations

import ipaddress
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

from db import Job
from xil import config, jobs, storage
from xil.services import adapters
from xil.train import Cancelled, parallel

POLL_S = 0.5  # how often the progress file is read
CHECK_S = 2.0  # how often the job row is told and the other machines' jobs are read (database round trips)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # every interface: a job's other machines connect to it
        return s.getsockname()[1]


def parallel_config(cfg) -> bool:
    """Whether a job of this config can train in several processes (it has a ``processes`` setting)."""
    return hasattr(cfg, "processes")


def _check_gpus(device: str, processes: int) -> bool:
    """Whether the processes run on the CPU; refuses more GPU processes than this machine has GPUs."""
    on_cpu = config.device(device) == "cpu"
    gpus = 0 if on_cpu else torch.cuda.device_count()
    if not on_cpu and processes > gpus:
        raise ValueError(
            f"{processes} processes need {processes} GPUs; this machine has {gpus} (or set processes to {gpus})"
        )
    return on_cpu


def _launch(folder: Path, processes: int, machines: int, rank: int, address: str, port: int) -> subprocess.Popen:
    """``accelerate launch`` of this machine's ``processes`` (machine ``rank`` of ``machines``), its
    output in ``output-<rank>.log``; its own process group, so that it is taken down as one."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(processes * machines), "--num_machines", str(machines),
        "--machine_rank", str(rank), "--main_process_ip", address, "--main_process_port", str(port),
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--multi_gpu",  # torchrun's launcher, on the CPU too (--cpu would start one process); cfg.device picks gloo
        "-m", "xil.services.launch", str(folder),
    ]  # fmt: skip
    with open(folder / f"output-{rank}.log", "wb") as output:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, parallel.MARKER: "1"},
        )


def _stop(child: subprocess.Popen | None) -> None:
    if child is not None and child.poll() is None:  # cancelled, failed, the worker stopping
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def _failure(folder: Path, rank: int, what: str, returncode: int) -> RuntimeError:
    tail = (folder / f"output-{rank}.log").read_text(errors="replace")[-2000:]
    return RuntimeError(f"{what} failed (exit {returncode}):\n{tail}")


def train_in_processes(
    project_id: int,
    cfg,
    processes: int,
    progress: Callable[[dict], bool],
    log: Callable[[str], None],
    job_id: int | None = None,
) -> tuple[object, list[dict], int]:
    """What ``adapter.train`` returns, trained by ``processes`` processes on this machine (its GPUs, or
    its CPU with gloo where the job's device is the CPU or there is no GPU) and, where ``cfg.machines``
    is above one, as many on each other machine: a :data:`jobs.MACHINE` job per machine, which a worker
    there takes (:func:`run_machine`), joins this one's group. The job fails when they do not all
    join within ``XIL_MACHINE_WAIT_S``."""
    if not parallel_config(cfg):
        raise ValueError(f"a {type(cfg).__name__} job trains in one process")
    machines = getattr(cfg, "machines", 1)
    if machines > 1 and job_id is None:
        raise ValueError("a job on several machines runs from the queue (xil worker), where the others join it")
    adapter = adapters.for_project(project_id)
    on_cpu = _check_gpus(cfg.device, processes)
    address = config.worker_address() if machines > 1 else "127.0.0.1"
    port = _free_port()
    where = f" on {machines} machines" if machines > 1 else ""
    log(f"training in {processes * machines} processes{where} ({'CPU, gloo' if on_cpu else 'GPUs'})")
    folder, child, others = Path(tempfile.mkdtemp(prefix="job-", dir=storage.scratch())), None, []
    finished = False
    try:
        spec = {"project_id": project_id, "kind": cfg.KIND, "config": cfg.to_dict()}
        (folder / "job.json").write_text(json.dumps(spec))
        for rank in range(1, machines):
            machine = {"parent": job_id, "machine_rank": rank, "machines": machines, "processes": processes}
            machine |= {"address": address, "port": port, "folder": str(folder.relative_to(config.home()))}
            others.append(jobs.enqueue(project_id, jobs.MACHINE, {**machine, "device": cfg.device}).id)
        if others:
            log(f"waiting for {machines - 1} more machine(s) at {address}:{port}: a worker on each joins")
            if not os.environ.get("XIL_WORKER_ADDRESS") and ipaddress.ip_address(address).is_loopback:
                log("this host's name resolves to a loopback address: set XIL_WORKER_ADDRESS for other machines")
        child = _launch(folder, processes, machines, 0, address, port)
        seen, last, started = 0, {"epoch": 0, "epochs": 1}, time.monotonic()
        checked = started
        while True:
            exited = child.poll() is not None
            records, seen = _new_records(folder / "progress.jsonl", seen)
            for record in records:
                last = record
                if progress(record) is False:
                    raise Cancelled(f"cancelled after epoch {record['epoch']}")
            if exited:
                break
            if time.monotonic() - checked >= CHECK_S:
                checked = time.monotonic()
                if progress({**last, "step_only": True}) is False:  # a cancel, seen mid-epoch
                    raise Cancelled(f"cancelled in epoch {last['epoch'] + 1}")
                _check_machines(others, checked - started)
            time.sleep(POLL_S)
        if child.returncode != 0:
            _check_machines(others, time.monotonic() - started)  # another machine's failure, said as such
            raise _failure(folder, 0, f"the {processes * machines} training processes", child.returncode)
        result = json.loads((folder / "result.json").read_text())
        log(f"trained in {result['processes']} processes{where}")  # as many as joined the group, not as asked
        artifact = adapter.load_file(str(storage.absolute(result["model"])), cfg)
        finished = True  # the other machines' processes end with these: their jobs succeed
        return artifact, result["history"], result["n_feedback"]
    finally:
        _stop(child)
        for other in others if not finished else ():  # still waiting, or still running: not any more
            jobs.cancel(other)
        shutil.rmtree(folder, ignore_errors=True)


def _check_machines(others: list[int], waited_s: float) -> None:
    """Raise when another machine's job failed, or has not been taken after ``XIL_MACHINE_WAIT_S``."""
    for job in filter(None, map(jobs.get, others)):
        if job.status in ("failed", "cancelled"):
            raise RuntimeError(f"machine {job.spec['machine_rank'] + 1} of the job failed: {job.error}")
        if job.status == "queued" and waited_s > config.machine_wait_s():
            raise RuntimeError(
                f"machine {job.spec['machine_rank'] + 1} of {job.spec['machines']} did not join within "
                f"{config.machine_wait_s():.0f} s: start a worker (`xil worker`) on another machine, with the "
                "same database and XIL_HOME"
            )


def run_machine(job: Job, ctx: jobs.JobContext) -> tuple[dict, None]:
    """A :data:`jobs.MACHINE` job: this machine's processes of a job that another worker leads, until
    they exit (the leader's first process stores the model) or the job is cancelled."""
    spec = job.spec
    parent = jobs.get(spec["parent"])
    if parent is None or parent.status != "running":
        return {"skipped": "the job it was to join had ended"}, None
    _check_gpus(spec["device"], spec["processes"])
    folder, rank = storage.absolute(spec["folder"]), spec["machine_rank"]
    if not (folder / "job.json").is_file():
        raise RuntimeError(f"{folder} is not here: every machine needs the same XIL_HOME (a shared file system)")
    child = _launch(folder, spec["processes"], spec["machines"], rank, spec["address"], spec["port"])
    try:
        while child.poll() is None:
            if ctx.report(0.5) is False:
                raise jobs.JobCancelled(f"cancelled: machine {rank + 1} stopped its processes")
            time.sleep(CHECK_S)
        if child.returncode != 0:
            raise _failure(folder, rank, f"machine {rank + 1}'s {spec['processes']} processes", child.returncode)
        return {"machine_rank": rank, "processes": spec["processes"]}, None
    finally:
        _stop(child)


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
