"""Real image backbones: ResNet, ConvNeXt, EfficientNet, ViT, or any model a user brings.

Where a backbone comes from (``arch``):

- a built-in name (``resnet18``, ``resnet18_half``, ``resnet50``, ``convnext_tiny``, ``efficientnet_b0``,
  ``vit_tiny_patch16_224``): Hugging Face transformers' image model of that shape, built from its
  config, so it needs no download; random weights unless ``weights`` names a file. ``resnet18_half``
  has half of ResNet-18's channels (a third of its training time on a CPU);
- ``hf:FOLDER_OR_HUB_ID``: ``AutoModelForImageClassification`` with its weights, from a local folder
  (offline) or the hub (with a network);
- ``torchvision:NAME`` or ``timm:NAME``: any architecture of those libraries, when installed with a
  build that matches the installed torch (the CPU wheel pinned here has none: torchvision's PyPI
  wheels link CUDA's libtorch).

``weights`` (a ``.safetensors`` file, or ``.pth``/``.pt``/``.bin`` read with ``weights_only=True``)
fills every tensor whose name and shape match; the head, sized for other classes, stays new.

Every backbone sits in :class:`Backbone`, which takes images as the studio stores them, ``(N, C, H, W)``
in [0, 1] at their own size, and resizes (bilinear, differentiable), repeats grey to RGB and
normalises inside ``forward``: attributions and masks stay in the image's own pixels, so the annotator
sees the image as it is. Convolutional nets compute channels-last (Integrated Gradients on a ResNet-18
at 224: 720 -> 560 ms on this CPU in bfloat16). It declares its last convolutional stage (``conv_layer``, for Grad-CAM and
RRR-G, found by running the model once) or, for vision transformers, its patch embedding
(``patch_layer``, for attributions over patch tokens).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIDE = 224  # the input size of an ImageNet model that names none (every built-in one's)
SOURCES = ("hf", "torchvision", "timm")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
MIN_IMAGE_SIZE = 16


@dataclass
class Spec:
    """What rebuilds a backbone without its weights (stored in the safetensors header)."""

    source: str  # "builtin", "hf", "torchvision" or "timm"
    name: str
    input_size: tuple[int, int] = (INPUT_SIDE, INPUT_SIDE)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    hf_config: str | None = None  # the transformers config as JSON (builtin and hf)
    conv_layer: str | None = None
    patch_layer: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        raw = json.loads(text)
        raw["input_size"] = tuple(raw["input_size"])
        return cls(**raw)


class Backbone(nn.Module):
    """``net`` behind the studio's image convention (see the module docstring)."""

    def __init__(self, net: nn.Module, spec: Spec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1), persistent=False)
        if spec.conv_layer is not None:  # oneDNN and tensor cores run convolutions faster channels-last
            self.net.to(memory_format=torch.channels_last)

    @property
    def conv_layer(self) -> nn.Module | None:
        return None if self.spec.conv_layer is None else self.net.get_submodule(self.spec.conv_layer)

    @property
    def patch_layer(self) -> nn.Module | None:
        return None if self.spec.patch_layer is None else self.net.get_submodule(self.spec.patch_layer)

    @property
    def head(self) -> nn.Linear:
        """The classifier: the last linear layer."""
        return [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]

    def prepare(self, x: Tensor) -> Tensor:
        """Stored images (N, C, H, W) in [0, 1] -> the net's input: resized, RGB, normalised."""
        size = tuple(self.spec.input_size)
        if tuple(x.shape[-2:]) != size:
            shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
        if x.shape[1] == 1 and self.mean.shape[1] == 3:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.spec.conv_layer is not None else x

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(self.prepare(x))
        return out.logits if hasattr(out, "logits") else out


