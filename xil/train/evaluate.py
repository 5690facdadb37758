"""Test accuracy and wrong-reason score of an image model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from xil.explain import explain
from xil.explain.explainer import values_per_example
from xil.explain.metrics import wrong_reason_score

BATCH_VALUES = 64 * 3 * 224 * 224  # input values per batch: 1,024 digits, 64 images at 224x224


def _batch(model: nn.Module, x, most: int) -> int:
    return max(1, min(most, BATCH_VALUES // values_per_example(model, x))) if len(x) else most


def _chunks(model: nn.Module, x, most: int) -> Iterator[torch.Tensor]:
    """``x`` (a tensor, an array or a pixel file) a batch at a time, as tensors on the model's device."""
    batch_size = _batch(model, x, most)
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        yield torch.as_tensor(x[i : i + batch_size]).to(device)


def predict(model: nn.Module, x, batch_size: int = 1024) -> torch.Tensor:
    """Class probabilities of every row of ``x`` (read a batch at a time: a pixel file never whole)."""
    model.eval()
    with torch.no_grad():
        probs = [torch.softmax(model(xb), 1).cpu() for xb in _chunks(model, x, batch_size)]
    return torch.cat(probs) if probs else torch.zeros(0, 0)


def attribution_batches(model: nn.Module, x, method: str = "saliency", batch_size: int = 512) -> Iterator[np.ndarray]:
    """The attribution maps of ``x``, one ``(B, H, W)`` batch at a time."""
    for xb in _chunks(model, x, batch_size):
        yield explain(model, xb, method)[0].cpu().numpy()


def attributions(model: nn.Module, x, method: str = "saliency", batch_size: int = 512) -> np.ndarray:
    maps = list(attribution_batches(model, x, method, batch_size))
    return np.concatenate(maps) if maps else np.zeros((0, *x.shape[2:]))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, decoy_masks: np.ndarray | None = None) -> dict:
    """``{"acc", "wr"}``; ``wr`` (share of saliency on the decoy) only where decoy masks are known."""
    acc = float((predict(model, x).argmax(1) == y.cpu()).float().mean())
    result = {"acc": acc}
    if decoy_masks is not None:
        result["wr"] = wrong_reason_score(attributions(model, x), decoy_masks)
    return result
