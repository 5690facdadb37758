"""Test accuracy and wrong-reason score of an image model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xil.explain import explain
from xil.explain.explainer import values_per_example
from xil.explain.metrics import wrong_reason_score

BATCH_VALUES = 64 * 3 * 224 * 224  # input values per batch: 1,024 digits, 64 images at 224x224


def _batch(model: nn.Module, x: torch.Tensor, most: int) -> int:
    return max(1, min(most, BATCH_VALUES // values_per_example(model, x))) if len(x) else most


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    batch_size = _batch(model, x, batch_size)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [torch.softmax(model(x[i : i + batch_size].to(device)), 1).cpu() for i in range(0, len(x), batch_size)]
        )


def attributions(model: nn.Module, x: torch.Tensor, method: str = "saliency", batch_size: int = 512) -> np.ndarray:
    batch_size = _batch(model, x, batch_size)
    device = next(model.parameters()).device
    maps = [
        explain(model, x[i : i + batch_size].to(device), method)[0].cpu().numpy() for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(maps) if maps else np.zeros((0, *x.shape[2:]))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, decoy_masks: np.ndarray | None = None) -> dict:
    """``{"acc", "wr"}``; ``wr`` (share of saliency on the decoy) only where decoy masks are known."""
    acc = float((predict(model, x).argmax(1) == y.cpu()).float().mean())
    result = {"acc": acc}
    if decoy_masks is not None:
        result["wr"] = wrong_reason_score(attributions(model, x), decoy_masks)
    return result
