"""Save and load models as safetensors weights plus a small JSON header (arch, shapes)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn


def model_bytes(model: nn.Module, arch: str, in_shape, n_classes: int) -> bytes:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"arch": arch, "in_shape": json.dumps(list(in_shape)), "n_classes": str(n_classes)}
    return save_bytes(state, metadata=meta)


def save_model(model: nn.Module, path: str | Path, arch: str, in_shape, n_classes: int) -> None:
    Path(path).write_bytes(model_bytes(model, arch, in_shape, n_classes))


def load_model(path: str | Path, device: str = "cpu") -> nn.Module:
    """Rebuild the model from the file's own header; never unpickles anything."""
    from safetensors import safe_open

    from xil.models import build

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    model = build(meta["arch"], tuple(json.loads(meta["in_shape"])), int(meta["n_classes"]))
    model.load_state_dict(load_bytes(Path(path).read_bytes()))
    return model.to(device).eval()


def arch_of(model: nn.Module) -> str:
    from xil.models import REGISTRY

    for name, cls in REGISTRY.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered architecture")
