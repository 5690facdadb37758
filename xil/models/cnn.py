"""A small CNN (two conv blocks, one hidden dense layer) that trains in seconds on the CPU.

``features`` ends at the last convolution's activations, which Grad-CAM (and RRR-G) use.
"""

from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10) -> None:
        super().__init__()
        channels, height, width = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (height // 4) * (width // 4), 64),
            nn.ReLU(),
            nn.Linear(64, n_classes),
        )

    @property
    def conv_layer(self) -> nn.Module:
        return self.features[3]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
