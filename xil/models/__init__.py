"""Image classifiers, one registry keyed by name, saved as safetensors plus a JSON config."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from xil.models.cnn import SmallCNN
from xil.models.io import load_model, save_model
from xil.models.mlp import RossMLP

REGISTRY: dict[str, Callable[..., nn.Module]] = {"mlp": RossMLP, "cnn": SmallCNN}


def build(arch: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    try:
        return REGISTRY[arch](in_shape=tuple(in_shape), n_classes=n_classes)
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(REGISTRY)}") from None


def has_conv(model: nn.Module) -> bool:
    """Whether Grad-CAM applies: the model names its last convolutional layer ``conv_layer``."""
    return getattr(model, "conv_layer", None) is not None


__all__ = ["REGISTRY", "RossMLP", "SmallCNN", "build", "has_conv", "load_model", "save_model"]