def _builtin_configs() -> dict[str, Callable[[], object]]:
    from transformers import ConvNextConfig, EfficientNetConfig, ResNetConfig, ViTConfig

    return {
        "resnet18": lambda: ResNetConfig(hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic"),
        "resnet18_half": lambda: ResNetConfig(
            embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[2, 2, 2, 2], layer_type="basic"
        ),
        "resnet34": lambda: ResNetConfig(hidden_sizes=[64, 128, 256, 512], depths=[3, 4, 6, 3], layer_type="basic"),
        "resnet50": lambda: ResNetConfig(),
        "convnext_tiny": lambda: ConvNextConfig(),
        "efficientnet_b0": lambda: EfficientNetConfig(
            width_coefficient=1.0, depth_coefficient=1.0, image_size=INPUT_SIDE, hidden_dim=1280, dropout_rate=0.2
        ),
        "vit_tiny_patch16_224": lambda: ViTConfig(
            hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768, image_size=INPUT_SIDE
        ),
    }


BUILTIN_TITLES = {
    "resnet18": "ResNet-18",
    "resnet18_half": "ResNet-18, half width (CPU)",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "convnext_tiny": "ConvNeXt-T",
    "efficientnet_b0": "EfficientNet-B0",
    "vit_tiny_patch16_224": "ViT-Ti/16",
}


def split_source(arch: str) -> tuple[str, str]:
    """``"hf:org/model"`` -> ``("hf", "org/model")``; a built-in name -> ``("builtin", name)``."""
    source, sep, name = arch.partition(":")
    if sep and source in SOURCES and name:
        return source, name
    if arch in BUILTIN_TITLES:
        return "builtin", arch
    raise ValueError(
        f"unknown backbone {arch!r}: use a built-in name ({', '.join(BUILTIN_TITLES)}) or "
        "hf:FOLDER_OR_HUB_ID, torchvision:NAME, timm:NAME"
    )


def build(
    arch: str,
    n_classes: int,
    weights: str | Path | None = None,
    image_size: int | None = None,
) -> Backbone:
    """A new backbone for ``n_classes``; ``image_size`` overrides the model's own input size."""
    source, name = split_source(arch)
    check_options(weights, image_size)
    net, spec = _new_net(source, name, n_classes, image_size)
    if weights is not None:
        load_weights(net, weights)
    if image_size is not None:
        spec.input_size = (image_size, image_size)
    try:
        _find_layers(net, spec)
    except Exception as error:  # e.g. a vision transformer's position embeddings fix its input size
        raise ValueError(f"{arch} does not run at {spec.input_size[0]} pixels: {error}") from None
    return Backbone(net, spec).eval()


def check_options(weights: str | Path | None, image_size: int | None) -> None:
    """What can be said of a backbone's options before building it."""
    if image_size is not None and image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels, not {image_size}")
    if weights and Path(weights).suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_SUFFIXES)} files, not {Path(weights).name}")


def from_spec(spec: Spec, n_classes: int) -> Backbone:
    """The backbone a saved model was (weights left to the caller)."""
    if spec.hf_config is not None:
        from transformers import AutoConfig, AutoModelForImageClassification

        raw = json.loads(spec.hf_config)
        config = AutoConfig.for_model(raw.pop("model_type"), **raw)
        config.num_labels = n_classes
        net = AutoModelForImageClassification.from_config(config, attn_implementation="eager", dtype=torch.float32)
    else:
        net, _ = _new_net(spec.source, spec.name, n_classes, spec.input_size[0])
    return Backbone(net, spec).eval()


def _new_net(source: str, name: str, n_classes: int, image_size: int | None) -> tuple[nn.Module, Spec]:
    if source == "builtin":
        from transformers import AutoModelForImageClassification

        config = _builtin_configs()[name]()
        config.num_labels = n_classes
        if image_size is not None and hasattr(config, "image_size"):
            config.image_size = image_size  # a transformer's position embeddings follow it
        net = AutoModelForImageClassification.from_config(config, attn_implementation="eager", dtype=torch.float32)
        size = getattr(config, "image_size", INPUT_SIDE)
        return net, Spec("builtin", name, input_size=(size, size), hf_config=config.to_json_string())
    if source == "hf":
        return _hf_net(name, n_classes)
    if source == "torchvision":
        models = _optional("torchvision").models
        return models.get_model(name, num_classes=n_classes), Spec("torchvision", name)
    timm = _optional("timm")
    net = timm.create_model(name, pretrained=False, num_classes=n_classes)
    cfg = net.pretrained_cfg or {}
    size = tuple(cfg.get("input_size", (3, INPUT_SIDE, INPUT_SIDE))[1:])
    mean, std = tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))
    return net, Spec("timm", name, input_size=size, mean=mean, std=std)


