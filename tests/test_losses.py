"""Feedback losses against hand-computed values and finite differences."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xil import feedback
from xil.feedback import counterexamples, hint, rrr, rrr_gradcam
from xil.feedback.attributions import check_map, hires_cam, reach
from xil.models import SmallCNN

K = 3  # classes of the tiny linear model


def linear_model(dtype=torch.float32, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, K)).to(dtype)


def tiny_batch(dtype=torch.float32, n: int = 3):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 2, 2, generator=g, dtype=dtype)
    y = torch.arange(n) % K
    return x, y


def rrr_by_hand(model: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """d/dx sum_k log softmax(Wx + b)_k = W^T (1 - K softmax(Wx + b)); penalty = sum (A * grad)^2."""
    lin = model[1]
    w, b = lin.weight.detach(), lin.bias.detach()
    p = torch.softmax(x.flatten(1) @ w.T + b, dim=1)
    grad = (1 - K * p) @ w  # (N, 4)
    return (mask.flatten(1) * grad).pow(2).sum(dim=1)


def hint_by_hand(model: nn.Module, x: torch.Tensor, y: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """d/dx log softmax_y = W^T (e_y - p); attribution |x * grad|; the share of it outside R."""
    lin = model[1]
    w, b = lin.weight.detach(), lin.bias.detach()
    p = torch.softmax(x.flatten(1) @ w.T + b, dim=1)
    attribution = ((F.one_hot(y, K).to(p.dtype) - p) @ w * x.flatten(1)).abs()
    outside = (attribution * (1 - relevant.flatten(1))).sum(dim=1) / attribution.sum(dim=1)
    return outside * relevant.flatten(1).any(dim=1).to(p.dtype)


def test_registry_names_every_method():
    assert set(feedback.REGISTRY) == {"rrr", "rrr_g", "hint", "ce"}
    assert feedback.REGISTRY["rrr_g"].needs_conv
    assert feedback.REGISTRY["hint"].mask == "relevant"
    assert feedback.REGISTRY["ce"].augment is not None and feedback.REGISTRY["ce"].terms is None


# --- RRR ---------------------------------------------------------------------------------------


def test_rrr_matches_hand_computed_input_gradient_penalty():
    model = linear_model(torch.float64)
    x, y = tiny_batch(torch.float64)
    mask = torch.tensor(
        [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 0.0]]], dtype=torch.float64
    )
    logits, penalty = rrr.terms(model, x, y, mask)
    assert penalty.shape == (3,)
    torch.testing.assert_close(logits, model(x))
    torch.testing.assert_close(penalty.detach(), rrr_by_hand(model, x, mask))
    assert (penalty > 0).all()


def test_rrr_penalty_only_counts_masked_pixels():
    model = linear_model(torch.float64)
    x, y = tiny_batch(torch.float64, n=1)
    corner = torch.zeros(1, 2, 2, dtype=torch.float64)
    corner[0, 0, 0] = 1.0
    _, penalty = rrr.terms(model, x, y, corner)
    lin = model[1]
    p = torch.softmax(lin(x.flatten(1)), dim=1).detach()
    grad_pixel0 = ((1 - K * p) @ lin.weight.detach())[0, 0]
    torch.testing.assert_close(penalty.detach(), grad_pixel0.pow(2).reshape(1))


def test_rrr_is_zero_with_an_empty_mask():
    model = linear_model()
    x, y = tiny_batch()
    _, penalty = rrr.terms(model, x, y, torch.zeros(3, 2, 2))
    assert torch.equal(penalty.detach(), torch.zeros(3))


def _functional_linear(weight, bias):
    def model(inputs):
        return F.linear(inputs.flatten(1), weight, bias)

    return model


def test_rrr_parameter_gradients_match_finite_differences():
    x, y = tiny_batch(torch.float64)
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64).expand(3, 2, 2)
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(K, 4, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True)

    def penalty(w, b):
        return rrr.terms(_functional_linear(w, b), x, y, mask)[1]

    assert torch.autograd.gradcheck(penalty, (weight, bias), eps=1e-6, atol=1e-5)


# --- HINT --------------------------------------------------------------------------------------


def test_hint_matches_hand_computed_value_and_ignores_unmasked_examples():
    model = linear_model(torch.float64)
    x, y = tiny_batch(torch.float64)
    relevant = torch.zeros(3, 2, 2, dtype=torch.float64)
    relevant[0, 0, :] = 1.0  # top row relevant
    relevant[2, :, 1] = 1.0  # right column relevant; example 1 has no mask
    logits, penalty = hint.terms(model, x, y, relevant)
    torch.testing.assert_close(logits, model(x))
    expected = hint_by_hand(model, x, y, relevant)
    torch.testing.assert_close(penalty.detach(), expected)
    assert penalty[1].item() == 0.0
    assert penalty[0].item() > 0 and penalty[2].item() > 0


def test_hint_is_zero_without_any_relevant_mask():
    model = linear_model()
    x, y = tiny_batch()
    _, penalty = hint.terms(model, x, y, torch.zeros(3, 2, 2))
    assert torch.equal(penalty.detach(), torch.zeros(3))


def test_hint_parameter_gradients_match_finite_differences():
    x, y = tiny_batch(torch.float64)
    relevant = torch.zeros(3, 2, 2, dtype=torch.float64)
    relevant[:, 1, :] = 1.0
    g = torch.Generator().manual_seed(4)
    weight = torch.randn(K, 4, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True)

    def penalty(w, b):
        return hint.terms(_functional_linear(w, b), x, y, relevant)[1]

    assert torch.autograd.gradcheck(penalty, (weight, bias), eps=1e-6, atol=1e-5)


def test_hint_on_cnn_trains_parameters():
    torch.manual_seed(0)
    model = SmallCNN(in_shape=(1, 8, 8), n_classes=3)
    x = torch.rand(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 0])
    relevant = torch.zeros(4, 8, 8)
    relevant[:2, 2:6, 2:6] = 1.0
    _, penalty = hint.terms(model, x, y, relevant)
    assert penalty.shape == (4,)
    assert penalty[2:].abs().sum().item() == 0.0
    assert ((penalty[:2] > 0) & (penalty[:2] < 1)).all()  # a share of the attribution
    penalty.sum().backward()
    assert model.features[0].weight.grad.abs().sum().item() > 0


# --- RRR-G -------------------------------------------------------------------------------------


@pytest.fixture
def cnn_batch():
    torch.manual_seed(0)
    model = SmallCNN(in_shape=(1, 8, 8), n_classes=3)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 1])
    return model, x, y


def test_rrr_g_is_zero_with_an_empty_mask(cnn_batch):
    model, x, y = cnn_batch
    logits, penalty = rrr_gradcam.terms(model, x, y, torch.zeros(4, 8, 8))
    assert logits.shape == (4, 3)
    assert torch.equal(penalty.detach(), torch.zeros(4))


def test_rrr_g_is_the_share_of_the_absolute_hires_cam_on_the_cells_the_marks_reach(cnn_batch):
    from captum.attr import LayerGradientXActivation

    model, x, y = cnn_batch
    corner = torch.zeros(4, 8, 8)
    corner[:, 0, 0] = 1.0  # one corner pixel reaches 2x2 of the layer's 4x4 cells
    logits, penalty = rrr_gradcam.terms(model, x, y, corner)
    # an independent HiResCAM (captum's gradient x activation at the layer, summed over channels):
    # predicted class, no ReLU, at the layer's resolution
    predicted = logits.argmax(1)
    cam = LayerGradientXActivation(model, model.conv_layer).attribute(x, target=predicted).sum(1).detach()
    assert cam.shape == (4, 4, 4)
    weights = reach(model, x, corner)
    assert (weights[:, 2:] == 0).all() and (weights[:, :, 2:] == 0).all() and (weights[:, :2, :2] > 0).all()
    expected = (weights * cam.abs()).flatten(1).sum(1) / cam.abs().flatten(1).sum(1)
    torch.testing.assert_close(penalty.detach(), expected, rtol=1e-4, atol=1e-6)
    assert ((penalty > 0) & (penalty < 1)).all()


def test_rrr_g_penalty_gradient_reaches_parameters(cnn_batch):
    model, x, y = cnn_batch
    corner = torch.zeros(4, 8, 8)
    corner[:, :2, :2] = 1.0  # a share of the map, not all of it (whose share is 1 whatever the weights)
    _, penalty = rrr_gradcam.terms(model, x, y, corner)
    penalty.sum().backward()
    for name in ("features.0.weight", "features.3.weight", "head.2.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum().item() > 0, name


def test_rrr_g_penalty_grows_with_the_masked_area(cnn_batch):
    model, x, y = cnn_batch
    half = torch.zeros(4, 8, 8)
    half[:, 0, 0] = 1.0  # one corner pixel reaches 2x2 of the layer's 4x4 cells (half reaches them all)
    _, p_half = rrr_gradcam.terms(model, x, y, half)
    _, p_full = rrr_gradcam.terms(model, x, y, torch.ones(4, 8, 8))
    assert (p_half <= p_full + 1e-6).all()
    assert p_half.sum() < p_full.sum()


# --- Counterexamples ---------------------------------------------------------------------------


def test_counterexamples_append_recoloured_copies_of_marked_examples():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 6, 6, generator=g)
    y = torch.tensor([3, 1, 4, 1])
    mask = torch.zeros(4, 6, 6)
    mask[1, :2, :2] = 1.0
    mask[3, 4:, 4:] = 1.0
    x2, y2 = counterexamples.augment(x, y, mask, torch.Generator().manual_seed(1))
    assert x2.shape == (6, 3, 6, 6)
    assert torch.equal(x2[:4], x) and torch.equal(y2[:4], y)
    assert y2[4:].tolist() == [1, 1]  # the marked examples' labels, in order
    for copy, source in ((x2[4], 1), (x2[5], 3)):
        m = mask[source].bool().expand(3, 6, 6)
        assert torch.equal(copy[~m], x[source][~m]), "unmarked pixels must be unchanged"
        assert (copy[m] != x[source][m]).all(), "marked pixels must be randomised"
        assert ((copy[m] >= 0) & (copy[m] <= 1)).all()
        region = copy[:, mask[source].bool()]  # (channels, marked pixels)
        assert torch.equal(region, region[:, :1].expand_as(region)), "one flat shade per channel"
        assert len(set(region[:, 0].tolist())) == 3, "each channel its own shade"


def test_counterexamples_append_nothing_without_masks():
    x = torch.rand(3, 1, 4, 4)
    y = torch.tensor([0, 1, 2])
    x2, y2 = counterexamples.augment(x, y, torch.zeros(3, 4, 4))
    assert torch.equal(x2, x) and torch.equal(y2, y)


def test_counterexamples_are_reproducible_with_a_generator():
    x = torch.rand(2, 1, 4, 4)
    y = torch.tensor([0, 1])
    mask = torch.ones(2, 4, 4)
    a, _ = counterexamples.augment(x, y, mask, torch.Generator().manual_seed(7))
    b, _ = counterexamples.augment(x, y, mask, torch.Generator().manual_seed(7))
    c, _ = counterexamples.augment(x, y, mask, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --- RRR-G and HINT in detail: the map, the receptive mask, the share --------------------------------


class _IdentityConv(nn.Module):
    """conv_layer = a 1x1 identity convolution, then one linear layer: HiResCAM for class k is
    W_k * x cell by cell, so the map is set by the input and the weights by hand."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.conv_layer.weight.fill_(1.0)
        self.fc = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv_layer(x).flatten(1))


