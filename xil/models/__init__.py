"""Image classifiers, one registry keyed by name, saved as safetensors plus a JSON config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xil.models.cnn import SmallCNN
from xil.models.convnet import SimpleConvNet
from xil.models.io import load_model
from xil.models.mlp import RossMLP
from xil.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """An image classifier the studio can build and train.

    Parameters:
        name: the registry key, stored on the job row and in the safetensors header (``"mlp"``).
        title: what the UI shows.
        conv: whether it names its last convolution ``conv_layer`` (Grad-CAM and RRR-G need one).
        build: ``build(in_shape=(C, H, W), n_classes=K) -> nn.Module``.
    """

    name: str
    title: str
    conv: bool
    build: Callable[..., nn.Module]


REGISTRY: Registry[Architecture] = Registry(
    "architecture",
    [
        Architecture(name="mlp", title="MLP (Ross et al.)", conv=False, build=RossMLP),
        Architecture(name="cnn", title="Small CNN", conv=True, build=SmallCNN),
        Architecture(name="convnet", title="SimpleConvNet (XIL typology)", conv=True, build=SimpleConvNet),
    ],
)


def build(arch: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    return REGISTRY.lookup(arch).build(in_shape=tuple(in_shape), n_classes=n_classes)


def has_conv(model: nn.Module) -> bool:
    """Whether Grad-CAM applies: the model names its last convolutional layer ``conv_layer``."""
    return getattr(model, "conv_layer", None) is not None


__all__ = ["REGISTRY", "Architecture", "RossMLP", "SimpleConvNet", "SmallCNN", "build", "has_conv", "load_model"]
