"""Image augmentation that moves the annotators' marks with the pixels: random crop and flip.

Each image is padded with zeros by an eighth of its height and width (4 pixels at 32x32), cut back to
its size at a random offset, and mirrored left-right with probability one half; its mask gets the
same padding, offset and mirror, so a marked region stays on the pixels it marks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def crop_and_flip(x: Tensor, mask: Tensor | None, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """``(images (N, C, H, W), masks (N, H, W) or None)`` moved alike."""
    n, _, height, width = x.shape
    pad_y, pad_x = max(1, height // 8), max(1, width // 8)
    dy = torch.randint(0, 2 * pad_y + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad_x + 1, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(height, device=x.device)  # (N, H)
    cols = dx[:, None] + torch.arange(width, device=x.device)  # (N, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]

    def move(t: Tensor) -> Tensor:  # (N, C, H, W)
        padded = F.pad(t, (pad_x, pad_x, pad_y, pad_y))
        return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    moved_mask = None if mask is None else move(mask[:, None].float())[:, 0].to(mask.dtype)
    return move(x), moved_mask