def test_rrr_g_penalises_a_negative_decoy_attribution_without_relu():
    # class 0 is predicted (positive weights); its map is x: the decoy cell is negative
    weight = torch.stack([torch.full((16,), 1.0), torch.full((16,), -1.0)])
    model = _IdentityConv(weight)
    x = torch.ones(1, 1, 4, 4)
    x[0, 0, 0, 0] = -1.0  # the decoy: a negative map value
    x[0, 0, 3, 3] = -2.0  # the map's minimum lies elsewhere
    decoy = torch.zeros(1, 4, 4)
    decoy[0, 0, 0] = 1.0
    logits, penalty = rrr_gradcam.terms(model, x, torch.tensor([1]), decoy)  # y=1, predicted 0
    assert logits.argmax(1).item() == 0
    # |map|: 1 at the decoy of 14 x 1 + 1 + 2 = 17 in all; a ReLU'd map would read 0 there
    torch.testing.assert_close(penalty.detach(), torch.tensor([1 / 17]), rtol=1e-4, atol=1e-6)


def test_rrr_g_uses_the_predicted_class_not_the_label():
    weight = torch.stack([torch.full((16,), 1.0), torch.full((16,), -1.0)])
    model = _IdentityConv(weight)
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.1
    mask = torch.ones(2, 4, 4)
    _, as_label_0 = rrr_gradcam.terms(model, x, torch.tensor([0, 0]), mask)
    _, as_label_1 = rrr_gradcam.terms(model, x, torch.tensor([1, 1]), mask)
    torch.testing.assert_close(as_label_0, as_label_1)  # the label does not matter


