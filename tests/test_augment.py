"""Augmentation moves the marks with the pixels."""

import torch

from xil.train import TrainConfig, TrainData, train
from xil.train.augment import crop_and_flip


def test_crop_and_flip_moves_each_mask_with_its_image():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 3, 16, 16)
    mask = torch.zeros(64, 16, 16)
    x[:, :, 2:5, 3:7] = 1.0  # a marked patch, off-centre so that a flip shows
    mask[:, 2:5, 3:7] = 1.0
    x2, m2 = crop_and_flip(x, mask, g)
    assert x2.shape == x.shape and m2.shape == mask.shape
    assert torch.equal((x2[:, 0] > 0).float(), m2)  # the mark still covers exactly the patch
    assert len({tuple(m.nonzero()[0].tolist()) for m in m2}) > 5  # moved differently per image
    flipped = m2[:, :, 8:].sum(dim=(1, 2)) > 0  # the patch ends up on the right half: mirrored
    assert 0 < int(flipped.sum()) < 64


def test_training_with_augmentation_runs_every_method():
    x, y = torch.rand(16, 1, 16, 16), torch.arange(16) % 2
    mask = torch.zeros(16, 16, 16)
    mask[:, :3, :3] = 1
    for method in ("none", "rrr", "ce", "hint"):
        cfg = TrainConfig(method=method, arch="mlp", epochs=1, batch_size=8, device="cpu", augment=True)
        _, history = train(cfg, TrainData(x, y, irrelevant=mask, relevant=1 - mask))
        assert history[0]["loss"] == history[0]["loss"], method
