"""Feedback losses against hand-computed values and finite differences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xil import feedback
from xil.feedback import counterexamples, hint, rrr, rrr_gradcam
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
    """d/dx log softmax_y = W^T (e_y - p); map = |grad| scaled to max 1; mean squared distance to R."""
    lin = model[1]
    w, b = lin.weight.detach(), lin.bias.detach()
    p = torch.softmax(x.flatten(1) @ w.T + b, dim=1)
    grad = (F.one_hot(y, K).to(p.dtype) - p) @ w
    maps = grad.abs()
    maps = maps / maps.amax(dim=1, keepdim=True)
    has_mask = relevant.flatten(1).any(dim=1).to(p.dtype)
    return (maps - relevant.flatten(1)).pow(2).mean(dim=1) * has_mask


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


def test_hint_on_cnn_uses_grad_cam_and_trains_parameters():
    torch.manual_seed(0)
    model = SmallCNN(in_shape=(1, 8, 8), n_classes=3)
    x = torch.rand(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 0])
    relevant = torch.zeros(4, 8, 8)
    relevant[:2, 2:6, 2:6] = 1.0
    _, penalty = hint.terms(model, x, y, relevant)
    assert penalty.shape == (4,)
    assert penalty[2:].abs().sum().item() == 0.0
    assert penalty[:2].sum().item() > 0
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


def test_rrr_g_with_full_mask_equals_sum_of_squared_normalised_grad_cam(cnn_batch):
    from captum.attr import LayerAttribution, LayerGradCam

    model, x, y = cnn_batch
    _, penalty = rrr_gradcam.terms(model, x, y, torch.ones(4, 8, 8))
    assert penalty.sum().item() > 0
    # an independent Grad-CAM (captum's) gives the same value
    cam = LayerGradCam(model, model.conv_layer).attribute(x, target=y, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, (8, 8), "bilinear")[:, 0].detach()
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-8)
    expected = (cam / peak[:, None, None]).pow(2).flatten(1).sum(dim=1)
    torch.testing.assert_close(penalty.detach(), expected, rtol=1e-4, atol=1e-5)


def test_rrr_g_penalty_gradient_reaches_parameters(cnn_batch):
    model, x, y = cnn_batch
    _, penalty = rrr_gradcam.terms(model, x, y, torch.ones(4, 8, 8))
    penalty.sum().backward()
    for name in ("features.0.weight", "features.3.weight", "head.2.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum().item() > 0, name


def test_rrr_g_penalty_grows_with_the_masked_area(cnn_batch):
    model, x, y = cnn_batch
    half = torch.zeros(4, 8, 8)
    half[:, :, :4] = 1.0
    _, p_half = rrr_gradcam.terms(model, x, y, half)
    _, p_full = rrr_gradcam.terms(model, x, y, torch.ones(4, 8, 8))
    assert (p_half <= p_full + 1e-6).all()
    assert p_half.sum() < p_full.sum()


# --- Counterexamples ---------------------------------------------------------------------------


def test_counterexamples_append_randomised_copies_of_marked_examples():
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