@pytest.mark.parametrize("arch,side,reached", [("cnn", 14, 4), ("convnet", 8, 2)])
def test_rrr_g_weighs_every_cell_a_swatch_reaches(arch, side, reached):
    from xil import models

    # side: the layer's resolution; reached: how many cells a 4x4 corner swatch reaches per side
    torch.manual_seed(0)
    model = models.build(arch, (1, 28, 28), 10)
    mask = torch.zeros(2, 28, 28)
    mask[0, :4, :4] = 1.0  # a Decoy-MNIST swatch in the top-left corner
    x = torch.rand(2, 1, 28, 28)
    # SmallCNN: 3x3 conv, 2x2 pool, 3x3 conv: pixels 0-3 reach cells 0-3 of 14; SimpleConvNet: 5x5 conv
    # (no padding), pool, 5x5 conv: cells 0-1 of 8. A downsampled mask would cover 2 and 1 (or part).
    expected = torch.zeros(2, side, side, dtype=torch.bool)
    expected[0, :reached, :reached] = True
    model.train()
    weights = reach(model, x, mask)
    assert torch.equal(weights > 0, expected)
    assert weights[0].max().item() == 1.0 and (weights <= 1).all()  # scaled to the most-reached cell
    assert model.training  # measured in eval mode, the mode restored
    x[0, 0, :4, :4] = 0.5  # a mid-grey swatch is found as well (set to 0 and to 1, not inverted)
    assert torch.equal(reach(model, x, mask) > 0, expected)
    assert hires_cam(model, x)[1].shape == (2, side, side)
    _, penalty = rrr_gradcam.terms(model, x, torch.tensor([0, 1]), mask)
    assert penalty.shape == (2,) and penalty[0].item() > 0 and penalty[1].item() == 0.0
    penalty.sum().backward()
    assert model.conv_layer.weight.grad.abs().sum().item() > 0


