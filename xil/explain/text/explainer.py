"""What a token explainer declares about itself (a module's ``EXPLAINER``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from xil.models.text import Encoded


@dataclass(frozen=True, kw_only=True)
class TextExplainer:
    """An attribution method for transformer text classifiers.

    Parameters:
        name: the registry key, stored with every explanation (``"atman"``).
        title: what the UI shows.
        attribute: ``attribute(model, encoded, target (N,)) -> (N, T)`` signed token scores (positive =
            evidence for the target).
    """

    name: str
    title: str
    attribute: Callable[[nn.Module, Encoded, Tensor], Tensor]
