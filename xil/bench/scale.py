"""Scale benchmark: a folder of ``N`` synthetic ``S x S`` RGB photos (JPEG, written first, not timed)
imported, annotated and trained on through the studio's own services, each step in a fresh process so
its peak memory is its own.

``import_s`` / ``import_peak_rss_mb``: importing the folder (a project with a pixel file).
``next_example_ms_p95``: what an annotator waits for, on the random queue: the next example's id, its
pixels, prediction and saliency map (cold: never explained before), then its feedback saved.
``train_epoch_s`` / ``train_peak_rss_mb``: one epoch of the small CNN at that size (a training job run
by the worker, batches streamed from the pixel file by DataLoader workers once the training images
pass :data:`xil.train.data.IN_MEMORY_BYTES` as float32); ``loader_worker_peak_rss_mb`` is the largest
of those worker processes (its shared pages count in both).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xil import config

CLASSES = 10
NEXT_REPEATS = 40


def write_images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """``n`` JPEGs in ``CLASSES`` class folders: noise, with a bright square whose place gives the class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    cell = max(1, size // 4)
    for i in range(n):
        label = i % CLASSES
        pixels = rng.integers(0, 160, (size, size, 3), dtype=np.uint8)
        row, col = divmod(label, 4)
        pixels[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 255
        target = folder / f"class_{label}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target / f"{i:06d}.jpg", quality=90)


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def _import(folder: str) -> dict:
    from xil import services

    started = time.perf_counter()
    project, report = services.import_image_folder(folder, name="scale")
    if project is None:
        raise RuntimeError("; ".join(report.errors[:5]))
    return {"import_s": time.perf_counter() - started, "import_peak_rss_mb": _peak_mb(), "project_id": project.id}


def _train(project_id: str, batch_size: str) -> dict:
    from xil import services
    from xil.train import TrainConfig

    cfg = TrainConfig(method="none", arch="cnn", epochs=1, batch_size=int(batch_size))  # a GPU where there is one
    job = services.queue_training(int(project_id), cfg)
    services.run_worker(once=True)
    job = services.get_job(job.id)
    if job.status != "succeeded":
        raise RuntimeError(f"training job {job.status}: {job.error}")
    return {
        "train_epoch_s": job.history[-1]["seconds"],
        "train_peak_rss_mb": _peak_mb(),
        "loader_worker_peak_rss_mb": _peak_mb(resource.RUSAGE_CHILDREN),
        "test_acc": job.metrics.get("test_acc"),
        "version_id": services.latest_model_version(int(project_id)).id,
    }


def _next(project_id: str, version_id: str) -> dict:
    from xil import services

    pid, vid = int(project_id), int(version_id)
    services.dataset(pid), services.load_model(vid)  # what a running server holds already
    services.freeze_startup_objects()  # as the app does (pages/ui)
    times = []
    for _ in range(NEXT_REPEATS):
        started = time.perf_counter()
        [example_id] = services.next_examples(pid, vid, "random", "bench", n=1)
        view = services.explain_example(vid, example_id, "saliency")
        times.append((time.perf_counter() - started) * 1000)
        services.save_feedback(example_id, "bench", vid, "right_reason", explanation_method="saliency")
    assert view.attribution is not None
    return {"next_example_ms_p95": float(np.percentile(times, 95)), "next_example_ms_median": float(np.median(times))}


STEPS = {"import": _import, "train": _train, "next": _next}


def _step(home: str, name: str, *args) -> dict:
    env = {**os.environ, "XIL_HOME": home}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "xil.bench.scale", name, *map(str, args)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {name} step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scale(images: int = 20_000, size: int = 224, batch_size: int = 32, seed: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder, home = Path(tmp) / "photos", Path(tmp) / "home"
        write_images(folder, images, size, seed)
        imported = _step(str(home), "import", folder)
        trained = _step(str(home), "train", imported["project_id"], batch_size)
        served = _step(str(home), "next", imported["project_id"], trained["version_id"])
        pixels = sum(f.stat().st_size for f in (home / "pixels").rglob("*.npy"))
    return {
        "device": config.device("auto"),
        "images": images,
        "size": size,
        "batch_size": batch_size,
        "pixel_file_mb": pixels / 2**20,
        **{k: v for k, v in imported.items() if k != "project_id"},
        **{k: v for k, v in served.items()},
        **{k: v for k, v in trained.items() if k != "version_id"},
    }


if __name__ == "__main__":
    step, *arguments = sys.argv[1:]
    print(json.dumps(STEPS[step](*arguments)))