def test_hint_is_the_share_of_input_x_gradient_outside_the_relevant_region():
    # one linear layer, class 0's weights 1 and class 1's -1: d log p_0 / dx = 2 (1 - p_0) everywhere,
    # so the attribution is proportional to |x|
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.ones(16), -torch.ones(16)]))
    relevant = torch.zeros(1, 4, 4)
    relevant[0, 1:3, 1:3] = 1.0
    x = relevant[:, None].clone() * 0.5  # the object on a black background
    _, penalty = hint.terms(model, x, torch.tensor([0]), relevant)
    assert penalty.item() == 0.0  # zero pixels carry no attribution: the background is free
    x[0, 0, 0, 0] = 1.0  # a decoy swatch outside the object
    _, penalty = hint.terms(model, x, torch.tensor([0]), relevant)
    assert penalty.item() == pytest.approx(1.0 / (1.0 + 4 * 0.5))


def test_hint_on_an_mlp_is_zero_when_the_input_gradient_is_zero_outside_the_relevant_mask():
    relevant = torch.zeros(1, 2, 2)
    relevant[0, 0, :] = 1.0
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():  # d/dx log p_0 = (1 - p_0)(w_0 - w_1): zero outside the mask
        model[1].weight.copy_(torch.stack([relevant.flatten(), torch.zeros(4)]))
    x = torch.rand(1, 1, 2, 2)
    _, penalty = hint.terms(model, x, torch.tensor([0]), relevant)
    assert penalty.item() < 1e-8


def test_hint_on_convnet_is_a_share_and_ignores_examples_without_a_mask():
    from xil.models import SimpleConvNet

    torch.manual_seed(0)
    model = SimpleConvNet((1, 28, 28), 10)
    x = torch.rand(3, 1, 28, 28)
    relevant = torch.zeros(3, 28, 28)
    relevant[:2, 8:20, 8:20] = 1.0
    _, penalty = hint.terms(model, x, torch.tensor([0, 1, 2]), relevant)
    assert penalty.shape == (3,) and penalty[2].item() == 0.0
    assert 0 < penalty[0].item() < 1


