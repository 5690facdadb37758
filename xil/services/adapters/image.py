"""The image task: pixel masks as rationales, small image classifiers trained with RRR, RRR-G, HINT or
counterexamples, attribution maps from captum."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from db import Example, Feedback, ModelVersion
from xil import explain, feedback, models, storage
from xil.explain.metrics import mass_in_mask, plausibility
from xil.registry import Registry
from xil.services.adapters.base import Progress, classifier_progress_line, classifier_result_line
from xil.services.catalog import dataset, dataset_rows
from xil.services.feedback_store import feedback_masks, load_mask, training_feedback
from xil.services.versions import load
from xil.train import TrainConfig, TrainData, coarse_map, evaluate, train
from xil.train.data import SparseMasks
from xil.train.evaluate import attribution_batches, attributions, predict

PLAIN_TITLE = "Plain (cross-entropy only)"


def _object_box(shape: tuple[int, int]) -> np.ndarray:
    """Where the object is assumed to be without annotations: the centre, a 1/7 border off."""
    h, w = shape
    box = np.zeros(shape, dtype=bool)
    box[h // 7 : h - h // 7, w // 7 : w - w // 7] = True
    return box


FEEDBACK_CHUNK = 256  # marked examples explained at a time when a version is evaluated
QUEUE_POOL = 2048  # training rows a model version explains for the queue, at most


def scoring_pool(ds) -> np.ndarray:
    """The rows the queue's scores are computed for: every row of a dataset of at most ``QUEUE_POOL``
    training images; of a larger one a fixed random ``QUEUE_POOL`` of its training rows (explaining
    100,000 photos before serving the first would take the better part of an hour on a CPU). The
    queue serves them first, the rest after in a fixed random order."""
    train = ds.indices("train")
    if len(train) <= QUEUE_POOL:
        return np.arange(len(ds))
    return np.sort(np.random.default_rng(0).choice(train, QUEUE_POOL, replace=False))


def _scores_on_marks(model: nn.Module, ds, idx, irrelevant, relevant) -> tuple[float | None, float | None]:
    """``(wrong-reason score on the irrelevant marks, plausibility against the relevant ones)`` of the
    rows ``idx``, None where no row has such marks; explained a chunk of rows at a time (no map of
    every marked example at once)."""
    shares, ious = [], []
    for start in range(0, len(idx), FEEDBACK_CHUNK):
        part = slice(start, start + FEEDBACK_CHUNK)
        maps = attributions(model, ds.rows(idx[part]))
        marked = irrelevant[part].reshape(len(maps), -1).any(1)
        shares.append(mass_in_mask(maps[marked], irrelevant[part][marked]))
        has_relevant = relevant[part].reshape(len(maps), -1).any(1)
        if has_relevant.any():
            ious.append((plausibility(maps, relevant[part]), int(has_relevant.sum())))
    shares = np.concatenate(shares) if shares else np.zeros(0)
    wrong_reason = float(shares.mean()) if len(shares) else None
    value = float(sum(v * n for v, n in ious) / sum(n for _, n in ious)) if ious else None
    return wrong_reason, value


def _load_module(path: str) -> nn.Module:
    return models.load_model(path, device="cpu")


def _inference_module(path: str) -> nn.Module:
    """What the app predicts and explains with: a backbone's batch norms folded into its convolutions."""
    return models.backbones.fold_batch_norm(_load_module(path))


