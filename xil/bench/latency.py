"""Latency benchmark: what an annotator waits for (images and, with ``text``, MiniLM texts).

``explain_ms``: median milliseconds to explain one example on the CPU (demo MLP; Grad-CAM on a CNN
trained on the same data). ``save_next_ms_p95``: server-side time to store a piece of feedback and
have the next example with its prediction and explanation ready, as the annotate page does it.
``explain_ms_224``: the same for a ResNet-18 on one 224x224 RGB image (random weights: the time does
not depend on them), in the precision :mod:`xil.precision` picks (``precision_224``).
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from xil import data, models
from xil.bench.text_latency import explain_latency_text
from xil.bench.timing import median_ms
from xil.explain import REGISTRY, explain
from xil.precision import precision_name
from xil.train import TrainConfig, TrainData, train


def explain_latency(repeats: int = 50) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = data.decoy_digits()
    tr = ds.indices("train")
    x, y = torch.from_numpy(ds.images[tr]), torch.from_numpy(ds.labels[tr])
    mlp, _ = train(TrainConfig(method="none", arch="mlp", epochs=30, device="cpu"), TrainData(x, y))
    cnn, _ = train(TrainConfig(method="none", arch="cnn", epochs=3, device="cpu"), TrainData(x, y))
    samples = [x[i : i + 1] for i in range(repeats)]
    result = {}
    for name, explainer in REGISTRY.items():
        if explainer.needs == "patch_layer":
            continue  # vision transformers only
        model = cnn if explainer.needs == "conv_layer" else mlp
        inputs = iter(samples * 2)
        result[name] = median_ms(lambda m=model, it=inputs, n=name: explain(m, next(it), n), repeats)
    return result


EXPLAIN_224 = {"saliency": 10, "grad_cam": 10, "integrated_gradients": 5, "occlusion": 3}  # method: repeats


def explain_latency_224() -> dict:
    """Median milliseconds per method for a ResNet-18 explaining one 224x224 image."""
    torch.manual_seed(0)
    model = models.backbones.fold_batch_norm(models.build("resnet18", (3, 224, 224), 10))  # as the app loads it
    x = torch.rand(1, 3, 224, 224)
    return {name: median_ms(lambda n=name: explain(model, x, n), repeats) for name, repeats in EXPLAIN_224.items()}


def save_next_latency(n: int = 60) -> dict:
    """Run the annotate page's save-and-next path against a fresh data directory."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["XIL_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db import reset_engines
        from xil import services

        reset_engines()
        project = services.seed_demo()
        version = services.latest_model_version(project.id)
        mask = np.zeros(services.dataset(project.id).shape[1:], dtype=bool)
        mask[:4, :4] = True
        queue = services.next_examples(project.id, version.id, "suspicious", "bench", n=3)
        services.explain_example(version.id, queue[0], "saliency")
        times = []
        for _ in range(n):
            started = time.perf_counter()
            services.save_feedback(
                queue[0], "bench", version.id, "wrong_reason", irrelevant=mask, explanation_method="saliency"
            )
            queue = services.next_examples(project.id, version.id, "suspicious", "bench", n=3)
            services.explain_example(version.id, queue[0], "saliency")
            services.prefetch(version.id, queue[1:], "saliency")
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)  # an annotator's pause, in which the prefetcher works
        reset_engines()
    return {
        "save_next_ms_p50": round(float(np.percentile(times, 50)), 2),
        "save_next_ms_p95": round(float(np.percentile(times, 95)), 2),
    }


def run(text: bool = True) -> dict:
    result = {"device": "cpu", "threads": torch.get_num_threads(), "explain_ms": explain_latency()}
    result["explain_models"] = {
        name: ("cnn" if e.needs == "conv_layer" else "mlp") for name, e in REGISTRY.items() if e.needs != "patch_layer"
    }
    result["explain_ms_224"] = explain_latency_224()
    result["precision_224"] = precision_name("cpu")
    result.update(save_next_latency())
    if text:
        result.update(explain_latency_text())  # MiniLM classifier, one 64-token text
    return result