# --- convnet (the typology's SimpleConvNet) ---------------------------------------------------------


def test_convnet_has_the_typology_shapes():
    from xil import models
    from xil.models import SimpleConvNet

    model = models.build("convnet", (1, 28, 28), 10)
    assert isinstance(model, SimpleConvNet) and models.has_conv(model)
    assert models.REGISTRY["convnet"].conv
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 20, (5, 5)), (20, 50, (5, 5))]
    assert model.conv_layer is convs[1]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(800, 256), (256, 10)]
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert models.build("convnet", (3, 32, 32), 4)(torch.rand(2, 3, 32, 32)).shape == (2, 4)  # RGB, 32x32
    with pytest.raises(ValueError, match="at least 16x16"):
        models.build("convnet", (1, 8, 8), 10)


def test_convnet_trains_with_each_feedback_method():
    from xil.train import TrainConfig, TrainData, train

    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 28, 28, generator=g)
    y = torch.arange(32) % 10
    irrelevant = torch.zeros(32, 28, 28)
    irrelevant[:, :4, :4] = 1.0
    relevant = torch.zeros(32, 28, 28)
    relevant[:, 8:20, 8:20] = 1.0
    data = TrainData(x, y, irrelevant=irrelevant, relevant=relevant)
    for method in ("none", "rrr", "rrr_g", "hint", "ce"):
        cfg = TrainConfig(method=method, arch="convnet", epochs=1, batch_size=16, device="cpu")
        model, history = train(cfg, data)
        assert model(x[:2]).shape == (2, 10)
        assert history[0]["ce"] > 0 and history[0]["loss"] == history[0]["loss"], method  # finite
        if method in ("rrr", "rrr_g", "hint"):
            assert history[0]["lambda_"] > 0 and history[0]["penalty"] > 0, method


# --- automatic lambda: one rule --------------------------------------------------------------------


@pytest.mark.parametrize("arch,method", [("mlp", "hint"), ("cnn", "rrr_g"), ("convnet", "hint")])
def test_automatic_lambda_sets_the_initial_penalty_to_a_multiple_of_the_initial_cross_entropy(arch, method):
    import copy

    from xil import models
    from xil.train import TrainConfig, TrainData, train

    g = torch.Generator().manual_seed(1)
    x = torch.rand(48, 1, 28, 28, generator=g)
    y = torch.arange(48) % 10
    mask = torch.zeros(48, 28, 28)
    mask[:12, :4, :4] = 1.0  # a quarter of the examples marked
    if method == "hint":
        mask[:12, 6:22, 6:22] = 1.0
    data = TrainData(x, y, irrelevant=mask, relevant=mask)
    torch.manual_seed(0)
    initial = models.build(arch, (1, 28, 28), 10)
    start = copy.deepcopy(initial)
    cfg = TrainConfig(method=method, arch=arch, epochs=1, batch_size=16, device="cpu")
    _, history = train(cfg, data, init=initial)
    lam = history[0]["lambda_"]
    ce0 = F.cross_entropy(start(x), y).item()
    p0 = feedback.REGISTRY[method].terms(start, x, y, mask)[1].mean().item()
    assert lam * p0 == pytest.approx(feedback.REGISTRY[method].lambda_scale * ce0, rel=1e-3)
    # a config's lambda_scale replaces the method's multiple; a fixed lambda_ skips the calibration
    _, scaled = train(TrainConfig(**{**cfg.to_dict(), "lambda_scale": 2.0}), data, init=copy.deepcopy(start))
    assert scaled[0]["lambda_"] == pytest.approx(2 * lam / feedback.REGISTRY[method].lambda_scale, rel=1e-6)
    _, fixed = train(TrainConfig(**{**cfg.to_dict(), "lambda_": 5.0}), data, init=copy.deepcopy(start))
    assert fixed[0]["lambda_"] == 5.0


