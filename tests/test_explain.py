"""Explainers (captum underneath) and explanation metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from xil.explain import REGISTRY, available, explain
from xil.explain.metrics import mass_in_mask, plausibility, wrong_reason_score
from xil.models import RossMLP, SmallCNN

SHAPE = (1, 28, 28)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return RossMLP(SHAPE, 10).eval()


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return SmallCNN(SHAPE, 10).eval()


def positive_linear(n_in: int = 16, n_out: int = 2) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out))
    with torch.no_grad():
        model[1].weight.copy_(torch.rand(n_out, n_in) + 0.1)
        model[1].bias.fill_(0.5)
    return model.eval()


def test_registry_holds_the_documented_methods():
    assert set(REGISTRY) == {
        "saliency",
        "input_x_gradient",
        "integrated_gradients",
        "grad_cam",
        "occlusion",
        "patch_ig",
    }
    assert {name: e.needs for name, e in REGISTRY.items() if e.needs} == {
        "grad_cam": "conv_layer",
        "patch_ig": "patch_layer",
    }


def test_available_depends_on_the_architecture(mlp, cnn):
    assert "grad_cam" not in available(mlp)
    assert set(available(cnn)) == set(REGISTRY) - {"patch_ig"}  # patch_ig: vision transformers


@pytest.mark.parametrize("method", sorted(set(REGISTRY) - {"patch_ig"}))
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_every_explainer_returns_one_map_per_example(method, arch, mlp, cnn, inputs):
    model = mlp if arch == "mlp" else cnn
    if arch == "mlp" and REGISTRY[method].needs:
        with pytest.raises(ValueError, match="convolutional"):
            explain(model, inputs, method)
        return
    maps, probs = explain(model, inputs, method)
    assert maps.shape == (2, 28, 28)
    assert torch.isfinite(maps).all()
    assert maps.abs().sum() > 0, "an explanation of a random input should not be all zeros"
    assert not maps.requires_grad
    assert probs.shape == (2, 10)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


def test_explain_rejects_unknown_methods(mlp, inputs):
    with pytest.raises(ValueError, match="unknown explanation method 'lime'"):
        explain(mlp, inputs, "lime")


def test_explain_targets_the_predicted_class_by_default(mlp, inputs):
    default, probs = explain(mlp, inputs, "saliency")
    predicted, _ = explain(mlp, inputs, "saliency", target=probs.argmax(dim=1))
    other, _ = explain(mlp, inputs, "saliency", target=(probs.argmax(dim=1) + 1) % 10)
    torch.testing.assert_close(default, predicted)
    assert not torch.allclose(default, other)


def test_saliency_is_nonnegative(mlp, cnn, inputs):
    for model in (mlp, cnn):
        maps, _ = explain(model, inputs, "saliency")
        assert (maps >= 0).all()


def test_grad_cam_is_nonnegative(cnn, inputs):
    maps, _ = explain(cnn, inputs, "grad_cam")
    assert (maps >= 0).all()


def test_saliency_of_a_linear_model_is_the_absolute_weight():
    model = positive_linear()
    with torch.no_grad():
        model[1].weight[1, :8] *= -1
    x = torch.rand(3, 1, 4, 4)
    maps, _ = explain(model, x, "saliency", target=torch.tensor([1, 1, 1]))
    expected = model[1].weight[1].detach().abs().reshape(4, 4).expand(3, 4, 4)
    torch.testing.assert_close(maps, expected)


def test_positive_linear_model_gets_positive_input_x_gradient_and_ig():
    model = positive_linear()
    x = torch.rand(3, 1, 4, 4) + 0.05
    target = torch.tensor([0, 1, 0])
    w = model[1].weight.detach()
    for method in ("input_x_gradient", "integrated_gradients"):
        maps, _ = explain(model, x, method, target=target)
        assert (maps > 0).all(), method
        # for a linear model both are exactly x * w_target
        torch.testing.assert_close(maps, x[:, 0] * w[target].reshape(3, 4, 4), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness_on_a_linear_model():
    model = positive_linear()
    x = torch.rand(3, 1, 4, 4)
    target = torch.tensor([1, 0, 1])
    maps, _ = explain(model, x, "integrated_gradients", target=target)
    with torch.no_grad():
        f_x = model(x).gather(1, target[:, None])[:, 0]
        f_0 = model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(maps.sum(dim=(1, 2)), f_x - f_0, rtol=1e-4, atol=1e-5)


def test_integrated_gradients_completeness_on_the_mlp(mlp, inputs):
    maps, probs = explain(mlp, inputs, "integrated_gradients")
    target = probs.argmax(dim=1)
    with torch.no_grad():
        f_x = mlp(inputs).gather(1, target[:, None])[:, 0]
        f_0 = mlp(torch.zeros_like(inputs)).gather(1, target[:, None])[:, 0]
    # ReLU networks are piecewise linear: 32 Gauss-Legendre steps come close, not exact
    torch.testing.assert_close(maps.sum(dim=(1, 2)), f_x - f_0, rtol=0.05, atol=0.02)


def test_occlusion_of_a_positive_linear_model_is_positive():
    model = positive_linear(n_in=64)
    x = torch.rand(2, 1, 8, 8) + 0.05
    maps, _ = explain(model, x, "occlusion", target=torch.tensor([0, 0]))
    assert maps.shape == (2, 8, 8)
    assert (maps > 0).all()


def test_occlusion_sums_over_channels():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
    maps, _ = explain(model, torch.rand(1, 3, 8, 8), "occlusion")
    assert maps.shape == (1, 8, 8)


# --- metrics -----------------------------------------------------------------------------------


def test_mass_in_mask_by_hand():
    attributions = np.array(
        [
            [[1.0, -1.0], [2.0, 0.0]],  # |a| sums to 4, 2 of it in the top row
            [[0.0, 0.0], [0.0, 0.0]],  # no attribution at all: 0
            [[0.0, 3.0], [1.0, 0.0]],  # 3 of 4 in the top row
        ]
    )
    masks = np.array([[[1, 1], [0, 0]]] * 3, dtype=bool)
    np.testing.assert_allclose(mass_in_mask(attributions, masks), [0.5, 0.0, 0.75])


def test_mass_in_mask_with_empty_and_full_masks():
    a = np.random.default_rng(0).normal(size=(4, 5, 5))
    np.testing.assert_allclose(mass_in_mask(a, np.zeros((4, 5, 5), bool)), 0.0)
    np.testing.assert_allclose(mass_in_mask(a, np.ones((4, 5, 5), bool)), 1.0)


def test_wrong_reason_score_is_the_mean_share_on_the_mask():
    a = np.array([[[1.0, 1.0], [1.0, 1.0]], [[4.0, 0.0], [0.0, 0.0]]])
    irrelevant = np.array([[[1, 0], [0, 0]], [[1, 0], [0, 0]]], dtype=bool)
    assert wrong_reason_score(a, irrelevant) == pytest.approx((0.25 + 1.0) / 2)
    assert math.isnan(wrong_reason_score(np.zeros((0, 2, 2)), np.zeros((0, 2, 2), bool)))


def test_plausibility_is_top_k_iou_with_the_relevant_mask():
    a = np.array(
        [
            [[5.0, 4.0, 0.0], [0.0, 0.0, 0.0]],  # top-2 == mask: IoU 1
            [[0.0, 0.0, 0.0], [0.0, 4.0, -5.0]],  # top-2 disjoint from the mask: IoU 0
            [[5.0, 0.0, 0.0], [-4.0, 0.0, 0.0]],  # one of two inside: IoU 1/3
            [[9.0, 9.0, 9.0], [9.0, 9.0, 9.0]],  # no relevant mask: not counted
        ]
    )
    relevant = np.zeros((4, 2, 3), dtype=bool)
    relevant[:3, 0, :2] = True
    assert plausibility(a[:1], relevant[:1]) == pytest.approx(1.0)
    assert plausibility(a[1:2], relevant[1:2]) == pytest.approx(0.0)
    assert plausibility(a[2:3], relevant[2:3]) == pytest.approx(1 / 3)
    assert plausibility(a, relevant) == pytest.approx((1.0 + 0.0 + 1 / 3) / 3)


def test_plausibility_without_any_relevant_mask_is_nan():
    assert math.isnan(plausibility(np.ones((2, 3, 3)), np.zeros((2, 3, 3), bool)))
