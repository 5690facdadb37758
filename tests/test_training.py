"""The training loop: methods, automatic lambda, cancelling, config validation."""

from __future__ import annotations

import pytest
import torch

from xil import feedback
from xil.data import decoy_digits
from xil.models import RossMLP, SmallCNN
from xil.train import Cancelled, TrainConfig, TrainData, evaluate, train

N = 160


@pytest.fixture(scope="module")
def subset() -> TrainData:
    ds = decoy_digits()
    idx = ds.indices("train")[:N]
    masks = torch.from_numpy(ds.decoy_masks[idx])
    relevant = torch.zeros_like(masks)
    relevant[:, 6:22, 6:22] = True  # where the digit is
    return TrainData(
        torch.from_numpy(ds.images[idx]),
        torch.from_numpy(ds.labels[idx]),
        irrelevant=masks,
        relevant=relevant,
    )


def cfg(**kwargs) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 64, "device": "cpu", **kwargs})


@pytest.mark.parametrize("method", ["none", "rrr", "ce", "hint"])
def test_train_returns_a_model_and_one_record_per_epoch(subset, method):
    model, history = train(cfg(method=method), subset)
    assert isinstance(model, RossMLP) and not model.training
    assert model(subset.x[:3]).shape == (3, 10)
    assert [r["epoch"] for r in history] == [1, 2]
    for record in history:
        assert record["epochs"] == 2
        assert record["seconds"] >= 0
        for key in ("loss", "ce", "penalty"):
            assert record[key] == record[key] and record[key] >= 0, key  # finite, not NaN
    if method in ("rrr", "hint"):
        assert history[0]["penalty"] > 0
        assert history[0]["lambda_"] is not None and history[0]["lambda_"] > 0
        assert history[1]["lambda_"] == history[0]["lambda_"]  # set once, before the first step
    else:
        assert all(r["penalty"] == 0 and r["lambda_"] is None for r in history)


@pytest.mark.parametrize("method", ["rrr", "hint"])
def test_the_automatic_lambda_applies_the_penalty_from_the_first_step(subset, method):
    # the rule itself (lambda * penalty_0 = scale * CE_0) is tested in test_losses.py
    _, history = train(cfg(method=method), subset)
    for record in history:
        assert record["loss"] == pytest.approx(record["ce"] + history[0]["lambda_"] * record["penalty"], rel=1e-4)


def test_lambda_scale_and_fixed_lambda_are_honoured(subset):
    _, default = train(cfg(method="hint", seed=1), subset)
    _, scaled = train(cfg(method="hint", seed=1, lambda_scale=2.0), subset)
    method_scale = feedback.REGISTRY["hint"].lambda_scale
    assert scaled[0]["lambda_"] == pytest.approx(2.0 / method_scale * default[0]["lambda_"], rel=1e-6)
    _, fixed = train(cfg(method="rrr", lambda_=5.0), subset)
    assert [r["lambda_"] for r in fixed] == [5.0, 5.0]
    assert fixed[0]["loss"] == pytest.approx(fixed[0]["ce"] + 5.0 * fixed[0]["penalty"], rel=1e-4)


def test_training_is_reproducible_with_a_seed(subset):
    a, ha = train(cfg(method="rrr", seed=3), subset)
    b, hb = train(cfg(method="rrr", seed=3), subset)
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_rrr_reduces_the_penalty_compared_with_plain_training(subset):
    from xil.feedback import rrr

    plain, _ = train(cfg(method="none", epochs=6), subset)
    corrected, _ = train(cfg(method="rrr", epochs=6, lambda_=1000.0), subset)
    mask = subset.irrelevant.float()
    p_plain = rrr.terms(plain, subset.x, subset.y, mask)[1].mean().item()
    p_corrected = rrr.terms(corrected, subset.x, subset.y, mask)[1].mean().item()
    assert p_corrected < 0.5 * p_plain


@pytest.mark.parametrize("copies", [1, 3])
def test_counterexamples_add_copies_of_every_marked_example(subset, copies):
    torch.manual_seed(0)
    model = RossMLP((1, 28, 28), 10)
    sizes = []
    model.register_forward_pre_hook(lambda _m, args: sizes.append(len(args[0])))
    data = TrainData(subset.x[:100], subset.y[:100], irrelevant=subset.irrelevant[:100].clone())
    data.irrelevant[50:] = False  # only the first 50 examples are marked
    _, history = train(cfg(method="ce", ce_copies=copies, epochs=1, batch_size=100), data, init=model)
    assert sizes == [100 + copies * 50]
    assert len(history) == 1 and history[0]["ce"] > 0 and history[0]["lambda_"] is None


