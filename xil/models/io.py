"""Save and load models as safetensors weights plus a small JSON header (arch, shapes)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn

from xil.models import backbones


def model_bytes(model: nn.Module, arch: str, in_shape, n_classes: int) -> bytes:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"arch": arch, "in_shape": json.dumps(list(in_shape)), "n_classes": str(n_classes)}
    if isinstance(model, backbones.Backbone):
        meta["backbone"] = model.spec.to_json()  # rebuilds it offline, whatever folder it came from
    return save_bytes(state, metadata=meta)


def load_model(path: str | Path, device: str = "cpu") -> nn.Module:
    """Rebuild the model from the file's own header; never unpickles anything."""
    from safetensors import safe_open

    from xil.models import build

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    if "backbone" in meta:
        model = backbones.from_spec(backbones.Spec.from_json(meta["backbone"]), int(meta["n_classes"]))
    else:
        model = build(meta["arch"], tuple(json.loads(meta["in_shape"])), int(meta["n_classes"]))
    model.load_state_dict(load_bytes(Path(path).read_bytes()))
    return model.to(device).eval()