def _hf_net(name: str, n_classes: int) -> tuple[nn.Module, Spec]:
    from transformers import AutoModelForImageClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head resized to the project's classes is expected to be new
    try:
        net = AutoModelForImageClassification.from_pretrained(
            name, num_labels=n_classes, ignore_mismatched_sizes=True, attn_implementation="eager", dtype=torch.float32
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    net.config.id2label = {i: str(i) for i in range(n_classes)}
    net.config.label2id = {str(i): i for i in range(n_classes)}
    spec = Spec("hf", name, hf_config=net.config.to_json_string())
    size = getattr(net.config, "image_size", INPUT_SIDE)
    spec.input_size = (size, size) if isinstance(size, int) else tuple(size)
    processor = _preprocessor_config(name)
    spec.mean = tuple(processor.get("image_mean", IMAGENET_MEAN))
    spec.std = tuple(processor.get("image_std", IMAGENET_STD))
    return net, spec


def _preprocessor_config(name: str) -> dict:
    """The model's own ``preprocessor_config.json`` (how its inputs were normalised), from its folder
    or the hub (the cached copy when offline); ``{}`` (ImageNet's values) when it has none."""
    path = Path(name) / "preprocessor_config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(name, "preprocessor_config.json"))
        except Exception:  # no network, no such file: ImageNet's values
            return {}
    return json.loads(path.read_text())


def _optional(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, or torchvision's own failure to load against this torch
        raise ValueError(
            f"{module} is not usable here ({type(error).__name__}: {error}); install a {module} build that "
            "matches your torch, or use a built-in name or hf:FOLDER"
        ) from None


def load_weights(net: nn.Module, path: str | Path) -> None:
    """Fill ``net`` from a weights file: every tensor whose name and shape match (the head may not)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {path} not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    elif path.suffix in WEIGHT_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"{path.name} is not a plain state dict ({error}); save it as safetensors") from None
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    else:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_SUFFIXES)} files, not {path.name}")
    own = net.state_dict()
    if not any(k in own for k in state):  # the studio's own saved model: the backbone sits under "net."
        state = {k.removeprefix("net."): v for k, v in state.items()}
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    head = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    misfits = [k for k in state if k in own and k not in kept and not k.startswith(f"{head}.")]
    if misfits:  # only the head may differ (other classes); anything else is another model or size
        raise ValueError(
            f"{path.name} has other shapes than this model for {', '.join(misfits[:3])}"
            + (f" and {len(misfits) - 3} more" if len(misfits) > 3 else "")
            + " (another variant, or another image size)"
        )
    if len(kept) < len(own) // 2:
        raise ValueError(
            f"{path.name} does not fit this architecture: {len(kept)} of its {len(state)} tensors match the "
            f"model's {len(own)} by name and shape"
        )
    net.load_state_dict(kept, strict=False)


def _find_layers(net: nn.Module, spec: Spec) -> None:
    """Name the last convolutional stage (the last module whose output is a channels-first map of at
    least 2x2, when no attention follows it: at 32 pixels a ResNet's last stage is 1x1, so the one
    before) or, for transformers, the patch embedding; one forward pass on zeros."""
    names = {module: name for name, module in net.named_modules()}
    order: list[tuple[str, Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda m, _, out: order.append((names[m], out))) for m in net.modules() if m is not net
    ]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, len(spec.mean), *spec.input_size))
    finally:
        for hook in hooks:
            hook.remove()
    height, width = spec.input_size

    def is_map(name: str, out) -> bool:  # a channels-first map of the input's shape, at least 2x2
        module = net.get_submodule(name)
        if isinstance(module, nn.Linear | nn.ZeroPad2d | nn.ConstantPad2d) or not isinstance(out, Tensor):
            return False  # a Linear on channels-last maps (ConvNeXt) and padding are not stages
        if out.dim() != 4 or min(out.shape[-2:]) < 2:
            return False
        return abs(out.shape[-2] / out.shape[-1] - height / width) < 0.25

    spatial = [i for i, (name, out) in enumerate(order) if is_map(name, out)]
    attention = [
        i for i, (name, _) in enumerate(order) if "attention" in type(net.get_submodule(name)).__name__.lower()
    ]
    if spatial and not (attention and attention[-1] > spatial[-1]):
        spec.conv_layer = order[spatial[-1]][0]
    elif attention:
        embedding = [i for i, (name, _) in enumerate(order) if "patch" in name.split(".")[-1] and i < attention[0]]
        spec.patch_layer = order[embedding[-1]][0] if embedding else None


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """A backbone for inference: each convolution that a batch norm directly follows (the next module
    registered beside it) becomes one convolution with the norm's eval statistics in its weights, and
    the norm an identity. A quarter off Integrated Gradients on a ResNet-18 at 224 on this CPU (540 ->
    400 ms): every pass runs twenty norms fewer. A copy, checked on a random batch against the
    original: where the outputs differ (a norm that does not follow its convolution after all) the
    original comes back. Other models come back as they are. Not for training: the copy has no batch
    statistics left, and no parameter of it asks for a gradient."""
    if not isinstance(model, Backbone):
        return model
    folded = copy.deepcopy(model).eval().requires_grad_(False)
    count = 0
    for parent in folded.modules():
        children = list(parent.named_children())
        for (_, conv), (name, norm) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                _fold(conv, norm)
                setattr(parent, name, nn.Identity())
                count += 1
    if count == 0:
        return model
    probe = torch.rand(2, len(model.spec.mean), *model.spec.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = model.eval()(probe), folded(probe)
    tolerance = 1e-3 * float(expected.abs().max().clamp_min(1.0))
    return folded if torch.allclose(got, expected, atol=tolerance, rtol=1e-3) else model


def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """``norm(conv(x))`` with eval statistics as ``conv(x)``: weights scaled in place (their memory
    layout kept), the shift into the bias."""
    with torch.no_grad():
        gamma = norm.weight if norm.affine else torch.ones_like(norm.running_var)
        beta = norm.bias if norm.affine else torch.zeros_like(norm.running_mean)
        scale = gamma / torch.sqrt(norm.running_var + norm.eps)
        shift = beta - norm.running_mean * scale
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        if conv.bias is None:
            conv.bias = nn.Parameter(shift.clone(), requires_grad=False)
        else:
            conv.bias.mul_(scale).add_(shift)