class ImageAdapter:
    task: ClassVar[str] = "image"
    config_class: ClassVar[type] = TrainConfig
    config_classes: ClassVar[tuple[type, ...]] = (TrainConfig,)
    methods: ClassVar[Registry] = feedback.REGISTRY

    def first_config(self) -> TrainConfig:
        return TrainConfig(method="none")

    def check(self, project_id: int, cfg) -> None:
        if not isinstance(cfg, TrainConfig):
            raise ValueError("an image project trains with TrainConfig settings")
        if ":" in cfg.arch:  # hf:, timm:, torchvision: may read the hub: their job checks the map as it starts
            return
        if reason := coarse_map(cfg.method, cfg.arch, dataset(project_id).shape, cfg.image_size):
            raise ValueError(reason)

    def training_data(self, project_id: int, slice: str = "all") -> tuple[TrainData, int]:
        """The training split with label corrections applied and the annotators' masks (of the feedback
        ``slice``: all, accepted or consensus); and how many pieces of feedback went in."""
        ds = dataset(project_id)
        train_idx = ds.indices("train")
        y = torch.from_numpy(ds.labels[train_idx].copy())
        position = {int(row): i for i, row in enumerate(train_idx)}
        rows, irrelevant, relevant = feedback_masks(project_id, slice)
        in_train = np.array([int(row) in position for row in rows], dtype=bool)
        at = np.array([position[int(row)] for row in rows[in_train]], dtype=np.int64)
        irr = SparseMasks(len(train_idx), ds.shape[1:], at, irrelevant[in_train])
        rel = SparseMasks(len(train_idx), ds.shape[1:], at, relevant[in_train])
        idx_of = dataset_rows(project_id)
        used = 0
        for fb in training_feedback(project_id, slice):  # without wrong reasons that give none
            row = idx_of[fb.example_id]
            if row in position:
                used += 1
                if fb.label is not None:
                    y[position[row]] = fb.label
        x = ds.rows(train_idx)  # a pixel file is read batch by batch (or whole, where it fits in memory)
        return TrainData(x, y, irrelevant=irr, relevant=rel, n_classes=len(ds.class_names)), used

    def train_inputs(self, project_id: int, cfg: TrainConfig) -> tuple[TrainData, int]:
        return self.training_data(project_id, cfg.feedback)

    def train(
        self, project_id: int, cfg: TrainConfig, progress: Progress, log, inputs=None
    ) -> tuple[nn.Module, list, int]:
        data, n_feedback = inputs if inputs is not None else self.train_inputs(project_id, cfg)
        log(
            f"training {cfg.arch} with {cfg.method} on {len(data.x)} examples, {n_feedback} with feedback"
            + ("" if cfg.feedback == "all" else f" ({cfg.feedback})")
        )
        model, history = train(cfg, data, progress=progress)
        return model.cpu(), history, n_feedback

    def evaluate(self, project_id: int, model: nn.Module, cfg: TrainConfig | None = None) -> dict:
        """Test accuracy; wrong-reason score on the test split's known decoys and on annotators'
        irrelevant marks; plausibility against annotators' relevant marks (of the config's feedback slice)."""
        ds = dataset(project_id)
        test = ds.indices("test")
        y = torch.from_numpy(ds.labels[test])
        result = evaluate(model, ds.rows(test), y, ds.decoy_masks[test] if ds.decoy_masks is not None else None)
        metrics = {"test_acc": result["acc"], **({"wrong_reason": result["wr"]} if "wr" in result else {})}
        wrong_reason, value = _scores_on_marks(model, ds, *feedback_masks(project_id, getattr(cfg, "feedback", "all")))
        if wrong_reason is not None:
            metrics["wrong_reason_feedback"] = wrong_reason
        if value is not None:
            metrics["plausibility"] = value
        return metrics

    def save(self, project_id: int, model: nn.Module, cfg: TrainConfig) -> tuple[str, str, str, str]:
        ds = dataset(project_id)
        blob = models.io.model_bytes(model, cfg.arch, ds.shape, len(ds.class_names))
        rel, sha = storage.put_bytes(blob, ".safetensors", "models")
        return rel, sha, cfg.arch, cfg.method

    def load_file(self, path: str, cfg: TrainConfig) -> nn.Module:
        return _load_module(path)

    def load(self, row: ModelVersion) -> nn.Module:
        return load(row, _inference_module)

    progress_line = staticmethod(classifier_progress_line)
    result_line = staticmethod(classifier_result_line)

    def explanation_methods(self, row: ModelVersion) -> dict[str, str]:
        usable = explain.available(self.load(row))
        return {name: e.title for name, e in explain.REGISTRY.items() if name in usable}

    def training_methods(self) -> dict[str, str]:
        return {"none": PLAIN_TITLE, **{name: m.title for name, m in self.methods.items()}}

    def content(self, ds, idx: int) -> dict:
        return {"image": ds.images[idx]}

    def explain(self, row: ModelVersion, ds, idx: int, method: str) -> tuple[np.ndarray, np.ndarray]:
        attribution, probs = explain.explain(self.load(row), torch.from_numpy(ds.images[idx : idx + 1]), method)
        return attribution[0].numpy().astype(np.float32), probs[0].numpy()

    def queue_scores(self, row: ModelVersion, ds, strategy: str) -> np.ndarray:
        """Suspicious: the share of saliency off the object (outside the centre box); least confident:
        1 - max probability. Rows outside the scoring pool (:func:`scoring_pool`) get -inf."""
        model, pool = self.load(row), scoring_pool(ds)
        scores = np.full(len(ds), -np.inf)
        if strategy == "least_confident":
            scores[pool] = 1.0 - predict(model, ds.rows(pool)).max(dim=1).values.numpy()
            return scores
        outside = ~_object_box(ds.shape[1:])
        shares = [mass_in_mask(m, np.broadcast_to(outside, m.shape)) for m in attribution_batches(model, ds.rows(pool))]
        scores[pool] = np.concatenate(shares) if shares else np.zeros(0)
        return scores

    def predicted_classes(self, row: ModelVersion, ds) -> np.ndarray:
        """The predicted class of every row of the scoring pool; -1 elsewhere."""
        pool = scoring_pool(ds)
        classes = np.full(len(ds), -1, dtype=np.int64)
        classes[pool] = predict(self.load(row), ds.rows(pool)).argmax(dim=1).numpy()
        return classes

    def rationale(self, ds, example: Example, marks: dict) -> tuple[str, dict, dict[str, np.ndarray]]:
        if marks.get("irrelevant_words") or marks.get("relevant_words"):
            raise ValueError("an image takes pixel masks (irrelevant, relevant), not word indices")
        masks = {}
        for kind in ("irrelevant", "relevant"):
            if marks.get(kind) is None:
                continue
            mask = np.asarray(marks[kind], dtype=bool)
            if mask.shape != ds.shape[1:]:
                raise ValueError(f"{kind} mask has shape {mask.shape}, the image is {ds.shape[1:]}")
            if mask.any():
                masks[kind] = mask
        return "image_rationale", {}, masks

    def export_fields(self, ds, example: Example, fb: Feedback) -> dict:
        shape = ds.shape[1:]
        return {
            "irrelevant_mask": load_mask(fb.irrelevant_path, shape).astype(int).tolist(),
            "relevant_mask": load_mask(fb.relevant_path, shape).astype(int).tolist(),
        }

    def wrong_reason_on_marks(self, row: ModelVersion) -> float | None:
        idx, irrelevant, relevant = feedback_masks(row.project_id)
        marked = irrelevant.reshape(len(idx), -1).any(1) if len(idx) else np.zeros(0, dtype=bool)
        if not marked.any():
            return None
        ds = dataset(row.project_id)
        return _scores_on_marks(self.load(row), ds, idx[marked], irrelevant[marked], relevant[marked])[0]