def test_automatic_lambda_counts_only_marked_examples_and_skips_without_any():
    from xil.train import TrainConfig, TrainData, train

    g = torch.Generator().manual_seed(2)
    x = torch.rand(40, 1, 28, 28, generator=g)
    y = torch.arange(40) % 10
    none = TrainData(x, y, irrelevant=torch.zeros(40, 28, 28))
    _, history = train(TrainConfig(method="rrr", epochs=1, batch_size=20, device="cpu"), none)
    assert history[0]["lambda_"] is None and history[0]["penalty"] == 0
    few = torch.zeros(40, 28, 28)
    few[:2, :4, :4] = 1.0  # 2 of 40 marked: lambda grows so the penalty still weighs the same
    many = torch.zeros(40, 28, 28)
    many[:, :4, :4] = 1.0
    cfg = TrainConfig(method="rrr", epochs=1, batch_size=20, device="cpu")
    _, sparse = train(cfg, TrainData(x, y, irrelevant=few))
    _, dense = train(cfg, TrainData(x, y, irrelevant=many))
    assert sparse[0]["lambda_"] > 5 * dense[0]["lambda_"]


# --- benchmarks: seeds and interaction efficiency ----------------------------------------------------


def test_bench_aggregate_reports_mean_std_and_runs_per_key():
    from xil.bench.decoy import aggregate

    runs = [
        {
            "seed": 0,
            "n_train": 8,
            "clean_acc": 0.9,
            "methods": {"rrr": {"acc": 0.8, "lambda": None}, "x": {"skipped": "no"}},
        },
        {
            "seed": 1,
            "n_train": 8,
            "clean_acc": 0.7,
            "methods": {"rrr": {"acc": 0.6, "lambda": None}, "x": {"skipped": "no"}},
        },
    ]
    out = aggregate(runs)
    assert out["seeds"] == [0, 1] and out["n_train"] == 8
    assert out["clean_acc"] == pytest.approx(0.8) and out["clean_acc_std"] == pytest.approx(0.1)
    assert out["clean_acc_runs"] == [0.9, 0.7]
    assert out["methods"]["rrr"]["acc"] == pytest.approx(0.7) and out["methods"]["rrr"]["acc_std"] == pytest.approx(0.1)
    assert out["methods"]["rrr"]["lambda"] is None and out["methods"]["x"] == {"skipped": "no"}
    curves = aggregate([{"seed": 0, "n": [1, 2], "acc": [0.5, 0.6]}, {"seed": 1, "n": [1, 2], "acc": [0.7, 0.6]}])
    assert curves["n"] == [1, 2]
    assert curves["acc"] == pytest.approx([0.6, 0.6]) and curves["acc_std"] == pytest.approx([0.1, 0.0])


def test_bench_efficiency_gives_one_curve_per_method_with_one_entry_per_n():
    from xil.bench import efficiency

    result = efficiency.run(dataset="digits", arch="mlp", device="cpu", epochs=1, methods=["ce", "rrr_g"], ns=[0, 5])
    assert result["n"] == [0, 5] and result["n_train"] > 5
    assert 0 <= result["clean_acc"] <= 1 and 0 <= result["vanilla_acc"] <= 1
    assert len(result["methods"]["ce"]["acc"]) == 2 and len(result["methods"]["ce"]["wr"]) == 2
    assert "skipped" in result["methods"]["rrr_g"]  # the MLP has no convolution
    with pytest.raises(ValueError, match="seeds"):
        efficiency.run(dataset="digits", seeds=0)


def test_bench_efficiency_cli_starts_at_the_seed_it_is_given():
    from typer.testing import CliRunner

    from xil.cli import app

    args = ["bench", "efficiency", "--epochs", "1", "--methods", "ce", "--n", "5", "--device", "cpu", "--json"]
    result = CliRunner().invoke(app, [*args, "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["seed"] == 3


def test_check_map_refuses_a_map_too_coarse_to_tell_the_marks_from_the_rest():
    class ConvPool(nn.Module):  # a strided convolution, then global average pooling: any input size
        def __init__(self) -> None:
            super().__init__()
            self.conv_layer = nn.Conv2d(1, 2, 3, stride=2, padding=1)
            self.fc = nn.Linear(2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv_layer(x).mean(dim=(2, 3)))

    model = ConvPool()
    check_map(model, torch.rand(2, 1, 8, 8))  # 8x8 images: a 4x4 map
    model.train()
    with pytest.raises(ValueError, match="2x2 map at 4x4 pixels: too coarse"):
        check_map(model, torch.rand(2, 1, 4, 4))
    assert model.training  # looked at in eval mode, the mode restored
