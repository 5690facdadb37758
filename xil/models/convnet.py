"""The XIL typology's ``SimpleConvNet`` (Friedrich et al. 2023, ``learner/models/dnns.py``; the
LeNet-style net of Rieger et al.'s CDEP): Conv(C->20, 5) ReLU MaxPool2, Conv(20->50, 5) ReLU MaxPool2,
FC(800->256) ReLU, FC(256->K) at 28x28.

``conv_layer`` is the second convolution (the typology's ``last_conv``), which Grad-CAM and RRR-G use.
Other sizes work too: the first dense layer takes whatever the convolutions leave (50 x h x w); inputs
under 16 pixels a side leave nothing and are refused.
"""

from __future__ import annotations

from torch import Tensor, nn

MIN_SIDE = 16


def _side(n: int) -> int:
    return ((n - 4) // 2 - 4) // 2


class SimpleConvNet(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10) -> None:
        super().__init__()
        channels, height, width = in_shape
        if height < MIN_SIDE or width < MIN_SIDE:
            raise ValueError(
                f"the convnet architecture needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, not {height}x{width}"
            )
        self.features = nn.Sequential(
            nn.Conv2d(channels, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(50 * _side(height) * _side(width), 256),
            nn.ReLU(),
            nn.Linear(256, n_classes),
        )

    @property
    def conv_layer(self) -> nn.Module:
        return self.features[3]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
