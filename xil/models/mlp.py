"""The multilayer perceptron of Ross et al. 2017 (hidden layers of 50 and 30, ReLU)."""

from __future__ import annotations

import math

from torch import Tensor, nn


class RossMLP(nn.Module):
    conv_layer = None

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(in_shape), 50),
            nn.ReLU(),
            nn.Linear(50, 30),
            nn.ReLU(),
            nn.Linear(30, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
