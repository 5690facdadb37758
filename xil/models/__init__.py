"""Image classifiers, one registry keyed by name, saved as safetensors plus a JSON config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xil.models import backbones
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
        conv: whether it names its last convolution ``conv_layer`` (Grad-CAM and RRR-G need one); None
            when only the built model knows (a backbone the user names).
        build: ``build(in_shape=(C, H, W), n_classes=K, **options) -> nn.Module``.
        backbone: a real backbone (:mod:`xil.models.backbones`), which takes the options ``weights``
            (a file) and ``image_size`` (its input size instead of its own).
    """

    name: str
    title: str
    conv: bool | None
    build: Callable[..., nn.Module]
    backbone: bool = False


def _backbone_builder(arch: str) -> Callable[..., nn.Module]:
    def build_backbone(in_shape, n_classes, **options):
        return backbones.build(arch, n_classes, **options)

    return build_backbone


REGISTRY: Registry[Architecture] = Registry(
    "architecture",
    [
        Architecture(name="mlp", title="MLP (Ross et al.)", conv=False, build=RossMLP),
        Architecture(name="cnn", title="Small CNN", conv=True, build=SmallCNN),
        Architecture(name="convnet", title="SimpleConvNet (XIL typology)", conv=True, build=SimpleConvNet),
        *(
            Architecture(
                name=name,
                title=title,
                conv=not name.startswith("vit"),
                build=_backbone_builder(name),
                backbone=True,
            )
            for name, title in backbones.BUILTIN_TITLES.items()
        ),
    ],
)


def lookup(arch: str) -> Architecture:
    """The registry's entry, or for ``hf:...``, ``torchvision:...`` and ``timm:...`` one made for it."""
    if arch in REGISTRY or ":" not in arch:
        return REGISTRY.lookup(arch)
    backbones.split_source(arch)  # a clear error for an unknown source
    return Architecture(name=arch, title=arch, conv=None, build=_backbone_builder(arch), backbone=True)


def build(arch: str, in_shape: tuple[int, int, int], n_classes: int, **options) -> nn.Module:
    """A new model; ``options`` (``weights``, ``image_size``) only for backbones, None ones ignored."""
    entry = lookup(arch)
    options = {k: v for k, v in options.items() if v is not None}
    if options and not entry.backbone:
        raise ValueError(f"{entry.title} takes no {' or '.join(options)}: those are for backbones such as resnet18")
    return entry.build(in_shape=tuple(in_shape), n_classes=n_classes, **options)


def has_conv(model: nn.Module) -> bool:
    """Whether Grad-CAM applies: the model names its last convolutional layer ``conv_layer``."""
    return getattr(model, "conv_layer", None) is not None


__all__ = [
    "REGISTRY",
    "Architecture",
    "backbones",
    "lookup",
    "RossMLP",
    "SimpleConvNet",
    "SmallCNN",
    "build",
    "has_conv",
    "load_model",
]