def test_train_without_masks_for_a_mask_method(subset):
    data = TrainData(subset.x, subset.y)
    _, history = train(cfg(method="rrr", epochs=1), data)
    assert history[0]["penalty"] == 0 and history[0]["lambda_"] is None


def test_rrr_g_trains_a_cnn(subset):
    data = TrainData(subset.x[:64], subset.y[:64], irrelevant=subset.irrelevant[:64])
    model, history = train(cfg(method="rrr_g", arch="cnn", epochs=1), data)
    assert isinstance(model, SmallCNN)
    assert history[0]["penalty"] > 0 and history[0]["lambda_"] > 0


def test_unknown_method_is_refused(subset):
    with pytest.raises(ValueError, match="unknown feedback method 'lasso'"):
        train(cfg(method="lasso"), subset)


def test_rrr_g_needs_a_convolutional_model(subset):
    with pytest.raises(ValueError, match="needs a convolutional model"):
        train(cfg(method="rrr_g", arch="mlp"), subset)


def test_unknown_architecture_is_refused(subset):
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        train(cfg(method="none", arch="resnet"), subset)


def test_progress_returning_false_cancels(subset):
    seen = []

    def progress(record):
        seen.append(record["epoch"])
        return False

    with pytest.raises(Cancelled, match="after epoch 1"):
        train(cfg(method="none", epochs=5), subset, progress=progress)
    assert seen == [1]


def test_progress_returning_none_or_true_continues(subset):
    answers = iter([None, True, None])
    seen = []

    def progress(record):
        seen.append(record["epoch"])
        return next(answers)

    _, history = train(cfg(method="none", epochs=3), subset, progress=progress)
    assert seen == [1, 2, 3] and len(history) == 3


def test_init_model_continues_training(subset):
    first, _ = train(cfg(method="none", epochs=1), subset)
    before = [p.detach().clone() for p in first.parameters()]
    second, _ = train(cfg(method="none", epochs=1), subset, init=first)
    assert second is first
    assert any(not torch.equal(a, b) for a, b in zip(before, second.parameters(), strict=True))


def test_evaluate_reports_accuracy_and_wrong_reason(subset):
    model, _ = train(cfg(method="none", epochs=3), subset)
    result = evaluate(model, subset.x, subset.y, subset.irrelevant.numpy())
    assert 0 <= result["acc"] <= 1 and 0 <= result["wr"] <= 1
    assert set(evaluate(model, subset.x, subset.y)) == {"acc"}


def test_train_config_roundtrips_and_rejects_unknown_keys():
    c = TrainConfig(method="hint", epochs=3, lambda_=0.5)
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert TrainConfig.from_dict({"arch": "cnn"}) == TrainConfig(arch="cnn")
    with pytest.raises(ValueError, match=r"unknown training settings: \['epoch', 'lr_decay'\]"):
        TrainConfig.from_dict({"epoch": 3, "lr_decay": 0.1, "lr": 0.01})


def test_n_classes_sets_the_model_outputs(subset):
    few = TrainData(subset.x[:20], subset.y[:20].clamp(max=2))
    model, _ = train(cfg(method="none", epochs=1), few)
    assert model(few.x[:1]).shape == (1, 3)  # default: the largest label + 1
    few.n_classes = 10
    model, _ = train(cfg(method="none", epochs=1), few)
    assert model(few.x[:1]).shape == (1, 10)


def test_rrr_weighs_each_marked_example_by_its_fixed_default(subset):
    # RRR's default is a fixed weight per marked example: over the share of examples with marks
    rrr = feedback.REGISTRY["rrr"]
    _, full = train(cfg(method="rrr", epochs=1), subset)
    assert full[0]["lambda_"] == pytest.approx(
        rrr.lambda_per_marked / (subset.irrelevant.flatten(1).any(1).float().mean())
    )
    quarter = TrainData(subset.x, subset.y, subset.irrelevant * (torch.arange(len(subset.y)) % 4 == 0)[:, None, None])
    _, sparse = train(cfg(method="rrr", epochs=1, lambda_scale=0.5), quarter)
    marked = quarter.irrelevant.flatten(1).any(1).float().mean()
    assert sparse[0]["lambda_"] == pytest.approx(0.5 * rrr.lambda_per_marked / marked)
    unmarked = TrainData(subset.x, subset.y, torch.zeros_like(subset.irrelevant))
    assert train(cfg(method="rrr", epochs=1), unmarked)[1][0]["lambda_"] is None
